//! `scripts/demo`: runs the end-to-end scenario (the same code as `tests/tests/e2e.rs`) and
//! prints a readable report instead of asserting.
//!
//! Usage (as root, after `cargo xtask dist` and `cargo build --release -p guard-embed`):
//! `cargo run --release -p guard-tests --example demo [-- WORK_DIR]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use guard_tests::scenario::{Inputs, Scenario};
use guard_tests::{artifacts, netns, report};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!(
            "the demo creates network namespaces and mounts: run it as root (sudo ./scripts/demo)"
        );
    }
    let work = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("taskguard-demo-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&work);
    let root = artifacts::workspace_root();
    let mut inputs = Inputs::examples(
        &root,
        artifacts::dist_dir(),
        artifacts::workspace_bin("guard-embed"),
        work,
    );
    inputs.netns_prefix = "taskguard-demo".into();
    let (name, inode) = {
        let mut run = Scenario::start(&inputs).context("starting the demo task")?;
        let name = run.task.netns.name().to_string();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(run.task.netns.path())?);
        let check = run
            .check_policy(
                &root.join("tests/dig/check-policy"),
                &root.join("examples/expectations"),
            )
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_else(|e| format!("could not run: {e:#}"));
        let edit = run
            .edit_policy(Duration::from_secs(3))
            .context("editing the policy")?;
        let after = run.kill_sidecar().context("killing the sidecar")?;
        print!("{}", report::render(&run, &check, &edit, &after));
        (name, inode)
    };
    let left = netns::processes_in_netns(inode);
    println!(
        "Cleaned up: namespace {name} {}, {} process(es) left.",
        if netns::exists(&name) {
            "STILL EXISTS"
        } else {
            "removed"
        },
        left.len()
    );
    Ok(())
}
