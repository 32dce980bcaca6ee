//! The event datagram (`guard_contract::event`): JSON built in a stack buffer, sent with one
//! non-blocking `sendto` on a fresh socket.
//!
//! A fresh socket per event (rather than one opened at start) because programs close or
//! reuse descriptors they did not open (`close_fds` in subprocess children, daemons closing
//! everything): writing to a reused descriptor number could put our JSON into the program's
//! own connection. Events are rare, so the extra `socket`/`close` costs nothing measurable.

use core::ffi::c_char;
use core::fmt::Write;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use guard_contract::event::MAX_DATAGRAM;

use crate::buf::Buf;
use crate::config::Config;
use crate::sys;

/// Events that could not be sent (socket absent or full). Readable for diagnostics.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

/// This process's own argv (set by the shim's constructor where the libc passes it), for
/// the events that are not about a launch: lookups and connections say which program made
/// them, as launch events do.
pub static PROCESS_ARGV: AtomicPtr<*const c_char> = AtomicPtr::new(core::ptr::null_mut());

/// Most argv entries looked at (the datagram limit cuts earlier in practice).
const MAX_ARGS: usize = 4096;

pub type Datagram = Buf<{ MAX_DATAGRAM + 1 }>;

/// What a report is about.
pub enum Subject<'a> {
    Name(&'a [u8]),
    Program(&'a [u8]),
    /// A connection or datagram: address text, port, `tcp` | `udp`.
    Destination {
        address: &'a [u8],
        port: u16,
        protocol: &'static str,
    },
}

pub struct Event<'a> {
    pub action: &'static str,
    pub subject: Subject<'a>,
    /// NULL-terminated argv of the launch, or NULL.
    pub argv: *const *const c_char,
    pub rule: &'a [u8],
    pub version: &'a str,
    pub api: &'static str,
    pub reason: &'a str,
}

/// Appends `bytes` as a JSON string; invalid UTF-8 becomes U+FFFD. All or nothing.
fn push_json_str<const N: usize>(out: &mut Buf<N>, bytes: &[u8]) -> bool {
    let mark = out.len();
    let mut ok = out.push_byte(b'"');
    for chunk in bytes.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            ok &= match b {
                b'"' => out.push(b"\\\""),
                b'\\' => out.push(b"\\\\"),
                b'\n' => out.push(b"\\n"),
                b'\r' => out.push(b"\\r"),
                b'\t' => out.push(b"\\t"),
                0..0x20 | 0x7f => write!(out, "\\u{:04x}", b).is_ok(),
                _ => out.push_byte(b),
            };
            if !ok {
                break;
            }
        }
        if !chunk.invalid().is_empty() {
            ok &= out.push(b"\\ufffd");
        }
        if !ok {
            break;
        }
    }
    ok &= out.push_byte(b'"');
    if !ok {
        out.truncate(mark);
    }
    ok
}

fn field<const N: usize>(out: &mut Buf<N>, key: &str, value: &[u8]) -> bool {
    let mark = out.len();
    let ok = out.push(b",\"")
        && out.push(key.as_bytes())
        && out.push(b"\":")
        && push_json_str(out, value);
    if !ok {
        out.truncate(mark);
    }
    ok
}

