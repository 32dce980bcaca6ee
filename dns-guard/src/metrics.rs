//! Counters for `/metrics`, in the Prometheus text format.
//!
//! Plain atomics: the hot path only increments, and `/metrics` reads them all.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// What happened to a query, as counted and labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed = 0,
    Alerted = 1,
    Blocked = 2,
    WouldBlock = 3,
}

const OUTCOMES: [&str; 4] = ["allowed", "alerted", "blocked", "would-block"];
/// Query types with their own label; the rest are counted as `other`.
const QTYPES: [(u16, &str); 14] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (16, "TXT"),
    (33, "SRV"),
    (12, "PTR"),
    (2, "NS"),
    (6, "SOA"),
    (65, "HTTPS"),
    (64, "SVCB"),
    (255, "ANY"),
    (257, "CAA"),
    (0, "other"),
];
/// Upper bounds (seconds) of the upstream latency histogram buckets.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Why an upstream did not give a usable answer.
#[derive(Debug, Clone, Copy)]
pub enum UpstreamFailure {
    Timeout = 0,
    Error = 1,
    Tcp = 2,
    Malformed = 3,
    /// The upstream answered SERVFAIL or REFUSED (passed on to the client as it is).
    Rcode = 4,
}
const FAILURES: [&str; 5] = ["timeout", "error", "tcp", "malformed", "rcode"];

#[derive(Default)]
pub struct Metrics {
    queries: [[AtomicU64; QTYPES.len()]; 4],
    pub formerr: AtomicU64,
    pub notimp: AtomicU64,
    pub servfail: AtomicU64,
    upstream_failures: [AtomicU64; 5],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub inflight_overflow: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub events_dropped: AtomicU64,
    pub events_written: AtomicU64,
    pub shim_events: AtomicU64,
    pub shim_events_rejected: AtomicU64,
    pub tcp_rejected: AtomicU64,
    pub mismatched_answers: AtomicU64,
}

fn qtype_index(qtype: u16) -> usize {
    QTYPES
        .iter()
        .position(|&(t, _)| t == qtype)
        .unwrap_or(QTYPES.len() - 1)
}

impl Metrics {
    pub fn query(&self, outcome: Outcome, qtype: u16) {
        self.queries[outcome as usize][qtype_index(qtype)].fetch_add(1, Relaxed);
    }

    pub fn upstream_failure(&self, why: UpstreamFailure) {
        self.upstream_failures[why as usize].fetch_add(1, Relaxed);
    }

    pub fn upstream_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| secs <= b) {
            self.latency_buckets[i].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_us
            .fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// The Prometheus exposition of every counter, plus the policy version as an info gauge.
    pub fn render(&self, policy_version: &str, cache_entries: usize) -> String {
        let mut o = String::with_capacity(8192);
        let _ = writeln!(
            o,
            "# HELP dnsguard_queries_total DNS queries by outcome and type."
        );
        let _ = writeln!(o, "# TYPE dnsguard_queries_total counter");
        for (oi, outcome) in OUTCOMES.iter().enumerate() {
            for (ti, (_, qtype)) in QTYPES.iter().enumerate() {
                let v = self.queries[oi][ti].load(Relaxed);
                if v > 0 || ti == 0 {
                    let _ = writeln!(
                        o,
                        "dnsguard_queries_total{{verdict=\"{outcome}\",qtype=\"{qtype}\"}} {v}"
                    );
                }
            }
        }
        let _ = writeln!(
            o,
            "# HELP dnsguard_error_answers_total Answers for queries the guard could not serve."
        );
        let _ = writeln!(o, "# TYPE dnsguard_error_answers_total counter");
        for (rcode, c) in [
            ("FORMERR", &self.formerr),
            ("NOTIMP", &self.notimp),
            ("SERVFAIL", &self.servfail),
        ] {
            let _ = writeln!(
                o,
                "dnsguard_error_answers_total{{rcode=\"{rcode}\"}} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP dnsguard_upstream_failures_total Upstream timeouts and errors (never counted as blocks)."
        );
        let _ = writeln!(o, "# TYPE dnsguard_upstream_failures_total counter");
        for (i, reason) in FAILURES.iter().enumerate() {
            let v = self.upstream_failures[i].load(Relaxed);
            let _ = writeln!(
                o,
                "dnsguard_upstream_failures_total{{reason=\"{reason}\"}} {v}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP dnsguard_upstream_latency_seconds Time from forwarding a query to its upstream answer."
        );
        let _ = writeln!(o, "# TYPE dnsguard_upstream_latency_seconds histogram");
        let mut cumulative = 0;
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Relaxed);
            let _ = writeln!(
                o,
                "dnsguard_upstream_latency_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            o,
            "dnsguard_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(o, "dnsguard_upstream_latency_seconds_sum {sum}");
        let _ = writeln!(o, "dnsguard_upstream_latency_seconds_count {count}");
        let counters: [(&str, &str, &AtomicU64); 11] = [
            (
                "dnsguard_cache_hits_total",
                "Answers served from the cache.",
                &self.cache_hits,
            ),
            (
                "dnsguard_cache_misses_total",
                "Allowed queries not in the cache.",
                &self.cache_misses,
            ),
            (
                "dnsguard_inflight_overflow_total",
                "Queries refused with SERVFAIL because too many were in flight.",
                &self.inflight_overflow,
            ),
            (
                "dnsguard_mismatched_answers_total",
                "Upstream answers ignored: unknown ID or a different question.",
                &self.mismatched_answers,
            ),
            (
                "dnsguard_tcp_rejected_total",
                "TCP connections refused over the connection cap.",
                &self.tcp_rejected,
            ),
            (
                "dnsguard_reloads_ok_total",
                "Policy loads that took effect.",
                &self.reloads_ok,
            ),
            (
                "dnsguard_reloads_failed_total",
                "Policy loads refused (the old policy kept serving).",
                &self.reloads_failed,
            ),
            (
                "dnsguard_events_written_total",
                "Audit events written.",
                &self.events_written,
            ),
            (
                "dnsguard_events_dropped_total",
                "Audit events dropped because the writer was behind.",
                &self.events_dropped,
            ),
            (
                "dnsguard_shim_events_total",
                "Valid event datagrams received from the shim.",
                &self.shim_events,
            ),
            (
                "dnsguard_shim_events_rejected_total",
                "Invalid event datagrams from the shim.",
                &self.shim_events_rejected,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(o, "# HELP {name} {help}");
            let _ = writeln!(o, "# TYPE {name} counter");
            let _ = writeln!(o, "{name} {}", c.load(Relaxed));
        }
        let _ = writeln!(o, "# HELP dnsguard_cache_entries Answers in the cache.");
        let _ = writeln!(o, "# TYPE dnsguard_cache_entries gauge");
        let _ = writeln!(o, "dnsguard_cache_entries {cache_entries}");
        let _ = writeln!(
            o,
            "# HELP dnsguard_policy_info The policy being enforced (always 1)."
        );
        let _ = writeln!(o, "# TYPE dnsguard_policy_info gauge");
        let _ = writeln!(o, "dnsguard_policy_info{{version=\"{policy_version}\"}} 1");
        if let Some(cnaf) = crate::cnaf::running() {
            o.push_str(&cnaf.metrics.render(cnaf.bans.active()));
        }
        o
    }
}
