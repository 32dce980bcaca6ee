//! DNS names as the matcher sees them: lower-case wire format on the stack.
//!
//! Matching compares labels, never strings split on dots: `a\.b.example.com` (one label
//! containing a dot) must not match a rule for `b.example.com`. The wire form (length-prefixed
//! labels, no root label) makes every label-boundary suffix a contiguous sub-slice, so the
//! matcher hashes suffixes without copying or allocating.

/// Longest name in wire form without the root label (255 minus the root's length byte).
pub const MAX_WIRE_LEN: usize = 254;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;

/// A DNS name in lower-case wire form, without the root label, held inline (no allocation).
#[derive(Clone, Copy)]
pub struct DnsName {
    wire: [u8; MAX_WIRE_LEN],
    len: u8,
}

/// Why a name cannot be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    EmptyLabel,
    LabelTooLong,
    NameTooLong,
    BadEscape,
}

impl DnsName {
    /// From presentation form as applications pass it to `getaddrinfo` or as users type it:
    /// ASCII, any case, optional trailing dot, `\.` and `\DDD` escapes. Non-ASCII bytes are
    /// kept as they are (they can never match a rule, which are all A-labels).
    pub fn from_text(text: &[u8]) -> Result<DnsName, NameError> {
        let _ = text;
        todo!()
    }

    /// From uncompressed wire labels (as parsed from a DNS message), lower-casing them.
    pub fn from_labels<'l, I>(labels: I) -> Result<DnsName, NameError>
    where
        I: IntoIterator<Item = &'l [u8]>,
    {
        let _ = labels;
        todo!()
    }

    /// The lower-case wire form without the root label.
    pub fn wire(&self) -> &[u8] {
        &self.wire[..self.len as usize]
    }

    /// Number of labels (0 for the root).
    pub fn label_count(&self) -> usize {
        todo!()
    }
}

impl core::fmt::Display for DnsName {
    /// Presentation form without the trailing dot, escaping `.` and `\` inside labels and
    /// non-printable bytes as `\DDD`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let _ = f;
        todo!()
    }
}

impl core::fmt::Debug for DnsName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DnsName({self})")
    }
}
