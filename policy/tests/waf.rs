//! The `[waf]` section: what it reads, its defaults, and the errors it gives.

mod common;

use common::{policy, toml_errors};
use guard_policy::{Policy, WafMode};

const FULL: &str = r#"
mode = "enforce"

[waf]
listen = "0.0.0.0:80"
app = "127.0.0.1:8080"
crs = "/usr/share/modsecurity-crs"
paranoia = 2
inbound_threshold = 7
mode = "audit"
default_action = "alert"
extra_rules = ["/etc/guard/custom.conf"]
ban_seconds = 600
body_limit = 65536
body_over_limit = "prevent"
behind_load_balancer = true

[waf.actions]
sqli = "ban"
scanners = "alert"

[[waf.exceptions]]
protections = ["xss", "sqli", "xss"]
rules = [942100, 941100]
path_prefix = "/api/"
path_regex = "^/api/v[0-9]+/search$"
targets = ["args:q", "cookies:session"]

[waf.block_page]
status = 406
body = "no: {event_id}"

[waf.clients]
deny = ["10.1.2.3/8", "2001:db8::1/32"]
exempt = ["127.0.0.1"]

[[waf.headers]]
name = "X-Api-Key"
required = true

[[waf.headers]]
name = "User-Agent"
values = ["(?i)masscan"]
action = "ban"

[waf.rate_limit]
burst = 50
average = 5
action = "ban"

[waf.limits]
header_bytes = 8192
header_count = 50
request_line = 4096
header_timeout = 5
idle_timeout = 30
max_connections = 200

[waf.response]
frame_options = "DENY"
same_site = "Lax"
strip_server_headers = false

[waf.tls]
cert = "/guard/tls/cert.pem"
key = "/guard/tls/key.pem"
"#;

#[test]
fn every_field_is_read() {
    let p = policy(FULL);
    let w = p.waf.expect("[waf] present");
    assert_eq!(w.listen.to_string(), "0.0.0.0:80");
    assert_eq!(w.app.to_string(), "127.0.0.1:8080");
    assert_eq!(w.crs, "/usr/share/modsecurity-crs");
    assert_eq!((w.paranoia, w.inbound_threshold), (2, 7));
    assert_eq!(w.mode, Some(WafMode::Audit));
    assert_eq!(w.default_action, "alert");
    assert_eq!(w.actions.get("sqli").map(String::as_str), Some("ban"));
    assert_eq!(w.actions.get("scanners").map(String::as_str), Some("alert"));
    assert_eq!(w.extra_rules, ["/etc/guard/custom.conf"]);
    assert_eq!((w.ban_seconds, w.body_limit), (600, 65536));
    assert_eq!(w.body_over_limit, "prevent");
    assert!(w.behind_load_balancer);
    let e = &w.exceptions[0];
    assert_eq!(e.protections, ["sqli", "xss"]);
    assert_eq!(e.rules, [941100, 942100]);
    assert_eq!(e.path_prefix.as_deref(), Some("/api/"));
    assert_eq!(e.targets, ["args:q", "cookies:session"]);
    assert_eq!(
        (w.block_page.status, w.block_page.body.as_str()),
        (406, "no: {event_id}")
    );
    assert_eq!(w.clients.deny, ["10.0.0.0/8", "2001:db8::/32"]);
    assert_eq!(w.clients.exempt, ["127.0.0.1/32"]);
    assert_eq!(w.headers[0].name, "x-api-key");
    assert!(w.headers[0].required);
    assert_eq!(w.headers[0].action, "prevent");
    assert_eq!(w.headers[1].values, ["(?i)masscan"]);
    assert_eq!(w.headers[1].action, "ban");
    let r = w.rate_limit.expect("rate limit");
    assert_eq!((r.burst, r.average, r.action.as_str()), (50, 5, "ban"));
    assert_eq!(w.limits.header_bytes, 8192);
    assert_eq!(w.limits.max_connections, 200);
    assert_eq!(w.response.frame_options.as_deref(), Some("DENY"));
    assert_eq!(w.response.same_site.as_deref(), Some("Lax"));
    assert!(!w.response.strip_server_headers);
    let tls = w.tls.expect("tls");
    assert_eq!(tls.cert, "/guard/tls/cert.pem");
}

#[test]
fn defaults_of_a_minimal_section() {
    let p = policy("[waf]\nlisten = \"0.0.0.0:80\"\napp = \"127.0.0.1:8080\"\n");
    let w = p.waf.expect("[waf] present");
    assert_eq!(w.crs, "/usr/share/modsecurity-crs");
    assert_eq!((w.paranoia, w.inbound_threshold), (1, 5));
    assert_eq!(w.mode, None);
    assert_eq!(w.default_action, "prevent");
    assert_eq!(w.ban_seconds, 300);
    assert_eq!(w.body_limit, 128 * 1024);
    assert_eq!(w.body_over_limit, "alert");
    assert_eq!(w.block_page.status, 403);
    assert!(w.block_page.body.contains("{event_id}"));
    assert!(!w.behind_load_balancer);
    assert!(w.rate_limit.is_none() && w.tls.is_none());
    assert!(w.response.strip_server_headers);
    assert_eq!(w.response.frame_options, None);
}

