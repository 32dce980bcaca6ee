//! The four forms a task definition comes in, detected from the document, and the way back
//! out: register input, describe-task-definition output (turned into register input), a bare
//! `containerDefinitions` array (Terraform), CloudFormation templates (JSON or YAML).

use serde_json::{Map, Value};

use crate::error::EmbedError;
use crate::keys::{Style, join};
use crate::yaml;

/// Fields describe-task-definition returns that register-task-definition refuses.
pub const READ_ONLY_FIELDS: [&str; 8] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

const CFN_TASK_TYPE: &str = "AWS::ECS::TaskDefinition";
const CONTAINERS: &str = "containerDefinitions";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `aws ecs register-task-definition --cli-input-json` input.
    Register,
    /// `aws ecs describe-task-definition` output; written back as register input.
    Describe,
    /// A bare array of container definitions (Terraform `container_definitions`).
    Containers,
    /// A CloudFormation template with `AWS::ECS::TaskDefinition` resources.
    CloudFormation,
}

/// A parsed input. A bare container array is held as `{"containerDefinitions": [...]}` so
/// every form has task definitions to walk; `render` unwraps it again.
#[derive(Debug, Clone)]
pub struct Document {
    pub format: Format,
    pub form: Form,
    root: Value,
    /// Read-only fields dropped while turning the input into register input.
    pub dropped: Vec<String>,
}

/// One task definition inside a document.
pub struct Task<'a> {
    /// The task definition object (register input, or a resource's `Properties`).
    pub map: &'a mut Map<String, Value>,
    /// Path of the container array inside the document (empty for a bare array).
    pub containers_path: String,
    /// Path of the task definition object (for task-level fields).
    pub path: String,
    pub style: Style,
    /// What to call the task in messages and `check` output.
    pub label: String,
    /// False for a bare container array: the task-level fields are somewhere else.
    pub has_task_level: bool,
}

impl Task<'_> {
    pub fn key(&self, camel: &str) -> String {
        self.style.key(camel)
    }

    pub fn get(&self, camel: &str) -> Option<&Value> {
        self.style.get(self.map, camel)
    }

    pub fn task_path(&self, camel: &str) -> String {
        join(&self.path, &self.key(camel))
    }

    pub fn container_path(&self, index: usize) -> String {
        format!("{}[{index}]", self.containers_path)
    }
}

