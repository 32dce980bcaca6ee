//! Body processors for JSON, multipart and XML. Each flattens the body into the collections
//! CRS reads and returns false when the body is malformed (REQBODY_ERROR).

use crate::request::Data;
use crate::seclang::variables::Var;

/// JSON as ModSecurity names it: `{"a":{"b":[1]}}` gives ARGS `json.a.b.0 = 1`.
pub fn json(d: &mut Data, body: &[u8]) -> bool {
    let mut p = Json {
        s: body,
        i: 0,
        depth: 0,
    };
    let mut key = b"json".to_vec();
    let ok = p.value(d, &mut key);
    p.ws();
    ok && p.i == body.len()
}

struct Json<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn value(&mut self, d: &mut Data, key: &mut Vec<u8>) -> bool {
        self.ws();
        self.depth += 1;
        if self.depth > 256 {
            return false;
        }
        let r = match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        break true;
                    }
                    let Some(k) = self.string() else { break false };
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        break false;
                    }
                    self.i += 1;
                    let len = key.len();
                    key.push(b'.');
                    key.extend_from_slice(&k);
                    if !self.value(d, key) {
                        break false;
                    }
                    key.truncate(len);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            break true;
                        }
                        _ => break false,
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut n = 0;
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        break true;
                    }
                    let len = key.len();
                    key.push(b'.');
                    key.extend_from_slice(n.to_string().as_bytes());
                    n += 1;
                    if !self.value(d, key) {
                        break false;
                    }
                    key.truncate(len);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            break true;
                        }
                        _ => break false,
                    }
                }
            }
            Some(b'"') => match self.string() {
                Some(v) => {
                    d.push_arg_post(key, &v);
                    true
                }
                None => false,
            },
            Some(_) => {
                let s = self.i;
                while self.i < self.s.len() && !b",}] \t\r\n".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let v = &self.s[s..self.i];
                let v: &[u8] = if v == b"null" { b"" } else { v };
                d.push_arg_post(key, v);
                self.i > s
            }
            None => false,
        };
        self.depth -= 1;
        r
    }
    fn string(&mut self) -> Option<Vec<u8>> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let h = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
                            let mut cp = u32::from_str_radix(h, 16).ok()?;
                            self.i += 4;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let l = std::str::from_utf8(self.s.get(self.i + 2..self.i + 6)?)
                                    .ok()?;
                                let lo = u32::from_str_radix(l, 16).ok()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                    self.i += 6;
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut b = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        None
    }
}

fn param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    for part in header.split(';').skip(1) {
        let (k, v) = part.split_once('=')?;
        if k.trim().eq_ignore_ascii_case(name) {
            return Some(v.trim().trim_matches('"'));
        }
    }
    None
}

