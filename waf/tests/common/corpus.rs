//! The benign and attack corpora as raw HTTP requests. Shared by the tests and, through
//! `#[path]`, by `examples/waf_bench.rs`, so the engine and libmodsecurity see the same bytes.

#![allow(dead_code)]

use std::path::Path;

/// One request of a corpus.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Attack class (`sqli`, `xss`, ...) or benign kind (`json-api`, `ua`, `text`, ...).
    pub class: String,
    /// Where the payload sits: query, path, form, multipart, json, cookie, referer.
    pub placement: &'static str,
    pub request: Vec<u8>,
}

pub const PLACEMENTS: [&str; 7] = [
    "query",
    "path",
    "form",
    "multipart",
    "json",
    "cookie",
    "referer",
];

fn data_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Percent-encodes everything but unreserved characters (what a browser's form encoder does,
/// minus `+` for space, which not every placement decodes).
pub fn pct(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn head(method: &str, target: &str, extra: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{method} {target} HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: {UA}\r\n\
         Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
         Accept-Language: en-US,en;q=0.5\r\n"
    )
    .into_bytes();
    for (n, v) in extra {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    if !body.is_empty() || method == "POST" {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// One value in one placement, as a realistic app would receive it.
pub fn place(placement: &str, value: &str) -> Vec<u8> {
    let enc = pct(value.as_bytes());
    match placement {
        "query" => head("GET", &format!("/search?q={enc}&page=1"), &[], b""),
        "path" => head("GET", &format!("/files/{enc}"), &[], b""),
        "form" => head(
            "POST",
            "/comment",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            format!("name=alice&comment={enc}").as_bytes(),
        ),
        "multipart" => {
            let boundary = "----TaskGuardBoundary7MA4YWxkTrZu0gW";
            let body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nalice\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n{value}\r\n\
                 --{boundary}--\r\n"
            );
            head(
                "POST",
                "/comment",
                &[(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )],
                body.as_bytes(),
            )
        }
        "json" => head(
            "POST",
            "/api/comments",
            &[("Content-Type", "application/json".to_string())],
            format!("{{\"name\":\"alice\",\"comment\":{}}}", json_string(value)).as_bytes(),
        ),
        "cookie" => head(
            "GET",
            "/account",
            &[("Cookie", format!("session=8f14e45fceea167a; pref={enc}"))],
            b"",
        ),
        _ => head(
            "GET",
            "/landing",
            &[("Referer", format!("https://www.example.org/search?q={enc}"))],
            b"",
        ),
    }
}

/// The attack corpus (`data/attacks.tsv`) in every placement, plus requests whose attack is
/// their structure (NoSQL operators as JSON objects and bracketed parameter names).
pub fn attacks() -> Vec<Sample> {
    let text = std::fs::read_to_string(data_dir().join("attacks.tsv")).unwrap_or_default();
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut parts = line.splitn(3, '\t');
        let (Some(class), Some(_source), Some(payload)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let payload = unescape(payload);
        for p in PLACEMENTS {
            out.push(Sample {
                class: class.to_string(),
                placement: p,
                request: place(p, &payload),
            });
        }
    }
    let json = |body: &str| {
        head(
            "POST",
            "/api/login",
            &[("Content-Type", "application/json".to_string())],
            body.as_bytes(),
        )
    };
    for body in [
        r#"{"username":"admin","password":{"$ne":null}}"#,
        r#"{"username":{"$gt":""},"password":{"$gt":""}}"#,
        r#"{"username":"admin","password":{"$regex":"^a"}}"#,
        r#"{"$where":"this.password.length > 0"}"#,
    ] {
        out.push(Sample {
            class: "nosql".into(),
            placement: "json",
            request: json(body),
        });
    }
    for q in [
        "username[$ne]=x&password[$ne]=x",
        "user=admin&password[$regex]=.*",
        "login[$gt]=&pass[$gt]=",
    ] {
        out.push(Sample {
            class: "nosql".into(),
            placement: "query",
            request: head("GET", &format!("/api/login?{q}"), &[], b""),
        });
        out.push(Sample {
            class: "nosql".into(),
            placement: "form",
            request: head(
                "POST",
                "/api/login",
                &[(
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_string(),
                )],
                q.as_bytes(),
            ),
        });
    }
    out
}

/// Suspicious-looking benign texts (`data/benign-texts.txt`) in every placement.
pub fn tricky_benign() -> Vec<Sample> {
    let text = std::fs::read_to_string(data_dir().join("benign-texts.txt")).unwrap_or_default();
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        // Only `\n`: the texts quote Windows paths, whose backslashes are literal.
        let value = line.replace("\\n", "\n");
        for p in PLACEMENTS {
            out.push(Sample {
                class: "text".into(),
                placement: p,
                request: place(p, &value),
            });
        }
    }
    out
}

/// A small deterministic generator, so the corpus is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[(self.next() % 16) as usize]))
            .collect()
    }
    fn b64(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s: String = (0..n)
            .map(|_| char::from(A[(self.next() % 64) as usize]))
            .collect();
        while !s.len().is_multiple_of(4) {
            s.push('=');
        }
        s
    }
    fn b64url(&mut self, n: usize) -> String {
        self.b64(n)
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_string()
    }
}

