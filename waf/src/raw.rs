//! A raw HTTP/1.x request parser: bytes as a client sent them → an owned [`RawRequest`] that
//! lends itself out as a [`crate::Request`].
//!
//! It exists for `dns-guard waf check --request FILE`, the CRS regression replay and the
//! benchmarks, which all start from bytes on disk rather than from a proxy's parsed head. It is
//! deliberately tolerant (go-ftw's regression cases are malformed on purpose: a tab before the
//! method, a bare LF, a header without a colon value, a missing version): whatever a real
//! server would still read is read, and what it would refuse is a typed [`RawError`] that the
//! caller maps to the `protocol` protection instead of guessing a request.

use std::net::{IpAddr, Ipv4Addr};

use crate::Request;

/// Why bytes are not an HTTP/1.x request. Each variant is a malformation a server answers
/// with 400; callers report it under [`crate::Protection::Protocol`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RawError {
    #[error("empty request")]
    Empty,
    #[error("request line {0:?}: expected `METHOD TARGET HTTP/x.y`")]
    RequestLine(String),
    #[error("header line {0:?}: expected `Name: value`")]
    Header(String),
    #[error("the head does not end with an empty line")]
    UnterminatedHead,
    #[error("Content-Length {0:?}: expected one decimal length")]
    ContentLength(String),
    #[error("both Content-Length and Transfer-Encoding: chunked (request smuggling)")]
    LengthAndChunked,
    #[error("chunked body: {0}")]
    Chunked(&'static str),
}

/// A request parsed from raw bytes, owning its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    pub method: String,
    pub target: Vec<u8>,
    /// `HTTP/1.1`; `HTTP/0.9` when the request line carried no version.
    pub protocol: String,
    /// In the order received, duplicates kept, names as sent.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The body after de-chunking (the message body as the application sees it).
    pub body: Vec<u8>,
    /// Bytes after the body (a second, pipelined or smuggled request), not inspected here.
    pub trailing: Vec<u8>,
}

impl RawRequest {
    /// Parses one request. Line ends may be CRLF or a bare LF (as servers accept).
    pub fn parse(bytes: &[u8]) -> Result<RawRequest, RawError> {
        // Servers skip empty lines before the request line (RFC 9112 §2.2).
        let mut rest = bytes;
        while let Some(r) = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
        {
            rest = r;
        }
        if rest.is_empty() {
            return Err(RawError::Empty);
        }
        let (line, mut rest) = split_line(rest).ok_or(RawError::UnterminatedHead)?;
        let (method, target, protocol) = request_line(line)?;

        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        loop {
            let Some((line, r)) = split_line(rest) else {
                // A head cut short after at least the request line: HTTP/0.9-style requests
                // and go-ftw cases without a final CRLF still carry what they carry.
                if rest.is_empty() {
                    break;
                }
                return Err(RawError::UnterminatedHead);
            };
            rest = r;
            if line.is_empty() {
                break;
            }
            // obs-fold: a continuation line belongs to the previous header's value.
            if matches!(line[0], b' ' | b'\t') {
                match headers.last_mut() {
                    Some((_, v)) => {
                        v.push(b' ');
                        v.extend_from_slice(trim(line));
                        continue;
                    }
                    None => return Err(RawError::Header(lossy(line))),
                }
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or_else(|| RawError::Header(lossy(line)))?;
            let name = &line[..colon];
            if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
                return Err(RawError::Header(lossy(line)));
            }
            headers.push((name.to_vec(), trim(&line[colon + 1..]).to_vec()));
        }

        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(b"transfer-encoding")
                && lossy(v).to_ascii_lowercase().contains("chunked")
        });
        let lengths: Vec<&[u8]> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
            .map(|(_, v)| v.as_slice())
            .collect();

        let (body, trailing) = if chunked {
            if !lengths.is_empty() {
                return Err(RawError::LengthAndChunked);
            }
            dechunk(rest)?
        } else if let Some(first) = lengths.first() {
            if lengths.iter().any(|l| l != first) {
                return Err(RawError::ContentLength(lossy(first)));
            }
            let s =
                std::str::from_utf8(first).map_err(|_| RawError::ContentLength(lossy(first)))?;
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RawError::ContentLength(s.to_string()));
            }
            let n: usize = s
                .parse()
                .map_err(|_| RawError::ContentLength(s.to_string()))?;
            // A body shorter than declared is what the client sent so far: inspect it.
            let n = n.min(rest.len());
            (rest[..n].to_vec(), rest[n..].to_vec())
        } else {
            // No framing: a request without a length has no body (RFC 9112 §6.3), but what
            // follows is kept, so a GET that carries data is still visible to the caller.
            (Vec::new(), rest.to_vec())
        };

        Ok(RawRequest {
            method,
            target,
            protocol,
            headers,
            body,
            trailing,
        })
    }

    /// Header slices for [`RawRequest::request`] (a `Request` borrows a slice of pairs).
    pub fn header_refs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect()
    }

    /// The engine's view of this request; `headers` comes from [`RawRequest::header_refs`].
    pub fn request<'a>(&'a self, headers: &'a [(&'a [u8], &'a [u8])]) -> Request<'a> {
        Request {
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            method: &self.method,
            target: &self.target,
            protocol: &self.protocol,
            headers,
            body: &self.body,
            body_truncated: false,
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let lf = bytes.iter().position(|&b| b == b'\n')?;
    let line = &bytes[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, &bytes[lf + 1..]))
}

