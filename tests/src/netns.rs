//! Named network namespaces for a local task run, and the guarantee that nothing outlives them.
//!
//! A Fargate task is one network namespace shared by all its containers; here it is one made
//! with `ip netns add` (so `ip netns list` shows it while it exists). Everything the run starts
//! is inside it, which gives a cleanup that cannot miss a process: on drop every process whose
//! network namespace is this one is killed (whatever process group or session it moved to),
//! then the namespace is deleted. Names carry the creating process's pid, so a run killed
//! before it could clean up is swept by the next one ([`NetNs::sweep_stale`]).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where `ip netns add` bind-mounts named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// A network namespace with only a loopback interface (up), deleted on drop.
pub struct NetNs {
    name: String,
    /// Inode of the namespace, to recognise the processes inside it.
    inode: u64,
}

impl NetNs {
    /// Creates `PREFIX-PID-N` with `lo` up, after sweeping namespaces of dead runs.
    pub fn create(prefix: &str) -> Result<NetNs> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        Self::sweep_stale(prefix);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        ip(&["netns", "add", &name])?;
        let path = PathBuf::from(NETNS_DIR).join(&name);
        let inode = match std::fs::metadata(&path) {
            Ok(meta) => meta.ino(),
            Err(e) => {
                let _ = ip(&["netns", "del", &name]);
                return Err(e).with_context(|| format!("reading {}", path.display()));
            }
        };
        let netns = NetNs { name, inode };
        ip(&["-n", &netns.name, "link", "set", "lo", "up"])?;
        Ok(netns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, to be opened for `setns(2)`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// Opens the namespace for `setns(2)` in a child.
    pub fn open(&self) -> Result<File> {
        File::open(self.path()).with_context(|| format!("opening {}", self.path().display()))
    }

    /// Pids of every process inside the namespace.
    pub fn processes(&self) -> Vec<i32> {
        processes_in_netns(self.inode)
    }

    /// Kills every process inside the namespace and waits (up to 5 s) until none is left.
    /// Returns the pids still alive after that (normally none).
    pub fn kill_all(&self) -> Vec<i32> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.processes();
            if pids.is_empty() || Instant::now() > deadline {
                return pids;
            }
            for pid in pids {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Deletes namespaces named `PREFIX-PID-N` whose creating process is gone, with whatever
    /// still runs inside them.
    pub fn sweep_stale(prefix: &str) {
        let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            if PathBuf::from(format!("/proc/{pid}")).exists() {
                continue;
            }
            if let Ok(meta) = entry.metadata() {
                let stale = NetNs {
                    name: name.clone(),
                    inode: meta.ino(),
                };
                eprintln!("removing network namespace {name} left by a dead run");
                drop(stale);
            }
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let left = self.kill_all();
        if !left.is_empty() {
            eprintln!("netns {}: processes survived SIGKILL: {left:?}", self.name);
        }
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("netns {}: {e:#}", self.name);
        }
    }
}

/// Pids whose `/proc/PID/ns/net` is the namespace with this inode.
pub fn processes_in_netns(inode: u64) -> Vec<i32> {
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    proc_dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .map(|m| m.ino() == inode)
                .unwrap_or(false)
        })
        .collect()
}

/// Whether a named namespace exists (`ip netns list`).
pub fn exists(name: &str) -> bool {
    PathBuf::from(NETNS_DIR).join(name).exists()
}

/// Runs `ip ARGS`, failing with its stderr.
pub(crate) fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Enters a namespace from a `pre_exec` hook (only a raw system call: safe after fork).
pub fn setns_raw(fd: &File, nstype: libc::c_int) -> std::io::Result<()> {
    // SAFETY: setns on a valid descriptor we own.
    if unsafe { libc::setns(fd.as_raw_fd(), nstype) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
