//! Shared by the embed_* tests: where the corpus and the golden files are, the canonical form
//! of an input, and an independent check that a task definition would be accepted by
//! `aws ecs register-task-definition`.
#![allow(dead_code)]

use std::path::PathBuf;

use guard_tests::artifacts::workspace_root;
use serde_json::{Map, Value};

/// The ten public task definitions (`GUARD_CORPUS` overrides the location).
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("GUARD_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("../shared/corpus/task-definitions"),
    }
}

/// The corpus files, or a skip (a failure under CI) when the corpus is missing.
pub fn corpus_files(test: &str) -> Option<Vec<PathBuf>> {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        guard_tests::require::skip(test, &format!("no corpus at {}", dir.display()));
        return None;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 10, "the corpus has ten task definitions");
    Some(files)
}

pub fn golden_dir() -> PathBuf {
    workspace_root().join("tests/golden/embed")
}

/// The input as guard-embed writes documents: its canonical form.
pub fn canonical(text: &str) -> String {
    guard_embed::form::Document::parse(text)
        .expect("input parses")
        .render()
}

/// Parses a JSON output, or a YAML one through guard-embed's reader (tags become marker
/// objects, which the checks below treat as opaque values).
pub fn tree(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| guard_embed::yaml::parse(text).expect("YAML"))
}

/// The task definitions of a document, with their key style (`true` = PascalCase) and
/// whether task-level fields are present.
pub fn task_definitions(doc: &Value) -> Vec<(Value, bool, bool)> {
    match doc {
        Value::Array(_) => {
            let mut map = Map::new();
            map.insert("containerDefinitions".into(), doc.clone());
            vec![(Value::Object(map), false, false)]
        }
        Value::Object(map) if map.contains_key("Resources") => map["Resources"]
            .as_object()
            .into_iter()
            .flat_map(|r| r.values())
            .filter(|r| r["Type"] == "AWS::ECS::TaskDefinition")
            .map(|r| (r["Properties"].clone(), true, true))
            .collect(),
        other => vec![(other.clone(), false, true)],
    }
}

fn key(pascal: bool, camel: &str) -> String {
    if pascal {
        let mut c = camel.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    } else {
        camel.to_string()
    }
}

const READ_ONLY: [&str; 8] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// Every reason register-task-definition (or CloudFormation) would refuse the document.
pub fn register_problems(text: &str) -> Vec<String> {
    let doc = tree(text);
    let mut problems = Vec::new();
    if doc.get("taskDefinition").is_some() {
        problems.push("still wrapped in taskDefinition".into());
    }
    let tasks = task_definitions(&doc);
    if tasks.is_empty() {
        problems.push("no task definition".into());
    }
    for (task, pascal, task_level) in tasks {
        task_problems(&task, pascal, task_level, &mut problems);
    }
    problems
}

