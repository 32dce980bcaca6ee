//! DNS decisions: which rule decides a name, and what the decision says.

mod common;
use common::*;

const ISSUE_EXAMPLE: &str = r#"
mode = "enforce"
[dns]
default = "deny"
answer = "nxdomain"
cname = "inspect"
allow = ["api.github.com", "*.amazonaws.com"]
deny  = ["*.ngrok.io"]
alert = ["*.pastebin.com"]
"#;

#[test]
fn exact_rule_matches_that_name() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "api.github.com"),
        "allow dns.allow:api.github.com"
    );
}

#[test]
fn exact_rule_does_not_match_names_below_it() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "x.api.github.com"),
        "deny dns.default"
    );
}

#[test]
fn exact_rule_does_not_match_its_parent() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "github.com"),
        "deny dns.default"
    );
}

#[test]
fn wildcard_matches_one_level_below() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "abc.ngrok.io"),
        "deny dns.deny:*.ngrok.io"
    );
}

#[test]
fn wildcard_matches_any_depth_below() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "s3.eu-west-1.vpce.amazonaws.com"),
        "allow dns.allow:*.amazonaws.com"
    );
}

#[test]
fn wildcard_does_not_match_the_apex() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "amazonaws.com"),
        "deny dns.default"
    );
}

#[test]
fn wildcard_does_not_match_a_name_that_merely_ends_with_the_text() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "evilngrok.io"),
        "deny dns.default"
    );
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "x.evilngrok.io"),
        "deny dns.default"
    );
}

#[test]
fn matching_ignores_case() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "API.GitHub.COM"),
        "allow dns.allow:api.github.com"
    );
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "X.NGROK.IO"),
        "deny dns.deny:*.ngrok.io"
    );
}

#[test]
fn matching_ignores_the_trailing_dot() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "api.github.com."),
        "allow dns.allow:api.github.com"
    );
}

#[test]
fn alert_rule_gives_alert() {
    assert_eq!(
        dns(&policy(ISSUE_EXAMPLE), "x.pastebin.com"),
        "alert dns.alert:*.pastebin.com"
    );
}

#[test]
fn unmatched_name_gets_the_default() {
    let p = policy("[dns]\ndefault = \"allow\"\ndeny = [\"*.evil.example\"]\n");
    assert_eq!(dns(&p, "good.example"), "allow dns.default");
}

#[test]
fn escaped_dot_inside_a_label_does_not_split_it() {
    // `a\.api.github.com` has the labels `a.api`, `github`, `com`: not the name api.github.com
    // and not below it.
    let p =
        policy("[dns]\ndefault = \"allow\"\ndeny = [\"api.github.com\", \"*.api.github.com\"]\n");
    assert_eq!(dns(&p, "a\\.api.github.com"), "allow dns.default");
    assert_eq!(dns(&p, "x.a\\.api.github.com"), "allow dns.default");
}

#[test]
fn escaped_dot_label_is_still_below_its_real_parent() {
    let p = policy("[dns]\ndefault = \"allow\"\ndeny = [\"*.github.com\"]\n");
    assert_eq!(dns(&p, "a\\.api.github.com"), "deny dns.deny:*.github.com");
}

#[test]
fn decimal_escapes_are_decoded() {
    let p = policy("[dns]\ndefault = \"allow\"\ndeny = [\"evil.example\"]\n");
    assert_eq!(dns(&p, "\\101vil.example"), "deny dns.deny:evil.example");
}

#[test]
fn idn_rule_matches_the_a_label_query() {
    let p = policy("[dns]\ndefault = \"allow\"\ndeny = [\"bücher.example\"]\n");
    assert_eq!(
        dns(&p, "xn--bcher-kva.example"),
        "deny dns.deny:xn--bcher-kva.example"
    );
    assert_eq!(
        dns(&p, "XN--BCHER-KVA.example."),
        "deny dns.deny:xn--bcher-kva.example"
    );
}

#[test]
fn exact_rule_beats_wildcard() {
    let p =
        policy("[dns]\ndefault = \"deny\"\nallow = [\"ok.ngrok.io\"]\ndeny = [\"*.ngrok.io\"]\n");
    assert_eq!(dns(&p, "ok.ngrok.io"), "allow dns.allow:ok.ngrok.io");
    assert_eq!(dns(&p, "other.ngrok.io"), "deny dns.deny:*.ngrok.io");
}

