//! The shim's event socket (`DIR/events.sock`): datagrams from the preload shim in the app
//! containers, validated and written out as audit events like the guard's own.
//!
//! The format is `guard_contract::event`: one JSON object per datagram, at most
//! `MAX_DATAGRAM` bytes, `kind` and `action` required. Unknown fields are dropped, known
//! fields must have their type, and the guard adds `time` and `source: "shim"`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use guard_contract::event;
use serde_json::{Map, Value};
use tokio::net::UnixDatagram;

use crate::audit::Event;
use crate::guard::Guard;

/// Longest string field kept (argv elements included).
const MAX_FIELD: usize = 4096;
const STRING_FIELDS: [&str; 11] = [
    "name",
    "program",
    "rule",
    "policy_version",
    "container",
    "exe",
    "api",
    "reason",
    "qtype",
    "address",
    "protocol",
];
const NUMBER_FIELDS: [&str; 3] = ["pid", "ppid", "port"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShimEventError {
    #[error("datagram larger than {} bytes", event::MAX_DATAGRAM)]
    TooLarge,
    #[error("not a JSON object")]
    NotAnObject,
    #[error("field `{0}` is missing or not one of the known values")]
    BadEnum(&'static str),
    #[error("field `{0}` has the wrong type or is too long")]
    BadField(String),
}

/// Binds `DIR/events.sock` (replacing a stale one), writable by every user so non-root app
/// processes can report.
pub fn bind(dir: &Path) -> std::io::Result<UnixDatagram> {
    let path = dir.join(guard_contract::EVENTS_SOCK_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let sock = UnixDatagram::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
    Ok(sock)
}

pub async fn receive(guard: Arc<Guard>, sock: UnixDatagram) {
    // One byte more than allowed, to tell an oversized datagram from a full one.
    let mut buf = vec![0u8; event::MAX_DATAGRAM + 1];
    loop {
        let Ok(n) = sock.recv(&mut buf).await else {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            continue;
        };
        match validate(&buf[..n]) {
            Ok(fields) => {
                guard.metrics.shim_events.fetch_add(1, Relaxed);
                guard.audit.emit(Event::Shim(fields));
            }
            Err(_) => {
                guard.metrics.shim_events_rejected.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Checks one datagram and keeps its known fields.
pub fn validate(datagram: &[u8]) -> Result<Map<String, Value>, ShimEventError> {
    if datagram.len() > event::MAX_DATAGRAM {
        return Err(ShimEventError::TooLarge);
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(datagram) else {
        return Err(ShimEventError::NotAnObject);
    };
    let mut out = Map::new();
    let kind = fields.get("kind").and_then(Value::as_str);
    if !matches!(kind, Some(k) if k == event::KIND_DNS || k == event::KIND_PROCESS || k == event::KIND_NET)
    {
        return Err(ShimEventError::BadEnum("kind"));
    }
    let action = fields.get("action").and_then(Value::as_str);
    let actions = [
        event::ACTION_BLOCKED,
        event::ACTION_ALERTED,
        event::ACTION_WOULD_BLOCK,
        event::ACTION_UNPROTECTED,
    ];
    if !matches!(action, Some(a) if actions.contains(&a)) {
        return Err(ShimEventError::BadEnum("action"));
    }
    for (key, value) in fields {
        let ok = match key.as_str() {
            "kind" | "action" => true,
            k if STRING_FIELDS.contains(&k) => value.as_str().is_some_and(|s| s.len() <= MAX_FIELD),
            k if NUMBER_FIELDS.contains(&k) => value.as_u64().is_some(),
            "argv" => value.as_array().is_some_and(|a| {
                a.iter()
                    .all(|v| v.as_str().is_some_and(|s| s.len() <= MAX_FIELD))
            }),
            _ => continue,
        };
        if !ok {
            return Err(ShimEventError::BadField(key));
        }
        out.insert(key, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fields_are_kept_and_unknown_dropped() {
        let m = validate(br#"{"kind":"process","action":"blocked","program":"/usr/bin/nc","pid":42,"argv":["nc","-l"],"evil":"x"}"#).unwrap();
        assert_eq!(
            m.get("program").and_then(Value::as_str),
            Some("/usr/bin/nc")
        );
        assert!(m.get("evil").is_none());
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn net_events_keep_their_destination() {
        let m = validate(br#"{"kind":"net","action":"blocked","address":"203.0.113.5","port":443,"protocol":"tcp","api":"connect"}"#).unwrap();
        assert_eq!(m.get("port").and_then(Value::as_u64), Some(443));
        assert_eq!(m.get("protocol").and_then(Value::as_str), Some("tcp"));
        assert_eq!(m.len(), 6);
    }

    #[test]
    fn bad_datagrams_are_refused() {
        assert_eq!(validate(b"[1,2]"), Err(ShimEventError::NotAnObject));
        assert_eq!(
            validate(b"{\"kind\":\"dns\"}"),
            Err(ShimEventError::BadEnum("action"))
        );
        assert_eq!(
            validate(b"{\"kind\":\"x\",\"action\":\"blocked\"}"),
            Err(ShimEventError::BadEnum("kind"))
        );
        assert!(validate(b"{\"kind\":\"dns\",\"action\":\"blocked\",\"pid\":\"1\"}").is_err());
        assert_eq!(
            validate(&vec![b' '; event::MAX_DATAGRAM + 1]),
            Err(ShimEventError::TooLarge)
        );
        assert_eq!(validate(b"\xff\xfe"), Err(ShimEventError::NotAnObject));
    }
}
