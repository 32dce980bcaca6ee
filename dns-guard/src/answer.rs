//! Answers the guard makes itself: blocked names, errors, truncation.
//!
//! Blocked answers are built by hand from the client's own header and question bytes (so the
//! ID and the question's letter case are the client's), because a blocked-name flood is the
//! case where speed matters most. Malformed queries go through hickory-proto, which parses
//! what it can and builds a proper FORMERR/NOTIMP.

use guard_policy::DnsAnswer;
use hickory_proto::op::{Edns, Message, ResponseCode};

use crate::query::{
    FLAG_CD, FLAG_QR, FLAG_RA, FLAG_RD, FLAG_TC, HEADER_LEN, Query, RCODE_FORMERR, RCODE_NOERROR,
    RCODE_NXDOMAIN, RCODE_REFUSED, TYPE_OPT, TYPE_SOA,
};

/// The UDP payload size the guard advertises in its own OPT records.
pub const OUR_UDP_SIZE: u16 = 1232;
/// Extended DNS Error codes (RFC 8914).
pub const EDE_BLOCKED: u16 = 15;
pub const EDE_NO_REACHABLE_AUTHORITY: u16 = 22;
pub const EDE_OTHER: u16 = 0;

/// SOA MNAME and RNAME of blocked answers, in wire form. `.invalid` never exists
/// (RFC 6761), so nothing can be looked up from them.
const SOA_MNAME: &[u8] = b"\x09taskguard\x07invalid\x00";
const SOA_RNAME_LABEL: &[u8] = b"\x07blocked";

fn header(out: &mut Vec<u8>, q: &Query, rcode: u8, counts: [u16; 4], extra_flags: u16) {
    out.extend_from_slice(&q.id.to_be_bytes());
    let flags =
        FLAG_QR | FLAG_RA | (q.flags & (FLAG_RD | FLAG_CD)) | extra_flags | u16::from(rcode);
    out.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
}

/// An OPT record echoing the client's DO bit, with an optional Extended DNS Error.
fn opt(out: &mut Vec<u8>, q: &Query, ede: Option<(u16, &str)>, limit: usize) {
    let Some(edns) = q.edns else { return };
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&OUR_UDP_SIZE.to_be_bytes());
    let ttl: u32 = if edns.dnssec_ok { 0x8000 } else { 0 };
    out.extend_from_slice(&ttl.to_be_bytes());
    match ede {
        Some((code, text)) => {
            // Keep the whole answer within the client's limit: shorten the text if needed.
            let room = limit.saturating_sub(out.len() + 2 + 4 + 2);
            let mut text = &text.as_bytes()[..text.len().min(room).min(1024)];
            while !text.is_empty() && std::str::from_utf8(text).is_err() {
                text = &text[..text.len() - 1];
            }
            let len = (2 + text.len()) as u16;
            out.extend_from_slice(&(4 + len).to_be_bytes());
            out.extend_from_slice(&15u16.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(text);
        }
        None => out.extend_from_slice(&0u16.to_be_bytes()),
    }
}

/// The answer for a blocked name: the same for every query type.
pub fn blocked(q: &Query, how: DnsAnswer, ttl: u32, rule: &str, limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + q.question.len() + 128 + rule.len());
    let ar = u16::from(q.edns.is_some());
    let text = format!("blocked by {rule}");
    let (rcode, with_soa) = match how {
        DnsAnswer::NxDomain => (RCODE_NXDOMAIN, true),
        DnsAnswer::NoData => (RCODE_NOERROR, true),
        DnsAnswer::Refused => (RCODE_REFUSED, false),
    };
    header(&mut out, q, rcode, [1, 0, u16::from(with_soa), ar], 0);
    out.extend_from_slice(q.question.as_bytes());
    if with_soa {
        // Owned by the question name (a pointer to offset 12), so the negative answer is
        // cached for that name for `ttl` seconds (RFC 2308: the SOA's TTL and MINIMUM).
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&TYPE_SOA.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        let rdlen = SOA_MNAME.len() + SOA_RNAME_LABEL.len() + 2 + 20;
        out.extend_from_slice(&(rdlen as u16).to_be_bytes());
        let mname_at = out.len() as u16;
        out.extend_from_slice(SOA_MNAME);
        out.extend_from_slice(SOA_RNAME_LABEL);
        out.extend_from_slice(&(0xc000 | mname_at).to_be_bytes());
        for v in [1u32, ttl, ttl, ttl, ttl] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    opt(&mut out, q, Some((EDE_BLOCKED, &text)), limit);
    out
}

/// A bare answer with `rcode` for a well-formed query (SERVFAIL, REFUSED, NOERROR-empty),
/// with an Extended DNS Error when the client sent EDNS.
pub fn rcode_only(q: &Query, rcode: u8, ede: Option<(u16, &str)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + q.question.len() + 64);
    header(
        &mut out,
        q,
        rcode,
        [1, 0, 0, u16::from(q.edns.is_some())],
        0,
    );
    out.extend_from_slice(q.question.as_bytes());
    opt(&mut out, q, ede, q.udp_limit());
    out
}

/// The truncated form of an answer that does not fit the client's UDP limit: header and
/// question with TC set, so the client retries over TCP.
pub fn truncated(q: &Query) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + q.question.len() + 11);
    header(
        &mut out,
        q,
        RCODE_NOERROR,
        [1, 0, 0, u16::from(q.edns.is_some())],
        FLAG_TC,
    );
    out.extend_from_slice(q.question.as_bytes());
    opt(&mut out, q, None, q.udp_limit());
    out
}

/// The answer to a query the fast path refused (`rcode` is FORMERR or NOTIMP). hickory-proto
/// parses what it can, so the answer keeps the client's ID, opcode, question and EDNS when
/// they are readable; a message it cannot parse gets a header-only FORMERR. `None` when
/// there is not even a header to answer.
pub fn error_answer(msg: &[u8], rcode: u8) -> Option<Vec<u8>> {
    if msg.len() < HEADER_LEN {
        return None;
    }
    if let Ok(request) = Message::from_vec(msg) {
        let code = ResponseCode::from(0, rcode);
        let mut reply = Message::error_msg(request.metadata.id, request.metadata.op_code, code);
        reply.metadata.recursion_desired = request.metadata.recursion_desired;
        reply.metadata.recursion_available = true;
        if request.queries.len() == 1 {
            reply.add_queries(request.queries.iter().cloned());
        }
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(OUR_UDP_SIZE);
            reply.set_edns(edns);
        }
        if let Ok(bytes) = reply.to_vec() {
            return Some(bytes);
        }
    }
    let id = [msg[0], msg[1]];
    // Keep the opcode and RD; QR set; the RCODE given; no records.
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    let rcode = if rcode == 0 { RCODE_FORMERR } else { rcode };
    let flags = FLAG_QR | (flags & (0x7800 | FLAG_RD)) | u16::from(rcode);
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&id);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    Some(out)
}

/// Replaces ID and question bytes of a stored or forwarded answer with the client's.
pub fn personalise(answer: &mut [u8], q: &Query) {
    if answer.len() >= HEADER_LEN + q.question.len() {
        answer[0..2].copy_from_slice(&q.id.to_be_bytes());
        answer[HEADER_LEN..HEADER_LEN + q.question.len()].copy_from_slice(q.question.as_bytes());
    }
}
