//! The containers of one task definition: which is the sidecar, which are app containers to
//! protect, which are left alone, and the checks every definition must pass first.

use guard_contract::{BIN_DNS_GUARD, VOLUME};
use serde_json::{Map, Value};

use crate::error::EmbedError;
use crate::form::Task;
use crate::keys::{Style, join, show};

/// Which containers to protect (`--include`, `--exclude`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// When not empty, only these containers are protected (FireLens routers included).
    pub include: Vec<String>,
    /// Never protected.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A TaskGuard sidecar (its entryPoint runs dns-guard).
    Sidecar,
    /// A container to protect.
    App,
    /// A FireLens log router, skipped unless `--include` names it.
    Router,
    /// Named by `--exclude`.
    Excluded,
    /// Not named by a non-empty `--include`.
    NotIncluded,
}

#[derive(Debug, Clone)]
pub struct Container {
    pub index: usize,
    pub name: Value,
    pub path: String,
    pub role: Role,
}

impl Container {
    /// The name when it is a plain string (not a CloudFormation intrinsic).
    pub fn name_str(&self) -> Option<&str> {
        self.name.as_str()
    }
}

/// The task's container array, checked to be an array of objects.
pub fn definitions<'a>(task: &'a mut Task<'_>) -> Result<&'a mut Vec<Value>, EmbedError> {
    let key = task.key("containerDefinitions");
    let path = if task.containers_path.is_empty() {
        "top level".to_string()
    } else {
        task.containers_path.clone()
    };
    match task.map.get_mut(&key) {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_object() {
                    return Err(EmbedError::invalid(
                        format!("{}[{i}]", task.containers_path),
                        "expected a container definition (an object)",
                    ));
                }
            }
            Ok(items)
        }
        _ => Err(EmbedError::invalid(
            path,
            "expected an array of container definitions",
        )),
    }
}

/// Whether this container definition is a TaskGuard sidecar.
pub fn is_sidecar(container: &Map<String, Value>, style: Style) -> bool {
    style
        .get(container, "entryPoint")
        .and_then(|e| e.get(0))
        .and_then(Value::as_str)
        == Some(BIN_DNS_GUARD)
}

/// Names and roles of the task's containers. Fails on a missing or duplicate name and on a
/// Windows task.
pub fn survey(task: &mut Task<'_>, selection: &Selection) -> Result<Vec<Container>, EmbedError> {
    check_linux(task)?;
    let style = task.style;
    let containers_path = task.containers_path.clone();
    let name_key = style.key("name");
    let firelens_key = style.key("firelensConfiguration");
    let items = definitions(task)?;
    let mut out: Vec<Container> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Some(map) = item.as_object() else {
            continue;
        };
        let path = format!("{containers_path}[{index}]");
        let name = match map.get(&name_key) {
            Some(Value::String(s)) if !s.is_empty() => Value::String(s.clone()),
            Some(other) if style == Style::Pascal && other.is_object() => other.clone(),
            _ => {
                return Err(EmbedError::invalid(
                    join(&path, &name_key),
                    "expected the container's name (a non-empty string; register-task-definition requires it)",
                ));
            }
        };
        if let Some(first) = out.iter().find(|c| c.name == name) {
            return Err(EmbedError::DuplicateName {
                path: join(&path, &name_key),
                name: show(&name),
                first: first.path.clone(),
            });
        }
        let named = |list: &[String]| name.as_str().is_some_and(|n| list.iter().any(|l| l == n));
        let role = if is_sidecar(map, style) {
            Role::Sidecar
        } else if named(&selection.exclude) {
            Role::Excluded
        } else if !selection.include.is_empty() {
            if named(&selection.include) {
                Role::App
            } else {
                Role::NotIncluded
            }
        } else if map.get(&firelens_key).is_some_and(|v| !v.is_null()) {
            Role::Router
        } else {
            Role::App
        };
        out.push(Container {
            index,
            name,
            path,
            role,
        });
    }
    Ok(out)
}

fn check_linux(task: &Task<'_>) -> Result<(), EmbedError> {
    let Some(Value::Object(platform)) = task.get("runtimePlatform") else {
        return Ok(());
    };
    let family_key = task.key("operatingSystemFamily");
    if let Some(Value::String(family)) = platform.get(&family_key)
        && !family.eq_ignore_ascii_case("LINUX")
    {
        return Err(EmbedError::Windows {
            path: join(&task.task_path("runtimePlatform"), &family_key),
            family: family.clone(),
        });
    }
    Ok(())
}

/// Fails when an app container mounts something of its own where the sidecar's volume goes.
pub fn check_mount_points(
    container: &Map<String, Value>,
    style: Style,
    path: &str,
) -> Result<(), EmbedError> {
    let key = style.key("mountPoints");
    let Some(Value::Array(mounts)) = container.get(&key) else {
        return Ok(());
    };
    let target_key = style.key("containerPath");
    for (i, mount) in mounts.iter().enumerate() {
        let Some(target) = mount.get(&target_key).and_then(Value::as_str) else {
            continue;
        };
        let inside = target
            .strip_prefix(VOLUME)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if inside {
            return Err(EmbedError::invalid(
                format!("{}[{i}].{target_key}", join(path, &key)),
                format!(
                    "a path outside {VOLUME}, found {target} ({VOLUME} is where the TaskGuard sidecar's volume is mounted)"
                ),
            ));
        }
    }
    Ok(())
}
