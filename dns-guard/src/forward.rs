//! Forwarding allowed queries to the upstream resolvers.
//!
//! A few long-lived UDP sockets per upstream (connected, so only that upstream's datagrams
//! arrive), query IDs rewritten to a random free ID of the socket and kept in a pending table
//! with the client's own ID, question and reply target. One receive loop per socket matches
//! each answer to its pending query (same ID *and* same question) and finishes it in place:
//! no task and no socket per query, which is where forwarders that lose queries under load go
//! wrong (hickory-dns#2613). A sweeper times out unanswered queries: one retry on the next
//! upstream, then SERVFAIL, counted as an upstream failure. Truncated answers are fetched
//! again over TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::batch::RecvBatch;
use crate::guard::{Guard, ReplyTo};
use crate::metrics::{Outcome, UpstreamFailure};
use crate::query::{FLAG_QR, HEADER_LEN, Query};

/// The largest UDP answer asked of an upstream: a client's larger EDNS size is lowered to
/// this in the forwarded copy (bigger answers come over TCP).
pub const MAX_UPSTREAM_UDP: u16 = 4096;

/// A forwarded query waiting for its answer.
pub struct Pending {
    pub query: Query,
    /// How the question was decided (counted when the query is answered).
    pub outcome: Outcome,
    pub reply: ReplyTo,
    /// The query as sent upstream (our ID in the first two bytes).
    pub msg: Box<[u8]>,
    pub upstream: usize,
    pub attempts: u8,
    pub sent: Instant,
    pub deadline: Instant,
    pub via_tcp: bool,
}

struct UpSocket {
    socket: UdpSocket,
    pending: DashMap<u16, Pending>,
    rng: AtomicU64,
}

impl UpSocket {
    fn next_id(&self) -> u16 {
        // xorshift64*: IDs an off-path attacker cannot predict from earlier ones cheaply.
        let mut x = self.rng.load(Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Relaxed);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 48) as u16
    }
}

/// Settings of the forwarder.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    pub upstreams: Vec<SocketAddr>,
    pub sockets_per_upstream: usize,
    pub max_inflight: usize,
    /// Time to wait for one attempt.
    pub timeout: Duration,
}

pub struct Forwarder {
    config: ForwardConfig,
    /// `sockets[u]`: the sockets of upstream `u`.
    sockets: Vec<Vec<Arc<UpSocket>>>,
    round_robin: AtomicUsize,
    inflight: AtomicUsize,
    tcp_retries: Arc<tokio::sync::Semaphore>,
}

/// TCP retries of truncated answers in progress at most.
pub const MAX_TCP_RETRIES: usize = 64;

#[derive(Debug, thiserror::Error)]
#[error("cannot open a socket to upstream {upstream}: {error}")]
pub struct UpstreamSocketError {
    upstream: SocketAddr,
    error: std::io::Error,
}

