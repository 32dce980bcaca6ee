//! dns-guard under bad input: FORMERR for malformed queries and QDCOUNT other than 1,
//! NOTIMP for other opcodes, silence for what cannot be answered, and a bounded fuzz run of
//! random and bit-flipped packets over UDP and TCP, after which the guard still answers
//! correctly and no name outside the policy has reached the upstream.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use guard_tests::upstream::{
    Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, build_query, dig, dns_tools, rcode,
    tcp_exchange, udp_exchange, write_policy,
};

const POLICY: &str = r#"
[dns]
default = "deny"
allow = ["allowed.test", "*.allowed.test"]
deny = ["evil.test"]
"#;

fn start(policy: &str) -> (Dnsmasq, GuardProcess, TempDir) {
    let dir = TempDir::new("dns-malformed");
    let path = write_policy(&dir, "policy.toml", policy);
    let upstream = Dnsmasq::start(
        &Zone::new()
            .host("allowed.test", "10.0.0.1")
            .host("evil.test", "10.6.6.6"),
    );
    let guard = GuardProcess::start(GuardOptions::new(path.display().to_string(), upstream.addr));
    (upstream, guard, dir)
}

fn with_counts(mut q: Vec<u8>, qd: u16, an: u16) -> Vec<u8> {
    q[4..6].copy_from_slice(&qd.to_be_bytes());
    q[6..8].copy_from_slice(&an.to_be_bytes());
    q
}

fn with_opcode(mut q: Vec<u8>, opcode: u8) -> Vec<u8> {
    q[2] = (q[2] & 0x87) | (opcode << 3);
    q
}

fn ask(server: SocketAddr, q: &[u8]) -> Option<Vec<u8>> {
    udp_exchange(server, q, Duration::from_millis(800))
}

fn still_serving(guard: &GuardProcess) {
    let d = dig(guard.dns, "allowed.test", "A", &[]);
    assert_eq!(d.status, "NOERROR", "the guard still answers: {}", d.raw);
    assert_eq!(dig(guard.dns, "evil.test", "A", &[]).status, "NXDOMAIN");
}

#[test]
fn bad_question_counts_get_formerr_and_other_opcodes_notimp() {
    if !dns_tools("bad_question_counts_get_formerr_and_other_opcodes_notimp") {
        return;
    }
    let (upstream, guard, _dir) = start(POLICY);
    let q = build_query(0x7777, "allowed.test", 1, None);
    // Two questions, the second one denied: neither may be forwarded (Cilium checks only
    // the first question).
    let mut two = build_query(0x7001, "allowed.test", 1, None);
    two.extend_from_slice(&build_query(0, "evil.test", 1, None)[12..]);
    let two = with_counts(two, 2, 0);
    let cases: Vec<(&str, Vec<u8>, u8)> = vec![
        ("QDCOUNT=0", with_counts(q[..12].to_vec(), 0, 0), 1),
        ("QDCOUNT=2", two, 1),
        (
            "an answer record in a query",
            with_counts(q.clone(), 1, 1),
            1,
        ),
        ("question cut short", q[..q.len() - 3].to_vec(), 1),
        ("trailing garbage", [q.clone(), vec![1, 2, 3]].concat(), 1),
        (
            "label longer than 63",
            {
                let mut b = q[..12].to_vec();
                b.push(64);
                b.extend_from_slice(&[b'a'; 64]);
                b.extend_from_slice(&[0, 0, 1, 0, 1]);
                b
            },
            1,
        ),
        (
            "compression pointer in the question",
            [q[..12].to_vec(), vec![0xc0, 0x0c, 0, 1, 0, 1]].concat(),
            1,
        ),
        ("IQUERY", with_opcode(q.clone(), 1), 4),
        ("STATUS", with_opcode(q.clone(), 2), 4),
        ("NOTIFY", with_opcode(q.clone(), 4), 4),
        ("UPDATE", with_opcode(q.clone(), 5), 4),
    ];
    for (what, msg, expected) in &cases {
        let a = ask(guard.dns, msg).unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(a[0..2], msg[0..2], "{what}: the client's ID");
        assert!(a[2] & 0x80 != 0, "{what}: QR set");
        assert_eq!(rcode(&a), *expected, "{what}");
        let t = tcp_exchange(
            guard.dns,
            std::slice::from_ref(msg),
            1,
            Duration::from_secs(2),
        );
        assert_eq!(t.len(), 1, "{what}: a TCP answer");
        assert_eq!(rcode(&t[0]), *expected, "{what} over TCP");
    }
    // Nothing to answer: shorter than a header, or a response.
    assert!(ask(guard.dns, &[1, 2, 3]).is_none());
    let mut response = q.clone();
    response[2] |= 0x80;
    assert!(
        ask(guard.dns, &response).is_none(),
        "responses are never answered (no loops)"
    );
    assert_eq!(upstream.count("evil.test"), 0);
    assert!(guard.metric("dnsguard_error_answers_total{rcode=\"FORMERR\"}") >= 7.0);
    assert!(guard.metric("dnsguard_error_answers_total{rcode=\"NOTIMP\"}") >= 4.0);
    still_serving(&guard);
}

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut p = seeds[rng.below(seeds.len())].clone();
    match rng.below(4) {
        0 => {
            // Pure noise of a random length.
            let len = rng.below(600);
            p = (0..len).map(|_| rng.next() as u8).collect();
        }
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(p.len());
                p[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let cut = rng.below(p.len() + 1);
            p.truncate(cut);
        }
        _ => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(p.len());
                p[i] = rng.next() as u8;
            }
            // Keep it a query now and then, so the deep paths are reached.
            if p.len() > 2 {
                p[2] &= 0x7f;
            }
        }
    }
    p
}

#[test]
fn twenty_thousand_random_and_mutated_packets_do_not_break_the_guard() {
    if !dns_tools("twenty_thousand_random_and_mutated_packets_do_not_break_the_guard") {
        return;
    }
    // Only one exact name is allowed, so every name the upstream sees must be exactly that
    // (a wildcard would rightly let mutated labels below it through).
    let (upstream, mut guard, _dir) =
        start(&POLICY.replace("\"*.allowed.test\"", "\"www.allowed.test\""));
    let seeds = vec![
        build_query(1, "allowed.test", 1, None),
        build_query(2, "www.allowed.test", 28, Some(1232)),
        build_query(3, "evil.test", 16, Some(4096)),
        build_query(4, "AlLoWeD.TeSt", 255, None),
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut drain = vec![0u8; 65_535];
    for i in 0..16_000 {
        let p = mutate(&mut rng, &seeds);
        let _ = sock.send_to(&p, guard.dns);
        while sock.recv_from(&mut drain).is_ok() {}
        if i % 2000 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Over TCP: framed garbage on many connections, some with lying length prefixes.
    for _ in 0..400 {
        let batch: Vec<Vec<u8>> = (0..10).map(|_| mutate(&mut rng, &seeds)).collect();
        let _ = tcp_exchange(guard.dns, &batch, 0, Duration::from_millis(200));
    }
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(guard.dns) {
            use std::io::Write;
            let junk: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
            let _ = s.write_all(&junk);
        }
    }
    assert!(
        guard.exited(Duration::from_millis(200)).is_none(),
        "the guard died: {:?}",
        guard.stderr()
    );
    still_serving(&guard);
    // Whatever the fuzzer made, only allowed names were forwarded.
    for (_, name) in upstream.queries() {
        let n = name.to_ascii_lowercase();
        assert!(
            n == "allowed.test" || n == "www.allowed.test",
            "{name:?} reached the upstream"
        );
    }
}
