//! The shim decides process launches from real programs: denied programs do not run (their
//! marker file stays absent), allowed ones run unchanged, and each block is reported.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use guard_tests::require;
use guard_tests::shim::{Guard, expect_event, find};

/// Denies two scripts by file name; everything else runs.
const POLICY: &str = r#"
mode = "enforce"
[dns]
default = "allow"
[process]
default = "allow"
deny = ["denied-prog", "denied-alert"]
alert = ["alerted-prog"]
"#;

/// A shell script that creates `marker` when it runs. Scripts (rather than copies of binaries)
/// make sure the block comes from the parent's hook: the shim's constructor in the new process
/// would only see `/bin/sh`.
fn script(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let marker = dir.join(format!("{name}.ran"));
    std::fs::write(
        &path,
        format!("#!/bin/sh\ntouch '{}'\necho ran {name}\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn setup() -> (Guard, String, String, String) {
    let guard = Guard::new(POLICY).unwrap();
    let denied = script(&guard.dir, "denied-prog");
    let allowed = script(&guard.dir, "allowed-prog");
    let alerted = script(&guard.dir, "alerted-prog");
    (guard, denied, allowed, alerted)
}

fn ran(guard: &Guard, name: &str) -> bool {
    guard.path(&format!("{name}.ran")).exists()
}

#[test]
fn sh_c_denied_program_does_not_run_and_is_reported() {
    let (guard, denied, allowed, _) = setup();
    let out = guard.sh(&format!("{denied}; echo rc=$?; {allowed}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!ran(&guard, "denied-prog"), "denied program ran: {stdout}");
    assert!(
        stdout.contains("rc=126"),
        "sh reports 'cannot execute': {stdout}"
    );
    assert!(ran(&guard, "allowed-prog"));
    assert!(stdout.contains("ran allowed-prog"), "{stdout}");
    let events = guard.events();
    let ev = expect_event(&events, "blocked", &denied, "execve", &guard.version());
    assert_eq!(ev["kind"], "process");
    assert_eq!(ev["rule"], "process.deny:denied-prog");
    assert_eq!(ev["argv"][0], denied.as_str());
    assert!(find(&events, "blocked", &allowed).is_empty());
}

#[test]
fn sh_uses_path_search_and_scripts() {
    let (guard, _, _, _) = setup();
    let script_file = guard.path("run.sh");
    std::fs::write(&script_file, "denied-prog\necho after=$?\nallowed-prog\n").unwrap();
    let path = format!("{}:/usr/bin:/bin", guard.dir.display());
    let out = guard
        .command("/bin/sh")
        .arg(&script_file)
        .env("PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!ran(&guard, "denied-prog"));
    assert!(ran(&guard, "allowed-prog"));
    assert!(stdout.contains("after=126"), "{stdout}");
    let events = guard.events();
    let denied = guard.path("denied-prog").display().to_string();
    expect_event(&events, "blocked", &denied, "execve", &guard.version());
}

#[test]
fn bash_c_and_bash_scripts() {
    if !require::commands("bash_c_and_bash_scripts", &["bash"]) {
        return;
    }
    let (guard, denied, allowed, _) = setup();
    let out = guard
        .command("bash")
        .arg("-c")
        .arg(format!("{denied}; echo rc=$?; {allowed}; true"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!ran(&guard, "denied-prog"), "{stdout}");
    assert!(ran(&guard, "allowed-prog"));
    assert!(stdout.contains("rc=126"), "{stdout}");
    let script_file = guard.executable(
        "run.bash",
        &format!("#!/bin/bash\n{denied}\necho after=$?\n"),
    );
    let out = guard.command(&script_file).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("after=126"));
    assert!(!ran(&guard, "denied-prog"));
    let events = guard.events();
    let blocked = find(&events, "blocked", &denied);
    assert!(blocked.len() >= 2, "one block per attempt: {events:#?}");
}

#[test]
fn alerted_program_runs_and_is_reported() {
    let (guard, _, _, alerted) = setup();
    let out = guard.sh(&alerted);
    assert!(out.status.success());
    assert!(ran(&guard, "alerted-prog"));
    let events = guard.events();
    let ev = expect_event(&events, "alerted", &alerted, "execve", &guard.version());
    assert_eq!(ev["rule"], "process.alert:alerted-prog");
}

#[test]
fn python_subprocess_vfork_and_posix_spawn() {
    if !require::commands("python_subprocess_vfork_and_posix_spawn", &["python3"]) {
        return;
    }
    let (guard, denied, allowed, _) = setup();
    let code = format!(
        r#"
import os, subprocess, sys
try:
    subprocess.run([{denied:?}])
    print("subprocess ran")
except PermissionError as e:
    print("subprocess denied", e.errno)
print("allowed rc", subprocess.run([{allowed:?}], capture_output=True).returncode)
try:
    os.posix_spawn({denied:?}, [{denied:?}], os.environ)
    print("spawn ran")
except PermissionError as e:
    print("spawn denied", e.errno)
pid = os.posix_spawn({allowed:?}, [{allowed:?}], os.environ)
print("allowed spawn", os.waitpid(pid, 0)[1])
try:
    os.execv({denied:?}, [{denied:?}])
except PermissionError as e:
    print("execv denied", e.errno)
"#
    );
    let out = guard
        .command("python3")
        .arg("-c")
        .arg(code)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("subprocess denied 13"), "{stdout}{stderr}");
    assert!(stdout.contains("allowed rc 0"), "{stdout}{stderr}");
    assert!(stdout.contains("spawn denied 13"), "{stdout}{stderr}");
    assert!(stdout.contains("allowed spawn 0"), "{stdout}{stderr}");
    assert!(stdout.contains("execv denied 13"), "{stdout}{stderr}");
    assert!(!ran(&guard, "denied-prog"));
    assert!(ran(&guard, "allowed-prog"));
    let events = guard.events();
    let v = guard.version();
    let apis: Vec<&str> = find(&events, "blocked", &denied)
        .iter()
        .filter_map(|e| e["api"].as_str())
        .collect();
    assert!(apis.contains(&"posix_spawn"), "{events:#?}");
    assert!(
        apis.iter().filter(|a| a.starts_with("execv")).count() >= 2,
        "{events:#?}"
    );
    expect_event(&events, "blocked", &denied, "posix_spawn", &v);
}

#[test]
fn perl_system_and_exec() {
    if !require::commands("perl_system_and_exec", &["perl"]) {
        return;
    }
    let (guard, denied, allowed, _) = setup();
    let code = format!(
        r#"my $rc = system("{denied}"); print "system rc=", $? >> 8, " err=", ($! + 0), "\n";
           system("{allowed}");
           exec("{denied}") or print "exec failed err=", ($! + 0), "\n";"#
    );
    let out = guard.command("perl").arg("-e").arg(code).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!ran(&guard, "denied-prog"), "{stdout}");
    assert!(ran(&guard, "allowed-prog"), "{stdout}");
    assert!(stdout.contains("exec failed err=13"), "{stdout}");
    let events = guard.events();
    assert!(find(&events, "blocked", &denied).len() >= 2, "{events:#?}");
}

#[test]
fn find_exec_and_xargs() {
    let (guard, denied, allowed, _) = setup();
    let out = guard.sh(&format!(
        "find {dir} -maxdepth 0 -exec {denied} {{}} \\; ; echo x | xargs {denied}; echo xargs=$?; find {dir} -maxdepth 0 -exec {allowed} \\;",
        dir = guard.dir.display()
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!ran(&guard, "denied-prog"), "{stdout}{stderr}");
    assert!(ran(&guard, "allowed-prog"), "{stdout}{stderr}");
    // xargs exits 126 when the command cannot be run.
    assert!(stdout.contains("xargs=126"), "{stdout}{stderr}");
    let events = guard.events();
    assert!(find(&events, "blocked", &denied).len() >= 2, "{events:#?}");
}

#[test]
fn env_and_env_i_keep_the_guard() {
    let (guard, denied, allowed, _) = setup();
    // env execs the program through execvp; env -i clears the environment of the child,
    // which must get the shim and the GUARD_* variables back.
    let out = guard.sh(&format!(
        "env {denied}; echo env=$?; env -i {allowed}; env -i /bin/sh -c '{denied}; echo inner=$?; echo \"$LD_PRELOAD|$GUARD_POLICY|$GUARD_EVENTS|$GUARD_CONTAINER\"'"
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!ran(&guard, "denied-prog"), "{stdout}");
    assert!(ran(&guard, "allowed-prog"), "{stdout}");
    assert!(stdout.contains("env=126"), "{stdout}");
    assert!(
        stdout.contains("inner=126"),
        "grandchild of env -i still guarded: {stdout}"
    );
    let expected = format!(
        "{}|{}|{}|app",
        guard.lib.display(),
        guard.policy_json().display(),
        guard.events_path().display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    let events = guard.events();
    let apis: Vec<&str> = find(&events, "blocked", &denied)
        .iter()
        .filter_map(|e| e["api"].as_str())
        .collect();
    assert!(apis.contains(&"execvp"), "{events:#?}");
}

#[test]
fn ld_preload_is_appended_not_replaced() {
    let (guard, _, _, _) = setup();
    // An explicit environment with another preload entry: ours is appended after it.
    let out = guard.sh(
        "env -i LD_PRELOAD=/nonexistent/other.so /bin/sh -c 'echo \"P=$LD_PRELOAD\"' 2>/dev/null",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("P=/nonexistent/other.so:{}", guard.lib.display())),
        "{stdout}"
    );
}

#[test]
fn node_child_process() {
    if !require::commands("node_child_process", &["node"]) {
        return;
    }
    let (guard, denied, allowed, _) = setup();
    let code = format!(
        r#"const cp = require('child_process');
           const r = cp.spawnSync({denied:?});
           console.log('spawn error', r.error ? r.error.code : 'none', 'status', r.status);
           try {{ cp.execFileSync({denied:?}); console.log('execFile ran'); }}
           catch (e) {{ console.log('execFile error', e.code); }}
           const a = cp.spawnSync({allowed:?});
           console.log('allowed status', a.status);"#
    );
    let out = guard.command("node").arg("-e").arg(code).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!ran(&guard, "denied-prog"), "{stdout}{stderr}");
    assert!(ran(&guard, "allowed-prog"), "{stdout}{stderr}");
    assert!(stdout.contains("spawn error EACCES"), "{stdout}{stderr}");
    assert!(stdout.contains("allowed status 0"), "{stdout}{stderr}");
    let events = guard.events();
    assert!(!find(&events, "blocked", &denied).is_empty(), "{events:#?}");
}

const SPAWNP_C: &str = r#"
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        pid_t pid;
        char *child[] = {argv[i], NULL};
        int rc = posix_spawnp(&pid, argv[i], NULL, NULL, child, environ);
        if (rc != 0) { printf("%s: %s\n", argv[i], strerror(rc)); continue; }
        int status;
        waitpid(pid, &status, 0);
        printf("%s: exit %d\n", argv[i], WEXITSTATUS(status));
    }
    return 0;
}
"#;

#[test]
fn c_program_posix_spawnp_searches_path() {
    if !require::commands("c_program_posix_spawnp_searches_path", &["gcc"]) {
        return;
    }
    let (guard, denied, _, _) = setup();
    let prog = guard_tests::shim::compile_c(&guard.dir, "spawner", SPAWNP_C, false).unwrap();
    let path = format!("{}:/usr/bin:/bin", guard.dir.display());
    let out = guard
        .command(&prog)
        .args(["denied-prog", "allowed-prog"])
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("denied-prog: Permission denied"),
        "{stdout}"
    );
    assert!(stdout.contains("allowed-prog: exit 0"), "{stdout}");
    assert!(!ran(&guard, "denied-prog"));
    assert!(ran(&guard, "allowed-prog"));
    let events = guard.events();
    let ev = expect_event(
        &events,
        "blocked",
        &denied,
        "posix_spawnp",
        &guard.version(),
    );
    assert_eq!(ev["argv"], serde_json::json!(["denied-prog"]));
}

const EXECL_C: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char *env[] = {"X=1", NULL};
    execl(argv[1], "a", "b", (char *)NULL);
    printf("execl errno=%d\n", errno);
    execle(argv[1], "a", (char *)NULL, env);
    printf("execle errno=%d\n", errno);
    execlp("denied-prog", "denied-prog", (char *)NULL);
    printf("execlp errno=%d\n", errno);
    fflush(stdout);
    execlp("allowed-prog", "allowed-prog", "x", (char *)NULL);
    printf("allowed execlp failed errno=%d\n", errno);
    return 1;
}
"#;

