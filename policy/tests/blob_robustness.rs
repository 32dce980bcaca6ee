//! A compiled blob read from disk may be truncated or corrupt: opening and deciding over it
//! must never panic or read out of bounds; a blob that opens keeps answering.

use guard_policy::{DnsName, Policy, PolicyView, ViewError};
use proptest::prelude::*;

fn real_blob() -> Vec<u8> {
    let mut deny = Vec::new();
    let mut allow = Vec::new();
    for i in 0..40 {
        deny.push(format!("\"*.d{i}.example\""));
        allow.push(format!("\"a{i}.example.com\""));
    }
    let text = format!(
        "[dns]\ndefault = \"deny\"\nallow = [{}]\ndeny = [{}]\n[process]\ndefault = \"allow\"\n\
         deny = [\"/usr/bin/nc\", \"ncat\", \"/tmp/**\", \"/opt/*/bin/?x\", \"*.sh\", \"py*\", \"/**/run\"]\n\
         alert = [\"curl\", \"/usr/local/bin/*\"]\n",
        allow.join(","),
        deny.join(","),
    );
    Policy::from_toml(&text, "t")
        .unwrap()
        .compile()
        .blob()
        .to_vec()
}

const NAMES: [&str; 6] = [
    "a1.example.com",
    "x.d3.example",
    "b.c.d.e.f",
    "d3.example",
    "com",
    "a.b.c.d.e.f.g.h.i.j",
];
const PATHS: [&str; 8] = [
    "/usr/bin/nc",
    "/bin/ncat",
    "/tmp/a/b",
    "/opt/x/bin/yx",
    "/srv/x.sh",
    "/usr/bin/python3",
    "/a/b/run",
    "nc",
];

/// Exercises every read path of a view.
fn exercise(view: &PolicyView<'_>) {
    let _ = (
        view.version(),
        view.mode(),
        view.dns_answer(),
        view.cname_mode(),
        view.block_ttl(),
    );
    for n in NAMES {
        let d = view.decide_dns(&DnsName::from_text(n.as_bytes()).unwrap());
        let _ = d.rule.to_string();
    }
    for p in PATHS {
        let d = view.decide_process(p.as_bytes());
        let _ = d.rule.to_string();
    }
}

#[test]
fn every_truncation_is_refused_at_open() {
    let blob = real_blob();
    for len in 0..blob.len() {
        assert!(
            PolicyView::open(&blob[..len]).is_err(),
            "truncated to {len} bytes"
        );
    }
    assert!(PolicyView::open(&blob).is_ok());
}

#[test]
fn wrong_magic_is_not_a_policy() {
    let mut blob = real_blob();
    blob[0] = b'X';
    assert_eq!(PolicyView::open(&blob).unwrap_err(), ViewError::NotAPolicy);
}

#[test]
fn future_format_is_unsupported() {
    let mut blob = real_blob();
    blob[8..12].copy_from_slice(&4u32.to_le_bytes());
    assert_eq!(
        PolicyView::open(&blob).unwrap_err(),
        ViewError::UnsupportedFormat(4)
    );
    // Earlier formats (1: no glob index filters, 2: no file names of path rules in the
    // file-name table) are refused too, not misread.
    for old in [1u32, 2] {
        blob[8..12].copy_from_slice(&old.to_le_bytes());
        assert_eq!(
            PolicyView::open(&blob).unwrap_err(),
            ViewError::UnsupportedFormat(old)
        );
    }
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut blob = real_blob();
    let expected = {
        let view = PolicyView::open(&blob).unwrap();
        view.decide_process(b"/usr/bin/nc").rule.to_string()
    };
    blob.extend_from_slice(&[0xAA; 100]);
    let view = PolicyView::open(&blob).unwrap();
    assert_eq!(
        view.decide_process(b"/usr/bin/nc").rule.to_string(),
        expected
    );
}

#[test]
fn open_reads_only_the_header() {
    // A blob whose sections are garbage opens (the header is fine) and still never panics.
    let mut blob = real_blob();
    for b in blob.iter_mut().skip(128) {
        *b = 0xFF;
    }
    let view = PolicyView::open(&blob).unwrap();
    exercise(&view);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(view) = PolicyView::open(&bytes) {
            exercise(&view);
        }
    }

    #[test]
    fn random_bytes_behind_a_valid_magic_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 128..600),
        len_ok in any::<bool>(),
    ) {
        bytes[..8].copy_from_slice(b"TGPOL\0\0\x01");
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        if len_ok {
            let len = bytes.len() as u32;
            bytes[12..16].copy_from_slice(&len.to_le_bytes());
        }
        if let Ok(view) = PolicyView::open(&bytes) {
            exercise(&view);
        }
    }

    #[test]
    fn corrupted_real_blob_never_panics(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
    ) {
        let mut blob = real_blob();
        let n = blob.len();
        for (at, value) in flips {
            blob[at.index(n)] = value;
        }
        if let Ok(view) = PolicyView::open(&blob) {
            exercise(&view);
        }
    }

    #[test]
    fn corrupted_header_fields_never_panic(
        field in 0usize..32,
        value in prop_oneof![Just(0u32), Just(1), Just(u32::MAX), Just(u32::MAX - 15), any::<u32>()],
    ) {
        let mut blob = real_blob();
        let at = field * 4;
        blob[at..at + 4].copy_from_slice(&value.to_le_bytes());
        if let Ok(view) = PolicyView::open(&blob) {
            exercise(&view);
        }
    }
}
