//! The decision path shared by the UDP and TCP servers: parse, decide, answer from the cache
//! or forward, and finish forwarded queries when their answer comes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use arc_swap::ArcSwap;
use guard_policy::{CnameMode, CompiledPolicy, DnsName, Mode, PolicyView, Verdict};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::answer;
use crate::audit::{Audit, Event};
use crate::cache::Cache;
use crate::forward::{Forwarder, Pending};
use crate::metrics::{Metrics, Outcome, UpstreamFailure};
use crate::query::{self, Parsed, Query, RCODE_NOERROR, RCODE_SERVFAIL};
use crate::response;

/// The policy in force, swapped atomically on reload.
pub struct Active {
    pub compiled: CompiledPolicy,
    pub version: Arc<str>,
    pub source: String,
}

impl Active {
    pub fn new(compiled: CompiledPolicy, source: String) -> Active {
        let version = compiled.version().into();
        Active {
            compiled,
            version,
            source,
        }
    }
}

/// The name `dns-guard health` asks for; answered locally, whatever the policy says, so the
/// health check works with any policy and never reaches an upstream.
pub const HEALTH_NAME: &str = "health.dns-guard.invalid";

/// Where the answer to a query goes.
pub enum ReplyTo {
    Udp {
        socket: Arc<UdpSocket>,
        client: SocketAddr,
    },
    Tcp {
        tx: mpsc::Sender<Vec<u8>>,
        client: SocketAddr,
    },
}

impl ReplyTo {
    pub fn client(&self) -> SocketAddr {
        match self {
            ReplyTo::Udp { client, .. } | ReplyTo::Tcp { client, .. } => *client,
        }
    }

    fn limit(&self, q: &Query) -> usize {
        match self {
            ReplyTo::Udp { .. } => q.udp_limit(),
            ReplyTo::Tcp { .. } => 65_535,
        }
    }

    /// Sends without waiting: a full socket buffer or TCP queue drops the answer, and the
    /// client retries, as with any lost datagram.
    pub fn send(&self, bytes: Vec<u8>) {
        match self {
            ReplyTo::Udp { socket, client } => {
                let _ = socket.try_send_to(&bytes, *client);
            }
            ReplyTo::Tcp { tx, .. } => {
                let _ = tx.try_send(bytes);
            }
        }
    }
}

pub struct Guard {
    pub policy: ArcSwap<Active>,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
    pub cache: Option<Cache>,
    pub forwarder: Forwarder,
    health: Option<DnsName>,
    /// `answers.bin` in the run directory (set by `serve` when there is one).
    pub ledger: std::sync::OnceLock<crate::ledger::LedgerFile>,
}

/// A denied name found in a cached or forwarded answer's CNAME chain.
struct ChainDenial {
    target: String,
    rule: String,
    verdict: Verdict,
}

impl Guard {
    pub fn new(
        active: Active,
        metrics: Arc<Metrics>,
        audit: Audit,
        cache: Option<Cache>,
        forwarder: Forwarder,
    ) -> Guard {
        Guard {
            policy: ArcSwap::from_pointee(active),
            metrics,
            audit,
            cache,
            forwarder,
            health: DnsName::from_text(HEALTH_NAME.as_bytes()).ok(),
            ledger: std::sync::OnceLock::new(),
        }
    }

