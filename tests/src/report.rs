//! The demo's readable report of a scenario run: what each container tried, what TaskGuard
//! allowed, blocked (and by which rule) or reported, and where the audit log is.

use std::fmt::Write;
use std::time::Duration;

use serde_json::Value;

use crate::scenario::{AfterSidecar, PolicyEdit, Scenario, WEB, WORKER};

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(
        || "never (within 3 s)".to_string(),
        |d| format!("{:.2} s", d.as_secs_f64()),
    )
}

fn s<'a>(e: &'a Value, k: &str) -> &'a str {
    e.get(k).and_then(Value::as_str).unwrap_or("")
}

/// One line per distinct (subject, rule, where) among the events with this action, with a
/// count. The shim reports a launch once per candidate path (each `PATH` entry execvp tries),
/// so process events of one process and rule are one launch, shown by the path that exists.
fn event_lines(events: &[Value], action: &str) -> Vec<String> {
    let mut items: Vec<(String, String)> = Vec::new();
    let mut launches: Vec<(String, Vec<String>)> = Vec::new();
    for e in events.iter().filter(|e| s(e, "action") == action) {
        let place = if s(e, "source") == "shim" {
            let exe = s(e, "exe").rsplit('/').next().unwrap_or("");
            format!("in {} by {exe} ({})", s(e, "container"), s(e, "api"))
        } else {
            "at the sidecar (a DNS query)".to_string()
        };
        let rule = s(e, "rule");
        if s(e, "kind") == "process" {
            let launch = format!("{rule}\u{0}{place}\u{0}{}", e["pid"]);
            match launches.iter_mut().find(|(k, _)| *k == launch) {
                Some((_, paths)) => paths.push(s(e, "program").to_string()),
                None => launches.push((launch, vec![s(e, "program").to_string()])),
            }
            continue;
        }
        let subject = if s(e, "target").is_empty() {
            format!("name {}", s(e, "name"))
        } else {
            format!("name {} -> CNAME {}", s(e, "name"), s(e, "target"))
        };
        items.push((format!("{subject:<46} rule {rule:<28}"), place));
    }
    for (launch, paths) in launches {
        let mut parts = launch.split('\u{0}');
        let rule = parts.next().unwrap_or("");
        let place = parts.next().unwrap_or("").to_string();
        let program = paths
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .or(paths.last())
            .cloned()
            .unwrap_or_default();
        items.push((
            format!("{:<46} rule {rule:<28}", format!("program {program}")),
            place,
        ));
    }
    let mut lines: Vec<(String, usize)> = Vec::new();
    for (head, place) in items {
        let line = format!("{head} {place}");
        match lines.iter_mut().find(|(l, _)| *l == line) {
            Some((_, n)) => *n += 1,
            None => lines.push((line, 1)),
        }
    }
    lines
        .into_iter()
        .map(|(l, n)| if n > 1 { format!("{l} x{n}") } else { l })
        .collect()
}

/// The report, as printed by `scripts/demo`.
/// `check_policy` is the table `tests/dig/check-policy` printed inside the worker.
pub fn render(
    run: &Scenario,
    check_policy: &str,
    edit: &PolicyEdit,
    after: &[AfterSidecar],
) -> String {
    let mut out = String::new();
    let all = run.audit_events();
    let events = &all[..edit.events_before.min(all.len())];
    let _ = writeln!(
        out,
        "TaskGuard demo: examples/task-definition.json, embedded by guard-embed, run as a local task\n\
         (network namespace {}, sidecar healthy and both app containers started in {:.1} s)\n",
        run.task.netns.name(),
        run.startup.as_secs_f64()
    );
    let _ = writeln!(out, "What the {WORKER} container tried:");
    for a in run.attempts() {
        let verdict = if a.ok { "ok     " } else { "failed " };
        let _ = writeln!(out, "  {verdict} {}", a.what);
    }
    let served = run
        .task
        .stderr(WEB)
        .lines()
        .filter(|l| l.contains("\"GET "))
        .count();
    let _ = writeln!(
        out,
        "The {WEB} container (python3 http.server as nobody) served {served} request(s).\n"
    );

    let _ = writeln!(out, "Blocked by TaskGuard (from the audit log):");
    for line in event_lines(events, "blocked") {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "Allowed and reported (alert rules):");
    for line in event_lines(events, "alerted") {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(
        out,
        "Not seen by TaskGuard: the fetch of http://127.0.77.1/ (a direct IP connection, no name);\n  \
         security groups are the control for that (docs/threat-model.md).\n"
    );

    let _ = writeln!(
        out,
        "tests/dig/check-policy examples/expectations, run in the worker against the sidecar:"
    );
    for line in check_policy.lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Policy edit (api.partner.test and perl denied, nothing restarted), in effect after:\n  \
         sidecar (dig) {}; running python: lookup {}, launch {}; new process: lookup {}, launch {}\n",
        secs(edit.sidecar),
        secs(edit.running_process_name),
        secs(edit.running_process_program),
        secs(edit.new_process_name),
        secs(edit.new_process_program),
    );

    let _ = writeln!(out, "Sidecar killed (SIGKILL):");
    for r in after {
        let yes = |b: bool, y: &str, n: &str| if b { y.to_string() } else { n.to_string() };
        let _ = writeln!(
            out,
            "  {} (GUARD_FAIL={}): last policy still enforced: {}; names resolve: {}.\n    \
             Once no valid policy is left: new programs {}, guard-exec {}.",
            r.container,
            r.guard_fail,
            yes(
                !r.denied_program_runs && r.allowed_program_runs,
                "yes (nc refused, sh runs)",
                "NO"
            ),
            yes(r.allowed_name_resolves, "yes", "no (the resolver is gone)"),
            yes(r.no_policy_program_runs, "run", "are refused"),
            yes(
                r.no_policy_guard_exec_runs,
                "starts the app",
                "refuses to start it"
            ),
        );
    }
    let _ = writeln!(
        out,
        "\nAudit log ({} events, JSON lines): {}\nEmbedded task definition: {}",
        all.len(),
        run.audit_log().display(),
        run.embedded_path.display()
    );
    out
}
