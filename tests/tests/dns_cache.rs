//! dns-guard's answer cache: hits never reach the upstream (its query log shows one query),
//! TTLs age and are capped, `--no-cache` turns it off, and a policy change applies to cached
//! answers at once, including names deep in a cached CNAME chain.

use std::time::Duration;

use guard_tests::upstream::{
    Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, dig, dns_tools, replace_file, write_policy,
};

const POLICY: &str = r#"
[dns]
default = "deny"
cname = "inspect"
allow = ["allowed.test", "alias.test", "target.test", "other.test"]
"#;

fn zone() -> Zone {
    Zone::new()
        .host("allowed.test", "10.0.0.1")
        .host("target.test", "10.0.0.9")
        .host("other.test", "10.0.0.8")
        .cname("alias.test", "target.test")
}

fn ttl_of(d: &guard_tests::upstream::Dig) -> u32 {
    d.answer
        .last()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|t| t.parse().ok())
        .unwrap_or(u32::MAX)
}

#[test]
fn a_cached_answer_is_served_without_asking_the_upstream_again() {
    if !dns_tools("a_cached_answer_is_served_without_asking_the_upstream_again") {
        return;
    }
    let dir = TempDir::new("dns-cache");
    let path = write_policy(&dir, "policy.toml", POLICY);
    let upstream = Dnsmasq::start(&zone());
    let guard = GuardProcess::start(GuardOptions::new(path.display().to_string(), upstream.addr));
    let first = dig(guard.dns, "allowed.test", "A", &[]);
    assert_eq!(first.status, "NOERROR", "{}", first.raw);
    std::thread::sleep(Duration::from_millis(1100));
    for transport in ["+notcp", "+tcp", "+notcp"] {
        let again = dig(guard.dns, "ALLOWED.test", "A", &[transport]);
        assert_eq!(again.status, "NOERROR", "{}", again.raw);
        assert_eq!(again.answer.len(), 1, "{}", again.raw);
        assert!(
            again.answer[0].starts_with("ALLOWED.test."),
            "the question's case: {}",
            again.raw
        );
        assert!(
            ttl_of(&again) < ttl_of(&first),
            "the TTL ages: {} then {}",
            ttl_of(&first),
            ttl_of(&again)
        );
    }
    assert_eq!(
        upstream.count("allowed.test"),
        1,
        "{:?}",
        upstream.queries()
    );
    assert!(guard.metric("dnsguard_cache_hits_total") >= 3.0);
    // Another type is another entry.
    dig(guard.dns, "allowed.test", "TXT", &[]);
    assert_eq!(upstream.count("allowed.test"), 2);
}

#[test]
fn no_cache_and_the_ttl_cap_send_queries_upstream_again() {
    if !dns_tools("no_cache_and_the_ttl_cap_send_queries_upstream_again") {
        return;
    }
    let dir = TempDir::new("dns-nocache");
    let path = write_policy(&dir, "policy.toml", POLICY);
    let upstream = Dnsmasq::start(&zone());
    let off = GuardProcess::start(
        GuardOptions::new(path.display().to_string(), upstream.addr).arg("--no-cache"),
    );
    dig(off.dns, "allowed.test", "A", &[]);
    dig(off.dns, "allowed.test", "A", &[]);
    assert_eq!(
        upstream.count("allowed.test"),
        2,
        "--no-cache forwards every query"
    );
    let capped = GuardProcess::start(
        GuardOptions::new(path.display().to_string(), upstream.addr)
            .arg("--cache-max-ttl")
            .arg("1"),
    );
    let d = dig(capped.dns, "other.test", "A", &[]);
    dig(capped.dns, "other.test", "A", &[]);
    assert_eq!(upstream.count("other.test"), 1, "cached for a second");
    assert!(ttl_of(&d) <= 60);
    std::thread::sleep(Duration::from_millis(1300));
    let later = dig(capped.dns, "other.test", "A", &[]);
    assert_eq!(
        upstream.count("other.test"),
        2,
        "expired after --cache-max-ttl 1"
    );
    assert!(ttl_of(&later) <= 60);
}

#[test]
fn a_policy_change_applies_to_cached_answers_at_once() {
    if !dns_tools("a_policy_change_applies_to_cached_answers_at_once") {
        return;
    }
    let dir = TempDir::new("dns-cache-policy");
    let path = write_policy(&dir, "policy.toml", POLICY);
    let upstream = Dnsmasq::start(&zone());
    let guard = GuardProcess::start(GuardOptions::new(path.display().to_string(), upstream.addr));
    assert_eq!(
        dig(guard.dns, "alias.test", "A", &[]).answer_types(),
        ["CNAME", "A"]
    );
    assert_eq!(dig(guard.dns, "other.test", "A", &[]).status, "NOERROR");
    // Now the CNAME target and a cached name itself are denied.
    replace_file(
        &path,
        &POLICY
            .replace("\"target.test\", \"other.test\"", "")
            .replace(
                "default = \"deny\"",
                "default = \"deny\"\ndeny = [\"target.test\", \"other.test\"]",
            ),
    );
    guard
        .wait_loaded(2, Duration::from_secs(3))
        .expect("the new policy loaded");
    let d = dig(guard.dns, "alias.test", "A", &[]);
    assert_eq!(
        d.status, "NXDOMAIN",
        "the cached chain now reaches a denied name: {}",
        d.raw
    );
    let e = guard
        .wait_event(Duration::from_secs(2), |e| {
            e["action"] == "blocked" && e["name"] == "alias.test"
        })
        .expect("blocked event");
    assert_eq!(e["target"], "target.test");
    assert_eq!(dig(guard.dns, "other.test", "A", &[]).status, "NXDOMAIN");
    assert_eq!(
        upstream.count("alias.test"),
        1,
        "decided from the cache, not re-fetched"
    );
    // And back: allowed again, served from the cache that was never cleared.
    replace_file(&path, POLICY);
    guard
        .wait_loaded(3, Duration::from_secs(3))
        .expect("the old policy loaded again");
    assert_eq!(dig(guard.dns, "alias.test", "A", &[]).status, "NOERROR");
    assert_eq!(upstream.count("alias.test"), 1);
}
