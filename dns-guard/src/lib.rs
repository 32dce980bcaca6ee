//! The TaskGuard sidecar: a stub DNS resolver that answers only policy-allowed names, the
//! publisher of the compiled policy for the preload shims, and the task's audit log.
//!
//! Query path: [`server`] receives, [`query`] parses by hand, [`guard`] decides with
//! guard-policy *before* anything is forwarded, answers blocked names itself ([`answer`]),
//! serves from the [`cache`] or hands the query to the [`forward`]er, which completes it when
//! the upstream answers ([`response`] reads the answer for CNAME inspection and caching).
//! Around it: [`reload`] (hot policy reload from a [`source`]), [`publish`] (`--run-dir`),
//! [`events`] (the shim's event socket), [`audit`] (JSON lines), [`admin`] and [`metrics`].

pub mod admin;
pub mod answer;
pub mod audit;
pub mod audits;
pub mod batch;
pub mod cache;
pub mod cnaf;
pub mod commands;
pub mod cpus;
pub mod events;
pub mod forward;
pub mod guard;
pub mod ledger;
pub mod metrics;
pub mod publish;
pub mod query;
pub mod reload;
pub mod response;
pub mod serve;
pub mod server;
pub mod source;
