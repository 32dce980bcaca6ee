//! TaskGuard end to end: `examples/task-definition.json` embedded with guard-embed and run as a
//! task on this machine (network + mount namespaces, see `guard_tests::task`), around a test
//! zone served by a real dnsmasq and HTTP servers (see `guard_tests::scenario`).
//!
//! One test, in phases, because the phases share one task and its start-up is the slow part:
//! the worker's attempts, the audit log, `tests/dig/check-policy`, a live policy edit, the
//! sidecar killed, and finally nothing left behind. Each assertion says which phase and which
//! part of TaskGuard it is about.

use std::time::Duration;

use guard_tests::netns;
use guard_tests::scenario::{self, ALLOWED_IP, Attempt, DIRECT_IP, Inputs, Scenario, WEB, WORKER};
use guard_tests::{artifacts, require};
use serde_json::Value;

const TEST: &str = "demo_task_runs_protected_end_to_end";

fn attempt<'a>(attempts: &'a [Attempt], what: &str) -> &'a Attempt {
    attempts
        .iter()
        .find(|a| a.what.starts_with(what))
        .unwrap_or_else(|| panic!("the worker never reported {what:?}; it reported {attempts:#?}"))
}

fn field<'a>(event: &'a Value, name: &str) -> &'a str {
    event.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Events with these string fields (an empty value means "present, any value").
fn events<'a>(all: &'a [Value], want: &[(&str, &str)]) -> Vec<&'a Value> {
    all.iter()
        .filter(|e| {
            want.iter().all(|(k, v)| {
                e.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(|x| v.is_empty() || x == *v)
            })
        })
        .collect()
}

#[test]
fn demo_task_runs_protected_end_to_end() {
    if !require::root(TEST)
        || !require::commands(
            TEST,
            &[
                "ip", "dnsmasq", "dig", "curl", "python3", "perl", "nc", "getent",
            ],
        )
    {
        return;
    }
    let root = artifacts::workspace_root();
    let dist = artifacts::dist_dir();
    artifacts::dns_guard();
    artifacts::guard_exec();
    artifacts::preload_lib();
    let work = std::env::temp_dir().join(format!("taskguard-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let inputs = Inputs::examples(
        &root,
        dist,
        artifacts::workspace_bin("guard-embed"),
        work.clone(),
    );

    let (netns_name, netns_inode) = {
        let mut run = Scenario::start(&inputs).unwrap_or_else(|e| panic!("start-up: {e:#}"));
        let name = run.task.netns.name().to_string();
        let inode =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(run.task.netns.path()).unwrap());
        check_attempts(&run);
        check_audit(&run);
        check_non_root_container(&run);
        check_policy_with_dig(&run, &root);
        check_policy_edit(&run);
        check_sidecar_killed(&mut run);
        (name, inode)
    };
    assert!(
        !netns::exists(&netns_name),
        "cleanup: namespace {netns_name} left behind"
    );
    let left = netns::processes_in_netns(netns_inode);
    assert!(left.is_empty(), "cleanup: processes left running: {left:?}");
    let _ = std::fs::remove_dir_all(&work);
}

