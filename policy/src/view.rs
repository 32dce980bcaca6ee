//! The one matcher: decisions over a compiled policy blob, without parsing or allocating.
//!
//! The blob is produced by [`crate::Policy::compile`] and published by the sidecar as
//! `policy.bin`. Opening a view checks only the fixed-size header, so the cost of opening does
//! not grow with the number of rules; every later read is bounds-checked, so a truncated or
//! corrupt blob gives a decision-free error or the default, never a crash. The layout is
//! described in [`crate::format`].

use crate::decision::{CnameMode, Decision, DnsAnswer, Mode, RuleRef, Section, Verdict};
use crate::format::*;
use crate::glob_index::{GlobSet, verdict_of};
use crate::hash;
use crate::name::DnsName;
use crate::net::{Destination, NetView};
use crate::table::Table;

/// Where a DNS slot keeps its two verdicts.
const EXACT_VERDICT: usize = 2;
const WILD_VERDICT: usize = 3;

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

impl core::fmt::Display for ViewError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ViewError::NotAPolicy => f.write_str("not a compiled TaskGuard policy"),
            ViewError::UnsupportedFormat(v) => {
                write!(
                    f,
                    "compiled policy format {v} is not supported (expected {FORMAT_VERSION})"
                )
            }
            ViewError::Truncated => f.write_str("compiled policy is truncated or corrupt"),
        }
    }
}

/// A compiled policy, borrowed from bytes (a `Vec<u8>` or an `mmap`).
#[derive(Clone, Copy)]
pub struct PolicyView<'a> {
    blob: &'a [u8],
    mode: Mode,
    answer: DnsAnswer,
    cname: CnameMode,
    dns_default: Verdict,
    process_default: Verdict,
    block_ttl: u32,
    /// Most labels of an exact rule / of a wildcard's base: longer keys are not looked up.
    max_exact_labels: usize,
    max_wild_labels: usize,
    version: &'a str,
    dns: Table,
    paths: Table,
    names: Table,
    path_globs: GlobSet,
    name_globs: GlobSet,
    pool: Pool<'a>,
    net: Option<NetView<'a>>,
}

/// Whether a wire-form name and a dotted text name (no escapes, as rules are) have the same
/// labels. Text byte `j` lines up with wire byte `j + 1`: labels compare as slices and each
/// length byte lines up with a dot. A wire label holding a dot byte (`dotted`) can never
/// equal a rule label.
fn wire_is_text(wire: &[u8], text: &[u8], dotted: bool) -> bool {
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        let len = len as usize;
        let (Some(label), Some(seg)) = (wire.get(pos + 1..pos + 1 + len), text.get(pos..pos + len))
        else {
            return false;
        };
        if label != seg || (dotted && label.contains(&b'.')) {
            return false;
        }
        pos += 1 + len;
        if pos == wire.len() {
            return pos == text.len() + 1;
        }
        if text.get(pos - 1) != Some(&b'.') {
            return false;
        }
    }
    false
}

