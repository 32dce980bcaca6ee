//! The decision for one outgoing connection or datagram, and its report.
//!
//! A destination is allowed by the policy's `[net]` section ([`guard_policy::PolicyView::
//! decide_net`]), which needs to know whether an allowed name resolved to the address in this
//! task: the sidecar's answers ledger (`answers.bin`, mapped read-only once) or this
//! process's own lookups ([`record_answer`], a small table in its memory). Everything here
//! is lock-free and allocation-free: it runs inside `connect`/`sendto` hooks, possibly in
//! many threads at once.

use core::fmt::Write;
use core::net::IpAddr;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use guard_ledger::{Ledger, Slot, key_v4};
use guard_policy::Destination;

use crate::buf::Buf;
use crate::config::Config;
use crate::event::{self, Event, Subject};
use crate::launch::{Decider, RuleText, outcome};
use crate::{policy, sys};

/// Answers of this process's own lookups. 256 slots: a process connects to a handful of
/// names at a time; older entries make room (see `guard_ledger`). Exported under a fixed
/// name so guard-exec's supervisor can find it in a shimmed caller's memory (the symbol's
/// offset in the shim's ELF file) and see the same answers the shim decided with.
#[unsafe(no_mangle)]
pub static GUARD_LOCAL_ANSWERS: [Slot; LOCAL_SLOTS] = [const { Slot::empty() }; LOCAL_SLOTS];
use GUARD_LOCAL_ANSWERS as LOCAL;

/// Slots of [`GUARD_LOCAL_ANSWERS`].
pub const LOCAL_SLOTS: usize = 256;

/// The mapped ledger file (null until mapped) and its length.
static SHARED: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
static SHARED_LEN: AtomicUsize = AtomicUsize::new(0);
static SHARED_INO: AtomicU64 = AtomicU64::new(0);
/// When the file was last looked for (CLOCK_MONOTONIC_COARSE ms; 0 = never).
static LAST_TRY_MS: AtomicU64 = AtomicU64::new(0);
/// How often a missing (or replaced) ledger file is looked for again.
const RETRY_MS: u64 = 1000;

/// Destinations already reported by this process (hashes; 0 = empty).
static SEEN: [AtomicU64; 512] = [const { AtomicU64::new(0) }; 512];

fn coarse(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes a timespec; the coarse clocks come from the vDSO, no syscall.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts
}

/// Unix seconds, as the ledger counts.
pub fn now_secs() -> u32 {
    coarse(libc::CLOCK_REALTIME_COARSE).tv_sec as u32
}

fn mono_ms() -> u64 {
    let ts = coarse(libc::CLOCK_MONOTONIC_COARSE);
    (ts.tv_sec as u64)
        .wrapping_mul(1000)
        .wrapping_add(ts.tv_nsec as u64 / 1_000_000)
        .max(1)
}

/// The 16-byte ledger key of an address.
pub fn key_of(ip: &IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => key_v4(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn local() -> Option<Ledger<'static>> {
    Ledger::new(&LOCAL)
}

/// Records an address this process's own lookup of an allowed name returned, for `secs`.
pub fn record_answer(ip: &IpAddr, secs: u32) {
    let now = now_secs();
    if let Some(l) = local() {
        l.insert(&key_of(ip), now.saturating_add(secs), now);
    }
}

/// The sidecar's ledger, mapped on first use and re-mapped when the sidecar replaced the
/// file (a new size); looked for at most every [`RETRY_MS`].
fn shared(cfg: &Config) -> Option<Ledger<'static>> {
    let base = SHARED.load(Ordering::Acquire);
    let now = mono_ms();
    let last = LAST_TRY_MS.load(Ordering::Relaxed);
    let due = last == 0 || now.wrapping_sub(last) >= RETRY_MS;
    if !base.is_null() && !due {
        // SAFETY: published mappings stay mapped for the life of the process.
        return unsafe { Ledger::from_mapping(base, SHARED_LEN.load(Ordering::Acquire)) };
    }
    if due
        && LAST_TRY_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        remap(cfg, base);
    }
    let base = SHARED.load(Ordering::Acquire);
    if base.is_null() {
        return None;
    }
    // SAFETY: as above.
    unsafe { Ledger::from_mapping(base, SHARED_LEN.load(Ordering::Acquire)) }
}

