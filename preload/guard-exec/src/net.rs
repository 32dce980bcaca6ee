//! Connection decisions of the supervisor: the plug for the `[net]` policy section. Until the
//! policy has one, the filter does not send these calls at all ([`filtered`] is false), so a
//! program that connects pays nothing; [`decide`] lets through whatever arrives.

use guard_preload_core::Config;

use crate::seccomp::Notif;

pub enum Verdict {
    Continue,
    #[allow(dead_code)]
    Fail(i32),
}

/// Whether `connect` and the destination-carrying sends go to the supervisor.
pub fn filtered(_cfg: &Config) -> bool {
    false
}

pub fn decide(_cfg: &Config, _req: &Notif) -> Verdict {
    Verdict::Continue
}
