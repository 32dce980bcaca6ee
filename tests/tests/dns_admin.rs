//! dns-guard operations: `/healthz` and `/metrics`, the `health`, `check` and `validate`
//! commands, a blocked-query flood that can neither stop service nor grow memory, and a
//! SIGTERM that flushes the audit log.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use guard_tests::artifacts;
use guard_tests::upstream::{
    Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, build_query, dig, dns_tools, free_port,
    write_policy,
};

const POLICY: &str = r#"
[dns]
default = "deny"
allow = ["allowed.test", "*.allowed.test"]
deny = ["evil.test", "*.evil.test"]
alert = ["watched.test"]
"#;

fn start(dir: &TempDir) -> (Dnsmasq, GuardProcess) {
    let path = write_policy(dir, "policy.toml", POLICY);
    let upstream = Dnsmasq::start(&Zone::new().host("allowed.test", "10.0.0.1"));
    let guard = GuardProcess::start(GuardOptions::new(path.display().to_string(), upstream.addr));
    (upstream, guard)
}

fn dns_guard(args: &[&str]) -> std::process::Output {
    Command::new(artifacts::dns_guard())
        .args(args)
        .output()
        .expect("run dns-guard")
}

#[test]
fn healthz_and_metrics_report_the_serving_state() {
    if !dns_tools("healthz_and_metrics_report_the_serving_state") {
        return;
    }
    let dir = TempDir::new("dns-admin");
    let (_upstream, guard) = start(&dir);
    let version = guard.wait_loaded(1, Duration::ZERO).unwrap();
    let (status, body) = guard.admin_get("/healthz");
    assert_eq!(status, 200);
    assert!(body.contains(&version), "{body}");
    dig(guard.dns, "allowed.test", "A", &[]);
    dig(guard.dns, "allowed.test", "A", &[]);
    dig(guard.dns, "evil.test", "AAAA", &[]);
    dig(guard.dns, "watched.test", "A", &[]);
    assert_eq!(
        guard.metric("dnsguard_queries_total{verdict=\"allowed\",qtype=\"A\"}"),
        2.0
    );
    assert_eq!(
        guard.metric("dnsguard_queries_total{verdict=\"blocked\",qtype=\"AAAA\"}"),
        1.0
    );
    assert_eq!(
        guard.metric("dnsguard_queries_total{verdict=\"alerted\",qtype=\"A\"}"),
        1.0
    );
    assert_eq!(guard.metric("dnsguard_cache_hits_total"), 1.0);
    assert_eq!(guard.metric("dnsguard_cache_misses_total"), 2.0);
    assert_eq!(
        guard.metric(&format!("dnsguard_policy_info{{version=\"{version}\"}}")),
        1.0
    );
    assert!(guard.metric("dnsguard_upstream_latency_seconds_count") >= 2.0);
    let (_, metrics) = guard.admin_get("/metrics");
    for series in [
        "dnsguard_upstream_latency_seconds_bucket{le=\"+Inf\"}",
        "dnsguard_upstream_failures_total{reason=\"timeout\"}",
        "dnsguard_reloads_ok_total",
        "dnsguard_reloads_failed_total",
        "dnsguard_events_dropped_total",
        "dnsguard_shim_events_total",
        "# TYPE dnsguard_queries_total counter",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    assert_eq!(guard.admin_get("/nope").0, 404);
}

#[test]
fn the_health_command_succeeds_only_against_a_serving_guard() {
    if !dns_tools("the_health_command_succeeds_only_against_a_serving_guard") {
        return;
    }
    let dir = TempDir::new("dns-health");
    let (upstream, guard) = start(&dir);
    let ok = dns_guard(&[
        "health",
        "--listen",
        &guard.dns.to_string(),
        "--admin",
        &guard.admin.to_string(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        upstream.queries().is_empty(),
        "the health query is answered locally"
    );
    let nothing = format!("127.0.0.1:{}", free_port());
    let down = dns_guard(&["health", "--listen", &nothing, "--timeout", "1"]);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains(&nothing));
    // A silent listener (accepts, never answers) is not healthy either.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let hung = dns_guard(&[
        "health",
        "--listen",
        &silent.local_addr().unwrap().to_string(),
        "--timeout",
        "1",
    ]);
    assert!(!hung.status.success());
}