impl Forwarder {
    /// Opens the upstream sockets. Must run inside the tokio runtime.
    pub fn new(config: ForwardConfig) -> Result<Forwarder, UpstreamSocketError> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(std::process::id()) << 32;
        let mut sockets = Vec::new();
        for (u, &addr) in config.upstreams.iter().enumerate() {
            let mut list = Vec::new();
            for s in 0..config.sockets_per_upstream.max(1) {
                let err = |error| UpstreamSocketError {
                    upstream: addr,
                    error,
                };
                let local: SocketAddr = if addr.is_ipv4() {
                    SocketAddr::from(([0, 0, 0, 0], 0))
                } else {
                    SocketAddr::from(([0u16; 8], 0))
                };
                let std_sock = std::net::UdpSocket::bind(local).map_err(err)?;
                std_sock.connect(addr).map_err(err)?;
                std_sock.set_nonblocking(true).map_err(err)?;
                let socket = UdpSocket::from_std(std_sock).map_err(err)?;
                let mix = seed ^ ((u as u64) << 8 | s as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                list.push(Arc::new(UpSocket {
                    socket,
                    pending: DashMap::new(),
                    rng: AtomicU64::new(mix | 1),
                }));
            }
            sockets.push(list);
        }
        Ok(Forwarder {
            config,
            sockets,
            round_robin: AtomicUsize::new(0),
            inflight: AtomicUsize::new(0),
            tcp_retries: Arc::new(tokio::sync::Semaphore::new(MAX_TCP_RETRIES)),
        })
    }

    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.config.upstreams
    }

    /// Starts the receive loop of every upstream socket and the timeout sweeper.
    pub fn start(guard: &Arc<Guard>) {
        for list in &guard.forwarder.sockets {
            for up in list {
                tokio::spawn(receive_loop(guard.clone(), up.clone()));
            }
        }
        tokio::spawn(sweeper(guard.clone()));
    }

    /// Forwards a query to the first upstream. `Err` when too many queries are in flight.
    pub fn submit(
        &self,
        guard: &Arc<Guard>,
        query: Query,
        outcome: Outcome,
        msg: &[u8],
        reply: ReplyTo,
    ) -> Result<(), ReplyTo> {
        if self.sockets.is_empty() {
            return Err(reply);
        }
        if self.inflight.fetch_add(1, Relaxed) >= self.config.max_inflight {
            self.inflight.fetch_sub(1, Relaxed);
            return Err(reply);
        }
        let now = Instant::now();
        let mut msg: Box<[u8]> = msg.into();
        if let Some(edns) = query.edns
            && edns.udp_size > MAX_UPSTREAM_UDP
        {
            // The OPT record follows the question (the fast path accepts no other layout);
            // its CLASS field is the UDP size.
            let at = HEADER_LEN + query.question.len() + 3;
            if let Some(b) = msg.get_mut(at..at + 2) {
                b.copy_from_slice(&MAX_UPSTREAM_UDP.to_be_bytes());
            }
        }
        let p = Pending {
            query,
            outcome,
            reply,
            msg,
            upstream: 0,
            attempts: 0,
            sent: now,
            deadline: now,
            via_tcp: false,
        };
        self.send(guard, p);
        Ok(())
    }

    /// Sends one attempt; on an immediate failure, retries or fails the query.
    /// The caller has counted the query in `inflight`.
    fn send(&self, guard: &Arc<Guard>, mut p: Pending) {
        let list = &self.sockets[p.upstream % self.sockets.len()];
        let up = &list[self.round_robin.fetch_add(1, Relaxed) % list.len()];
        let now = Instant::now();
        p.sent = now;
        p.deadline = now + self.config.timeout;
        let mut id = up.next_id();
        let mut tries = 0;
        while up.pending.contains_key(&id) {
            tries += 1;
            if tries > 64 {
                self.inflight.fetch_sub(1, Relaxed);
                guard.metrics.inflight_overflow.fetch_add(1, Relaxed);
                guard.fail(p);
                return;
            }
            id = up.next_id();
        }
        if let Some(b) = p.msg.get_mut(0..2) {
            b.copy_from_slice(&id.to_be_bytes());
        }
        let msg: Box<[u8]> = p.msg.clone();
        up.pending.insert(id, p);
        match up.socket.try_send(&msg) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // The socket buffer is full: wait for room off the query path.
                let up = up.clone();
                tokio::spawn(async move {
                    let _ = up.socket.send(&msg).await;
                });
            }
            Err(_) => {
                // The upstream refused (an ICMP error on the connected socket): try the next
                // one now instead of waiting for the timeout.
                if let Some((_, p)) = up.pending.remove(&id) {
                    guard.metrics.upstream_failure(UpstreamFailure::Error);
                    self.retry_or_fail(guard, p);
                }
            }
        }
    }

    /// After a failed attempt (the query is still counted in flight): once more on the next
    /// upstream, else SERVFAIL.
    fn retry_or_fail(&self, guard: &Arc<Guard>, mut p: Pending) {
        if p.attempts == 0 {
            p.attempts = 1;
            p.upstream = (p.upstream + 1) % self.sockets.len().max(1);
            self.send(guard, p);
        } else {
            self.inflight.fetch_sub(1, Relaxed);
            guard.fail(p);
        }
    }

    /// Fetches the answer again over TCP after a truncated UDP answer. At most
    /// [`MAX_TCP_RETRIES`] at a time: beyond that the client gets the truncated answer and
    /// retries over TCP itself, so a flood of big answers cannot open unbounded connections.
    pub fn retry_tcp(&self, guard: Arc<Guard>, mut p: Pending) {
        let Some(&addr) = self.config.upstreams.get(p.upstream) else {
            guard.fail(p);
            return;
        };
        let Ok(permit) = self.tcp_retries.clone().try_acquire_owned() else {
            guard.metrics.query(p.outcome, p.query.qtype);
            p.reply.send(crate::answer::truncated(&p.query));
            return;
        };
        let timeout = self.config.timeout * 3;
        tokio::spawn(async move {
            let _permit = permit;
            let result = tokio::time::timeout(timeout, tcp_exchange(addr, &p.msg)).await;
            match result {
                Ok(Ok(answer)) if answer.get(0..2) == p.msg.get(0..2) => {
                    p.via_tcp = true;
                    guard.complete(p, answer);
                }
                _ => {
                    guard.metrics.upstream_failure(UpstreamFailure::Tcp);
                    guard.fail(p);
                }
            }
        });
    }
}

