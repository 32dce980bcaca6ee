//! The report: reportable events grouped by what happened, where and by which rule, counted,
//! oldest group first so the newest activity is at the bottom, like a log.

use std::fmt::Write;

use serde_json::{Map, Value, json};

use super::filter::{container_of, time_ms};

/// Sections in the order printed: action, heading. Actions not listed here (`allowed`,
/// policy loads) are counted in the summary only.
const SECTIONS: [(&str, &str, bool); 4] = [
    ("blocked", "Blocked by TaskGuard:", true),
    ("alerted", "Allowed and reported (alert rules):", true),
    (
        "would-block",
        "Would be blocked (the policy is in audit mode):",
        false,
    ),
    (
        "unprotected",
        "Unprotected (programs the shim cannot see into):",
        false,
    ),
];

/// Events that say the same thing in the same place under the same rule.
#[derive(Debug, Clone)]
pub struct Group {
    pub kind: String,
    pub action: String,
    /// `name evil.test`, `program /usr/bin/nc`, `connection 10.0.0.1:4444`, `web attack GET /x`.
    pub subject: String,
    pub rule: String,
    pub protection: String,
    pub container: String,
    /// The launching program (`exe`) for shim events.
    pub exe: String,
    pub api: String,
    /// `in worker by bash (execve)`, `at the sidecar (a DNS query)`.
    pub place: String,
    pub count: usize,
    pub first: String,
    pub last: String,
    last_ms: i64,
    seq: usize,
}

fn s<'a>(e: &'a Value, k: &str) -> &'a str {
    e.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A field as text, numbers included (ports, pids).