/// Maps the ledger file when it is not mapped yet or is another file than the mapped one.
/// An old mapping is left in place (another thread may be reading it): the leak is bounded
/// by sidecar restarts with a new ledger size.
fn remap(cfg: &Config, current: *mut u8) {
    let path = cfg.answers();
    if path.is_empty() {
        return;
    }
    let Ok(st) = sys::stat(path) else { return };
    if !current.is_null() && st.ino == SHARED_INO.load(Ordering::Relaxed) {
        return;
    }
    let Ok(fd) = sys::Fd::open(path, libc::O_RDONLY) else {
        return;
    };
    let Ok(st) = fd.stat() else { return };
    let len = usize::try_from(st.size).unwrap_or(0);
    if len == 0 {
        return;
    }
    let Ok(m) = sys::map_shared_random(&fd, len) else {
        return;
    };
    // SAFETY: a fresh page-aligned read-only mapping of len bytes.
    if unsafe { Ledger::from_mapping(m, len) }.is_none() {
        // SAFETY: ours alone, never published.
        unsafe { sys::unmap(m, len) };
        return;
    }
    // A reader may pair one mapping's pointer with the other's length for a moment; the
    // table's extent comes from the mapping's own header, which was checked against its
    // own length above, so a mismatch only makes one lookup miss.
    SHARED_LEN.store(len, Ordering::Release);
    SHARED_INO.store(st.ino, Ordering::Relaxed);
    SHARED.store(m.cast_mut(), Ordering::Release);
}

/// Whether an allowed name resolved to `ip` in this task (and the entry is still alive).
pub fn answered(cfg: &Config, ip: &IpAddr) -> bool {
    let key = key_of(ip);
    let now = now_secs();
    local().is_some_and(|l| l.contains(&key, now))
        || shared(cfg).is_some_and(|l| l.contains(&key, now))
}

/// True the first time this process reports `hash` (and when the set is full).
fn first_report(hash: u64) -> bool {
    let h = hash | 1;
    let mut i = (h as usize) % SEEN.len();
    for _ in 0..16 {
        let slot = &SEEN[i];
        match slot.compare_exchange(0, h, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(v) if v == h => return false,
            Err(_) => i = (i + 1) % SEEN.len(),
        }
    }
    true
}

fn report_hash(key: &[u8; 16], port: u16, proto: &str, action: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    key.iter().copied().for_each(&mut mix);
    port.to_be_bytes().into_iter().for_each(&mut mix);
    proto.bytes().chain(action.bytes()).for_each(&mut mix);
    h
}

/// The policy's decision on a destination, for a caller that reports it itself.
pub struct NetVerdict {
    pub outcome: crate::launch::Outcome,
    pub rule: guard_policy::RuleRef<'static>,
    pub version: &'static str,
}

impl NetVerdict {
    /// The deciding rule as the audit event names it. Formatted only for a report, so an
    /// allowed connect pays nothing for it.
    pub fn rule_text(&self) -> RuleText {
        let mut rule = RuleText::new();
        Decider::Rule(self.rule).write(&mut rule);
        rule
    }
}

/// The `[net]` decision on `ip:port`, `answered_elsewhere` telling that an allowed name was
/// resolved to `ip` somewhere this process's tables cannot see (the supervisor passes what it
/// read from the caller's own table). `None` means go ahead silently: no usable policy, no
/// `[net]` section, or loopback.
pub fn verdict(
    cfg: &Config,
    ip: IpAddr,
    port: u16,
    answered_elsewhere: bool,
) -> Option<NetVerdict> {
    let view = policy::recent(cfg.policy_bin())?;
    view.net()?;
    let dest = Destination::new(ip, port);
    if dest.is_loopback() {
        return None;
    }
    let answered = answered_elsewhere || answered(cfg, &dest.ip);
    let d = view.decide_net(&dest, answered);
    Some(NetVerdict {
        outcome: outcome(view.mode(), d.verdict),
        rule: d.rule,
        version: view.version(),
    })
}

