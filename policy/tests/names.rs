//! `DnsName`: how query names are read before matching.

use guard_policy::{DnsName, NameError};

fn wire(text: &str) -> Vec<u8> {
    DnsName::from_text(text.as_bytes())
        .expect("valid")
        .wire()
        .to_vec()
}

#[test]
fn text_becomes_lower_case_wire_form() {
    assert_eq!(wire("Api.GitHub.com"), b"\x03api\x06github\x03com");
}

#[test]
fn trailing_dot_is_ignored() {
    assert_eq!(wire("example.com."), wire("example.com"));
}

#[test]
fn root_has_no_labels() {
    let root = DnsName::from_text(b".").unwrap();
    assert_eq!(root.label_count(), 0);
    assert_eq!(root.wire(), b"");
}

#[test]
fn escaped_dot_stays_inside_the_label() {
    let n = DnsName::from_text(b"a\\.b.example").unwrap();
    assert_eq!(n.label_count(), 2);
    assert_eq!(n.wire(), b"\x03a.b\x07example");
    assert_eq!(n.to_string(), "a\\.b.example");
}

#[test]
fn decimal_escape_gives_the_byte() {
    assert_eq!(wire("\\065b.c"), b"\x02ab\x01c");
    assert_eq!(
        DnsName::from_text(b"\\000x.c").unwrap().to_string(),
        "\\000x.c"
    );
}

#[test]
fn bad_escapes_are_errors() {
    for bad in [&b"a\\"[..], b"\\25", b"\\256.com", b"\\2x5.com"] {
        assert_eq!(
            DnsName::from_text(bad).unwrap_err(),
            NameError::BadEscape,
            "{bad:?}"
        );
    }
}

#[test]
fn empty_text_and_empty_labels_are_errors() {
    assert_eq!(DnsName::from_text(b"").unwrap_err(), NameError::Empty);
    assert_eq!(
        DnsName::from_text(b"a..b").unwrap_err(),
        NameError::EmptyLabel
    );
    assert_eq!(
        DnsName::from_text(b".a").unwrap_err(),
        NameError::EmptyLabel
    );
    assert_eq!(
        DnsName::from_text(b"a.b..").unwrap_err(),
        NameError::EmptyLabel
    );
}

#[test]
fn label_limit_is_63_bytes() {
    let ok = "a".repeat(63);
    assert!(DnsName::from_text(ok.as_bytes()).is_ok());
    let long = "a".repeat(64);
    assert_eq!(
        DnsName::from_text(long.as_bytes()).unwrap_err(),
        NameError::LabelTooLong
    );
}

#[test]
fn name_limit_is_255_wire_bytes_with_the_root() {
    let a = "a".repeat(63);
    let ok = format!("{a}.{a}.{a}.{}", "b".repeat(61));
    assert_eq!(DnsName::from_text(ok.as_bytes()).unwrap().wire().len(), 254);
    let long = format!("{a}.{a}.{a}.{}", "b".repeat(62));
    assert_eq!(
        DnsName::from_text(long.as_bytes()).unwrap_err(),
        NameError::NameTooLong
    );
}

#[test]
fn wire_labels_are_lower_cased() {
    let n = DnsName::from_labels([&b"WWW"[..], b"Example", b"COM"]).unwrap();
    assert_eq!(n, DnsName::from_text(b"www.example.com").unwrap());
}

#[test]
fn wire_labels_may_end_with_the_root_label() {
    let n = DnsName::from_labels([&b"example"[..], b"com", b""]).unwrap();
    assert_eq!(n.to_string(), "example.com");
}

#[test]
fn empty_wire_label_in_the_middle_is_an_error() {
    assert_eq!(
        DnsName::from_labels([&b"a"[..], b"", b"com"]).unwrap_err(),
        NameError::EmptyLabel
    );
}

#[test]
fn wire_label_over_63_bytes_is_an_error() {
    let long = [b'a'; 64];
    assert_eq!(
        DnsName::from_labels([&long[..]]).unwrap_err(),
        NameError::LabelTooLong
    );
}

#[test]
fn display_escapes_non_printable_bytes() {
    let n = DnsName::from_labels([&b"a b"[..], b"com"]).unwrap();
    assert_eq!(n.to_string(), "a\\032b.com");
}

mod properties {
    use guard_policy::DnsName;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn any_bytes_parse_or_fail_without_panicking(text in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = DnsName::from_text(&text);
        }

        #[test]
        fn display_parses_back_to_the_same_name(
            labels in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..20), 1..8),
        ) {
            let name = DnsName::from_labels(labels.iter().map(Vec::as_slice)).unwrap();
            let again = DnsName::from_text(name.to_string().as_bytes()).unwrap();
            prop_assert_eq!(name, again);
        }

        #[test]
        fn escaped_and_plain_text_agree(text in "[a-zA-Z0-9_-]{1,10}(\\.[a-zA-Z0-9_-]{1,10}){0,5}\\.?") {
            // The same name written with one byte as a decimal escape parses the same.
            let plain = DnsName::from_text(text.as_bytes()).unwrap();
            let first = text.as_bytes()[0];
            let escaped = format!("\\{:03}{}", first, &text[1..]);
            prop_assert_eq!(plain, DnsName::from_text(escaped.as_bytes()).unwrap());
        }
    }
}

#[test]
fn plain_and_escaped_paths_give_the_same_wire_form() {
    // `\065` forces the general parser; the rest takes the fast one.
    assert_eq!(wire("\\065pi.GitHub.com."), wire("api.github.com"));
}

#[test]
fn every_byte_is_lower_cased_exactly_like_ascii_lowercase() {
    // The fast path lower-cases eight bytes at a time; compare it byte for byte.
    let all: Vec<u8> = (1..=255u8).filter(|&b| b != b'.' && b != b'\\').collect();
    for chunk in all.chunks(40) {
        let n = DnsName::from_text(chunk).unwrap();
        let expected: Vec<u8> = chunk.iter().map(u8::to_ascii_lowercase).collect();
        assert_eq!(&n.wire()[1..], &expected[..]);
    }
}

#[test]
fn labels_are_split_at_every_dot_in_every_position() {
    // Dots at each offset of the eight-byte chunks.
    for len in 1..30 {
        let text = format!("{}.b.{}", "a".repeat(len), "c".repeat(len % 9 + 1));
        let n = DnsName::from_text(text.as_bytes()).unwrap();
        assert_eq!(n.label_count(), 3, "{text}");
        assert_eq!(n.to_string(), text);
    }
}
