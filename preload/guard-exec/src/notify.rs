//! The supervisor's side of the filter: receives each guarded call, reads its path from the
//! caller's memory, decides it with the compiled policy (the shim's own decision code, so one
//! matcher), and lets it continue or fails it with the shim's errno.
//!
//! The shim decides before the system call, so a denied launch from a shimmed process never
//! reaches here: what arrives is what the shim allowed (decided again, silently) or what it
//! cannot see (static programs, raw `syscall(SYS_execve)`). Hence one event per denied launch.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;

use guard_contract::event::{ACTION_BLOCKED, ACTION_UNPROTECTED};
use guard_policy::Verdict;
use guard_preload_core::launch::{self, Outcome, RULE_FAIL_CLOSED};
use guard_preload_core::{Config, policy};

use crate::net;
use crate::report::{self, Report};
use crate::seccomp::{self, Call, Notif, Resp};

/// Longest path read from the caller (the kernel's own limit).
const PATH_MAX: usize = 4096;
const AT_EMPTY_PATH: u64 = 0x1000;
const AT_FDCWD: i32 = -100;

/// Rule text of a launch refused because its path changed between two reads.
pub const RULE_PATH_CHANGED: &str = "path-changed";

pub struct Supervisor {
    pub cfg: Box<Config>,
    pub listener: libc::c_int,
    /// File name of the shim, to tell shimmed callers (their alerts are the shim's to report).
    pub shim_name: Vec<u8>,
    /// (pid, program) of the last launch reported: shells try the same program through
    /// several PATH entries (`/usr/bin/x`, `/bin/x`), one denial is one event.
    last: Mutex<Option<(u32, Vec<u8>)>>,
    unreadable_told: Mutex<Vec<u32>>,
    net_seen: net::Seen,
}

enum Answer {
    Continue,
    Fail(i32),
}

impl Supervisor {
    pub fn new(cfg: Box<Config>, listener: libc::c_int, shim_name: Vec<u8>) -> Supervisor {
        Supervisor {
            cfg,
            listener,
            shim_name,
            last: Mutex::new(None),
            unreadable_told: Mutex::new(Vec::new()),
            net_seen: net::Seen::new(),
        }
    }

    /// Serves notifications for as long as guard-exec runs (it exits with the app).
    ///
    /// Blocks in `SECCOMP_IOCTL_NOTIF_RECV` itself rather than in `poll` first: one system
    /// call and one wake-up less per notification, which is most of the round trip's cost.
    pub fn serve(&self) {
        loop {
            let mut req = Notif::default();
            // SAFETY: the kernel fills a zeroed seccomp_notif.
            if unsafe { libc::ioctl(self.listener, seccomp::IOCTL_NOTIF_RECV, &mut req) } < 0 {
                match errno() {
                    // The caller died or another thread took it; a signal: go on.
                    libc::ENOENT | libc::EINTR => continue,
                    // The listener is unusable (EBADF); nothing left to serve.
                    _ => return,
                }
            }
            let answer = self.decide(&req);
            let mut resp = Resp {
                id: req.id,
                ..Resp::default()
            };
            match answer {
                Answer::Continue => resp.flags = seccomp::SECCOMP_USER_NOTIF_FLAG_CONTINUE,
                Answer::Fail(e) => resp.error = -e,
            }
            // SAFETY: a valid seccomp_notif_resp; ENOENT (caller gone) needs nothing.
            unsafe { libc::ioctl(self.listener, seccomp::IOCTL_NOTIF_SEND, &resp) };
        }
    }

    fn still_valid(&self, id: u64) -> bool {
        // SAFETY: reads a u64 id.
        unsafe { libc::ioctl(self.listener, seccomp::IOCTL_NOTIF_ID_VALID, &id) == 0 }
    }

