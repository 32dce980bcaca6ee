//! `tests/dig/check-policy`, the script users run to test an egress policy with dig against a
//! running guard: a pass/fail table, and a non-zero exit on any failed expectation.

use std::process::Command;

use guard_tests::artifacts::workspace_root;
use guard_tests::upstream::{
    Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, dns_tools, write_policy,
};

fn run(expectations: &std::path::Path, guard: &GuardProcess) -> (i32, String) {
    let out = Command::new(workspace_root().join("tests/dig/check-policy"))
        .arg(expectations)
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &guard.dns.port().to_string(),
        ])
        .output()
        .expect("run check-policy");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn row<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .find(|l| l.split_whitespace().nth(2) == Some(name))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default()
}

#[test]
fn the_example_expectations_hold_for_the_example_policy() {
    if !dns_tools("the_example_expectations_hold_for_the_example_policy") {
        return;
    }
    let policy = workspace_root().join("examples/policy.toml");
    let upstream = Dnsmasq::start(
        &Zone::new()
            .address("partner.test", "10.1.0.1")
            .address("amazonaws.com", "10.1.0.2")
            .address("pastebin.test", "10.1.0.3")
            .address("attacker.test", "10.6.6.6")
            .address("github.com", "10.1.0.4"),
    );
    let guard = GuardProcess::start(GuardOptions::new(
        policy.display().to_string(),
        upstream.addr,
    ));
    let (code, text) = run(
        &workspace_root().join("tests/dig/example.expectations"),
        &guard,
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("7 passed, 0 failed"), "{text}");
    assert_eq!(
        row(&text, "exfil.attacker.test")[..4],
        ["PASS", "deny", "exfil.attacker.test", "NXDOMAIN"],
        "{text}"
    );
    assert_eq!(
        row(&text, "api.partner.test")[..4],
        ["PASS", "allow", "api.partner.test", "NOERROR"],
        "{text}"
    );
    assert_eq!(upstream.count("exfil.attacker.test"), 0);
}

#[test]
fn a_wrong_expectation_fails_the_run_and_is_shown() {
    if !dns_tools("a_wrong_expectation_fails_the_run_and_is_shown") {
        return;
    }
    let dir = TempDir::new("dns-dig-script");
    let policy = write_policy(
        &dir,
        "policy.toml",
        "[dns]\ndefault = \"deny\"\nanswer = \"refused\"\nallow = [\"ok.test\"]\ndeny = [\"bad.test\"]\n",
    );
    let upstream = Dnsmasq::start(
        &Zone::new()
            .host("ok.test", "10.0.0.1")
            .host("bad.test", "10.6.6.6"),
    );
    let guard = GuardProcess::start(GuardOptions::new(
        policy.display().to_string(),
        upstream.addr,
    ));
    let exp = dir.join("expect");
    std::fs::write(&exp, "# what we believe\nallow ok.test\ndeny bad.test   # blocked\nallow bad.test\ndeny ok.test\n").unwrap();
    let (code, text) = run(&exp, &guard);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("2 passed, 2 failed"), "{text}");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("PASS") || l.starts_with("FAIL"))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("PASS") && lines[1].starts_with("PASS"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("FAIL") && lines[2].contains("REFUSED"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("FAIL") && lines[3].contains("NOERROR"),
        "{text}"
    );
    std::fs::write(&exp, "permit ok.test\n").unwrap();
    let (code, text) = run(&exp, &guard);
    assert_eq!(code, 2, "a malformed line is a usage error: {text}");
    assert!(text.contains("expect:1"), "{text}");
}
