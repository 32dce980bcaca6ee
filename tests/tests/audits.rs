//! `dns-guard audits`: the report a person reads, from the audit log of a real run — a
//! dns-guard serving real `dig` queries over a dnsmasq upstream, with real programs launched
//! under the preload shim reporting to its event socket — read as written, as
//! `aws logs tail` prints it and as a Logs Insights export, with every filter.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use guard_contract as contract;
use guard_tests::artifacts;
use guard_tests::upstream::{
    Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, dig, dns_tools, write_policy,
};
use serde_json::Value;

const POLICY: &str = r#"
mode = "enforce"
[dns]
default = "deny"
allow = ["api.partner.test"]
deny = ["*.attacker.test"]
alert = ["*.pastebin.test"]
[process]
default = "allow"
deny = ["nc", "nc.openbsd"]
alert = ["perl"]
"#;

/// A finished run: the sidecar's audit log and the directory it is in.
struct Run {
    dir: TempDir,
    log: PathBuf,
    _upstream: Dnsmasq,
    guard: GuardProcess,
}

fn run_task() -> Run {
    let dir = TempDir::new("audits");
    let policy = write_policy(&dir, "policy.toml", POLICY);
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).expect("run dir");
    let upstream = Dnsmasq::start(
        &Zone::new()
            .host("api.partner.test", "10.0.0.1")
            .host("exfil.attacker.test", "10.6.6.6")
            .host("paste.pastebin.test", "10.0.0.2"),
    );
    let mut opts = GuardOptions::new(policy.display().to_string(), upstream.addr);
    opts.run_dir = Some(run_dir.clone());
    let guard = GuardProcess::start(opts);

    // At the sidecar: two blocked lookups, one alerted, one allowed (not reported).
    for name in [
        "exfil.attacker.test",
        "exfil.attacker.test",
        "paste.pastebin.test",
    ] {
        let d = dig(guard.dns, name, "A", &[]);
        assert!(!d.status.is_empty(), "dig {name}: {}", d.raw);
    }
    assert_eq!(
        dig(guard.dns, "api.partner.test", "A", &[]).status,
        "NOERROR"
    );
    // In an app container "worker": nc is refused (sh tries each PATH entry), perl runs and
    // is reported.
    let shim = Command::new("/bin/sh")
        .arg("-c")
        .arg("nc -h 2>/dev/null; perl -e 'exit 0'")
        .env("LD_PRELOAD", artifacts::preload_lib())
        .env(
            contract::env::POLICY,
            run_dir.join(contract::POLICY_JSON_FILE),
        )
        .env(
            contract::env::EVENTS,
            run_dir.join(contract::EVENTS_SOCK_FILE),
        )
        .env(contract::env::CONTAINER, "worker")
        .output()
        .expect("running sh under the shim");
    assert!(shim.status.success(), "{shim:?}");
    let seen = |kind: &'static str, action: &'static str| {
        guard
            .wait_event(Duration::from_secs(5), |e| {
                e["kind"] == kind && e["action"] == action && e["source"] == "shim"
            })
            .is_some()
    };
    assert!(seen("process", "blocked"), "nc: {:?}", guard.audit_lines());
    assert!(
        seen("process", "alerted"),
        "perl: {:?}",
        guard.audit_lines()
    );
    let log = dir.join("audit.jsonl");
    write_lines(&log, &guard.audit_lines());
    Run {
        dir,
        log,
        _upstream: upstream,
        guard,
    }
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write audit log");
}

fn audits(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(artifacts::dns_guard())
        .arg("audits")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dns-guard audits");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("dns-guard audits")
}

fn report(args: &[&str], stdin: Option<&str>) -> String {
    let out = audits(args, stdin);
    assert!(
        out.status.success(),
        "dns-guard audits {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 report")
}

/// The lines of one section, without its heading.
fn section<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    report
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect()
}