#[test]
fn check_prints_each_names_verdict_and_deciding_rule() {
    let dir = TempDir::new("dns-check");
    let path = write_policy(&dir, "policy.toml", POLICY);
    let out = dns_guard(&[
        "check",
        "--policy",
        path.to_str().unwrap(),
        "allowed.test",
        "a.b.EVIL.test.",
        "watched.test",
        "other.test",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["allowed.test", "allow", "dns.allow:allowed.test"],
        "{text}"
    );
    assert_eq!(
        rows[1],
        ["a.b.EVIL.test.", "deny", "dns.deny:*.evil.test"],
        "{text}"
    );
    assert_eq!(
        rows[2],
        ["watched.test", "alert", "dns.alert:watched.test"],
        "{text}"
    );
    assert_eq!(rows[3], ["other.test", "deny", "dns.default"], "{text}");
    let bad = dns_guard(&["check", "--policy", path.to_str().unwrap(), "a..b"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an invalid name fails the check"
    );
}

#[test]
fn validate_reports_every_error_and_fails() {
    let dir = TempDir::new("dns-validate");
    let good = write_policy(&dir, "good.toml", POLICY);
    let out = dns_guard(&["validate", good.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
    let bad = write_policy(
        &dir,
        "bad.toml",
        "mode = \"strict\"\n[dns]\ndefault = \"deny\"\nallow = [\"*\", \"ok.test\", \"*.com\"]\n",
    );
    let out = dns_guard(&["validate", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "bad.toml",
        "mode",
        "dns.allow[0]",
        "dns.allow[2]",
        "3 error(s)",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flood_of_blocked_queries_neither_stops_service_nor_grows_memory() {
    if !dns_tools("a_flood_of_blocked_queries_neither_stops_service_nor_grows_memory") {
        return;
    }
    let dir = TempDir::new("dns-flood");
    let path = write_policy(&dir, "policy.toml", POLICY);
    let upstream = Dnsmasq::start(&Zone::new().host("allowed.test", "10.0.0.1"));
    // The audit log goes to a pipe nobody reads: once it is full the audit writer is stuck,
    // like behind a log driver that stopped reading. Queries must not wait for it.
    let mut opts = GuardOptions::new(path.display().to_string(), upstream.addr).arg("--no-cache");
    opts.stuck_stdout = true;
    let guard = GuardProcess::start(opts);
    let rss_before = rss_kib(guard.pid());
    // Two senders at about 6,000 blocked queries per second each, for three seconds: more
    // events than the pipe and the audit queue hold together.
    let flooders: Vec<_> = (0..2)
        .map(|t| {
            let dns = guard.dns;
            std::thread::spawn(move || {
                let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
                sock.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let mut buf = [0u8; 1500];
                let start = Instant::now();
                let (mut sent, mut answered) = (0u32, 0u32);
                while start.elapsed() < Duration::from_secs(3) {
                    for _ in 0..60 {
                        let name = format!("x{t}-{sent}.evil.test");
                        let _ = sock.send_to(&build_query(sent as u16, &name, 1, None), dns);
                        sent += 1;
                    }
                    for _ in 0..60 {
                        if sock.recv_from(&mut buf).is_ok() {
                            answered += 1;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                (sent, answered)
            })
        })
        .collect();
    // Meanwhile, allowed names keep being answered promptly.
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..10 {
        let t = Instant::now();
        let d = dig(guard.dns, "allowed.test", "A", &["+timeout=2"]);
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "slow during the flood: {:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    let (sent, answered) = flooders
        .into_iter()
        .map(|f| f.join().unwrap())
        .fold((0, 0), |(s, a), (s2, a2)| (s + s2, a + a2));
    assert!(sent > 20_000, "a real flood: {sent}");
    assert!(
        answered as f64 >= sent as f64 * 0.99,
        "blocked queries answered: {answered} of {sent}"
    );
    assert_eq!(upstream.count("x0-1.evil.test"), 0);
    let written = guard.metric("dnsguard_events_written_total");
    let dropped = guard.metric("dnsguard_events_dropped_total");
    assert!(dropped > 0.0, "the stuck writer made the guard drop events");
    // The rest wait in the bounded audit queue (8,192 events).
    let queued = sent as f64 - written - dropped;
    assert!(
        queued <= 8192.0,
        "every blocked query reported, dropped or queued: {written} + {dropped} of {sent}"
    );
    let rss_after = rss_kib(guard.pid());
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

#[test]
fn sigterm_flushes_the_audit_log_and_exits_cleanly() {
    if !dns_tools("sigterm_flushes_the_audit_log_and_exits_cleanly") {
        return;
    }
    let dir = TempDir::new("dns-term");
    let (_upstream, mut guard) = start(&dir);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 1500];
    for i in 0..500u16 {
        sock.send_to(
            &build_query(i, &format!("n{i}.evil.test"), 1, None),
            guard.dns,
        )
        .unwrap();
        sock.recv_from(&mut buf).expect("answer");
    }
    guard.signal(libc::SIGTERM);
    let status = guard
        .exited(Duration::from_secs(5))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(100));
    let blocked = guard
        .events()
        .iter()
        .filter(|e| e["action"] == "blocked")
        .count();
    assert_eq!(blocked, 500, "every event written before exit");
}