/// Phase 1: what the worker tried, and what actually reached the resolver and the internet.
fn check_attempts(run: &Scenario) {
    // The task definition sets no LD_PRELOAD: guard-exec added the shim when it started the
    // worker's program (guard-exec's child under the supervisor, so /proc shows the
    // program's own environment).
    let worker = run.task.container(WORKER).expect("worker");
    let environ = std::fs::read(format!(
        "/proc/{}/environ",
        guard_tests::container::app_pid(worker.pid)
    ))
    .unwrap_or_default();
    let preload = String::from_utf8_lossy(&environ)
        .split('\0')
        .find_map(|kv| kv.strip_prefix("LD_PRELOAD=").map(str::to_string));
    assert!(
        preload.as_deref().is_some_and(|p| p
            .split([':', ' '])
            .any(|l| l == guard_contract::LIB_PRELOAD)),
        "guard-exec: the worker runs without the shim preloaded (LD_PRELOAD={preload:?})"
    );
    assert!(
        !worker.base_env.iter().any(|(k, _)| k == "LD_PRELOAD"),
        "the task definition itself set LD_PRELOAD; this check would prove nothing"
    );
    let attempts = run.attempts();
    let worker = run.task.tail(WORKER);
    for allowed in [
        "curl http://api.partner.test/",
        "python urllib http://api.partner.test/",
        "curl http://localhost:8080/",
        "curl http://paste.pastebin.test/",
        "curl http://203.0.113.10/",
    ] {
        let a = attempt(&attempts, allowed);
        assert!(
            a.ok,
            "attempts: allowed {allowed:?} failed: {}\n{worker}",
            a.detail
        );
    }
    for denied in [
        "curl http://exfil.attacker.test/",
        "python getaddrinfo exfil.attacker.test",
        "getent hosts exfil.attacker.test",
        "dig exfil.attacker.test",
        "curl http://cdn.partner.test/",
        "nc 203.0.113.10 80",
        "curl http://203.0.113.77/",
        "python subprocess nc",
        "/tmp/dropper",
    ] {
        let a = attempt(&attempts, denied);
        assert!(!a.ok, "attempts: denied {denied:?} succeeded\n{worker}");
    }
    // curl and python fail in name resolution ("host not found"), not later.
    let curl = attempt(&attempts, "curl http://exfil.attacker.test/");
    assert!(
        curl.detail.contains("exit 6") && curl.detail.contains("resolve"),
        "attempts: curl must fail resolving the denied name (exit 6): {}",
        curl.detail
    );
    let py = attempt(&attempts, "python getaddrinfo exfil.attacker.test");
    assert!(
        py.detail.contains("gaierror"),
        "attempts: python must get a gaierror: {}",
        py.detail
    );
    // The dropper was written (cp is allowed) but never ran.
    assert!(
        run.tmp_file(WORKER, "dropper").exists(),
        "attempts: cp did not write /tmp/dropper"
    );
    assert!(
        !run.tmp_file(WORKER, "taskguard-demo/dropper-ran").exists(),
        "attempts: the denied /tmp/dropper ran (its marker exists)"
    );

    // A hard-coded address is refused at connect, as a REJECT firewall refuses it (curl's
    // exit 7, "couldn't connect"), not by a timeout.
    let direct = attempt(&attempts, "curl http://203.0.113.77/");
    assert!(
        direct.detail.contains("exit 7"),
        "attempts: curl to a hard-coded address must fail to connect (exit 7): {}",
        direct.detail
    );

    let requests = run.internet.requests();
    let got = |ip: &str, path: &str| requests.iter().any(|(i, p)| i == ip && p == path);
    let allowed = ALLOWED_IP.to_string();
    assert!(
        got(&allowed, "/worker-curl"),
        "internet: allowed curl never arrived: {requests:?}"
    );
    assert!(
        got(&allowed, "/worker-python"),
        "internet: python never arrived: {requests:?}"
    );
    assert!(
        got(&scenario::ALERTED_IP.to_string(), "/worker-alerted"),
        "internet: alerted fetch missing: {requests:?}"
    );
    assert!(
        got(&allowed, "/worker-answered-ip"),
        "internet: the direct-IP fetch of an allowed name's answer never arrived: {requests:?}"
    );
    let denied_hosts = [
        scenario::DENIED_IP.to_string(),
        scenario::CLOAKED_IP.to_string(),
        DIRECT_IP.to_string(),
    ];
    for (ip, path) in &requests {
        assert!(
            !denied_hosts.contains(ip),
            "internet: a denied host got a request: {ip} {path}"
        );
        assert!(
            !path.starts_with("/nc-ran"),
            "internet: the denied nc ran: {ip} {path}"
        );
    }
    let web_log = run.task.stderr(WEB);
    assert!(
        web_log.contains("\"GET / HTTP/1.1\" 200"),
        "web: no request from the worker:\n{web_log}"
    );

    // The VPC resolver never heard of the denied name: blocked before any query left.
    let queried = run.resolver.queried_names();
    assert!(
        queried.iter().any(|n| n == "api.partner.test"),
        "resolver: {queried:?}"
    );
    assert!(
        !queried.iter().any(|n| n.ends_with("attacker.test")),
        "resolver: a denied name reached the VPC resolver: {queried:?}"
    );
}