fn position(lines: &[&str], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in {lines:#?}"))
}

#[test]
fn the_report_groups_and_counts_what_a_real_task_did() {
    if !dns_tools("the_report_groups_and_counts_what_a_real_task_did") {
        return;
    }
    let run = run_task();
    let text = report(&[run.log.to_str().expect("path")], None);

    let blocked = section(&text, "Blocked by TaskGuard:");
    let dns = blocked[position(&blocked, "name exfil.attacker.test")];
    assert!(dns.contains("rule dns.deny:*.attacker.test"), "{text}");
    assert!(
        dns.ends_with("at the sidecar (a DNS query) x2"),
        "two lookups, one line: {text}"
    );
    let nc = blocked[position(&blocked, "program /usr/bin/nc")];
    assert!(nc.contains("rule process.deny:nc"), "{text}");
    assert!(
        nc.contains("in worker by "),
        "the launching program is named: {text}"
    );
    assert!(
        !nc.contains(" x"),
        "one launch, however many PATH entries sh tried: {text}"
    );
    // Newest last: the lookups came before the launch.
    assert!(
        position(&blocked, "exfil.attacker.test") < position(&blocked, "program /usr/bin/nc"),
        "{text}"
    );

    let alerted = section(&text, "Allowed and reported (alert rules):");
    assert_eq!(alerted.len(), 2, "{text}");
    assert!(alerted[0].contains("name paste.pastebin.test"), "{text}");
    assert!(
        alerted[0].contains("rule dns.alert:*.pastebin.test"),
        "{text}"
    );
    assert!(alerted[1].contains("program /usr/bin/perl"), "{text}");
    assert!(alerted[1].contains("rule process.alert:perl"), "{text}");
    assert!(
        !text.contains("api.partner.test"),
        "allowed names are not reported: {text}"
    );

    assert!(
        text.contains("\nBy container: sidecar 3, worker 2\n"),
        "{text}"
    );
    assert!(
        text.contains("\nBy rule: dns.deny:*.attacker.test 2, "),
        "{text}"
    );
    assert!(
        text.contains("\nPolicy: 1 loaded, 0 refused; in force: version "),
        "{text}"
    );
    let read = run.guard.audit_lines().len();
    assert!(
        text.ends_with(&format!(" event(s) shown of {read} read\n")),
        "{text}"
    );

    // The same log from stdin gives the same report.
    let log = std::fs::read_to_string(&run.log).expect("log");
    assert_eq!(report(&["-"], Some(&log)), text);
    drop(run.dir);
}

#[test]
fn cloudwatch_forms_of_the_log_give_the_same_report() {
    if !dns_tools("cloudwatch_forms_of_the_log_give_the_same_report") {
        return;
    }
    let run = run_task();
    let lines = run.guard.audit_lines();
    let plain = report(&[run.log.to_str().expect("path")], None);

    // `aws logs tail GROUP --format short`: a timestamp before each message; the default
    // (detailed) format adds the stream name.
    let short: Vec<String> = lines
        .iter()
        .map(|l| format!("2026-11-25T10:00:00 {l}"))
        .collect();
    let detailed: Vec<String> = lines
        .iter()
        .map(|l| format!("2026-11-25T10:00:00.123000+00:00 guard/dns-guard/0a1b2c {l}"))
        .collect();
    for form in [short, detailed] {
        assert_eq!(report(&["-"], Some(&(form.join("\n") + "\n"))), plain);
    }
    // A Logs Insights export (console "Export results > JSON") and GetQueryResults.
    let console: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::json!({"@timestamp": "2026-11-25 10:00:00.000", "@message": l}))
        .collect();
    let api = serde_json::json!({"status": "Complete", "results": lines.iter().map(|l| {
        serde_json::json!([{"field": "@timestamp", "value": "2026-11-25 10:00:00.000"},
                           {"field": "@message", "value": l}])
    }).collect::<Vec<_>>()});
    for export in [Value::Array(console), api] {
        let path = run.dir.join("export.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&export).expect("json")).expect("write");
        assert_eq!(report(&[path.to_str().expect("path")], None), plain);
    }
    // Other output mixed into the log is counted, not fatal.
    let noisy = format!(
        "dns-guard: starting\n{}not json {{\n",
        lines.join("\n") + "\n"
    );
    let text = report(&["-"], Some(&noisy));
    assert!(
        text.ends_with("; 2 line(s) were not audit events\n"),
        "{text}"
    );
}

#[test]
fn filters_select_by_container_kind_action_and_time() {
    if !dns_tools("filters_select_by_container_kind_action_and_time") {
        return;
    }
    let run = run_task();
    let log = run.log.to_str().expect("path");

    let worker = report(&[log, "--container", "worker"], None);
    assert!(worker.contains("program /usr/bin/nc"), "{worker}");
    assert!(!worker.contains("attacker.test"), "{worker}");
    let sidecar = report(&[log, "--container", "sidecar"], None);
    assert!(sidecar.contains("name exfil.attacker.test"), "{sidecar}");
    assert!(!sidecar.contains("program "), "{sidecar}");

    let dns = report(&[log, "--kind", "dns"], None);
    assert!(
        dns.contains("name paste.pastebin.test") && !dns.contains("program "),
        "{dns}"
    );
    assert!(
        !dns.contains("Policy:"),
        "policy events are a kind too: {dns}"
    );

    let alerted = report(&[log, "--action", "alerted"], None);
    assert_eq!(
        section(&alerted, "Blocked by TaskGuard:"),
        ["  (none)"],
        "{alerted}"
    );
    assert_eq!(
        section(&alerted, "Allowed and reported").len(),
        2,
        "{alerted}"
    );

    let all = report(&[log], None);
    assert_eq!(report(&[log, "--since", "1h"], None), all);
    assert_eq!(report(&[log, "--since", "2000-01-01T00:00:00Z"], None), all);
    let future = report(&[log, "--since", "2999-01-01T00:00:00+02:00"], None);
    assert!(future.contains("\n0 event(s) shown of "), "{future}");

    let bad = audits(&[log, "--since", "yesterday"], None);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--since \"yesterday\": expected a duration"),
        "{err}"
    );
    let missing = audits(&["/nonexistent/audit.log"], None);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/audit.log"),
        "the error names the file"
    );
}

