//! The outcome of a policy decision, and the global settings a decision is applied with.

/// What a rule (or the default) says about a name or a program.
///
/// Ordered by strength: on a tie between equally specific rules the stronger verdict wins
/// (`Deny` > `Alert` > `Allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "compile", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "compile", serde(rename_all = "lowercase"))]
#[repr(u8)]
pub enum Verdict {
    /// Let it through silently.
    Allow = 0,
    /// Let it through and report it.
    Alert = 1,
    /// Block it (in audit mode: let it through and report it as `would-block`).
    Deny = 2,
}

impl Verdict {
    /// The name used in policy files and audit events: `allow`, `alert`, `deny`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Alert => "alert",
            Verdict::Deny => "deny",
        }
    }
}

/// `enforce` blocks what the policy denies; `audit` blocks nothing and reports what would
/// have been blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "compile", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "compile", serde(rename_all = "lowercase"))]
#[repr(u8)]
pub enum Mode {
    Enforce = 0,
    Audit = 1,
}

/// How the sidecar answers a blocked name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "compile", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "compile", serde(rename_all = "lowercase"))]
#[repr(u8)]
pub enum DnsAnswer {
    /// NXDOMAIN with an SOA in the authority section (negatively cacheable).
    NxDomain = 0,
    /// NOERROR with no answers and an SOA in the authority section.
    NoData = 1,
    /// REFUSED.
    Refused = 2,
}

/// Whether the names in an answer's CNAME chain are checked too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "compile", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "compile", serde(rename_all = "lowercase"))]
#[repr(u8)]
pub enum CnameMode {
    /// Every name in the chain must be allowed.
    Inspect = 0,
    /// Only the question name is checked.
    Trust = 1,
}

/// The rule that made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleRef<'a> {
    /// No rule matched; the section's `default` decided.
    Default { section: Section },
    /// A pattern from one of the section's lists decided. `pattern` is the normalised form
    /// (A-labels, lower case, no trailing dot for names).
    Pattern {
        section: Section,
        list: Verdict,
        pattern: &'a str,
    },
    /// A decision the policy makes without a rule of its own: `net.loopback` (the task's
    /// shared loopback is always allowed), `net.answers` (an address an allowed name
    /// resolved to).
    Builtin {
        section: Section,
        what: &'static str,
    },
}

/// The sections of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Dns,
    Process,
    Net,
}

impl Section {
    pub const fn as_str(self) -> &'static str {
        match self {
            Section::Dns => "dns",
            Section::Process => "process",
            Section::Net => "net",
        }
    }
}

/// A verdict and the rule that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision<'a> {
    pub verdict: Verdict,
    pub rule: RuleRef<'a>,
}

impl<'a> Decision<'a> {
    /// The stricter of two decisions (the stronger verdict; on equal verdicts, `self`).
    /// Used when one launch has several candidate paths (as invoked, each symlink hop, the
    /// real path): the launch is denied if any of them is.
    pub fn stricter(self, other: Decision<'a>) -> Decision<'a> {
        if other.verdict > self.verdict {
            other
        } else {
            self
        }
    }
}

impl core::fmt::Display for RuleRef<'_> {
    /// The rule as it appears in audit events and `dns-guard check`:
    /// `dns.deny:*.ngrok.io`, `process.alert:curl`, `dns.default`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RuleRef::Default { section } => write!(f, "{}.default", section.as_str()),
            RuleRef::Builtin { section, what } => write!(f, "{}.{}", section.as_str(), what),
            RuleRef::Pattern {
                section,
                list,
                pattern,
            } => {
                write!(f, "{}.{}:{}", section.as_str(), list.as_str(), pattern)
            }
        }
    }
}
