//! Property tests of guard-embed on generated task definitions, in every input form: for any
//! set of containers (with or without entryPoint, command, environment, LD_PRELOAD,
//! volumesFrom, dependsOn, dockerLabels, linuxParameters, FireLens routers, image configs):
//!
//! - embedding fails exactly when an app container has no entryPoint and no image config;
//! - otherwise `embed(embed(x)) == embed(x)` and `remove(embed(x)) == x` (canonical form);
//! - the output is accepted by register-task-definition whenever the input was;
//! - `check` reports every app container protected;
//! - each app container runs `guard-exec --` followed by exactly what it ran before (Docker's
//!   entrypoint/command rules, image CMD included).

mod embed_support;

use embed_support::{canonical, register_problems, task_definitions, tree};
use guard_embed::{EmbedError, FailMode, ImageConfig, Options, Selection};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
enum Slot<T> {
    Absent,
    Null,
    Empty,
    Some(T),
}

fn slot<T: std::fmt::Debug + Clone + 'static>(
    inner: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Slot<T>> {
    prop_oneof![
        3 => Just(Slot::Absent),
        1 => Just(Slot::Null),
        1 => Just(Slot::Empty),
        3 => inner.prop_map(Slot::Some),
    ]
}

#[derive(Debug, Clone)]
struct ContainerSpec {
    entry: Slot<Vec<String>>,
    command: Slot<Vec<String>>,
    env: Slot<Vec<(String, String)>>,
    ld_preload: Option<String>,
    own_guard_var: Option<String>,
    volumes_from: Slot<Vec<usize>>,
    depends_on: Slot<Vec<usize>>,
    labels: Slot<Vec<(String, String)>>,
    linux: u8,
    firelens: bool,
    essential: Option<bool>,
    log: bool,
    memory: Option<u32>,
    image: Option<(Vec<String>, Vec<String>)>,
}

#[derive(Debug, Clone)]
struct TaskSpec {
    containers: Vec<ContainerSpec>,
    form: u8,
    fargate: bool,
    task_memory: Option<&'static str>,
    ptrace: bool,
    fail: Option<bool>,
    /// Containers (by index) passed to --exclude.
    exclude: Vec<usize>,
    sidecar_name: Option<&'static str>,
}

/// Strings that trip up naive rewriters and YAML writers.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/bin/sh".to_string()),
        Just("-c".to_string()),
        Just("echo hi && sleep 1".to_string()),
        Just("--".to_string()),
        Just("yes".to_string()),
        Just("on".to_string()),
        Just(String::new()),
        Just("${image_url}".to_string()),
        Just("a: b".to_string()),
        Just("#x".to_string()),
        Just("1.5".to_string()),
        Just("2010-09-09".to_string()),
        Just("null".to_string()),
        Just("multi\nline".to_string()),
        Just(" lead".to_string()),
        Just("é ü".to_string()),
        "[a-z/._-]{1,12}",
    ]
}

fn argv() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(word(), 1..4)
}

fn container() -> impl Strategy<Value = ContainerSpec> {
    (
        (
            slot(argv()),
            slot(argv()),
            slot(prop::collection::vec(("[A-Z_]{1,8}", word()), 1..3)),
        ),
        (
            prop::option::weighted(
                0.2,
                prop_oneof![
                    Just("/usr/lib/libjemalloc.so".to_string()),
                    Just("/a.so /b.so".to_string())
                ],
            ),
            prop::option::weighted(
                0.15,
                prop_oneof![
                    Just("GUARD_FAIL".to_string()),
                    Just("GUARD_POLICY".to_string()),
                    Just("GUARD_RESOLVER".to_string())
                ],
            ),
        ),
        (
            slot(prop::collection::vec(0usize..8, 1..3)),
            slot(prop::collection::vec(0usize..8, 1..3)),
        ),
        slot(prop::collection::vec(("[a-z.]{1,10}", word()), 1..3)),
        (
            0u8..6,
            prop::bool::weighted(0.15),
            prop::option::of(any::<bool>()),
            any::<bool>(),
        ),
        (
            prop::option::of(64u32..512),
            prop::option::weighted(
                0.7,
                (
                    prop::collection::vec(word(), 0..3),
                    prop::collection::vec(word(), 0..3),
                ),
            ),
        ),
    )
        .prop_map(
            |(
                (entry, command, env),
                (ld_preload, own_guard_var),
                (volumes_from, depends_on),
                labels,
                (linux, firelens, essential, log),
                (memory, image),
            )| {
                ContainerSpec {
                    entry,
                    command,
                    env,
                    ld_preload,
                    own_guard_var,
                    volumes_from,
                    depends_on,
                    labels,
                    linux,
                    firelens,
                    essential,
                    log,
                    memory,
                    image,
                }
            },
        )
}

