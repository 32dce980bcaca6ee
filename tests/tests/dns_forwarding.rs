//! dns-guard forwarding: CNAME chains (inspect and trust), truncation and the TCP retry, EDNS
//! passthrough, and upstream failures (SERVFAIL, counted as upstream failures, never as
//! blocks), against a real dnsmasq.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use guard_tests::upstream::{
    Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, dig, dns_tools, free_port, write_policy,
};

const POLICY: &str = r#"
mode = "enforce"
[dns]
default = "deny"
cname = "inspect"
allow = ["allowed.test", "alias.test", "good-alias.test", "two-hop.test", "hop.test", "big.test", "watched-alias.test"]
deny = ["evil.test"]
alert = ["watched.test"]
"#;

fn zone() -> Zone {
    Zone::new()
        .host("allowed.test", "10.0.0.1")
        .host("evil.test", "10.6.6.6")
        .host("watched.test", "10.0.0.3")
        .cname("alias.test", "evil.test")
        .cname("good-alias.test", "allowed.test")
        // two-hop.test -> hop.test -> evil.test: the denied name is two links away.
        .cname("two-hop.test", "hop.test")
        .cname("hop.test", "evil.test")
        .cname("watched-alias.test", "watched.test")
        .big_txt("big.test", 3000)
}

fn start(policy: &str) -> (Dnsmasq, GuardProcess, TempDir) {
    let dir = TempDir::new("dns-forwarding");
    let path = write_policy(&dir, "policy.toml", policy);
    let upstream = Dnsmasq::start(&zone());
    let guard = GuardProcess::start(GuardOptions::new(path.display().to_string(), upstream.addr));
    (upstream, guard, dir)
}

#[test]
fn cname_inspect_blocks_an_allowed_name_that_chains_to_a_denied_one() {
    if !dns_tools("cname_inspect_blocks_an_allowed_name_that_chains_to_a_denied_one") {
        return;
    }
    let (upstream, guard, _dir) = start(POLICY);
    for (name, transport) in [
        ("alias.test", "+notcp"),
        ("two-hop.test", "+notcp"),
        ("alias.test", "+tcp"),
    ] {
        let d = dig(guard.dns, name, "A", &[transport]);
        assert_eq!(d.status, "NXDOMAIN", "{}", d.raw);
        assert!(d.answer.is_empty(), "the chain is not leaked: {}", d.raw);
        assert!(
            d.ede
                .as_deref()
                .is_some_and(|e| e.contains("dns.deny:evil.test")),
            "{}",
            d.raw
        );
    }
    let e = guard
        .wait_event(Duration::from_secs(2), |e| {
            e["action"] == "blocked" && e["name"] == "two-hop.test"
        })
        .expect("a blocked event for the chain");
    assert_eq!(e["target"], "evil.test");
    assert_eq!(e["rule"], "dns.deny:evil.test");
    // Counted once each, as blocked.
    assert_eq!(
        guard.metric("dnsguard_queries_total{verdict=\"blocked\",qtype=\"A\"}"),
        3.0
    );
    assert_eq!(
        guard.metric("dnsguard_queries_total{verdict=\"allowed\",qtype=\"A\"}"),
        0.0
    );
    // The alias was asked (it is allowed); the denied target itself never was.
    assert!(upstream.count("alias.test") >= 1);
    assert_eq!(upstream.count("evil.test"), 0);
}

