//! Macro expansion in actions and operator arguments: `%{tx.score}`, `%{MATCHED_VAR}`,
//! `%{REQUEST_HEADERS.host}`, `%{rule.id}`.

use crate::seclang::variables::Var;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    /// A variable, with the key after the dot (lowercased for collections).
    Var(Var, Option<String>),
}

/// A string with macros, parsed once at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macro {
    pub parts: Vec<Part>,
}

impl Macro {
    pub fn parse(s: &str) -> Result<Macro, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(p) = rest.find("%{") {
            if p > 0 {
                parts.push(Part::Lit(rest[..p].to_string()));
            }
            let after = &rest[p + 2..];
            let Some(end) = after.find('}') else {
                parts.push(Part::Lit(rest[p..].to_string()));
                rest = "";
                break;
            };
            let inner = &after[..end];
            let (name, key) = match inner.split_once(['.', ':']) {
                Some((n, k)) => (n, Some(k.to_ascii_lowercase())),
                None => (inner, None),
            };
            let var = Var::parse(name).ok_or_else(|| format!("macro variable %{{{inner}}}"))?;
            parts.push(Part::Var(var, key));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Macro { parts })
    }

    pub fn literal(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            if let Part::Lit(l) = p {
                s.push_str(l);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts() {
        let m = Macro::parse("a %{tx.X} b %{MATCHED_VAR}").unwrap();
        assert_eq!(m.parts.len(), 4);
        assert_eq!(m.parts[1], Part::Var(Var::Tx, Some("x".into())));
        assert!(Macro::parse("%{nope.x}").is_err());
    }
}