fn text(e: &Value, k: &str) -> String {
    match e.get(k) {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// What the event is about, by kind; unknown kinds fall back to the first subject-like field.
fn subject(e: &Value, program: &str) -> String {
    let first = |keys: &[&str]| {
        keys.iter()
            .map(|k| text(e, k))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    };
    match s(e, "kind") {
        "dns" if !s(e, "target").is_empty() => {
            format!("name {} -> CNAME {}", s(e, "name"), s(e, "target"))
        }
        "dns" => format!("name {}", s(e, "name")),
        "process" => format!("program {program}"),
        "net" => {
            let mut addr = first(&["address", "addr", "dest", "destination", "ip"]);
            let port = text(e, "port");
            if !port.is_empty() && !addr.ends_with(&format!(":{port}")) {
                addr = if addr.contains(':') {
                    format!("[{addr}]:{port}")
                } else {
                    format!("{addr}:{port}")
                };
            }
            let name = s(e, "name");
            if addr.is_empty() {
                format!("connection {name}")
            } else if name.is_empty() {
                format!("connection {addr}")
            } else {
                format!("connection {addr} ({name})")
            }
        }
        "waf" => {
            let path = first(&["path", "uri", "url", "target"]);
            let method = s(e, "method");
            if method.is_empty() {
                format!("web attack {path}")
            } else {
                format!("web attack {method} {path}")
            }
        }
        _ => first(&["name", "program", "address", "path"]),
    }
}

/// Where it happened: an app container (by which program, through which call) or the sidecar.
fn place(e: &Value) -> String {
    let container = s(e, "container");
    if container.is_empty() {
        return match s(e, "kind") {
            "dns" => "at the sidecar (a DNS query)".into(),
            "waf" => "at the sidecar (a web request)".into(),
            _ => "at the sidecar".into(),
        };
    }
    let mut out = format!("in {container}");
    let exe = s(e, "exe").rsplit('/').next().unwrap_or("");
    if !exe.is_empty() {
        let _ = write!(out, " by {exe}");
    }
    if !s(e, "api").is_empty() {
        let _ = write!(out, " ({})", s(e, "api"));
    }
    out
}

/// The groups of the reportable events (every section's action), oldest last-seen first.
///
/// The shim reports a launch once per candidate path (each `PATH` entry execvp tries), so
/// process events of one pid, rule and place are one launch, shown by the path that exists
/// here, else the last one tried.
pub fn groups(events: &[Value]) -> Vec<Group> {
    struct Launch<'a> {
        key: String,
        events: Vec<&'a Value>,
    }
    let mut launches: Vec<Launch> = Vec::new();
    let mut singles: Vec<(usize, &Value, String)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if !SECTIONS.iter().any(|(a, _, _)| *a == s(e, "action")) {
            continue;
        }
        if s(e, "kind") == "process" && e.get("pid").is_some() {
            let key = format!(
                "{}\u{0}{}\u{0}{}\u{0}{}",
                s(e, "action"),
                s(e, "rule"),
                place(e),
                text(e, "pid")
            );
            match launches.iter_mut().find(|l| l.key == key) {
                Some(l) => l.events.push(e),
                None => launches.push(Launch {
                    key,
                    events: vec![e],
                }),
            }
            continue;
        }
        singles.push((i, e, subject(e, s(e, "program"))));
    }
    for l in &launches {
        let paths: Vec<&str> = l.events.iter().map(|e| s(e, "program")).collect();
        let program = paths
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .or(paths.last())
            .copied()
            .unwrap_or_default();
        let last = l.events.last().copied().unwrap_or(&Value::Null);
        let seq = events
            .iter()
            .position(|e| std::ptr::eq(e, last))
            .unwrap_or(0);
        singles.push((seq, last, subject(last, program)));
    }
    singles.sort_by_key(|(i, _, _)| *i);
    let mut out: Vec<Group> = Vec::new();
    for (seq, e, subject) in singles {
        let key = |g: &Group| {
            g.action == s(e, "action")
                && g.subject == subject
                && g.rule == s(e, "rule")
                && g.protection == s(e, "protection")
                && g.container == container_of(e)
                && g.exe == s(e, "exe")
                && g.api == s(e, "api")
        };
        let t = s(e, "time").to_string();
        let t_ms = time_ms(e).unwrap_or(i64::MIN);
        match out.iter_mut().find(|g| key(g)) {
            Some(g) => {
                g.count += 1;
                g.last = t;
                g.last_ms = g.last_ms.max(t_ms);
                g.seq = seq;
            }
            None => out.push(Group {
                kind: s(e, "kind").into(),
                action: s(e, "action").into(),
                subject,
                rule: s(e, "rule").into(),
                protection: s(e, "protection").into(),
                container: container_of(e).into(),
                exe: s(e, "exe").into(),
                api: s(e, "api").into(),
                place: place(e),
                count: 1,
                first: t.clone(),
                last: t,
                last_ms: t_ms,
                seq,
            }),
        }
    }
    // Newest last: by the time last seen, input order among equals (and undated events).
    out.sort_by_key(|g| (g.last_ms, g.seq));
    out
}

impl Group {
    /// One report line: `HH:MM:SS subject rule R place xN`.
    pub fn line(&self) -> String {
        let clock = self.last.get(11..19).unwrap_or("--:--:--");
        let rule = if self.protection.is_empty() {
            self.rule.clone()
        } else {
            format!("{} [{}]", self.rule, self.protection)
        };
        let mut line = format!(
            "{clock} {:<46} rule {rule:<28} {}",
            self.subject, self.place
        );
        if self.count > 1 {
            let _ = write!(line, " x{}", self.count);
        }
        line
    }
}

/// Counts by one key, largest first (then by name), as `key N, key N`.
fn tally<'a>(groups: &'a [Group], key: impl Fn(&'a Group) -> &'a str) -> Vec<(&'a str, usize)> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    for g in groups {
        let k = key(g);
        if k.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some((_, c)) => *c += g.count,
            None => out.push((k, g.count)),
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    out
}

