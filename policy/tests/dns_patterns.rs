//! DNS rule patterns: what is accepted, how it is normalised, and what is a load error.
//! Errors name the file, the line of the bad element, the field and the reason.

mod common;
use common::*;

fn normalised(pattern: &str) -> Vec<String> {
    policy(&format!(
        "[dns]\ndefault = \"allow\"\ndeny = [{pattern:?}]\n"
    ))
    .dns
    .deny
}

#[test]
fn names_are_lower_cased() {
    assert_eq!(normalised("API.GitHub.COM"), ["api.github.com"]);
}

#[test]
fn trailing_dot_is_dropped() {
    assert_eq!(normalised("api.github.com."), ["api.github.com"]);
    assert_eq!(normalised("*.ngrok.io."), ["*.ngrok.io"]);
}

#[test]
fn unicode_names_become_punycode_a_labels() {
    assert_eq!(normalised("bücher.example"), ["xn--bcher-kva.example"]);
    assert_eq!(normalised("*.BÜCHER.example"), ["*.xn--bcher-kva.example"]);
}

#[test]
fn a_labels_written_directly_are_kept() {
    assert_eq!(
        normalised("xn--bcher-kva.example"),
        ["xn--bcher-kva.example"]
    );
}

#[test]
fn underscore_labels_are_allowed() {
    assert_eq!(normalised("_dmarc.example.com"), ["_dmarc.example.com"]);
}

#[test]
fn single_label_exact_names_are_allowed() {
    assert_eq!(normalised("localhost"), ["localhost"]);
}

#[test]
fn lists_are_deduplicated_and_sorted_after_normalising() {
    let p = policy(
        "[dns]\ndefault = \"deny\"\nallow = [\"b.example\", \"A.example\", \"a.example.\", \"B.EXAMPLE\"]\n",
    );
    assert_eq!(p.dns.allow, ["a.example", "b.example"]);
}

#[test]
fn star_alone_is_an_error() {
    let e = dns_rule_error("*");
    assert!(
        e.contains("policy.toml:5: dns.deny[1]: `*`: `*` alone would match every name"),
        "{e}"
    );
}

#[test]
fn one_label_wildcard_is_an_error() {
    let e = dns_rule_error("*.com");
    assert!(e.contains("policy.toml:5: dns.deny[1]: `*.com`:"), "{e}");
    assert!(
        e.contains("a wildcard needs at least two labels after `*.`"),
        "{e}"
    );
}

#[test]
fn star_inside_a_label_is_an_error() {
    let e = dns_rule_error("api*.example.com");
    assert!(e.contains("policy.toml:5: dns.deny[1]:"), "{e}");
    assert!(
        e.contains("`*` is allowed only as the whole first label"),
        "{e}"
    );
}

#[test]
fn star_in_a_later_label_is_an_error() {
    let e = dns_rule_error("a.*.example.com");
    assert!(
        e.contains("`*` is allowed only as the whole first label"),
        "{e}"
    );
}

#[test]
fn double_wildcard_is_an_error() {
    let e = dns_rule_error("*.*.example.com");
    assert!(
        e.contains("`*` is allowed only as the whole first label"),
        "{e}"
    );
}

#[test]
fn empty_label_is_an_error() {
    let e = dns_rule_error("a..example.com");
    assert!(
        e.contains("policy.toml:5: dns.deny[1]: `a..example.com`: empty label"),
        "{e}"
    );
}

#[test]
fn leading_dot_is_an_error() {
    assert!(dns_rule_error(".example.com").contains("empty label"));
}

#[test]
fn empty_pattern_is_an_error() {
    assert!(dns_rule_error("").contains("empty pattern"));
}

#[test]
fn label_longer_than_63_bytes_is_an_error() {
    let long = format!("{}.example.com", "a".repeat(64));
    let e = dns_rule_error(&long);
    assert!(
        e.contains("is 64 bytes long; at most 63 are allowed"),
        "{e}"
    );
}

#[test]
fn label_of_63_bytes_is_allowed() {
    let name = format!("{}.example.com", "a".repeat(63));
    assert_eq!(normalised(&name), [name]);
}

#[test]
fn name_of_253_characters_is_allowed() {
    let a = "a".repeat(63);
    let name = format!("{a}.{a}.{a}.{}", "b".repeat(61));
    assert_eq!(name.len(), 253);
    assert_eq!(normalised(&name), [name]);
}

#[test]
fn name_longer_than_253_characters_is_an_error() {
    let a = "a".repeat(63);
    let name = format!("{a}.{a}.{a}.{}", "b".repeat(62));
    let e = dns_rule_error(&name);
    assert!(
        e.contains("name is 254 characters long (as A-labels); at most 253 are allowed"),
        "{e}"
    );
}

#[test]
fn wildcard_base_must_leave_room_for_a_label() {
    let a = "a".repeat(63);
    let e = dns_rule_error(&format!("*.{a}.{a}.{a}.{}", "b".repeat(60)));
    assert!(e.contains("at most 251 are allowed"), "{e}");
}

#[test]
fn unicode_that_grows_beyond_the_label_limit_is_an_error() {
    // 30 characters, but more than 63 bytes once punycode-encoded.
    let e = dns_rule_error("日本語のドメイン名は長すぎることがありますので注意が必要です.example");
    assert!(e.contains("at most 63 are allowed"), "{e}");
}

#[test]
fn invalid_characters_are_an_error() {
    for bad in [
        "exa mple.com",
        "exa\\mple.com",
        "exa/mple.com",
        "exa@mple.com",
    ] {
        let e = dns_rule_error(bad);
        assert!(e.contains("dns.deny[1]"), "{bad}: {e}");
        assert!(
            e.contains("invalid character") || e.contains("UTS 46"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn invalid_punycode_is_an_error() {
    let e = dns_rule_error("xn--zz-.example");
    assert!(e.contains("dns.deny[1]"), "{e}");
}

#[test]
fn every_bad_element_is_reported_with_its_own_line() {
    let e = toml_errors(
        "[dns]\ndefault = \"deny\"\nallow = [\n  \"*\",\n  \"good.example\",\n  \"*.com\",\n]\ndeny = [\"a..b\"]\n",
    );
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(lines[0].starts_with("policy.toml:4: dns.allow[0]:"), "{e}");
    assert!(lines[1].starts_with("policy.toml:6: dns.allow[2]:"), "{e}");
    assert!(lines[2].starts_with("policy.toml:8: dns.deny[0]:"), "{e}");
}

#[test]
fn json_errors_name_the_field_path() {
    let e = json_errors(
        r#"{"dns": {"default": "deny", "deny": ["ok.example", "ok2.example", "*.com"]}}"#,
    );
    assert!(e.starts_with("policy.json: dns.deny[2]: `*.com`:"), "{e}");
}

#[test]
fn non_string_element_is_an_error() {
    let e = toml_errors("[dns]\ndefault = \"deny\"\nallow = [\"a.example\", 5]\n");
    assert!(
        e.contains("policy.toml:3: dns.allow[1]: expected a string, found an integer"),
        "{e}"
    );
}

#[test]
fn ascii_and_unicode_paths_normalise_alike() {
    // Plain ASCII skips the IDNA machinery; the result must be what UTS 46 gives.
    assert_eq!(
        normalised("MiXeD-Case_1.Example.COM"),
        ["mixed-case_1.example.com"]
    );
    assert_eq!(
        normalised("XN--BCHER-KVA.example"),
        ["xn--bcher-kva.example"]
    );
    assert_eq!(normalised("Bücher.EXAMPLE"), ["xn--bcher-kva.example"]);
}
