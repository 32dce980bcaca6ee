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

/// The ECS endpoints an app container needs, as `[net]` rules: the task's credentials
/// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`) and task metadata (`ECS_CONTAINER_METADATA_URI_V4`)
/// are both served on 169.254.170.2 port 80. (The EC2 instance metadata service,
/// 169.254.169.254, is not reachable from Fargate; on EC2 keeping it denied is the point.)
pub const ECS_ENDPOINTS: &[(&str, &str)] = &[(
    "169.254.170.2:80",
    "the ECS task credentials and task metadata endpoint",
)];

/// Warnings for a policy whose `[net]` section would refuse connections to an ECS endpoint
/// a task needs (each with the rule that refuses it and the line to add).
pub fn net_warnings(policy: &guard_policy::Policy, origin: &str) -> Vec<String> {
    let compiled = policy.compile();
    let view = compiled.view();
    let mut out = Vec::new();
    for (endpoint, what) in ECS_ENDPOINTS {
        let Ok(addr) = endpoint.parse::<std::net::SocketAddr>() else {
            continue;
        };
        let d = view.decide_net(
            &guard_policy::Destination::new(addr.ip(), addr.port()),
            false,
        );
        if d.verdict == guard_policy::Verdict::Deny {
            out.push(format!(
                "{origin}: [net] refuses {endpoint}, {what} (rule {}); add \"{endpoint}\" to net.allow",
                d.rule
            ));
        }
    }
    out
}

#[cfg(test)]
mod net_tests {
    use super::*;

    #[test]
    fn a_deny_default_without_the_endpoint_is_warned_about() {
        let p = |t: &str| guard_policy::Policy::from_toml(t, "p.toml").unwrap();
        let w = net_warnings(&p("[net]\ndefault = \"deny\"\n"), "p.toml");
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("169.254.170.2:80") && w[0].contains("net.default"),
            "{w:?}"
        );
        let ok = "[net]\ndefault = \"deny\"\nallow = [\"169.254.170.2:80\"]\n";
        assert!(net_warnings(&p(ok), "p.toml").is_empty());
        assert!(net_warnings(&p("[net]\ndefault = \"allow\"\n"), "p.toml").is_empty());
        assert!(net_warnings(&p(""), "p.toml").is_empty());
        let denied = "[net]\ndefault = \"allow\"\ndeny = [\"169.254.0.0/16\"]\n";
        assert!(net_warnings(&p(denied), "p.toml")[0].contains("net.deny:169.254.0.0/16"));
    }
}
