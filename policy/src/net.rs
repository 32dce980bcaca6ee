//! The `[net]` section: which destination addresses a process may connect or send to.
//!
//! Rules are CIDRs or single addresses, each with an optional port: `10.0.0.0/8`,
//! `169.254.170.2:80`, `[fd00::]/8`, `[2001:db8::1]:443`. A destination is decided in this
//! order (see [`crate::PolicyView::decide_net`]): loopback (`127.0.0.0/8`, `::1`) is always
//! allowed; then the most specific matching rule (longest prefix, then a rule with a port
//! over one without, then deny > alert > allow); an `allow` rule's verdict is final, while
//! a `deny` or `alert` rule applies even to addresses an allowed name resolved to (so a
//! denied metadata address stays denied when some allowed name points at it: DNS
//! rebinding); then an address an allowed name resolved to in this task (the answers
//! ledger) is allowed; then `net.default`.
//!
//! Compiled layout (a section after the string pool, located by header offset
//! [`crate::format::OFF_NET`]; 0 there means the policy has no `[net]` section):
//!
//! ```text
//!  0  default verdict u8, 3 reserved
//!  4  grace            u32 (seconds a ledger entry outlives its TTL)
//!  8  rule count       u32
//! 12  text length      u32
//! 16  rules            count x RULE_LEN bytes, most specific first:
//!       family u8 (4 | 6), prefix length u8, verdict u8, has port u8, port u16,
//!       text length u16, text offset u32 (into the texts), reserved u32,
//!       address 16 bytes (IPv4: the first 4)
//!     texts            the rules' normalised texts
//! ```

use core::net::IpAddr;

use crate::decision::Verdict;
use crate::glob_index::verdict_of;

pub(crate) const NET_HEADER_LEN: usize = 16;
pub(crate) const RULE_LEN: usize = 32;

/// Default grace period of ledger entries: long-lived connection pools reconnect to an
/// address well after its TTL expired.
pub const DEFAULT_GRACE: u32 = 3600;
/// Longest grace period (a week).
pub const MAX_GRACE: u32 = 7 * 24 * 3600;

/// A destination: address (IPv4-mapped IPv6 already folded to IPv4) and port (0: any port,
/// as `dns-guard check` asks about an address without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub ip: IpAddr,
    pub port: u16,
}

impl Destination {
    /// Folds IPv4-mapped IPv6 (`::ffff:a.b.c.d`) to IPv4: the kernel connects those as IPv4.
    pub fn new(ip: IpAddr, port: u16) -> Destination {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        Destination { ip, port }
    }

    pub fn is_loopback(&self) -> bool {
        match self.ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => v6.is_loopback(),
        }
    }

    /// (family, 16 address bytes).
    fn key(&self) -> (u8, [u8; 16]) {
        let mut out = [0u8; 16];
        match self.ip {
            IpAddr::V4(v4) => {
                out[..4].copy_from_slice(&v4.octets());
                (4, out)
            }
            IpAddr::V6(v6) => (6, v6.octets()),
        }
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8; 16], b: &[u8], bits: usize) -> bool {
    let whole = bits / 8;
    let (Some(x), Some(y)) = (a.get(..whole), b.get(..whole)) else {
        return false;
    };
    if x != y {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(whole), b.get(whole)) {
        (Some(p), Some(q)) => p & mask == q & mask,
        _ => false,
    }
}

/// The compiled `[net]` section, borrowed from the blob.
#[derive(Clone, Copy, Debug)]
pub struct NetView<'a> {
    default: Verdict,
    grace: u32,
    rules: &'a [u8],
    texts: &'a [u8],
}

impl<'a> NetView<'a> {
    /// The section at `off` in `blob`; `None` when it does not fit or is malformed.
    pub(crate) fn at(blob: &'a [u8], off: usize) -> Option<NetView<'a>> {
        let head = blob.get(off..off.checked_add(NET_HEADER_LEN)?)?;
        let default = verdict_of(head[0])?;
        let u32_at =
            |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let grace = u32_at(4);
        let count = u32_at(8) as usize;
        let text_len = u32_at(12) as usize;
        let rules_at = off + NET_HEADER_LEN;
        let rules_end = rules_at.checked_add(count.checked_mul(RULE_LEN)?)?;
        let rules = blob.get(rules_at..rules_end)?;
        let texts = blob.get(rules_end..rules_end.checked_add(text_len)?)?;
        Some(NetView {
            default,
            grace,
            rules,
            texts,
        })
    }

    /// `net.default`: the verdict for destinations nothing else decides.
    pub fn default(&self) -> Verdict {
        self.default
    }

    /// `net.grace` in seconds.
    pub fn grace(&self) -> u32 {
        self.grace
    }

    /// The most specific rule matching `dest`: its verdict and normalised text.
    pub fn rule(&self, dest: &Destination) -> Option<(Verdict, &'a str)> {
        let (family, addr) = dest.key();
        for rule in self.rules.chunks_exact(RULE_LEN) {
            if rule[0] != family {
                continue;
            }
            if rule[3] != 0 && u16::from_le_bytes([rule[4], rule[5]]) != dest.port {
                continue;
            }
            if !prefix_eq(&addr, &rule[16..32], usize::from(rule[1])) {
                continue;
            }
            let verdict = verdict_of(rule[2])?;
            let len = usize::from(u16::from_le_bytes([rule[6], rule[7]]));
            let off = u32::from_le_bytes([rule[8], rule[9], rule[10], rule[11]]) as usize;
            let text = self
                .texts
                .get(off..off.checked_add(len)?)
                .and_then(|t| core::str::from_utf8(t).ok())
                .unwrap_or("");
            return Some((verdict, text));
        }
        None
    }
}

#[cfg(feature = "compile")]
pub use build::NetSection;
#[cfg(feature = "compile")]
pub(crate) use build::{normalise, write};

#[cfg(feature = "compile")]
mod build {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;

