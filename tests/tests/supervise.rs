//! guard-exec's seccomp supervisor: launches the shim cannot see (static programs, raw
//! `syscall(SYS_execve)`) are decided by the same policy, and guard-exec is the container's
//! init (signals, orphans, exit status).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use guard_tests::shim::{Guard, compile_c, compile_c_with, find};
use guard_tests::{artifacts, require};
use serde_json::Value;

const POLICY: &str = r#"
[dns]
default = "allow"
[process]
default = "allow"
deny = ["denied-prog"]
"#;

/// Launches each program given after the mode (`libc`, `raw`, or `fd`: `execveat` of an
/// `O_PATH` descriptor with `AT_EMPTY_PATH`); prints `program=status`
/// where the status is the program's exit code, or 77 when execve failed with EACCES.
const LAUNCHER: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static int run(const char *p, char mode) {
    pid_t c = fork();
    if (c == 0) {
        char *argv[] = {(char *)p, "arg-one", 0};
        char *envp[] = {0};
        if (mode == 'r') syscall(SYS_execve, p, argv, envp);
        else if (mode == 'f') syscall(SYS_execveat, open(p, O_PATH), "", argv, envp, AT_EMPTY_PATH);
        else execve(p, argv, envp);
        _exit(errno == EACCES ? 77 : 78);
    }
    int st;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}
int main(int argc, char **argv) {
    for (int i = 2; i < argc; i++) printf("%s=%d\n", argv[i], run(argv[i], argv[1][0]));
    return 0;
}
"#;

/// 32 threads, released at once by a barrier, each forking and executing argv[1 + i % 2];
/// prints one `i=status` line per thread.
const THREADS: &str = r#"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static pthread_barrier_t barrier;
static char **progs;
static int results[32];
static void *go(void *arg) {
    long i = (long)arg;
    char *p = progs[1 + i % 2];
    pthread_barrier_wait(&barrier);
    pid_t c = fork();
    if (c == 0) {
        char *argv[] = {p, 0};
        char *envp[] = {0};
        execve(p, argv, envp);
        _exit(errno == EACCES ? 77 : 78);
    }
    int st;
    waitpid(c, &st, 0);
    results[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 99;
    return 0;
}
int main(int argc, char **argv) {
    pthread_t t[32];
    progs = argv;
    pthread_barrier_init(&barrier, 0, 32);
    for (long i = 0; i < 32; i++) pthread_create(&t[i], 0, go, (void *)i);
    for (int i = 0; i < 32; i++) pthread_join(t[i], 0);
    for (int i = 0; i < 32; i++) printf("%d=%d\n", i, results[i]);
    return 0;
}
"#;

fn guard_exec(guard: &Guard) -> Command {
    let mut cmd = guard.command(artifacts::guard_exec());
    cmd.env_remove("LD_PRELOAD")
        .env_remove("GUARD_RESOLVER")
        .env_remove("GUARD_SUPERVISE")
        .env("GUARD_PRELOAD_LIB", &guard.lib);
    cmd
}

struct Programs {
    denied: PathBuf,
    allowed: PathBuf,
}

/// A denied and an allowed program; the allowed one exits 0, the denied one would exit 5.
fn programs(guard: &Guard) -> Programs {
    Programs {
        denied: guard.executable("denied-prog", "#!/bin/sh\nexit 5\n"),
        allowed: guard.executable("allowed-prog", "#!/bin/sh\nexit 0\n"),
    }
}

fn gcc(test: &str) -> bool {
    require::commands(test, &["gcc"])
}

fn blocked_by_supervisor<'a>(events: &'a [Value], program: &str) -> Vec<&'a Value> {
    find(events, "blocked", program)
        .into_iter()
        .filter(|e| e["api"] == "syscall")
        .collect()
}