#[test]
fn json_report_for_machines() {
    if !dns_tools("json_report_for_machines") {
        return;
    }
    let run = run_task();
    let out = report(&[run.log.to_str().expect("path"), "--json"], None);
    let v: Value = serde_json::from_str(&out).expect("one JSON object");
    let blocked = v["sections"]["blocked"].as_array().expect("blocked");
    let dns = blocked
        .iter()
        .find(|g| g["subject"] == "name exfil.attacker.test")
        .expect("the blocked lookups");
    assert_eq!(dns["count"], 2);
    assert_eq!(dns["rule"], "dns.deny:*.attacker.test");
    assert_eq!(dns["container"], "sidecar");
    assert!(dns["first"].as_str().unwrap_or("") <= dns["last"].as_str().unwrap_or(""));
    assert_eq!(v["by_container"]["worker"], 2);
    assert_eq!(v["read"], run.guard.audit_lines().len());
}

#[test]
fn follow_prints_new_events_as_they_are_written() {
    if !dns_tools("follow_prints_new_events_as_they_are_written") {
        return;
    }
    let run = run_task();
    let mut child = Command::new(artifacts::dns_guard())
        .args(["audits", "--follow", "--kind", "dns"])
        .arg(&run.log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dns-guard audits --follow");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?} within 5 s");
    };
    wait_for(" event(s) shown of ");
    // A new lookup, appended to the log the way the log driver does: line by line, the last
    // one arriving in two writes.
    dig(run.guard.dns, "late.attacker.test", "A", &[]);
    let event = run
        .guard
        .wait_event(Duration::from_secs(5), |e| {
            e["name"] == "late.attacker.test"
        })
        .expect("the new event");
    let line = event.to_string();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(&run.log)
        .expect("open log");
    let (head, tail) = line.split_at(line.len() / 2);
    log.write_all(head.as_bytes()).expect("append");
    log.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(400));
    log.write_all(format!("{tail}\n").as_bytes())
        .expect("append");
    let live = wait_for("late.attacker.test");
    assert!(live.starts_with("blocked "), "{live}");
    assert!(live.contains("rule dns.deny:*.attacker.test"), "{live}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn other_kinds_are_reported_by_their_fields() {
    // net and waf events come from the connect hooks and the sidecar's WAF; their lines here
    // are in the shape docs/contracts.md gives them.
    let fixture = include_str!("audits_support/net-waf.jsonl");
    let text = report(&["-"], Some(fixture));
    let blocked = section(&text, "Blocked by TaskGuard:");
    let net = blocked[position(&blocked, "connection 10.0.0.1:4444")];
    assert!(net.contains("rule net.deny:10.0.0.0/8"), "{text}");
    assert!(net.contains("in worker by python3 (connect)"), "{text}");
    let waf = blocked[position(&blocked, "web attack GET /search?q=")];
    assert!(waf.contains("[sqli]"), "the protection is shown: {text}");
    assert!(waf.ends_with("at the sidecar (a web request) x2"), "{text}");
    let would = section(&text, "Would be blocked (the policy is in audit mode):");
    assert_eq!(would.len(), 1, "{text}");
    assert!(would[0].contains("web attack POST /login"), "{text}");
    let kinds = report(&["-", "--kind", "waf"], Some(fixture));
    assert!(!kinds.contains("connection"), "{kinds}");
}
