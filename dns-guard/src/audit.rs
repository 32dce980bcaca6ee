//! Audit events: JSON lines on stdout, written by one thread behind a bounded queue.
//!
//! The query path never waits for stdout: it stamps the event and offers it to a bounded
//! queue. When the writer falls behind (a flood of blocked queries, a slow log driver), new
//! events are dropped and counted, so neither DNS service nor memory suffers.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::metrics::Metrics;

/// Events queued at most; beyond that they are dropped and counted.
pub const QUEUE: usize = 8192;

/// What an audit event reports.
#[derive(Debug)]
pub enum Event {
    /// A DNS decision that is reported (blocked, alerted, would-block).
    Dns {
        action: &'static str,
        name: String,
        qtype: u16,
        rule: String,
        policy_version: Arc<str>,
        client: SocketAddr,
        /// For CNAME-chain blocks: the denied name in the chain.
        target: Option<String>,
    },
    /// A policy was loaded or a new one was refused.
    Policy {
        action: &'static str,
        source: String,
        version: Option<String>,
        error: Option<String>,
    },
    /// An event datagram from the shim, validated.
    Shim(Map<String, Value>),
    /// A CNAF proxy decision (kind `waf`), fields in order.
    Waf(Map<String, Value>),
}

enum Item {
    Event(SystemTime, Event),
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// The sending side, cheap to share.
#[derive(Clone)]
pub struct Audit {
    tx: SyncSender<Item>,
    metrics: Arc<Metrics>,
}

impl Audit {
    /// Starts the writer thread over `out` (stdout in the daemon).
    pub fn start(metrics: Arc<Metrics>, out: Box<dyn Write + Send>) -> Audit {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let m = metrics.clone();
        let spawned = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer(rx, out, m));
        if let Err(e) = spawned {
            eprintln!("dns-guard: cannot start the audit writer: {e}");
        }
        Audit { tx, metrics }
    }

    /// Queues an event, or drops and counts it when the writer is behind.
    pub fn emit(&self, event: Event) {
        match self.tx.try_send(Item::Event(SystemTime::now(), event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.events_dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// Waits (at most `timeout`) until everything queued so far is written and flushed.
    pub fn flush(&self, timeout: Duration) {
        let (ack, done) = std::sync::mpsc::sync_channel(1);
        let deadline = std::time::Instant::now() + timeout;
        let mut item = Item::Flush(ack);
        loop {
            match self.tx.try_send(item) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                    item = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let _ = done.recv_timeout(left);
    }
}

fn writer(rx: Receiver<Item>, out: Box<dyn Write + Send>, metrics: Arc<Metrics>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut line = Vec::with_capacity(512);
    let mut busy = false;
    loop {
        // Idle: block until the next event. Busy (a burst or a flood): poll every few
        // milliseconds instead, so the query path never pays for waking this thread.
        let first = if busy {
            std::thread::sleep(Duration::from_millis(2));
            match rx.try_recv() {
                Ok(item) => item,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    busy = false;
                    continue;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(item) => item,
                Err(_) => break,
            }
        };
        let mut item = first;
        let mut drained = 0usize;
        loop {
            drained += 1;
            match item {
                Item::Event(time, event) => {
                    line.clear();
                    render_line(&mut line, time, event);
                    if out.write_all(&line).is_ok() {
                        metrics.events_written.fetch_add(1, Relaxed);
                    }
                }
                Item::Flush(ack) => {
                    let _ = out.flush();
                    let _ = ack.try_send(());
                }
            }
            match rx.try_recv() {
                Ok(next) => item = next,
                Err(_) => break,
            }
        }
        let _ = out.flush();
        busy = drained > 1;
    }
    let _ = out.flush();
}

/// One event as a JSON line. DNS events, the flood case, are written by hand; the rest
/// through serde_json.
fn render_line(line: &mut Vec<u8>, time: SystemTime, event: Event) {
    let value = match event {
        Event::Dns {
            action,
            name,
            qtype,
            rule,
            policy_version,
            client,
            target,
        } => {
            line.extend_from_slice(b"{\"time\":\"");
            line.extend_from_slice(rfc3339_millis(time).as_bytes());
            line.extend_from_slice(b"\",\"kind\":\"dns\",\"action\":");
            json_str(line, action);
            line.extend_from_slice(b",\"name\":");
            json_str(line, &name);
            line.extend_from_slice(b",\"qtype\":");
            json_str(line, &crate::query::qtype_name(qtype));
            line.extend_from_slice(b",\"rule\":");
            json_str(line, &rule);
            line.extend_from_slice(b",\"policy_version\":");
            json_str(line, &policy_version);
            line.extend_from_slice(b",\"client\":");
            json_str(line, &client.to_string());
            if let Some(t) = target {
                line.extend_from_slice(b",\"target\":");
                json_str(line, &t);
            }
            line.extend_from_slice(b",\"source\":\"dns-guard\"}\n");
            return;
        }
        Event::Policy {
            action,
            source,
            version,
            error,
        } => {
            let mut v = Map::new();
            v.insert("time".into(), Value::String(rfc3339_millis(time)));
            v.insert("kind".into(), Value::String("policy".into()));
            v.insert("action".into(), Value::String(action.into()));
            v.insert("policy_source".into(), Value::String(source));
            if let Some(version) = version {
                v.insert("policy_version".into(), Value::String(version));
            }
            if let Some(error) = error {
                v.insert("error".into(), Value::String(error));
            }
            v
        }
        Event::Shim(mut fields) => {
            // The sidecar's clock and source name win over anything the datagram claimed.
            let mut v = Map::new();
            v.insert("time".into(), Value::String(rfc3339_millis(time)));
            v.append(&mut fields);
            v.insert("source".into(), Value::String("shim".into()));
            v
        }
        Event::Waf(mut fields) => {
            let mut v = Map::new();
            v.insert("time".into(), Value::String(rfc3339_millis(time)));
            v.append(&mut fields);
            v
        }
    };
    if serde_json::to_writer(&mut *line, &value).is_ok() {
        line.push(b'\n');
    } else {
        line.clear();
    }
}

/// A JSON string literal.
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// `2026-11-25T01:02:03.456Z`.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let ms = d.subsec_millis();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, dd) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_events_are_valid_json_even_with_odd_names() {
        let mut line = Vec::new();
        let event = Event::Dns {
            action: "blocked",
            name: "a\\\"b\u{1}.evil.test".into(),
            qtype: 16,
            rule: "dns.deny:*.evil.test".into(),
            policy_version: "v1".into(),
            client: "127.0.0.1:5353".parse().unwrap(),
            target: Some("t.test".into()),
        };
        render_line(&mut line, UNIX_EPOCH, event);
        assert_eq!(line.last(), Some(&b'\n'));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["name"], "a\\\"b\u{1}.evil.test");
        assert_eq!(v["qtype"], "TXT");
        assert_eq!(v["target"], "t.test");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339_millis(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.000Z");
    }
}
