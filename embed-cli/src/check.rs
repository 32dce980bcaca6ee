//! `check`: which containers are protected, for a CI gate.

use guard_contract::env;
use serde_json::Value;

use crate::container::{self, Role, Selection};
use crate::entrypoint;
use crate::error::EmbedError;
use crate::form::Document;
use crate::keys::Style;
use crate::links;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Protected,
    Sidecar,
    /// Left alone on purpose (FireLens router, --exclude, not in --include).
    Skipped(&'static str),
    /// An app container missing these parts of the guard.
    Unprotected(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub task: String,
    pub container: String,
    pub status: Status,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    /// True when no app container is unprotected.
    pub fn all_protected(&self) -> bool {
        !self
            .rows
            .iter()
            .any(|r| matches!(r.status, Status::Unprotected(_)))
    }

    /// One line per container: task, container, status.
    pub fn render(&self) -> String {
        let task_width = self.rows.iter().map(|r| r.task.len()).max().unwrap_or(0);
        let name_width = self
            .rows
            .iter()
            .map(|r| r.container.len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for row in &self.rows {
            let status = match &row.status {
                Status::Protected => "protected".to_string(),
                Status::Sidecar => "sidecar".to_string(),
                Status::Skipped(why) => format!("skipped ({why})"),
                Status::Unprotected(missing) => format!("NOT PROTECTED: {}", missing.join("; ")),
            };
            out.push_str(&format!(
                "{:task_width$}  {:name_width$}  {status}\n",
                row.task, row.container
            ));
        }
        out
    }
}

/// Lists each container of each task definition and whether it is protected.
pub fn check(text: &str, selection: &Selection) -> Result<Report, EmbedError> {
    let mut document = Document::parse(text)?;
    let mut report = Report::default();
    for mut task in document.tasks()? {
        let style = task.style;
        let label = task.label.clone();
        let containers = container::survey(&mut task, selection)?;
        let definitions = container::definitions(&mut task)?;
        let sidecar = containers
            .iter()
            .find(|c| c.role == Role::Sidecar)
            .map(|c| c.name.clone());
        for c in &containers {
            let status = match c.role {
                Role::Sidecar => Status::Sidecar,
                Role::Router => Status::Skipped("FireLens log router"),
                Role::Excluded => Status::Skipped("--exclude"),
                Role::NotIncluded => Status::Skipped("not in --include"),
                Role::App => {
                    let map = definitions.get(c.index).and_then(Value::as_object);
                    match (map, &sidecar) {
                        (_, None) => {
                            Status::Unprotected(vec!["the task has no TaskGuard sidecar".into()])
                        }
                        (None, _) => Status::Unprotected(vec!["not an object".into()]),
                        (Some(map), Some(sidecar)) => {
                            let missing = missing(map, style, sidecar);
                            if missing.is_empty() {
                                Status::Protected
                            } else {
                                Status::Unprotected(missing)
                            }
                        }
                    }
                }
            };
            report.rows.push(Row {
                task: label.clone(),
                container: match &c.name {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                status,
            });
        }
    }
    Ok(report)
}

fn missing(map: &serde_json::Map<String, Value>, style: Style, sidecar: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let sidecar_name = sidecar.as_str().unwrap_or_default();
    if !entrypoint::is_wrapped(map.get(&style.key("entryPoint"))) {
        out.push("entryPoint does not start with guard-exec".to_string());
    }
    let (volume, dependency) = links::present(map, style, sidecar_name);
    if !volume {
        out.push(format!("no volumesFrom {sidecar_name}"));
    }
    if !dependency {
        out.push(format!("no dependsOn {sidecar_name}"));
    }
    let name_key = style.key("name");
    let vars: Vec<&str> = map
        .get(&style.key("environment"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get(&name_key).and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    for var in [env::CONTAINER, env::POLICY, env::EVENTS] {
        if !vars.contains(&var) {
            out.push(format!("no {var}"));
        }
    }
    out
}