fn tally_line(items: &[(&str, usize)]) -> String {
    items
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The program a group is about: the launched program, or for other events the launcher.
fn program_of(g: &Group) -> &str {
    if g.kind == "process" {
        g.subject.strip_prefix("program ").unwrap_or("")
    } else {
        &g.exe
    }
}

/// Policy loads and refusals, for the summary.
fn policy_summary(events: &[Value]) -> Option<String> {
    let policy: Vec<&Value> = events.iter().filter(|e| s(e, "kind") == "policy").collect();
    if policy.is_empty() {
        return None;
    }
    let loaded: Vec<&&Value> = policy
        .iter()
        .filter(|e| s(e, "action") == "loaded")
        .collect();
    let mut out = format!(
        "Policy: {} loaded, {} refused",
        loaded.len(),
        policy.len() - loaded.len()
    );
    if let Some(last) = loaded.last() {
        let _ = write!(
            out,
            "; in force: version {} from {}",
            s(last, "policy_version"),
            s(last, "policy_source")
        );
    }
    if let Some(refused) = policy.iter().rev().find(|e| s(e, "action") != "loaded") {
        let _ = write!(out, "\n  last refused: {}", s(refused, "error"));
    }
    Some(out)
}

/// The human report.
pub fn render(events: &[Value], read: usize, unreadable: usize) -> String {
    let groups = groups(events);
    let mut out = String::new();
    for (action, heading, always) in SECTIONS {
        let these: Vec<&Group> = groups.iter().filter(|g| g.action == action).collect();
        if these.is_empty() && !always {
            continue;
        }
        let total: usize = these.iter().map(|g| g.count).sum();
        let _ = writeln!(
            out,
            "{heading}{}",
            if total > 0 {
                format!(" {total} event(s)")
            } else {
                String::new()
            }
        );
        if these.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for g in these {
            let _ = writeln!(out, "  {}", g.line());
        }
    }
    let by = [
        ("By container", tally(&groups, |g| g.container.as_str())),
        ("By rule", tally(&groups, |g| g.rule.as_str())),
        ("By program", tally(&groups, program_of)),
    ];
    for (label, items) in by {
        if !items.is_empty() {
            let _ = writeln!(out, "{label}: {}", tally_line(&items));
        }
    }
    if let Some(p) = policy_summary(events) {
        let _ = writeln!(out, "{p}");
    }
    let _ = write!(out, "{} event(s) shown of {read} read", events.len());
    if unreadable > 0 {
        let _ = write!(out, "; {unreadable} line(s) were not audit events");
    }
    out.push('\n');
    out
}

/// The same report for machines.
pub fn render_json(events: &[Value], read: usize, unreadable: usize) -> Value {
    let groups = groups(events);
    let group = |g: &Group| {
        json!({
            "kind": g.kind, "action": g.action, "subject": g.subject, "rule": g.rule,
            "protection": g.protection, "container": g.container, "exe": g.exe, "api": g.api, "place": g.place,
            "count": g.count, "first": g.first, "last": g.last,
        })
    };
    let mut sections = Map::new();
    for (action, _, _) in SECTIONS {
        let these: Vec<Value> = groups
            .iter()
            .filter(|g| g.action == action)
            .map(group)
            .collect();
        sections.insert(action.into(), Value::Array(these));
    }
    let counts = |items: Vec<(&str, usize)>| {
        Value::Object(
            items
                .into_iter()
                .map(|(k, n)| (k.to_string(), Value::from(n)))
                .collect(),
        )
    };
    json!({
        "sections": sections,
        "by_container": counts(tally(&groups, |g| g.container.as_str())),
        "by_rule": counts(tally(&groups, |g| g.rule.as_str())),
        "by_program": counts(tally(&groups, program_of)),
        "shown": events.len(),
        "read": read,
        "unreadable": unreadable,
    })
}

/// One event as a live-tail line (`--follow`).
pub fn event_line(e: &Value) -> String {
    let one = groups(std::slice::from_ref(e));
    match one.first() {
        Some(g) => format!("{:<11} {}", g.action, g.line()),
        None => format!(
            "{:<11} {} {} {}",
            s(e, "action"),
            s(e, "time").get(11..19).unwrap_or("--:--:--"),
            s(e, "kind"),
            text(e, "policy_version")
        ),
    }
}
