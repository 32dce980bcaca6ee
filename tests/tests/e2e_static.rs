//! A task whose app is a static program (what a `CGO_ENABLED=0` Go service is), embedded with
//! guard-embed and run locally (`guard_tests::static_task`): the shim cannot load into it, so
//! what it launches is decided by guard-exec's seccomp supervisor alone. Its denied launch
//! fails with the shim's errno and is one `process` audit event with `api: "syscall"` in the
//! sidecar's log; its allowed one runs; nothing is left behind.

use guard_contract as contract;
use guard_tests::static_task::{self, ALLOWED, ALLOWED_RAN, APP, DENIED, PROGRAM};
use guard_tests::{artifacts, netns, require};

const TEST: &str = "a_static_app_is_supervised_in_the_task";

#[test]
fn a_static_app_is_supervised_in_the_task() {
    if !require::root(TEST) || !require::commands(TEST, &["ip", "dnsmasq", "gcc", "curl"]) {
        return;
    }
    artifacts::dns_guard();
    artifacts::guard_exec();
    artifacts::preload_lib();
    let work = std::env::temp_dir().join(format!("taskguard-e2e-static-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let run = static_task::run(
        &work,
        "taskguard-e2e-static",
        artifacts::dist_dir(),
        artifacts::workspace_bin("guard-embed"),
    )
    .unwrap_or_else(|e| panic!("the static task: {e:#}"));

    let def = &run.definition;
    assert_eq!(
        def["entryPoint"][0],
        contract::BIN_GUARD_EXEC,
        "guard-embed must start the static app under guard-exec: {def}"
    );
    assert!(
        def["linuxParameters"]["capabilities"].is_null(),
        "no capability is added for the supervisor: {def}"
    );
    let (stdout, stderr) = (&run.stdout, &run.stderr);
    assert!(
        stdout.contains(&format!("{DENIED}: failed errno={} ", libc::EACCES)),
        "the denied launch must fail with the shim's errno (EACCES):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{ALLOWED}: ok (exit 0)\n")) && stdout.contains(ALLOWED_RAN),
        "the allowed launch must run:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("supervising launches"),
        "guard-exec must say it supervises the app:\n{stderr}"
    );

    let events = &run.events;
    let hits = run.denied_events();
    assert_eq!(
        hits.len(),
        1,
        "one audit event for the denied launch: {events:#?}"
    );
    let e = hits[0];
    assert_eq!(e["action"], "blocked", "{e}");
    assert_eq!(e["api"], "syscall", "the supervisor decided: {e}");
    assert_eq!(e["container"], APP, "{e}");
    assert_eq!(e["exe"], PROGRAM, "{e}");
    assert_eq!(e["argv"][1], ALLOWED_RAN, "{e}");
    assert!(e["pid"].as_u64().is_some_and(|p| p > 0), "{e}");
    assert!(
        e["rule"].as_str().is_some_and(|r| r.contains("curl")),
        "{e}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["kind"] == "process" && e["program"] == ALLOWED && e["action"] == "blocked"),
        "{events:#?}"
    );

    assert!(
        !netns::exists(&run.netns_name),
        "cleanup: namespace {} left behind",
        run.netns_name
    );
    let left = netns::processes_in_netns(run.netns_inode);
    assert!(left.is_empty(), "cleanup: processes left running: {left:?}");
    let _ = std::fs::remove_dir_all(&work);
}
