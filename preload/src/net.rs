//! Outgoing connections and datagrams: `connect`, `sendto`, `sendmsg`, `sendmmsg` for IPv4
//! and IPv6 destinations (IPv4-mapped IPv6 decided as IPv4). A denied connect fails with
//! `ECONNREFUSED` (as a REJECT firewall answers; non-blocking sockets too, at once), a
//! denied datagram with `EPERM`. Other families, and sends without an address (connected
//! sockets, already decided at `connect`), go straight to the real call.

use core::ffi::{c_int, c_uint, c_void};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use guard_preload_core::{net, sys};

use crate::init::config;
use crate::real::{self, call_real};

/// The IP destination of a socket address, if it is one.
fn destination(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<(IpAddr, u16)> {
    if addr.is_null() {
        return None;
    }
    let len = len as usize;
    // SAFETY: the caller's address of `len` bytes; the family is read only when present.
    unsafe {
        if len < core::mem::size_of::<libc::sa_family_t>() {
            return None;
        }
        match c_int::from((*addr).sa_family) {
            libc::AF_INET if len >= core::mem::size_of::<libc::sockaddr_in>() => {
                let sin = addr.cast::<libc::sockaddr_in>().read_unaligned();
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some((IpAddr::V4(ip), u16::from_be(sin.sin_port)))
            }
            libc::AF_INET6 if len >= core::mem::size_of::<libc::sockaddr_in6>() => {
                let sin6 = addr.cast::<libc::sockaddr_in6>().read_unaligned();
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some((IpAddr::V6(ip), u16::from_be(sin6.sin6_port)))
            }
            _ => None,
        }
    }
}

/// `tcp` for stream sockets, `udp` otherwise (asked of the kernel only when reported or
/// refused).
fn is_stream(fd: c_int) -> bool {
    let mut ty: c_int = 0;
    let mut len = core::mem::size_of::<c_int>() as libc::socklen_t;
    let saved = sys::errno();
    // SAFETY: getsockopt writes an int of `len` bytes; not a hooked function.
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &mut len,
        )
    } == 0;
    sys::set_errno(saved);
    ok && ty == libc::SOCK_STREAM
}

/// Whether a connection or datagram on `fd` to `addr` may go ahead (true for non-IP
/// destinations and before initialisation).
fn allowed(
    api: &'static str,
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> bool {
    let Some((ip, port)) = destination(addr, len) else {
        return true;
    };
    let Some(cfg) = config() else { return true };
    net::decide(cfg, api, fd, is_stream, ip, port)
}

fn refuse(errno: c_int) -> c_int {
    sys::set_errno(errno);
    -1
}

/// # Safety
/// C ABI: arguments as for `connect(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(
    fd: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> c_int {
    if !allowed("connect", fd, addr, len) {
        return refuse(libc::ECONNREFUSED);
    }
    call_real!(
        real::CONNECT,
        fn(c_int, *const libc::sockaddr, libc::socklen_t) -> c_int,
        fd,
        addr,
        len
    )
    .unwrap_or_else(|| refuse(libc::ENOSYS))
}

/// The errno of a refused send: a TCP Fast Open `sendto` is a connect.
fn send_refusal(fd: c_int) -> c_int {
    if is_stream(fd) {
        libc::ECONNREFUSED
    } else {
        libc::EPERM
    }
}

/// # Safety
/// C ABI: arguments as for `sendto(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    flags: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> isize {
    if !allowed("sendto", fd, addr, len) {
        return refuse(send_refusal(fd)) as isize;
    }
    call_real!(
        real::SENDTO,
        fn(c_int, *const c_void, usize, c_int, *const libc::sockaddr, libc::socklen_t) -> isize,
        fd,
        buf,
        n,
        flags,
        addr,
        len
    )
    .unwrap_or_else(|| refuse(libc::ENOSYS) as isize)
}

fn msg_allowed(api: &'static str, fd: c_int, msg: *const libc::msghdr) -> bool {
    if msg.is_null() {
        return true;
    }
    // SAFETY: the caller's msghdr.
    let (name, len) = unsafe { ((*msg).msg_name, (*msg).msg_namelen) };
    allowed(api, fd, name.cast(), len)
}

/// # Safety
/// C ABI: arguments as for `sendmsg(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
    if !msg_allowed("sendmsg", fd, msg) {
        return refuse(send_refusal(fd)) as isize;
    }
    call_real!(
        real::SENDMSG,
        fn(c_int, *const libc::msghdr, c_int) -> isize,
        fd,
        msg,
        flags
    )
    .unwrap_or_else(|| refuse(libc::ENOSYS) as isize)
}

/// # Safety
/// C ABI: arguments as for `sendmmsg(2)`.
///
/// Messages are sent up to the first denied one, as the kernel stops at a message that
/// fails: a denied first message fails the call with `EPERM`, a later one cuts the batch and
/// the call returns how many were sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> c_int {
    let mut allowed_count = vlen;
    if !msgs.is_null() {
        for i in 0..vlen {
            // SAFETY: the caller's array of vlen messages.
            let hdr = unsafe { &raw const (*msgs.add(i as usize)).msg_hdr };
            if !msg_allowed("sendmmsg", fd, hdr) {
                allowed_count = i;
                break;
            }
        }
    }
    if allowed_count == 0 && vlen > 0 {
        return refuse(send_refusal(fd));
    }
    call_real!(
        real::SENDMMSG,
        fn(c_int, *mut libc::mmsghdr, c_uint, c_int) -> c_int,
        fd,
        msgs,
        allowed_count,
        flags
    )
    .unwrap_or_else(|| refuse(libc::ENOSYS))
}