#[test]
fn c_program_variadic_execs() {
    if !require::commands("c_program_variadic_execs", &["gcc"]) {
        return;
    }
    let (guard, denied, _, _) = setup();
    let prog = guard_tests::shim::compile_c(&guard.dir, "execler", EXECL_C, false).unwrap();
    let path = format!("{}:/usr/bin:/bin", guard.dir.display());
    let out = guard
        .command(&prog)
        .arg(&denied)
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("execl errno=13"), "{stdout}");
    assert!(stdout.contains("execle errno=13"), "{stdout}");
    assert!(stdout.contains("execlp errno=13"), "{stdout}");
    assert!(stdout.contains("ran allowed-prog"), "{stdout}");
    assert!(!ran(&guard, "denied-prog"));
    let events = guard.events();
    let apis: Vec<&str> = find(&events, "blocked", &denied)
        .iter()
        .filter_map(|e| e["api"].as_str())
        .collect();
    for api in ["execl", "execle", "execlp"] {
        assert!(apis.contains(&api), "{api}: {events:#?}");
    }
    let execl = find(&events, "blocked", &denied)
        .into_iter()
        .find(|e| e["api"] == "execl")
        .unwrap();
    assert_eq!(execl["argv"], serde_json::json!(["a", "b"]));
}

#[test]
fn audit_mode_runs_everything_and_reports_would_block() {
    let guard = Guard::new(&POLICY.replace("mode = \"enforce\"", "mode = \"audit\"")).unwrap();
    let denied = script(&guard.dir, "denied-prog");
    let out = guard.sh(&format!("{denied}; echo rc=$?"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rc=0"), "{stdout}");
    assert!(ran(&guard, "denied-prog"));
    let events = guard.events();
    expect_event(&events, "would-block", &denied, "execve", &guard.version());
    assert!(find(&events, "blocked", &denied).is_empty(), "{events:#?}");
}

const RAW_EXEC_C: &str = r#"
#include <sys/syscall.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    /* A raw syscall: no libc exec wrapper, so no hook in this (static) parent. */
    syscall(SYS_execve, argv[1], argv + 1, environ);
    return 99;
}
"#;

/// A guard denying `denied-touch`, a real dynamic binary under that name, and a static
/// launcher that starts its argument through a raw execve syscall (no hook in the parent):
/// only the shim's constructor in the new process can stop what it starts.
struct RawExec {
    guard: Guard,
    touch: std::path::PathBuf,
    launcher: std::path::PathBuf,
}

impl RawExec {
    fn new(test: &str) -> Option<RawExec> {
        if !require::commands(test, &["gcc"]) {
            return None;
        }
        let guard = Guard::new(
            "[dns]\ndefault = \"allow\"\n[process]\ndefault = \"allow\"\ndeny = [\"denied-touch\"]\n",
        )
        .unwrap();
        let touch = guard.path("denied-touch");
        std::fs::copy("/usr/bin/touch", &touch).unwrap();
        let launcher =
            guard_tests::shim::compile_c(&guard.dir, "raw-exec", RAW_EXEC_C, true).unwrap();
        Some(RawExec {
            guard,
            touch,
            launcher,
        })
    }

    /// Starts `program` with `arg` through the launcher.
    fn run(&self, program: &Path, arg: &Path) -> std::process::Output {
        self.guard
            .command(&self.launcher)
            .arg(program)
            .arg(arg)
            .output()
            .unwrap()
    }
}

#[test]
fn constructor_stops_a_denied_program_started_without_a_hook() {
    let Some(RawExec {
        guard,
        touch,
        launcher,
    }) = RawExec::new("constructor_stops_a_denied_program_started_without_a_hook")
    else {
        return;
    };
    let marker = guard.path("touched");
    let out = guard
        .command(&launcher)
        .arg(&touch)
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(guard_contract::EXIT_DENIED),
        "{out:?}"
    );
    assert!(!marker.exists());
    let events = guard.events();
    let program = touch.display().to_string();
    let ev = expect_event(
        &events,
        "blocked",
        &program,
        "constructor",
        &guard.version(),
    );
    assert_eq!(ev["exe"], program.as_str());
    // Started directly (no hooked parent at all) it stops the same way.
    let out = guard.command(&touch).arg(&marker).output().unwrap();
    assert_eq!(out.status.code(), Some(guard_contract::EXIT_DENIED));
    assert!(!marker.exists());
    // The static launcher itself is reported as unprotected by a hooked parent.
    let out = guard.sh(&format!("{} /bin/true", launcher.display()));
    assert!(out.status.success());
    let events = guard.events();
    let unprotected = find(&events, "unprotected", &launcher.display().to_string());
    assert!(
        unprotected
            .iter()
            .any(|e| e["reason"].as_str().is_some_and(|r| r.contains("static"))),
        "{events:#?}"
    );
}

