//! Getting an array or object of a container to add to: created when absent, replaced when
//! `null` or empty (recording that original, see record.rs), refused when it is something else.

use serde_json::{Map, Value};

use crate::error::EmbedError;
use crate::keys::join;
use crate::record::{Token, state_if_empty};

/// `map[key]` as an array to append to. `token_key` is the key's dotted path inside the
/// container, for the record.
pub fn array<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
    token_key: &str,
    path: &str,
    tokens: &mut Vec<Token>,
) -> Result<&'a mut Vec<Value>, EmbedError> {
    prepare(
        map,
        key,
        token_key,
        path,
        tokens,
        Value::Array(Vec::new()),
        "an array",
    )?;
    match map.get_mut(key) {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(EmbedError::invalid(join(path, key), "expected an array")),
    }
}

/// `map[key]` as an object to add to.
pub fn object<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
    token_key: &str,
    path: &str,
    tokens: &mut Vec<Token>,
) -> Result<&'a mut Map<String, Value>, EmbedError> {
    prepare(
        map,
        key,
        token_key,
        path,
        tokens,
        Value::Object(Map::new()),
        "an object",
    )?;
    match map.get_mut(key) {
        Some(Value::Object(inner)) => Ok(inner),
        _ => Err(EmbedError::invalid(join(path, key), "expected an object")),
    }
}

fn prepare(
    map: &mut Map<String, Value>,
    key: &str,
    token_key: &str,
    path: &str,
    tokens: &mut Vec<Token>,
    empty: Value,
    what: &str,
) -> Result<(), EmbedError> {
    let same_kind =
        |v: &Value| v.is_array() == empty.is_array() && v.is_object() == empty.is_object();
    match map.get(key) {
        None => {
            map.insert(key.to_string(), empty);
        }
        Some(existing) => {
            if let Some(original) = state_if_empty(Some(existing)) {
                if !existing.is_null() && !same_kind(existing) {
                    return Err(EmbedError::invalid(
                        join(path, key),
                        format!("expected {what}"),
                    ));
                }
                tokens.push(Token::Was(token_key.to_string(), original));
                map.insert(key.to_string(), empty);
            } else if !same_kind(existing) {
                return Err(EmbedError::invalid(
                    join(path, key),
                    format!("expected {what}"),
                ));
            }
        }
    }
    Ok(())
}
