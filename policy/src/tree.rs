//! One tree for both document formats, with the line of each value where the format tells
//! it, so validation is written once and reports TOML lines and JSON field paths alike.

use std::borrow::Cow;

use crate::error::PolicyError;

/// A value and the 1-based line it starts on (TOML only).
pub(crate) struct Item<'a> {
    pub(crate) node: Node<'a>,
    pub(crate) line: Option<usize>,
}

/// Strings borrow from the document text where it holds them verbatim (no escapes), so
/// 100k rules are not copied once more on their way to normalisation.
pub(crate) enum Node<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    /// Any other scalar, by its type name (for "expected ..., found a boolean").
    Other(&'static str),
    Array(Vec<Item<'a>>),
    /// Keys in document order where the format keeps it, each with its own line.
    Table(Vec<(String, Option<usize>, Item<'a>)>),
}

impl Node<'_> {
    /// "a string", "an integer", ... for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Bool(_) => "a boolean",
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
pub(crate) fn from_toml<'t>(text: &'t str, origin: &str) -> Result<Item<'t>, Vec<PolicyError>> {
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

    fn value<'t>(v: &toml::Spanned<DeValue<'t>>, lines: &Lines) -> Item<'t> {
        let line = Some(lines.line(v.span().start));
        let node = match v.get_ref() {
            DeValue::String(Cow::Borrowed(s)) => Node::Str(Cow::Borrowed(s)),
            DeValue::String(Cow::Owned(s)) => Node::Str(Cow::Owned(s.clone())),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Node::Int(n),
                Err(_) => Node::Other("an integer out of range"),
            },
            DeValue::Float(_) => Node::Other("a float"),
            DeValue::Boolean(b) => Node::Bool(*b),
            DeValue::Datetime(_) => Node::Other("a datetime"),
            DeValue::Array(a) => Node::Array(a.iter().map(|v| value(v, lines)).collect()),
            DeValue::Table(t) => table(t, lines),
        };
        Item { node, line }
    }

    fn table<'t>(t: &DeTable<'t>, lines: &Lines) -> Node<'t> {
        let mut entries: Vec<(String, Option<usize>, Item<'t>)> = t
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

/// Parses JSON into a tree, or returns the syntax error (with its line). Objects keep their
/// keys in document order, duplicates included, so that a repeated `"deny"` is reported
/// rather than silently replacing the first.
pub(crate) fn from_json<'t>(text: &'t str, origin: &str) -> Result<Item<'t>, Vec<PolicyError>> {
    let item: JsonItem<'t> = serde_json::from_str(text).map_err(|e| {
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
    Ok(item.0)
}

/// A JSON value read straight into the tree (no intermediate `serde_json::Value`).
struct JsonItem<'a>(Item<'a>);

impl<'de> serde::Deserialize<'de> for JsonItem<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JsonItem<'de>, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

fn json(node: Node<'_>) -> JsonItem<'_> {
    JsonItem(Item { node, line: None })
}

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = JsonItem<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<JsonItem<'de>, E> {
        Ok(json(Node::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<JsonItem<'de>, E> {
        Ok(json(Node::Int(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<JsonItem<'de>, E> {
        Ok(json(match i64::try_from(v) {
            Ok(v) => Node::Int(v),
            Err(_) => Node::Other("an integer out of range"),
        }))
    }

    fn visit_f64<E>(self, _: f64) -> Result<JsonItem<'de>, E> {
        Ok(json(Node::Other("a non-integer number")))
    }

    fn visit_str<E>(self, v: &str) -> Result<JsonItem<'de>, E> {
        Ok(json(Node::Str(Cow::Owned(v.to_string()))))
    }

    fn visit_string<E>(self, v: String) -> Result<JsonItem<'de>, E> {
        Ok(json(Node::Str(Cow::Owned(v))))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<JsonItem<'de>, E> {
        Ok(json(Node::Str(Cow::Borrowed(v))))
    }

    fn visit_unit<E>(self) -> Result<JsonItem<'de>, E> {
        Ok(json(Node::Other("null")))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<JsonItem<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(JsonItem(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(json(Node::Array(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<JsonItem<'de>, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, JsonItem(item))) = map.next_entry::<String, JsonItem<'de>>()? {
            entries.push((key, None, item));
        }
        Ok(json(Node::Table(entries)))
    }
}
