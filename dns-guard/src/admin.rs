//! The admin endpoint: `/healthz` and `/metrics` over a minimal HTTP/1.1 (one request per
//! connection; Prometheus and health checkers need nothing more).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::guard::Guard;

/// Admin connections served at once; more are closed (a scrape or a health check needs one).
const MAX_CONNECTIONS: usize = 32;

pub async fn serve(guard: Arc<Guard>, listener: TcpListener) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let guard = guard.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(guard, stream)).await;
            drop(permit);
        });
    }
}

async fn answer(guard: Arc<Guard>, mut stream: TcpStream) -> std::io::Result<()> {
    let mut req = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = req
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/healthz") => {
            let version = guard.policy.load().version.clone();
            (
                "200 OK",
                "text/plain",
                format!("ok policy_version={version}\n"),
            )
        }
        ("GET" | "HEAD", "/metrics") => {
            let version = guard.policy.load().version.clone();
            let entries = guard.cache.as_ref().map_or(0, |c| c.len());
            (
                "200 OK",
                "text/plain; version=0.0.4",
                guard.metrics.render(&version, entries),
            )
        }
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /healthz or /metrics\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        out.push_str(&body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}