#[test]
fn static_programs_cannot_launch_denied_programs_by_libc_or_raw_syscall() {
    if !gcc("static_programs_cannot_launch_denied_programs") {
        return;
    }
    let guard = Guard::new(POLICY).unwrap();
    let p = programs(&guard);
    let launcher = compile_c(&guard.dir, "launcher", LAUNCHER, true).unwrap();
    for mode in ["libc", "raw", "fd"] {
        let out = guard_exec(&guard)
            .arg(&launcher)
            .arg(mode)
            .arg(&p.denied)
            .arg(&p.allowed)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{mode}: {out:?}");
        assert!(
            stdout.contains(&format!("{}=77\n", p.denied.display())),
            "{mode}: denied program must fail with EACCES: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("{}=0\n", p.allowed.display())),
            "{mode}: allowed program must run: {stdout}"
        );
        let events = guard.events();
        let denied = p.denied.display().to_string();
        let hits = blocked_by_supervisor(&events, &denied);
        assert_eq!(
            hits.len(),
            1,
            "{mode}: one event per denied launch: {events:#?}"
        );
        let e = hits[0];
        assert_eq!(e["container"], "app", "{e}");
        assert_eq!(e["kind"], "process", "{e}");
        assert_eq!(e["policy_version"], guard.version(), "{e}");
        assert!(
            e["rule"]
                .as_str()
                .is_some_and(|r| r.contains("denied-prog")),
            "{e}"
        );
        assert!(e["pid"].as_u64().is_some_and(|p| p > 0), "{e}");
        assert_eq!(e["exe"], launcher.display().to_string(), "{e}");
        assert_eq!(e["argv"][1], "arg-one", "{e}");
        assert!(
            blocked_by_supervisor(&events, &p.allowed.display().to_string()).is_empty(),
            "{events:#?}"
        );
    }
}

/// `execveat` of a descriptor is decided by what the descriptor is, not the name it was
/// opened by: a symlink with an innocent name is still the denied program.
#[test]
fn execveat_of_a_descriptor_is_decided_by_its_own_path() {
    if !gcc("execveat_of_a_descriptor") {
        return;
    }
    let guard = Guard::new(POLICY).unwrap();
    let p = programs(&guard);
    let link = guard.path("innocent");
    std::os::unix::fs::symlink(&p.denied, &link).unwrap();
    let launcher = compile_c(&guard.dir, "launcher", LAUNCHER, true).unwrap();
    let out = guard_exec(&guard)
        .arg(&launcher)
        .arg("fd")
        .arg(&link)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}=77\n", link.display())),
        "{stdout} {out:?}"
    );
    let events = guard.events();
    assert_eq!(
        blocked_by_supervisor(&events, &p.denied.display().to_string()).len(),
        1,
        "{events:#?}"
    );
}

#[test]
fn thirty_two_threads_launching_at_once_are_each_decided() {
    if !gcc("thirty_two_threads_launching_at_once") {
        return;
    }
    let guard = Guard::new(POLICY).unwrap();
    let p = programs(&guard);
    let bin = compile_c_with(
        &guard.dir,
        "threads",
        THREADS,
        "gcc",
        &["-static", "-pthread"],
    )
    .unwrap();
    let out = guard_exec(&guard)
        .arg(&bin)
        .arg(&p.allowed)
        .arg(&p.denied)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for i in 0..32 {
        let want = if i % 2 == 0 { 0 } else { 77 };
        assert!(
            stdout.lines().any(|l| l == format!("{i}={want}")),
            "thread {i} should see {want}: {stdout}"
        );
    }
}

