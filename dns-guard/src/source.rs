//! Where the policy comes from: a file, or an `http://` or `https://` URL polled with
//! ETag/If-None-Match (so a console, S3 or any web server can distribute policies).
//!
//! `http://` uses a minimal HTTP/1.1 GET written here on tokio: the guard needs one request
//! shape. `https://` goes through `ureq` with rustls and the Mozilla root certificates compiled
//! in (sidecar images often have no CA store), on a blocking thread.

use std::path::{Path, PathBuf};
use std::time::Duration;

use guard_policy::{CompiledPolicy, Policy, PolicyErrors};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest policy document accepted over HTTP.
pub const MAX_HTTP_BODY: usize = 32 << 20;
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    File(PathBuf),
    Http(HttpUrl),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub text: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{url}: not a valid http(s):// URL ({reason})")]
    BadUrl { url: String, reason: &'static str },
    #[error("{origin}: cannot read the policy: {error}")]
    Read {
        origin: String,
        error: std::io::Error,
    },
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{0}")]
    Invalid(PolicyErrors),
}

impl PolicySource {
    pub fn parse(text: &str) -> Result<PolicySource, SourceError> {
        let lower = text.to_ascii_lowercase();
        let tls = lower.starts_with("https://");
        if !tls && !lower.starts_with("http://") {
            return Ok(PolicySource::File(PathBuf::from(text)));
        }
        let bad = |reason| SourceError::BadUrl {
            url: text.into(),
            reason,
        };
        let rest = &text[if tls {
            "https://".len()
        } else {
            "http://".len()
        }..];
        let default_port = if tls { 443 } else { 80 };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("expected http://HOST[:PORT]/PATH without credentials"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            let port = match &v6[end + 1..] {
                "" => default_port,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| bad("bad port"))?,
            };
            (v6[..end].to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_string(), default_port),
            }
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        Ok(PolicySource::Http(HttpUrl {
            text: text.into(),
            tls,
            host,
            port,
            path,
        }))
    }

    /// The source as written in events.
    pub fn describe(&self) -> String {
        match self {
            PolicySource::File(p) => p.display().to_string(),
            PolicySource::Http(u) => u.text.clone(),
        }
    }
}

/// Reads and compiles a policy file.
pub fn load_file(path: &Path) -> Result<CompiledPolicy, SourceError> {
    let policy = Policy::load(path).map_err(SourceError::Invalid)?;
    Ok(policy.compile())
}

/// Parses and compiles a policy document received from `origin`.
pub fn compile_text(text: &str, origin: &str) -> Result<CompiledPolicy, SourceError> {
    let policy = Policy::from_text(text, origin).map_err(SourceError::Invalid)?;
    Ok(policy.compile())
}

/// The result of one conditional GET.
#[derive(Debug)]
pub enum Fetch {
    NotModified,
    Body { text: String, etag: Option<String> },
}

/// GETs the policy, with `If-None-Match` when an ETag is known.
pub async fn fetch(url: &HttpUrl, etag: Option<&str>) -> Result<Fetch, SourceError> {
    if url.tls {
        let (u, tag) = (url.clone(), etag.map(str::to_string));
        return match tokio::task::spawn_blocking(move || fetch_tls(&u, tag.as_deref())).await {
            Ok(r) => r,
            Err(e) => Err(SourceError::Http {
                url: url.text.clone(),
                reason: e.to_string(),
            }),
        };
    }
    match tokio::time::timeout(HTTP_TIMEOUT, fetch_inner(url, etag)).await {
        Ok(r) => r,
        Err(_) => Err(SourceError::Http {
            url: url.text.clone(),
            reason: "timed out".into(),
        }),
    }
}