/// Phase 2: every block is an audit event with what a responder needs.
fn check_audit(run: &Scenario) {
    run.settle(Duration::from_millis(300), Duration::from_secs(5));
    let all = run.audit_events();
    // A normal web server start (it looks up the task's own hostname) is not blocked.
    let web = events(&all, &[("container", WEB)]);
    assert!(
        web.is_empty(),
        "audit: the web container's normal start was reported: {web:?}"
    );
    let log = run.audit_log();
    let show = || {
        format!(
            "audit log {}:\n{}",
            log.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    };
    let policy_version = events(&all, &[("kind", "policy"), ("policy_version", "")])
        .first()
        .map(|e| field(e, "policy_version").to_string());
    assert!(
        policy_version.is_some(),
        "audit: no policy load event\n{}",
        show()
    );

    for blocked in events(&all, &[("action", "blocked")]) {
        assert!(
            !field(blocked, "rule").is_empty(),
            "audit: block without rule: {blocked}"
        );
        assert!(
            !field(blocked, "policy_version").is_empty(),
            "audit: block without version: {blocked}"
        );
        if field(blocked, "source") == "shim" {
            assert!(
                !field(blocked, "container").is_empty(),
                "audit: shim block without container: {blocked}"
            );
            assert!(
                blocked.get("pid").and_then(Value::as_u64).is_some(),
                "audit: shim block without pid: {blocked}"
            );
        }
    }
    // Lookups refused in the worker by the shim (curl, python, getent): container, pid, name.
    let names = events(
        &all,
        &[
            ("source", "shim"),
            ("kind", "dns"),
            ("action", "blocked"),
            ("container", WORKER),
            ("name", "exfil.attacker.test"),
            ("rule", "dns.deny:*.attacker.test"),
        ],
    );
    let exes: Vec<&str> = names.iter().map(|e| field(e, "exe")).collect();
    for program in ["curl", "python3", "getent"] {
        assert!(
            exes.iter()
                .any(|x| x.rsplit('/').next().unwrap_or("").starts_with(program)),
            "audit: no shim event for {program}'s lookup of the denied name (got exes {exes:?})\n{}",
            show()
        );
    }
    // dig bypasses libc: the sidecar blocked it (no container/pid: only the client address).
    assert!(
        !events(
            &all,
            &[
                ("source", "dns-guard"),
                ("action", "blocked"),
                ("name", "exfil.attacker.test"),
                ("client", "")
            ]
        )
        .is_empty(),
        "audit: no sidecar event for dig's query\n{}",
        show()
    );
    // The CNAME-cloaked name: blocked at the sidecar, naming the denied target.
    let cloaked = events(&all, &[("action", "blocked"), ("name", "cdn.partner.test")]);
    assert!(
        cloaked
            .iter()
            .any(|e| field(e, "target") == "c2.attacker.test"
                && field(e, "rule") == "dns.deny:*.attacker.test"),
        "audit: no block of cdn.partner.test naming c2.attacker.test\n{}",
        show()
    );
    // Denied programs: nc (from sh and from python) and the /tmp dropper, with container, pid.
    let programs = events(
        &all,
        &[
            ("source", "shim"),
            ("kind", "process"),
            ("action", "blocked"),
            ("container", WORKER),
        ],
    );
    let has = |program_end: &str, rule: &str| {
        programs
            .iter()
            .any(|e| field(e, "program").ends_with(program_end) && field(e, "rule") == rule)
    };
    assert!(
        has("/nc", "process.deny:nc")
            || has("/nc.openbsd", "process.deny:nc")
            || has("/nc.openbsd", "process.deny:nc.openbsd"),
        "audit: no block of nc\n{}",
        show()
    );
    assert!(
        programs
            .iter()
            .filter(|e| field(e, "program").contains("/nc"))
            .count()
            >= 2,
        "audit: nc was launched twice (sh, python); expected two blocks\n{}",
        show()
    );
    assert!(
        has("/tmp/dropper", "process.deny:/tmp/**"),
        "audit: no block of /tmp/dropper\n{}",
        show()
    );
    // The alerted name is allowed and reported.
    assert!(
        !events(
            &all,
            &[
                ("action", "alerted"),
                ("name", "paste.pastebin.test"),
                ("rule", "dns.alert:*.pastebin.test")
            ]
        )
        .is_empty(),
        "audit: no alert for paste.pastebin.test\n{}",
        show()
    );
    // The direct-IP fetch: refused by `[net] default = "deny"` and reported once, with who
    // tried it; the fetch of an allowed name's answer is not reported.
    let direct = DIRECT_IP.to_string();
    let refused = events(
        &all,
        &[
            ("source", "shim"),
            ("kind", "net"),
            ("action", "blocked"),
            ("container", WORKER),
            ("address", &direct),
            ("protocol", "tcp"),
            ("rule", "net.default"),
        ],
    );
    assert_eq!(
        refused.len(),
        1,
        "audit: the refused direct-IP fetch must be one net event\n{}",
        show()
    );
    let refused = refused[0];
    assert!(
        refused.get("port").and_then(Value::as_u64) == Some(80)
            && field(refused, "exe").ends_with("/curl")
            && refused["argv"].as_array().is_some_and(|a| a
                .iter()
                .any(|x| x.as_str().is_some_and(|x| x.contains(&direct)))),
        "audit: the net event lacks port, exe or argv: {refused}"
    );
    let answered = ALLOWED_IP.to_string();
    assert!(
        events(&all, &[("kind", "net"), ("address", &answered)]).is_empty(),
        "audit: a connection to an allowed name's answer was reported\n{}",
        show()
    );
}

/// The web container runs as nobody: the shim works there too (modes of the volume).
fn check_non_root_container(run: &Scenario) {
    let out = run
        .exec(WEB, &["/bin/sh", "-c", "id -u; nc -z -w 1 203.0.113.10 80"])
        .expect("exec in web");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "65534",
        "web: not running as nobody"
    );
    assert_eq!(
        out.status.code(),
        Some(126),
        "web: nc was not denied for a non-root container: {out:?}"
    );
    let web_block = run.wait_event(Duration::from_secs(3), |e| {
        field(e, "source") == "shim"
            && field(e, "action") == "blocked"
            && field(e, "container") == WEB
            && field(e, "kind") == "process"
    });
    assert!(
        web_block.is_some(),
        "audit: no event from the web container's block"
    );
}