#[test]
fn cname_inspect_serves_chains_of_allowed_names_and_reports_alerted_targets() {
    if !dns_tools("cname_inspect_serves_chains_of_allowed_names_and_reports_alerted_targets") {
        return;
    }
    let (_upstream, guard, _dir) = start(POLICY);
    let d = dig(guard.dns, "good-alias.test", "A", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert_eq!(d.answer_types(), ["CNAME", "A"], "{}", d.raw);
    let d = dig(guard.dns, "watched-alias.test", "A", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    let e = guard
        .wait_event(Duration::from_secs(2), |e| e["action"] == "alerted")
        .expect("an alerted event for the chain target");
    assert_eq!(
        (e["name"].as_str(), e["target"].as_str()),
        (Some("watched-alias.test"), Some("watched.test"))
    );
}

#[test]
fn cname_trust_checks_only_the_question() {
    if !dns_tools("cname_trust_checks_only_the_question") {
        return;
    }
    let (_upstream, guard, _dir) =
        start(&POLICY.replace("cname = \"inspect\"", "cname = \"trust\""));
    let d = dig(guard.dns, "alias.test", "A", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(
        d.answer
            .iter()
            .any(|l| l.contains("CNAME") && l.contains("evil.test")),
        "{}",
        d.raw
    );
    // The target itself is still denied when asked directly.
    assert_eq!(dig(guard.dns, "evil.test", "A", &[]).status, "NXDOMAIN");
}

#[test]
fn truncated_upstream_answers_are_fetched_over_tcp() {
    if !dns_tools("truncated_upstream_answers_are_fetched_over_tcp") {
        return;
    }
    let (upstream, guard, _dir) = start(POLICY);
    // The upstream truncates anything over 1232 bytes on UDP; the client accepts 4096.
    let direct = dig(
        upstream.addr,
        "big.test",
        "TXT",
        &["+bufsize=4096", "+ignore"],
    );
    assert!(
        direct.has_flag("tc"),
        "the upstream itself truncates: {}",
        direct.raw
    );
    let d = dig(guard.dns, "big.test", "TXT", &["+bufsize=4096", "+ignore"]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(
        !d.has_flag("tc"),
        "the guard retried over TCP and answered in full: {}",
        d.raw
    );
    assert!(
        d.raw.contains("s000") && d.raw.contains("s014"),
        "all 15 strings: {}",
        d.raw
    );
    // A client without EDNS (512 bytes) gets TC and comes back over TCP.
    let small = dig(
        guard.dns,
        "big.test",
        "TXT",
        &["+noedns", "+ignore", "+nocookie"],
    );
    assert!(small.has_flag("tc"), "{}", small.raw);
    let tcp = dig(guard.dns, "big.test", "TXT", &["+tcp"]);
    assert!(
        tcp.raw.contains("s014") && !tcp.has_flag("tc"),
        "{}",
        tcp.raw
    );
}

#[test]
fn edns_is_passed_through() {
    if !dns_tools("edns_is_passed_through") {
        return;
    }
    let (_upstream, guard, _dir) = start(POLICY);
    let d = dig(guard.dns, "allowed.test", "A", &["+dnssec"]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(
        d.edns.as_deref().is_some_and(|e| e.contains("flags: do")),
        "DO echoed: {}",
        d.raw
    );
    let plain = dig(guard.dns, "allowed.test", "A", &["+noedns"]);
    assert_eq!(plain.status, "NOERROR", "{}", plain.raw);
    assert!(
        plain.edns.is_none(),
        "no OPT for a client without EDNS: {}",
        plain.raw
    );
}

#[test]
fn a_dead_upstream_gives_servfail_counted_as_an_upstream_failure_not_a_block() {
    if !dns_tools("a_dead_upstream_gives_servfail_counted_as_an_upstream_failure_not_a_block") {
        return;
    }
    let dir = TempDir::new("dns-dead");
    let path = write_policy(&dir, "policy.toml", POLICY);
    // Nothing listens here: the kernel answers port-unreachable.
    let dead = ([127, 0, 0, 1], free_port()).into();
    // A socket that receives but never answers: a timeout.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    for upstream in [dead, silent.local_addr().unwrap()] {
        let guard = GuardProcess::start(
            GuardOptions::new(path.display().to_string(), upstream)
                .arg("--upstream-timeout-ms")
                .arg("300"),
        );
        let t = Instant::now();
        let d = dig(guard.dns, "allowed.test", "A", &[]);
        assert_eq!(d.status, "SERVFAIL", "{}", d.raw);
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "took {:?}",
            t.elapsed()
        );
        assert!(
            d.ede.as_deref().is_some_and(|e| e.starts_with("22")),
            "EDE 22 (No Reachable Authority): {}",
            d.raw
        );
        let failures: f64 = ["timeout", "error"]
            .iter()
            .map(|r| {
                guard.metric(&format!(
                    "dnsguard_upstream_failures_total{{reason=\"{r}\"}}"
                ))
            })
            .sum();
        assert!(failures >= 1.0, "upstream failure counted");
        assert_eq!(
            guard.metric("dnsguard_queries_total{verdict=\"blocked\",qtype=\"A\"}"),
            0.0
        );
        assert!(
            !guard.events().iter().any(|e| e["action"] == "blocked"),
            "not reported as a block"
        );
        // Still serving: blocked names are answered without any upstream.
        assert_eq!(dig(guard.dns, "evil.test", "A", &[]).status, "NXDOMAIN");
    }
}

#[test]
fn a_failed_upstream_is_retried_on_the_next_one() {
    if !dns_tools("a_failed_upstream_is_retried_on_the_next_one") {
        return;
    }
    let dir = TempDir::new("dns-failover");
    let path = write_policy(&dir, "policy.toml", POLICY);
    let upstream = Dnsmasq::start(&zone());
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut opts = GuardOptions::new(path.display().to_string(), silent.local_addr().unwrap())
        .arg("--upstream-timeout-ms")
        .arg("300");
    opts.upstreams.push(upstream.addr);
    let guard = GuardProcess::start(opts);
    let d = dig(guard.dns, "allowed.test", "A", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert_eq!(upstream.count("allowed.test"), 1);
    assert!(guard.metric("dnsguard_upstream_failures_total{reason=\"timeout\"}") >= 1.0);
}

#[test]
fn an_upstream_error_answer_is_passed_on_and_counted_not_reported_as_a_block() {
    if !dns_tools("an_upstream_error_answer_is_passed_on_and_counted_not_reported_as_a_block") {
        return;
    }
    // dnsmasq without upstreams of its own answers REFUSED for names outside its zone.
    let (upstream, guard, _dir) =
        start(&POLICY.replace("allow = [", "allow = [\"nowhere.test\", "));
    let direct = dig(upstream.addr, "nowhere.test", "A", &[]);
    assert_eq!(direct.status, "REFUSED", "{}", direct.raw);
    let d = dig(guard.dns, "nowhere.test", "A", &[]);
    assert_eq!(d.status, "REFUSED", "{}", d.raw);
    assert!(
        d.ede.as_deref().is_none_or(|e| !e.starts_with("15")),
        "not a block: {}",
        d.raw
    );
    assert_eq!(
        guard.metric("dnsguard_upstream_failures_total{reason=\"rcode\"}"),
        1.0
    );
    assert!(
        !guard.events().iter().any(|e| e["kind"] == "dns"),
        "no audit event for an upstream error"
    );
}
