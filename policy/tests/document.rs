//! The policy document: fields, defaults, formats, errors, canonical JSON and version.

mod common;
use common::*;
use guard_policy::{CnameMode, DnsAnswer, Mode, Policy, Verdict};

const FULL_TOML: &str = r#"
mode = "audit"
[dns]
default = "deny"
answer = "nodata"
cname = "trust"
block_ttl = 30
allow = ["api.github.com", "*.amazonaws.com"]
deny  = ["*.ngrok.io"]
alert = ["*.pastebin.com"]
[process]
default = "allow"
deny  = ["/usr/bin/nc", "ncat", "/tmp/*"]
alert = ["curl"]
"#;

const FULL_JSON: &str = r#"{
  "mode": "audit",
  "dns": {
    "default": "deny", "answer": "nodata", "cname": "trust", "block_ttl": 30,
    "allow": ["*.AMAZONAWS.com", "api.github.com."],
    "deny": ["*.ngrok.io"],
    "alert": ["*.pastebin.com"]
  },
  "process": {"default": "allow", "deny": ["ncat", "/tmp/*", "/usr/bin/nc"], "alert": ["curl"]}
}"#;

#[test]
fn every_field_is_read() {
    let p = policy(FULL_TOML);
    assert_eq!(p.mode, Mode::Audit);
    assert_eq!(p.dns.default, Verdict::Deny);
    assert_eq!(p.dns.answer, DnsAnswer::NoData);
    assert_eq!(p.dns.cname, CnameMode::Trust);
    assert_eq!(p.dns.block_ttl, 30);
    assert_eq!(p.dns.allow, ["*.amazonaws.com", "api.github.com"]);
    assert_eq!(p.dns.deny, ["*.ngrok.io"]);
    assert_eq!(p.dns.alert, ["*.pastebin.com"]);
    assert_eq!(p.process.default, Verdict::Allow);
    assert_eq!(p.process.deny, ["/tmp/*", "/usr/bin/nc", "ncat"]);
    assert_eq!(p.process.alert, ["curl"]);
    assert!(p.process.allow.is_empty());
}

#[test]
fn empty_document_allows_everything_in_enforce_mode() {
    let p = policy("");
    assert_eq!(p.mode, Mode::Enforce);
    assert_eq!(p.dns.default, Verdict::Allow);
    assert_eq!(p.process.default, Verdict::Allow);
    assert_eq!(p.dns.block_ttl, 5);
}

#[test]
fn json_and_toml_give_equal_policies_and_versions() {
    let t = policy(FULL_TOML);
    let j = Policy::from_json(FULL_JSON, "p.json").expect("valid JSON");
    assert_eq!(t, j);
    assert_eq!(t.compile().version(), j.compile().version());
    assert_eq!(t.compile().blob(), j.compile().blob());
}

#[test]
fn canonical_json_round_trips_to_an_equal_policy_and_version() {
    let c = policy(FULL_TOML).compile();
    let back = Policy::from_json(c.to_json(), "policy.json").expect("canonical JSON is valid");
    assert_eq!(back, policy(FULL_TOML));
    assert_eq!(back.compile().version(), c.version());
    assert_eq!(back.compile().to_json(), c.to_json());
}

#[test]
fn canonical_json_carries_the_version_and_ends_with_a_newline() {
    let c = policy(FULL_TOML).compile();
    let v: serde_json::Value = serde_json::from_str(c.to_json()).unwrap();
    assert_eq!(v["version"], c.version());
    assert!(c.to_json().ends_with("}\n"));
}

#[test]
fn version_is_16_hex_digits() {
    let c = policy(FULL_TOML).compile();
    assert_eq!(c.version().len(), 16);
    assert!(
        c.version()
            .chars()
            .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase())
    );
}

#[test]
fn same_meaning_gives_the_same_version() {
    let a = policy(
        "[dns]\ndefault = \"deny\"\nallow = [\"B.example\", \"a.example\", \"a.example.\"]\n",
    );
    let b = policy(
        "# comment\n[dns]\nallow = [\"a.example\", \"b.example\"]\ndefault = \"deny\"\nanswer = \"nxdomain\"\n",
    );
    assert_eq!(a.compile().version(), b.compile().version());
}

#[test]
fn different_meaning_gives_a_different_version() {
    let a = policy("[dns]\ndefault = \"deny\"\nallow = [\"a.example\"]\n");
    let b = policy("[dns]\ndefault = \"deny\"\nalert = [\"a.example\"]\n");
    let c = policy("[dns]\ndefault = \"deny\"\nallow = [\"a.example\"]\nblock_ttl = 6\n");
    assert_ne!(a.compile().version(), b.compile().version());
    assert_ne!(a.compile().version(), c.compile().version());
}

#[test]
fn from_text_detects_json_by_its_opening_brace() {
    let p = Policy::from_text("  \n{\"mode\": \"audit\"}", "x").unwrap();
    assert_eq!(p.mode, Mode::Audit);
    let p = Policy::from_text("mode = \"audit\"", "x").unwrap();
    assert_eq!(p.mode, Mode::Audit);
}