fn task_problems(task: &Value, pascal: bool, task_level: bool, out: &mut Vec<String>) {
    let k = |camel: &str| key(pascal, camel);
    if task_level && !pascal {
        for field in READ_ONLY {
            if task.get(field).is_some() {
                out.push(format!("read-only field {field}"));
            }
        }
        if !task.get("family").is_some_and(Value::is_string) {
            out.push("family missing".into());
        }
    }
    let Some(containers) = task
        .get(k("containerDefinitions"))
        .and_then(Value::as_array)
    else {
        out.push("containerDefinitions missing".into());
        return;
    };
    if containers.is_empty() {
        out.push("no containers".into());
    }
    let fargate = task
        .get(k("requiresCompatibilities"))
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|x| x == "FARGATE"));
    let awsvpc = fargate || task.get(k("networkMode")).is_some_and(|m| m == "awsvpc");
    let task_memory = task.get(k("memory")).is_some_and(|m| !m.is_null());
    let names: Vec<&Value> = containers.iter().filter_map(|c| c.get(k("name"))).collect();
    let find = |name: &Value| containers.iter().find(|c| c.get(k("name")) == Some(name));
    let mut essential = 0;
    for (i, c) in containers.iter().enumerate() {
        let here = format!("container {i}");
        let Some(name) = c.get(k("name")) else {
            out.push(format!("{here}: no name"));
            continue;
        };
        if names.iter().filter(|n| **n == name).count() > 1 {
            out.push(format!("{here}: duplicate name {name}"));
        }
        if c.get(k("image")).is_none_or(Value::is_null) {
            out.push(format!("{here}: no image"));
        }
        if c.get(k("essential"))
            .and_then(Value::as_bool)
            .unwrap_or(true)
        {
            essential += 1;
        }
        for argv in ["entryPoint", "command"] {
            match c.get(k(argv)) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) if pascal || items.iter().all(Value::is_string) => {}
                Some(other) => out.push(format!("{here}: {argv} is {other}")),
            }
        }
        for d in c
            .get(k("dependsOn"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let target = d.get(k("containerName")).unwrap_or(&Value::Null);
            let condition = d.get(k("condition")).and_then(Value::as_str).unwrap_or("");
            match find(target) {
                None => out.push(format!("{here}: dependsOn unknown container {target}")),
                Some(t) => {
                    if condition == "HEALTHY" && t.get(k("healthCheck")).is_none() {
                        out.push(format!("{here}: HEALTHY on {target} without healthCheck"));
                    }
                    if matches!(condition, "SUCCESS" | "COMPLETE")
                        && t.get(k("essential"))
                            .and_then(Value::as_bool)
                            .unwrap_or(true)
                    {
                        out.push(format!("{here}: {condition} on essential {target}"));
                    }
                }
            }
            if !matches!(condition, "START" | "COMPLETE" | "SUCCESS" | "HEALTHY") {
                out.push(format!("{here}: dependsOn condition {condition:?}"));
            }
        }
        for v in c
            .get(k("volumesFrom"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let source = v.get(k("sourceContainer")).unwrap_or(&Value::Null);
            if find(source).is_none() {
                out.push(format!("{here}: volumesFrom unknown container {source}"));
            }
        }
        if let Some(h) = c.get(k("healthCheck")) {
            let first = h
                .get(k("command"))
                .and_then(|c| c.get(0))
                .and_then(Value::as_str);
            if !matches!(first, Some("CMD" | "CMD-SHELL")) {
                out.push(format!(
                    "{here}: healthCheck command must start with CMD or CMD-SHELL"
                ));
            }
            for (field, lo, hi) in [
                ("interval", 5, 300),
                ("timeout", 2, 60),
                ("retries", 1, 10),
                ("startPeriod", 0, 300),
            ] {
                if let Some(n) = h.get(k(field)).and_then(Value::as_u64)
                    && !(lo..=hi).contains(&n)
                {
                    out.push(format!(
                        "{here}: healthCheck {field} {n} outside {lo}..={hi}"
                    ));
                }
            }
        }
        let adds = c
            .get(k("linuxParameters"))
            .and_then(|l| l.get(k("capabilities")))
            .and_then(|c| c.get(k("add")))
            .and_then(Value::as_array);
        if fargate && adds.is_some_and(|a| a.iter().any(|x| x != "SYS_PTRACE")) {
            out.push(format!(
                "{here}: Fargate allows only SYS_PTRACE in capabilities.add"
            ));
        }
        if awsvpc {
            for field in [
                "dnsServers",
                "dnsSearchDomains",
                "extraHosts",
                "links",
                "hostname",
            ] {
                if c.get(k(field))
                    .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()))
                {
                    // The corpus has `links` in a bridge-mode task only; on awsvpc none may appear.
                    out.push(format!("{here}: {field} on awsvpc"));
                }
            }
        }
        if task_level && !fargate && !task_memory {
            let has = |f: &str| c.get(k(f)).is_some_and(|v| !v.is_null());
            if !has("memory") && !has("memoryReservation") {
                out.push(format!(
                    "{here}: EC2 task without task memory needs memory or memoryReservation"
                ));
            }
        }
        if let Some(labels) = c.get(k("dockerLabels")).and_then(Value::as_object)
            && labels.values().any(|v| !v.is_string() && !pascal)
        {
            out.push(format!("{here}: dockerLabels values must be strings"));
        }
    }
    if essential == 0 {
        out.push("no essential container".into());
    }
    if let Some(cycle) = dependency_cycle(containers, pascal) {
        out.push(format!("dependsOn cycle through {cycle}"));
    }
}

fn dependency_cycle(containers: &[Value], pascal: bool) -> Option<String> {
    let k = |camel: &str| key(pascal, camel);
    let names: Vec<&Value> = containers
        .iter()
        .map(|c| c.get(k("name")).unwrap_or(&Value::Null))
        .collect();
    let edges: Vec<Vec<usize>> = containers
        .iter()
        .map(|c| {
            c.get(k("dependsOn"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    names
                        .iter()
                        .position(|n| Some(*n) == d.get(k("containerName")))
                })
                .collect()
        })
        .collect();
    // Depth-first search with colours: 0 new, 1 on the stack, 2 done.
    fn visit(i: usize, edges: &[Vec<usize>], colour: &mut [u8]) -> bool {
        colour[i] = 1;
        for &j in &edges[i] {
            if colour[j] == 1 || (colour[j] == 0 && visit(j, edges, colour)) {
                return true;
            }
        }
        colour[i] = 2;
        false
    }
    let mut colour = vec![0u8; containers.len()];
    (0..containers.len())
        .find(|&i| colour[i] == 0 && visit(i, &edges, &mut colour))
        .map(|i| names[i].to_string())
}
