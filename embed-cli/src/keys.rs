//! Key names: register-task-definition JSON uses camelCase (`entryPoint`), CloudFormation
//! PascalCase (`EntryPoint`). Every ECS key guard-embed reads or writes differs only in the
//! first letter, so code names keys in camelCase and the style turns them into the document's.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Camel,
    Pascal,
}

impl Style {
    /// The document's spelling of a camelCase key.
    pub fn key(self, camel: &str) -> String {
        match self {
            Style::Camel => camel.to_string(),
            Style::Pascal => {
                let mut chars = camel.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
        }
    }

    pub fn get<'a>(self, map: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
        map.get(&self.key(camel))
    }

    /// A JSON object in this style from camelCase keys.
    pub fn object<const N: usize>(self, entries: [(&str, Value); N]) -> Value {
        let mut map = Map::new();
        for (key, value) in entries {
            map.insert(self.key(key), value);
        }
        Value::Object(map)
    }
}

/// `path.key`, or `key` at the top.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A container name for messages: the string itself in quotes, or the compact JSON of an
/// intrinsic function.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}