#[test]
fn load_picks_the_format_by_extension_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("guard-policy-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("p.toml");
    std::fs::write(&toml, FULL_TOML).unwrap();
    assert_eq!(Policy::load(&toml).unwrap(), policy(FULL_TOML));
    let json = dir.join("p.json");
    std::fs::write(&json, FULL_JSON).unwrap();
    assert_eq!(Policy::load(&json).unwrap(), policy(FULL_TOML));
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "mode = \"loud\"\n").unwrap();
    let e = Policy::load(&bad).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:1: mode: expected \"enforce\" or \"audit\", found \"loud\"",
            bad.display()
        )
    );
    let missing = dir.join("missing.toml");
    let e = Policy::load(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: file: cannot read the policy file",
            missing.display()
        )),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_mode_is_an_error() {
    let e = toml_errors("mode = \"block\"\n");
    assert_eq!(
        e,
        "policy.toml:1: mode: expected \"enforce\" or \"audit\", found \"block\""
    );
}

#[test]
fn dns_section_without_default_is_an_error() {
    let e = toml_errors("\n[dns]\nallow = [\"a.example\"]\n");
    assert!(e.contains("policy.toml:2: dns.default: missing;"), "{e}");
}

#[test]
fn process_section_without_default_is_an_error() {
    let e = toml_errors("[process]\ndeny = [\"nc\"]\n");
    assert!(
        e.contains("policy.toml:1: process.default: missing;"),
        "{e}"
    );
}

#[test]
fn default_must_be_allow_or_deny() {
    let e = toml_errors("[dns]\ndefault = \"alert\"\n");
    assert_eq!(
        e,
        "policy.toml:2: dns.default: expected \"allow\" or \"deny\", found \"alert\""
    );
}

#[test]
fn bad_answer_is_an_error() {
    let e = toml_errors("[dns]\ndefault = \"deny\"\nanswer = \"servfail\"\n");
    assert!(
        e.contains("policy.toml:3: dns.answer: expected \"nxdomain\" or \"nodata\" or \"refused\""),
        "{e}"
    );
}

#[test]
fn bad_cname_is_an_error() {
    let e = toml_errors("[dns]\ndefault = \"deny\"\ncname = true\n");
    assert!(
        e.contains("policy.toml:3: dns.cname: expected \"inspect\" or \"trust\", found a boolean"),
        "{e}"
    );
}

#[test]
fn block_ttl_over_an_hour_is_an_error() {
    let e = toml_errors("[dns]\ndefault = \"deny\"\nblock_ttl = 3601\n");
    assert!(
        e.contains(
            "policy.toml:3: dns.block_ttl: 3601 is out of range; expected seconds from 0 to 3600"
        ),
        "{e}"
    );
    assert_eq!(
        policy("[dns]\ndefault = \"deny\"\nblock_ttl = 3600\n")
            .dns
            .block_ttl,
        3600
    );
}

#[test]
fn negative_or_non_integer_block_ttl_is_an_error() {
    assert!(toml_errors("[dns]\ndefault = \"deny\"\nblock_ttl = -1\n").contains("out of range"));
    assert!(
        toml_errors("[dns]\ndefault = \"deny\"\nblock_ttl = \"5\"\n")
            .contains("expected an integer")
    );
    assert!(
        json_errors(r#"{"dns": {"default": "deny", "block_ttl": 1.5}}"#)
            .contains("expected an integer")
    );
}

#[test]
fn unknown_top_level_field_is_an_error() {
    let e = toml_errors("mode = \"audit\"\nmdoe = \"enforce\"\n");
    assert_eq!(
        e,
        "policy.toml:2: mdoe: unknown field; expected one of: mode, dns, process, net, waf"
    );
}

#[test]
fn unknown_section_field_is_an_error() {
    let e = toml_errors("[dns]\ndefault = \"deny\"\nallowed = []\n");
    assert!(
        e.contains("policy.toml:3: dns.allowed: unknown field; expected one of:"),
        "{e}"
    );
    let e = toml_errors("[process]\ndefault = \"deny\"\nanswer = \"refused\"\n");
    assert!(
        e.contains("policy.toml:3: process.answer: unknown field"),
        "{e}"
    );
}

#[test]
fn list_that_is_not_an_array_is_an_error() {
    let e = toml_errors("[dns]\ndefault = \"deny\"\nallow = \"a.example\"\n");
    assert!(
        e.contains("policy.toml:3: dns.allow: expected an array of strings, found a string"),
        "{e}"
    );
}

#[test]
fn section_that_is_not_a_table_is_an_error() {
    let e = toml_errors("dns = \"deny\"\n");
    assert!(
        e.contains("policy.toml:1: dns: expected a table, found a string"),
        "{e}"
    );
}

#[test]
fn every_error_of_a_document_is_reported_in_line_order() {
    let e = toml_errors(
        "mode = \"x\"\nbogus = 1\n[dns]\nanswer = \"x\"\nallow = [\"*\"]\n[process]\ndefault = \"x\"\ndeny = [\"a/b\"]\n",
    );
    let fields: Vec<&str> = e.lines().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "policy.toml:1",
            "policy.toml:2",
            "policy.toml:3",
            "policy.toml:4",
            "policy.toml:5",
            "policy.toml:7",
            "policy.toml:8"
        ],
        "{e}"
    );
}

