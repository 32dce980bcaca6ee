//! The variables app containers get: where the policy and the event socket are, which
//! container this is and which resolver guard-exec points `/etc/resolv.conf` at (`GUARD_*`,
//! from guard-contract), and the preload library at the end of an `LD_PRELOAD` the task
//! definition already sets.
//!
//! `GUARD_RESOLVER` is a variable rather than a `--resolver` flag in the entryPoint prefix so
//! the prefix stays the fixed `guard-exec --`: Fargate writes the VPC resolver into every
//! container's resolv.conf, and dig, Go and c-ares read that file instead of asking libc.
//!
//! guard-exec appends the library to LD_PRELOAD at launch anyway; extending a task-level
//! LD_PRELOAD matters for what ECS runs without the entryPoint (health checks, ECS Exec),
//! which inherits the task definition's environment. A task definition without LD_PRELOAD
//! gets none: setting one would hide an image's own `ENV LD_PRELOAD`.

use guard_contract::{DNS_RESOLVER_IP, EVENTS_SOCK, LIB_PRELOAD, POLICY_JSON, env};
use serde_json::{Map, Value};

use crate::error::EmbedError;
use crate::fill;
use crate::keys::{Style, join};
use crate::record::Token;

/// Every variable embed may add; remove takes all of them out again.
pub const GUARD_VARIABLES: [&str; 7] = [
    env::CONTAINER,
    env::EVENTS,
    env::FAIL,
    env::POLICY,
    env::RESOLVER,
    env::WAIT,
    env::SUPERVISE,
];

/// Adds the `GUARD_*` variables (in name order, after the container's own), keeping any the
/// container already sets, and extends LD_PRELOAD. `fresh`: the container was not protected
/// before this run, so every `GUARD_*` variable it has is its own (recorded as kept).
/// `resolver`: set `GUARD_RESOLVER` (guard-embed's `--no-resolver` turns it off).
/// `supervise`: false sets `GUARD_SUPERVISE=off` (guard-embed's `--no-supervise`).
#[allow(clippy::too_many_arguments)]
pub fn add(
    container: &mut Map<String, Value>,
    style: Style,
    path: &str,
    name: &Value,
    fail: Option<&str>,
    resolver: bool,
    supervise: bool,
    fresh: bool,
    tokens: &mut Vec<Token>,
    warnings: &mut Vec<String>,
) -> Result<(), EmbedError> {
    let env_key = style.key("environment");
    let name_key = style.key("name");
    let value_key = style.key("value");
    let mut wanted: Vec<(&str, Value)> = vec![
        (env::CONTAINER, name.clone()),
        (env::POLICY, Value::from(POLICY_JSON)),
        (env::EVENTS, Value::from(EVENTS_SOCK)),
    ];
    if let Some(mode) = fail {
        wanted.push((env::FAIL, Value::from(mode)));
    }
    if resolver {
        wanted.push((env::RESOLVER, Value::from(DNS_RESOLVER_IP)));
    }
    if !supervise {
        wanted.push((env::SUPERVISE, Value::from(env::SUPERVISE_OFF)));
    }
    wanted.sort_by(|a, b| a.0.cmp(b.0));

    let existing: Vec<(String, Option<Value>)> = match container.get(&env_key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                let entry = item.as_object()?;
                let var = entry.get(&name_key)?.as_str()?;
                Some((var.to_string(), entry.get(&value_key).cloned()))
            })
            .collect(),
        Some(_) => {
            return Err(EmbedError::invalid(
                join(path, &env_key),
                "expected an array of {name, value} objects",
            ));
        }
    };
    if fresh {
        for var in GUARD_VARIABLES {
            if existing.iter().any(|(n, _)| n == var) {
                tokens.push(Token::Kept(var.to_string()));
            }
        }
    }
    let mut missing = Vec::new();
    for (var, value) in wanted {
        match existing.iter().find(|(n, _)| n == var) {
            Some((_, current)) if current.as_ref() != Some(&value) => warnings.push(format!(
                "{}: keeping the container's own {var}={}",
                join(path, &env_key),
                current
                    .as_ref()
                    .map_or_else(|| "null".to_string(), Value::to_string)
            )),
            Some(_) => {}
            None => missing.push((var, value)),
        }
    }
    if !missing.is_empty() {
        let items = fill::array(container, &env_key, &env_key, path, tokens)?;
        for (var, value) in missing {
            let mut entry = Map::new();
            entry.insert(name_key.clone(), Value::from(var));
            entry.insert(value_key.clone(), value);
            items.push(Value::Object(entry));
        }
    }
    extend_preload(
        container, &env_key, &name_key, &value_key, path, tokens, warnings,
    );
    Ok(())
}

fn extend_preload(
    container: &mut Map<String, Value>,
    env_key: &str,
    name_key: &str,
    value_key: &str,
    path: &str,
    tokens: &mut Vec<Token>,
    warnings: &mut Vec<String>,
) {
    let Some(Value::Array(items)) = container.get_mut(env_key) else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        let Some(entry) = item.as_object_mut() else {
            continue;
        };
        if entry.get(name_key).and_then(Value::as_str) != Some(env::LD_PRELOAD) {
            continue;
        }
        match entry.get_mut(value_key) {
            Some(Value::String(list)) if list.trim().is_empty() => {}
            Some(Value::String(list)) => {
                if !list.split([':', ' ']).any(|lib| lib == LIB_PRELOAD) {
                    list.push(':');
                    list.push_str(LIB_PRELOAD);
                    tokens.push(Token::PreloadExtended);
                }
            }
            _ => warnings.push(format!(
                "{path}.{env_key}[{i}]: LD_PRELOAD is not a plain string, so it is left as it is (guard-exec still appends the library at launch)"
            )),
        }
    }
}

/// Takes the `GUARD_*` variables out (except those the record says the container had itself)
/// and, when the record says so, the library off LD_PRELOAD.
pub fn remove(container: &mut Map<String, Value>, style: Style, tokens: &[Token]) {
    let preload_extended = tokens.contains(&Token::PreloadExtended);
    let kept = |var: &str| {
        tokens
            .iter()
            .any(|t| matches!(t, Token::Kept(k) if k == var))
    };
    let env_key = style.key("environment");
    let name_key = style.key("name");
    let value_key = style.key("value");
    let Some(Value::Array(items)) = container.get_mut(&env_key) else {
        return;
    };
    items.retain(|item| {
        let var = item.get(&name_key).and_then(Value::as_str);
        !var.is_some_and(|v| GUARD_VARIABLES.contains(&v) && !kept(v))
    });
    if !preload_extended {
        return;
    }
    let suffix = format!(":{LIB_PRELOAD}");
    for item in items.iter_mut() {
        if item.get(&name_key).and_then(Value::as_str) != Some(env::LD_PRELOAD) {
            continue;
        }
        if let Some(Value::String(list)) = item.get_mut(&value_key)
            && let Some(kept) = list.strip_suffix(&suffix)
        {
            *list = kept.to_string();
        }
    }
}
