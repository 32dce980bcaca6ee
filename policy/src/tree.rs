//! One tree for both document formats, with the line of each value where the format tells
//! it, so validation is written once and reports TOML lines and JSON field paths alike.

use crate::error::PolicyError;

/// A value and the 1-based line it starts on (TOML only).
pub(crate) struct Item {
    pub(crate) node: Node,
    pub(crate) line: Option<usize>,
}

pub(crate) enum Node {
    Str(String),
    Int(i64),
    /// Any other scalar, by its type name (for "expected ..., found a boolean").
    Other(&'static str),
    Array(Vec<Item>),
    /// Keys in document order where the format keeps it, each with its own line.
    Table(Vec<(String, Option<usize>, Item)>),
}

impl Node {
    /// "a string", "an integer", ... for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Other(kind) => kind,
            Node::Array(_) => "an array",
            Node::Table(_) => "a table",
        }
    }
}

/// Byte offset to 1-based line.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines(starts)
    }

    fn line(&self, offset: usize) -> usize {
        match self.0.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// Parses TOML into a tree, or returns every syntax error.
pub(crate) fn from_toml(text: &str, origin: &str) -> Result<Item, Vec<PolicyError>> {
    use toml::de::{DeTable, DeValue};
    let lines = Lines::new(text);
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| PolicyError {
                origin: origin.to_string(),
                line: e.span().map(|s| lines.line(s.start)),
                field: "syntax".to_string(),
                reason: format!("not valid TOML: {}", e.message().trim_end()),
            })
            .collect());
    }

    fn value(v: &toml::Spanned<DeValue<'_>>, lines: &Lines) -> Item {
        let line = Some(lines.line(v.span().start));
        let node = match v.get_ref() {
            DeValue::String(s) => Node::Str(s.to_string()),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Node::Int(n),
                Err(_) => Node::Other("an integer out of range"),
            },
            DeValue::Float(_) => Node::Other("a float"),
            DeValue::Boolean(_) => Node::Other("a boolean"),
            DeValue::Datetime(_) => Node::Other("a datetime"),
            DeValue::Array(a) => Node::Array(a.iter().map(|v| value(v, lines)).collect()),
            DeValue::Table(t) => table(t, lines),
        };
        Item { node, line }
    }

    fn table(t: &DeTable<'_>, lines: &Lines) -> Node {
        let mut entries: Vec<(String, Option<usize>, Item)> = t
            .iter()
            .map(|(k, v)| {
                (
                    k.get_ref().to_string(),
                    Some(lines.line(k.span().start)),
                    value(v, lines),
                )
            })
            .collect();
        entries.sort_by_key(|e| e.1);
        Node::Table(entries)
    }

    Ok(Item {
        node: table(root.get_ref(), &lines),
        line: Some(1),
    })
}

/// Parses JSON into a tree, or returns the syntax error (with its line).
pub(crate) fn from_json(text: &str, origin: &str) -> Result<Item, Vec<PolicyError>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let reason = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        vec![PolicyError {
            origin: origin.to_string(),
            line: Some(e.line()),
            field: "syntax".to_string(),
            reason: format!("not valid JSON: {reason}"),
        }]
    })?;

    fn convert(v: &serde_json::Value) -> Item {
        use serde_json::Value;
        let node = match v {
            Value::String(s) => Node::Str(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => Node::Other("a non-integer number"),
            },
            Value::Bool(_) => Node::Other("a boolean"),
            Value::Null => Node::Other("null"),
            Value::Array(a) => Node::Array(a.iter().map(convert).collect()),
            Value::Object(o) => Node::Table(
                o.iter()
                    .map(|(k, v)| (k.clone(), None, convert(v)))
                    .collect(),
            ),
        };
        Item { node, line: None }
    }

    Ok(convert(&value))
}
