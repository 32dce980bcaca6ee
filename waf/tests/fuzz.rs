//! A bounded fuzz run for CI: random and mutated requests through the raw parser and the
//! engine (CRS v4.28.0 at PL1 and PL4). Nothing may panic (the release profile aborts, so a
//! panic kills this test), and no request may take longer than a fixed bound — including
//! pathological values aimed at backtracking regexes and deep JSON.

mod common;

use std::time::{Duration, Instant};

use common::corpus;
use guard_waf::Engine;
use guard_waf::raw::RawRequest;

/// Per request; a linear-time engine needs a few ms for these sizes on a loaded machine.
const BOUND: Duration = Duration::from_secs(2);
const MUTANTS: usize = 3_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Bytes that move parsers between states: delimiters, escapes, encodings, body syntax.
const SPICE: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"%",
    b"%0",
    b"%zz",
    b"%00",
    b"%u",
    b"%uD800",
    b"\0",
    b"\xff",
    b"\xc0\xaf",
    b"&",
    b"=",
    b";",
    b":",
    b"\"",
    b"'",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b"{\"a\":",
    b"<",
    b">",
    b"<!--",
    b"*/",
    b"--",
    b"${",
    b"{{",
    b"\t",
    b" ",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b"Content-Type: multipart/form-data; boundary=x\r\n",
    b"--x\r\n",
    b"--x--",
    b"Content-Type: application/json\r\n",
    b"Content-Type: text/xml\r\n",
    b"<?xml ",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 => {
                let s = SPICE[rng.below(SPICE.len())];
                v.splice(at..at, s.iter().copied());
            }
            1 if at < v.len() => v[at] = rng.next() as u8,
            2 if at < v.len() => {
                let end = (at + rng.below(32)).min(v.len());
                v.drain(at..end);
            }
            3 => v.truncate(at),
            4 if at < v.len() => {
                let end = (at + rng.below(64)).min(v.len());
                let chunk = v[at..end].to_vec();
                for _ in 0..rng.below(20) {
                    v.splice(at..at, chunk.iter().copied());
                }
            }
            _ => {
                let n = rng.below(64);
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, junk);
            }
        }
        v.truncate(16 * 1024);
    }
    v
}

fn timed(engine: &Engine, bytes: &[u8], what: &str) {
    let t = Instant::now();
    if let Ok(raw) = RawRequest::parse(bytes) {
        let headers = raw.header_refs();
        let _ = engine.inspect(&raw.request(&headers));
    }
    let took = t.elapsed();
    assert!(
        took < BOUND,
        "{what} took {took:?} (bound {BOUND:?}): {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
    );
}

#[test]
fn mutated_and_random_requests_neither_panic_nor_hang() {
    let Some(crs) = common::crs_dir("mutated_and_random_requests_neither_panic_nor_hang") else {
        return;
    };
    let engines = [common::engine(&crs, 1), common::engine(&crs, 4)];
    let mut seeds: Vec<Vec<u8>> = corpus::bench_requests()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    seeds.extend(corpus::attacks().into_iter().step_by(17).map(|s| s.request));
    seeds.extend(
        corpus::benign_traffic(None)
            .into_iter()
            .step_by(23)
            .map(|s| s.request),
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    for i in 0..MUTANTS {
        let seed = &seeds[rng.below(seeds.len())];
        let m = mutate(&mut rng, seed);
        timed(&engines[i % 2], &m, &format!("mutant {i}"));
    }
    for i in 0..200 {
        let n = rng.below(2048);
        let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        timed(&engines[i % 2], &junk, &format!("random {i}"));
    }
    println!(
        "{} mutated and 200 random requests in {:?}",
        MUTANTS,
        started.elapsed()
    );
}

#[test]
fn pathological_values_stay_within_the_bound() {
    let Some(crs) = common::crs_dir("pathological_values_stay_within_the_bound") else {
        return;
    };
    let engine = common::engine(&crs, 4);
    // Classic catastrophic-backtracking shapes, long runs of rule-relevant characters, and
    // deep nesting, 8 KB each, in every placement.
    let unit: &[&str] = &[
        "a", "(", "'", "\"", "%", "%25", "\\", "/", "../", "<", "<a", "=", " ", "${", "{{", "a'",
        "1 or ", "&#", "\\u00", "-- ", "/*", "select ", "<script", ";", "|", "$(",
    ];
    for u in unit {
        let value = u.repeat(8 * 1024 / u.len());
        for p in corpus::PLACEMENTS {
            timed(
                &engine,
                &corpus::place(p, &value),
                &format!("{u:?} x8K in {p}"),
            );
        }
    }
    let deep = format!("{}1{}", "[".repeat(4000), "]".repeat(4000));
    let json = format!(
        "POST /api HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{deep}",
        deep.len()
    );
    timed(&engine, json.as_bytes(), "JSON nested 4,000 deep");
    let many = format!("GET /?{} HTTP/1.1\r\nHost: a\r\n\r\n", "a=1&".repeat(4000));
    timed(&engine, many.as_bytes(), "4,000 parameters");
}
