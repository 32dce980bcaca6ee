//! The policy document: what people write (TOML) and machines send (JSON).

use std::path::Path;

use crate::compile::CompiledPolicy;
use crate::decision::{CnameMode, DnsAnswer, Mode, Verdict};
use crate::error::PolicyErrors;

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
        let _ = path;
        todo!()
    }

    /// Parses TOML. `origin` names the source in errors (a path or a URL). Every error is
    /// reported, each with its line, field and the reason.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        let _ = (text, origin);
        todo!()
    }

    /// Parses JSON with the same field names as TOML. Also accepts the canonical
    /// `policy.json` that [`CompiledPolicy::to_json`] writes.
    pub fn from_json(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        let _ = (text, origin);
        todo!()
    }

    /// Parses by content: JSON if the first non-blank character is `{`, else TOML.
    pub fn from_text(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        let _ = (text, origin);
        todo!()
    }

    /// Compiles into the compact matcher form and the canonical JSON, with the version.
    pub fn compile(&self) -> CompiledPolicy {
        todo!()
    }
}
