//! Reading upstream answers: only what the guard needs, without building records.
//!
//! For each answer the guard needs its RCODE and TC bit, whether its question is the one that
//! was asked, the CNAME chain (for `cname = "inspect"`), and where every TTL is (to age cached
//! copies). Walking the wire format for that is cheaper than a full hickory-proto parse; a
//! malformed answer is rejected as a whole and the query times out into SERVFAIL.

use guard_policy::DnsName;

use crate::query::{HEADER_LEN, TYPE_CNAME, TYPE_OPT, TYPE_SOA, read_u16, read_u32};

/// How many CNAME records of one answer are inspected; longer chains are refused.
pub const MAX_CHAIN: usize = 16;

#[derive(Debug, Default)]
pub struct AnswerInfo {
    pub rcode: u8,
    pub truncated: bool,
    /// Byte offsets of the TTL field of every record except OPT.
    pub ttl_offsets: Vec<u16>,
    /// Smallest TTL over the answer and authority sections (for an SOA, also its MINIMUM),
    /// `None` when those sections are empty.
    pub min_ttl: Option<u32>,
    /// Owner and target names of the CNAME records in the answer section, in order.
    pub chain: Vec<DnsName>,
    /// The chain was longer than [`MAX_CHAIN`] or held an unreadable name.
    pub chain_overflow: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnswerError {
    #[error("answer is malformed")]
    Malformed,
    #[error("answer's question does not match the query")]
    QuestionMismatch,
}

/// Checks that `msg` answers `question` (the question section bytes as sent, compared without
/// regard to letter case) and walks its records.
pub fn inspect(msg: &[u8], question: &[u8]) -> Result<AnswerInfo, AnswerError> {
    let flags = read_u16(msg, 2).ok_or(AnswerError::Malformed)?;
    let qd = read_u16(msg, 4).ok_or(AnswerError::Malformed)?;
    let an = read_u16(msg, 6).ok_or(AnswerError::Malformed)?;
    let ns = read_u16(msg, 8).ok_or(AnswerError::Malformed)?;
    let ar = read_u16(msg, 10).ok_or(AnswerError::Malformed)?;
    let mut info = AnswerInfo {
        rcode: (flags & 0xf) as u8,
        truncated: flags & crate::query::FLAG_TC != 0,
        ..AnswerInfo::default()
    };
    if qd != 1 {
        return Err(AnswerError::QuestionMismatch);
    }
    let end_q = HEADER_LEN + question.len();
    let asked = msg
        .get(HEADER_LEN..end_q)
        .ok_or(AnswerError::QuestionMismatch)?;
    if !asked.eq_ignore_ascii_case(question) {
        return Err(AnswerError::QuestionMismatch);
    }
    if info.truncated {
        // The records of a truncated answer are not used.
        return Ok(info);
    }
    let mut pos = end_q;
    let sections = [(an, true), (ns, false), (ar, false)];
    for (si, (count, is_answer)) in sections.into_iter().enumerate() {
        for _ in 0..count {
            let owner_start = pos;
            pos = skip_name(msg, pos)?;
            let rtype = read_u16(msg, pos).ok_or(AnswerError::Malformed)?;
            let ttl = read_u32(msg, pos + 4).ok_or(AnswerError::Malformed)?;
            let rdlen = usize::from(read_u16(msg, pos + 8).ok_or(AnswerError::Malformed)?);
            let ttl_at = pos + 4;
            let rdata = pos + 10;
            let end = rdata + rdlen;
            if end > msg.len() {
                return Err(AnswerError::Malformed);
            }
            if rtype != TYPE_OPT {
                info.ttl_offsets
                    .push(u16::try_from(ttl_at).map_err(|_| AnswerError::Malformed)?);
                if si < 2 {
                    let mut t = ttl;
                    if rtype == TYPE_SOA
                        && let Some(min) = soa_minimum(msg, rdata, end)
                    {
                        t = t.min(min);
                    }
                    info.min_ttl = Some(info.min_ttl.map_or(t, |m| m.min(t)));
                }
            }
            if is_answer && rtype == TYPE_CNAME {
                if info.chain.len() + 2 > MAX_CHAIN * 2 {
                    info.chain_overflow = true;
                } else {
                    match (read_name(msg, owner_start), read_name(msg, rdata)) {
                        (Some(owner), Some(target)) => {
                            info.chain.push(owner);
                            info.chain.push(target);
                        }
                        _ => info.chain_overflow = true,
                    }
                }
            }
            pos = end;
        }
    }
    Ok(info)
}

fn soa_minimum(msg: &[u8], rdata: usize, end: usize) -> Option<u32> {
    let p = skip_name(msg, rdata).ok()?;
    let p = skip_name(msg, p).ok()?;
    if p + 20 > end {
        return None;
    }
    read_u32(msg, p + 16)
}

/// Position after the (possibly compressed) name starting at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, AnswerError> {
    loop {
        let len = *msg.get(pos).ok_or(AnswerError::Malformed)?;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xc0 == 0xc0 => {
                msg.get(pos + 1).ok_or(AnswerError::Malformed)?;
                return Ok(pos + 2);
            }
            l if l <= 63 => pos += 1 + usize::from(l),
            _ => return Err(AnswerError::Malformed),
        }
    }
}

/// Reads a possibly compressed name into the matcher's form. Pointers must point backwards,
/// which bounds the walk.
pub fn read_name(msg: &[u8], mut pos: usize) -> Option<DnsName> {
    let mut spans: [(usize, usize); 128] = [(0, 0); 128];
    let mut count = 0;
    let mut limit = pos;
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => break,
            l if l & 0xc0 == 0xc0 => {
                let target = usize::from(u16::from_be_bytes([l & 0x3f, *msg.get(pos + 1)?]));
                if target >= limit {
                    return None;
                }
                limit = target;
                pos = target;
            }
            l if l <= 63 => {
                if count == spans.len() {
                    return None;
                }
                let end = pos + 1 + usize::from(l);
                msg.get(pos + 1..end)?;
                spans[count] = (pos + 1, end);
                count += 1;
                pos = end;
            }
            _ => return None,
        }
    }
    DnsName::from_labels(spans[..count].iter().map(|&(s, e)| &msg[s..e])).ok()
}

/// Rewrites every TTL at `offsets` with `f(old)`.
pub fn patch_ttls(msg: &mut [u8], offsets: &[u16], f: impl Fn(u32) -> u32) {
    for &at in offsets {
        let at = usize::from(at);
        if let Some(b) = msg.get_mut(at..at + 4) {
            let old = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            b.copy_from_slice(&f(old).to_be_bytes());
        }
    }
}
