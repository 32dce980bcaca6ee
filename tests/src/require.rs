//! Preconditions that skip a test on a developer's machine and fail it under CI.

use std::process::Command;

/// True when running under CI (`CI=true`), where skipping is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Skips (returns false) outside CI, panics under CI, with the reason.
pub fn skip(test: &str, reason: &str) -> bool {
    assert!(!in_ci(), "{test}: cannot run under CI: {reason}");
    eprintln!("SKIP {test}: {reason}");
    false
}

/// Whether the test may run as root (namespaces, port 53, mounts).
pub fn root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        true
    } else {
        skip(test, "needs root")
    }
}

/// Whether every named program is on PATH.
pub fn commands(test: &str, names: &[&str]) -> bool {
    for name in names {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return skip(
                test,
                &format!("`{name}` is not installed (./.ci/run installs it)"),
            );
        }
    }
    true
}