fn task() -> impl Strategy<Value = TaskSpec> {
    (
        prop::collection::vec(container(), 1..5),
        0u8..5,
        any::<bool>(),
        prop_oneof![Just(None), Just(Some("2 gb")), Just(Some("512"))],
        any::<bool>(),
        prop::option::of(any::<bool>()),
        prop::collection::vec(0usize..5, 0..2),
        prop::option::weighted(0.2, prop_oneof![Just("guard"), Just("tg_2")]),
    )
        .prop_map(
            |(containers, form, fargate, task_memory, ptrace, fail, exclude, sidecar_name)| {
                let exclude = exclude
                    .into_iter()
                    .filter(|i| *i < containers.len())
                    .collect();
                TaskSpec {
                    containers,
                    form,
                    fargate,
                    task_memory,
                    ptrace,
                    fail,
                    exclude,
                    sidecar_name,
                }
            },
        )
}

struct Keys {
    pascal: bool,
}

impl Keys {
    fn k(&self, camel: &str) -> String {
        if self.pascal {
            let mut c = camel.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        } else {
            camel.to_string()
        }
    }

    fn slot<T>(
        &self,
        map: &mut Map<String, Value>,
        key: &str,
        slot: &Slot<T>,
        value: impl FnOnce(&T) -> Value,
    ) {
        let key = self.k(key);
        match slot {
            Slot::Absent => {}
            Slot::Null => {
                map.insert(key, Value::Null);
            }
            Slot::Empty => {
                let empty = if key.ends_with("abels") {
                    json!({})
                } else {
                    json!([])
                };
                map.insert(key, empty);
            }
            Slot::Some(v) => {
                map.insert(key, value(v));
            }
        }
    }
}

fn name(i: usize) -> String {
    format!("c{i}")
}

fn container_json(
    spec: &ContainerSpec,
    i: usize,
    keys: &Keys,
    intrinsic: &dyn Fn(&str) -> Value,
) -> Value {
    let k = |s: &str| keys.k(s);
    let mut map = Map::new();
    map.insert(k("name"), Value::from(name(i)));
    map.insert(
        k("image"),
        if keys.pascal {
            intrinsic("Image")
        } else {
            Value::from("repo/image:1")
        },
    );
    if let Some(e) = spec.essential {
        map.insert(k("essential"), Value::Bool(e));
    }
    keys.slot(&mut map, "entryPoint", &spec.entry, |v| json!(v));
    keys.slot(&mut map, "command", &spec.command, |v| json!(v));
    let mut env_slot = spec.env.clone();
    if spec.ld_preload.is_some() || spec.own_guard_var.is_some() {
        let mut entries = match env_slot {
            Slot::Some(v) => v,
            _ => Vec::new(),
        };
        if let Some(p) = &spec.ld_preload {
            entries.push(("LD_PRELOAD".into(), p.clone()));
        }
        if let Some(g) = &spec.own_guard_var {
            entries.push((g.clone(), "user-value".into()));
        }
        env_slot = Slot::Some(entries);
    }
    keys.slot(&mut map, "environment", &env_slot, |v| {
        Value::Array(
            v.iter()
                .map(|(n, val)| {
                    let mut e = Map::new();
                    e.insert(k("name"), Value::from(n.as_str()));
                    e.insert(k("value"), Value::from(val.as_str()));
                    Value::Object(e)
                })
                .collect(),
        )
    });
    // References only to earlier containers: no cycles, like a real task.
    let refs = |v: &Vec<usize>| -> Vec<String> {
        let mut out: Vec<String> = if i == 0 {
            vec![]
        } else {
            v.iter().map(|r| name(r % i)).collect()
        };
        out.dedup();
        out
    };
    let volumes = match &spec.volumes_from {
        Slot::Some(v) if refs(v).is_empty() => Slot::Empty,
        other => other.clone(),
    };
    keys.slot(&mut map, "volumesFrom", &volumes, |v| {
        Value::Array(
            refs(v)
                .into_iter()
                .map(|n| {
                    let mut e = Map::new();
                    e.insert(k("sourceContainer"), Value::from(n));
                    e.insert(k("readOnly"), Value::Bool(true));
                    Value::Object(e)
                })
                .collect(),
        )
    });
    let depends = match &spec.depends_on {
        Slot::Some(v) if refs(v).is_empty() => Slot::Empty,
        other => other.clone(),
    };
    keys.slot(&mut map, "dependsOn", &depends, |v| {
        Value::Array(
            refs(v)
                .into_iter()
                .map(|n| {
                    let mut e = Map::new();
                    e.insert(k("containerName"), Value::from(n));
                    e.insert(k("condition"), Value::from("START"));
                    Value::Object(e)
                })
                .collect(),
        )
    });
    keys.slot(&mut map, "dockerLabels", &spec.labels, |v| {
        Value::Object(
            v.iter()
                .map(|(a, b)| (a.clone(), Value::from(b.as_str())))
                .collect(),
        )
    });
    let linux = match spec.linux {
        1 => Some(json!({})),
        2 => Some(Value::Object(
            [(k("initProcessEnabled"), Value::Bool(true))]
                .into_iter()
                .collect(),
        )),
        3 => Some(caps(keys, json!([]))),
        4 => Some(caps(keys, json!(["SYS_PTRACE"]))),
        5 => Some(Value::Object(
            [(
                k("capabilities"),
                Value::Object([(k("drop"), json!(["NET_RAW"]))].into_iter().collect()),
            )]
            .into_iter()
            .collect(),
        )),
        _ => None,
    };
    if let Some(l) = linux {
        map.insert(k("linuxParameters"), l);
    }
    if spec.firelens {
        map.insert(
            k("firelensConfiguration"),
            Value::Object(
                [(k("type"), Value::from("fluentbit"))]
                    .into_iter()
                    .collect(),
            ),
        );
    }
    if spec.log {
        let mut options = Map::new();
        options.insert("awslogs-group".into(), Value::from("/ecs/generated"));
        options.insert("awslogs-region".into(), Value::from("eu-west-1"));
        let mut log = Map::new();
        log.insert(k("logDriver"), Value::from("awslogs"));
        log.insert(k("options"), Value::Object(options));
        map.insert(k("logConfiguration"), Value::Object(log));
    }
    if let Some(m) = spec.memory {
        map.insert(k("memoryReservation"), Value::from(m));
    }
    Value::Object(map)
}