const LANGS: [&str; 8] = [
    "en-US,en;q=0.9",
    "de-DE,de;q=0.9,en;q=0.8",
    "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7",
    "ja,en-US;q=0.9,en;q=0.8",
    "zh-CN,zh;q=0.9",
    "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7",
    "es-419,es;q=0.9",
    "en-GB,en;q=0.9,nl;q=0.6",
];
const NAMES: [&str; 10] = [
    "Alice",
    "Bob",
    "Chloé",
    "Dmitri",
    "Eve O'Neil",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "José",
];
const WORDS: [&str; 16] = [
    "shoes",
    "red dress",
    "laptop 15 inch",
    "coffee beans",
    "usb-c cable",
    "garden chair",
    "lego set",
    "running socks",
    "phone case",
    "desk lamp",
    "tea",
    "backpack",
    "monitor",
    "books for kids",
    "winter jacket",
    "headphones",
];

/// Realistic benign traffic: JSON APIs, form posts, multipart uploads, Bearer/JWT headers,
/// cookies, Accept-Language variants, long base64, and (when the CRS corpus is there) the 588
/// User-Agents of CRS's `popularUAs.data`.
pub fn benign_traffic(popular_uas: Option<&Path>) -> Vec<Sample> {
    let mut r = Lcg(0x7a5c_6a7d);
    let mut out = Vec::new();
    let mut push = |class: &str, placement: &'static str, request: Vec<u8>| {
        out.push(Sample {
            class: class.into(),
            placement,
            request,
        })
    };
    for i in 0..200 {
        let jwt = format!(
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
            r.b64url(120),
            r.b64url(342)
        );
        let name = r.pick(&NAMES);
        let lang = r.pick(&LANGS);
        let cookies = format!(
            "_ga=GA1.2.{}.{}; session={}; theme=dark; consent=%7B%22ads%22%3Afalse%7D",
            r.next(),
            r.next() % 1_700_000_000,
            r.hex(32)
        );
        let hdrs = |ct: &str| {
            vec![
                ("Authorization", format!("Bearer {jwt}")),
                ("Accept-Language", lang.to_string()),
                ("Cookie", cookies.clone()),
                ("Content-Type", ct.to_string()),
                ("X-Request-Id", format!("{}-{}", i, r_hex_fixed(i))),
            ]
        };
        // JSON API calls.
        let body = format!(
            "{{\"id\":{i},\"name\":{},\"email\":\"user{i}@example.com\",\"tags\":[\"new\",\"vip\"],\
             \"address\":{{\"street\":\"{} Main St.\",\"city\":\"Springfield\",\"zip\":\"{:05}\"}},\
             \"note\":\"Please deliver after 5pm & ring twice.\",\"active\":true,\"score\":{}.5}}",
            json_string(name),
            i + 1,
            r.next() % 100_000,
            r.next() % 100
        );
        push(
            "json-api",
            "json",
            head(
                "POST",
                "/api/v1/users",
                &hdrs("application/json"),
                body.as_bytes(),
            ),
        );
        push(
            "json-api",
            "query",
            head(
                "GET",
                &format!(
                    "/api/v1/orders?customer={i}&status=shipped&sort=-created_at&limit=50&fields=id,total,items"
                ),
                &hdrs("application/json"),
                b"",
            ),
        );
        // Form posts: search, login, profile.
        let q = pct(r.pick(&WORDS).as_bytes());
        push(
            "form",
            "form",
            head(
                "POST",
                "/login",
                &[(
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_string(),
                )],
                format!(
                    "username=user{i}&password={}&remember=on&csrf_token={}",
                    pct(format!("S3cure!{}#pw", r.hex(6)).as_bytes()),
                    r.hex(40)
                )
                .as_bytes(),
            ),
        );
        push(
            "form",
            "query",
            head(
                "GET",
                &format!(
                    "/search?q={q}&category=all&price_min=10&price_max=200&page={}",
                    i % 7 + 1
                ),
                &[
                    ("Cookie", cookies.clone()),
                    ("Accept-Language", lang.to_string()),
                ],
                b"",
            ),
        );
        // Multipart upload of a small text file and a PNG header.
        let boundary = format!("----WebKitFormBoundary{}", r.b64url(16));
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHoliday photo {i}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"img_{i}.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0");
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        push(
            "multipart",
            "multipart",
            head(
                "POST",
                "/upload",
                &[(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )],
                &body,
            ),
        );
        // Long base64 in JSON (an avatar) and in a parameter.
        let blob = r.b64(3000);
        push(
            "base64",
            "json",
            // POST, not PUT: CRS's default tx.allowed_methods (911100) refuses PUT, which a
            // user deploying a REST API configures; the corpus tests the engine, not that.
            head(
                "POST",
                "/api/v1/me/avatar",
                &hdrs("application/json"),
                format!("{{\"mime\":\"image/jpeg\",\"data\":\"{blob}\"}}").as_bytes(),
            ),
        );
        if i % 4 == 0 {
            push(
                "base64",
                "query",
                head(
                    "GET",
                    &format!("/track?d={}", pct(r.b64(400).as_bytes())),
                    &[],
                    b"",
                ),
            );
        }
    }
    if let Some(path) = popular_uas {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for ua in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            push(
                "ua",
                "header",
                format!(
                    "GET /index.html HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: {ua}\r\n\
                     Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\n\r\n"
                )
                .into_bytes(),
            );
        }
    }
    out
}

