//! dns-guard answers: what allowed, denied and alerted names get, over UDP and TCP, checked
//! with real `dig` against a real dnsmasq upstream whose own query log proves that blocked
//! names never leave the sidecar.

use std::time::Duration;

use guard_tests::upstream::{
    Dig, Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, build_query, dig, dns_tools,
    tcp_exchange, udp_exchange, write_policy,
};

const POLICY: &str = r#"
mode = "enforce"
[dns]
default = "deny"
answer = "nxdomain"
cname = "inspect"
block_ttl = 7
allow = ["allowed.test", "*.allowed.test"]
deny = ["evil.test", "*.evil.test"]
alert = ["watched.test"]
"#;

fn zone() -> Zone {
    Zone::new()
        .host("allowed.test", "10.0.0.1")
        .host("www.allowed.test", "10.0.0.2")
        .host("evil.test", "10.6.6.6")
        .host("sub.evil.test", "10.6.6.7")
        .host("watched.test", "10.0.0.3")
        .host("unlisted.test", "10.0.0.4")
}

struct Setup {
    upstream: Dnsmasq,
    guard: GuardProcess,
    _dir: TempDir,
}

fn setup(policy: &str) -> Setup {
    let dir = TempDir::new("dns-answers");
    let path = write_policy(&dir, "policy.toml", policy);
    let upstream = Dnsmasq::start(&zone());
    let guard = GuardProcess::start(GuardOptions::new(path.display().to_string(), upstream.addr));
    Setup {
        upstream,
        guard,
        _dir: dir,
    }
}

fn assert_blocked_nxdomain(d: &Dig, rule: &str, edns: bool) {
    assert_eq!(d.status, "NXDOMAIN", "{}", d.raw);
    assert!(
        d.answer.is_empty(),
        "a blocked answer has no records: {}",
        d.raw
    );
    assert_eq!(d.authority.len(), 1, "one SOA in authority: {}", d.raw);
    let soa: Vec<&str> = d.authority[0].split_whitespace().collect();
    assert_eq!(soa[3], "SOA", "{}", d.raw);
    assert_eq!(
        soa[1], "7",
        "the SOA's TTL is the policy's block_ttl: {}",
        d.raw
    );
    assert_eq!(
        soa.last().copied(),
        Some("7"),
        "the SOA MINIMUM is block_ttl too: {}",
        d.raw
    );
    if edns {
        let ede = d
            .ede
            .as_deref()
            .unwrap_or_else(|| panic!("no EDE: {}", d.raw));
        assert!(ede.starts_with("15 (Blocked)"), "{ede}");
        assert!(ede.contains(rule), "EDE names the rule {rule}: {ede}");
    } else {
        assert!(
            d.ede.is_none() && d.edns.is_none(),
            "no OPT without client EDNS: {}",
            d.raw
        );
    }
}

#[test]
fn allowed_names_are_forwarded_and_answered_over_udp_and_tcp() {
    if !dns_tools("allowed_names_are_forwarded_and_answered_over_udp_and_tcp") {
        return;
    }
    let s = setup(POLICY);
    for transport in ["+notcp", "+tcp"] {
        let d = dig(
            s.guard.dns,
            "www.allowed.test",
            "A",
            &[transport, "+nocookie"],
        );
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert!(
            d.answer.iter().any(|l| l.ends_with("10.0.0.2")),
            "{}",
            d.raw
        );
    }
    assert!(
        s.upstream.count("www.allowed.test") >= 1,
        "the upstream answered it"
    );
}

