//! A task whose app is a static program (what a `CGO_ENABLED=0` Go service is), embedded with
//! guard-embed and run locally: the shim cannot load into it, so what it launches is decided by
//! guard-exec's seccomp supervisor alone. Its denied launch fails with the shim's errno and is
//! one `process` audit event with `api: "syscall"` in the sidecar's log; its allowed one runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use guard_contract as contract;
use guard_tests::container::Bind;
use guard_tests::scenario::{self, Inputs, SIDECAR, SIDECAR_IMAGE};
use guard_tests::shim::compile_c;
use guard_tests::task::{LocalTask, TaskConfig};
use guard_tests::vpc::{RESOLVER_IP, Resolver};
use guard_tests::{artifacts, netns, require};
use serde_json::{Value, json};

const TEST: &str = "a_static_app_is_supervised_in_the_task";
const APP: &str = "static-worker";
/// The denied program: dynamic, but its launcher is static, so only the supervisor sees it.
const DENIED: &str = "/usr/bin/curl";
const ALLOWED: &str = "/bin/echo";

const POLICY: &str = r#"
[dns]
default = "allow"

[process]
default = "allow"
deny = ["curl"]
"#;

/// Launches each argument with `execve` from a fork, prints `static-worker: PROG: ok (exit N)`
/// or `static-worker: PROG: failed errno=N`, then `static-worker: done`, and waits to be
/// stopped like a service.
const WORKER: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        int pipefd[2];
        pipe(pipefd);
        pid_t c = fork();
        if (c == 0) {
            char *args[] = {argv[i], "static-allowed-ran", 0};
            char *envp[] = {"PATH=/usr/bin:/bin", 0};
            close(pipefd[0]);
            execve(argv[i], args, envp);
            int e = errno;
            write(pipefd[1], &e, sizeof e);
            _exit(127);
        }
        close(pipefd[1]);
        int e = 0;
        ssize_t n = read(pipefd[0], &e, sizeof e);
        close(pipefd[0]);
        int st;
        waitpid(c, &st, 0);
        if (n == sizeof e) printf("static-worker: %s: failed errno=%d\n", argv[i], e);
        else printf("static-worker: %s: ok (exit %d)\n", argv[i], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    printf("static-worker: done\n");
    for (;;) pause();
}
"#;

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
    let app_dir = work.join("app");
    std::fs::create_dir_all(&app_dir).unwrap();
    compile_c(&app_dir, APP, WORKER, true).unwrap();
    let policy = work.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let task = json!({
        "family": "static-service",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": APP,
            "image": "example/static-worker:1",
            "essential": true,
            "entryPoint": [format!("/app/{APP}")],
            "command": [DENIED, ALLOWED]
        }]
    });
    let task_file = work.join("task-definition.json");
    std::fs::write(&task_file, serde_json::to_vec_pretty(&task).unwrap()).unwrap();
    let mut inputs = Inputs::examples(
        &artifacts::workspace_root(),
        artifacts::dist_dir(),
        artifacts::workspace_bin("guard-embed"),
        work.clone(),
    );
    inputs.task_definition = task_file;
    inputs.policy = policy.clone();
    inputs.netns_prefix = "taskguard-e2e-static".into();

    let (embedded, _) = scenario::embed(&inputs).unwrap_or_else(|e| panic!("embed: {e:#}"));
    let app_def = scenario::definition(&embedded, APP).unwrap();
    assert_eq!(
        app_def["entryPoint"][0],
        contract::BIN_GUARD_EXEC,
        "guard-embed must start the static app under guard-exec: {app_def}"
    );
    assert!(
        app_def["linuxParameters"]["capabilities"].is_null(),
        "no capability is added for the supervisor: {app_def}"
    );
    let source = scenario::policy_source(&embedded).unwrap();
    let relative = source
        .strip_prefix(&format!("{}/", contract::VOLUME))
        .unwrap_or_else(|| panic!("the sidecar's policy {source:?} is not in its volume"))
        .to_string();
    let config = TaskConfig {
        netns_prefix: inputs.netns_prefix.clone(),
        work_dir: work.clone(),
        dist: inputs.dist.clone(),
        sidecar_image: SIDECAR_IMAGE.into(),
        sidecar_resolv_conf: format!("nameserver {RESOLVER_IP}\n"),
        app_resolv_conf: scenario::RESOLV_CONF_SIDECAR.into(),
        extra_binds: BTreeMap::from([(
            APP.to_string(),
            vec![Bind {
                source: app_dir.clone(),
                target: "/app".into(),
                read_only: true,
            }],
        )]),
        volume_files: vec![(policy, relative)],
    };

    let (netns_name, netns_inode) = {
        let mut local = LocalTask::new(config).expect("creating the task namespace");
        let _resolver = Resolver::start(&local.netns, &work, &scenario::zone()).unwrap();
        local
            .start(&embedded)
            .unwrap_or_else(|e| panic!("start-up: {e:#}"));
        local
            .wait_stdout(APP, "static-worker: done", Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e:#}"));
        let stdout = local.stdout(APP);
        let stderr = local.stderr(APP);
        assert!(
            stdout.contains(&format!("{DENIED}: failed errno={}\n", libc::EACCES)),
            "the denied launch must fail with the shim's errno (EACCES):\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains(&format!("{ALLOWED}: ok (exit 0)\n"))
                && stdout.contains("static-allowed-ran"),
            "the allowed launch must run:\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("supervising launches"),
            "guard-exec must say it supervises the app:\n{stderr}"
        );

        let log = local.find(SIDECAR).map(|c| c.stdout.clone()).unwrap();
        let blocked = |events: &[Value]| -> Vec<Value> {
            events
                .iter()
                .filter(|e| e["kind"] == "process" && e["program"] == DENIED)
                .cloned()
                .collect()
        };
        let read = || -> Vec<Value> {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while blocked(&read()).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Anything else on its way arrives within this quiet period.
        std::thread::sleep(Duration::from_millis(500));
        let events = read();
        let hits = blocked(&events);
        assert_eq!(
            hits.len(),
            1,
            "one audit event for the denied launch: {events:#?}"
        );
        let e = &hits[0];
        assert_eq!(e["action"], "blocked", "{e}");
        assert_eq!(e["api"], "syscall", "the supervisor decided: {e}");
        assert_eq!(e["container"], APP, "{e}");
        assert_eq!(e["exe"], format!("/app/{APP}"), "{e}");
        assert!(
            e["rule"].as_str().is_some_and(|r| r.contains("curl")),
            "{e}"
        );
        assert!(
            !events.iter().any(|e| e["kind"] == "process"
                && e["program"] == ALLOWED
                && e["action"] == "blocked"),
            "{events:#?}"
        );
        (
            local.netns.name().to_string(),
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(local.netns.path()).unwrap()),
        )
    };
    assert!(
        !netns::exists(&netns_name),
        "cleanup: namespace {netns_name} left behind"
    );
    let left = netns::processes_in_netns(netns_inode);
    assert!(left.is_empty(), "cleanup: processes left running: {left:?}");
    let _ = std::fs::remove_dir_all(&work);
}