impl<'a> PolicyView<'a> {
    /// Checks the header and returns a view. O(1) in the number of rules.
    pub fn open(blob: &'a [u8]) -> Result<PolicyView<'a>, ViewError> {
        let header = blob.get(..HEADER_LEN).ok_or(ViewError::Truncated)?;
        if header[..8] != MAGIC {
            return Err(ViewError::NotAPolicy);
        }
        let field = |at: usize| u32_at(header, at).ok_or(ViewError::Truncated);
        let format = field(OFF_FORMAT)?;
        if format != FORMAT_VERSION {
            return Err(ViewError::UnsupportedFormat(format));
        }
        let blob = blob
            .get(..field(OFF_BLOB_LEN)? as usize)
            .ok_or(ViewError::Truncated)?;
        let mode = match header[OFF_MODE] {
            0 => Mode::Enforce,
            1 => Mode::Audit,
            _ => return Err(ViewError::NotAPolicy),
        };
        let answer = match header[OFF_ANSWER] {
            0 => DnsAnswer::NxDomain,
            1 => DnsAnswer::NoData,
            2 => DnsAnswer::Refused,
            _ => return Err(ViewError::NotAPolicy),
        };
        let cname = match header[OFF_CNAME] {
            0 => CnameMode::Inspect,
            1 => CnameMode::Trust,
            _ => return Err(ViewError::NotAPolicy),
        };
        let dns_default = verdict_of(header[OFF_DNS_DEFAULT]).ok_or(ViewError::NotAPolicy)?;
        let process_default =
            verdict_of(header[OFF_PROCESS_DEFAULT]).ok_or(ViewError::NotAPolicy)?;
        let version_bytes = &header[OFF_VERSION..OFF_VERSION + VERSION_LEN];
        if !version_bytes.iter().all(|b| b.is_ascii_hexdigit()) {
            return Err(ViewError::NotAPolicy);
        }
        let version = core::str::from_utf8(version_bytes).map_err(|_| ViewError::NotAPolicy)?;
        let (pool_off, pool_len) = (field(OFF_POOL)? as usize, field(OFF_POOL + 4)? as usize);
        let pool = pool_off
            .checked_add(pool_len)
            .and_then(|end| blob.get(pool_off..end))
            .ok_or(ViewError::Truncated)?;
        Ok(PolicyView {
            blob,
            mode,
            answer,
            cname,
            dns_default,
            process_default,
            block_ttl: field(OFF_BLOCK_TTL)?,
            max_exact_labels: header[OFF_MAX_EXACT_LABELS] as usize,
            max_wild_labels: header[OFF_MAX_WILD_LABELS] as usize,
            version,
            dns: Table::at(blob, OFF_DNS_TABLE, DNS_SLOT_LEN, 0)?,
            paths: Table::at(blob, OFF_PATH_TABLE, EXACT_SLOT_LEN, 0)?,
            names: Table::at(blob, OFF_NAME_TABLE, EXACT_SLOT_LEN, 0)?,
            path_globs: GlobSet::at(
                blob,
                OFF_PATH_GLOBS,
                OFF_PATH_PREFIX_INDEX,
                OFF_PATH_SUFFIX_INDEX,
                [filters_at(0), filters_at(1)],
            )?,
            name_globs: GlobSet::at(
                blob,
                OFF_NAME_GLOBS,
                OFF_NAME_PREFIX_INDEX,
                OFF_NAME_SUFFIX_INDEX,
                [filters_at(2), filters_at(3)],
            )?,
            pool: Pool(pool),
            net: match field(OFF_NET)? as usize {
                0 => None,
                off => Some(NetView::at(blob, off).ok_or(ViewError::Truncated)?),
            },
        })
    }

    /// The `[net]` section, `None` when the policy has none (every destination allowed).
    pub fn net(&self) -> Option<NetView<'a>> {
        self.net
    }