    fn decide(&self, req: &Notif) -> Answer {
        let pid = req.pid;
        let args = req.data.args;
        let (ptr, path_addr, argv_addr, dirfd, flags) = match seccomp::classify(&req.data) {
            Call::Execve { ptr } => (ptr, args[0], args[1], AT_FDCWD, 0),
            Call::Execveat { ptr } => (ptr, args[1], args[2], args[0] as i32, args[4]),
            Call::Net(call) => return self.decide_net(call, req),
            Call::Other => return Answer::Continue,
        };
        let first = match read_cstr(pid, path_addr) {
            Ok(p) => p,
            // What the kernel would answer for this pointer now; deciding it later, after
            // another thread mapped the page, would let an unchecked path through.
            Err(libc::EFAULT) => return Answer::Fail(libc::EFAULT),
            Err(libc::ENAMETOOLONG) => return Answer::Fail(libc::ENAMETOOLONG),
            Err(_) => return self.unreadable(req),
        };
        let Some(program) = program_path(pid, &first, dirfd, flags) else {
            return self.unreadable(req);
        };
        let (outcome, rule, version) = self.outcome(&program);
        let second = read_cstr(pid, path_addr);
        // Checked after the reads: the pid may have been reused by then.
        if !self.still_valid(req.id) {
            return Answer::Continue;
        }
        if second.as_deref() != Ok(first.as_slice()) {
            let r = Report {
                action: ACTION_BLOCKED,
                program: &program,
                rule: RULE_PATH_CHANGED.as_bytes(),
                version: &version,
                reason: "the path changed while it was checked",
                argv: read_argv(pid, argv_addr, ptr),
                dest: None,
            };
            report::send(&self.cfg, pid, &r);
            return Answer::Fail(libc::EACCES);
        }
        if outcome.allow {
            // Alerts and would-blocks of shimmed callers are the shim's to report.
            if let Some(action) = outcome.action
                && !self.shimmed(pid)
                && self.first_report(pid, &program)
            {
                self.report(pid, action, &program, &rule, &version, argv_addr, ptr);
            }
            return Answer::Continue;
        }
        if absent(&program) {
            // What the kernel would say; nothing to report (PATH search).
            return Answer::Fail(libc::ENOENT);
        }
        if self.first_report(pid, &program) {
            self.report(
                pid,
                ACTION_BLOCKED,
                &program,
                &rule,
                &version,
                argv_addr,
                ptr,
            );
        }
        Answer::Fail(libc::EACCES)
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        pid: u32,
        action: &'static str,
        program: &[u8],
        rule: &[u8],
        version: &str,
        argv_addr: u64,
        ptr: usize,
    ) {
        let r = Report {
            action,
            program,
            rule,
            version,
            reason: "",
            argv: read_argv(pid, argv_addr, ptr),
            dest: None,
        };
        report::send(&self.cfg, pid, &r);
    }

    /// The decision on `program` as the shim makes it: the stricter one over every name it is
    /// known by, in the policy's mode; without a policy, `GUARD_FAIL`.
    fn outcome(&self, program: &[u8]) -> (Outcome, Vec<u8>, String) {
        let Ok(c) = CString::new(program) else {
            return (deny(), b"unresolvable-path".to_vec(), String::new());
        };
        // `recent`, as the shim's lookups and connects: the `stat` of `policy.bin` was the
        // largest cost of the supervisor's own per launch, and a reload is seen within
        // 100 ms (the shim, which decides dynamic programs' launches first, checks every time).
        match policy::recent(self.cfg.policy_bin()) {
            None if self.cfg.fail_open => (allow(), Vec::new(), String::new()),
            None => (deny(), RULE_FAIL_CLOSED.as_bytes().to_vec(), String::new()),
            Some(view) => match launch::decide_program(&view, &c) {
                None => (allow(), Vec::new(), view.version().to_string()),
                Some(d) => {
                    let out = launch::outcome(view.mode(), d.verdict);
                    let rule = if d.verdict == Verdict::Allow {
                        Vec::new()
                    } else {
                        d.rule.to_string().into_bytes()
                    };
                    (out, rule, view.version().to_string())
                }
            },
        }
    }

    fn decide_net(&self, call: seccomp::NetCall, req: &Notif) -> Answer {
        let ctx = net::Ctx {
            cfg: &self.cfg,
            shim_name: &self.shim_name,
            seen: &self.net_seen,
            shimmed: &|pid| self.shimmed(pid),
            still_valid: &|id| self.still_valid(id),
        };
        match net::decide(&ctx, call, req) {
            net::Verdict::Continue => Answer::Continue,
            net::Verdict::Fail(e) => Answer::Fail(e),
        }
    }

    /// A caller whose memory cannot be read (it made itself non-dumpable, or changed user and
    /// guard-exec lacks CAP_SYS_PTRACE): let it go and say so once per process, rather than
    /// break every privilege-dropping entrypoint (gosu, su-exec).
    fn unreadable(&self, req: &Notif) -> Answer {
        if !self.still_valid(req.id) {
            return Answer::Continue;
        }
        let mut told = self
            .unreadable_told
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !told.contains(&req.pid) {
            if told.len() > 1024 {
                told.clear();
            }
            told.push(req.pid);
            drop(told);
            let exe = std::fs::read_link(format!("/proc/{}/exe", req.pid)).unwrap_or_default();
            let r = Report {
                action: ACTION_UNPROTECTED,
                program: exe.as_os_str().as_bytes(),
                rule: b"",
                version: "",
                reason: "the supervisor cannot read this process's memory (non-dumpable or another user): its launches are checked by the shim only",
                argv: Vec::new(),
                dest: None,
            };
            report::send(&self.cfg, req.pid, &r);
        }
        Answer::Continue
    }

