//! Loads both CRS versions the product supports and runs classic attacks through them.
//! The corpus lives beside the repository (`../shared`); outside CI a missing corpus skips.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::{Config, Engine, Protection, Request};

fn dir(p: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p);
    let path = if p.starts_with('/') {
        PathBuf::from(p)
    } else {
        path
    };
    if path.is_dir() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").map(|v| v != "true").unwrap_or(true),
        "{} is missing under CI",
        path.display()
    );
    eprintln!("skipping: {} is missing", path.display());
    None
}

fn v4() -> Option<PathBuf> {
    dir("../../shared/corpus/crs-v4.28.0")
}

fn get<'a>(target: &'a str, headers: &'a [(&'a [u8], &'a [u8])]) -> Request<'a> {
    Request {
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        method: "GET",
        target: target.as_bytes(),
        protocol: "HTTP/1.1",
        headers,
        body: b"",
        body_truncated: false,
    }
}

const HEADERS: &[(&[u8], &[u8])] = &[
    (b"Host", b"example.com"),
    (
        b"User-Agent",
        b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ),
    (b"Accept", b"text/html,application/xhtml+xml"),
    (b"Accept-Language", b"en-US,en;q=0.5"),
];

#[test]
fn loads_crs_v4() {
    let Some(d) = v4() else { return };
    let e = Engine::load(&Config::new(&d)).unwrap_or_else(|e| panic!("{e}"));
    assert!(e.rule_count() > 500, "{} rules", e.rule_count());
}

#[test]
fn loads_debian_crs_3() {
    let Some(d) = dir("/usr/share/modsecurity-crs") else {
        return;
    };
    let e = Engine::load(&Config::new(&d)).unwrap_or_else(|e| panic!("{e}"));
    assert!(e.rule_count() > 400, "{} rules", e.rule_count());
}

#[test]
fn unknown_directive_names_file_and_line() {
    let Some(d) = v4() else { return };
    let tmp = std::env::temp_dir().join(format!("waf-extra-{}.conf", std::process::id()));
    std::fs::write(&tmp, "# x\nSecFrobnicate On\n").unwrap();
    let mut c = Config::new(&d);
    c.extra_rules.push(tmp.clone());
    let err = Engine::load(&c).unwrap_err().to_string();
    std::fs::remove_file(&tmp).ok();
    assert!(
        err.contains(":2:") && err.contains("SecFrobnicate"),
        "{err}"
    );
}

#[test]
fn benign_get_is_clean() {
    let Some(d) = v4() else { return };
    let e = Engine::load(&Config::new(&d)).unwrap();
    let v = e.inspect_full(&get("/search?q=shoes&page=2&sort=price", HEADERS));
    assert!(!v.blocks(), "{v:?}");
}

/// Needs the real operators and transformations (waf-ops); without them nothing matches.
#[test]
fn classic_attacks_fire_their_protections() {
    let Some(d) = v4() else { return };
    let e = Engine::load(&Config::new(&d)).unwrap();
    if !crate::operator::Operator::compile("rx", "a", false, &d)
        .map(|o| o.matches(b"a", None))
        .unwrap_or(false)
    {
        eprintln!("skipping: operators are stubs");
        return;
    }
    for (target, p) in [
        ("/?id=1%27%20OR%20%271%27%3D%271", Protection::Sqli),
        ("/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", Protection::Xss),
        ("/?cmd=%3Bcat%20%2Fetc%2Fpasswd", Protection::Cmdi),
        ("/?file=..%2F..%2Fetc%2Fpasswd", Protection::Lfi),
    ] {
        let v = e.inspect_full(&get(target, HEADERS));
        assert!(v.blocks() && v.protections.contains(&p), "{target}: {v:?}");
    }
}
