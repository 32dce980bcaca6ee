//! Putting the launcher in front of an app container's program, following Docker's
//! entrypoint/command rules (which ECS mirrors): a set `entryPoint` replaces the image's
//! ENTRYPOINT *and* drops its CMD; `command` replaces CMD only. Empty arrays mean "not set".
//!
//! | task definition | image | rewrite |
//! |---|---|---|
//! | entryPoint E (command C or none) | any | entryPoint = W E, command untouched |
//! | command C only | ENTRYPOINT IE (maybe empty) | entryPoint = W IE, command C |
//! | neither | ENTRYPOINT IE, CMD IC | entryPoint = W IE, command = IC |
//!
//! W is `guard-exec --`. Without the image's configuration the last two rows cannot be done
//! safely (the program or its default arguments would be lost), so they are errors.

use guard_contract::BIN_GUARD_EXEC;
use serde_json::{Map, Value};

use crate::error::{EmbedError, ImageConfigError};
use crate::keys::{Style, join, show};
use crate::record::Token;

/// The separator between the launcher and the program it runs.
const SEPARATOR: &str = "--";

/// The parts of an image's configuration that decide what a container runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

impl ImageConfig {
    /// Reads `docker inspect IMAGE` output (an array with one object, or the object), an OCI
    /// image configuration (`config.Entrypoint`, `config.Cmd`), or just the `Config` object.
    pub fn parse(text: &str) -> Result<ImageConfig, ImageConfigError> {
        let root: Value = serde_json::from_str(text).map_err(|e| ImageConfigError {
            path: format!("line {} column {}", e.line(), e.column()),
            expected: "expected JSON (docker inspect output or an OCI image config)".to_string(),
        })?;
        let (image, base) = match &root {
            Value::Array(items) if items.len() == 1 => (&items[0], "[0]"),
            Value::Array(items) => {
                return Err(ImageConfigError {
                    path: "top level".to_string(),
                    expected: format!(
                        "expected the docker inspect output of exactly one image, found {}",
                        items.len()
                    ),
                });
            }
            other => (other, ""),
        };
        let config = ["Config", "config"]
            .iter()
            .find_map(|key| image.get(key).map(|c| (c, join(base, key))))
            .or_else(|| {
                (image.get("Entrypoint").is_some() || image.get("Cmd").is_some())
                    .then(|| (image, base.to_string()))
            });
        let Some((config, path)) = config else {
            return Err(ImageConfigError {
                path: if base.is_empty() { "top level".into() } else { base.into() },
                expected: "expected Config.Entrypoint/Config.Cmd (docker inspect) or config.Entrypoint/config.Cmd (OCI image config)".to_string(),
            });
        };
        Ok(ImageConfig {
            entrypoint: strings(config.get("Entrypoint"), &join(&path, "Entrypoint"))?,
            cmd: strings(config.get("Cmd"), &join(&path, "Cmd"))?,
        })
    }
}

