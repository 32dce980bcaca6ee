//! A task whose app is a static program (what a `CGO_ENABLED=0` Go service is), embedded with
//! guard-embed and run locally: the shim cannot load into it, so what it launches is decided
//! by guard-exec's seccomp supervisor alone. Shared by `tests/tests/e2e_static.rs` (which
//! asserts on it) and `scripts/demo` (which prints it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use guard_contract as contract;
use serde_json::{Value, json};

use crate::container::Bind;
use crate::scenario::{self, Inputs, SIDECAR, SIDECAR_IMAGE};
use crate::shim::compile_c;
use crate::task::{LocalTask, TaskConfig};
use crate::vpc::{RESOLVER_IP, Resolver};

pub const APP: &str = "static-worker";
/// The denied program: dynamic, but its launcher is static, so only the supervisor sees it.
pub const DENIED: &str = "/usr/bin/curl";
pub const ALLOWED: &str = "/bin/echo";
/// What the allowed program prints when it ran.
pub const ALLOWED_RAN: &str = "static-allowed-ran";
/// Where the app's program is inside its container.
pub const PROGRAM: &str = "/app/static-worker";

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
        if (n == sizeof e) printf("static-worker: %s: failed errno=%d (%s)\n", argv[i], e, strerror(e));
        else printf("static-worker: %s: ok (exit %d)\n", argv[i], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    printf("static-worker: done\n");
    for (;;) pause();
}
"#;

/// What the static app did, read while its task still ran.
pub struct StaticRun {
    /// The app container's definition as guard-embed wrote it.
    pub definition: Value,
    pub stdout: String,
    pub stderr: String,
    /// Every JSON line of the sidecar's audit log.
    pub events: Vec<Value>,
    pub netns_name: String,
    pub netns_inode: u64,
}

impl StaticRun {
    /// The `process` events about the denied program.
    pub fn denied_events(&self) -> Vec<&Value> {
        denied(&self.events)
    }
}

fn denied(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "process" && e["program"] == DENIED)
        .collect()
}

fn read_events(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

/// Compiles the static app (gcc -static), embeds its task, runs it until the app is done and
/// the denied launch's event is in the log (plus a quiet half second), then stops the task.
pub fn run(
    work: &Path,
    netns_prefix: &str,
    dist: PathBuf,
    guard_embed: PathBuf,
) -> Result<StaticRun> {
    let app_dir = work.join("app");
    std::fs::create_dir_all(&app_dir).with_context(|| format!("creating {}", app_dir.display()))?;
    compile_c(&app_dir, APP, WORKER, true)?;
    let policy = work.join("policy.toml");
    std::fs::write(&policy, POLICY)?;
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
            "entryPoint": [PROGRAM],
            "command": [DENIED, ALLOWED]
        }]
    });
    let task_file = work.join("task-definition.json");
    std::fs::write(&task_file, serde_json::to_vec_pretty(&task)?)?;
    let inputs = Inputs {
        task_definition: task_file,
        policy: policy.clone(),
        dist,
        guard_embed,
        work_dir: work.to_path_buf(),
        netns_prefix: netns_prefix.into(),
        app_resolv_conf: scenario::RESOLV_CONF_SIDECAR.into(),
    };
    let (embedded, _) = scenario::embed(&inputs)?;
    let definition = scenario::definition(&embedded, APP)?.clone();
    let source = scenario::policy_source(&embedded)?;
    let relative = source
        .strip_prefix(&format!("{}/", contract::VOLUME))
        .with_context(|| format!("the sidecar's policy {source:?} is not in its volume"))?
        .to_string();
    let config = TaskConfig {
        netns_prefix: inputs.netns_prefix.clone(),
        work_dir: work.to_path_buf(),
        dist: inputs.dist.clone(),
        sidecar_image: SIDECAR_IMAGE.into(),
        sidecar_resolv_conf: format!("nameserver {RESOLVER_IP}\n"),
        app_resolv_conf: inputs.app_resolv_conf.clone(),
        extra_binds: BTreeMap::from([(
            APP.to_string(),
            vec![Bind {
                source: app_dir,
                target: "/app".into(),
                read_only: true,
            }],
        )]),
        volume_files: vec![(policy, relative)],
    };
    let mut local = LocalTask::new(config)?;
    let _resolver = Resolver::start(&local.netns, work, &scenario::zone())?;
    local.start(&embedded)?;
    local.wait_stdout(APP, "static-worker: done", Duration::from_secs(60))?;
    let log = local
        .find(SIDECAR)
        .map(|c| c.stdout.clone())
        .context("the task has no sidecar")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while denied(&read_events(&log)).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Anything else on its way (a second, duplicate event) arrives within this quiet period.
    std::thread::sleep(Duration::from_millis(500));
    Ok(StaticRun {
        definition,
        stdout: local.stdout(APP),
        stderr: local.stderr(APP),
        events: read_events(&log),
        netns_name: local.netns.name().to_string(),
        netns_inode: std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(local.netns.path())?),
    })
}