#[test]
fn toml_syntax_error_gives_its_line() {
    let e = toml_errors("mode = \"audit\"\n[dns\ndefault = \"deny\"\n");
    assert!(
        e.starts_with("policy.toml:2: syntax: not valid TOML:"),
        "{e}"
    );
}

#[test]
fn json_syntax_error_gives_its_line() {
    let e = json_errors("{\n  \"mode\": \"audit\",\n  \"dns\": {,}\n}");
    assert!(
        e.starts_with("policy.json:3: syntax: not valid JSON:"),
        "{e}"
    );
}

#[test]
fn json_errors_carry_field_paths() {
    let e = json_errors(r#"{"process": {"default": "deny", "deny": ["nc", 7, "x/y"]}, "dns": 3}"#);
    assert!(
        e.contains("policy.json: process.deny[1]: expected a string, found an integer"),
        "{e}"
    );
    assert!(
        e.contains("policy.json: process.deny[2]: `x/y`: a path pattern must be absolute"),
        "{e}"
    );
    assert!(
        e.contains("policy.json: dns: expected a table, found an integer"),
        "{e}"
    );
}

#[test]
fn json_document_must_be_an_object() {
    let e = json_errors("[1, 2]");
    assert!(
        e.contains("policy.json: document: expected a table, found an array"),
        "{e}"
    );
}

#[test]
fn version_field_is_accepted_and_ignored() {
    let a = Policy::from_json(r#"{"version": "0000000000000000", "mode": "audit"}"#, "p").unwrap();
    assert_eq!(a, policy("mode = \"audit\"\n"));
    let e = json_errors(r#"{"version": 1}"#);
    assert!(e.contains("version: expected a string"), "{e}");
}

#[test]
fn documented_error_example_is_what_validation_prints() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policy.md"))
        .expect("docs/policy.md");
    let block = |after: &str, fence: &str| -> String {
        let start = doc.find(after).expect("marker") + after.len();
        let body = &doc[start..];
        let open = body.find(fence).expect("fence") + fence.len();
        let close = body[open..].find("```").expect("closing fence");
        body[open..open + close]
            .trim_start_matches('\n')
            .to_string()
    };
    let input = block("This file:", "```toml");
    let expected = block("gives:", "```text");
    assert_eq!(toml_errors(&input), expected.trim_end());
}

#[test]
fn duplicate_json_field_is_an_error() {
    // A repeated "deny" must not silently replace the first list.
    let e = json_errors(r#"{"dns": {"default": "allow", "deny": ["evil.example"], "deny": []}}"#);
    assert_eq!(
        e,
        "policy.json: dns.deny: duplicate field; each field may appear once"
    );
}

#[test]
fn duplicate_toml_key_is_a_syntax_error() {
    let e = toml_errors("[dns]\ndefault = \"allow\"\ndeny = []\ndeny = []\n");
    assert!(
        e.starts_with("policy.toml:4: syntax: not valid TOML:"),
        "{e}"
    );
}

#[test]
fn hand_built_policy_with_invalid_patterns_compiles_without_them() {
    let mut p = policy(
        "[dns]\ndefault = \"allow\"\ndeny = [\"evil.example\"]\n[process]\ndefault = \"allow\"\n",
    );
    p.dns.deny.push(format!("{}.example", "a".repeat(300)));
    p.dns.deny.push("UPPER.example".to_string());
    p.process.deny.push("relative/path".to_string());
    p.process.deny.push("nc".to_string());
    let c = p.compile();
    let v = c.view();
    assert_eq!(dns(&p, "evil.example"), "deny dns.deny:evil.example");
    assert_eq!(dns(&p, "upper.example"), "allow dns.default");
    assert_eq!(
        v.decide_process(b"/relative/path").rule.to_string(),
        "process.default"
    );
    assert_eq!(
        v.decide_process(b"/bin/nc").rule.to_string(),
        "process.deny:nc"
    );
}

#[test]
fn version_is_the_documented_hash_of_the_compact_canonical_json() {
    use sha2::{Digest, Sha256};
    let c = policy(FULL_TOML).compile();
    // Rebuild the compact form from the published policy.json, as an outside tool would.
    let mut doc: serde_json::Value = serde_json::from_str(c.to_json()).unwrap();
    doc.as_object_mut().unwrap().remove("version");
    let d = &doc["dns"];
    let p = &doc["process"];
    let compact = format!(
        r#"{{"mode":{},"dns":{{"default":{},"answer":{},"cname":{},"block_ttl":{},"allow":{},"deny":{},"alert":{}}},"process":{{"default":{},"allow":{},"deny":{},"alert":{}}}}}"#,
        doc["mode"],
        d["default"],
        d["answer"],
        d["cname"],
        d["block_ttl"],
        d["allow"],
        d["deny"],
        d["alert"],
        p["default"],
        p["allow"],
        p["deny"],
        p["alert"]
    );
    let digest = Sha256::digest(compact.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(c.version(), hex);
}