/// The constructor names the running program from the name the kernel was asked to run
/// when that file is the running image, and asks `/proc/self/exe` otherwise: a symlink to a
/// denied program resolves to it, and a script's interpreter (reached through an allowed
/// symlink, so `argv[0]` alone would pass) is the program checked, not the script.
#[test]
fn constructor_checks_the_real_program_behind_symlinks_and_shebangs() {
    let Some(raw) =
        RawExec::new("constructor_checks_the_real_program_behind_symlinks_and_shebangs")
    else {
        return;
    };
    let (guard, touch) = (&raw.guard, &raw.touch);
    let link = guard.path("allowed-name");
    std::os::unix::fs::symlink(touch, &link).unwrap();

    // Through a symlink with an allowed name.
    let marker = guard.path("via-link");
    let out = raw.run(&link, &marker);
    assert_eq!(
        out.status.code(),
        Some(guard_contract::EXIT_DENIED),
        "{out:?}"
    );
    assert!(!marker.exists());
    let events = guard.events();
    let program = std::fs::canonicalize(touch).unwrap().display().to_string();
    let ev = expect_event(
        &events,
        "blocked",
        &program,
        "constructor",
        &guard.version(),
    );
    assert_eq!(ev["exe"], program.as_str());

    // A script whose interpreter is the denied program, named through the allowed symlink.
    let script = guard.executable("job.sh", &format!("#!{}\n", link.display()));
    let marker = guard.path("via-script");
    let out = raw.run(&script, &marker);
    assert_eq!(
        out.status.code(),
        Some(guard_contract::EXIT_DENIED),
        "{out:?}"
    );
    assert!(!marker.exists());
    assert!(!std::fs::read(&script).unwrap().is_empty());

    // An allowed program reached the same ways runs.
    let ok_link = guard.path("true-link");
    std::os::unix::fs::symlink("/bin/true", &ok_link).unwrap();
    let out = raw.run(&ok_link, &guard.path("unused"));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_path_too_long_to_resolve_is_refused_not_let_through() {
    let test = "a_path_too_long_to_resolve_is_refused_not_let_through";
    if !require::commands(test, &["python3"]) {
        return;
    }
    let (guard, _, _, _) = setup();
    // A current directory deeper than PATH_MAX: a relative launch from it cannot be resolved
    // into the shim's buffers, and must not slip through unchecked.
    let marker = guard.path("deep.ran");
    let code = format!(
        r##"
import os, subprocess
os.chdir({dir:?})
for _ in range(25):
    os.mkdir("d" * 200)
    os.chdir("d" * 200)
with open("x", "w") as f:
    f.write("#!/bin/sh\ntouch {marker}\n")
os.chmod("x", 0o755)
try:
    subprocess.run(["./x"])
    print("ran")
except PermissionError:
    print("denied")
"##,
        dir = guard.dir.display().to_string(),
        marker = marker.display()
    );
    let out = guard
        .command("python3")
        .arg("-c")
        .arg(code)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("denied"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!marker.exists());
    let events = guard.events();
    let ev = find(&events, "blocked", "./x");
    assert!(
        ev.iter().any(|e| e["rule"] == "unresolvable-path"),
        "{events:#?}"
    );
}

#[test]
fn a_denied_path_program_is_reported_once_not_per_path_entry() {
    if !require::commands(
        "a_denied_path_program_is_reported_once_not_per_path_entry",
        &["python3"],
    ) {
        return;
    }
    let guard = Guard::new(POLICY).unwrap();
    // dash and CPython try execve on every PATH entry and go on after EACCES: missing
    // directories before the program, and the same file again through a symlinked directory
    // (as /bin -> /usr/bin on merged-/usr systems).
    let bin = guard.path("bin");
    std::fs::create_dir(&bin).unwrap();
    script(&bin, "denied-prog");
    std::os::unix::fs::symlink(&bin, guard.path("binlink")).unwrap();
    let d = guard.dir.display();
    let path = format!("{d}/missing:{d}/nodir/x:{d}/bin:{d}/missing2:{d}/binlink:/usr/bin:/bin");
    let program = format!("{d}/bin/denied-prog");
    let blocked = |events: &[serde_json::Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["action"] == "blocked")
            .map(|e| e["program"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let out = guard
        .command("/bin/sh")
        .arg("-c")
        .arg("denied-prog; echo rc=$?")
        .env("PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rc=126"), "{stdout}");
    assert!(!ran(&guard, "bin/denied-prog"));
    assert_eq!(blocked(&guard.events()), vec![program.clone()], "sh");

    // Two launches from one process: each is reported once (the de-duplication is per
    // attempt, not per program).
    let code = "import subprocess\nfor _ in range(2):\n try:\n  subprocess.run(['denied-prog'])\n except PermissionError as e:\n  print('denied', e.errno)\n";
    let out = guard
        .command("python3")
        .arg("-c")
        .arg(code)
        .env("PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("denied 13").count(), 2, "{stdout}{out:?}");
    assert_eq!(
        blocked(&guard.events()),
        vec![program.clone(), program.clone()],
        "python"
    );
    // A missing program is not reported at all, and fails as missing.
    let out = guard.sh("no-such-denied-prog; echo rc=$?");
    assert!(String::from_utf8_lossy(&out.stdout).contains("rc=127"));
    assert!(blocked(&guard.events()).is_empty());
}