fn caps(keys: &Keys, add: Value) -> Value {
    let capabilities: Map<String, Value> = [(keys.k("add"), add)].into_iter().collect();
    Value::Object(
        [(keys.k("capabilities"), Value::Object(capabilities))]
            .into_iter()
            .collect(),
    )
}

/// The generated input as text, and whether it is YAML.
fn render(spec: &TaskSpec) -> String {
    let pascal = spec.form >= 3;
    let yaml = spec.form == 4;
    let keys = Keys { pascal };
    let intrinsic = |param: &str| -> Value {
        if yaml {
            json!({ "\u{0}!Ref": param })
        } else {
            json!({ "Ref": param })
        }
    };
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| container_json(c, i, &keys, &intrinsic))
        .collect();
    let mut task = Map::new();
    let k = |s: &str| keys.k(s);
    if !pascal {
        task.insert("family".into(), Value::from("generated"));
    }
    task.insert(k("containerDefinitions"), Value::Array(containers.clone()));
    if spec.fargate {
        task.insert(k("requiresCompatibilities"), json!(["FARGATE"]));
        task.insert(k("networkMode"), Value::from("awsvpc"));
        task.insert(k("cpu"), Value::from("1 vcpu"));
        task.insert(k("memory"), Value::from(spec.task_memory.unwrap_or("2 gb")));
        task.insert(k("executionRoleArn"), Value::from("arn:aws:iam::1:role/x"));
    } else if let Some(m) = spec.task_memory {
        task.insert(k("memory"), Value::from(m));
    }
    let doc = match spec.form {
        0 => Value::Object(task),
        1 => {
            task.insert(
                "taskDefinitionArn".into(),
                Value::from("arn:aws:ecs:eu-west-1:1:task-definition/generated:3"),
            );
            task.insert("revision".into(), Value::from(3));
            task.insert("status".into(), Value::from("ACTIVE"));
            task.insert("compatibilities".into(), json!(["EC2", "FARGATE"]));
            json!({ "taskDefinition": task, "tags": [{"key": "team", "value": "x"}] })
        }
        2 => Value::Array(containers),
        _ => json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": { "Image": { "Type": "String" } },
            "Resources": {
                "Logs": { "Type": "AWS::Logs::LogGroup", "Properties": { "RetentionInDays": 7 } },
                "Task": { "Type": "AWS::ECS::TaskDefinition", "Properties": task.clone() },
                "Second": { "Type": "AWS::ECS::TaskDefinition", "Properties": task },
            }
        }),
    };
    if yaml {
        guard_embed::yaml::emit(&doc)
    } else {
        serde_json::to_string_pretty(&doc).expect("JSON") + "\n"
    }
}

