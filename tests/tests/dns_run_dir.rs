//! dns-guard `--run-dir`: the compiled policy published for the shims (policy.bin, then
//! policy.json, each replaced atomically), and the shim's event socket turned into audit
//! events.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use guard_policy::{DnsName, Policy, PolicyView, Verdict};
use guard_tests::upstream::{
    Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, dns_tools, replace_file, write_policy,
};

const POLICY: &str = r#"
[dns]
default = "deny"
allow = ["allowed.test"]
deny = ["*.evil.test"]
[process]
default = "allow"
deny = ["nc"]
"#;

fn start(dir: &TempDir) -> (Dnsmasq, GuardProcess, std::path::PathBuf) {
    let path = write_policy(dir, "policy.toml", POLICY);
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let upstream = Dnsmasq::start(&Zone::new().host("allowed.test", "10.0.0.1"));
    let mut opts = GuardOptions::new(path.display().to_string(), upstream.addr);
    opts.run_dir = Some(run.clone());
    (upstream, GuardProcess::start(opts), run)
}

#[test]
fn the_run_dir_holds_the_compiled_policy_and_it_is_replaced_atomically_on_reload() {
    if !dns_tools("the_run_dir_holds_the_compiled_policy_and_it_is_replaced_atomically_on_reload") {
        return;
    }
    let dir = TempDir::new("dns-run-dir");
    let (_upstream, guard, run) = start(&dir);
    let version = guard.wait_loaded(1, Duration::ZERO).expect("loaded");
    let json_path = run.join(guard_contract::POLICY_JSON_FILE);
    let bin_path = run.join(guard_contract::POLICY_BIN_FILE);
    let json = std::fs::read_to_string(&json_path).expect("policy.json");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("policy.json is JSON");
    assert_eq!(doc["version"], version.as_str());
    let reread = Policy::from_json(&json, "policy.json").expect("policy.json reads back");
    assert_eq!(reread.compile().version(), version);
    let blob = std::fs::read(&bin_path).expect("policy.bin");
    let view = PolicyView::open(&blob).expect("policy.bin opens");
    assert_eq!(view.version(), version);
    let decide = |n: &str| {
        view.decide_dns(&DnsName::from_text(n.as_bytes()).unwrap())
            .verdict
    };
    assert_eq!(decide("allowed.test"), Verdict::Allow);
    assert_eq!(decide("x.evil.test"), Verdict::Deny);
    assert_eq!(view.decide_process(b"/usr/bin/nc").verdict, Verdict::Deny);
    assert_eq!(
        std::fs::metadata(&json_path).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // A reader that keeps reading while the policy changes never sees a partial file.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, reads, json_path, bin_path) = (
            stop.clone(),
            reads.clone(),
            json_path.clone(),
            bin_path.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let text =
                    std::fs::read_to_string(&json_path).expect("policy.json is always there");
                Policy::from_json(&text, "policy.json").expect("policy.json is always complete");
                let blob = std::fs::read(&bin_path).expect("policy.bin is always there");
                PolicyView::open(&blob).expect("policy.bin is always complete");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let inode = std::fs::metadata(&json_path).unwrap().ino();
    let policy = dir.join("policy.toml");
    for i in 0..6 {
        let extra = format!("\"n{i}.test\", ");
        replace_file(
            &policy,
            &POLICY.replace("allow = [", &format!("allow = [{extra}")),
        );
        guard
            .wait_loaded(2 + i, Duration::from_secs(2))
            .expect("reloaded");
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader saw only whole files");
    assert!(reads.load(Ordering::Relaxed) > 10);
    let last = guard.wait_loaded(7, Duration::ZERO).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(
        doc["version"],
        last.as_str(),
        "the published policy is the serving one"
    );
    assert_ne!(
        std::fs::metadata(&json_path).unwrap().ino(),
        inode,
        "replaced by rename"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn shim_datagrams_become_audit_events() {
    if !dns_tools("shim_datagrams_become_audit_events") {
        return;
    }
    let dir = TempDir::new("dns-events");
    let (_upstream, guard, run) = start(&dir);
    let sock_path = run.join(guard_contract::EVENTS_SOCK_FILE);
    let mode = std::fs::metadata(&sock_path)
        .expect("events.sock")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o666, "writable by non-root app users");
    let tx = UnixDatagram::unbound().unwrap();
    let good = br#"{"kind":"process","action":"blocked","program":"/usr/bin/nc","argv":["nc","-l","4444"],"rule":"process.deny:nc","container":"app","pid":4242,"ppid":1,"api":"execve","time":"1999-01-01","source":"forged","unknown":"dropped"}"#;
    tx.send_to(good, &sock_path).unwrap();
    let bad: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"kind":"dns"}"#.to_vec(),
        br#"{"kind":"weird","action":"blocked"}"#.to_vec(),
        br#"{"kind":"dns","action":"blocked","pid":"12"}"#.to_vec(),
        format!(
            r#"{{"kind":"dns","action":"blocked","name":"{}"}}"#,
            "a".repeat(9000)
        )
        .into_bytes(),
    ];
    for b in &bad {
        let _ = tx.send_to(b, &sock_path);
    }
    tx.send_to(
        br#"{"kind":"dns","action":"would-block","name":"x.evil.test","pid":7}"#,
        &sock_path,
    )
    .unwrap();
    let e = guard
        .wait_event(Duration::from_secs(2), |e| {
            e["source"] == "shim" && e["kind"] == "process"
        })
        .expect("the shim's event");
    assert_eq!(e["program"], "/usr/bin/nc");
    assert_eq!(e["argv"], serde_json::json!(["nc", "-l", "4444"]));
    assert_eq!(e["pid"], 4242);
    assert_eq!(e["container"], "app");
    assert!(
        e.get("unknown").is_none(),
        "unknown fields are dropped: {e}"
    );
    assert_ne!(e["time"], "1999-01-01", "the guard stamps the time");
    assert!(
        guard
            .wait_event(Duration::from_secs(2), |e| e["source"] == "shim"
                && e["kind"] == "dns")
            .is_some()
    );
    std::thread::sleep(Duration::from_millis(200));
    let shim: Vec<_> = guard
        .events()
        .into_iter()
        .filter(|e| e["source"] == "shim")
        .collect();
    assert_eq!(shim.len(), 2, "only the valid datagrams: {shim:?}");
    assert_eq!(guard.metric("dnsguard_shim_events_total"), 2.0);
    assert!(guard.metric("dnsguard_shim_events_rejected_total") >= 5.0);
}
