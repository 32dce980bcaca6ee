//! The `[net]` section: parsing, errors, and decisions over the compiled blob.

use std::net::IpAddr;

use guard_policy::{DEFAULT_GRACE, Destination, Policy, PolicyView, Verdict};

fn policy(text: &str) -> Policy {
    Policy::from_toml(text, "net.toml").expect("valid policy")
}

fn dest(ip: &str, port: u16) -> Destination {
    Destination::new(ip.parse::<IpAddr>().unwrap(), port)
}

fn decide(view: &PolicyView<'_>, ip: &str, port: u16, answered: bool) -> (Verdict, String) {
    let d = view.decide_net(&dest(ip, port), answered);
    (d.verdict, d.rule.to_string())
}

const TASK: &str = r#"
[net]
default = "deny"
grace = 120
allow = ["10.0.0.0/8", "169.254.170.2:80", "[fd00::]/8", "10.0.0.2:53"]
deny = ["169.254.169.254", "10.1.0.0/16", "10.1.2.3:443"]
alert = ["10.1.2.0/24", "[fd00:1::]/32"]
"#;

#[test]
fn most_specific_rule_decides_then_answers_then_default() {
    let compiled = policy(TASK).compile();
    let view = compiled.view();
    let net = view.net().expect("a [net] section");
    assert_eq!(net.default(), Verdict::Deny);
    assert_eq!(net.grace(), 120);
    let cases = [
        (
            "10.9.9.9",
            443,
            false,
            Verdict::Allow,
            "net.allow:10.0.0.0/8",
        ),
        (
            "10.1.9.9",
            443,
            false,
            Verdict::Deny,
            "net.deny:10.1.0.0/16",
        ),
        (
            "10.1.2.9",
            80,
            false,
            Verdict::Alert,
            "net.alert:10.1.2.0/24",
        ),
        (
            "10.1.2.3",
            443,
            false,
            Verdict::Deny,
            "net.deny:10.1.2.3:443",
        ),
        (
            "10.1.2.3",
            80,
            false,
            Verdict::Alert,
            "net.alert:10.1.2.0/24",
        ),
        (
            "169.254.170.2",
            80,
            false,
            Verdict::Allow,
            "net.allow:169.254.170.2:80",
        ),
        ("169.254.170.2", 81, false, Verdict::Deny, "net.default"),
        // A denied address stays denied when an allowed name resolved to it (rebinding).
        (
            "169.254.169.254",
            80,
            true,
            Verdict::Deny,
            "net.deny:169.254.169.254",
        ),
        ("203.0.113.5", 443, true, Verdict::Allow, "net.answers"),
        ("203.0.113.5", 443, false, Verdict::Deny, "net.default"),
        ("127.0.0.1", 9, false, Verdict::Allow, "net.loopback"),
        ("127.8.0.1", 9, false, Verdict::Allow, "net.loopback"),
        ("::1", 9, false, Verdict::Allow, "net.loopback"),
        (
            "fd00:2::5",
            443,
            false,
            Verdict::Allow,
            "net.allow:[fd00::]/8",
        ),
        (
            "fd00:1::5",
            443,
            false,
            Verdict::Alert,
            "net.alert:[fd00:1::]/32",
        ),
        ("2001:db8::1", 443, false, Verdict::Deny, "net.default"),
        // IPv4-mapped IPv6 is decided as the IPv4 address it carries.
        (
            "::ffff:10.1.9.9",
            443,
            false,
            Verdict::Deny,
            "net.deny:10.1.0.0/16",
        ),
        ("::ffff:127.0.0.1", 9, false, Verdict::Allow, "net.loopback"),
    ];
    for (ip, port, answered, verdict, rule) in cases {
        assert_eq!(
            decide(&view, ip, port, answered),
            (verdict, rule.to_string()),
            "{ip}:{port} answered={answered}"
        );
    }
}

#[test]
fn a_policy_without_net_allows_every_destination_and_keeps_its_version() {
    let text = "[dns]\ndefault = \"deny\"\nallow = [\"example.com\"]\n";
    let compiled = policy(text).compile();
    let view = compiled.view();
    assert!(view.net().is_none());
    assert_eq!(
        decide(&view, "203.0.113.5", 443, false),
        (Verdict::Allow, "net.default".to_string())
    );
    assert!(!compiled.to_json().contains("\"net\""));
    let with_net = policy(&format!("{text}[net]\ndefault = \"allow\"\n")).compile();
    assert_ne!(compiled.version(), with_net.version());
    assert_eq!(
        with_net.view().net().map(|n| n.grace()),
        Some(DEFAULT_GRACE)
    );
}

#[test]
fn rules_are_normalised_and_round_trip_through_policy_json() {
    let p = policy(
        "[net]\ndefault = \"allow\"\ndeny = [\"[FD00::/8]\", \"169.254.169.254/32\", \"169.254.169.254\"]\n",
    );
    let net = p.net.as_ref().unwrap();
    assert_eq!(net.deny, vec!["169.254.169.254", "[fd00::]/8"]);
    let compiled = p.compile();
    let back = Policy::from_json(compiled.to_json(), "policy.json").unwrap();
    assert_eq!(back, p);
    assert_eq!(back.compile().version(), compiled.version());
}

#[test]
fn errors_name_the_line_the_field_and_what_is_expected() {
    let text = "[net]\ngrace = -1\nallow = [\"10.0.0.1/8\", \"example.com\", 7]\nports = 1\n";
    let errors = Policy::from_toml(text, "net.toml").unwrap_err().to_string();
    for want in [
        "net.toml:1: net.default: missing",
        "net.toml:2: net.grace: expected seconds from 0 to 604800",
        "net.toml:3: net.allow[0]: `10.0.0.1/8`: host bits are set below the /8 prefix; did you mean `10.0.0.0/8`?",
        "net.allow[1]: `example.com`: `example.com` is not an IPv4 address",
        "net.allow[2]: expected a string, found an integer",
        "net.toml:4: net.ports: unknown field; expected one of: default, grace, allow, deny, alert",
    ] {
        assert!(errors.contains(want), "missing {want:?} in:\n{errors}");
    }
}

#[test]
fn a_corrupt_net_offset_is_refused_not_read() {
    let compiled = policy(TASK).compile();
    let mut blob = compiled.blob().to_vec();
    let near_end = blob.len() as u32 - 4;
    blob[124..128].copy_from_slice(&near_end.to_le_bytes());
    assert!(PolicyView::open(&blob).is_err());
}

#[test]
fn many_rules_decide_like_a_scan() {
    let mut allow = Vec::new();
    for i in 0..200u32 {
        allow.push(format!("\"10.{}.{}.0/24\"", i / 256, i % 256));
    }
    let text = format!("[net]\ndefault = \"deny\"\nallow = [{}]\n", allow.join(","));
    let compiled = policy(&text).compile();
    let view = compiled.view();
    assert_eq!(decide(&view, "10.0.199.7", 1, false).0, Verdict::Allow);
    assert_eq!(decide(&view, "10.0.200.7", 1, false).0, Verdict::Deny);
}