fn strings(value: Option<&Value>, path: &str) -> Result<Vec<String>, ImageConfigError> {
    let bad = || ImageConfigError {
        path: path.to_string(),
        expected: "expected an array of strings or null".to_string(),
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// An `entryPoint` or `command` as the task definition has it.
enum Argv {
    /// Not set: absent (`None`), `null` or `[]`.
    Unset(Option<Value>),
    Set(Vec<Value>),
}

fn argv(
    container: &Map<String, Value>,
    key: &str,
    style: Style,
    path: &str,
) -> Result<Argv, EmbedError> {
    match container.get(key) {
        None => Ok(Argv::Unset(None)),
        Some(Value::Null) => Ok(Argv::Unset(Some(Value::Null))),
        Some(Value::Array(items)) if items.is_empty() => {
            Ok(Argv::Unset(Some(Value::Array(vec![]))))
        }
        Some(Value::Array(items)) => {
            // CloudFormation elements may be intrinsic functions (`!Sub ...`).
            if style == Style::Camel && !items.iter().all(Value::is_string) {
                return Err(EmbedError::invalid(
                    join(path, key),
                    "expected an array of strings",
                ));
            }
            Ok(Argv::Set(items.clone()))
        }
        Some(_) => Err(EmbedError::invalid(
            join(path, key),
            "expected an array of strings",
        )),
    }
}

/// Whether an entryPoint already starts with the launcher.
pub fn is_wrapped(entry_point: Option<&Value>) -> bool {
    matches!(entry_point, Some(Value::Array(items)) if is_wrapped_items(items))
}

/// The launcher prefix taken off again; `true` when there was one.
pub fn unwrap(entry_point: Option<&mut Value>) -> bool {
    match entry_point {
        Some(Value::Array(items)) if is_wrapped_items(items) => {
            items.drain(..2);
            true
        }
        _ => false,
    }
}

fn is_wrapped_items(items: &[Value]) -> bool {
    items.first().and_then(Value::as_str) == Some(BIN_GUARD_EXEC)
        && items.get(1).and_then(Value::as_str) == Some(SEPARATOR)
}

fn prefix() -> Vec<Value> {
    vec![Value::from(BIN_GUARD_EXEC), Value::from(SEPARATOR)]
}

/// Puts the launcher in front of the container's program. `image` is the container's image
/// configuration when the user gave one.
pub fn wrap(
    container: &mut Map<String, Value>,
    style: Style,
    path: &str,
    name: &Value,
    image: Option<&ImageConfig>,
    tokens: &mut Vec<Token>,
) -> Result<(), EmbedError> {
    let ep_key = style.key("entryPoint");
    let cmd_key = style.key("command");
    if is_wrapped(container.get(&ep_key)) {
        return Ok(());
    }
    let entry_point = argv(container, &ep_key, style, path)?;
    let command = argv(container, &cmd_key, style, path)?;
    match entry_point {
        Argv::Set(items) => {
            let mut wrapped = prefix();
            wrapped.extend(items);
            container.insert(ep_key, Value::Array(wrapped));
        }
        Argv::Unset(original) => {
            let Some(image) = image else {
                let flag = name
                    .as_str()
                    .map(|n| format!("--image-config {}", shell_word(&format!("{n}=FILE"))))
                    .unwrap_or_else(|| "--image-config NAME=FILE".into());
                return Err(EmbedError::MissingEntryPoint {
                    path: join(path, &ep_key),
                    name: show(name),
                    flag,
                    command_hint: match command {
                        Argv::Set(_) => {
                            " (ECS runs the image's ENTRYPOINT with this command)".into()
                        }
                        Argv::Unset(_) => " (ECS runs the image's ENTRYPOINT and CMD)".into(),
                    },
                });
            };
            let mut wrapped = prefix();
            wrapped.extend(image.entrypoint.iter().cloned().map(Value::from));
            tokens.push(Token::Was(ep_key.clone(), original.clone()));
            if original.is_some() {
                container.insert(ep_key.clone(), Value::Array(wrapped));
            } else {
                let at = position(container, &cmd_key).unwrap_or(container.len());
                container.shift_insert(at, ep_key.clone(), Value::Array(wrapped));
            }
            if let Argv::Unset(cmd_original) = command
                && !image.cmd.is_empty()
            {
                let cmd = Value::Array(image.cmd.iter().cloned().map(Value::from).collect());
                tokens.push(Token::Was(cmd_key.clone(), cmd_original.clone()));
                if cmd_original.is_some() {
                    container.insert(cmd_key, cmd);
                } else {
                    let at = position(container, &ep_key).map_or(container.len(), |i| i + 1);
                    container.shift_insert(at, cmd_key, cmd);
                }
            }
        }
    }
    Ok(())
}

/// `NAME=FILE` as one shell word, for the hint.
fn shell_word(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
    {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\'', r"'\''"))
    }
}

fn position(map: &Map<String, Value>, key: &str) -> Option<usize> {
    map.keys().position(|k| k == key)
}
