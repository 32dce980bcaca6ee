//! The sidecar container: dns-guard serving DNS and publishing the policy on the shared
//! volume, with a health check the app containers wait for.

use guard_contract::{BIN_DNS_GUARD, RUN_DIR, VOLUME};
use serde_json::{Map, Value};

use crate::container::{Container, Role};
use crate::keys::Style;

/// Soft memory limit given to the sidecar when the task has no task-level memory (EC2): ECS
/// then requires one on every container. dns-guard's resident set stays well below it.
pub const MEMORY_RESERVATION_MIB: u64 = 32;

/// Health check timing: dns-guard answers `health` within milliseconds once it serves, so
/// the app containers start a few seconds after the sidecar.
const HEALTH_INTERVAL: u64 = 5;
const HEALTH_TIMEOUT: u64 = 2;
const HEALTH_RETRIES: u64 = 3;
const HEALTH_START_PERIOD: u64 = 10;

/// Where dns-guard reads the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// An `http(s)://` URL dns-guard polls (ETag/If-None-Match).
    Url(String),
    /// A file inside the sidecar image.
    File(String),
}

impl PolicySource {
    /// The default: a policy file baked into the sidecar image next to its volume.
    pub fn default_file() -> PolicySource {
        PolicySource::File(format!("{VOLUME}/policy.toml"))
    }

    pub fn as_arg(&self) -> &str {
        match self {
            PolicySource::Url(url) | PolicySource::File(url) => url,
        }
    }
}

impl Default for PolicySource {
    fn default() -> Self {
        PolicySource::default_file()
    }
}

/// The sidecar's entryPoint.
pub fn entry_point(policy: &PolicySource) -> Value {
    Value::Array(
        [
            BIN_DNS_GUARD,
            "serve",
            "--run-dir",
            RUN_DIR,
            "--policy",
            policy.as_arg(),
        ]
        .into_iter()
        .map(Value::from)
        .collect(),
    )
}

/// A new sidecar container definition.
pub fn build(
    style: Style,
    name: &str,
    image: &str,
    policy: &PolicySource,
    log: Option<Value>,
    memory_reservation: bool,
) -> Value {
    let health = style.object([
        (
            "command",
            Value::Array(
                ["CMD", BIN_DNS_GUARD, "health"]
                    .into_iter()
                    .map(Value::from)
                    .collect(),
            ),
        ),
        ("interval", HEALTH_INTERVAL.into()),
        ("timeout", HEALTH_TIMEOUT.into()),
        ("retries", HEALTH_RETRIES.into()),
        ("startPeriod", HEALTH_START_PERIOD.into()),
    ]);
    let mut map = Map::new();
    map.insert(style.key("name"), Value::from(name));
    map.insert(style.key("image"), Value::from(image));
    map.insert(style.key("essential"), Value::Bool(true));
    map.insert(style.key("entryPoint"), entry_point(policy));
    map.insert(style.key("healthCheck"), health);
    if let Some(log) = log {
        map.insert(style.key("logConfiguration"), log);
    }
    if memory_reservation {
        map.insert(
            style.key("memoryReservation"),
            MEMORY_RESERVATION_MIB.into(),
        );
    }
    Value::Object(map)
}

/// An existing sidecar brought up to date: image and policy source from the flags, everything
/// else (edits the user made) kept.
pub fn upgrade(
    container: &mut Map<String, Value>,
    style: Style,
    image: &str,
    policy: &PolicySource,
) {
    container.insert(style.key("image"), Value::from(image));
    container.insert(style.key("entryPoint"), entry_point(policy));
}

/// The sidecar's logConfiguration: the first app container's, with the sidecar's own awslogs
/// stream prefix. An `awsfirelens` configuration is not used when a FireLens router is itself
/// protected (the router would wait for the sidecar and the sidecar for the router).
pub fn log_configuration(
    definitions: &[Value],
    containers: &[Container],
    style: Style,
    sidecar_name: &str,
) -> Option<Value> {
    let log_key = style.key("logConfiguration");
    let driver_key = style.key("logDriver");
    let options_key = style.key("options");
    let firelens_key = style.key("firelensConfiguration");
    let router_protected = containers.iter().any(|c| {
        c.role == Role::App
            && definitions
                .get(c.index)
                .and_then(|d| d.get(&firelens_key))
                .is_some_and(|f| !f.is_null())
    });
    containers
        .iter()
        .filter(|c| c.role == Role::App)
        .filter_map(|c| definitions.get(c.index)?.get(&log_key))
        .filter(|log| log.is_object())
        .find(|log| {
            !(router_protected
                && log.get(&driver_key).and_then(Value::as_str) == Some("awsfirelens"))
        })
        .map(|log| {
            let mut log = log.clone();
            if log.get(&driver_key).and_then(Value::as_str) == Some("awslogs")
                && let Some(map) = log.as_object_mut()
            {
                let options = map
                    .entry(options_key)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(options) = options.as_object_mut() {
                    options.insert(
                        "awslogs-stream-prefix".to_string(),
                        Value::from(sidecar_name),
                    );
                }
            }
            log
        })
}
