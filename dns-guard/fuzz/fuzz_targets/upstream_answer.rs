//! Every upstream answer: the walker that finds TTLs and the CNAME chain, and name reading
//! from any offset (compression pointers included).
#![no_main]

use dns_guard::response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The question of `www.example.test A IN`, as the pending query would hold it.
    const QUESTION: &[u8] = b"\x03www\x07example\x04test\x00\x00\x01\x00\x01";
    if let Ok(info) = response::inspect(data, QUESTION) {
        for &at in &info.ttl_offsets {
            assert!(usize::from(at) + 4 <= data.len());
        }
    }
    for at in 0..data.len().min(64) {
        let _ = response::read_name(data, at);
    }
});
