//! Helpers shared by the specification tests.
#![allow(dead_code)]

use guard_policy::{DnsName, Policy};

/// Parses a TOML policy that must be valid.
pub fn policy(toml: &str) -> Policy {
    match Policy::from_toml(toml, "test.toml") {
        Ok(p) => p,
        Err(e) => panic!("policy should be valid:\n{e}"),
    }
}

/// `"<verdict> <rule>"` for a name, e.g. `"deny dns.deny:*.ngrok.io"`.
pub fn dns(policy: &Policy, name: &str) -> String {
    let compiled = policy.compile();
    let view = compiled.view();
    let name = DnsName::from_text(name.as_bytes()).expect("valid name");
    let d = view.decide_dns(&name);
    format!("{} {}", d.verdict.as_str(), d.rule)
}

/// `"<verdict> <rule>"` for a program path.
pub fn process(policy: &Policy, path: &str) -> String {
    let compiled = policy.compile();
    let d = compiled.view().decide_process(path.as_bytes());
    format!("{} {}", d.verdict.as_str(), d.rule)
}

/// Every error message of a TOML document that must be invalid, one per line.
pub fn toml_errors(toml: &str) -> String {
    match Policy::from_toml(toml, "policy.toml") {
        Ok(p) => panic!("policy should be invalid, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

/// Every error message of a JSON document that must be invalid, one per line.
pub fn json_errors(json: &str) -> String {
    match Policy::from_json(json, "policy.json") {
        Ok(p) => panic!("policy should be invalid, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

/// A one-list DNS policy: `dns_with("deny", "*.example.com")`.
pub fn dns_rule_error(pattern: &str) -> String {
    toml_errors(&format!(
        "[dns]\ndefault = \"allow\"\ndeny = [\n  \"ok.example\",\n  {pattern:?},\n]\n"
    ))
}

/// A one-list process policy with the pattern on line 4.
pub fn process_rule_error(pattern: &str) -> String {
    toml_errors(&format!(
        "[process]\ndefault = \"allow\"\ndeny = [\n  {pattern:?},\n]\n"
    ))
}
