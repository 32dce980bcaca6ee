//! The proxy's audit lines (kind `waf`) and Prometheus counters.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use guard_waf::{Protection, Verdict};
use serde_json::{Map, Value};

/// Longest matched data kept in an audit line.
const DATA_MAX: usize = 120;

/// What one reported request was and what we did.
pub struct Report<'a> {
    pub action: &'a str,
    pub client: std::net::IpAddr,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// Protection names (engine protections, or `access`/`rate`/`protocol`/`body`).
    pub protections: Vec<&'a str>,
    pub verdict: Option<&'a Verdict>,
    pub reason: Option<&'a str>,
    pub event_id: &'a str,
    pub policy_version: &'a str,
    pub status: u16,
}

fn truncate(s: &str) -> String {
    if s.len() <= DATA_MAX {
        return s.to_string();
    }
    let mut end = DATA_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl Report<'_> {
    pub fn to_fields(&self) -> Map<String, Value> {
        let mut v = Map::new();
        v.insert("kind".into(), "waf".into());
        v.insert("action".into(), self.action.into());
        v.insert("client".into(), self.client.to_string().into());
        v.insert("method".into(), self.method.into());
        v.insert("host".into(), self.host.into());
        v.insert("path".into(), truncate(self.path).into());
        v.insert(
            "protections".into(),
            Value::Array(self.protections.iter().map(|p| (*p).into()).collect()),
        );
        if let Some(verdict) = self.verdict {
            let rules = verdict
                .matches
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.id,
                        "msg": m.msg,
                        "protection": m.protection.map(Protection::as_str),
                        "variable": m.variable,
                        "data": truncate(&m.data),
                    })
                })
                .collect();
            v.insert("rules".into(), Value::Array(rules));
            v.insert("anomaly_score".into(), verdict.anomaly_score.into());
        }
        if let Some(r) = self.reason {
            v.insert("reason".into(), r.into());
        }
        v.insert("event_id".into(), self.event_id.into());
        v.insert("policy_version".into(), self.policy_version.into());
        v.insert("status".into(), self.status.into());
        v.insert("source".into(), "dns-guard".into());
        v
    }
}

/// Inspection time buckets, in microseconds.
const BUCKETS_US: [u64; 10] = [25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000];

#[derive(Default)]
pub struct CnafMetrics {
    pub forwarded: AtomicU64,
    pub alerted: AtomicU64,
    pub blocked: AtomicU64,
    pub would_block: AtomicU64,
    pub banned_refused: AtomicU64,
    pub malformed: AtomicU64,
    pub upstream_errors: AtomicU64,
    by_protection: [AtomicU64; Protection::ALL.len()],
    inspect_buckets: [AtomicU64; BUCKETS_US.len() + 1],
    inspect_sum_us: AtomicU64,
    inspect_count: AtomicU64,
}

impl CnafMetrics {
    pub fn protection(&self, p: Protection) {
        if let Some(i) = Protection::ALL.iter().position(|q| *q == p) {
            self.by_protection[i].fetch_add(1, Relaxed);
        }
    }

    pub fn inspected(&self, took: Duration) {
        let us = took.as_micros() as u64;
        let i = BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(BUCKETS_US.len());
        self.inspect_buckets[i].fetch_add(1, Relaxed);
        self.inspect_sum_us.fetch_add(us, Relaxed);
        self.inspect_count.fetch_add(1, Relaxed);
    }

    /// Prometheus text, appended to the sidecar's `/metrics`.
    pub fn render(&self, active_bans: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP dnsguard_waf_requests_total WAF proxy requests by verdict."
        );
        let _ = writeln!(out, "# TYPE dnsguard_waf_requests_total counter");
        for (verdict, c) in [
            ("forwarded", &self.forwarded),
            ("alert", &self.alerted),
            ("blocked", &self.blocked),
            ("would-block", &self.would_block),
            ("banned", &self.banned_refused),
            ("malformed", &self.malformed),
        ] {
            let _ = writeln!(
                out,
                "dnsguard_waf_requests_total{{verdict=\"{verdict}\"}} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP dnsguard_waf_protection_total Requests on which a protection fired."
        );
        let _ = writeln!(out, "# TYPE dnsguard_waf_protection_total counter");
        for (p, c) in Protection::ALL.iter().zip(&self.by_protection) {
            let _ = writeln!(
                out,
                "dnsguard_waf_protection_total{{protection=\"{}\"}} {}",
                p.as_str(),
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP dnsguard_waf_inspect_seconds Time the engine spent on one request."
        );
        let _ = writeln!(out, "# TYPE dnsguard_waf_inspect_seconds histogram");
        let mut cumulative = 0;
        for (b, c) in BUCKETS_US.iter().zip(&self.inspect_buckets) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(
                out,
                "dnsguard_waf_inspect_seconds_bucket{{le=\"{}\"}} {cumulative}",
                *b as f64 / 1e6
            );
        }
        cumulative += self.inspect_buckets[BUCKETS_US.len()].load(Relaxed);
        let _ = writeln!(
            out,
            "dnsguard_waf_inspect_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "dnsguard_waf_inspect_seconds_sum {}",
            self.inspect_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "dnsguard_waf_inspect_seconds_count {}",
            self.inspect_count.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dnsguard_waf_upstream_errors_total Requests the app could not answer (502)."
        );
        let _ = writeln!(out, "# TYPE dnsguard_waf_upstream_errors_total counter");
        let _ = writeln!(
            out,
            "dnsguard_waf_upstream_errors_total {}",
            self.upstream_errors.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dnsguard_waf_active_bans Clients refused right now."
        );
        let _ = writeln!(out, "# TYPE dnsguard_waf_active_bans gauge");
        let _ = writeln!(out, "dnsguard_waf_active_bans {active_bans}");
        out
    }
}