/// Phase 3: tests/dig/check-policy with the example expectations, from inside the worker.
fn check_policy_with_dig(run: &Scenario, root: &std::path::Path) {
    let script = root.join("tests/dig/check-policy");
    let out = run
        .check_policy(&script, &root.join("examples/expectations"))
        .unwrap_or_else(|e| panic!("check-policy: {e:#}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check-policy failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let expectations =
        std::fs::read_to_string(root.join("examples/expectations")).expect("expectations");
    let count = expectations
        .lines()
        .filter(|l| l.trim_start().starts_with("allow ") || l.trim_start().starts_with("deny "))
        .count();
    assert!(count >= 6, "examples/expectations lost its lines");
    assert!(
        stdout.contains(&format!("{count} passed, 0 failed")),
        "check-policy did not check all {count} expectations:\n{stdout}"
    );
}

/// Phase 4: a policy edit reaches the sidecar and running and new app processes within 1 s.
fn check_policy_edit(run: &Scenario) {
    let edit = run
        .edit_policy(Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("policy edit: {e:#}"));
    let limit = Duration::from_secs(1);
    for (what, took) in [
        ("a running process's lookup", edit.running_process_name),
        ("a running process's launch", edit.running_process_program),
        ("the sidecar's answer (dig)", edit.sidecar),
        ("a new process's lookup", edit.new_process_name),
        ("a new process's launch", edit.new_process_program),
    ] {
        let took = took.unwrap_or_else(|| {
            panic!(
                "policy edit: {what} never applied the edit within 3 s: {edit:#?}\n{}",
                run.task.tail(WORKER)
            )
        });
        assert!(
            took <= limit,
            "policy edit: {what} took {took:?} (limit {limit:?})"
        );
    }
    for container in [scenario::SIDECAR, WORKER, WEB] {
        assert!(
            run.task.exit_status(container).is_none(),
            "policy edit: container {container} exited\n{}",
            run.task.tail(container)
        );
    }
    run.settle(Duration::from_millis(300), Duration::from_secs(3));
    let reloads = events(&run.audit_events(), &[("kind", "policy")]).len();
    assert!(reloads >= 2, "audit: no policy event for the reload");
}

/// Phase 5: the sidecar dies. The last policy stays in force (a dead sidecar never opens the
/// guard); DNS fails (the resolver is gone); once no valid policy is left, GUARD_FAIL decides.
fn check_sidecar_killed(run: &mut Scenario) {
    let results = run
        .kill_sidecar()
        .unwrap_or_else(|e| panic!("kill sidecar: {e:#}"));
    assert!(
        results.iter().any(|r| r.guard_fail == "open"),
        "the example must have a fail-open container"
    );
    assert!(
        results.iter().any(|r| r.guard_fail == "closed"),
        "the example must have a fail-closed container"
    );
    for r in &results {
        let who = format!(
            "sidecar killed: {} (GUARD_FAIL={})",
            r.container, r.guard_fail
        );
        assert!(
            r.allowed_program_runs,
            "{who}: an allowed program no longer runs"
        );
        assert!(
            !r.denied_program_runs,
            "{who}: a denied program runs once the sidecar is gone"
        );
        assert!(
            r.allowed_name_resolved_before,
            "{who}: www.partner.test did not resolve before the kill, so the check after it proves nothing"
        );
        assert!(
            !r.allowed_name_resolves,
            "{who}: names resolve without the sidecar (bypass?)"
        );
        let open = r.guard_fail == "open";
        assert_eq!(
            r.no_policy_program_runs, open,
            "{who}: with no policy, a new program ran={}",
            r.no_policy_program_runs
        );
        assert_eq!(
            r.no_policy_guard_exec_runs, open,
            "{who}: with no policy, guard-exec ran={}: {}",
            r.no_policy_guard_exec_runs, r.no_policy_guard_exec_stderr
        );
    }
}
