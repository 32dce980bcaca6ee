//! `dns-guard audits`: the audit log as a person reads it.
//!
//! Reads the sidecar's audit JSON lines from a file or stdin, as written or as CloudWatch
//! hands them back ([`input`]), keeps what the filters select ([`filter`]) and prints the
//! blocked and alerted names, programs, connections and web attacks grouped and counted
//! ([`report`]), or follows a growing log ([`follow`]).

pub mod filter;
pub mod follow;
pub mod input;
pub mod report;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

pub use filter::Filter;

/// `dns-guard audits [FILE|-]`.
#[derive(Debug, clap::Args)]
pub struct AuditsArgs {
    /// Audit log: JSON lines, `aws logs tail` output or a Logs Insights JSON export; `-` or
    /// nothing reads stdin.
    #[arg(default_value = "-")]
    pub file: PathBuf,
    /// Only events since this long ago (30s, 15m, 2h, 1d) or this RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events of this container (repeatable; `sidecar` for the sidecar's own events).
    #[arg(long = "container")]
    pub containers: Vec<String>,
    /// Only events of this kind: dns, process, net, waf, policy (repeatable).
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
    /// Only events with this action: blocked, alerted, would-block, unprotected (repeatable).
    #[arg(long = "action")]
    pub actions: Vec<String>,
    /// After the report, print each new event as it is written (a file is polled; stdin is
    /// read as it streams, e.g. from `aws logs tail --follow`).
    #[arg(long)]
    pub follow: bool,
    /// The report as one JSON object (with --follow: each new event as a JSON line).
    #[arg(long)]
    pub json: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl AuditsArgs {
    pub fn filter(&self) -> Result<Filter, filter::SinceError> {
        Ok(Filter {
            since_ms: self
                .since
                .as_deref()
                .map(|s| filter::parse_since(s, now_ms()))
                .transpose()?,
            containers: self.containers.clone(),
            kinds: self.kinds.clone(),
            actions: self.actions.clone(),
        })
    }

    fn stdin(&self) -> bool {
        self.file.as_os_str() == "-"
    }
}

/// The report of a whole input.
pub fn report(text: &str, filter: &Filter, json: bool) -> String {
    let parsed = input::parse_text(text);
    let read = parsed.events.len();
    let shown: Vec<serde_json::Value> = parsed
        .events
        .into_iter()
        .filter(|e| filter.matches(e))
        .collect();
    if json {
        let mut out = report::render_json(&shown, read, parsed.unreadable).to_string();
        out.push('\n');
        out
    } else {
        report::render(&shown, read, parsed.unreadable)
    }
}

/// Runs the command, writing to stdout.
pub fn run(args: AuditsArgs) -> anyhow::Result<()> {
    let filter = args.filter()?;
    let mut out = std::io::stdout().lock();
    if args.follow && args.stdin() {
        // A stream has no end to report at: every event is printed as it arrives.
        return follow::lines(std::io::stdin().lock(), &filter, args.json, &mut out);
    }
    let mut text = String::new();
    let mut offset = 0u64;
    if args.stdin() {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the audit log from stdin")?;
    } else {
        let bytes = std::fs::read(&args.file)
            .with_context(|| format!("reading the audit log {}", args.file.display()))?;
        // Only complete lines are reported; --follow picks up the rest when it is finished.
        let complete = if args.follow {
            bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        } else {
            bytes.len()
        };
        offset = complete as u64;
        text = String::from_utf8_lossy(&bytes[..complete]).into_owned();
    }
    out.write_all(report(&text, &filter, args.json).as_bytes())?;
    out.flush()?;
    if args.follow {
        follow::file(&args.file, offset, &filter, args.json, &mut out)?;
    }
    Ok(())
}
