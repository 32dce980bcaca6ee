//! YAML in and out (CloudFormation templates), through the same JSON tree the rest uses.
//!
//! serde_yaml 0.9 reads tags (`!Ref X`) as tagged values and keeps mapping order; they become
//! single-key JSON objects whose key is [`TAG_MARK`] + the tag, which no CloudFormation key can
//! spell, and turn back into tags on output. Output is written here rather than by serde_yaml
//! because serde_yaml follows YAML 1.2 and writes strings like `yes`, `on` or `2010-09-09`
//! unquoted, which YAML 1.1 readers (CloudFormation among them) turn into booleans and dates.
//! Every string that is not plainly a string is double-quoted.

use serde_json::{Map, Number, Value};

use crate::error::EmbedError;

/// Prefix of the key that stands for a YAML tag in the JSON tree.
pub const TAG_MARK: &str = "\u{0}";

/// Parses one YAML document into the JSON tree.
pub fn parse(text: &str) -> Result<Value, EmbedError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        EmbedError::Syntax {
            format: "YAML",
            line,
            column,
            message: e.to_string().lines().next().unwrap_or("").to_string(),
        }
    })?;
    to_json(value, "")
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn to_json(value: serde_yaml::Value, path: &str) -> Result<Value, EmbedError> {
    Ok(match value {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(Number::from_f64(f).ok_or_else(|| {
                    EmbedError::invalid(
                        path,
                        "expected a finite number (.inf and .nan are not supported)",
                    )
                })?)
            }
        }
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| to_json(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        serde_yaml::Value::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, v) in mapping {
                let serde_yaml::Value::String(key) = key else {
                    return Err(EmbedError::invalid(
                        path,
                        "expected only string mapping keys (as CloudFormation has)",
                    ));
                };
                if key.starts_with(TAG_MARK) {
                    return Err(EmbedError::invalid(
                        path,
                        "expected mapping keys without a NUL character",
                    ));
                }
                let inner = to_json(v, &child(path, &key))?;
                map.insert(key, inner);
            }
            Value::Object(map)
        }
        serde_yaml::Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let inner = to_json(tagged.value, path)?;
            let mut map = Map::new();
            map.insert(format!("{TAG_MARK}{tag}"), inner);
            Value::Object(map)
        }
    })
}

/// The tag and its value if `value` stands for a tagged YAML node.
pub fn as_tagged(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (key, inner) = map.iter().next()?;
    key.strip_prefix(TAG_MARK).map(|tag| (tag, inner))
}

/// Writes the JSON tree as a block-style YAML document (two-space indentation, sequences
/// indented under their key, trailing newline).
pub fn emit(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() && as_tagged(value).is_none() => {
            emit_mapping(map, 0, &mut out)
        }
        Value::Array(items) if !items.is_empty() => emit_sequence(items, 0, &mut out),
        other => {
            match block_tag(other) {
                Some((tag, inner)) => {
                    out.push_str(tag);
                    out.push('\n');
                    emit_block(inner, 0, &mut out);
                }
                None => out.push_str(&inline(other).unwrap_or_default()),
            }
            out.push('\n');
        }
    }
    out
}

/// A value that fits on the line of its key or dash, written out; `None` for a value that
/// needs lines of its own.
fn inline(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(scalar(s)),
        Value::Array(items) if items.is_empty() => Some("[]".into()),
        Value::Array(_) => None,
        Value::Object(map) if map.is_empty() => Some("{}".into()),
        Value::Object(_) => match as_tagged(value) {
            Some((tag, inner)) => inline(inner).map(|text| format!("{tag} {text}")),
            None => None,
        },
    }
}

