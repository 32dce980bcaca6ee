//! guard-exec under a seccomp filter placed before it that forbids installing its own (a
//! hardened runtime profile, a wrapper), by an errno or by killing the process that tries:
//! it warns once, reports `unprotected` in the audit
//! stream, and runs the app as before, with the shim still deciding what dynamic programs
//! launch.

use std::process::Command;

use guard_tests::shim::{Guard, compile_c, find};
use guard_tests::{artifacts, require};
use serde_json::Value;

const POLICY: &str = r#"
[dns]
default = "allow"
[process]
default = "allow"
deny = ["denied-prog"]
"#;

/// `forbid MODE PROGRAM ARGS...`: installs a filter, then executes PROGRAM under it.
/// `all`: seccomp(2) fails with EPERM and prctl(PR_SET_SECCOMP) with EACCES;
/// `listener`: only seccomp(2) with SECCOMP_FILTER_FLAG_NEW_LISTENER fails, with EACCES;
/// `kill`: seccomp(2) kills the process (SECCOMP_RET_KILL_PROCESS).
const FORBID: &str = r#"
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif
#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct sock_filter all[] = {
        LD(offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        RET(SECCOMP_RET_ALLOW),
        LD(offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_seccomp, 0, 1),
        RET(SECCOMP_RET_ERRNO | EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 3),
        LD(offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_SECCOMP, 0, 1),
        RET(SECCOMP_RET_ERRNO | EACCES),
        RET(SECCOMP_RET_ALLOW),
    };
    /* args[1] is the flags word; its low half is first on a little-endian machine. */
    struct sock_filter listener[] = {
        LD(offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        RET(SECCOMP_RET_ALLOW),
        LD(offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_seccomp, 0, 3),
        LD(offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, 1),
        RET(SECCOMP_RET_ERRNO | EACCES),
        RET(SECCOMP_RET_ALLOW),
    };
    struct sock_filter kill[] = {
        LD(offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        RET(SECCOMP_RET_ALLOW),
        LD(offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_seccomp, 0, 1),
        RET(SECCOMP_RET_KILL_PROCESS),
        RET(SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog;
    if (strcmp(argv[1], "kill") == 0) {
        prog.len = sizeof kill / sizeof kill[0];
        prog.filter = kill;
    } else if (strcmp(argv[1], "all") == 0) {
        prog.len = sizeof all / sizeof all[0];
        prog.filter = all;
    } else {
        prog.len = sizeof listener / sizeof listener[0];
        prog.filter = listener;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); return 3; }
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); return 4; }
    /* The filter holds: a second one is refused the way guard-exec's will be. */
    if (strcmp(argv[1], "all") == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0) return 5;
    execv(argv[2], argv + 2);
    perror("execv");
    return 6;
}
"#;

fn unprotected(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["action"] == "unprotected")
        .collect()
}

#[test]
fn a_filter_that_forbids_ours_leaves_the_app_running_under_the_shim_and_says_so() {
    if !require::commands("a_filter_that_forbids_ours", &["gcc"]) {
        return;
    }
    let guard = Guard::new(POLICY).unwrap();
    let denied = guard.executable("denied-prog", "#!/bin/sh\nexit 5\n");
    let allowed = guard.executable("allowed-prog", "#!/bin/sh\nexit 0\n");
    let forbid = compile_c(&guard.dir, "forbid", FORBID, true).unwrap();
    let script = format!(
        "{}; echo denied=$?; {}; echo allowed=$?; exit 7",
        denied.display(),
        allowed.display()
    );
    let refused = "refused the seccomp supervisor";
    let eperm = format!("os error {}", libc::EPERM);
    let eacces = format!("os error {}", libc::EACCES);
    let sigsys = format!("killed by signal {}", libc::SIGSYS);
    for (mode, warning, why) in [
        ("all", refused, eperm.as_str()),
        ("listener", refused, eacces.as_str()),
        (
            "kill",
            "installing the seccomp supervisor failed",
            sigsys.as_str(),
        ),
    ] {
        let mut cmd: Command = guard.command(&forbid);
        cmd.env_remove("LD_PRELOAD")
            .env_remove("GUARD_RESOLVER")
            .env_remove("GUARD_SUPERVISE")
            .env("GUARD_PRELOAD_LIB", &guard.lib)
            .arg(mode)
            .arg(artifacts::guard_exec())
            .args(["sh", "-c", &script]);
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(7),
            "{mode}: the app's status: {out:?}"
        );
        assert!(
            stdout.contains("denied=126\n"),
            "{mode}: the shim still blocks: {stdout} {stderr}"
        );
        assert!(stdout.contains("allowed=0\n"), "{mode}: {stdout} {stderr}");
        assert_eq!(
            stderr.matches(warning).count(),
            1,
            "{mode}: warned once: {stderr}"
        );
        assert!(
            !stderr.contains("supervising launches"),
            "{mode}: must not claim to supervise: {stderr}"
        );

        let events = guard.events();
        let told = unprotected(&events);
        assert_eq!(told.len(), 1, "{mode}: one unprotected event: {events:#?}");
        let e = told[0];
        assert_eq!(e["container"], "app", "{e}");
        let reason = e["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("seccomp user notification unavailable") && reason.contains(why),
            "{mode}: the kernel's answer is the reason: {e}"
        );
        let hits = find(&events, "blocked", &denied.display().to_string());
        assert_eq!(hits.len(), 1, "{mode}: {events:#?}");
        assert_ne!(hits[0]["api"], "syscall", "{mode}: the shim decided: {e}");
        assert!(
            find(&events, "blocked", &allowed.display().to_string()).is_empty(),
            "{events:#?}"
        );
    }
}
