//! CRS v4.28.0's own regression suite (4,966 go-ftw cases) replayed through the engine.
//!
//! Each case runs on CRS loaded at the paranoia level of the rule it tests (request rules,
//! phases 1–2; the response files 95x need a backend and are not replayed). A stage passes
//! when every `expect_ids` rule fired and no `no_expect_ids` rule did; a case passes when all
//! its stages pass. The known failures are checked in (`data/crs-failing.txt`): a case that
//! fails and is not listed fails the test, a listed case that passes is printed so the list
//! can shrink (`CRS_FAILING_UPDATE=1` rewrites it). Floors: 98% of PL1 cases, 95% of PL1+PL2.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use guard_waf::Engine;
use serde_yaml::Value;

// Issue 13's floors are 98% of PL1 and 95% of PL1+PL2 cases. These are ratchets at the
// measured level (98.4%, 98.0%), at or above the issue's; with the checked-in failing list
// any case that starts failing is caught. Raise them as the engine closes the gaps listed in
// docs/waf-quality.md.
const PL1_FLOOR: f64 = 0.984;
const PL12_FLOOR: f64 = 0.980;

/// One go-ftw stage, reduced to what the replay needs.
struct Stage {
    request: Vec<u8>,
    expect: Vec<u32>,
    no_expect: Vec<u32>,
    /// A status the case expects when it has no log expectation (400: the server refuses).
    status: Option<u64>,
    expect_error: bool,
}

struct Case {
    /// `<rule>-<test_id>`, the rule from the file name (933200.yaml declares 9331200).
    id: String,
    rule: u32,
    stages: Vec<Stage>,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail(String),
    /// Nothing the engine decides (a status-only check of a 2xx answer).
    NotApplicable,
}

