//! `embed`: the sidecar added once, every app container wrapped, nothing else changed.

use guard_contract::{FAIL_CLOSED, FAIL_OPEN, SIDECAR_NAME};
use serde_json::Value;

use crate::container::{self, Container, Role, Selection};
use crate::entrypoint::{self, ImageConfig};
use crate::error::EmbedError;
use crate::form::{Document, Task};
use crate::keys::join;
use crate::record::{self, Token};
use crate::sidecar::{self, PolicySource};
use crate::{Output, capabilities, environment, fill, links, resources};

/// ECS's fixed limit of containers per task definition.
const MAX_CONTAINERS: usize = 10;

/// `GUARD_FAIL` for the app containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    Open,
    Closed,
}

impl FailMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailMode::Open => FAIL_OPEN,
            FailMode::Closed => FAIL_CLOSED,
        }
    }
}

/// What `embed` does, from the command line flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub sidecar_image: String,
    pub sidecar_name: String,
    pub policy: PolicySource,
    pub selection: Selection,
    /// Image configurations of containers without entryPoint, by container name.
    pub image_configs: Vec<(String, ImageConfig)>,
    /// Add SYS_PTRACE to the app containers.
    pub ptrace: bool,
    /// Set GUARD_FAIL in the app containers.
    pub fail: Option<FailMode>,
    /// Set GUARD_RESOLVER=127.0.0.1 in the app containers, so guard-exec points their
    /// resolv.conf at the sidecar.
    pub resolver: bool,
    /// Keep guard-exec's seccomp supervisor on (false sets GUARD_SUPERVISE=off).
    pub supervise: bool,
}

impl Options {
    pub fn new(sidecar_image: impl Into<String>) -> Options {
        Options {
            sidecar_image: sidecar_image.into(),
            sidecar_name: SIDECAR_NAME.to_string(),
            policy: PolicySource::default(),
            selection: Selection::default(),
            image_configs: Vec::new(),
            ptrace: false,
            fail: None,
            resolver: true,
            supervise: true,
        }
    }

    fn image_config(&self, name: Option<&str>) -> Option<&ImageConfig> {
        let name = name?;
        self.image_configs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, config)| config)
    }
}

/// Embeds the guard into every task definition of the document.
pub fn embed(text: &str, options: &Options) -> Result<Output, EmbedError> {
    let mut document = Document::parse(text)?;
    let mut warnings = dropped_warning(&document);
    let mut names = Vec::new();
    for mut task in document.tasks()? {
        embed_task(&mut task, options, &mut names, &mut warnings)?;
    }
    let flags = [
        ("--include", &options.selection.include),
        ("--exclude", &options.selection.exclude),
    ];
    for (flag, list) in flags {
        unknown(flag, list.iter(), &names)?;
    }
    unknown(
        "--image-config",
        options.image_configs.iter().map(|(n, _)| n),
        &names,
    )?;
    Ok(Output {
        text: document.render(),
        warnings,
    })
}

pub(crate) fn dropped_warning(document: &Document) -> Vec<String> {
    if document.dropped.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "dropped fields register-task-definition does not accept: {}",
        document.dropped.join(", ")
    )]
}

fn unknown<'a>(
    flag: &'static str,
    mut given: impl Iterator<Item = &'a String>,
    names: &[String],
) -> Result<(), EmbedError> {
    match given.find(|n| !names.contains(n)) {
        Some(name) => Err(EmbedError::UnknownContainer {
            flag,
            name: name.clone(),
        }),
        None => Ok(()),
    }
}

