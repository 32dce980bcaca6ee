//! The query fast path: the header, the one question and the OPT record, parsed by hand.
//!
//! Why by hand: every query the guard answers goes through here, and a full message parse
//! (hickory-proto's `Message::from_vec` builds `Name`s, `Vec`s and `Record`s) costs more than
//! the whole rest of a blocked answer. A stub query has a fixed shape: one uncompressed
//! question and at most one OPT record. Anything else is rare and is handed to
//! [`crate::answer::error_answer`], which uses hickory-proto to answer FORMERR/NOTIMP
//! properly. Every read is bounds-checked; nothing here can panic on input.

use guard_policy::DnsName;

pub const HEADER_LEN: usize = 12;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;

/// Flag bits of the second header word.
pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
pub const FLAG_TC: u16 = 0x0200;
pub const FLAG_RD: u16 = 0x0100;
pub const FLAG_RA: u16 = 0x0080;
pub const FLAG_AD: u16 = 0x0020;
pub const FLAG_CD: u16 = 0x0010;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;

/// The client's EDNS parameters (RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub dnssec_ok: bool,
}

/// The question section as the client sent it, held inline so a pending query owns it
/// without an allocation.
#[derive(Clone, Copy)]
pub struct Question {
    buf: [u8; 260],
    len: u16,
}

impl Question {
    fn new(bytes: &[u8]) -> Option<Question> {
        let mut buf = [0u8; 260];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Question {
            buf,
            len: bytes.len() as u16,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Question {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Question({} bytes)", self.len)
    }
}

/// A well-formed standard query with exactly one question.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub id: u16,
    /// The second header word as the client sent it (RD, CD, AD bits are echoed).
    pub flags: u16,
    /// The question name, lower-cased, for the policy and the cache.
    pub name: DnsName,
    pub qtype: u16,
    pub qclass: u16,
    /// The question section exactly as sent (original letter case): name, type, class.
    pub question: Question,
    pub edns: Option<Edns>,
}

impl Query {
    /// The largest UDP answer the client accepts.
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            Some(e) => usize::from(e.udp_size.max(512)),
            None => 512,
        }
    }
}

/// What the fast path makes of a datagram.
// Lives on the stack once per query; boxing the query would allocate for every one.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    Query(Query),
    /// Not answerable at all: shorter than a header, or a response (answering responses
    /// invites reflection loops).
    Drop,
    /// Answer with this RCODE (FORMERR, NOTIMP) through the slow path.
    Error(u8),
}

pub fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

pub fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses a query datagram (or a TCP message without its length prefix).
pub fn parse(msg: &[u8]) -> Parsed {
    if msg.len() < HEADER_LEN {
        return Parsed::Drop;
    }
    let (Some(id), Some(flags)) = (read_u16(msg, 0), read_u16(msg, 2)) else {
        return Parsed::Drop;
    };
    if flags & FLAG_QR != 0 {
        return Parsed::Drop;
    }
    let opcode = (flags >> 11) & 0xf;
    if opcode != 0 {
        return Parsed::Error(RCODE_NOTIMP);
    }
    let counts = (
        read_u16(msg, 4),
        read_u16(msg, 6),
        read_u16(msg, 8),
        read_u16(msg, 10),
    );
    let (Some(qd), Some(an), Some(ns), Some(ar)) = counts else {
        return Parsed::Drop;
    };
    if qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return Parsed::Error(RCODE_FORMERR);
    }
    match parse_question(msg, id, flags, ar) {
        Some(q) => Parsed::Query(q),
        None => Parsed::Error(RCODE_FORMERR),
    }
}

fn parse_question(msg: &[u8], id: u16, flags: u16, ar: u16) -> Option<Query> {
    let mut pos = HEADER_LEN;
    let mut labels: [(usize, usize); 128] = [(0, 0); 128];
    let mut count = 0usize;
    loop {
        let len = usize::from(*msg.get(pos)?);
        if len == 0 {
            pos += 1;
            break;
        }
        // Compression pointers and the obsolete extended label types do not belong in a
        // stub's question.
        if len > 63 || count == labels.len() {
            return None;
        }
        let start = pos + 1;
        let end = start.checked_add(len)?;
        msg.get(start..end)?;
        labels[count] = (start, end);
        count += 1;
        pos = end;
    }
    let name = DnsName::from_labels(labels[..count].iter().map(|&(s, e)| &msg[s..e])).ok()?;
    let qtype = read_u16(msg, pos)?;
    let qclass = read_u16(msg, pos + 2)?;
    let question_end = pos + 4;
    let question = Question::new(msg.get(HEADER_LEN..question_end)?)?;
    let mut edns = None;
    let mut end = question_end;
    if ar == 1 {
        // The one additional record must be an OPT owned by the root.
        if *msg.get(end)? != 0 || read_u16(msg, end + 1)? != TYPE_OPT {
            return None;
        }
        let udp_size = read_u16(msg, end + 3)?;
        let ttl = read_u32(msg, end + 5)?;
        let rdlen = usize::from(read_u16(msg, end + 9)?);
        end = end + 11 + rdlen;
        if end > msg.len() {
            return None;
        }
        edns = Some(Edns {
            udp_size,
            dnssec_ok: ttl & 0x8000 != 0,
        });
    }
    if end != msg.len() {
        return None;
    }
    Some(Query {
        id,
        flags,
        name,
        qtype,
        qclass,
        question,
        edns,
    })
}

/// The conventional mnemonic of a query type, for audit events and metrics.
pub fn qtype_name(qtype: u16) -> std::borrow::Cow<'static, str> {
    let known = match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return std::borrow::Cow::Owned(format!("TYPE{qtype}")),
    };
    std::borrow::Cow::Borrowed(known)
}
