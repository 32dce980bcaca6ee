//! Project automation. `cargo xtask dist [--out DIR]` builds the sidecar volume layout:
//!
//! ```text
//! DIR/bin/dns-guard            the sidecar daemon
//! DIR/bin/guard-exec           the launcher, statically linked (runs in distroless and Alpine)
//! DIR/lib/libguard_preload.so  the preload shim
//! DIR/run/                     empty; dns-guard publishes policy.json, policy.bin, events.sock
//! ```
//!
//! `DIR` defaults to `dist/guard` (or `$GUARD_DIST`). The sidecar `Dockerfile` copies exactly
//! this layout, and the tests run the files from here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use guard_contract as contract;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dist") => dist(&args[1..]),
        _ => bail!("usage: cargo xtask dist [--out DIR]"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn dist(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let out = match args {
        [] => std::env::var_os("GUARD_DIST")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("dist").join("guard")),
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask dist [--out DIR]"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));

    run(Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--release", "-p", "dns-guard"]))?;
    // The preload library is built on its own: built together with a std crate, cargo's
    // feature unification would give guard-policy its std `compile` feature and link std
    // (and libgcc_s) into the library.
    run(Command::new(&cargo).current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "guard-preload",
    ]))?;

    // guard-exec must start in images without a (matching) libc, so it is linked statically.
    // Building it for an explicit --target keeps RUSTFLAGS away from build scripts and from
    // the host artifacts above.
    let triple = host_triple()?;
    run(Command::new(&cargo)
        .current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args([
            "build",
            "--release",
            "-p",
            "guard-exec",
            "--target",
            &triple,
        ]))?;

    let release = target_dir.join("release");
    let static_release = target_dir.join(&triple).join("release");
    let bin = out.join(contract::VOLUME_BIN_DIR);
    let lib = out.join(contract::VOLUME_LIB_DIR);
    let run_dir = out.join(contract::VOLUME_RUN_DIR);
    for dir in [&bin, &lib, &run_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    install(
        &release.join("dns-guard"),
        &bin.join(contract::DNS_GUARD_FILE),
        0o755,
    )?;
    install(
        &static_release.join("guard-exec"),
        &bin.join(contract::GUARD_EXEC_FILE),
        0o755,
    )?;
    install(
        &release.join("libguard_preload.so"),
        &lib.join(contract::PRELOAD_FILE),
        0o644,
    )?;
    println!("dist: {}", out.display());
    Ok(())
}

fn host_triple() -> Result<String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host triple")
}

/// Copies through a temporary file and a rename, so a running process never sees a partly
/// written binary.
fn install(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let tmp = to.with_extension("tmp-install");
    std::fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, to).with_context(|| format!("installing {}", to.display()))?;
    Ok(())
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
