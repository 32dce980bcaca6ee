//! CNAF: the sidecar as a reverse proxy in front of the task's web app.
//!
//! `[waf]` names the exposed address and the app's; the proxy ([`proxy`]) reads each request,
//! applies access control ([`settings`], [`bans`]) and the guard-waf engine, answers blocked
//! requests itself and forwards the rest over pooled keep-alive connections. Every alert,
//! block and ban is one audit line ([`report`]). The settings are swapped atomically on a
//! policy reload, so new requests see new rules while open connections keep running.

pub mod bans;
pub mod body;
pub mod proxy;
pub mod report;
pub mod settings;

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use guard_policy::CompiledPolicy;

use crate::audit::Audit;
pub use settings::{Settings, SettingsError};

/// The running proxy: its settings (swapped on reload), ban table and counters.
pub struct Cnaf {
    pub settings: ArcSwapOption<Settings>,
    pub bans: bans::Bans,
    pub metrics: report::CnafMetrics,
    pub audit: Audit,
}

static RUNNING: OnceLock<Arc<Cnaf>> = OnceLock::new();

/// The proxy of this process, once started.
pub fn running() -> Option<&'static Arc<Cnaf>> {
    RUNNING.get()
}

/// Reads a policy's `[waf]` and loads its rules: `Ok(None)` when it has none. Called before a
/// policy is taken into service, so an invalid section refuses the whole policy.
pub fn prepare(compiled: &CompiledPolicy) -> Result<Option<Arc<Settings>>, SettingsError> {
    Settings::from_compiled(compiled).map(|s| s.map(Arc::new))
}

/// Takes prepared settings into service: starts the proxy the first time a policy has a
/// `[waf]`, else swaps the settings (new requests only; open connections are kept).
pub fn commit(prepared: Option<Arc<Settings>>, audit: impl FnOnce() -> Audit) {
    match (RUNNING.get(), prepared) {
        (Some(cnaf), s) => cnaf.settings.store(s),
        (None, Some(s)) => {
            let cnaf = Arc::new(Cnaf {
                settings: ArcSwapOption::from(Some(s.clone())),
                bans: bans::Bans::default(),
                metrics: report::CnafMetrics::default(),
                audit: audit(),
            });
            if RUNNING.set(cnaf.clone()).is_ok() {
                tokio::spawn(proxy::listen(cnaf, s.listen));
            }
        }
        (None, None) => {}
    }
}