/// Decides a connection or datagram on socket `fd` to `ip:port` (`is_stream` tells TCP from
/// UDP, asked only for a report), reports it once
/// per process and destination when the policy says so, and says whether it may go ahead.
/// Without a usable policy, or without a `[net]` section, everything goes ahead: name
/// lookups are where a missing policy fails closed.
pub fn decide(
    cfg: &Config,
    api: &'static str,
    fd: core::ffi::c_int,
    is_stream: fn(core::ffi::c_int) -> bool,
    ip: IpAddr,
    port: u16,
) -> bool {
    let Some(v) = verdict(cfg, ip, port, false) else {
        return true;
    };
    let out = v.outcome;
    let Some(action) = out.action else {
        return out.allow;
    };
    let ip = Destination::new(ip, port).ip;
    let proto = if is_stream(fd) { "tcp" } else { "udp" };
    if first_report(report_hash(&key_of(&ip), port, proto, action)) {
        let mut shown = Buf::<64>::new();
        if write!(shown, "{ip}").is_err() {
            shown.clear();
        }
        event::send(
            cfg,
            &Event {
                action,
                subject: Subject::Destination {
                    address: shown.as_bytes(),
                    port,
                    protocol: proto,
                },
                argv: core::ptr::null(),
                rule: v.rule_text().as_bytes(),
                version: v.version,
                api,
                reason: "",
            },
        );
    }
    out.allow
}

/// How long a process's own lookup answer counts (it has no TTL to go by): a minute plus the
/// policy's grace. `None` when the policy has no `[net]` section (nothing to record for).
pub fn local_answer_secs() -> Option<u32> {
    let net = policy::current_unchecked()?.net()?;
    Some(net.grace().saturating_add(60))
}

/// Records every IPv4/IPv6 address of a `getaddrinfo` result list.
///
/// # Safety
/// `res` must be NULL or a list returned by `getaddrinfo`.
pub unsafe fn record_addrinfo(res: *const libc::addrinfo) {
    let Some(secs) = local_answer_secs() else {
        return;
    };
    let mut ai = res;
    let mut n = 0;
    while !ai.is_null() && n < 256 {
        // SAFETY: a node of the caller's list.
        let node = unsafe { &*ai };
        // SAFETY: ai_addr holds ai_addrlen bytes.
        if let Some(ip) = unsafe { ip_of(node.ai_addr, node.ai_addrlen) } {
            record_answer(&ip, secs);
        }
        ai = node.ai_next;
        n += 1;
    }
}

/// Records the addresses of a `hostent` (`gethostbyname*`).
///
/// # Safety
/// `h` must be NULL or a hostent filled by the resolver.
pub unsafe fn record_hostent(h: *const libc::hostent) {
    let Some(secs) = local_answer_secs() else {
        return;
    };
    if h.is_null() {
        return;
    }
    // SAFETY: the resolver's hostent, with a NULL-terminated h_addr_list.
    unsafe {
        let (ty, len, list) = ((*h).h_addrtype, (*h).h_length, (*h).h_addr_list);
        if list.is_null() {
            return;
        }
        for i in 0..256 {
            let a = *list.add(i);
            if a.is_null() {
                break;
            }
            let ip = match (ty, len) {
                (libc::AF_INET, 4) => {
                    let mut o = [0u8; 4];
                    ptr::copy_nonoverlapping(a.cast::<u8>(), o.as_mut_ptr(), 4);
                    IpAddr::from(o)
                }
                (libc::AF_INET6, 16) => {
                    let mut o = [0u8; 16];
                    ptr::copy_nonoverlapping(a.cast::<u8>(), o.as_mut_ptr(), 16);
                    IpAddr::from(o)
                }
                _ => break,
            };
            record_answer(&ip, secs);
        }
    }
}

/// # Safety
/// `addr` must be NULL or `len` readable bytes.
unsafe fn ip_of(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<IpAddr> {
    if addr.is_null() {
        return None;
    }
    let len = len as usize;
    // SAFETY: per the caller; the family decides how much is read.
    unsafe {
        match core::ffi::c_int::from((*addr).sa_family) {
            libc::AF_INET if len >= core::mem::size_of::<libc::sockaddr_in>() => {
                let sin = addr.cast::<libc::sockaddr_in>().read_unaligned();
                Some(IpAddr::from(
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                ))
            }
            libc::AF_INET6 if len >= core::mem::size_of::<libc::sockaddr_in6>() => {
                let sin6 = addr.cast::<libc::sockaddr_in6>().read_unaligned();
                Some(IpAddr::from(sin6.sin6_addr.s6_addr))
            }
            _ => None,
        }
    }
}
