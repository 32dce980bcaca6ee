//! The policy document: what people write (TOML) and machines send (JSON).

use std::path::Path;

use crate::compile::CompiledPolicy;
use crate::decision::{CnameMode, DnsAnswer, Mode, Verdict};
use crate::error::{PolicyError, PolicyErrors};
use crate::schema::Checker;
use crate::tree::{self, Item};

/// A parsed, validated and normalised policy document.
///
/// Patterns are normalised at load: DNS names to lower-case A-labels without a trailing dot
/// (`*.` prefix kept), duplicates within a list removed, lists sorted. Two documents that mean
/// the same thing are equal and compile to the same version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    pub mode: Mode,
    pub dns: DnsSection,
    pub process: ProcessSection,
    /// `[net]`: absent means every destination is allowed (and the version of a policy
    /// without it is what it was before the section existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net: Option<crate::net::NetSection>,
    /// `[waf]`: the CNAF reverse proxy. Absent means no proxy (and the version of a policy
    /// without it is what it was before the section existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<crate::waf::WafSection>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DnsSection {
    pub default: Verdict,
    pub answer: DnsAnswer,
    pub cname: CnameMode,
    /// Negative TTL in seconds of blocked answers (default 5, at most 3600).
    pub block_ttl: u32,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub alert: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcessSection {
    pub default: Verdict,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub alert: Vec<String>,
}

impl Policy {
    /// Reads a policy file; the format is chosen by extension (`.toml`, `.json`) or, failing
    /// that, by content (a document starting with `{` is JSON). Errors name the file.
    pub fn load(path: &Path) -> Result<Policy, PolicyErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            PolicyErrors(vec![PolicyError {
                origin: origin.clone(),
                line: None,
                field: "file".to_string(),
                reason: format!("cannot read the policy file: {e}"),
            }])
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Policy::from_toml(&text, &origin),
            Some("json") => Policy::from_json(&text, &origin),
            _ => Policy::from_text(&text, &origin),
        }
    }

    /// Parses TOML. `origin` names the source in errors (a path or a URL). Every error is
    /// reported, each with its line, field and the reason.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        check(tree::from_toml(text, origin), origin)
    }

    /// Parses JSON with the same field names as TOML. Also accepts the canonical
    /// `policy.json` that [`CompiledPolicy::to_json`] writes.
    pub fn from_json(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        check(tree::from_json(text, origin), origin)
    }

    /// Parses by content: JSON if the first non-blank character is `{`, else TOML.
    pub fn from_text(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        if text.trim_start().starts_with('{') {
            Policy::from_json(text, origin)
        } else {
            Policy::from_toml(text, origin)
        }
    }

    /// Compiles into the compact matcher form and the canonical JSON, with the version.
    pub fn compile(&self) -> CompiledPolicy {
        CompiledPolicy::from_parts(self)
    }
}

fn check(tree: Result<Item<'_>, Vec<PolicyError>>, origin: &str) -> Result<Policy, PolicyErrors> {
    let root = tree.map_err(PolicyErrors)?;
    let mut checker = Checker::new(origin);
    let policy = checker.policy(&root);
    if checker.errors.is_empty() {
        Ok(policy)
    } else {
        let mut errors = checker.errors;
        // Document order where lines are known (TOML), else as found.
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        Err(PolicyErrors(errors))
    }
}