impl Document {
    /// Parses JSON, or YAML when the text is not JSON, and finds the form.
    pub fn parse(text: &str) -> Result<Document, EmbedError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let (format, root) = match serde_json::from_str::<Value>(text) {
            Ok(root) => (Format::Json, root),
            Err(json_error) => {
                let looks_like_json = text.trim_start().starts_with(['{', '[']);
                match yaml::parse(text) {
                    Ok(root) if !looks_like_json || is_template(&root) => (Format::Yaml, root),
                    Ok(_) => return Err(json_syntax(text, &json_error)),
                    Err(yaml_error) if looks_like_json => {
                        let _ = yaml_error;
                        return Err(json_syntax(text, &json_error));
                    }
                    Err(yaml_error) => return Err(yaml_error),
                }
            }
        };
        Self::from_tree(format, root)
    }

    fn from_tree(format: Format, root: Value) -> Result<Document, EmbedError> {
        let mut dropped = Vec::new();
        let (form, root) = match root {
            Value::Array(items) => {
                let mut map = Map::new();
                map.insert(CONTAINERS.to_string(), Value::Array(items));
                (Form::Containers, Value::Object(map))
            }
            Value::Object(mut map) => {
                if let Some(inner) = map.shift_remove("taskDefinition") {
                    let Value::Object(mut task) = inner else {
                        return Err(EmbedError::invalid(
                            "taskDefinition",
                            "expected an object (the task definition of describe-task-definition output)",
                        ));
                    };
                    drop_read_only(&mut task, &mut dropped);
                    if let Some(tags) = map.shift_remove("tags") {
                        task.insert("tags".to_string(), tags);
                    }
                    dropped.extend(map.keys().cloned());
                    (Form::Describe, Value::Object(task))
                } else if map.contains_key(CONTAINERS) {
                    drop_read_only(&mut map, &mut dropped);
                    (Form::Register, Value::Object(map))
                } else if map.get("Resources").is_some_and(Value::is_object) {
                    (Form::CloudFormation, Value::Object(map))
                } else {
                    return Err(unknown_shape());
                }
            }
            _ => return Err(unknown_shape()),
        };
        Ok(Document {
            format,
            form,
            root,
            dropped,
        })
    }

    /// The document as text in its input format: JSON with two-space indentation, or block
    /// YAML; a trailing newline either way.
    pub fn render(&self) -> String {
        let root = match (&self.form, &self.root) {
            (Form::Containers, Value::Object(map)) => map.get(CONTAINERS).unwrap_or(&Value::Null),
            (_, root) => root,
        };
        match self.format {
            Format::Json => {
                let mut text = serde_json::to_string_pretty(root).unwrap_or_default();
                text.push('\n');
                text
            }
            Format::Yaml => yaml::emit(root),
        }
    }

    /// Every task definition of the document, in document order.
    pub fn tasks(&mut self) -> Result<Vec<Task<'_>>, EmbedError> {
        let form = self.form;
        let Value::Object(root) = &mut self.root else {
            return Err(unknown_shape());
        };
        match form {
            Form::Register | Form::Describe => {
                let label = match root.get("family") {
                    Some(Value::String(family)) => family.clone(),
                    _ => "task definition".to_string(),
                };
                Ok(vec![Task {
                    map: root,
                    containers_path: CONTAINERS.to_string(),
                    path: String::new(),
                    style: Style::Camel,
                    label,
                    has_task_level: true,
                }])
            }
            Form::Containers => Ok(vec![Task {
                map: root,
                containers_path: String::new(),
                path: String::new(),
                style: Style::Camel,
                label: "containerDefinitions".to_string(),
                has_task_level: false,
            }]),
            Form::CloudFormation => {
                let mut tasks = Vec::new();
                if let Some(Value::Object(resources)) = root.get_mut("Resources") {
                    for (id, resource) in resources.iter_mut() {
                        let Value::Object(resource) = resource else {
                            continue;
                        };
                        if resource.get("Type").and_then(Value::as_str) != Some(CFN_TASK_TYPE) {
                            continue;
                        }
                        let path = format!("Resources.{id}.Properties");
                        let Some(Value::Object(properties)) = resource.get_mut("Properties") else {
                            return Err(EmbedError::invalid(
                                path,
                                "expected an object with ContainerDefinitions",
                            ));
                        };
                        tasks.push(Task {
                            map: properties,
                            containers_path: format!("{path}.ContainerDefinitions"),
                            path,
                            style: Style::Pascal,
                            label: id.clone(),
                            has_task_level: true,
                        });
                    }
                }
                if tasks.is_empty() {
                    return Err(EmbedError::invalid(
                        "Resources",
                        format!("expected at least one resource of Type {CFN_TASK_TYPE}"),
                    ));
                }
                Ok(tasks)
            }
        }
    }
}

fn is_template(root: &Value) -> bool {
    root.get("Resources").is_some_and(Value::is_object)
}

fn drop_read_only(task: &mut Map<String, Value>, dropped: &mut Vec<String>) {
    for field in READ_ONLY_FIELDS {
        if task.shift_remove(field).is_some() {
            dropped.push(field.to_string());
        }
    }
}

fn unknown_shape() -> EmbedError {
    EmbedError::invalid(
        "top level",
        "expected register-task-definition input (an object with containerDefinitions), describe-task-definition output (an object with taskDefinition), a containerDefinitions array, or a CloudFormation template (an object with Resources)",
    )
}

fn json_syntax(text: &str, error: &serde_json::Error) -> EmbedError {
    let mut message = error.to_string();
    // serde_json appends " at line L column C"; the location is reported separately.
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    let line_text = text
        .lines()
        .nth(error.line().saturating_sub(1))
        .unwrap_or("");
    if line_text.contains("${") && !message.is_empty() {
        message.push_str(
            " (a Terraform template must keep ${...} inside JSON strings, or be rendered first)",
        );
    }
    EmbedError::Syntax {
        format: "JSON",
        line: error.line(),
        column: error.column(),
        message,
    }
}