    /// The decision for a connection or datagram to `dest` (see [`crate::net`] for the
    /// order). `answered`: an allowed name resolved to this address in the task (the
    /// answers ledger or the process's own lookups). Without a `[net]` section everything
    /// is allowed by `net.default`.
    pub fn decide_net(&self, dest: &Destination, answered: bool) -> Decision<'a> {
        let builtin = |what| Decision {
            verdict: Verdict::Allow,
            rule: RuleRef::Builtin {
                section: Section::Net,
                what,
            },
        };
        let default = |verdict| Decision {
            verdict,
            rule: RuleRef::Default {
                section: Section::Net,
            },
        };
        let Some(net) = self.net else {
            return default(Verdict::Allow);
        };
        if dest.is_loopback() {
            return builtin("loopback");
        }
        match net.rule(dest) {
            Some((verdict, pattern)) => Decision {
                verdict,
                rule: RuleRef::Pattern {
                    section: Section::Net,
                    list: verdict,
                    pattern,
                },
            },
            None if answered => builtin("answers"),
            None => default(net.default()),
        }
    }

    /// The policy's version: a hash of its normalised content, e.g. `"3f9c0e1d2a7b4c55"`.
    pub fn version(&self) -> &'a str {
        self.version
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn dns_answer(&self) -> DnsAnswer {
        self.answer
    }

    pub fn cname_mode(&self) -> CnameMode {
        self.cname
    }

    /// Negative TTL (seconds) of blocked answers (`dns.block_ttl`).
    pub fn block_ttl(&self) -> u32 {
        self.block_ttl
    }

    /// The verdict for names no rule matches (`dns.default`).
    pub fn dns_default(&self) -> Verdict {
        self.dns_default
    }

    /// The verdict for programs no rule matches (`process.default`).
    pub fn process_default(&self) -> Verdict {
        self.process_default
    }

    /// The DNS decision for a name: an exact rule for the name, else the wildcard rule
    /// (`*.suffix`) with the longest suffix, else `dns.default`. On equally specific rules the
    /// stronger verdict wins (deny > alert > allow).
    pub fn decide_dns(&self, name: &DnsName) -> Decision<'a> {
        let wire = name.wire();
        let dotted = name.has_dotted_label();
        let mut labels = name.label_count();
        if labels <= self.max_exact_labels
            && let Some(d) = self.dns_rule(wire, dotted, EXACT_VERDICT, 2)
        {
            return d;
        }
        // Suffixes at label boundaries, longest first, skipping those with more labels
        // than any wildcard's base. A base has at least two labels, so a one-label suffix
        // never has a wildcard.
        let mut rest = wire;
        while let Some(&first) = rest.first() {
            let Some(next) = rest.get(1 + first as usize..) else {
                break;
            };
            rest = next;
            labels = labels.saturating_sub(1);
            if labels < 2 {
                break;
            }
            if labels <= self.max_wild_labels
                && let Some(d) = self.dns_rule(rest, dotted, WILD_VERDICT, 0)
            {
                return d;
            }
        }
        Decision {
            verdict: self.dns_default,
            rule: RuleRef::Default {
                section: Section::Dns,
            },
        }
    }

    /// The process decision for one absolute, normalised program path (no `.`/`..`, no `//`).
    /// Precedence: exact path > exact file name > path glob > file-name glob > default; among
    /// globs of one kind the one with more literal characters wins; then deny > alert > allow.
    /// Callers with several candidate paths for one launch combine them with
    /// [`Decision::stricter`].
    pub fn decide_process(&self, path: &[u8]) -> Decision<'a> {
        let file_name = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => &path[i + 1..],
            None => path,
        };
        let (name_rule, has_paths) = match self.exact_raw(self.names, file_name) {
            Some((byte, text)) => (
                verdict_of(byte & !NAME_HAS_PATHS).map(|v| (v, text)),
                byte & NAME_HAS_PATHS != 0,
            ),
            None => (None, false),
        };
        let path_rule = if has_paths {
            self.exact(self.paths, path)
        } else {
            None
        };
        let found = path_rule
            .or(name_rule)
            .or_else(|| self.path_globs.best(self.blob, self.pool, path))
            .or_else(|| self.name_globs.best(self.blob, self.pool, file_name));
        match found {
            Some((verdict, pattern)) => Decision {
                verdict,
                rule: RuleRef::Pattern {
                    section: Section::Process,
                    list: verdict,
                    pattern,
                },
            },
            None => Decision {
                verdict: self.process_default,
                rule: RuleRef::Default {
                    section: Section::Process,
                },
            },
        }
    }

    /// The DNS rule for a key (wire form) of one kind: exact (`EXACT_VERDICT`, pattern =
    /// text without `*.`) or wildcard (`WILD_VERDICT`, pattern = the text).
    fn dns_rule(
        &self,
        key: &[u8],
        dotted: bool,
        verdict_at: usize,
        skip: usize,
    ) -> Option<Decision<'a>> {
        if key.is_empty() {
            return None;
        }
        let (verdict, pattern) = self.dns.find(self.blob, hash::hash(key), |slot| {
            let text_len = slot[1] as usize;
            if text_len != key.len() + 1 {
                return None;
            }
            let text = self.pool.bytes(u32_at(slot, 4)?, text_len)?;
            if !wire_is_text(key, text.get(2..)?, dotted) {
                return None;
            }
            // The key is found; a missing verdict of this kind ends the search too.
            Some(verdict_of(slot[verdict_at]).and_then(|v| {
                let text = core::str::from_utf8(text).ok()?;
                Some((v, text.get(skip..)?))
            }))
        })??;
        let rule = RuleRef::Pattern {
            section: Section::Dns,
            list: verdict,
            pattern,
        };
        Some(Decision { verdict, rule })
    }

    /// Exact lookup in the path table: (verdict, pattern).
    fn exact(&self, table: Table, key: &[u8]) -> Option<(Verdict, &'a str)> {
        let (byte, text) = self.exact_raw(table, key)?;
        Some((verdict_of(byte)?, text))
    }

    /// Exact lookup of a key: its slot's verdict byte and text.
    fn exact_raw(&self, table: Table, key: &[u8]) -> Option<(u8, &'a str)> {
        if key.is_empty() {
            return None;
        }
        table.find(self.blob, hash::hash(key), |slot| {
            let len = u16::from_le_bytes([slot[2], slot[3]]) as usize;
            if len != key.len() {
                return None;
            }
            let text = self.pool.bytes(u32_at(slot, 4)?, len)?;
            if text != key {
                return None;
            }
            Some((slot[1], core::str::from_utf8(text).ok()?))
        })
    }
}

impl core::fmt::Debug for PolicyView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PolicyView")
            .field("version", &self.version)
            .field("bytes", &self.blob.len())
            .finish()
    }
}

impl PolicyView<'static> {
    /// A view that denies everything and matches no rule: what a caller falls back to when
    /// it cannot use a blob (fail closed).
    pub const fn deny_all() -> PolicyView<'static> {
        PolicyView {
            blob: &[],
            mode: Mode::Enforce,
            answer: DnsAnswer::NxDomain,
            cname: CnameMode::Inspect,
            dns_default: Verdict::Deny,
            process_default: Verdict::Deny,
            block_ttl: 5,
            max_exact_labels: 0,
            max_wild_labels: 0,
            version: "0000000000000000",
            dns: Table::EMPTY,
            paths: Table::EMPTY,
            names: Table::EMPTY,
            path_globs: GlobSet::EMPTY,
            name_globs: GlobSet::EMPTY,
            pool: Pool(&[]),
            net: None,
        }
    }
}
