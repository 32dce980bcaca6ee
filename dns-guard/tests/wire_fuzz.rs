//! In-process fuzzing of everything that reads bytes from the network: the query fast path,
//! the hickory-proto error path, the upstream-answer walker, blocked-answer building and the
//! shim datagram validator. 200,000 random and mutated inputs, deterministic (replayable),
//! run with every `cargo test`. The profile is panic=abort, so any panic fails the run.

use dns_guard::{answer, events, query, response};
use guard_policy::DnsAnswer;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn query_bytes(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0]);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if edns {
        q.extend_from_slice(&[0, 0, 41, 16, 0, 0, 0, 0x80, 0, 0, 0]);
    }
    q
}

/// An upstream answer with a CNAME chain, an A record, an SOA and an OPT, using compression.
fn answer_bytes() -> Vec<u8> {
    let mut a = query_bytes(7, "www.example.test", 1, false);
    a[2] |= 0x80;
    a[7] = 2; // ANCOUNT
    a[9] = 1; // NSCOUNT
    a[11] = 1; // ARCOUNT
    // www.example.test CNAME cdn.example.test
    a.extend_from_slice(&[
        0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'c', b'd', b'n', 0xc0, 16,
    ]);
    // cdn.example.test A 10.0.0.1 (owner by pointer to the CNAME's target)
    let cdn = (a.len() - 6) as u8;
    a.extend_from_slice(&[0xc0, cdn, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1]);
    // example.test SOA
    a.extend_from_slice(&[0xc0, 16, 0, 6, 0, 1, 0, 0, 0, 90, 0, 22, 0, 0]);
    a.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]);
    // OPT
    a.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    a
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut p = seed.to_vec();
    match rng.below(5) {
        0 => (0..rng.below(700)).map(|_| rng.next() as u8).collect(),
        1 => {
            for _ in 0..1 + rng.below(6) {
                let i = rng.below(p.len());
                p[i] ^= 1 << rng.below(8);
            }
            p
        }
        2 => {
            p.truncate(rng.below(p.len() + 1));
            p
        }
        3 => {
            let i = rng.below(p.len());
            let junk: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
            p.splice(i..i, junk);
            p
        }
        _ => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(p.len());
                p[i] = rng.next() as u8;
            }
            p
        }
    }
}

#[test]
fn random_and_mutated_bytes_never_break_the_wire_code() {
    let seeds = [
        query_bytes(1, "allowed.test", 1, false),
        query_bytes(2, "a.b.c.d.e.example.test", 28, true),
        query_bytes(3, "x", 255, true),
    ];
    let upstream = answer_bytes();
    let upstream_q = &query_bytes(7, "www.example.test", 1, false)[12..];
    assert!(
        response::inspect(&upstream, upstream_q)
            .is_ok_and(|i| i.chain.len() == 2 && i.min_ttl == Some(5))
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for _ in 0..100_000 {
        let seed = &seeds[rng.below(seeds.len())];
        let msg = mutate(&mut rng, seed);
        match query::parse(&msg) {
            query::Parsed::Query(q) => {
                parsed += 1;
                assert_eq!(&msg[12..12 + q.question.len()], q.question.as_bytes());
                for how in [DnsAnswer::NxDomain, DnsAnswer::NoData, DnsAnswer::Refused] {
                    let a = answer::blocked(&q, how, 5, "dns.deny:*.test", q.udp_limit());
                    assert!(a.len() <= q.udp_limit().max(512) + 64);
                    assert_eq!(a[0..2], msg[0..2]);
                }
                let _ = answer::truncated(&q);
            }
            query::Parsed::Error(rcode) => {
                if let Some(a) = answer::error_answer(&msg, rcode) {
                    assert_eq!(a[0..2], msg[0..2], "the error keeps the ID");
                }
            }
            query::Parsed::Drop => {}
        }
        let answer = mutate(&mut rng, &upstream);
        let _ = response::inspect(&answer, upstream_q);
        let at = rng.below(answer.len().max(1));
        let _ = response::read_name(&answer, at);
    }
    assert!(
        parsed > 1_000,
        "the mutations reach the deep paths: {parsed}"
    );
    let shim =
        br#"{"kind":"process","action":"blocked","program":"/bin/nc","argv":["nc"],"pid":1}"#;
    for _ in 0..100_000 {
        let d = mutate(&mut rng, shim);
        if let Ok(fields) = events::validate(&d) {
            assert!(fields.contains_key("kind") && fields.contains_key("action"));
        }
    }
}
