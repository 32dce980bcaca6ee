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

const PREFIX: &str = "taskguard-demo";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C or SIGTERM: unwinding cannot run the task's cleanup from a signal, so SIGINT and
/// SIGTERM are blocked in every thread (children get an empty mask from std) and one thread
/// waits for them, cleans up the namespace and exits.
fn handle_interrupts() {
    // SAFETY: plain signal-mask calls on a local set, before any other thread exists.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut sig = 0;
        // SAFETY: sigwait on the set blocked above.
        unsafe { libc::sigwait(&set, &mut sig) };
        eprintln!("\ndemo: interrupted, cleaning up");
        // The namespaces this process created (NetNs names them PREFIX-PID-N).
        let mine = format!("{PREFIX}-{}-", std::process::id());
        for entry in std::fs::read_dir("/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&mine) {
                continue;
            }
            if let Ok(meta) = entry.metadata() {
                for pid in netns::processes_in_netns(std::os::unix::fs::MetadataExt::ino(&meta)) {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &name])
                .status();
        }
        // Reap our children, so nothing is left even as a zombie.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            // SAFETY: waitpid on any child of ours, non-blocking.
            let ret = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
            if ret < 0 {
                break;
            }
            if ret == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        std::process::exit(130);
    });
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
    handle_interrupts();
    let root = artifacts::workspace_root();
    let mut inputs = Inputs::examples(
        &root,
        artifacts::dist_dir(),
        artifacts::workspace_bin("guard-embed"),
        work,
    );
    inputs.netns_prefix = PREFIX.into();
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
        run.settle(Duration::from_millis(200), Duration::from_secs(3));
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
    static_app(&inputs.work_dir);
    Ok(())
}

/// A static app (a `CGO_ENABLED=0` Go service, here a gcc -static program) in a task of its
/// own: the shim cannot load into it, guard-exec's seccomp supervisor decides its launches.
fn static_app(work: &std::path::Path) {
    use guard_tests::static_task::{self, ALLOWED, DENIED};
    println!();
    println!("A static app (gcc -static, like a CGO_ENABLED=0 Go service) under guard-exec:");
    let dir = work.join("static-app");
    let _ = std::fs::remove_dir_all(&dir);
    let run = match static_task::run(
        &dir,
        PREFIX,
        artifacts::dist_dir(),
        artifacts::workspace_bin("guard-embed"),
    ) {
        Ok(run) => run,
        Err(e) => {
            println!("  could not run: {e:#}");
            return;
        }
    };
    for line in run.stdout.lines() {
        if line.contains(DENIED) || line.contains(ALLOWED) {
            println!("  {line}");
        }
    }
    for e in run.denied_events() {
        println!("  audit: {e}");
    }
    if run.denied_events().is_empty() {
        println!("  audit: NO EVENT for the denied launch of {DENIED}");
    }
}
