//! The request's collections as SecLang sees them: URI parts, arguments, headers, cookies and
//! the body as its processor (URL-encoded, JSON, multipart, XML) flattens it.

use crate::Request;
use crate::seclang::variables::Var;

/// One value of a collection: its key (empty for scalars) and value.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

pub const NVARS: usize = 80;

#[derive(Debug)]
pub struct Data {
    pub cols: Vec<Vec<Item>>,
}

impl Data {
    pub fn get(&self, v: Var) -> &[Item] {
        &self.cols[v as usize]
    }
    fn push(&mut self, v: Var, key: &[u8], value: &[u8]) {
        self.cols[v as usize].push(Item {
            key: key.to_vec(),
            value: value.to_vec(),
        });
    }
    fn scalar(&mut self, v: Var, value: &[u8]) {
        self.cols[v as usize] = vec![Item {
            key: Vec::new(),
            value: value.to_vec(),
        }];
    }
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(Var::RequestHeaders)
            .iter()
            .find(|i| i.key.eq_ignore_ascii_case(name.as_bytes()))
            .map(|i| i.value.as_slice())
    }
}

pub fn url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let h = |c: u8| (c as char).to_digit(16);
                match (h(s[i + 1]), h(s[i + 2])) {
                    (Some(a), Some(b)) => {
                        out.push((a * 16 + b) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn parse_urlencoded(data: &mut Data, s: &[u8], var: Var, names: Var) {
    for pair in s.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(p) => (&pair[..p], &pair[p + 1..]),
            None => (pair, &b""[..]),
        };
        let (k, v) = (url_decode(k), url_decode(v));
        data.push(var, &k, &v);
        data.push(Var::Args, &k, &v);
        data.push(names, &k, &k);
        data.push(Var::ArgsNames, &k, &k);
    }
}

/// Builds the collections available in phase 1.
pub fn phase1(req: &Request<'_>) -> Data {
    let mut d = Data {
        cols: vec![Vec::new(); NVARS],
    };
    let target = req.target;
    // An absolute URI keeps its path and query only.
    let uri: &[u8] = match target.windows(3).position(|w| w == b"://") {
        Some(p) if target.first() != Some(&b'/') => {
            let rest = &target[p + 3..];
            match rest.iter().position(|&b| b == b'/') {
                Some(s) => &rest[s..],
                None => b"/",
            }
        }
        _ => target,
    };
    let (path, query) = match uri.iter().position(|&b| b == b'?') {
        Some(q) => (&uri[..q], Some(&uri[q + 1..])),
        None => (uri, None),
    };
    d.scalar(Var::RequestUri, uri);
    d.scalar(Var::RequestUriRaw, target);
    d.scalar(Var::RequestFilename, path);
    let base = match path.iter().rposition(|&b| b == b'/') {
        Some(p) => &path[p + 1..],
        None => path,
    };
    d.scalar(Var::RequestBasename, base);
    d.scalar(Var::QueryString, query.unwrap_or(b""));
    d.scalar(Var::RequestMethod, req.method.as_bytes());
    d.scalar(Var::RequestProtocol, req.protocol.as_bytes());
    let mut line = Vec::new();
    line.extend_from_slice(req.method.as_bytes());
    line.push(b' ');
    line.extend_from_slice(target);
    line.push(b' ');
    line.extend_from_slice(req.protocol.as_bytes());
    d.scalar(Var::RequestLine, &line);
    d.scalar(Var::RemoteAddr, req.client.to_string().as_bytes());
    d.scalar(Var::ReqbodyError, b"0");
    d.scalar(Var::MultipartStrictError, b"0");
    d.scalar(Var::MultipartUnmatchedBoundary, b"0");
    if let Some(q) = query {
        parse_urlencoded(&mut d, q, Var::ArgsGet, Var::ArgsGetNames);
    }
    for (k, v) in req.headers {
        d.push(Var::RequestHeaders, k, v);
        d.push(Var::RequestHeadersNames, k, k);
        if k.eq_ignore_ascii_case(b"cookie") {
            for c in v.split(|&b| b == b';') {
                let c = c.trim_ascii();
                if c.is_empty() {
                    continue;
                }
                let (ck, cv) = match c.iter().position(|&b| b == b'=') {
                    Some(p) => (&c[..p], &c[p + 1..]),
                    None => (c, &b""[..]),
                };
                d.push(Var::RequestCookies, ck, cv);
                d.push(Var::RequestCookiesNames, ck, ck);
            }
        }
    }
    // The processor is known from the headers, as ModSecurity's recommended rules decide it
    // in phase 1 (CRS 901340 reads REQBODY_PROCESSOR there).
    let ct = content_type(&d);
    let proc: &[u8] = if ct.starts_with("application/x-www-form-urlencoded") {
        b"URLENCODED"
    } else if ct.starts_with("multipart/form-data") {
        b"MULTIPART"
    } else if ct.contains("json") {
        b"JSON"
    } else if ct.contains("xml") {
        b"XML"
    } else {
        b""
    };
    if !proc.is_empty() {
        d.scalar(Var::ReqbodyProcessor, proc);
    }
    d
}

fn content_type(d: &Data) -> String {
    d.header("content-type")
        .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase())
        .unwrap_or_default()
}

/// Runs the body processor (`processor` from `ctl:requestBodyProcessor`, else chosen by
/// Content-Type) and fills the phase 2 collections.
pub fn phase2(d: &mut Data, req: &Request<'_>, processor: Option<&str>) {
    let body = req.body;
    d.scalar(Var::RequestBodyLength, body.len().to_string().as_bytes());
    let proc = match processor {
        Some(p) => p.to_string(),
        None => String::from_utf8_lossy(
            d.get(Var::ReqbodyProcessor)
                .first()
                .map(|i| i.value.as_slice())
                .unwrap_or(b""),
        )
        .into_owned(),
    };
    if !proc.is_empty() {
        d.scalar(Var::ReqbodyProcessor, proc.as_bytes());
    }
    // As in ModSecurity, REQUEST_BODY holds the raw body unless the XML processor parsed it
    // (then XML:/* holds its text): CRS 944120's cases want no hit on an XML element's name.
    if proc != "XML" {
        d.scalar(Var::RequestBody, body);
    }
    let ok = match proc.as_str() {
        "URLENCODED" => {
            parse_urlencoded(d, body, Var::ArgsPost, Var::ArgsPostNames);
            true
        }
        "JSON" => crate::body::json(d, body),
        "MULTIPART" => {
            let raw = d
                .header("content-type")
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .unwrap_or_default();
            crate::body::multipart(d, body, &raw)
        }
        "XML" => crate::body::xml(d, body),
        _ => true,
    };
    if !ok && !req.body_truncated {
        d.scalar(Var::ReqbodyError, b"1");
        d.scalar(
            Var::ReqbodyErrorMsg,
            format!("{proc} parsing error").as_bytes(),
        );
    }
    let mut size = 0usize;
    for i in d.get(Var::Args) {
        size += i.key.len() + i.value.len();
    }
    d.scalar(Var::ArgsCombinedSize, size.to_string().as_bytes());
}

impl Data {
    pub fn push_arg_post(&mut self, k: &[u8], v: &[u8]) {
        self.push(Var::ArgsPost, k, v);
        self.push(Var::Args, k, v);
        self.push(Var::ArgsPostNames, k, k);
        self.push(Var::ArgsNames, k, k);
    }
    pub fn push_to(&mut self, var: Var, k: &[u8], v: &[u8]) {
        self.push(var, k, v);
    }
    pub fn set_scalar(&mut self, var: Var, v: &[u8]) {
        self.scalar(var, v);
    }
}