#[test]
fn deeper_wildcard_beats_shallower() {
    let p = policy(
        "[dns]\ndefault = \"allow\"\nallow = [\"*.corp.example.com\"]\ndeny = [\"*.example.com\"]\n",
    );
    assert_eq!(
        dns(&p, "git.corp.example.com"),
        "allow dns.allow:*.corp.example.com"
    );
    assert_eq!(
        dns(&p, "a.b.git.corp.example.com"),
        "allow dns.allow:*.corp.example.com"
    );
    assert_eq!(dns(&p, "corp.example.com"), "deny dns.deny:*.example.com");
    assert_eq!(dns(&p, "www.example.com"), "deny dns.deny:*.example.com");
}

#[test]
fn exact_rule_and_wildcard_on_the_same_base_are_independent() {
    let p = policy(
        "[dns]\ndefault = \"allow\"\nalert = [\"example.org\"]\ndeny = [\"*.example.org\"]\n",
    );
    assert_eq!(dns(&p, "example.org"), "alert dns.alert:example.org");
    assert_eq!(dns(&p, "www.example.org"), "deny dns.deny:*.example.org");
}

#[test]
fn tie_deny_beats_alert_beats_allow() {
    let all = "[dns]\ndefault = \"allow\"\nallow = [\"t.example\", \"*.w.example\"]\nalert = [\"t.example\", \"*.w.example\"]\ndeny = [\"t.example\", \"*.w.example\"]\n";
    assert_eq!(dns(&policy(all), "t.example"), "deny dns.deny:t.example");
    assert_eq!(
        dns(&policy(all), "x.w.example"),
        "deny dns.deny:*.w.example"
    );
    let no_deny = "[dns]\ndefault = \"deny\"\nallow = [\"t.example\"]\nalert = [\"t.example\"]\n";
    assert_eq!(
        dns(&policy(no_deny), "t.example"),
        "alert dns.alert:t.example"
    );
}

#[test]
fn tie_is_decided_by_verdict_even_if_written_differently() {
    let p =
        policy("[dns]\ndefault = \"allow\"\nallow = [\"T.EXAMPLE.\"]\ndeny = [\"t.example\"]\n");
    assert_eq!(dns(&p, "t.example"), "deny dns.deny:t.example");
}

#[test]
fn absent_dns_section_allows_everything() {
    let p = policy("mode = \"enforce\"\n");
    assert_eq!(dns(&p, "anything.example"), "allow dns.default");
}

#[test]
fn root_name_gets_the_default() {
    let p = policy("[dns]\ndefault = \"deny\"\nallow = [\"*.example.com\"]\n");
    assert_eq!(dns(&p, "."), "deny dns.default");
}

#[test]
fn non_ascii_query_bytes_never_match_an_exact_rule() {
    // Rules are A-labels; a raw UTF-8 query is a different name (and the default decides).
    let p = policy("[dns]\ndefault = \"deny\"\nallow = [\"bücher.example\"]\n");
    assert_eq!(dns(&p, "bücher.example"), "deny dns.default");
}

#[test]
fn settings_reach_the_view() {
    let p = policy(
        "mode = \"audit\"\n[dns]\ndefault = \"deny\"\nanswer = \"refused\"\ncname = \"trust\"\nblock_ttl = 60\n",
    );
    let c = p.compile();
    let v = c.view();
    assert_eq!(v.mode(), guard_policy::Mode::Audit);
    assert_eq!(v.dns_answer(), guard_policy::DnsAnswer::Refused);
    assert_eq!(v.cname_mode(), guard_policy::CnameMode::Trust);
    assert_eq!(v.block_ttl(), 60);
    assert_eq!(v.version(), c.version());
}

#[test]
fn settings_default_to_enforce_nxdomain_inspect_5s() {
    let c = policy("[dns]\ndefault = \"deny\"\n").compile();
    let v = c.view();
    assert_eq!(v.mode(), guard_policy::Mode::Enforce);
    assert_eq!(v.dns_answer(), guard_policy::DnsAnswer::NxDomain);
    assert_eq!(v.cname_mode(), guard_policy::CnameMode::Inspect);
    assert_eq!(v.block_ttl(), 5);
}

#[test]
fn wire_label_containing_a_dot_does_not_match_two_rule_labels() {
    // The same name as `a\.b.example` but as it arrives in a DNS message.
    let p = policy("[dns]\ndefault = \"allow\"\ndeny = [\"a.b.example\", \"*.b.example\"]\n");
    let c = p.compile();
    let name = guard_policy::DnsName::from_labels([&b"a.b"[..], b"example"]).unwrap();
    assert!(name.has_dotted_label());
    assert_eq!(c.view().decide_dns(&name).rule.to_string(), "dns.default");
}