    fn shimmed(&self, pid: u32) -> bool {
        if self.shim_name.is_empty() {
            return false;
        }
        std::fs::read(format!("/proc/{pid}/maps")).is_ok_and(|maps| {
            maps.windows(self.shim_name.len())
                .any(|w| w == self.shim_name.as_slice())
        })
    }

    fn first_report(&self, pid: u32, program: &[u8]) -> bool {
        let real = std::fs::canonicalize(OsStr::from_bytes(program))
            .map(|p| p.into_os_string().into_vec_bytes())
            .unwrap_or_else(|_| program.to_vec());
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let key = (pid, real);
        if last.as_ref() == Some(&key) {
            return false;
        }
        *last = Some(key);
        true
    }
}

trait IntoVecBytes {
    fn into_vec_bytes(self) -> Vec<u8>;
}
impl IntoVecBytes for std::ffi::OsString {
    fn into_vec_bytes(self) -> Vec<u8> {
        std::os::unix::ffi::OsStringExt::into_vec(self)
    }
}

fn allow() -> Outcome {
    Outcome {
        allow: true,
        action: None,
    }
}

fn deny() -> Outcome {
    Outcome {
        allow: false,
        action: Some(ACTION_BLOCKED),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn absent(program: &[u8]) -> bool {
    matches!(
        std::fs::metadata(OsStr::from_bytes(program)).map_err(|e| e.raw_os_error()),
        Err(Some(libc::ENOENT | libc::ENOTDIR))
    )
}

/// Reads up to `buf.len()` bytes at `addr` of `pid`: how many it got, or the errno.
pub fn read_mem(pid: u32, addr: u64, buf: &mut [u8]) -> Result<usize, i32> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: local points at buf; the remote side is only read by the kernel.
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    usize::try_from(n).map_err(|_| errno())
}

/// A NUL-terminated string at `addr` of `pid`, read a page at a time so a string that ends
/// just before an unmapped page is still read whole. `EFAULT` for a bad pointer, `EPERM`
/// (or `ESRCH`) when the caller cannot be read, `ENAMETOOLONG` past `PATH_MAX`.
pub fn read_cstr(pid: u32, addr: u64) -> Result<Vec<u8>, i32> {
    if addr == 0 {
        return Err(libc::EFAULT);
    }
    let mut out = Vec::new();
    let mut at = addr;
    let mut chunk = [0u8; 4096];
    while out.len() < PATH_MAX {
        let to_page = 4096 - (at % 4096) as usize;
        let n = read_mem(pid, at, &mut chunk[..to_page])?;
        if n == 0 {
            return Err(libc::EFAULT);
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
    Err(libc::ENAMETOOLONG)
}

/// The launched program's argv (for the event), pointers `ptr` bytes wide.
fn read_argv(pid: u32, addr: u64, ptr: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut total = 0;
    for i in 0..256u64 {
        let mut word = [0u8; 8];
        if addr == 0 || read_mem(pid, addr + i * ptr as u64, &mut word[..ptr]) != Ok(ptr) {
            break;
        }
        let p = if ptr == 4 {
            u64::from(u32::from_ne_bytes([word[0], word[1], word[2], word[3]]))
        } else {
            u64::from_ne_bytes(word)
        };
        if p == 0 {
            break;
        }
        let Ok(arg) = read_cstr(pid, p) else { break };
        total += arg.len();
        out.push(arg);
        if total > guard_contract::event::MAX_DATAGRAM {
            break;
        }
    }
    out
}

/// The absolute, normalised program a call launches: relative paths against the caller's
/// working directory or `dirfd`, `AT_EMPTY_PATH` through the descriptor's own path (what the
/// kernel will execute, whatever name it was opened by).
fn program_path(pid: u32, path: &[u8], dirfd: i32, flags: u64) -> Option<Vec<u8>> {
    let link = |what: String| {
        std::fs::read_link(what)
            .ok()
            .map(|p| p.into_os_string().into_vec_bytes())
    };
    let abs = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        let mut p = link(format!("/proc/{pid}/fd/{dirfd}"))?;
        // A deleted or fileless (memfd) program: decide on the name as the kernel shows it.
        if !p.starts_with(b"/") {
            p.insert(0, b'/');
        }
        p
    } else if path.starts_with(b"/") {
        path.to_vec()
    } else {
        let base = if dirfd == AT_FDCWD {
            link(format!("/proc/{pid}/cwd"))?
        } else {
            link(format!("/proc/{pid}/fd/{dirfd}"))?
        };
        let mut p = base;
        p.push(b'/');
        p.extend_from_slice(path);
        p
    };
    let mut out = guard_preload_core::path::PathBuf::new();
    if guard_preload_core::path::normalize(&abs, &mut out) {
        Some(out.as_bytes().to_vec())
    } else {
        None
    }
}
