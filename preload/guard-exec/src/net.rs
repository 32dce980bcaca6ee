//! Connection decisions of the supervisor: `connect` and the sends that carry a destination,
//! decided with the shim's own `[net]` code (`guard_preload_core::net::verdict`: the compiled
//! policy, the sidecar's answers ledger), one matcher.
//!
//! The filter sends these calls only when the policy has a `[net]` section when the app
//! starts ([`filtered`]), so a program under a policy without one pays nothing. A shimmed
//! caller's denied connections never get here (the shim refuses them before the system
//! call); its allowed ones are decided again, with the answers of its own lookups read from
//! its memory (the shim's exported table), so both agree and a denial is reported once: by
//! whichever of the two refused it.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;

use guard_contract::event::ACTION_BLOCKED;
use guard_ledger::{Ledger, SLOT_LEN, Slot};
use guard_policy::Destination;
use guard_preload_core::{Config, net, policy};

use crate::elf;
use crate::notify::read_mem;
use crate::report::{self, Dest, Report};
use crate::seccomp::{NetCall, Notif};

pub enum Verdict {
    Continue,
    Fail(i32),
}

/// Rule text of a call refused because its address changed while it was checked.
pub const RULE_ADDRESS_CHANGED: &str = "address-changed";

/// Most messages of one `sendmmsg` looked at (the kernel's own `UIO_MAXIOV`).
const MAX_MMSG: usize = 1024;
/// `struct msghdr` and `struct mmsghdr` on a 64-bit ABI.
const MSGHDR_LEN: usize = 56;
const MMSGHDR_LEN: usize = 64;

/// Whether `connect` and the destination-carrying sends go to the supervisor.
pub fn filtered(cfg: &Config) -> bool {
    policy::current(cfg.policy_bin()).is_some_and(|v| v.net().is_some())
}

/// Destinations already reported, per process (hashes of pid, address, port, action).
pub struct Seen(Mutex<HashSet<u64>>);

impl Seen {
    pub fn new() -> Seen {
        Seen(Mutex::new(HashSet::new()))
    }

    fn first(&self, key: u64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 4096 {
            seen.clear();
        }
        seen.insert(key)
    }
}

/// One destination a call carries: the address bytes as read (to compare on the second
/// read) and what they mean.
struct Target {
    raw: Vec<u8>,
    ip: IpAddr,
    port: u16,
}

/// The IP destination in the caller's socket address at `addr` (`len` bytes), `Ok(None)` for
/// another family or no address, `Err(errno)` when it cannot be read.
fn sockaddr(pid: u32, addr: u64, len: u64) -> Result<Option<Target>, i32> {
    if addr == 0 || len < 2 {
        return Ok(None);
    }
    let want = (len as usize).min(28);
    let mut raw = vec![0u8; want];
    if read_mem(pid, addr, &mut raw)? != want {
        return Err(libc::EFAULT);
    }
    let family = i32::from(u16::from_ne_bytes([raw[0], raw[1]]));
    let port = u16::from_be_bytes([raw[2], raw.get(3).copied().unwrap_or(0)]);
    let ip = match family {
        libc::AF_INET if want >= 16 => IpAddr::from([raw[4], raw[5], raw[6], raw[7]]),
        libc::AF_INET6 if want >= 28 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&raw[8..24]);
            IpAddr::from(o)
        }
        _ => return Ok(None),
    };
    Ok(Some(Target { raw, ip, port }))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

/// The (address, length) pairs a call sends to.
fn addresses(pid: u32, call: NetCall, args: &[u64; 6]) -> Result<Vec<(u64, u64)>, i32> {
    Ok(match call {
        NetCall::Connect => vec![(args[1], args[2] & 0xffff_ffff)],
        NetCall::Sendto => vec![(args[4], args[5] & 0xffff_ffff)],
        NetCall::Sendmsg => {
            let mut hdr = [0u8; MSGHDR_LEN];
            if args[1] == 0 || read_mem(pid, args[1], &mut hdr)? != MSGHDR_LEN {
                return Err(libc::EFAULT);
            }
            vec![(
                u64_at(&hdr, 0),
                u64::from(u32::from_ne_bytes([hdr[8], hdr[9], hdr[10], hdr[11]])),
            )]
        }
        NetCall::Sendmmsg => {
            let n = (args[2] & 0xffff_ffff).min(MAX_MMSG as u64) as usize;
            let mut vec = vec![0u8; n * MMSGHDR_LEN];
            if n > 0 && (args[1] == 0 || read_mem(pid, args[1], &mut vec)? != vec.len()) {
                return Err(libc::EFAULT);
            }
            vec.chunks(MMSGHDR_LEN)
                .map(|h| {
                    (
                        u64_at(h, 0),
                        u64::from(u32::from_ne_bytes([h[8], h[9], h[10], h[11]])),
                    )
                })
                .collect()
        }
    })
}

fn targets(pid: u32, call: NetCall, args: &[u64; 6]) -> Result<Vec<Target>, i32> {
    let mut out = Vec::new();
    for (addr, len) in addresses(pid, call, args)? {
        if let Some(t) = sockaddr(pid, addr, len)? {
            out.push(t);
        }
    }
    Ok(out)
}

/// Whether socket `fd` of `pid` is a stream socket (a duplicate taken with `pidfd_getfd`,
/// which needs the same access as reading its memory); `None` when it cannot be told.
fn is_stream(pid: u32, fd: i32) -> Option<bool> {
    // SAFETY: plain system calls on descriptors this function owns and closes.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as libc::c_int;
        if pidfd < 0 {
            return None;
        }
        let dup = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as libc::c_int;
        libc::close(pidfd);
        if dup < 0 {
            return None;
        }
        let mut ty: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let ok = libc::getsockopt(
            dup,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &mut len,
        ) == 0;
        libc::close(dup);
        ok.then_some(ty == libc::SOCK_STREAM)
    }
}