#[test]
fn crs_regression_suite() {
    let Some(crs) = common::crs_dir("crs_regression_suite") else {
        return;
    };
    let levels = rule_paranoia_levels(&crs.join("rules"));
    let mut cases = Vec::new();
    let mut unreadable = Vec::new();
    for file in yaml_files(&crs.join("tests/regression/tests")) {
        match read_cases(&file) {
            Ok(c) => cases.extend(c),
            Err(e) => unreadable.push(format!("{}: {e}", file.display())),
        }
    }
    assert!(
        unreadable.is_empty(),
        "unreadable go-ftw files:\n{}",
        unreadable.join("\n")
    );
    assert!(cases.len() > 4_500, "only {} cases found", cases.len());

    let setup = common::regression_crs_dir(&crs);
    let engines: Vec<Engine> = (1..=4).map(|pl| common::audit_engine(&setup, pl)).collect();

    // (pl, id, outcome); cases of rules without a paranoia level (comment-only files, rules
    // CRS no longer has) are not counted.
    let gated: Vec<(u8, &Case)> = cases
        .iter()
        .filter_map(|c| levels.get(&c.rule).map(|&pl| (pl, c)))
        .collect();
    let results = run_parallel(&gated, &engines);

    let mut per_pl: BTreeMap<u8, (usize, usize)> = BTreeMap::new();
    let mut per_file: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    let mut failing = BTreeSet::new();
    let mut reasons = BTreeMap::new();
    for ((pl, case), outcome) in gated.iter().zip(&results) {
        if *outcome == Outcome::NotApplicable {
            continue;
        }
        let pass = *outcome == Outcome::Pass;
        let e = per_pl.entry(*pl).or_default();
        e.0 += 1;
        e.1 += pass as usize;
        let f = per_file.entry(case.rule / 1000).or_default();
        f.0 += 1;
        f.1 += pass as usize;
        if let Outcome::Fail(why) = outcome {
            failing.insert(case.id.clone());
            reasons.insert(case.id.clone(), why.clone());
        }
    }

    println!("CRS v4.28.0 regression suite, {} cases read", cases.len());
    for (pl, (n, p)) in &per_pl {
        println!("  PL{pl}: {p}/{n} pass ({:.1}%)", pct(*p, *n));
    }
    for (file, (n, p)) in &per_file {
        println!("  {file}xxx: {p}/{n} ({:.1}%)", pct(*p, *n));
    }

    let list_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/crs-failing.txt");
    let mut report = String::from(
        "# CRS v4.28.0 regression cases that fail today (waf/tests/crs_regression.rs).\n\
         # One `<rule>-<test_id>  <why>` per line; regenerate with CRS_FAILING_UPDATE=1.\n",
    );
    for id in &failing {
        report.push_str(&format!("{id}  {}\n", reasons[id]));
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crs-failing.txt");
    std::fs::write(&out, &report).expect("writing the failing list");
    println!("failing cases written to {}", out.display());
    if std::env::var_os("CRS_FAILING_UPDATE").is_some() {
        std::fs::write(&list_path, &report).expect("updating the checked-in list");
    }

    let known: BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    let now_pass: Vec<&String> = known.difference(&failing).collect();
    if !now_pass.is_empty() {
        println!(
            "{} listed cases pass now; shrink the list (CRS_FAILING_UPDATE=1): {now_pass:?}",
            now_pass.len()
        );
    }
    let new_failures: Vec<String> = failing
        .difference(&known)
        .map(|id| format!("{id}  {}", reasons[id]))
        .collect();

    let (n1, p1) = per_pl.get(&1).copied().unwrap_or_default();
    let (n2, p2) = per_pl.get(&2).copied().unwrap_or_default();
    let mut problems = Vec::new();
    if !new_failures.is_empty() {
        problems.push(format!(
            "{} cases fail that are not in {}:\n{}",
            new_failures.len(),
            list_path.display(),
            // The full list is in the file written above; the first ones say enough here.
            new_failures[..new_failures.len().min(100)].join("\n")
        ));
    }
    if (p1 as f64) < PL1_FLOOR * n1 as f64 {
        problems.push(format!(
            "PL1: {p1}/{n1} ({:.1}%) below the {:.1}% floor",
            pct(p1, n1),
            PL1_FLOOR * 100.0
        ));
    }
    if ((p1 + p2) as f64) < PL12_FLOOR * (n1 + n2) as f64 {
        problems.push(format!(
            "PL1+PL2: {}/{} ({:.1}%) below the {:.1}% floor",
            p1 + p2,
            n1 + n2,
            pct(p1 + p2, n1 + n2),
            PL12_FLOOR * 100.0
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn pct(p: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        100.0 * p as f64 / n as f64
    }
}

fn run_parallel(cases: &[(u8, &Case)], engines: &[Engine]) -> Vec<Outcome> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = cases.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(pl, c)| run_case(&engines[*pl as usize - 1], c))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a replay thread panicked"))
            .collect()
    })
}

fn run_case(engine: &Engine, case: &Case) -> Outcome {
    let mut applicable = false;
    for stage in &case.stages {
        let verdict = common::inspect(engine, &stage.request);
        if stage.expect_error {
            applicable = true;
            if verdict.is_ok() {
                return Outcome::Fail("expected a malformed request, parsed fine".into());
            }
            continue;
        }
        let fired: BTreeSet<u32> = match &verdict {
            Ok(v) => v.matches.iter().map(|m| m.id).collect(),
            // A request the parser refuses is answered 400 as a `protocol` violation: that
            // satisfies a case expecting a protocol rule (920–922) and no other.
            Err(_) => BTreeSet::new(),
        };
        let rejected = verdict.is_err();
        if stage.expect.is_empty() && stage.no_expect.is_empty() {
            match stage.status {
                Some(s) if s >= 400 => {
                    applicable = true;
                    let blocked = rejected || verdict.as_ref().is_ok_and(|v| !v.matches.is_empty());
                    if !blocked {
                        return Outcome::Fail(format!("expected status {s}, nothing fired"));
                    }
                }
                _ => {}
            }
            continue;
        }
        applicable = true;
        let missing: Vec<u32> = stage
            .expect
            .iter()
            .copied()
            .filter(|id| !(fired.contains(id) || rejected && (920_000..923_000).contains(id)))
            .collect();
        let unwanted: Vec<u32> = stage
            .no_expect
            .iter()
            .copied()
            .filter(|id| fired.contains(id))
            .collect();
        if !missing.is_empty() || !unwanted.is_empty() {
            let mut why = String::new();
            if !missing.is_empty() {
                why.push_str(&format!("missing {missing:?}"));
            }
            if !unwanted.is_empty() {
                if !why.is_empty() {
                    why.push_str("; ");
                }
                why.push_str(&format!("unwanted {unwanted:?}"));
            }
            if let Err(e) = &verdict {
                why.push_str(&format!(" (parser: {e})"));
            }
            return Outcome::Fail(why);
        }
    }
    if applicable {
        Outcome::Pass
    } else {
        Outcome::NotApplicable
    }
}

