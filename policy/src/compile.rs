//! Compiling a policy into the blob that [`crate::PolicyView`] reads.

use crate::document::Policy;
use crate::view::PolicyView;

/// A compiled policy: the blob, its version, and the canonical document.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    blob: Vec<u8>,
    version: String,
    canonical_json: String,
}

impl CompiledPolicy {
    /// The compact form, as published in `policy.bin`.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The version (hash of the canonical content), as in every audit event.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The canonical document as published in `policy.json`: the normalised policy plus a
    /// `"version"` field, pretty-printed, trailing newline. [`Policy::from_json`] reads it back
    /// to an equal policy with the same version.
    pub fn to_json(&self) -> &str {
        &self.canonical_json
    }

    /// A view over this policy's blob. Never fails for a blob this crate compiled.
    pub fn view(&self) -> PolicyView<'_> {
        todo!()
    }

    #[allow(dead_code)]
    pub(crate) fn from_parts(policy: &Policy) -> CompiledPolicy {
        let _ = policy;
        todo!()
    }
}
