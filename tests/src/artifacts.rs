//! Where the built programs are.
//!
//! `scripts/test` builds everything first (`cargo build --release --workspace` and
//! `cargo xtask dist`); tests only find and run the results, and fail with the command to run
//! when something is missing.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The sidecar volume layout built by `cargo xtask dist` (override with `GUARD_DIST`).
pub fn dist_dir() -> PathBuf {
    match std::env::var_os("GUARD_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("dist").join("guard"),
    }
}

/// A file of the dist layout, e.g. `dist_file("bin/dns-guard")`. Panics with the command that
/// builds it when it is missing.
pub fn dist_file(relative: &str) -> PathBuf {
    let path = dist_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask dist` (or ./scripts/test, which does)",
        path.display()
    );
    path
}

pub fn dns_guard() -> PathBuf {
    dist_file("bin/dns-guard")
}

pub fn guard_exec() -> PathBuf {
    dist_file("bin/guard-exec")
}

pub fn preload_lib() -> PathBuf {
    dist_file("lib/libguard_preload.so")
}

/// The cargo profile directory the tests were built into (`target/release` or
/// `target/debug`), found from the running test binary (`target/<profile>/deps/<test>`).
pub fn profile_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
        .unwrap_or_else(|| workspace_root().join("target").join("release"))
}

/// A workspace binary that is not part of the dist layout (e.g. `guard-embed`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release --workspace` (or ./scripts/test)",
        path.display()
    );
    path
}
