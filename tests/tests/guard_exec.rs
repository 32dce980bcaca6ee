//! guard-exec: the launcher every guarded container starts with.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use guard_tests::shim::{Guard, expect_event, find};
use guard_tests::{artifacts, require};

const POLICY: &str = r#"
[dns]
default = "allow"
[process]
default = "allow"
deny = ["denied-prog"]
"#;

fn guard_exec(guard: &Guard) -> Command {
    let mut cmd = guard.command(artifacts::guard_exec());
    // guard-exec runs before the shim is in place: start it without LD_PRELOAD, as ECS does.
    // Without GUARD_RESOLVER from the caller's environment, no test rewrites the host's
    // /etc/resolv.conf.
    cmd.env_remove("LD_PRELOAD")
        .env_remove("GUARD_RESOLVER")
        .env("GUARD_PRELOAD_LIB", &guard.lib);
    cmd
}

#[test]
fn is_statically_linked() {
    if !require::commands("is_statically_linked", &["file", "readelf"]) {
        return;
    }
    let bin = artifacts::guard_exec();
    let file = Command::new("file").arg(&bin).output().unwrap();
    let text = String::from_utf8_lossy(&file.stdout);
    assert!(
        text.contains("statically linked") || text.contains("static-pie"),
        "{text}"
    );
    let dynamic = Command::new("readelf")
        .arg("-d")
        .arg(&bin)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&dynamic.stdout).contains("NEEDED"));
    let headers = Command::new("readelf")
        .arg("-l")
        .arg(&bin)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&headers.stdout).contains("INTERP"));
}

#[test]
fn replaces_itself_keeps_pid_and_exit_code_and_sets_the_environment() {
    let guard = Guard::new(POLICY).unwrap();
    let mut cmd = guard_exec(&guard);
    // Without the supervisor (GUARD_SUPERVISE=off) guard-exec becomes the app; with it, the
    // app is its child (tests/tests/supervise.rs).
    cmd.env("LD_PRELOAD", "/nonexistent/other.so")
        .env("GUARD_SUPERVISE", "off")
        .env_remove("GUARD_FAIL")
        .args([
            "--",
            "sh",
            "-c",
            "echo pid=$$; echo \"P=$LD_PRELOAD\"; echo F=$GUARD_FAIL; exit 42",
        ]);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = child.spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(42), "{stdout}");
    assert!(
        stdout.contains(&format!("pid={pid}\n")),
        "same PID: {stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "P=/nonexistent/other.so:{}\n",
            guard.lib.display()
        )),
        "appended, not replaced: {stdout}"
    );
    assert!(stdout.contains("F=closed\n"), "{stdout}");
}

