//! A container made of Linux namespaces: the task's network namespace, and a mount namespace
//! of its own whose root is a tmpfs holding read-only binds of the host's top-level
//! directories, the task's volumes, a private `/tmp` and its own `/etc/resolv.conf`.
//!
//! That is what a Fargate container is to the programs in it (minus cgroups and a PID
//! namespace, which TaskGuard does not use): it shares `127.0.0.1` with the other containers,
//! sees the sidecar's volume where `volumesFrom` puts it, and cannot see the other containers'
//! files. Everything here runs in the child between fork and exec, so it is raw system calls
//! over strings prepared beforehand.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::netns::{NetNs, setns_raw};

/// A path from the host mounted into the container.
#[derive(Debug, Clone)]
pub struct Bind {
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
}

/// How to start one container's main process.
pub struct Spec {
    pub name: String,
    /// An empty host directory; the container's root tmpfs is mounted on it (only inside the
    /// container's own mount namespace, so the host never sees anything there).
    pub root: PathBuf,
    pub binds: Vec<Bind>,
    /// Full command line: entryPoint followed by command. `argv[0]` is looked up on the
    /// container's `PATH` like Docker does.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `user` of the container definition as uid and gid.
    pub user: Option<(u32, u32)>,
    pub workdir: String,
    /// The task's hostname (own UTS namespace, like a container).
    pub hostname: String,
    pub stdout: File,
    pub stderr: File,
}

/// Parses a container definition's `user` ("uid", "uid:gid"; names are not resolved here).
pub fn parse_user(user: &str) -> Result<(u32, u32)> {
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    let parse = |s: &str| {
        s.parse::<u32>()
            .with_context(|| format!("user {user:?}: only numeric uid[:gid] is supported"))
    };
    Ok((parse(uid)?, parse(gid)?))
}

enum Step {
    Mkdir(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    Bind {
        source: CString,
        target: CString,
        recursive: bool,
        read_only: bool,
        /// A host directory programs rarely need (`/mnt`, `/media`, `/srv`...): a bind that
        /// fails (an automount, an odd filesystem) leaves it empty instead of failing the
        /// container.
        optional: bool,
    },
}

/// Host top-level directories every container needs; the others are optional.
const ESSENTIAL: &[&str] = &[
    "bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "var", "run", "proc", "sys",
    "dev",
];

/// Host top-level entries that are not bound read-only from the host.
const SPECIAL: &[&str] = &["proc", "sys", "dev", "tmp", "lost+found"];

fn cstring(path: impl AsRef<OsStr>) -> Result<CString> {
    CString::new(path.as_ref().as_bytes()).context("path contains a NUL byte")
}

/// The mount steps for a root under `root`, in order.
fn plan(root: &Path, binds: &[Bind]) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let bind_tops: Vec<&str> = binds
        .iter()
        .filter_map(|b| b.target.trim_start_matches('/').split('/').next())
        .collect();
    for entry in std::fs::read_dir("/").context("reading /")? {
        let entry = entry.context("reading /")?;
        let name = entry.file_name();
        let Some(name_str) = name.to_str() else {
            continue;
        };
        if bind_tops.contains(&name_str) && !matches!(name_str, "etc" | "proc" | "sys" | "dev") {
            continue;
        }
        let file_type = entry.file_type().context("reading /")?;
        let inside = root.join(&name);
        if file_type.is_symlink() {
            let target = std::fs::read_link(entry.path()).context("reading a link in /")?;
            steps.push(Step::Symlink {
                target: cstring(&target)?,
                link: cstring(&inside)?,
            });
        } else if file_type.is_dir() {
            if name_str == "tmp" || name_str == "lost+found" {
                continue;
            }
            steps.push(Step::Mkdir(cstring(&inside)?));
            steps.push(Step::Bind {
                source: cstring(entry.path())?,
                target: cstring(&inside)?,
                recursive: true,
                read_only: !SPECIAL.contains(&name_str),
                optional: !ESSENTIAL.contains(&name_str),
            });
        } else if file_type.is_file() || file_type.is_socket() {
            // Stray files at the top level (e.g. container_info.json) stay outside.
        }
    }
    for bind in binds {
        if !bind.target.starts_with('/') {
            bail!("bind target {:?} is not absolute", bind.target);
        }
        let inside = root.join(bind.target.trim_start_matches('/'));
        if bind.source.is_dir() {
            // Create every missing component (inside the tmpfs or an earlier writable bind).
            let mut path = root.to_path_buf();
            for part in bind
                .target
                .trim_start_matches('/')
                .split('/')
                .filter(|p| !p.is_empty())
            {
                path.push(part);
                steps.push(Step::Mkdir(cstring(&path)?));
            }
        }
        steps.push(Step::Bind {
            source: cstring(&bind.source)?,
            target: cstring(&inside)?,
            recursive: false,
            read_only: bind.read_only,
            optional: false,
        });
    }
    Ok(steps)
}

