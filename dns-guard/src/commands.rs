//! The one-shot commands: `check`, `validate`, `health`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use guard_policy::{DnsName, Mode, Policy, PolicyErrors, Verdict};

use crate::guard::HEALTH_NAME;

/// One line of `dns-guard check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub name: String,
    /// `allow`, `alert`, `deny`, or `invalid`.
    pub verdict: String,
    /// The deciding rule, or why the name is invalid.
    pub rule: String,
}

/// Decides each name with the policy file; `Err` when the policy itself is invalid.
pub fn check(policy: &Path, names: &[String]) -> Result<(Mode, Vec<CheckLine>), PolicyErrors> {
    let compiled = Policy::load(policy)?.compile();
    let view = compiled.view();
    let lines = names
        .iter()
        .map(|name| match net_destination(name) {
            Some(dest) => {
                // An address is explained as the shim decides a connect to it that no
                // allowed name resolved to.
                let d = view.decide_net(&dest, false);
                CheckLine {
                    name: name.clone(),
                    verdict: d.verdict.as_str().into(),
                    rule: d.rule.to_string(),
                }
            }
            None => match DnsName::from_text(name.as_bytes()) {
                Ok(n) => {
                    let d = view.decide_dns(&n);
                    CheckLine {
                        name: name.clone(),
                        verdict: d.verdict.as_str().into(),
                        rule: d.rule.to_string(),
                    }
                }
                Err(e) => CheckLine {
                    name: name.clone(),
                    verdict: "invalid".into(),
                    rule: format!("{e:?}"),
                },
            },
        })
        .collect();
    Ok((view.mode(), lines))
}

/// An address argument of `check`: `203.0.113.5`, `10.0.0.2:53`, `::1`, `[fd00::1]:443`.
fn net_destination(text: &str) -> Option<guard_policy::Destination> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Some(guard_policy::Destination::new(sa.ip(), sa.port()));
    }
    let ip = text.parse::<std::net::IpAddr>().ok()?;
    Some(guard_policy::Destination::new(ip, 0))
}

/// Renders `check` results as an aligned table.
pub fn render_check(mode: Mode, lines: &[CheckLine]) -> String {
    let width = lines.iter().map(|l| l.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:width$}  {:7}  RULE\n", "NAME", "VERDICT");
    for l in lines {
        out.push_str(&format!("{:width$}  {:7}  {}\n", l.name, l.verdict, l.rule));
    }
    if mode == Mode::Audit && lines.iter().any(|l| l.verdict == Verdict::Deny.as_str()) {
        out.push_str("(the policy is in audit mode: denied names are answered and reported as would-block)\n");
    }
    out
}

/// Validates a policy file: a summary on success, every error otherwise.
pub fn validate(policy: &Path) -> Result<String, PolicyErrors> {
    let p = Policy::load(policy)?;
    let compiled = p.compile();
    let rules = p.dns.allow.len() + p.dns.deny.len() + p.dns.alert.len();
    let procs = p.process.allow.len() + p.process.deny.len() + p.process.alert.len();
    Ok(format!(
        "{}: valid, version {}, {} DNS rules, {} process rules, mode {}",
        policy.display(),
        compiled.version(),
        rules,
        procs,
        match p.mode {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("no DNS answer from {addr}: {reason}")]
    Dns { addr: SocketAddr, reason: String },
    #[error("admin {addr}/healthz: {reason}")]
    Admin { addr: SocketAddr, reason: String },
}

/// Asks the guard for its health name (answered locally, whatever the policy) and, when an
/// admin address is given, checks `/healthz` too.
pub fn health(
    listen: SocketAddr,
    admin: Option<SocketAddr>,
    timeout: Duration,
) -> Result<(), HealthError> {
    let dns_err = |reason: String| HealthError::Dns {
        addr: listen,
        reason,
    };
    let local: SocketAddr = if listen.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(local).map_err(|e| dns_err(e.to_string()))?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| dns_err(e.to_string()))?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in HEALTH_NAME.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    sock.send_to(&q, listen)
        .map_err(|e| dns_err(e.to_string()))?;
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = sock
            .recv_from(&mut buf)
            .map_err(|e| dns_err(e.to_string()))?;
        if from == listen && n >= 12 && buf[0..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
            break;
        }
    }
    if let Some(addr) = admin {
        let admin_err = |reason: String| HealthError::Admin { addr, reason };
        let mut s =
            TcpStream::connect_timeout(&addr, timeout).map_err(|e| admin_err(e.to_string()))?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| admin_err(e.to_string()))?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .map_err(|e| admin_err(e.to_string()))?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)
            .map_err(|e| admin_err(e.to_string()))?;
        let status = resp.lines().next().unwrap_or_default();
        if !status.contains(" 200 ") {
            return Err(admin_err(format!("answered {status:?}")));
        }
    }
    Ok(())
}