fn request_line(line: &[u8]) -> Result<(String, Vec<u8>, String), RawError> {
    let bad = || RawError::RequestLine(lossy(line));
    // Whitespace around the parts is tolerated (Apache and nginx both skip leading spaces and
    // tabs); the method itself must be a token.
    let parts: Vec<&[u8]> = line
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|p| !p.is_empty())
        .collect();
    let (method, target, protocol) = match parts.as_slice() {
        [m, t] => (*m, *t, &b"HTTP/0.9"[..]),
        [m, t, p] => (*m, *t, *p),
        // A target with spaces in it: the first part is the method, the last the version.
        [m, middle @ .., p] if middle.len() > 1 && p.starts_with(b"HTTP/") => {
            let start = middle[0].as_ptr() as usize - line.as_ptr() as usize;
            let last = middle[middle.len() - 1];
            let end = last.as_ptr() as usize - line.as_ptr() as usize + last.len();
            (*m, &line[start..end], *p)
        }
        _ => return Err(bad()),
    };
    if !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad());
    }
    let method = String::from_utf8(method.to_vec()).map_err(|_| bad())?;
    let protocol = String::from_utf8(protocol.to_vec()).map_err(|_| bad())?;
    Ok((method, target.to_vec(), protocol))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn dechunk(mut rest: &[u8]) -> Result<(Vec<u8>, Vec<u8>), RawError> {
    let mut body = Vec::new();
    loop {
        let (line, r) = split_line(rest).ok_or(RawError::Chunked("missing chunk size line"))?;
        // Chunk extensions (`;name=value`) are ignored, as every server does.
        let size = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(trim(size)).map_err(|_| RawError::Chunked("bad size"))?;
        if size.is_empty() || size.len() > 15 {
            return Err(RawError::Chunked("bad size"));
        }
        let n = usize::from_str_radix(size, 16).map_err(|_| RawError::Chunked("bad size"))?;
        if n == 0 {
            // Trailer section up to the empty line; trailers are not inspected.
            let mut r = r;
            while let Some((line, after)) = split_line(r) {
                r = after;
                if line.is_empty() {
                    break;
                }
            }
            return Ok((body, r.to_vec()));
        }
        if r.len() < n {
            // A chunk cut short: keep what arrived.
            body.extend_from_slice(r);
            return Ok((body, Vec::new()));
        }
        body.extend_from_slice(&r[..n]);
        rest = &r[n..];
        rest = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
            .ok_or(RawError::Chunked("chunk not followed by CRLF"))?;
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_with_duplicate_headers_in_order() {
        let r = RawRequest::parse(
            b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\ncookie: b=2\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, b"/a?b=1");
        assert_eq!(r.protocol, "HTTP/1.1");
        assert_eq!(r.headers.len(), 3);
        assert_eq!(r.headers[2], (b"cookie".to_vec(), b"b=2".to_vec()));
        assert!(r.body.is_empty());
    }

    #[test]
    fn content_length_body_and_bare_lf() {
        let r = RawRequest::parse(b"POST / HTTP/1.1\nContent-Length: 3\n\nabcdef").unwrap();
        assert_eq!(r.body, b"abc");
        assert_eq!(r.trailing, b"def");
    }

    #[test]
    fn chunked_body() {
        let r = RawRequest::parse(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn malformations_are_typed() {
        assert_eq!(RawRequest::parse(b""), Err(RawError::Empty));
        assert!(matches!(
            RawRequest::parse(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"),
            Err(RawError::Header(_))
        ));
        assert!(matches!(
            RawRequest::parse(b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"),
            Err(RawError::ContentLength(_))
        ));
        assert_eq!(
            RawRequest::parse(
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            ),
            Err(RawError::LengthAndChunked)
        );
        assert!(matches!(
            RawRequest::parse(b"G(ET / HTTP/1.1\r\n\r\n"),
            Err(RawError::RequestLine(_))
        ));
    }

    #[test]
    fn tolerated_oddities() {
        let r = RawRequest::parse(b"\t GET /x\r\nHost: a\r\n  folded\r\n\r\n").unwrap();
        assert_eq!(r.protocol, "HTTP/0.9");
        assert_eq!(r.headers[0].1, b"a folded");
        let r = RawRequest::parse(b"GET /a b HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r.target, b"/a b");
    }
}