/// Whether the shim in `pid` recorded `ip` among its own lookups' answers.
fn answered_by_caller(pid: u32, shim_name: &[u8], ip: &IpAddr) -> bool {
    let Some(addr) = elf::symbol_in(pid, shim_name, b"GUARD_LOCAL_ANSWERS") else {
        return false;
    };
    let slots: Vec<Slot> = (0..net::LOCAL_SLOTS).map(|_| Slot::empty()).collect();
    // SAFETY: the slots are ours alone until the read is done; Slot is repr(C) of integers
    // (atomics), so any bytes are a valid value.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(
            slots.as_ptr().cast_mut().cast::<u8>(),
            slots.len() * SLOT_LEN,
        )
    };
    if read_mem(pid, addr, bytes) != Ok(bytes.len()) {
        return false;
    }
    let ip = Destination::new(*ip, 0).ip;
    Ledger::new(&slots).is_some_and(|l| l.contains(&net::key_of(&ip), net::now_secs()))
}

fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter().chain(&[0xff])) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The caller's argv from `/proc/PID/cmdline` (its launch's, for the event).
fn cmdline(pid: u32) -> Vec<Vec<u8>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .take(256)
        .map(<[u8]>::to_vec)
        .collect()
}

/// The process (thread group) of thread `tid`: notifications name the calling thread, events
/// and "once per process" mean the process.
fn tgid(tid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(tid)
}

/// What the supervisor needs to decide a connection.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub shim_name: &'a [u8],
    pub seen: &'a Seen,
    /// Whether the caller has the shim loaded (asked lazily: it reads `/proc/PID/maps`).
    pub shimmed: &'a dyn Fn(u32) -> bool,
    pub still_valid: &'a dyn Fn(u64) -> bool,
}

pub fn decide(ctx: &Ctx<'_>, call: NetCall, req: &Notif) -> Verdict {
    let pid = req.pid;
    let fd = req.data.args[0] as i32;
    let first = match targets(pid, call, &req.data.args) {
        Ok(t) => t,
        // As the kernel would answer a bad pointer now.
        Err(libc::EFAULT) => return Verdict::Fail(libc::EFAULT),
        // Unreadable memory (non-dumpable, another user): the shim decides alone, as for
        // launches.
        Err(_) => return Verdict::Continue,
    };
    if first.is_empty() {
        return Verdict::Continue;
    }
    let mut refusal = None;
    for t in &first {
        let Some(mut v) = net::verdict(ctx.cfg, t.ip, t.port, false) else {
            continue;
        };
        let shimmed = v.outcome.action.is_some() && (ctx.shimmed)(pid);
        if v.outcome.action.is_some()
            && shimmed
            && answered_by_caller(pid, ctx.shim_name, &t.ip)
            && let Some(again) = net::verdict(ctx.cfg, t.ip, t.port, true)
        {
            v = again;
        }
        let Some(action) = v.outcome.action else {
            continue;
        };
        // A shimmed caller's alerts and would-blocks were the shim's to report; a refusal
        // here is one the shim did not see (a raw system call), so it is reported here.
        let report = !(v.outcome.allow && shimmed);
        let stream = is_stream(pid, fd);
        let proto = match (stream, call) {
            (Some(true), _) | (None, NetCall::Connect) => "tcp",
            _ => "udp",
        };
        let dest = Destination::new(t.ip, t.port);
        let address = dest.ip.to_string();
        let process = if report { tgid(pid) } else { pid };
        if report
            && ctx.seen.first(hash(&[
                &process.to_ne_bytes(),
                address.as_bytes(),
                &t.port.to_be_bytes(),
                proto.as_bytes(),
                action.as_bytes(),
            ]))
        {
            let rule = v.rule_text();
            let r = Report {
                action,
                program: b"",
                rule: rule.as_bytes(),
                version: v.version,
                reason: "",
                argv: cmdline(pid),
                dest: Some(Dest {
                    address,
                    port: t.port,
                    protocol: proto,
                }),
            };
            report::send(ctx.cfg, process, &r);
        }
        if !v.outcome.allow {
            let errno = if call == NetCall::Connect || proto == "tcp" {
                libc::ECONNREFUSED
            } else {
                libc::EPERM
            };
            refusal = Some(errno);
            break;
        }
    }
    if let Some(errno) = refusal {
        return Verdict::Fail(errno);
    }
    // The kernel reads the address again after we answer: refuse one another thread changed
    // while it was checked (the window after the answer remains; see the threat model).
    let second = targets(pid, call, &req.data.args);
    if !(ctx.still_valid)(req.id) {
        return Verdict::Continue;
    }
    let same = second
        .is_ok_and(|s| s.len() == first.len() && s.iter().zip(&first).all(|(a, b)| a.raw == b.raw));
    if !same {
        let r = Report {
            action: ACTION_BLOCKED,
            program: b"",
            rule: RULE_ADDRESS_CHANGED.as_bytes(),
            version: "",
            reason: "the address changed while it was checked",
            argv: cmdline(pid),
            dest: Some(Dest {
                address: first[0].ip.to_string(),
                port: first[0].port,
                protocol: if call == NetCall::Connect {
                    "tcp"
                } else {
                    "udp"
                },
            }),
        };
        report::send(ctx.cfg, pid, &r);
        return Verdict::Fail(if call == NetCall::Connect {
            libc::ECONNREFUSED
        } else {
            libc::EPERM
        });
    }
    Verdict::Continue
}
