//! `@ipMatch` networks: IPv4 and IPv6 addresses and CIDR blocks.

use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Net {
    addr: u128,
    prefix: u8,
    v6: bool,
}

fn bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, false),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            // An IPv4-mapped client address matches IPv4 networks.
            Some(v4) => (u32::from(v4) as u128, false),
            None => (u128::from(a), true),
        },
    }
}

fn mask(prefix: u8, v6: bool) -> u128 {
    let width = if v6 { 128 } else { 32 };
    if prefix == 0 {
        0
    } else {
        let all: u128 = if v6 { u128::MAX } else { u32::MAX as u128 };
        all & !((1u128 << (width - prefix as u32)) - 1)
    }
}

impl Net {
    pub(crate) fn parse(s: &str) -> Result<Net, String> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = a
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let (addr, v6) = bits(ip);
        let width = if v6 { 128 } else { 32 };
        let prefix = match p {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= width)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={width}"))?,
        };
        Ok(Net {
            addr: addr & mask(prefix, v6),
            prefix,
            v6,
        })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let (a, v6) = bits(ip);
        v6 == self.v6 && a & mask(self.prefix, v6) == self.addr
    }
}
