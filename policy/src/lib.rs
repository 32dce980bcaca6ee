//! TaskGuard's one policy model.
//!
//! Every part of TaskGuard decides with this crate and nothing else: the sidecar for DNS
//! queries, the preload shim and `guard-exec` for process launches and name lookups, the CLIs
//! for `check` and `validate`.
//!
//! A policy document (TOML for people, JSON for machines, same field names) is parsed and
//! validated ([`Policy::from_toml`], [`Policy::from_json`], [`Policy::load`]), normalised
//! (A-labels, lower case, no trailing dot, duplicates merged) and compiled
//! ([`Policy::compile`]) into a compact byte blob. [`PolicyView`] decides over that blob
//! without parsing or allocating, so the same matcher runs in the sidecar (over a `Vec<u8>`)
//! and in every process of the app containers (over a read-only `mmap` of `policy.bin`), where
//! the cost of loading must not grow with the number of rules.
//!
//! Without the default `compile` feature the crate is `no_std` and offers only the view.
#![cfg_attr(not(feature = "compile"), no_std)]

mod decision;
mod format;
mod glob;
mod glob_index;
mod hash;
mod name;
mod net;
mod table;
mod view;

#[cfg(feature = "compile")]
mod compile;
#[cfg(feature = "compile")]
mod document;
#[cfg(feature = "compile")]
mod error;
#[cfg(feature = "compile")]
mod pattern;
#[cfg(feature = "compile")]
mod schema;
#[cfg(feature = "compile")]
mod tree;
#[cfg(feature = "compile")]
mod waf;

pub use decision::{CnameMode, Decision, DnsAnswer, Mode, RuleRef, Section, Verdict};
pub use name::{DnsName, NameError};
pub use net::{DEFAULT_GRACE, Destination, MAX_GRACE, NetView};
pub use view::{PolicyView, ViewError};

#[cfg(feature = "compile")]
pub use compile::CompiledPolicy;
#[cfg(feature = "compile")]
pub use document::{DnsSection, Policy, ProcessSection};
#[cfg(feature = "compile")]
pub use error::{PolicyError, PolicyErrors};
#[cfg(feature = "compile")]
pub use net::NetSection;
#[cfg(feature = "compile")]
pub use waf::{
    BlockPage, ClientLists, HeaderRule, Limits, RateLimit, ResponseSwitches, Tls, WafException,
    WafMode, WafSection,
};
/// The protection names `[waf]` accepts (guard-waf's, kept equal by a test in dns-guard).
#[cfg(feature = "compile")]
pub fn waf_protections() -> &'static [&'static str] {
    &waf::PROTECTIONS
}
