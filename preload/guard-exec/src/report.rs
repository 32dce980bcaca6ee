//! Events of the supervisor: the shim's datagram (`guard_contract::event`) on the same socket,
//! about the process that made the call (its pid, parent and executable, not guard-exec's),
//! with `api: "syscall"`.

use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

use guard_contract::event::{KIND_NET, KIND_PROCESS, MAX_DATAGRAM};
use guard_preload_core::Config;

pub const API: &str = "syscall";

pub struct Report<'a> {
    pub action: &'static str,
    pub program: &'a [u8],
    pub rule: &'a [u8],
    pub version: &'a str,
    pub reason: &'a str,
    pub argv: Vec<Vec<u8>>,
    /// A connection or datagram (then `program` is unused: the event is about an address).
    pub dest: Option<Dest>,
}

/// The destination of a `net` event, as the shim reports it.
pub struct Dest {
    pub address: String,
    pub port: u16,
    pub protocol: &'static str,
}

fn json_str(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn field(out: &mut String, key: &str, value: &[u8]) {
    let _ = write!(out, ",\"{key}\":");
    json_str(out, value);
}

fn ppid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

pub fn build(cfg: &Config, pid: u32, r: &Report<'_>) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("{\"kind\":");
    let kind = if r.dest.is_some() {
        KIND_NET
    } else {
        KIND_PROCESS
    };
    json_str(&mut out, kind.as_bytes());
    field(&mut out, "action", r.action.as_bytes());
    match &r.dest {
        Some(d) => {
            field(&mut out, "address", d.address.as_bytes());
            let _ = write!(out, ",\"port\":{}", d.port);
            field(&mut out, "protocol", d.protocol.as_bytes());
        }
        None => field(&mut out, "program", r.program),
    }
    if !r.rule.is_empty() {
        field(&mut out, "rule", r.rule);
    }
    if !r.version.is_empty() {
        field(&mut out, "policy_version", r.version.as_bytes());
    }
    if !cfg.container().is_empty() {
        field(&mut out, "container", cfg.container());
    }
    let _ = write!(out, ",\"pid\":{pid},\"ppid\":{}", ppid(pid).unwrap_or(0));
    if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
        field(&mut out, "exe", exe.as_os_str().as_bytes());
    }
    field(&mut out, "api", API.as_bytes());
    if !r.reason.is_empty() {
        field(&mut out, "reason", r.reason.as_bytes());
    }
    if !r.argv.is_empty() {
        out.push_str(",\"argv\":[");
        for (i, arg) in r.argv.iter().enumerate() {
            let mark = out.len();
            if i > 0 {
                out.push(',');
            }
            json_str(&mut out, arg);
            if out.len() + 2 > MAX_DATAGRAM {
                out.truncate(mark);
                break;
            }
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// Sends one event; an absent or full socket drops it (as the shim does).
pub fn send(cfg: &Config, pid: u32, r: &Report<'_>) {
    let text = build(cfg, pid, r);
    if text.len() > MAX_DATAGRAM {
        return;
    }
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.set_nonblocking(true);
        let _ = sock.send_to(text.as_bytes(), std::ffi::OsStr::from_bytes(cfg.events()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_is_the_shims_datagram_about_the_caller() {
        let mut cfg = Config::new();
        cfg.load(&|k| (k == "GUARD_CONTAINER").then_some(b"app".as_slice()));
        let r = Report {
            action: "blocked",
            program: b"/bin/x\"y",
            rule: b"process.deny:x",
            version: "v1",
            reason: "",
            argv: vec![b"x".to_vec(), b"a\nb\x01".to_vec()],
            dest: None,
        };
        let me = std::process::id();
        let text = build(&cfg, me, &r);
        assert!(
            text.starts_with("{\"kind\":\"process\",\"action\":\"blocked\""),
            "{text}"
        );
        assert!(text.contains("\"program\":\"/bin/x\\\"y\""), "{text}");
        assert!(text.contains("\"container\":\"app\""), "{text}");
        assert!(text.contains(&format!("\"pid\":{me},")), "{text}");
        assert!(text.contains("\"api\":\"syscall\""), "{text}");
        assert!(
            text.ends_with("\"argv\":[\"x\",\"a\\nb\\u0001\"]}"),
            "{text}"
        );
        let r = Report {
            dest: Some(Dest {
                address: "10.0.0.1".into(),
                port: 443,
                protocol: "tcp",
            }),
            ..r
        };
        let text = build(&cfg, me, &r);
        assert!(
            text.starts_with("{\"kind\":\"net\",\"action\":\"blocked\",\"address\":\"10.0.0.1\",\"port\":443,\"protocol\":\"tcp\","),
            "{text}"
        );
        assert!(!text.contains("\"program\""), "{text}");
    }
}