    /// Handles one query message from `client` (over TCP when `tcp`). Returns the answer when
    /// it is ready now; `None` when the query was forwarded (the answer goes to the `reply`
    /// target later) or is not answerable at all.
    pub fn handle(
        self: &Arc<Self>,
        msg: &[u8],
        client: SocketAddr,
        tcp: bool,
        reply: impl FnOnce() -> ReplyTo,
    ) -> Option<Vec<u8>> {
        let q = match query::parse(msg) {
            Parsed::Query(q) => q,
            Parsed::Drop => return None,
            Parsed::Error(rcode) => {
                let counter = if rcode == query::RCODE_NOTIMP {
                    &self.metrics.notimp
                } else {
                    &self.metrics.formerr
                };
                counter.fetch_add(1, Relaxed);
                return answer::error_answer(msg, rcode);
            }
        };
        if self
            .health
            .as_ref()
            .is_some_and(|h| h.wire() == q.name.wire())
        {
            return Some(answer::rcode_only(&q, RCODE_NOERROR, None));
        }
        let limit = if tcp { 65_535 } else { q.udp_limit() };
        let active = self.policy.load();
        let view = active.compiled.view();
        let decision = view.decide_dns(&q.name);
        let outcome = match decision.verdict {
            Verdict::Deny => {
                let rule = decision.rule.to_string();
                if view.mode() == Mode::Audit {
                    self.report(&q, "would-block", rule, &active, client, None);
                    Outcome::WouldBlock
                } else {
                    self.metrics.query(Outcome::Blocked, q.qtype);
                    let answer =
                        answer::blocked(&q, view.dns_answer(), view.block_ttl(), &rule, limit);
                    self.report(&q, "blocked", rule, &active, client, None);
                    return Some(answer);
                }
            }
            Verdict::Alert => {
                self.report(
                    &q,
                    "alerted",
                    decision.rule.to_string(),
                    &active,
                    client,
                    None,
                );
                Outcome::Alerted
            }
            Verdict::Allow => Outcome::Allowed,
        };
        // Counted when answered: a cached or forwarded answer whose CNAME chain is denied
        // counts as blocked instead.
        if let Some(cache) = &self.cache {
            if let Some(hit) = cache.get(&q, Instant::now()) {
                self.metrics.cache_hits.fetch_add(1, Relaxed);
                if let Some(denied) = self.check_chain(&view, &q, &hit.chain)
                    && let Some(blocked) =
                        self.chain_blocked(&q, &view, &active, &denied, client, limit)
                {
                    return Some(blocked);
                }
                self.metrics.query(outcome, q.qtype);
                self.record_answers(&view, outcome, &hit.bytes);
                let mut bytes = hit.bytes;
                answer::personalise(&mut bytes, &q);
                if bytes.len() > limit {
                    return Some(answer::truncated(&q));
                }
                return Some(bytes);
            }
            self.metrics.cache_misses.fetch_add(1, Relaxed);
        }
        if self
            .forwarder
            .submit(self, q, outcome, msg, reply())
            .is_err()
        {
            self.metrics.query(outcome, q.qtype);
            self.metrics.inflight_overflow.fetch_add(1, Relaxed);
            self.metrics.servfail.fetch_add(1, Relaxed);
            return Some(answer::rcode_only(
                &q,
                RCODE_SERVFAIL,
                Some((answer::EDE_OTHER, "too many queries in flight")),
            ));
        }
        None
    }

    fn report(
        &self,
        q: &Query,
        action: &'static str,
        rule: String,
        active: &Active,
        client: SocketAddr,
        target: Option<String>,
    ) {
        self.audit.emit(Event::Dns {
            action,
            name: q.name.to_string(),
            qtype: q.qtype,
            rule,
            policy_version: active.version.clone(),
            client,
            target,
        });
    }

    /// The first name of an answer's CNAME chain (other than the question) that the current
    /// policy denies or alerts on, when the policy inspects chains.
    fn check_chain(
        &self,
        view: &PolicyView<'_>,
        q: &Query,
        chain: &[DnsName],
    ) -> Option<ChainDenial> {
        if view.cname_mode() != CnameMode::Inspect {
            return None;
        }
        let mut alert = None;
        for name in chain {
            if name.wire() == q.name.wire() {
                continue;
            }
            let d = view.decide_dns(name);
            match d.verdict {
                Verdict::Deny => {
                    return Some(ChainDenial {
                        target: name.to_string(),
                        rule: d.rule.to_string(),
                        verdict: Verdict::Deny,
                    });
                }
                Verdict::Alert if alert.is_none() => {
                    alert = Some(ChainDenial {
                        target: name.to_string(),
                        rule: d.rule.to_string(),
                        verdict: Verdict::Alert,
                    });
                }
                _ => {}
            }
        }
        alert
    }

