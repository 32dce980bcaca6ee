//! What an app container looked like before guard-embed touched it, where the rest of the
//! definition cannot tell.
//!
//! Most of embedding undoes itself by content: the launcher prefix, the `GUARD_*` variables,
//! the `volumesFrom`/`dependsOn` entries naming the sidecar, and keys embed created (absent
//! before, empty after removal). What content cannot tell is kept as space-separated tokens in
//! one dockerLabel, [`LABEL`], on the container, only when there is something to keep:
//!
//! | token | meaning | remove does |
//! |---|---|---|
//! | `KEY=absent` | KEY was not there (entryPoint/command filled from `--image-config`) | deletes KEY |
//! | `KEY=[]`, `KEY={}`, `KEY=null` | KEY was that empty value | puts it back |
//! | `LD_PRELOAD=extended` | the preload library was appended to LD_PRELOAD | strips it |
//! | `VAR=kept` | the container set this `GUARD_*` variable itself | keeps it |
//! | `SYS_PTRACE=added` | `--ptrace` added the capability | takes it out |
//!
//! KEY is a dotted path inside the container in the document's spelling
//! (`linuxParameters.capabilities.add`, `EntryPoint`).

use serde_json::{Map, Value};

use crate::error::EmbedError;

/// The dockerLabel that holds the record.
pub const LABEL: &str = "taskguard.original";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// The key at this dotted path had this value before (or was absent: `None`).
    Was(String, Option<Value>),
    /// The preload library was appended to LD_PRELOAD.
    PreloadExtended,
    /// SYS_PTRACE was added to linuxParameters.capabilities.add.
    PtraceAdded,
    /// The container set this `GUARD_*` variable before embed ran.
    Kept(String),
}

const PRELOAD_TOKEN: &str = "LD_PRELOAD=extended";
const PTRACE_TOKEN: &str = "SYS_PTRACE=added";

impl Token {
    fn render(&self) -> String {
        match self {
            Token::Was(key, None) => format!("{key}=absent"),
            Token::Was(key, Some(value)) => format!("{key}={value}"),
            Token::PreloadExtended => PRELOAD_TOKEN.to_string(),
            Token::PtraceAdded => PTRACE_TOKEN.to_string(),
            Token::Kept(var) => format!("{var}=kept"),
        }
    }

    fn parse(token: &str) -> Option<Token> {
        match token {
            PRELOAD_TOKEN => return Some(Token::PreloadExtended),
            PTRACE_TOKEN => return Some(Token::PtraceAdded),
            _ => {}
        }
        let (key, state) = token.split_once('=')?;
        let value = match state {
            "kept" => return (!key.is_empty()).then(|| Token::Kept(key.to_string())),
            "absent" => None,
            "[]" => Some(Value::Array(Vec::new())),
            "{}" => Some(Value::Object(Map::new())),
            "null" => Some(Value::Null),
            _ => return None,
        };
        (!key.is_empty()).then(|| Token::Was(key.to_string(), value))
    }
}

/// The state to record for a key embed is about to fill: `Some` when removal could not tell
/// it from content (absent keys that become empty again are deleted without a record).
pub fn state_if_empty(value: Option<&Value>) -> Option<Option<Value>> {
    match value {
        Some(Value::Null) => Some(Some(Value::Null)),
        Some(Value::Array(a)) if a.is_empty() => Some(Some(Value::Array(Vec::new()))),
        Some(Value::Object(m)) if m.is_empty() => Some(Some(Value::Object(Map::new()))),
        _ => None,
    }
}

/// Adds tokens to the label text, keeping the ones already there.
pub fn merge(existing: Option<&str>, tokens: &[Token]) -> String {
    let mut out: Vec<String> = existing
        .map(|text| text.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    for token in tokens {
        let text = token.render();
        if !out.contains(&text) {
            out.push(text);
        }
    }
    out.join(" ")
}

/// Reads the label text back.
pub fn parse(text: &str, path: &str) -> Result<Vec<Token>, EmbedError> {
    text.split_whitespace()
        .map(|token| {
            Token::parse(token).ok_or_else(|| EmbedError::Record {
                path: path.to_string(),
                message: format!(
                    "unknown token {token:?} in the {LABEL} label (expected KEY=absent, KEY=[], KEY={{}}, KEY=null, VAR=kept, {PRELOAD_TOKEN} or {PTRACE_TOKEN})"
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let tokens = vec![
            Token::Was("entryPoint".into(), None),
            Token::Was("environment".into(), Some(Value::Array(vec![]))),
            Token::Was("dockerLabels".into(), Some(Value::Object(Map::new()))),
            Token::Was("command".into(), Some(Value::Null)),
            Token::PreloadExtended,
            Token::PtraceAdded,
            Token::Kept("GUARD_FAIL".into()),
        ];
        let text = merge(None, &tokens);
        assert_eq!(
            text,
            "entryPoint=absent environment=[] dockerLabels={} command=null LD_PRELOAD=extended SYS_PTRACE=added GUARD_FAIL=kept"
        );
        assert_eq!(parse(&text, "x"), Ok(tokens));
        assert!(parse("bogus", "x").is_err());
    }
}