async fn tcp_exchange(addr: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let len = u16::try_from(msg.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).await?;
    Ok(answer)
}

async fn receive_loop(guard: Arc<Guard>, up: Arc<UpSocket>) {
    // Forwarded queries advertise at most MAX_UPSTREAM_UDP, so answers fit.
    let mut batch = RecvBatch::new(usize::from(MAX_UPSTREAM_UDP) + 512);
    loop {
        let n = match batch.recv(&up.socket).await {
            Ok(n) => n,
            Err(_) => {
                // ICMP errors surface here on a connected socket; the pending queries time
                // out (or were failed over when their send failed). Avoid spinning.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        for i in 0..n {
            let Some((answer, _)) = batch.get(i) else {
                continue;
            };
            finish(&guard, &up, answer);
        }
    }
}

/// Matches one upstream answer to its pending query (same ID and question) and completes it.
fn finish(guard: &Arc<Guard>, up: &UpSocket, answer: &[u8]) {
    if answer.len() < HEADER_LEN || answer[2] & (FLAG_QR >> 8) as u8 == 0 {
        guard.metrics.mismatched_answers.fetch_add(1, Relaxed);
        return;
    }
    let id = u16::from_be_bytes([answer[0], answer[1]]);
    let matched = up.pending.remove_if(&id, |_, p| {
        let q = p.query.question.as_bytes();
        answer
            .get(HEADER_LEN..HEADER_LEN + q.len())
            .is_some_and(|a| a.eq_ignore_ascii_case(q))
    });
    let Some((_, p)) = matched else {
        guard.metrics.mismatched_answers.fetch_add(1, Relaxed);
        return;
    };
    guard.forwarder.inflight.fetch_sub(1, Relaxed);
    guard.metrics.upstream_latency(p.sent.elapsed());
    guard.complete(p, answer.to_vec());
}

async fn sweeper(guard: Arc<Guard>) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut expired = Vec::new();
    loop {
        tick.tick().await;
        let now = Instant::now();
        for list in &guard.forwarder.sockets {
            for up in list {
                expired.clear();
                expired.extend(
                    up.pending
                        .iter()
                        .filter(|e| e.deadline <= now)
                        .map(|e| *e.key()),
                );
                for id in &expired {
                    if let Some((_, p)) = up.pending.remove_if(id, |_, p| p.deadline <= now) {
                        guard.metrics.upstream_failure(UpstreamFailure::Timeout);
                        guard.forwarder.retry_or_fail(&guard, p);
                    }
                }
            }
        }
    }
}

/// Upstreams from resolv.conf text: every `nameserver` line, port 53, except `skip` (our own
/// listen address, so the guard never forwards to itself).
pub fn upstreams_from_resolv_conf(text: &str, skip: SocketAddr) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        // Zone indexes (fe80::1%eth0) are not supported by SocketAddr; skip such entries.
        let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
            continue;
        };
        let sa = SocketAddr::new(ip, 53);
        let is_self = sa == skip || (sa.port() == skip.port() && skip.ip().is_unspecified());
        if !is_self && !out.contains(&sa) {
            out.push(sa);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_skips_our_own_address_and_comments() {
        let text = "# generated\nsearch example.com\nnameserver 127.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.2\noptions ndots:5\nnameserver fe80::1%eth0\n";
        let got = upstreams_from_resolv_conf(text, "127.0.0.1:53".parse().unwrap());
        assert_eq!(got, vec!["10.0.0.2:53".parse::<SocketAddr>().unwrap()]);
    }
}