    /// The `[net]` section of a document.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
    pub struct NetSection {
        pub default: Verdict,
        /// Seconds a ledger entry outlives its TTL (default [`DEFAULT_GRACE`]).
        pub grace: u32,
        pub allow: Vec<String>,
        pub deny: Vec<String>,
        pub alert: Vec<String>,
    }

    impl Default for NetSection {
        fn default() -> Self {
            NetSection {
                default: Verdict::Allow,
                grace: DEFAULT_GRACE,
                allow: Vec::new(),
                deny: Vec::new(),
                alert: Vec::new(),
            }
        }
    }

    /// A parsed rule.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct NetRule {
        pub ip: IpAddr,
        pub prefix: u8,
        pub port: Option<u16>,
    }

    impl NetRule {
        /// The normalised text: `10.0.0.0/8`, `169.254.170.2:80`, `[fd00::]/8`, `[::1]:53`.
        pub(crate) fn text(&self) -> String {
            let mut out = match self.ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            let full = if self.ip.is_ipv4() { 32 } else { 128 };
            if self.prefix != full {
                out.push_str(&format!("/{}", self.prefix));
            }
            if let Some(p) = self.port {
                out.push_str(&format!(":{p}"));
            }
            out
        }
    }

    fn parse_prefix(text: &str, max: u8) -> Result<u8, String> {
        match text.parse::<u8>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!(
                "prefix length `{text}` must be a number from 0 to {max}"
            )),
        }
    }

    fn parse_port(text: &str) -> Result<u16, String> {
        match text.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("port `{text}` must be a number from 1 to 65535")),
        }
    }

    /// Parses one rule: `ADDR[/LEN][:PORT]` for IPv4, `[ADDR][/LEN][:PORT]` or `ADDR[/LEN]`
    /// for IPv6. Host bits below the prefix must be zero.
    pub(crate) fn parse(raw: &str) -> Result<NetRule, String> {
        let text = raw.trim();
        let expected = "expected an address or CIDR with an optional port: `10.0.0.0/8`, `169.254.170.2:80`, `[fd00::]/8`, `[2001:db8::1]:443`";
        if text.is_empty() {
            return Err(format!("empty; {expected}"));
        }
        let (ip, prefix, port) = if let Some(rest) = text.strip_prefix('[') {
            let close = rest
                .find(']')
                .ok_or_else(|| format!("missing `]`; {expected}"))?;
            let inside = &rest[..close];
            let after = &rest[close + 1..];
            // `[fd00::/8]` and `[fd00::]/8` both read naturally; accept both.
            let (addr, mut prefix) = match inside.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (inside, None),
            };
            let mut after = after;
            if let Some(p) = after.strip_prefix('/') {
                if prefix.is_some() {
                    return Err(format!("two prefix lengths; {expected}"));
                }
                let end = p.find(':').unwrap_or(p.len());
                prefix = Some(&p[..end]);
                after = &p[end..];
            }
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(format!("unexpected `{after}`; {expected}")),
                },
            };
            let ip: Ipv6Addr = addr
                .parse()
                .map_err(|_| format!("`{addr}` is not an IPv6 address; {expected}"))?;
            (IpAddr::V6(ip), prefix, port)
        } else if text.matches(':').count() > 1 {
            let (addr, prefix) = match text.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (text, None),
            };
            let ip: Ipv6Addr = addr.parse().map_err(|_| {
                format!(
                    "`{addr}` is not an IPv6 address (write `[addr]:port` for a port); {expected}"
                )
            })?;
            (IpAddr::V6(ip), prefix, None)
        } else {
            let (rest, port) = match text.split_once(':') {
                Some((a, p)) => (a, Some(p)),
                None => (text, None),
            };
            let (addr, prefix) = match rest.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (rest, None),
            };
            let ip: Ipv4Addr = addr
                .parse()
                .map_err(|_| format!("`{addr}` is not an IPv4 address; {expected}"))?;
            (IpAddr::V4(ip), prefix, port)
        };
        // IPv4-mapped IPv6 rules mean the IPv4 address (that is how connections are seen).
        let (ip, prefix) = match (ip, prefix) {
            (IpAddr::V6(v6), p) if v6.to_ipv4_mapped().is_some() => {
                let p = match p {
                    Some(p) => {
                        let n = parse_prefix(p, 128)?;
                        if n < 96 {
                            return Err(format!(
                                "an IPv4-mapped prefix must be /96 or longer; {expected}"
                            ));
                        }
                        Some(n - 96)
                    }
                    None => None,
                };
                (
                    IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
                    p.map(|n| n.to_string()),
                )
            }
            (ip, p) => (ip, p.map(str::to_string)),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => parse_prefix(&p, max)?,
            None => max,
        };
        let port = port.map(parse_port).transpose()?;
        let rule = NetRule { ip, prefix, port };
        let (_, bytes) = Destination::new(ip, 0).key();
        let masked = masked(&bytes, usize::from(prefix));
        if masked != bytes {
            let base = match ip {
                IpAddr::V4(_) => {
                    IpAddr::V4(Ipv4Addr::new(masked[0], masked[1], masked[2], masked[3]))
                }
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(masked)),
            };
            let hint = NetRule { ip: base, ..rule }.text();
            return Err(format!(
                "host bits are set below the /{prefix} prefix; did you mean `{hint}`?"
            ));
        }
        Ok(rule)
    }

    fn masked(bytes: &[u8; 16], bits: usize) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, b) in bytes.iter().enumerate() {
            let keep = bits.saturating_sub(i * 8).min(8);
            out[i] = if keep == 0 {
                0
            } else {
                b & (0xffu8 << (8 - keep))
            };
        }
        out
    }

    /// Normalises one rule for the document (what [`crate::schema`] calls).
    pub(crate) fn normalise(raw: &str) -> Result<String, String> {
        parse(raw).map(|r| r.text())
    }

    /// The compiled section for `net`.
    pub(crate) fn write(net: &NetSection) -> Vec<u8> {
        let mut rules: Vec<(NetRule, Verdict, String)> = Vec::new();
        for (list, v) in [
            (&net.allow, Verdict::Allow),
            (&net.alert, Verdict::Alert),
            (&net.deny, Verdict::Deny),
        ] {
            for text in list {
                if let Ok(r) = parse(text) {
                    rules.push((r, v, r.text()));
                }
            }
        }
        // Most specific first: the view takes the first match.
        rules.sort_by(|a, b| {
            (b.0.prefix, b.0.port.is_some(), b.1)
                .cmp(&(a.0.prefix, a.0.port.is_some(), a.1))
                .then_with(|| a.2.cmp(&b.2))
        });
        let mut texts = Vec::new();
        let mut out = vec![0u8; NET_HEADER_LEN];
        out[0] = net.default as u8;
        out[4..8].copy_from_slice(&net.grace.to_le_bytes());
        out[8..12].copy_from_slice(&(rules.len() as u32).to_le_bytes());
        for (rule, verdict, text) in &rules {
            let (family, addr) = Destination::new(rule.ip, 0).key();
            let mut slot = [0u8; RULE_LEN];
            slot[0] = family;
            slot[1] = rule.prefix;
            slot[2] = *verdict as u8;
            slot[3] = u8::from(rule.port.is_some());
            slot[4..6].copy_from_slice(&rule.port.unwrap_or(0).to_le_bytes());
            slot[6..8].copy_from_slice(&(text.len() as u16).to_le_bytes());
            slot[8..12].copy_from_slice(&(texts.len() as u32).to_le_bytes());
            slot[16..32].copy_from_slice(&addr);
            texts.extend_from_slice(text.as_bytes());
            out.extend_from_slice(&slot);
        }
        out[12..16].copy_from_slice(&(texts.len() as u32).to_le_bytes());
        out.extend_from_slice(&texts);
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rules_normalise() {
            for (raw, want) in [
                ("10.0.0.0/8", "10.0.0.0/8"),
                ("169.254.170.2:80", "169.254.170.2:80"),
                ("169.254.170.2/32", "169.254.170.2"),
                ("[fd00::]/8", "[fd00::]/8"),
                ("[fd00::/8]", "[fd00::]/8"),
                ("fd00::/8", "[fd00::]/8"),
                ("[2001:DB8::1]:443", "[2001:db8::1]:443"),
                ("::1", "[::1]"),
                ("[::ffff:10.0.0.0]/104", "10.0.0.0/8"),
                ("0.0.0.0/0:53", "0.0.0.0/0:53"),
            ] {
                assert_eq!(normalise(raw).as_deref(), Ok(want), "{raw}");
            }
        }

        #[test]
        fn bad_rules_say_what_is_expected() {
            for (raw, part) in [
                ("10.0.0.1/8", "did you mean `10.0.0.0/8`"),
                ("10.0.0.0/33", "from 0 to 32"),
                ("10.0.0.0:0", "from 1 to 65535"),
                ("example.com", "not an IPv4 address"),
                ("fd00::zz", "not an IPv6 address"),
                ("[fd00::", "missing `]`"),
                ("", "empty"),
            ] {
                let err = normalise(raw).unwrap_err();
                assert!(err.contains(part), "{raw}: {err}");
            }
        }
    }
}