/// A tagged collection: the tag goes on the key's line, the collection below it.
fn block_tag(value: &Value) -> Option<(&str, &Value)> {
    as_tagged(value).filter(|(_, inner)| inline(inner).is_none())
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A non-inline value starting on a fresh line at `n` spaces.
fn emit_block(value: &Value, n: usize, out: &mut String) {
    match value {
        Value::Array(items) => emit_sequence(items, n, out),
        Value::Object(map) => emit_mapping(map, n, out),
        _ => {
            indent(out, n);
            out.push_str(&inline(value).unwrap_or_default());
            out.push('\n');
        }
    }
}

fn emit_mapping(map: &Map<String, Value>, n: usize, out: &mut String) {
    for (key, value) in map {
        indent(out, n);
        out.push_str(&scalar(key));
        out.push(':');
        if let Some(text) = inline(value) {
            out.push(' ');
            out.push_str(&text);
            out.push('\n');
        } else if let Some((tag, inner)) = block_tag(value) {
            out.push(' ');
            out.push_str(tag);
            out.push('\n');
            emit_block(inner, n + 2, out);
        } else {
            out.push('\n');
            emit_block(value, n + 2, out);
        }
    }
}

fn emit_sequence(items: &[Value], n: usize, out: &mut String) {
    for item in items {
        if let Some(text) = inline(item) {
            indent(out, n);
            out.push_str("- ");
            out.push_str(&text);
            out.push('\n');
        } else if let Some((tag, inner)) = block_tag(item) {
            indent(out, n);
            out.push_str("- ");
            out.push_str(tag);
            out.push('\n');
            emit_block(inner, n + 2, out);
        } else {
            // A collection item starts on the dash's line: write it two columns in, then put
            // the dash over the first line's indentation.
            let mut nested = String::new();
            emit_block(item, n + 2, &mut nested);
            indent(out, n);
            out.push_str("- ");
            out.push_str(nested.get(n + 2..).unwrap_or(&nested));
        }
    }
}

/// A string as a YAML scalar: plain when no YAML reader can take it for anything but this
/// string, double-quoted otherwise.
fn scalar(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_string()
    } else {
        quoted(s)
    }
}

fn plain_is_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let first_ok = first.is_ascii_alphabetic()
        || matches!(first, b'/' | b'_' | b'$')
        || (first == b'-' && bytes.get(1).is_some_and(u8::is_ascii_alphabetic))
        || (first == b'-'
            && bytes.get(1) == Some(&b'-')
            && bytes.get(2).is_some_and(u8::is_ascii_alphabetic));
    let chars_ok = bytes.iter().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'_'
                    | b'-'
                    | b'.'
                    | b'/'
                    | b':'
                    | b'@'
                    | b'$'
                    | b'{'
                    | b'}'
                    | b'('
                    | b')'
                    | b'+'
                    | b'='
                    | b','
            )
    });
    const KEYWORDS: [&str; 10] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    first_ok
        && chars_ok
        && !s.ends_with(' ')
        && !s.ends_with(':')
        && !s.contains(": ")
        && !KEYWORDS.contains(&s.to_ascii_lowercase().as_str())
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        emit(&parse(text).expect("parses"))
    }

    #[test]
    fn short_tags_survive() {
        let text =
            "Image: !Ref Image\nName: !Sub \"${AWS::StackName}-app\"\nArn: !GetAtt Role.Arn\n";
        assert_eq!(
            round(text),
            "Image: !Ref Image\nName: !Sub ${AWS::StackName}-app\nArn: !GetAtt Role.Arn\n"
        );
    }

    #[test]
    fn tagged_collections_keep_their_tag() {
        let text = "V: !If [Cond, a, !Ref \"AWS::NoValue\"]\nW: !Join [\":\", [a, b]]\n";
        let once = round(text);
        assert_eq!(
            once,
            "V: !If\n  - Cond\n  - a\n  - !Ref AWS::NoValue\nW: !Join\n  - \":\"\n  - - a\n    - b\n"
        );
        assert_eq!(round(&once), once);
    }

    #[test]
    fn yaml_1_1_booleans_and_dates_stay_strings() {
        let text = "a: \"yes\"\nb: \"on\"\nc: \"2010-09-09\"\nd: \"256\"\ne: \"\"\nf: \"1 vcpu\"\n";
        let once = round(text);
        assert_eq!(
            once,
            "a: \"yes\"\nb: \"on\"\nc: \"2010-09-09\"\nd: \"256\"\ne: \"\"\nf: \"1 vcpu\"\n"
        );
    }

    #[test]
    fn nested_mappings_in_sequences() {
        let text = "L:\n- Name: a\n  Value: b\n- Name: c\n  Env:\n  - x\n";
        assert_eq!(
            round(text),
            "L:\n  - Name: a\n    Value: b\n  - Name: c\n    Env:\n      - x\n"
        );
    }
}