fn embed_task(
    task: &mut Task<'_>,
    options: &Options,
    names: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<(), EmbedError> {
    let style = task.style;
    let sidecar_name = options.sidecar_name.as_str();
    let containers = container::survey(task, &options.selection)?;
    names.extend(
        containers
            .iter()
            .filter_map(|c| c.name_str().map(str::to_string)),
    );

    let mut sidecar_index = None;
    for c in &containers {
        let named_like_sidecar = c.name_str() == Some(sidecar_name);
        match (c.role, named_like_sidecar) {
            (Role::Sidecar, true) => sidecar_index = Some(c.index),
            (Role::Sidecar, false) => {
                return Err(EmbedError::OtherSidecar {
                    path: join(&c.path, &style.key("name")),
                    found: crate::keys::show(&c.name),
                });
            }
            (_, true) => {
                return Err(EmbedError::SidecarNameTaken {
                    path: join(&c.path, &style.key("name")),
                    name: crate::keys::show(&c.name),
                });
            }
            _ => {}
        }
    }
    let apps: Vec<&Container> = containers.iter().filter(|c| c.role == Role::App).collect();
    if apps.is_empty() {
        warnings.push(format!(
            "{}: no container to protect (FireLens routers and --exclude'd containers are skipped); left unchanged",
            if task.containers_path.is_empty() { "top level" } else { &task.containers_path }
        ));
        return Ok(());
    }
    let task_memory = task.has_task_level && task.get("memory").is_some_and(|m| !m.is_null());
    let containers_path = task.containers_path.clone();
    let definitions = container::definitions(task)?;
    if sidecar_index.is_none() && definitions.len() >= MAX_CONTAINERS {
        return Err(EmbedError::invalid(
            if containers_path.is_empty() {
                "top level".to_string()
            } else {
                containers_path
            },
            format!(
                "at most {} containers so the sidecar fits (ECS allows {MAX_CONTAINERS} per task definition), found {}",
                MAX_CONTAINERS - 1,
                definitions.len()
            ),
        ));
    }
    for app in &apps {
        if let Some(Value::Object(map)) = definitions.get(app.index) {
            container::check_mount_points(map, style, &app.path)?;
        }
    }
    let log = sidecar::log_configuration(definitions, &containers, style, sidecar_name);

    for app in apps {
        let Some(Value::Object(map)) = definitions.get_mut(app.index) else {
            continue;
        };
        let mut tokens = Vec::new();
        let image = options.image_config(app.name_str());
        let fresh = !entrypoint::is_wrapped(map.get(&style.key("entryPoint")));
        entrypoint::wrap(map, style, &app.path, &app.name, image, &mut tokens)?;
        environment::add(
            map,
            style,
            &app.path,
            &app.name,
            options.fail.map(FailMode::as_str),
            options.resolver,
            options.supervise,
            fresh,
            &mut tokens,
            warnings,
        )?;
        links::add(map, style, &app.path, sidecar_name, &mut tokens)?;
        if options.ptrace {
            capabilities::add(map, style, &app.path, &mut tokens)?;
        }
        write_record(map, style, &app.path, tokens)?;
    }

    match sidecar_index.and_then(|i| definitions.get_mut(i)) {
        Some(Value::Object(existing)) => {
            sidecar::upgrade(existing, style, &options.sidecar_image, &options.policy);
        }
        _ => {
            sidecar_index = Some(definitions.len());
            definitions.push(sidecar::build(
                style,
                sidecar_name,
                &options.sidecar_image,
                &options.policy,
                log,
                !task_memory,
            ));
        }
    }
    warnings.extend(resources::warnings(task, sidecar_index));
    Ok(())
}

fn write_record(
    map: &mut serde_json::Map<String, Value>,
    style: crate::keys::Style,
    path: &str,
    mut tokens: Vec<Token>,
) -> Result<(), EmbedError> {
    if tokens.is_empty() {
        return Ok(());
    }
    let labels_key = style.key("dockerLabels");
    let mut more = Vec::new();
    let labels = fill::object(map, &labels_key, &labels_key, path, &mut more)?;
    tokens.extend(more);
    let text = record::merge(labels.get(record::LABEL).and_then(Value::as_str), &tokens);
    labels.insert(record::LABEL.to_string(), Value::from(text));
    Ok(())
}
