//! The DNS listeners: UDP on one `SO_REUSEPORT` socket per core, each with its own receive
//! loop (the kernel spreads clients over them), and TCP with length framing, several queries
//! per connection, an idle timeout and a connection cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc};

use crate::batch::{BATCH, RecvBatch, send_all};
use crate::guard::{Guard, ReplyTo};

/// TCP connections served at once; more are closed at once (and counted).
pub const MAX_TCP_CONNECTIONS: usize = 512;
/// A TCP connection with no query for this long is closed (RFC 7766 suggests seconds).
pub const TCP_IDLE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({proto}): {error}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub proto: &'static str,
    pub error: std::io::Error,
}

/// Binds the UDP sockets (one per core) and the TCP listener. Must run inside the runtime.
pub fn bind(
    addr: SocketAddr,
    udp_sockets: usize,
) -> Result<(Vec<Arc<UdpSocket>>, TcpListener), BindError> {
    let err = |proto| move |error| BindError { addr, proto, error };
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    // SO_REUSEPORT would let a second guard (same user) silently share the port and half the
    // queries; probe with a plain bind first so a taken port is an error, as for TCP.
    drop(std::net::UdpSocket::bind(addr).map_err(err("udp"))?);
    let mut udp = Vec::new();
    for _ in 0..udp_sockets.max(1) {
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(err("udp"))?;
        s.set_reuse_port(true).map_err(err("udp"))?;
        // Bursts of queries must not be dropped by the kernel before a loop reads them.
        let _ = s.set_recv_buffer_size(4 << 20);
        let _ = s.set_send_buffer_size(4 << 20);
        s.set_nonblocking(true).map_err(err("udp"))?;
        s.bind(&addr.into()).map_err(err("udp"))?;
        let std_sock: std::net::UdpSocket = s.into();
        udp.push(Arc::new(UdpSocket::from_std(std_sock).map_err(err("udp"))?));
    }
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(err("tcp"))?;
    s.set_reuse_address(true).map_err(err("tcp"))?;
    s.set_nonblocking(true).map_err(err("tcp"))?;
    s.bind(&addr.into()).map_err(err("tcp"))?;
    s.listen(1024).map_err(err("tcp"))?;
    let std_listener: std::net::TcpListener = s.into();
    let tcp = TcpListener::from_std(std_listener).map_err(err("tcp"))?;
    Ok((udp, tcp))
}

pub async fn udp_loop(guard: Arc<Guard>, socket: Arc<UdpSocket>) {
    // Queries longer than this are cut, and then refused as malformed.
    let mut batch = RecvBatch::new(4096);
    let mut replies = Vec::with_capacity(BATCH);
    loop {
        let n = match batch.recv(&socket).await {
            Ok(n) => n,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        for i in 0..n {
            let Some((msg, Some(client))) = batch.get(i) else {
                continue;
            };
            let reply = guard.handle(msg, client, false, || ReplyTo::Udp {
                socket: socket.clone(),
                client,
            });
            if let Some(answer) = reply {
                replies.push((answer, client));
            }
        }
        if !replies.is_empty() {
            send_all(&socket, &mut replies).await;
        }
    }
}

pub async fn tcp_loop(guard: Arc<Guard>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    loop {
        let Ok((stream, client)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            guard
                .metrics
                .tcp_rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let guard = guard.clone();
        tokio::spawn(async move {
            serve_connection(guard, stream, client).await;
            drop(permit);
        });
    }
}

async fn serve_connection(guard: Arc<Guard>, stream: TcpStream, client: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    // Answers may complete out of order (forwarded ones later); RFC 7766 allows that, and
    // the client matches them by ID.
    let writer = tokio::spawn(async move {
        while let Some(answer) = rx.recv().await {
            let Ok(len) = u16::try_from(answer.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(answer.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&answer);
            if wr.write_all(&framed).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut buf = vec![0u8; 65_535];
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, rd.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let len = usize::from(u16::from_be_bytes(len));
        let msg = &mut buf[..len];
        match tokio::time::timeout(TCP_IDLE, rd.read_exact(msg)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let reply = guard.handle(msg, client, true, || ReplyTo::Tcp {
            tx: tx.clone(),
            client,
        });
        if let Some(answer) = reply
            && tx.send(answer).await.is_err()
        {
            break;
        }
    }
    // The writer ends when every pending answer for this connection has been sent (each
    // holds a sender) or dropped.
    drop(tx);
    let _ = writer.await;
}
