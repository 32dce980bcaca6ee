//! The one matcher: decisions over a compiled policy blob, without parsing or allocating.
//!
//! The blob is produced by [`crate::Policy::compile`] and published by the sidecar as
//! `policy.bin`. Opening a view checks only the fixed-size header, so the cost of opening does
//! not grow with the number of rules; every later read is bounds-checked, so a truncated or
//! corrupt blob gives a decision-free error or the default, never a crash.

use crate::decision::{CnameMode, Decision, DnsAnswer, Mode};
use crate::name::DnsName;

/// Why a blob cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewError {
    /// Not a compiled policy (wrong magic).
    NotAPolicy,
    /// A compiled policy of a format version this build does not read.
    UnsupportedFormat(u32),
    /// The header points outside the blob.
    Truncated,
}

/// A compiled policy, borrowed from bytes (a `Vec<u8>` or an `mmap`).
#[derive(Clone, Copy)]
pub struct PolicyView<'a> {
    blob: &'a [u8],
}

impl<'a> PolicyView<'a> {
    /// Checks the header and returns a view. O(1) in the number of rules.
    pub fn open(blob: &'a [u8]) -> Result<PolicyView<'a>, ViewError> {
        let _ = blob;
        todo!()
    }

    /// The policy's version: a hash of its normalised content, e.g. `"3f9c0e1d2a7b4c55"`.
    pub fn version(&self) -> &'a str {
        todo!()
    }

    pub fn mode(&self) -> Mode {
        todo!()
    }

    pub fn dns_answer(&self) -> DnsAnswer {
        todo!()
    }

    pub fn cname_mode(&self) -> CnameMode {
        todo!()
    }

    /// Negative TTL (seconds) of blocked answers (`dns.block_ttl`).
    pub fn block_ttl(&self) -> u32 {
        todo!()
    }

    /// The DNS decision for a name: an exact rule for the name, else the wildcard rule
    /// (`*.suffix`) with the longest suffix, else `dns.default`. On equally specific rules the
    /// stronger verdict wins (deny > alert > allow).
    pub fn decide_dns(&self, name: &DnsName) -> Decision<'a> {
        let _ = name;
        todo!()
    }

    /// The process decision for one absolute, normalised program path (no `.`/`..`, no `//`).
    /// Precedence: exact path > exact file name > path glob > file-name glob > default; among
    /// globs of one kind the one with more literal characters wins; then deny > alert > allow.
    /// Callers with several candidate paths for one launch combine them with
    /// [`Decision::stricter`].
    pub fn decide_process(&self, path: &[u8]) -> Decision<'a> {
        let _ = path;
        todo!()
    }
}
