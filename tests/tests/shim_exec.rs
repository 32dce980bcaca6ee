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

fn version(guard: &Guard) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(guard.policy_json()).unwrap()).unwrap();
    json["version"].as_str().unwrap().to_string()
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
    let ev = expect_event(&events, "blocked", &denied, "execve", &version(&guard));
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
    expect_event(&events, "blocked", &denied, "execve", &version(&guard));
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
    let script_file = guard.path("run.bash");
    std::fs::write(
        &script_file,
        format!("#!/bin/bash\n{denied}\necho after=$?\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script_file, std::fs::Permissions::from_mode(0o755)).unwrap();
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
    let ev = expect_event(&events, "alerted", &alerted, "execve", &version(&guard));
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
    let v = version(&guard);
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
