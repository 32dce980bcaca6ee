//! The one matcher: decisions over a compiled policy blob, without parsing or allocating.
//!
//! The blob is produced by [`crate::Policy::compile`] and published by the sidecar as
//! `policy.bin`. Opening a view checks only the fixed-size header, so the cost of opening does
//! not grow with the number of rules; every later read is bounds-checked, so a truncated or
//! corrupt blob gives a decision-free error or the default, never a crash. The layout is
//! described in [`crate::format`].

use crate::decision::{CnameMode, Decision, DnsAnswer, Mode, RuleRef, Section, Verdict};
use crate::format::*;
use crate::glob;
use crate::hash;
use crate::name::DnsName;

/// Where a DNS slot keeps its two verdicts.
const EXACT_VERDICT: usize = 10;
const WILD_VERDICT: usize = 11;

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

/// A section of the blob: where it starts and how many entries (or bytes, for the pool).
#[derive(Clone, Copy, Default)]
struct Span {
    off: usize,
    len: usize,
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
    version: &'a str,
    dns: Span,
    paths: Span,
    names: Span,
    path_globs: GlobSet,
    name_globs: GlobSet,
    pool: Span,
}

/// A glob array with its two indexes (spans of their slots; the bitmap precedes them).
#[derive(Clone, Copy, Default)]
struct GlobSet {
    globs: Span,
    prefix: Span,
    suffix: Span,
}