/// Rule id → paranoia level, from the `paranoia-level/N` tags of the REQUEST-* rule files.
/// CRS tags every detection rule; an untagged request rule (initialisation, blocking
/// evaluation) runs at every level and counts as PL1.
fn rule_paranoia_levels(rules: &Path) -> HashMap<u32, u8> {
    let mut levels = HashMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(rules)
        .expect("reading the CRS rules directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("REQUEST-") && n.ends_with(".conf"))
        })
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("reading a CRS rule file");
        // One directive per logical line (continuations joined).
        let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
        for line in joined.lines() {
            let Some(id) = after(line, "id:").and_then(leading_number) else {
                continue;
            };
            let pl = after(line, "paranoia-level/")
                .and_then(leading_number)
                .map_or(1, |n| n as u8);
            levels.insert(id, pl);
        }
    }
    levels
}

fn after<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
    s.find(pat).map(|i| &s[i + pat.len()..])
}

fn leading_number(s: &str) -> Option<u32> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                // Only the request rule files: RESPONSE-95x cases need a reflecting backend.
                if p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("REQUEST-"))
                {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read_cases(file: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let doc: Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let rule = file
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or("file name is not a rule id")?;
    let Some(tests) = doc.get("tests").and_then(Value::as_sequence) else {
        return Ok(Vec::new()); // comment-only files (920539.yaml)
    };
    let mut cases = Vec::new();
    for t in tests {
        let test_id = t
            .get("test_id")
            .and_then(Value::as_u64)
            .ok_or("a test without test_id")?;
        let mut stages = Vec::new();
        for s in t
            .get("stages")
            .and_then(Value::as_sequence)
            .ok_or_else(|| format!("test {test_id}: no stages"))?
        {
            // Old go-ftw nested each stage under `stage:`.
            let s = s.get("stage").unwrap_or(s);
            let input = s
                .get("input")
                .ok_or_else(|| format!("test {test_id}: no input"))?;
            let output = s.get("output").cloned().unwrap_or(Value::Null);
            let log = output.get("log").cloned().unwrap_or(Value::Null);
            stages.push(Stage {
                request: build_request(input).map_err(|e| format!("test {test_id}: {e}"))?,
                expect: ids(log.get("expect_ids")),
                no_expect: ids(log.get("no_expect_ids")),
                status: output.get("status").and_then(Value::as_u64),
                expect_error: output
                    .get("expect_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            });
        }
        cases.push(Case {
            id: format!("{rule}-{test_id}"),
            rule,
            stages,
        });
    }
    Ok(cases)
}

fn ids(v: Option<&Value>) -> Vec<u32> {
    v.and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|i| i.as_u64().map(|n| n as u32))
                .collect()
        })
        .unwrap_or_default()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    }
}