/// Builds the datagram. Fixed fields come first; `argv` is filled with as many whole
/// arguments as fit.
pub fn build(cfg: &Config, ev: &Event<'_>, out: &mut Datagram) {
    out.clear();
    let kind = match ev.subject {
        Subject::Name(_) => guard_contract::event::KIND_DNS,
        Subject::Program(_) => guard_contract::event::KIND_PROCESS,
        Subject::Destination { .. } => guard_contract::event::KIND_NET,
    };
    let _ = out.push(b"{\"kind\":") && push_json_str(out, kind.as_bytes());
    field(out, "action", ev.action.as_bytes());
    match ev.subject {
        Subject::Name(n) => field(out, "name", n),
        Subject::Program(p) => field(out, "program", p),
        Subject::Destination {
            address,
            port,
            protocol,
        } => {
            field(out, "address", address);
            let _ = write!(out, ",\"port\":{port}");
            field(out, "protocol", protocol.as_bytes())
        }
    };
    if !ev.rule.is_empty() {
        field(out, "rule", ev.rule);
    }
    if !ev.version.is_empty() {
        field(out, "policy_version", ev.version.as_bytes());
    }
    if !cfg.container().is_empty() {
        field(out, "container", cfg.container());
    }
    // SAFETY: getpid/getppid have no preconditions.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
    let _ = write!(out, ",\"pid\":{pid},\"ppid\":{ppid}");
    if !cfg.exe().is_empty() {
        field(out, "exe", cfg.exe().to_bytes());
    }
    field(out, "api", ev.api.as_bytes());
    if !ev.reason.is_empty() {
        field(out, "reason", ev.reason.as_bytes());
    }
    let argv = match ev.subject {
        Subject::Program(_) => ev.argv,
        _ if ev.argv.is_null() => PROCESS_ARGV.load(Ordering::Relaxed).cast_const(),
        _ => ev.argv,
    };
    if !argv.is_null() && out.push(b",\"argv\":[") {
        for i in 0..MAX_ARGS {
            // SAFETY: argv is NULL-terminated; we stop at the NULL.
            let arg = unsafe { *argv.add(i) };
            if arg.is_null() {
                break;
            }
            let mark = out.len();
            // SAFETY: argv entries are C strings.
            let bytes = unsafe { sys::cstr(arg) };
            let ok = (i == 0 || out.push_byte(b',')) && push_json_str(out, bytes);
            // Keep room for the closing `]}`.
            if !ok || out.remaining() < 2 {
                out.truncate(mark);
                break;
            }
        }
        out.push_byte(b']');
    }
    out.push_byte(b'}');
}

/// Sends one event; never blocks. Counts it in [`DROPPED`] when it cannot be delivered.
/// Not inlined: its 8 KiB buffer should only be on the stack (and probed) when reporting.
#[inline(never)]
pub fn send(cfg: &Config, ev: &Event<'_>) {
    let mut dgram = Datagram::new();
    build(cfg, ev, &mut dgram);
    if !send_datagram(cfg.events(), dgram.as_bytes()) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

fn send_datagram(path: &[u8], payload: &[u8]) -> bool {
    // SAFETY: sockaddr_un is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.is_empty() || path.len() >= addr.sun_path.len() {
        return false;
    }
    for (dst, &src) in addr.sun_path.iter_mut().zip(path) {
        *dst = src as c_char;
    }
    let len = core::mem::size_of::<libc::sa_family_t>() + path.len() + 1;
    // SAFETY: plain syscalls with valid buffers; the descriptor is closed on every path.
    unsafe {
        let fd = libc::socket(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return false;
        }
        let saved = sys::errno();
        let sent = sys::sendto(
            fd,
            payload.as_ptr(),
            payload.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            (&raw const addr).cast(),
            len as libc::socklen_t,
        );
        libc::close(fd);
        // Reporting must not disturb the errno the hooked call hands back.
        sys::set_errno(saved);
        sent == payload.len() as isize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_json_and_replaces_invalid_utf8() {
        let mut b = Buf::<64>::new();
        assert!(push_json_str(&mut b, b"a\"b\\c\n\x01\xff"));
        assert_eq!(b.as_bytes(), b"\"a\\\"b\\\\c\\n\\u0001\\ufffd\"");
    }

    #[test]
    fn truncates_argv_to_the_datagram() {
        let big = std::vec![b'x'; 3000];
        let mut s = big.clone();
        s.push(0);
        let argv = [
            s.as_ptr().cast(),
            s.as_ptr().cast(),
            s.as_ptr().cast(),
            core::ptr::null(),
        ];
        let cfg = Config::new();
        let ev = Event {
            action: "blocked",
            subject: Subject::Program(b"/bin/x"),
            argv: argv.as_ptr(),
            rule: b"process.deny:x",
            version: "v1",
            api: "execve",
            reason: "",
        };
        let mut out = Datagram::new();
        build(&cfg, &ev, &mut out);
        let text = core::str::from_utf8(out.as_bytes()).unwrap();
        assert!(text.len() <= MAX_DATAGRAM);
        assert!(text.ends_with("]}"), "{text}");
        assert_eq!(
            text.matches(&*std::string::String::from_utf8(big).unwrap())
                .count(),
            2
        );
    }
}
