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

/// The audit events' part of the report, by `dns-guard audits` (what a user runs on the log
/// of a real task): blocked and alerted names and programs, grouped and counted.
fn audits_report(events: &[Value]) -> String {
    let mut lines = String::new();
    for e in events {
        lines.push_str(&e.to_string());
        lines.push('\n');
    }
    let run = || -> std::io::Result<std::process::Output> {
        let mut child = std::process::Command::new(crate::artifacts::dns_guard())
            .args(["audits", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, lines.as_bytes())?;
        }
        child.wait_with_output()
    };
    match run() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => format!(
            "dns-guard audits failed: {}\n",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("dns-guard audits could not run: {e}\n"),
    }
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

    let _ = writeln!(out, "From the audit log (dns-guard audits):");
    out.push_str(&audits_report(events));
    let _ = writeln!(
        out,
        "Connections by address ([net] default = \"deny\"; the internet hosts are outside the task):"
    );
    for a in run
        .attempts()
        .iter()
        .filter(|a| a.what.contains("direct IP"))
    {
        let verdict = if a.ok { "connected" } else { "refused  " };
        let _ = writeln!(out, "  {verdict} {}", a.what);
    }
    let _ = writeln!(
        out,
        "  (refused connections are the `net` events above; static binaries and raw system calls\n  \
         are not seen: docs/threat-model.md)\n"
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