#[test]
fn a_policy_without_waf_is_unchanged() {
    let p = policy("[dns]\ndefault = \"deny\"\nallow = [\"example.com\"]\n");
    assert!(p.waf.is_none());
    let c = p.compile();
    assert!(!c.to_json().contains("waf"), "{}", c.to_json());
}

#[test]
fn canonical_json_round_trips_with_the_same_version() {
    let p = policy(FULL);
    let c = p.compile();
    let back = Policy::from_json(c.to_json(), "policy.json").expect("canonical JSON reads back");
    assert_eq!(back, p);
    assert_eq!(back.compile().version(), c.version());
    let minimal = policy("[waf]\nlisten = \"0.0.0.0:80\"\napp = \"127.0.0.1:8080\"\n");
    let back = Policy::from_json(minimal.compile().to_json(), "policy.json").expect("reads back");
    assert_eq!(back, minimal);
}

#[test]
fn a_waf_edit_changes_the_version() {
    let a = policy("[waf]\nlisten = \"0.0.0.0:80\"\napp = \"127.0.0.1:8080\"\n");
    let b = policy(
        "[waf]\nlisten = \"0.0.0.0:80\"\napp = \"127.0.0.1:8080\"\ndefault_action = \"alert\"\n",
    );
    assert_ne!(a.compile().version(), b.compile().version());
}

#[test]
fn listen_and_app_are_required() {
    let e = toml_errors("[waf]\nparanoia = 1\n");
    assert!(e.contains("policy.toml:1: waf.listen: missing"), "{e}");
    assert!(e.contains("policy.toml:1: waf.app: missing"), "{e}");
}

#[test]
fn errors_name_line_field_and_what_is_expected() {
    let cases = [
        (
            "listen = \"80\"",
            "waf.listen: expected an address with a port",
        ),
        (
            "paranoia = 5",
            "waf.paranoia: 5 is out of range; expected an integer from 1 to 4",
        ),
        (
            "mode = \"block\"",
            "waf.mode: expected \"enforce\" or \"audit\", found \"block\"",
        ),
        (
            "default_action = \"deny\"",
            "waf.default_action: expected \"disable\" or \"alert\" or \"prevent\" or \"ban\", found \"deny\"",
        ),
        (
            "actions = { sqlinjection = \"ban\" }",
            "waf.actions.sqlinjection: unknown field; expected one of: sqli, xss",
        ),
        (
            "actions = { sqli = \"block\" }",
            "waf.actions.sqli: expected \"disable\"",
        ),
        (
            "behind_load_balancer = \"yes\"",
            "waf.behind_load_balancer: expected true or false, found a string",
        ),
        (
            "clients = { deny = [\"10.0.0.0/33\"] }",
            "waf.clients.deny[0]: expected an IPv4 or IPv6 network",
        ),
        (
            "exceptions = [{ path_regex = \"(\" }]",
            "waf.exceptions[0].path_regex: `(` is not a valid regular expression",
        ),
        (
            "exceptions = [{ targets = [\"body\"] }]",
            "waf.exceptions[0].targets[0]: expected `args:NAME`",
        ),
        (
            "exceptions = [{ protections = [\"sql\"] }]",
            "waf.exceptions[0].protections[0]: expected \"sqli\"",
        ),
        (
            "headers = [{ values = [\"x\"] }]",
            "waf.headers[0].name: missing",
        ),
        (
            "block_page = { status = 200 }",
            "waf.block_page.status: 200 is out of range; expected an integer from 400 to 599",
        ),
        (
            "response = { frame_options = \"ALLOW\" }",
            "waf.response.frame_options: expected false or \"DENY\" or \"SAMEORIGIN\"",
        ),
        (
            "rate_limit = { action = \"alert\" }",
            "waf.rate_limit: needs `burst`",
        ),
        ("tls = { cert = \"c.pem\" }", "waf.tls.key: missing"),
        (
            "body_limit = 99999999",
            "waf.body_limit: 99999999 is out of range",
        ),
        (
            "colour = \"red\"",
            "waf.colour: unknown field; expected one of: listen, app",
        ),
    ];
    for (line, expected) in cases {
        let (text, at) = if line.starts_with("listen") {
            (format!("[waf]\napp = \"127.0.0.1:8080\"\n{line}\n"), 3)
        } else {
            (
                format!("[waf]\nlisten = \"0.0.0.0:80\"\napp = \"127.0.0.1:8080\"\n{line}\n"),
                4,
            )
        };
        let e = toml_errors(&text);
        let want = format!("policy.toml:{at}: {expected}");
        assert!(
            e.contains(&want),
            "for `{line}`:\n  want {want}\n  got  {e}"
        );
    }
}

#[test]
fn json_errors_carry_field_paths() {
    let e = Policy::from_json(
        r#"{"waf": {"listen": "0.0.0.0:80", "app": "0.0.0.0:80", "paranoia": "high"}}"#,
        "p.json",
    )
    .expect_err("invalid");
    let e = e.to_string();
    assert!(
        e.contains("p.json: waf.paranoia: expected an integer from 1 to 4, found a string"),
        "{e}"
    );
    assert!(
        e.contains("p.json: waf.app: must differ from waf.listen"),
        "{e}"
    );
}
