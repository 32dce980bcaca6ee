//! Batched UDP I/O: `recvmmsg`/`sendmmsg`, up to [`BATCH`] datagrams per system call.
//!
//! Under load, two system calls per query (receive, send) are most of what a cached or
//! blocked answer costs; batching divides that by the batch size. Used by the listening
//! sockets and the upstream sockets. The `mmsghdr` arrays are built on the stack inside the
//! synchronous calls, so no raw pointer lives across an `.await` (the futures stay `Send`).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams per system call.
pub const BATCH: usize = 32;

/// Receive buffers for one socket's loop.
pub struct RecvBatch {
    size: usize,
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    lens: [usize; BATCH],
    count: usize,
}

impl RecvBatch {
    /// `size`: the largest datagram kept whole (longer ones are cut and flagged as
    /// truncated to that size, which the query parser then refuses).
    pub fn new(size: usize) -> RecvBatch {
        RecvBatch {
            size,
            bufs: vec![0u8; size * BATCH],
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
            addrs: vec![unsafe { zeroed() }; BATCH],
            lens: [0; BATCH],
            count: 0,
        }
    }

    /// Waits until the socket is readable and receives up to [`BATCH`] datagrams.
    pub async fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        loop {
            socket.readable().await?;
            match socket.try_io(Interest::READABLE, || self.recv_now(socket)) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn recv_now(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        // SAFETY: mmsghdr and iovec are plain old data.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            iov[i].iov_base = self.bufs[i * self.size..].as_mut_ptr().cast();
            iov[i].iov_len = self.size;
            msgs[i].msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every pointer refers to buffers owned by `self` or this frame, alive for
        // the call; the lengths match the buffers.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, msg) in msgs.iter().enumerate().take(n) {
            self.lens[i] = (msg.msg_len as usize).min(self.size);
        }
        self.count = n;
        Ok(n)
    }

    /// Datagram `i` of the last receive and its sender.
    pub fn get(&self, i: usize) -> Option<(&[u8], Option<SocketAddr>)> {
        if i >= self.count {
            return None;
        }
        let data = &self.bufs[i * self.size..i * self.size + self.lens[i]];
        Some((data, to_socket_addr(&self.addrs[i])))
    }
}

fn to_socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn from_socket_addr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: plain old data.
    let mut s: libc::sockaddr_storage = unsafe { zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            (s, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            (s, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// Sends `replies` with as few `sendmmsg` calls as the socket allows; what the socket cannot
/// take right now is sent one by one, waiting for room.
pub async fn send_all(socket: &UdpSocket, replies: &mut Vec<(Vec<u8>, SocketAddr)>) {
    let mut done = 0;
    while done < replies.len() {
        match socket.try_io(Interest::WRITABLE, || send_now(socket, &replies[done..])) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let (bytes, to) = &replies[done];
                let _ = socket.send_to(bytes, *to).await;
                done += 1;
            }
            // A datagram the kernel refuses (e.g. an unreachable client): skip it.
            Err(_) => done += 1,
        }
    }
    replies.clear();
}

fn send_now(socket: &UdpSocket, replies: &[(Vec<u8>, SocketAddr)]) -> io::Result<usize> {
    let n = replies.len().min(BATCH);
    // SAFETY: plain old data.
    let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut names: [(libc::sockaddr_storage, libc::socklen_t); BATCH] = unsafe { zeroed() };
    for i in 0..n {
        let (bytes, to) = &replies[i];
        names[i] = from_socket_addr(to);
        iov[i].iov_base = bytes.as_ptr() as *mut libc::c_void;
        iov[i].iov_len = bytes.len();
        msgs[i].msg_hdr.msg_name = (&mut names[i].0 as *mut libc::sockaddr_storage).cast();
        msgs[i].msg_hdr.msg_namelen = names[i].1;
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: all pointers refer to `replies` and this frame, alive for the call; the kernel
    // only reads the payloads.
    let sent = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip() {
        for text in ["127.0.0.1:5353", "[::1]:53", "[fe80::1%2]:853"] {
            let addr: SocketAddr = text.parse().unwrap();
            let (storage, _) = from_socket_addr(&addr);
            assert_eq!(to_socket_addr(&storage), Some(addr));
        }
    }

    #[tokio::test]
    async fn a_batch_of_datagrams_is_received_and_answered() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = server.local_addr().unwrap();
        for i in 0..40u8 {
            client.send_to(&[i; 3], to).await.unwrap();
        }
        let mut batch = RecvBatch::new(512);
        let mut got = Vec::new();
        while got.len() < 40 {
            let n = batch.recv(&server).await.unwrap();
            for i in 0..n {
                let (data, from) = batch.get(i).unwrap();
                assert_eq!(from, Some(client.local_addr().unwrap()));
                got.push(data[0]);
            }
        }
        assert_eq!(got, (0..40).collect::<Vec<u8>>());
        let mut replies: Vec<(Vec<u8>, SocketAddr)> = (0..40u8)
            .map(|i| (vec![i], client.local_addr().unwrap()))
            .collect();
        send_all(&server, &mut replies).await;
        let mut buf = [0u8; 8];
        for i in 0..40u8 {
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &[i]);
        }
    }
}