fn check(ret: libc::c_int) -> std::io::Result<()> {
    if ret != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn run_steps(root: &CString, steps: &[Step]) -> std::io::Result<()> {
    let none = std::ptr::null();
    // SAFETY (all blocks below): raw mount/mkdir/symlink calls on NUL-terminated strings that
    // live as long as the closure; no allocation, no locks.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            c"tmpfs".as_ptr(),
            root.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=0755".as_ptr().cast(),
        ))?;
    }
    for step in steps {
        match step {
            Step::Mkdir(path) => {
                // SAFETY: see above.
                if unsafe { libc::mkdir(path.as_ptr(), 0o755) } != 0 {
                    let err = std::io::Error::last_os_error();
                    if err.raw_os_error() != Some(libc::EEXIST) {
                        return Err(err);
                    }
                }
            }
            Step::Symlink { target, link } => {
                // SAFETY: see above.
                check(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) })?;
            }
            Step::Bind {
                source,
                target,
                recursive,
                read_only,
                optional,
            } => {
                let flags = libc::MS_BIND | if *recursive { libc::MS_REC } else { 0 };
                // SAFETY: see above.
                unsafe {
                    let bound = check(libc::mount(
                        source.as_ptr(),
                        target.as_ptr(),
                        none,
                        flags,
                        std::ptr::null(),
                    ));
                    match bound {
                        Err(_) if *optional => continue,
                        other => other?,
                    }
                    if *read_only {
                        check(libc::mount(
                            none,
                            target.as_ptr(),
                            none,
                            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                            std::ptr::null(),
                        ))?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn set_hostname(hostname: &CString) -> std::io::Result<()> {
    // SAFETY: unshare/sethostname on a prepared string.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWUTS))?;
        check(libc::sethostname(
            hostname.as_ptr(),
            hostname.as_bytes().len(),
        ))
    }
}

fn enter_root(root: &CString, workdir: &CString) -> std::io::Result<()> {
    // SAFETY: chroot/chdir on prepared strings.
    unsafe {
        check(libc::chroot(root.as_ptr()))?;
        if libc::chdir(workdir.as_ptr()) != 0 {
            check(libc::chdir(c"/".as_ptr()))?;
        }
    }
    Ok(())
}

fn drop_privileges(user: Option<(u32, u32)>) -> std::io::Result<()> {
    if let Some((uid, gid)) = user {
        // SAFETY: plain credential system calls.
        unsafe {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setgid(gid))?;
            check(libc::setuid(uid))?;
        }
    }
    Ok(())
}

/// Starts a container's main process in its own process group.
pub fn spawn(netns: &NetNs, spec: Spec) -> Result<Child> {
    let Some(program) = spec.argv.first() else {
        bail!("container {}: empty entryPoint and command", spec.name);
    };
    std::fs::create_dir_all(&spec.root)
        .with_context(|| format!("creating {}", spec.root.display()))?;
    let steps = plan(&spec.root, &spec.binds)?;
    let root = cstring(&spec.root)?;
    let workdir = cstring(&spec.workdir)?;
    let hostname = cstring(&spec.hostname)?;
    let net = netns.open()?;
    let user = spec.user;
    let mut command = Command::new(program);
    command
        .args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(spec.stdout)
        .stderr(spec.stderr)
        .process_group(0);
    // SAFETY: the hook only makes raw system calls on data prepared above.
    unsafe {
        command.pre_exec(move || {
            setns_raw(&net, libc::CLONE_NEWNET)?;
            set_hostname(&hostname)?;
            run_steps(&root, &steps)?;
            enter_root(&root, &workdir)?;
            drop_privileges(user)
        });
    }
    command
        .spawn()
        .with_context(|| format!("starting container {}: {:?}", spec.name, spec.argv))
}

/// Runs a command inside a running container, like `docker exec`/ECS Exec: its namespaces,
/// root, user and the environment its main process started with (which includes what
/// guard-exec added, e.g. `LD_PRELOAD`, so this is what a program the app launches sees).
/// The container's program: `pid` itself, or its first child when `pid` is guard-exec
/// supervising it (the app then runs as guard-exec's child, with the environment guard-exec
/// gave it).
pub fn app_pid(pid: u32) -> u32 {
    let is_guard_exec = std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "guard-exec"));
    if !is_guard_exec {
        return pid;
    }
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()
        .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(pid)
}

pub fn exec_command(netns: &NetNs, pid: u32, argv: &[&str]) -> Result<Command> {
    let Some(program) = argv.first() else {
        bail!("exec: empty command")
    };
    let pid = app_pid(pid);
    // The file reads empty while the process is in the middle of an execve: retry briefly.
    let mut environ = Vec::new();
    for _ in 0..50 {
        environ = std::fs::read(format!("/proc/{pid}/environ"))
            .with_context(|| format!("reading the environment of container process {pid}"))?;
        if !environ.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let env: Vec<(String, String)> = environ
        .split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let id_of = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u32>().ok())
    };
    let user = match (id_of("Uid:"), id_of("Gid:")) {
        (Some(0), _) | (None, _) | (_, None) => None,
        (Some(uid), Some(gid)) => Some((uid, gid)),
    };
    let mnt = File::open(format!("/proc/{pid}/ns/mnt"))
        .with_context(|| format!("opening the mount namespace of {pid}"))?;
    let uts = File::open(format!("/proc/{pid}/ns/uts"))
        .with_context(|| format!("opening the UTS namespace of {pid}"))?;
    let root = File::open(format!("/proc/{pid}/root"))
        .with_context(|| format!("opening the root of {pid}"))?;
    let net = netns.open()?;
    let mut command = Command::new(program);
    command
        .args(&argv[1..])
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .process_group(0);
    // SAFETY: the hook only makes raw system calls on descriptors opened above.
    unsafe {
        command.pre_exec(move || {
            use std::os::fd::AsRawFd;
            setns_raw(&net, libc::CLONE_NEWNET)?;
            setns_raw(&uts, libc::CLONE_NEWUTS)?;
            setns_raw(&mnt, libc::CLONE_NEWNS)?;
            check(libc::fchdir(root.as_raw_fd()))?;
            check(libc::chroot(c".".as_ptr()))?;
            drop_privileges(user)
        });
    }
    Ok(command)
}