#[test]
fn denied_names_get_nxdomain_with_soa_and_ede_for_every_type_and_never_reach_upstream() {
    if !dns_tools(
        "denied_names_get_nxdomain_with_soa_and_ede_for_every_type_and_never_reach_upstream",
    ) {
        return;
    }
    let s = setup(POLICY);
    for transport in ["+notcp", "+tcp"] {
        for qtype in ["A", "AAAA", "TXT", "MX", "HTTPS", "SRV", "ANY", "TYPE65280"] {
            let d = dig(s.guard.dns, "evil.test", qtype, &[transport]);
            assert_blocked_nxdomain(&d, "dns.deny:evil.test", true);
            let d = dig(s.guard.dns, "deep.sub.EVIL.test", qtype, &[transport]);
            assert_blocked_nxdomain(&d, "dns.deny:*.evil.test", true);
            // Names no rule matches fall to `default = "deny"`.
            let d = dig(s.guard.dns, "unlisted.test", qtype, &[transport]);
            assert_blocked_nxdomain(&d, "dns.default", true);
        }
    }
    let d = dig(s.guard.dns, "evil.test", "A", &["+noedns"]);
    assert_blocked_nxdomain(&d, "dns.deny:evil.test", false);
    for name in ["evil.test", "deep.sub.evil.test", "unlisted.test"] {
        assert_eq!(
            s.upstream.count(name),
            0,
            "{name} reached the upstream: {:?}",
            s.upstream.queries()
        );
    }
}

#[test]
fn nodata_and_refused_answers_follow_the_policy() {
    if !dns_tools("nodata_and_refused_answers_follow_the_policy") {
        return;
    }
    let s = setup(&POLICY.replace("answer = \"nxdomain\"", "answer = \"nodata\""));
    for qtype in ["A", "AAAA", "MX"] {
        let d = dig(s.guard.dns, "evil.test", qtype, &[]);
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert!(d.answer.is_empty(), "{}", d.raw);
        assert!(
            d.authority.first().is_some_and(|l| l.contains("SOA")),
            "{}",
            d.raw
        );
        assert!(
            d.ede
                .as_deref()
                .is_some_and(|e| e.contains("dns.deny:evil.test")),
            "{}",
            d.raw
        );
    }
    let s2 = setup(&POLICY.replace("answer = \"nxdomain\"", "answer = \"refused\""));
    for transport in ["+notcp", "+tcp"] {
        let d = dig(s2.guard.dns, "evil.test", "A", &[transport]);
        assert_eq!(d.status, "REFUSED", "{}", d.raw);
        assert!(d.answer.is_empty() && d.authority.is_empty(), "{}", d.raw);
        assert!(
            d.ede
                .as_deref()
                .is_some_and(|e| e.starts_with("15 (Blocked)")),
            "{}",
            d.raw
        );
    }
    assert_eq!(
        s.upstream.count("evil.test") + s2.upstream.count("evil.test"),
        0
    );
}