/// multipart/form-data: fields to ARGS_POST, files to FILES/FILES_NAMES, each part's headers
/// to MULTIPART_PART_HEADERS.
pub fn multipart(d: &mut Data, body: &[u8], content_type: &str) -> bool {
    let Some(boundary) = param(content_type, "boundary") else {
        d.set_scalar(Var::MultipartStrictError, b"1");
        return false;
    };
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let find = |h: &[u8], n: &[u8], from: usize| -> Option<usize> {
        h.get(from..)?
            .windows(n.len())
            .position(|w| w == n)
            .map(|p| p + from)
    };
    let Some(mut pos) = find(body, delim, 0) else {
        d.set_scalar(Var::MultipartUnmatchedBoundary, b"1");
        return false;
    };
    let mut total = 0usize;
    let mut ok = false;
    loop {
        pos += delim.len();
        if body.get(pos..pos + 2) == Some(b"--") {
            ok = true;
            break;
        }
        let Some(next) = find(body, delim, pos) else {
            break;
        };
        let part = &body[pos..next];
        // Bare LF line ends are tolerated, as ModSecurity does (and attackers send).
        let part = part
            .strip_prefix(b"\r\n")
            .or_else(|| part.strip_prefix(b"\n"))
            .unwrap_or(part);
        let part = part
            .strip_suffix(b"\r\n")
            .or_else(|| part.strip_suffix(b"\n"))
            .unwrap_or(part);
        let (head, content) = match (find(part, b"\r\n\r\n", 0), find(part, b"\n\n", 0)) {
            (Some(a), Some(b)) if b + 2 < a + 4 => (&part[..b], &part[b + 2..]),
            (Some(a), _) => (&part[..a], &part[a + 4..]),
            (None, Some(b)) => (&part[..b], &part[b + 2..]),
            (None, None) => (part, &b""[..]),
        };
        let mut name = String::new();
        let mut filename = None;
        let head_s = String::from_utf8_lossy(head).to_string();
        for line in head_s.split('\n').map(|l| l.trim_end_matches('\r')) {
            if line.to_ascii_lowercase().starts_with("content-disposition") {
                name = param(line, "name").unwrap_or("").to_string();
                filename = param(line, "filename").map(str::to_string);
            }
        }
        for line in head_s
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
        {
            d.push_to(Var::MultipartPartHeaders, name.as_bytes(), line.as_bytes());
        }
        match filename {
            Some(f) => {
                d.push_to(Var::Files, name.as_bytes(), f.as_bytes());
                d.push_to(Var::FilesNames, name.as_bytes(), name.as_bytes());
                d.push_to(Var::MultipartFilename, b"", f.as_bytes());
                d.push_to(
                    Var::FilesSizes,
                    name.as_bytes(),
                    content.len().to_string().as_bytes(),
                );
                total += content.len();
            }
            None => d.push_arg_post(name.as_bytes(), content),
        }
        d.push_to(Var::MultipartName, b"", name.as_bytes());
        pos = next;
    }
    d.set_scalar(Var::FilesCombinedSize, total.to_string().as_bytes());
    if !ok {
        d.set_scalar(Var::MultipartStrictError, b"1");
    }
    ok
}

/// XML, minimally: every text node becomes a value of `XML:/*`, every attribute value one of
/// `XML://@*` (the two XPath expressions CRS reads).
pub fn xml(d: &mut Data, body: &[u8]) -> bool {
    let mut i = 0;
    let mut depth: i64 = 0;
    while i < body.len() {
        if body[i] == b'<' {
            let Some(end) = body[i..].iter().position(|&b| b == b'>') else {
                return false;
            };
            let tag = &body[i + 1..i + end];
            if tag.first() == Some(&b'/') {
                depth -= 1;
            } else if !matches!(tag.first(), Some(b'?') | Some(b'!')) && tag.last() != Some(&b'/') {
                depth += 1;
            }
            let mut parts = tag.split(|&b| b == b'"' || b == b'\'');
            parts.next();
            for (n, v) in parts.enumerate() {
                if n % 2 == 0 && !v.is_empty() {
                    d.push_to(Var::Xml, b"//@*", v);
                }
            }
            i += end + 1;
        } else {
            let s = i;
            while i < body.len() && body[i] != b'<' {
                i += 1;
            }
            let t = body[s..i].trim_ascii();
            if !t.is_empty() {
                d.push_to(Var::Xml, b"/*", t);
            }
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data {
        Data {
            cols: vec![Vec::new(); crate::request::NVARS],
        }
    }

    #[test]
    fn json_flattens_like_modsecurity() {
        let mut d = data();
        assert!(json(&mut d, br#"{"a":{"b":["x\u0041",2]},"c":null}"#));
        let args: Vec<_> = d
            .get(Var::Args)
            .iter()
            .map(|i| {
                (
                    String::from_utf8_lossy(&i.key).to_string(),
                    String::from_utf8_lossy(&i.value).to_string(),
                )
            })
            .collect();
        assert_eq!(args[0], ("json.a.b.0".into(), "xA".into()));
        assert_eq!(args[1], ("json.a.b.1".into(), "2".into()));
        assert_eq!(args[2], ("json.c".into(), "".into()));
        assert!(!json(&mut data(), b"{\"a\":"));
    }

    #[test]
    fn multipart_fields_and_files() {
        let mut d = data();
        let body = b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--xx\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\n\r\n<?php\r\n--xx--\r\n";
        assert!(multipart(&mut d, body, "multipart/form-data; boundary=xx"));
        assert_eq!(d.get(Var::ArgsPost)[0].value, b"hello");
        assert_eq!(d.get(Var::Files)[0].value, b"x.php");
    }
}