async fn fetch_inner(url: &HttpUrl, etag: Option<&str>) -> Result<Fetch, SourceError> {
    let fail = |reason: String| SourceError::Http {
        url: url.text.clone(),
        reason,
    };
    let host = url.host.as_str();
    let mut stream = TcpStream::connect((host, url.port))
        .await
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
    let host_header = if url.port == 80 {
        host.to_string()
    } else {
        format!("{host}:{}", url.port)
    };
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: dns-guard/{}\r\nAccept: */*\r\nConnection: close\r\n",
        url.path,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(tag) = etag {
        request.push_str(&format!("If-None-Match: {tag}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| fail(format!("cannot send: {e}")))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > MAX_HTTP_BODY + 64 * 1024 {
            return Err(fail(format!("response larger than {MAX_HTTP_BODY} bytes")));
        }
    }
    parse_response(&raw).map_err(fail)
}

/// The same conditional GET over TLS (certificates checked against the Mozilla roots).
fn fetch_tls(url: &HttpUrl, etag: Option<&str>) -> Result<Fetch, SourceError> {
    let fail = |reason: String| SourceError::Http {
        url: url.text.clone(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(HTTP_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(&url.text).header(
        "User-Agent",
        concat!("dns-guard/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(tag) = etag {
        request = request.header("If-None-Match", tag);
    }
    let mut response = request.call().map_err(|e| fail(e.to_string()))?;
    let status = response.status().as_u16();
    if status == 304 {
        return Ok(Fetch::NotModified);
    }
    if status != 200 {
        return Err(fail(format!("HTTP status {status} (expected 200 or 304)")));
    }
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_HTTP_BODY as u64)
        .read_to_string()
        .map_err(|e| fail(format!("cannot read the policy: {e}")))?;
    Ok(Fetch::Body { text, etag })
}

fn parse_response(raw: &[u8]) -> Result<Fetch, String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the response has no complete header")?;
    let head =
        std::str::from_utf8(&raw[..head_end]).map_err(|_| "the response header is not UTF-8")?;
    let body = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut etag = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "etag" => etag = Some(v.to_string()),
            "content-length" => length = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    if status == 304 {
        return Ok(Fetch::NotModified);
    }
    if status != 200 {
        return Err(format!("HTTP status {status} (expected 200 or 304)"));
    }
    let body = if chunked {
        dechunk(body)?
    } else {
        match length {
            Some(n) => body
                .get(..n)
                .ok_or("the body is shorter than Content-Length")?
                .to_vec(),
            None => body.to_vec(),
        }
    };
    let text = String::from_utf8(body).map_err(|_| "the policy is not UTF-8")?;
    Ok(Fetch::Body { text, etag })
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunked body")?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or("truncated chunk")?);
        body = body.get(size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_files_are_told_apart() {
        assert_eq!(
            PolicySource::parse("/etc/p.toml").unwrap(),
            PolicySource::File("/etc/p.toml".into())
        );
        let PolicySource::Http(u) = PolicySource::parse("http://127.0.0.1:8080/p.json").unwrap()
        else {
            panic!("not http")
        };
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/p.json")
        );
        let PolicySource::Http(u) = PolicySource::parse("http://[::1]/x").unwrap() else {
            panic!()
        };
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        let PolicySource::Http(u) = PolicySource::parse("https://s3.example/b/p.toml").unwrap()
        else {
            panic!("not https")
        };
        assert_eq!((u.tls, u.port, u.path.as_str()), (true, 443, "/b/p.toml"));
        assert!(PolicySource::parse("http://h:notaport/").is_err());
    }

    #[test]
    fn responses_are_parsed() {
        let r = parse_response(b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n").unwrap();
        assert!(matches!(r, Fetch::NotModified));
        let r =
            parse_response(b"HTTP/1.0 200 OK\r\nETag: \"v1\"\r\nContent-Length: 3\r\n\r\nabcdef")
                .unwrap();
        let Fetch::Body { text, etag } = r else {
            panic!()
        };
        assert_eq!((text.as_str(), etag.as_deref()), ("abc", Some("\"v1\"")));
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        let Fetch::Body { text, .. } = r else {
            panic!()
        };
        assert_eq!(text, "abcde");
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
    }
}