#[test]
fn a_denied_launch_of_a_shimmed_program_is_reported_once() {
    let guard = Guard::new(POLICY).unwrap();
    let p = programs(&guard);
    let out = guard_exec(&guard)
        .args(["sh", "-c"])
        .arg(format!("{} ; echo status=$?", p.denied.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("status=126"), "{stdout} {out:?}");
    let events = guard.events();
    let hits = find(&events, "blocked", &p.denied.display().to_string());
    assert_eq!(hits.len(), 1, "the shim decides first, alone: {events:#?}");
    assert_ne!(hits[0]["api"], "syscall", "{events:#?}");
}

#[test]
fn signals_reach_the_app_and_its_status_is_guard_execs() {
    let guard = Guard::new(POLICY).unwrap();
    for (sig, code) in [(libc::SIGTERM, 3), (libc::SIGINT, 4)] {
        let script = format!(
            "trap 'echo got; exit {code}' {}; echo ready; while :; do sleep 0.05; done",
            if sig == libc::SIGTERM { "TERM" } else { "INT" }
        );
        let mut child = guard_exec(&guard)
            .args(["sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        assert_eq!(lines.next().unwrap().unwrap(), "got");
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "signal {sig}");
    }
    // A signal death is reported as 128 + the signal, like a shell or tini does.
    let out = guard_exec(&guard)
        .args(["sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    let out = guard_exec(&guard)
        .args(["sh", "-c", "exit 42"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(42), "{out:?}");
}

#[test]
fn orphans_are_reaped() {
    if !require::commands("orphans_are_reaped", &["ps"]) {
        return;
    }
    let guard = Guard::new(POLICY).unwrap();
    // The inner sh exits at once, orphaned: guard-exec (the app's parent, their subreaper)
    // must reap it or it stays a zombie.
    let script =
        "(sh -c 'exit 0' &) ; sleep 0.5; echo zombies=$(ps -o stat= --ppid $PPID | grep -c Z)";
    let out = guard_exec(&guard)
        .args(["sh", "-c", script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("zombies=0"), "{stdout} {out:?}");
}

#[test]
fn without_the_supervisor_static_launches_are_unguarded_and_said_so() {
    if !gcc("without_the_supervisor") {
        return;
    }
    let guard = Guard::new(POLICY).unwrap();
    let p = programs(&guard);
    let launcher = compile_c(&guard.dir, "launcher", LAUNCHER, true).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd
            .arg(&launcher)
            .arg("raw")
            .arg(&p.denied)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out
    };

    // Turned off: guard-exec becomes the app (same PID) and the static launch is not seen.
    let out = run(guard_exec(&guard).env("GUARD_SUPERVISE", "off"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{}=5\n", p.denied.display())),
        "{out:?}"
    );
    let _ = guard.events();

    // Refused by the kernel: a filter chain already has a listener (guard-exec under
    // guard-exec), so the inner one warns, reports `unprotected` and starts the app anyway;
    // the outer supervisor still decides.
    let out = run(guard_exec(&guard).arg(artifacts::guard_exec()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused the seccomp supervisor"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{}=77\n", p.denied.display())),
        "{out:?}"
    );
    let events = guard.events();
    assert!(
        events.iter().any(|e| e["action"] == "unprotected"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("seccomp user notification unavailable"))),
        "{events:#?}"
    );
    let _ = Duration::ZERO;
}

/// guard-embed turns the supervisor off with `--no-supervise` and adds nothing else for it:
/// no capability, the same entryPoint prefix.
#[test]
fn guard_embed_no_supervise_sets_the_variable_and_adds_no_capability() {
    use std::io::Write;
    let task = r#"{"family": "web", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
      "cpu": "256", "memory": "512", "containerDefinitions": [
      {"name": "web", "image": "nginx", "entryPoint": ["/docker-entrypoint.sh"], "command": ["nginx"]}]}"#;
    let embed = |extra: &[&str]| -> Value {
        let mut child = Command::new(artifacts::workspace_bin("guard-embed"))
            .args(["embed", "--sidecar-image", "example/taskguard:1"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(task.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let supervise = |t: &Value| {
        t["containerDefinitions"][0]["environment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "GUARD_SUPERVISE")
            .map(|e| e["value"].clone())
    };
    let on = embed(&[]);
    assert_eq!(supervise(&on), None, "on by default, nothing to set");
    let off = embed(&["--no-supervise"]);
    assert_eq!(supervise(&off), Some(Value::from("off")));
    for t in [&on, &off] {
        let app = &t["containerDefinitions"][0];
        assert!(app["linuxParameters"]["capabilities"].is_null(), "{app}");
        assert_eq!(app["entryPoint"][0], "/guard/bin/guard-exec", "{app}");
    }
}

/// Launches argv[2] once, then again after the file argv[1] appears; prints `first=S` and
/// `second=S` (77: EACCES).
const TWICE: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static int run(char *p) {
    pid_t c = fork();
    if (c == 0) {
        char *argv[] = {p, 0};
        char *envp[] = {0};
        execve(p, argv, envp);
        _exit(errno == EACCES ? 77 : 78);
    }
    int st;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}
int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    printf("first=%d\n", run(argv[2]));
    while (access(argv[1], F_OK) != 0) usleep(10000);
    printf("second=%d\n", run(argv[2]));
    return 0;
}
"#;

/// The supervisor re-checks `policy.bin` at most every 100 ms (as the shim's lookups do): a
/// reload decides the static program's next launch once that interval has passed.
#[test]
fn a_policy_reload_decides_the_next_supervised_launch() {
    if !gcc("a_policy_reload_decides_the_next_supervised_launch") {
        return;
    }
    let guard = Guard::new(POLICY).unwrap();
    let prog = guard.executable("later-denied", "#!/bin/sh\nexit 0\n");
    let go = guard.path("go");
    let bin = compile_c(&guard.dir, "twice", TWICE, true).unwrap();
    let mut child = guard_exec(&guard)
        .arg(&bin)
        .arg(&go)
        .arg(&prog)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "first=0",
        "allowed before the reload"
    );
    guard
        .set_policy(&POLICY.replace(r#"deny = ["denied-prog"]"#, r#"deny = ["later-denied"]"#))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&go, "").unwrap();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "second=77",
        "denied after the reload"
    );
    assert!(child.wait().unwrap().success());
    let events = guard.events();
    assert_eq!(
        blocked_by_supervisor(&events, &prog.display().to_string()).len(),
        1,
        "{events:#?}"
    );
}