/// The bytes go-ftw (v2, `ftwhttp.BuildRequest`) sends for one stage input: the request line,
/// headers in file order, and with `autocomplete_headers` (default; `stop_magic: true` turns it
/// off) a form Content-Type and URL-encoding of plain form data, LF→CRLF in multipart bodies,
/// `Connection: close` and a Content-Length.
fn build_request(input: &Value) -> Result<Vec<u8>, String> {
    if let Some(enc) = input.get("encoded_request").and_then(Value::as_str) {
        let enc: String = enc.split_whitespace().collect();
        return base64::engine::general_purpose::STANDARD
            .decode(enc)
            .map_err(|e| format!("encoded_request: {e}"));
    }
    if let Some(raw) = input.get("raw_request").and_then(Value::as_str) {
        return Ok(raw.as_bytes().to_vec());
    }
    let method = input.get("method").map_or("GET".into(), scalar);
    let uri = input.get("uri").map_or("/".into(), scalar);
    let version = input.get("version").map_or("HTTP/1.1".into(), scalar);
    let autocomplete = match (
        input.get("autocomplete_headers").and_then(Value::as_bool),
        input.get("stop_magic").and_then(Value::as_bool),
    ) {
        (Some(a), _) => a,
        (None, Some(stop)) => !stop,
        (None, None) => true,
    };
    let mut headers: Vec<(String, String)> = match input.get("headers") {
        Some(Value::Mapping(m)) => m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|h| {
                (
                    h.get("name").map(scalar).unwrap_or_default(),
                    h.get("value").map(scalar).unwrap_or_default(),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut data: Vec<u8> = match input.get("data") {
        Some(Value::Sequence(lines)) => lines
            .iter()
            .map(scalar)
            .collect::<Vec<_>>()
            .join("\r\n")
            .into_bytes(),
        Some(v) => scalar(v).into_bytes(),
        None => Vec::new(),
    };
    let has =
        |h: &[(String, String)], name: &str| h.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));

    if !data.is_empty() && autocomplete {
        if !has(&headers, "Content-Type") {
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        let form = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("Content-Type") && v == "application/x-www-form-urlencoded"
        });
        if form && query_unescape(&data).as_deref() == Some(&data[..]) {
            data = encode_form(&data);
        }
    }
    if headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("Content-Type") && v.contains("multipart/form-data;"))
    {
        let mut crlf = Vec::with_capacity(data.len() + 64);
        for &b in &data {
            if b == b'\n' {
                crlf.extend_from_slice(b"\r\n");
            } else {
                crlf.push(b);
            }
        }
        data = crlf;
    }
    if autocomplete {
        if !has(&headers, "Connection") {
            headers.push(("Connection".into(), "close".into()));
        }
        // go-ftw's `^POST|PUT|PATCH|DELETE$`, alternation precedence included.
        let body_method = method.starts_with("POST")
            || method.contains("PUT")
            || method.contains("PATCH")
            || method.ends_with("DELETE");
        if !has(&headers, "Content-Length") && (!data.is_empty() || body_method) {
            headers.push(("Content-Length".into(), data.len().to_string()));
        }
    }
    let mut out = format!("{method} {uri} {version}\r\n").into_bytes();
    for (n, v) in &headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&data);
    Ok(out)
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; None on a bad escape.
fn query_unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// Go's `url.QueryEscape` on each key and value of `a=b&c=d`.
fn encode_form(data: &[u8]) -> Vec<u8> {
    fn escape(s: &[u8], out: &mut Vec<u8>) {
        for &b in s {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
                b' ' => out.push(b'+'),
                _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
            }
        }
    }
    // Go's loop stops when nothing remains: a trailing `&` yields no empty token.
    let data = data.strip_suffix(b"&").unwrap_or(data);
    let mut out = Vec::with_capacity(data.len() * 2);
    for (i, token) in data.split(|&b| b == b'&').enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        match token.iter().position(|&b| b == b'=') {
            Some(eq) => {
                escape(&token[..eq], &mut out);
                out.push(b'=');
                escape(&token[eq + 1..], &mut out);
            }
            None => escape(token, &mut out),
        }
    }
    out
}
