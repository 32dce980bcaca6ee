//! Every query datagram: the fast path, then what the guard would answer without a network
//! (blocked answers of every kind, truncation, the hickory-proto error path).
#![no_main]

use dns_guard::{answer, query};
use guard_policy::DnsAnswer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match query::parse(data) {
        query::Parsed::Query(q) => {
            assert_eq!(&data[12..12 + q.question.len()], q.question.as_bytes());
            for how in [DnsAnswer::NxDomain, DnsAnswer::NoData, DnsAnswer::Refused] {
                let a = answer::blocked(&q, how, 5, "dns.deny:*.example", q.udp_limit());
                assert_eq!(a[0..2], data[0..2]);
            }
            let _ = answer::truncated(&q);
        }
        query::Parsed::Error(rcode) => {
            if let Some(a) = answer::error_answer(data, rcode) {
                assert_eq!(a[0..2], data[0..2]);
            }
        }
        query::Parsed::Drop => {}
    }
});