#[test]
fn alerted_names_are_answered_and_reported() {
    if !dns_tools("alerted_names_are_answered_and_reported") {
        return;
    }
    let s = setup(POLICY);
    let d = dig(s.guard.dns, "Watched.Test", "A", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(
        d.answer.iter().any(|l| l.ends_with("10.0.0.3")),
        "{}",
        d.raw
    );
    let e = s
        .guard
        .wait_event(Duration::from_secs(2), |e| e["action"] == "alerted")
        .expect("an alerted event");
    assert_eq!(e["name"], "watched.test");
    assert_eq!(e["rule"], "dns.alert:watched.test");
    assert_eq!(s.upstream.count("watched.test"), 1);
}

#[test]
fn audit_events_name_the_rule_the_policy_version_and_the_client() {
    if !dns_tools("audit_events_name_the_rule_the_policy_version_and_the_client") {
        return;
    }
    let s = setup(POLICY);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(&build_query(0x4242, "Sub.Evil.Test", 16, None), s.guard.dns)
        .unwrap();
    let mut buf = [0u8; 1500];
    sock.recv_from(&mut buf).expect("an answer");
    let e = s
        .guard
        .wait_event(Duration::from_secs(2), |e| {
            e["kind"] == "dns" && e["action"] == "blocked"
        })
        .expect("a blocked event");
    assert_eq!(e["name"], "sub.evil.test");
    assert_eq!(e["qtype"], "TXT");
    assert_eq!(e["rule"], "dns.deny:*.evil.test");
    assert_eq!(e["client"], client.to_string());
    let (_, health) = s.guard.admin_get("/healthz");
    let version = e["policy_version"].as_str().expect("policy_version");
    assert!(
        health.contains(version),
        "event version {version} is the serving one: {health}"
    );
    let time = e["time"].as_str().expect("time");
    assert_eq!(time.len(), "2026-01-01T00:00:00.000Z".len(), "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    // The first line is the policy load.
    let first = &s.guard.events()[0];
    assert_eq!(first["kind"], "policy");
    assert_eq!(first["action"], "loaded");
    assert_eq!(first["policy_version"], version);
}

#[test]
fn the_clients_id_and_question_case_are_preserved() {
    if !dns_tools("the_clients_id_and_question_case_are_preserved") {
        return;
    }
    let s = setup(POLICY);
    for (name, id) in [
        ("wWw.AlLoWeD.TeSt", 0xbeef),
        ("EvIl.TeSt", 0x1234),
        ("wWw.AlLoWeD.TeSt", 0x0102),
    ] {
        // The third one is a cache hit of the first (cached under the lower-case name).
        let q = build_query(id, name, 1, Some(1232));
        let qlen = q.len() - 11;
        let a = udp_exchange(s.guard.dns, &q, Duration::from_secs(3)).expect("udp answer");
        assert_eq!(a[0..2], q[0..2], "ID of {name}");
        assert_eq!(a[12..qlen], q[12..qlen], "question bytes (case) of {name}");
        let t = tcp_exchange(
            s.guard.dns,
            std::slice::from_ref(&q),
            1,
            Duration::from_secs(3),
        );
        assert_eq!(t.len(), 1, "tcp answer for {name}");
        assert_eq!(t[0][0..2], q[0..2]);
        assert_eq!(t[0][12..qlen], q[12..qlen]);
    }
}

#[test]
fn several_queries_on_one_tcp_connection_are_all_answered() {
    if !dns_tools("several_queries_on_one_tcp_connection_are_all_answered") {
        return;
    }
    let s = setup(POLICY);
    let msgs: Vec<Vec<u8>> = (0..20u16)
        .map(|i| {
            let name = if i % 2 == 0 {
                "allowed.test"
            } else {
                "evil.test"
            };
            build_query(1000 + i, name, 1, None)
        })
        .collect();
    let answers = tcp_exchange(s.guard.dns, &msgs, msgs.len(), Duration::from_secs(5));
    assert_eq!(answers.len(), 20);
    let mut ids: Vec<u16> = answers
        .iter()
        .map(|a| u16::from_be_bytes([a[0], a[1]]))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1000..1020).collect::<Vec<u16>>());
    for a in &answers {
        let id = u16::from_be_bytes([a[0], a[1]]);
        let expected = if id % 2 == 0 { 0 } else { 3 };
        assert_eq!(a[3] & 0xf, expected, "rcode of query {id}");
    }
}

#[test]
fn audit_mode_forwards_everything_and_reports_would_block() {
    if !dns_tools("audit_mode_forwards_everything_and_reports_would_block") {
        return;
    }
    let s = setup(&POLICY.replace("mode = \"enforce\"", "mode = \"audit\""));
    let d = dig(s.guard.dns, "evil.test", "A", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(
        d.answer.iter().any(|l| l.ends_with("10.6.6.6")),
        "{}",
        d.raw
    );
    let e = s
        .guard
        .wait_event(Duration::from_secs(2), |e| e["action"] == "would-block")
        .expect("a would-block event");
    assert_eq!(e["name"], "evil.test");
    assert_eq!(e["rule"], "dns.deny:evil.test");
    assert_eq!(s.upstream.count("evil.test"), 1, "audit mode forwards");
    assert!(!s.guard.events().iter().any(|e| e["action"] == "blocked"));
}