#[test]
fn a_denied_program_is_not_started() {
    let guard = Guard::new(POLICY).unwrap();
    let prog = guard.path("denied-prog");
    let marker = guard.path("ran");
    std::fs::write(&prog, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = guard_exec(&guard).arg(&prog).output().unwrap();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("process.deny:denied-prog"), "{stderr}");
    assert!(!marker.exists());
    let program = prog.display().to_string();
    expect_event(
        &guard.events(),
        "blocked",
        &program,
        "guard-exec",
        &guard.version(),
    );
    // PATH search, and a missing program.
    let path = format!("{}:/usr/bin:/bin", guard.dir.display());
    let out = guard_exec(&guard)
        .arg("denied-prog")
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    let out = guard_exec(&guard)
        .arg("no-such-program-xyz")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[test]
fn waits_for_the_policy_then_fails_closed_or_opens() {
    let guard = Guard::empty().unwrap();
    // Closed: no policy after GUARD_WAIT -> a clear error, nothing started.
    let marker = guard.path("ran");
    let script = format!("touch {}", marker.display());
    let out = guard_exec(&guard)
        .env("GUARD_WAIT", "1")
        .args(["sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no valid policy") && stderr.contains("GUARD_FAIL=closed"),
        "{stderr}"
    );
    assert!(!marker.exists());
    // Open: starts anyway, and the shim inside lets things run too.
    let out = guard_exec(&guard)
        .env("GUARD_WAIT", "1")
        .env("GUARD_FAIL", "open")
        .args(["sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(marker.exists());
    // A policy that appears while waiting is used.
    std::fs::remove_file(&marker).unwrap();
    let child = guard_exec(&guard)
        .env("GUARD_WAIT", "20")
        .args(["sh", "-c", &script])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    guard.set_policy(POLICY).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("waiting up to 20s"));
    assert!(marker.exists());
}

#[test]
fn resolver_points_resolv_conf_at_the_sidecar_or_says_why_not() {
    let guard = Guard::new(POLICY).unwrap();
    let conf = guard.path("resolv.conf");
    std::fs::write(&conf, "nameserver 10.0.0.2\nsearch ec2.internal\n").unwrap();
    let out = guard_exec(&guard)
        .args(["--resolver", "127.0.0.1", "--resolv-conf"])
        .arg(&conf)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains("nameserver 127.0.0.1\n") && !text.contains("10.0.0.2"),
        "{text}"
    );
    assert!(text.contains("search ec2.internal"), "{text}");
    // Not writable (a directory stands in for a read-only file): it says so and goes on.
    let out = guard_exec(&guard)
        .args(["--resolver", "127.0.0.1", "--resolv-conf"])
        .arg(&guard.dir)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot point"),
        "{out:?}"
    );
    let out = guard_exec(&guard)
        .args(["--resolver", "localhost", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an IP address"));
}

#[test]
fn guard_resolver_variable_does_what_the_flag_does() {
    let guard = Guard::new(POLICY).unwrap();
    let conf = guard.path("resolv.conf");
    let vpc = "nameserver 10.0.0.2\nsearch ec2.internal\noptions ndots:2\n";
    std::fs::write(&conf, vpc).unwrap();
    // What guard-embed puts into a task definition, with the entryPoint prefix unchanged.
    let out = guard_exec(&guard)
        .env("GUARD_RESOLVER", "127.0.0.1")
        .arg("--resolv-conf")
        .arg(&conf)
        .args(["--", "sh", "-c", "echo ran"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.lines().any(|l| l == "nameserver 127.0.0.1") && !text.contains("10.0.0.2"),
        "{text}"
    );
    assert!(
        text.contains("search ec2.internal\n") && text.contains("options ndots:2\n"),
        "{text}"
    );

    // --resolver wins over the variable.
    std::fs::write(&conf, vpc).unwrap();
    let out = guard_exec(&guard)
        .env("GUARD_RESOLVER", "127.0.0.1")
        .args(["--resolver", "127.0.0.2", "--resolv-conf"])
        .arg(&conf)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.lines().any(|l| l == "nameserver 127.0.0.2"), "{text}");

    // Empty means off: the file is untouched.
    std::fs::write(&conf, vpc).unwrap();
    let out = guard_exec(&guard)
        .env("GUARD_RESOLVER", "")
        .arg("--resolv-conf")
        .arg(&conf)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), vpc);

    // Not writable: a warning, and the app still starts.
    let out = guard_exec(&guard)
        .env("GUARD_RESOLVER", "127.0.0.1")
        .arg("--resolv-conf")
        .arg(&guard.dir)
        .args(["--", "sh", "-c", "echo ran"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot point"),
        "{out:?}"
    );

    // Not an IP: said so, resolv.conf left alone, the app still starts.
    let out = guard_exec(&guard)
        .env("GUARD_RESOLVER", "sidecar")
        .arg("--resolv-conf")
        .arg(&conf)
        .args(["--", "sh", "-c", "echo ran"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GUARD_RESOLVER: `sidecar` is not an IP address"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), vpc);
}

#[test]
fn unprotected_programs_are_reported() {
    let guard = Guard::new(POLICY).unwrap();
    // Itself static: guard-exec running a copy of guard-exec.
    let copy = guard.path("static-prog");
    std::fs::copy(artifacts::guard_exec(), &copy).unwrap();
    let out = guard_exec(&guard)
        .arg(&copy)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("static binary"));
    // setuid.
    let suid = guard.path("suid-true");
    std::fs::copy("/bin/true", &suid).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let out = guard_exec(&guard).arg(&suid).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let events = guard.events();
    let reason = |program: &std::path::Path| -> String {
        find(&events, "unprotected", &program.display().to_string())
            .first()
            .and_then(|e| e["reason"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(reason(&copy).contains("static"), "{events:#?}");
    assert!(reason(&suid).contains("setuid"), "{events:#?}");
}