    /// Reports a chain finding; returns the blocked answer when the answer must not be served.
    fn chain_blocked(
        &self,
        q: &Query,
        view: &PolicyView<'_>,
        active: &Active,
        denial: &ChainDenial,
        client: SocketAddr,
        limit: usize,
    ) -> Option<Vec<u8>> {
        let target = Some(denial.target.clone());
        if denial.verdict == Verdict::Alert {
            self.report(q, "alerted", denial.rule.clone(), active, client, target);
            return None;
        }
        if view.mode() == Mode::Audit {
            self.report(
                q,
                "would-block",
                denial.rule.clone(),
                active,
                client,
                target,
            );
            return None;
        }
        self.report(q, "blocked", denial.rule.clone(), active, client, target);
        self.metrics.query(Outcome::Blocked, q.qtype);
        Some(answer::blocked(
            q,
            view.dns_answer(),
            view.block_ttl(),
            &denial.rule,
            limit,
        ))
    }

    /// Finishes a forwarded query with its upstream answer (already matched by ID and
    /// question). Runs on the upstream socket's receive loop, so it must not wait.
    pub fn complete(self: &Arc<Self>, p: Pending, mut answer_bytes: Vec<u8>) {
        let info = match response::inspect(&answer_bytes, p.query.question.as_bytes()) {
            Ok(info) => info,
            Err(_) => {
                self.metrics.upstream_failure(UpstreamFailure::Malformed);
                self.fail(p);
                return;
            }
        };
        if info.truncated && !p.via_tcp {
            self.forwarder.retry_tcp(self.clone(), p);
            return;
        }
        if info.rcode == RCODE_SERVFAIL || info.rcode == query::RCODE_REFUSED {
            self.metrics.upstream_failure(UpstreamFailure::Rcode);
        }
        let q = p.query;
        let active = self.policy.load();
        let view = active.compiled.view();
        if info.chain_overflow && view.cname_mode() == CnameMode::Inspect {
            // A chain too long to inspect is not served unchecked.
            self.metrics.upstream_failure(UpstreamFailure::Malformed);
            self.fail(p);
            return;
        }
        if let Some(cache) = &self.cache
            && (info.rcode == RCODE_NOERROR || info.rcode == query::RCODE_NXDOMAIN)
            && !info.truncated
            && let Some(ttl) = info.min_ttl
        {
            cache.put(&q, &answer_bytes, &info.ttl_offsets, &info.chain, ttl);
        }
        if let Some(denied) = self.check_chain(&view, &q, &info.chain)
            && let Some(blocked) = self.chain_blocked(
                &q,
                &view,
                &active,
                &denied,
                p.reply.client(),
                p.reply.limit(&q),
            )
        {
            p.reply.send(blocked);
            return;
        }
        self.metrics.query(p.outcome, q.qtype);
        self.record_answers(&view, p.outcome, &answer_bytes);
        answer::personalise(&mut answer_bytes, &q);
        if answer_bytes.len() > p.reply.limit(&q) {
            p.reply.send(answer::truncated(&q));
            return;
        }
        p.reply.send(answer_bytes);
    }

    /// Puts the addresses of an answer served for an allowed (or alerted) name into the
    /// ledger before the client sees them, so its `connect` finds them. Answers served only
    /// because of audit mode stay out: connects to them are reported as would-block too.
    fn record_answers(&self, view: &PolicyView<'_>, outcome: Outcome, answer: &[u8]) {
        if !matches!(outcome, Outcome::Allowed | Outcome::Alerted) {
            return;
        }
        if let Some(ledger) = self.ledger.get() {
            let grace = view
                .net()
                .map_or(guard_policy::DEFAULT_GRACE, |n| n.grace());
            ledger.record(answer, grace);
        }
    }

    /// Answers SERVFAIL for a query no upstream answered (counted by the caller).
    pub fn fail(&self, p: Pending) {
        self.metrics.query(p.outcome, p.query.qtype);
        self.metrics.servfail.fetch_add(1, Relaxed);
        let bytes = answer::rcode_only(
            &p.query,
            RCODE_SERVFAIL,
            Some((
                answer::EDE_NO_REACHABLE_AUTHORITY,
                "upstream did not answer",
            )),
        );
        p.reply.send(bytes);
    }
}
