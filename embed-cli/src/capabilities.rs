//! `--ptrace`: SYS_PTRACE in `linuxParameters.capabilities.add`, the one capability Fargate
//! lets a task add (for tracing static binaries the preload library cannot see). Never added
//! unless asked for.

use serde_json::{Map, Value};

use crate::error::EmbedError;
use crate::fill;
use crate::keys::{Style, join};
use crate::record::Token;

const PTRACE: &str = "SYS_PTRACE";

fn keys(style: Style) -> [String; 3] {
    [
        style.key("linuxParameters"),
        style.key("capabilities"),
        style.key("add"),
    ]
}

/// The dotted paths of the three nested keys, outermost first.
pub fn paths(style: Style) -> [String; 3] {
    let [l, c, a] = keys(style);
    [l.clone(), format!("{l}.{c}"), format!("{l}.{c}.{a}")]
}

pub fn add(
    container: &mut Map<String, Value>,
    style: Style,
    path: &str,
    tokens: &mut Vec<Token>,
) -> Result<(), EmbedError> {
    let [l, c, a] = keys(style);
    let [lp, cp, ap] = paths(style);
    let present = container
        .get(&l)
        .and_then(|v| v.get(&c))
        .and_then(|v| v.get(&a))
        .and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|i| i.as_str() == Some(PTRACE)));
    if present {
        return Ok(());
    }
    let linux = fill::object(container, &l, &lp, path, tokens)?;
    let caps = fill::object(linux, &c, &cp, &join(path, &l), tokens)?;
    let add = fill::array(caps, &a, &ap, &join(path, &cp), tokens)?;
    add.push(Value::from(PTRACE));
    tokens.push(Token::PtraceAdded);
    Ok(())
}

pub fn remove(container: &mut Map<String, Value>, style: Style) {
    let [l, c, a] = keys(style);
    if let Some(Value::Array(items)) = container
        .get_mut(&l)
        .and_then(|v| v.get_mut(&c))
        .and_then(|v| v.get_mut(&a))
        && let Some(at) = items.iter().rposition(|i| i.as_str() == Some(PTRACE))
    {
        items.remove(at);
    }
}