fn options(spec: &TaskSpec) -> Options {
    let mut options = Options::new("public.ecr.aws/taskguard/sidecar:0.1.0");
    options.ptrace = spec.ptrace;
    options.fail = spec.fail.map(|open| {
        if open {
            FailMode::Open
        } else {
            FailMode::Closed
        }
    });
    options.selection = selection(spec);
    if let Some(sidecar) = spec.sidecar_name {
        options.sidecar_name = sidecar.to_string();
    }
    for (i, c) in spec.containers.iter().enumerate() {
        if let Some((entrypoint, cmd)) = &c.image {
            options.image_configs.push((
                name(i),
                ImageConfig {
                    entrypoint: entrypoint.clone(),
                    cmd: cmd.clone(),
                },
            ));
        }
    }
    options
}

fn selection(spec: &TaskSpec) -> Selection {
    Selection {
        include: Vec::new(),
        exclude: spec.exclude.iter().map(|i| name(*i)).collect(),
    }
}

fn unset<T>(slot: &Slot<T>) -> bool {
    !matches!(slot, Slot::Some(_))
}

/// What Docker runs for a container definition: entryPoint + command when entryPoint is
/// set (the image CMD is then dropped), image ENTRYPOINT + (command or image CMD) otherwise.
fn effective(
    container: &Value,
    pascal: bool,
    image: Option<&(Vec<String>, Vec<String>)>,
) -> Vec<Value> {
    let k = |s: &str| {
        if pascal {
            s[..1].to_ascii_uppercase() + &s[1..]
        } else {
            s.to_string()
        }
    };
    let list = |key: &str| -> Option<Vec<Value>> {
        container
            .get(k(key))
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .cloned()
    };
    let (ie, ic) = image.cloned().unwrap_or_default();
    match (list("entryPoint"), list("command")) {
        (Some(e), c) => e.into_iter().chain(c.unwrap_or_default()).collect(),
        (None, Some(c)) => ie.into_iter().map(Value::from).chain(c).collect(),
        (None, None) => ie.into_iter().chain(ic).map(Value::from).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn embed_is_idempotent_reversible_and_registrable(spec in task()) {
        let input = render(&spec);
        let options = options(&spec);
        let skipped = |i: usize, c: &ContainerSpec| c.firelens || spec.exclude.contains(&i);
        let needs_image = spec
            .containers
            .iter()
            .enumerate()
            .any(|(i, c)| !skipped(i, c) && unset(&c.entry) && c.image.is_none());
        let result = guard_embed::embed(&input, &options);
        if needs_image {
            prop_assert!(matches!(result, Err(EmbedError::MissingEntryPoint { .. })), "{result:?}\n{input}");
            return Ok(());
        }
        let out = result.map_err(|e| TestCaseError::fail(format!("{e}\n{input}")))?.text;

        let again = guard_embed::embed(&out, &options).expect("embeds again").text;
        prop_assert_eq!(&again, &out, "embed(embed(x)) != embed(x)\n{}", input);

        let removed = guard_embed::remove(&out).expect("removes").text;
        prop_assert_eq!(&removed, &canonical(&input), "remove(embed(x)) != x\n{}", out);

        let before = register_problems(&canonical(&input));
        let new: Vec<String> = register_problems(&out).into_iter().filter(|p| !before.contains(p)).collect();
        prop_assert!(new.is_empty(), "{new:?}\n{out}");

        let report = guard_embed::check(&out, &selection(&spec)).expect("checks");
        prop_assert!(report.all_protected(), "{}\n{}", report.render(), out);

        let pascal = spec.form >= 3;
        let key = if pascal { "ContainerDefinitions" } else { "containerDefinitions" };
        let all_skipped = spec.containers.iter().enumerate().all(|(i, c)| skipped(i, c));
        let tasks_out = task_definitions(&tree(&out));
        let tasks_in = task_definitions(&tree(&canonical(&input)));
        prop_assert_eq!(tasks_out.len(), tasks_in.len());
        for ((task_out, _, _), (task_in, _, _)) in tasks_out.iter().zip(&tasks_in) {
            let added = task_out[key].as_array().map_or(0, Vec::len) - spec.containers.len();
            prop_assert_eq!(added, usize::from(!all_skipped), "one sidecar per task\n{}", out);
            for (i, c) in spec.containers.iter().enumerate() {
                let after = effective(&task_out[key][i], pascal, c.image.as_ref());
                let before = effective(&task_in[key][i], pascal, c.image.as_ref());
                if skipped(i, c) {
                    prop_assert_eq!(&task_out[key][i], &task_in[key][i], "skipped containers are untouched");
                } else {
                    let mut expected = vec![json!("/guard/bin/guard-exec"), json!("--")];
                    expected.extend(before);
                    prop_assert_eq!(after, expected, "container {}\n{}", i, out);
                }
            }
        }
    }
}