fn r_hex_fixed(i: usize) -> String {
    format!(
        "{:08x}",
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32
    )
}

/// The benchmark's fixed requests.
pub fn bench_requests() -> Vec<(&'static str, Vec<u8>)> {
    let get = head(
        "GET",
        "/shop/products?category=shoes&color=red&size=42&sort=price&page=2",
        &[(
            "Cookie",
            "session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; _ga=GA1.2.1234567890.1700000000"
                .to_string(),
        )],
        b"",
    );
    let mut items = Vec::new();
    let mut i = 0;
    while items.join(",").len() < 1900 {
        items.push(format!(
            "{{\"sku\":\"SKU-{i:05}\",\"name\":\"Item number {i}\",\"qty\":{},\"price\":{}.99}}",
            i % 5 + 1,
            10 + i
        ));
        i += 1;
    }
    let json = format!(
        "{{\"order\":{{\"customer\":\"alice@example.com\",\"items\":[{}]}}}}",
        items.join(",")
    );
    let json = head(
        "POST",
        "/api/orders",
        &[("Content-Type", "application/json".to_string())],
        json.as_bytes(),
    );
    let sqli = place("query", "1' UNION SELECT username, password FROM users--");
    let xss = place("form", "<script>alert(document.cookie)</script>");
    vec![
        ("get", get),
        ("json-2k", json),
        ("multipart", multipart_upload(4096)),
        ("attack-sqli", sqli),
        ("attack-xss", xss),
    ]
}

/// A multipart upload with a `size`-byte text file.
pub fn multipart_upload(size: usize) -> Vec<u8> {
    let boundary = "----WebKitFormBoundaryePkpFF7tjBAqx29L";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQuarterly report\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    body.extend(text_of(size));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    head(
        "POST",
        "/upload",
        &[(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )],
        &body,
    )
}

/// A JSON POST whose body is about `size` bytes (for the body-size scaling figures).
pub fn json_of_size(size: usize) -> Vec<u8> {
    let mut body = String::from("{\"entries\":[");
    let mut i = 0;
    while body.len() + 60 < size {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            "{{\"id\":{i},\"text\":\"entry {i} of the daily log, all fine\"}}"
        ));
        i += 1;
    }
    body.push_str("]}");
    head(
        "POST",
        "/api/log",
        &[("Content-Type", "application/json".to_string())],
        body.as_bytes(),
    )
}

fn text_of(size: usize) -> Vec<u8> {
    const LINE: &[u8] = b"Revenue grew in all regions this quarter; costs were flat.\n";
    LINE.iter().copied().cycle().take(size).collect()
}