fn u32_at(blob: &[u8], off: usize) -> Option<u32> {
    let bytes = blob.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn verdict(b: u8) -> Option<Verdict> {
    match b {
        0 => Some(Verdict::Allow),
        1 => Some(Verdict::Alert),
        2 => Some(Verdict::Deny),
        _ => None,
    }
}

/// A section from the header, checked to lie inside the blob: `entry_len` bytes per entry
/// after `skip` leading bytes; tables must have a power-of-two capacity.
fn section(
    blob: &[u8],
    at: usize,
    entry_len: usize,
    skip: usize,
    table: bool,
) -> Result<Span, ViewError> {
    let off = u32_at(blob, at).ok_or(ViewError::Truncated)? as usize;
    let len = u32_at(blob, at + 4).ok_or(ViewError::Truncated)? as usize;
    if table && len != 0 && !len.is_power_of_two() {
        return Err(ViewError::NotAPolicy);
    }
    let start = off.checked_add(skip).ok_or(ViewError::Truncated)?;
    let end = len
        .checked_mul(entry_len)
        .and_then(|b| b.checked_add(start));
    match end {
        Some(end) if end <= blob.len() => Ok(Span { off: start, len }),
        _ => Err(ViewError::Truncated),
    }
}

fn glob_set(blob: &[u8], globs: usize, prefix: usize, suffix: usize) -> Result<GlobSet, ViewError> {
    Ok(GlobSet {
        globs: section(blob, globs, ENTRY_LEN, 0, false)?,
        prefix: section(blob, prefix, INDEX_SLOT_LEN, BITMAP_LEN, true)?,
        suffix: section(blob, suffix, INDEX_SLOT_LEN, BITMAP_LEN, true)?,
    })
}

/// Whether a wire-form name and a dotted text name (no escapes, as rules are) have the same
/// labels. A wire label containing a dot never equals a text label.
fn wire_is_text(mut wire: &[u8], mut text: &[u8]) -> bool {
    while let Some((&len, rest)) = wire.split_first() {
        let end = text.iter().position(|&b| b == b'.').unwrap_or(text.len());
        if rest.get(..len as usize) != Some(&text[..end]) {
            return false;
        }
        wire = &rest[end..];
        text = match text.get(end + 1..) {
            // A dot was consumed: another label must follow in both.
            Some(next) if !wire.is_empty() => next,
            Some(_) => return false,
            None => return wire.is_empty(),
        };
    }
    false
}

/// The best glob match so far: (literal count, verdict, pattern offset, pattern length).
type Best = Option<(u32, Verdict, u32, usize)>;

impl<'a> PolicyView<'a> {
    /// Checks the header and returns a view. O(1) in the number of rules.
    pub fn open(blob: &'a [u8]) -> Result<PolicyView<'a>, ViewError> {
        let header = blob.get(..HEADER_LEN).ok_or(ViewError::Truncated)?;
        if header[..8] != MAGIC {
            return Err(ViewError::NotAPolicy);
        }
        let format = u32_at(header, OFF_FORMAT).ok_or(ViewError::Truncated)?;
        if format != FORMAT_VERSION {
            return Err(ViewError::UnsupportedFormat(format));
        }
        let blob_len = u32_at(header, OFF_BLOB_LEN).ok_or(ViewError::Truncated)? as usize;
        let blob = blob.get(..blob_len).ok_or(ViewError::Truncated)?;
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
        let dns_default = verdict(header[OFF_DNS_DEFAULT]).ok_or(ViewError::NotAPolicy)?;
        let process_default = verdict(header[OFF_PROCESS_DEFAULT]).ok_or(ViewError::NotAPolicy)?;
        let block_ttl = u32_at(header, OFF_BLOCK_TTL).ok_or(ViewError::Truncated)?;
        let version_bytes = &header[OFF_VERSION..OFF_VERSION + VERSION_LEN];
        if !version_bytes.iter().all(|b| b.is_ascii_hexdigit()) {
            return Err(ViewError::NotAPolicy);
        }
        let version = core::str::from_utf8(version_bytes).map_err(|_| ViewError::NotAPolicy)?;
        let pool_off = u32_at(header, OFF_POOL).ok_or(ViewError::Truncated)? as usize;
        let pool_len = u32_at(header, OFF_POOL + 4).ok_or(ViewError::Truncated)? as usize;
        match pool_off.checked_add(pool_len) {
            Some(end) if end <= blob.len() => {}
            _ => return Err(ViewError::Truncated),
        }
        Ok(PolicyView {
            blob,
            mode,
            answer,
            cname,
            dns_default,
            process_default,
            block_ttl,
            version,
            dns: section(blob, OFF_DNS_TABLE, DNS_SLOT_LEN, 0, true)?,
            paths: section(blob, OFF_PATH_TABLE, ENTRY_LEN, 0, true)?,
            names: section(blob, OFF_NAME_TABLE, ENTRY_LEN, 0, true)?,
            path_globs: glob_set(
                blob,
                OFF_PATH_GLOBS,
                OFF_PATH_PREFIX_INDEX,
                OFF_PATH_SUFFIX_INDEX,
            )?,
            name_globs: glob_set(
                blob,
                OFF_NAME_GLOBS,
                OFF_NAME_PREFIX_INDEX,
                OFF_NAME_SUFFIX_INDEX,
            )?,
            pool: Span {
                off: pool_off,
                len: pool_len,
            },
        })
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
        if let Some(slot) = self.dns_slot(wire)
            && let Some(d) = self.dns_rule(slot, EXACT_VERDICT, 2)
        {
            return d;
        }
        // Suffixes at label boundaries, longest first. A wildcard has at least two labels
        // after `*.`, so a one-label suffix never has one.
        let mut rest = wire;
        while let Some(&first) = rest.first() {
            let Some(next) = rest.get(1 + first as usize..) else {
                break;
            };
            rest = next;
            match rest.first() {
                Some(&len) if (len as usize) + 1 < rest.len() => {}
                _ => break,
            }
            if let Some(slot) = self.dns_slot(rest)
                && let Some(d) = self.dns_rule(slot, WILD_VERDICT, 0)
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
        if let Some(d) = self.exact(self.paths, path) {
            return d;
        }
        if let Some(d) = self.exact(self.names, file_name) {
            return d;
        }
        if let Some(d) = self.best_glob(self.path_globs, path) {
            return d;
        }
        if let Some(d) = self.best_glob(self.name_globs, file_name) {
            return d;
        }
        Decision {
            verdict: self.process_default,
            rule: RuleRef::Default {
                section: Section::Process,
            },
        }
    }

    fn entry(&self, span: Span, index: usize) -> Option<&'a [u8]> {
        let start = span.off.checked_add(index.checked_mul(ENTRY_LEN)?)?;
        self.blob.get(start..start.checked_add(ENTRY_LEN)?)
    }

    fn pool_bytes(&self, off: u32, len: usize) -> Option<&'a [u8]> {
        let pool = self
            .blob
            .get(self.pool.off..self.pool.off + self.pool.len)?;
        let off = off as usize;
        pool.get(off..off.checked_add(len)?)
    }

    fn pool_str(&self, off: u32, len: usize) -> Option<&'a str> {
        core::str::from_utf8(self.pool_bytes(off, len)?).ok()
    }

    /// The DNS slot whose key is `key` (wire form), if any.
    fn dns_slot(&self, key: &[u8]) -> Option<&'a [u8]> {
        let cap = self.dns.len;
        if cap == 0 || key.is_empty() {
            return None;
        }
        let h = hash::hash(key);
        let want = tag(h);
        let mut i = (h as usize) & (cap - 1);
        for _ in 0..cap {
            let start = self.dns.off.checked_add(i.checked_mul(DNS_SLOT_LEN)?)?;
            let slot = self.blob.get(start..start.checked_add(DNS_SLOT_LEN)?)?;
            let key_len = slot[8] as usize;
            if key_len == 0 {
                return None;
            }
            if u32_at(slot, 0)? == want && key_len == key.len() {
                let text = self.pool_bytes(u32_at(slot, 4)?, slot[9] as usize)?;
                if wire_is_text(key, text.get(2..)?) {
                    return Some(slot);
                }
            }
            i = (i + 1) & (cap - 1);
        }
        None
    }

    /// The decision of a DNS slot's exact (`EXACT_VERDICT`, `skip` 2: the text without `*.`)
    /// or wildcard (`WILD_VERDICT`, `skip` 0) rule, if it has one.
    fn dns_rule(&self, slot: &'a [u8], verdict_at: usize, skip: usize) -> Option<Decision<'a>> {
        let v = verdict(*slot.get(verdict_at)?)?;
        let text = self.pool_str(u32_at(slot, 4)?, slot[9] as usize)?;
        let pattern = text.get(skip..)?;
        Some(Decision {
            verdict: v,
            rule: RuleRef::Pattern {
                section: Section::Dns,
                list: v,
                pattern,
            },
        })
    }

    /// Exact lookup in a path or file-name table.
    fn exact(&self, table: Span, key: &[u8]) -> Option<Decision<'a>> {
        let cap = table.len;
        if cap == 0 || key.is_empty() {
            return None;
        }
        let h = hash::hash(key);
        let want = tag(h);
        let mut i = (h as usize) & (cap - 1);
        for _ in 0..cap {
            let slot = self.entry(table, i)?;
            let len = u32_at(slot, 8)? as usize;
            if len == 0 {
                return None;
            }
            if u32_at(slot, 0)? == want && len == key.len() {
                let off = u32_at(slot, 4)?;
                if self.pool_bytes(off, len)? == key {
                    let v = verdict(slot[12])?;
                    let pattern = self.pool_str(off, len)?;
                    let rule = RuleRef::Pattern {
                        section: Section::Process,
                        list: v,
                        pattern,
                    };
                    return Some(Decision { verdict: v, rule });
                }
            }
            i = (i + 1) & (cap - 1);
        }
        None
    }

    /// The most specific matching glob of a set: every bucket whose key is a prefix or a
    /// suffix of `text` is scanned (each bucket best first).
    fn best_glob(&self, set: GlobSet, text: &[u8]) -> Option<Decision<'a>> {
        if set.globs.len == 0 {
            return None;
        }
        let mut best: Best = None;
        self.walk_index(set, set.prefix, text, false, &mut best);
        self.walk_index(set, set.suffix, text, true, &mut best);
        let (_, v, off, len) = best?;
        let pattern = self.pool_str(off, len)?;
        let rule = RuleRef::Pattern {
            section: Section::Process,
            list: v,
            pattern,
        };
        Some(Decision { verdict: v, rule })
    }

    /// Looks up each prefix (or suffix) of `text` whose length some key has.
    fn walk_index(&self, set: GlobSet, index: Span, text: &[u8], suffix: bool, best: &mut Best) {
        if index.len == 0 {
            return;
        }
        let Some(bitmap) = self.blob.get(index.off - BITMAP_LEN..index.off) else {
            return;
        };
        let Some(longest) = bitmap.iter().rposition(|&b| b != 0) else {
            return;
        };
        let longest = (longest * 8 + 7 - bitmap[longest].leading_zeros() as usize).min(text.len());
        let mut h = hash::Hasher::new();
        for i in 0..=longest {
            if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                let key = if suffix {
                    &text[text.len() - i..]
                } else {
                    &text[..i]
                };
                if let Some((first, count)) = self.index_slot(index, h.finish(), key) {
                    self.scan_bucket(set.globs, first, count, text, best);
                }
            }
            if i < longest {
                h.write_u8(if suffix {
                    text[text.len() - 1 - i]
                } else {
                    text[i]
                });
            }
        }
    }

    /// The bucket (first glob, count) of an index key.
    fn index_slot(&self, index: Span, h: u64, key: &[u8]) -> Option<(usize, usize)> {
        let cap = index.len;
        let want = tag(h);
        let mut i = (h as usize) & (cap - 1);
        for _ in 0..cap {
            let start = index.off.checked_add(i.checked_mul(INDEX_SLOT_LEN)?)?;
            let slot = self.blob.get(start..start.checked_add(INDEX_SLOT_LEN)?)?;
            let count = u32_at(slot, 16)? as usize;
            if count == 0 {
                return None;
            }
            let len = u32_at(slot, 8)? as usize;
            if u32_at(slot, 0)? == want
                && len == key.len()
                && self.pool_bytes(u32_at(slot, 4)?, len)? == key
            {
                return Some((u32_at(slot, 12)? as usize, count));
            }
            i = (i + 1) & (cap - 1);
        }
        None
    }

    /// The first glob of a bucket that matches, if it beats `best`.
    fn scan_bucket(&self, globs: Span, first: usize, count: usize, text: &[u8], best: &mut Best) {
        for i in first..first.saturating_add(count) {
            let Some(entry) = self.entry(globs, i) else {
                return;
            };
            let (Some(literal), Some(off), Some(len)) =
                (u32_at(entry, 0), u32_at(entry, 4), u32_at(entry, 8))
            else {
                return;
            };
            let Some(v) = verdict(entry[12]) else {
                continue;
            };
            if let Some((bl, bv, _, _)) = *best
                && (literal, v) <= (bl, bv)
            {
                // Sorted best first: nothing later in this bucket can win.
                return;
            }
            let len = len as usize;
            let Some(pattern) = self.pool_bytes(off, len) else {
                continue;
            };
            if glob::matches(pattern, text) {
                *best = Some((literal, v, off, len));
                return;
            }
        }
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
        const EMPTY: Span = Span { off: 0, len: 0 };
        PolicyView {
            blob: &[],
            mode: Mode::Enforce,
            answer: DnsAnswer::NxDomain,
            cname: CnameMode::Inspect,
            dns_default: Verdict::Deny,
            process_default: Verdict::Deny,
            block_ttl: 5,
            version: "0000000000000000",
            dns: EMPTY,
            paths: EMPTY,
            names: EMPTY,
            path_globs: GlobSet {
                globs: EMPTY,
                prefix: EMPTY,
                suffix: EMPTY,
            },
            name_globs: GlobSet {
                globs: EMPTY,
                prefix: EMPTY,
                suffix: EMPTY,
            },
            pool: EMPTY,
        }
    }
}
