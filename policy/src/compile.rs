//! Compiling a policy into the blob that [`crate::PolicyView`] reads (layout in
//! [`crate::format`]), plus the canonical JSON and the version.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use sha2::{Digest, Sha256};

use crate::decision::Verdict;
use crate::document::Policy;
use crate::format::*;
use crate::glob;
use crate::glob_index;
use crate::hash;
use crate::pattern;
use crate::table;
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
        // The fallback is unreachable for blobs from `from_parts`; it fails closed anyway.
        PolicyView::open(&self.blob).unwrap_or(PolicyView::deny_all())
    }

    pub(crate) fn from_parts(policy: &Policy) -> CompiledPolicy {
        let version = version_of(policy);
        let canonical_json = canonical_json(policy, &version);
        let blob = Writer::default().write(policy, &version);
        CompiledPolicy {
            blob,
            version,
            canonical_json,
        }
    }
}

/// Hex of the first 8 bytes of SHA-256 over the compact canonical JSON (without version).
/// The document is normalised (lists sorted and de-duplicated), so equal meaning gives equal
/// bytes.
fn version_of(policy: &Policy) -> String {
    let bytes = serde_json::to_vec(policy).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest[..VERSION_LEN / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn canonical_json(policy: &Policy, version: &str) -> String {
    #[derive(serde::Serialize)]
    struct Canonical<'p> {
        version: &'p str,
        #[serde(flatten)]
        policy: &'p Policy,
    }
    let mut text = serde_json::to_string_pretty(&Canonical { version, policy }).unwrap_or_default();
    text.push('\n');
    text
}

fn verdict_byte(v: Option<Verdict>) -> u8 {
    v.map_or(NO_VERDICT, |v| v as u8)
}

/// The three lists of a section with their verdicts, weakest first, so that merging with
/// `max` gives deny > alert > allow on equal patterns.
fn lists<'p>(
    allow: &'p [String],
    alert: &'p [String],
    deny: &'p [String],
) -> impl Iterator<Item = (&'p str, Verdict)> {
    let tag = |v: Verdict| move |p: &'p String| (p.as_str(), v);
    allow
        .iter()
        .map(tag(Verdict::Allow))
        .chain(alert.iter().map(tag(Verdict::Alert)))
        .chain(deny.iter().map(tag(Verdict::Deny)))
}

/// A map that keeps its keys in first-insertion order, so that the blob built from it is
/// the same on every run (the policy's lists are sorted), without sorting 100k keys again.
struct Merged<'p, T> {
    index: HashMap<&'p str, usize, BuildHasherDefault<KeyHasher>>,
    items: Vec<(&'p str, T)>,
}

impl<T> Default for Merged<'_, T> {
    fn default() -> Self {
        Merged {
            index: HashMap::default(),
            items: Vec::new(),
        }
    }
}

impl<'p, T> Merged<'p, T> {
    fn entry(&mut self, key: &'p str, init: T) -> &mut T {
        let next = self.items.len();
        let i = *self.index.entry(key).or_insert(next);
        if i == next {
            self.items.push((key, init));
        }
        &mut self.items[i].1
    }
}

/// The blob's own key hash, for the compiler's maps (SipHash's flooding resistance buys
/// nothing for keys from the policy itself, and costs a tenth of the compile time).
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = self.0.rotate_left(5) ^ hash::hash(bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Default)]
struct DnsKey {
    exact: Option<Verdict>,
    wild: Option<Verdict>,
}

/// A section's bytes and the count (or capacity) the header records for it.
struct Section {
    bytes: Vec<u8>,
    count: usize,
}

/// Builds the blob: sections first, each interning its strings into one pool.
#[derive(Default)]
struct Writer {
    pool: Vec<u8>,
}

impl Writer {
    fn intern(&mut self, bytes: &[u8]) -> u32 {
        let off = self.pool.len() as u32;
        self.pool.extend_from_slice(bytes);
        off
    }

    fn write(mut self, policy: &Policy, version: &str) -> Vec<u8> {
        let dns = &policy.dns;
        let process = &policy.process;

        let dns_rules = lists(&dns.allow, &dns.alert, &dns.deny);
        let dns_count = dns.allow.len() + dns.alert.len() + dns.deny.len();
        let dns_table = self.dns_table(
            dns_count,
            dns_rules.filter(|(p, _)| pattern::is_normal_dns(p)),
        );

        let mut paths = Merged::default();
        let mut names = Merged::default();
        let mut path_globs = Merged::default();
        let mut name_globs = Merged::default();
        let process_rules = lists(&process.allow, &process.alert, &process.deny);
        for (pattern, v) in process_rules.filter(|(p, _)| pattern::is_normal_process(p)) {
            let map = match (pattern.contains('/'), glob::is_glob(pattern.as_bytes())) {
                (true, false) => &mut paths,
                (false, false) => &mut names,
                (true, true) => &mut path_globs,
                (false, true) => &mut name_globs,
            };
            let e = map.entry(pattern, v);
            *e = (*e).max(v);
        }
        // The file-name table also marks the file name of every exact path rule (see
        // crate::format): a decision then probes the paths table only for file names that
        // some path rule ends in.
        let mut name_slots: Merged<u8> = Merged::default();
        for &(name, v) in &names.items {
            *name_slots.entry(name, v as u8) = v as u8;
        }
        for &(path, _) in &paths.items {
            let file = path.rsplit('/').next().unwrap_or(path);
            *name_slots.entry(file, NO_NAME_RULE) |= NAME_HAS_PATHS;
        }
        let path_table = self.exact_table(paths.items.iter().map(|&(k, v)| (k, v as u8)));
        let name_table = self.exact_table(name_slots.items.iter().copied());
        let ([path_globs, path_prefix, path_suffix], path_filters) =
            self.glob_set(&path_globs.items);
        let ([name_globs, name_prefix, name_suffix], name_filters) =
            self.glob_set(&name_globs.items);
        let pool = std::mem::take(&mut self.pool);
        let pool = Section {
            count: pool.len(),
            bytes: pool,
        };

        let mut out = vec![0u8; HEADER_LEN];
        for filters in path_filters.iter().chain(&name_filters) {
            out.extend_from_slice(filters);
        }
        debug_assert_eq!(out.len(), HEADER_LEN + FILTERS_LEN);
        for (at, section) in [
            (OFF_DNS_TABLE, dns_table),
            (OFF_PATH_TABLE, path_table),
            (OFF_NAME_TABLE, name_table),
            (OFF_PATH_GLOBS, path_globs),
            (OFF_NAME_GLOBS, name_globs),
            (OFF_PATH_PREFIX_INDEX, path_prefix),
            (OFF_PATH_SUFFIX_INDEX, path_suffix),
            (OFF_NAME_PREFIX_INDEX, name_prefix),
            (OFF_NAME_SUFFIX_INDEX, name_suffix),
            (OFF_POOL, pool),
        ] {
            let off = out.len() as u32;
            out.extend_from_slice(&section.bytes);
            out[at..at + 4].copy_from_slice(&off.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&(section.count as u32).to_le_bytes());
        }

        out[..8].copy_from_slice(&MAGIC);
        out[OFF_FORMAT..OFF_FORMAT + 4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        if let Some(net) = &policy.net {
            let off = out.len() as u32;
            out.extend_from_slice(&crate::net::write(net));
            out[OFF_NET..OFF_NET + 4].copy_from_slice(&off.to_le_bytes());
        }
        let len = out.len() as u32;
        out[OFF_BLOB_LEN..OFF_BLOB_LEN + 4].copy_from_slice(&len.to_le_bytes());
        out[OFF_MODE] = policy.mode as u8;
        out[OFF_ANSWER] = dns.answer as u8;
        out[OFF_CNAME] = dns.cname as u8;
        out[OFF_DNS_DEFAULT] = dns.default as u8;
        out[OFF_PROCESS_DEFAULT] = process.default as u8;
        let (max_exact, max_wild) = dns_depths(&[&dns.allow, &dns.alert, &dns.deny]);
        out[OFF_MAX_EXACT_LABELS] = max_exact;
        out[OFF_MAX_WILD_LABELS] = max_wild;
        out[OFF_BLOCK_TTL..OFF_BLOCK_TTL + 4].copy_from_slice(&dns.block_ttl.to_le_bytes());
        let version = version.as_bytes();
        out[OFF_VERSION..OFF_VERSION + VERSION_LEN].copy_from_slice(&version[..VERSION_LEN]);
        out
    }

    /// A glob array and its two indexes (see [`crate::glob_index`]).
    fn glob_set(&mut self, globs: &[(&str, Verdict)]) -> ([Section; 3], [Vec<u8>; 2]) {
        let mut intern = |bytes: &[u8]| self.intern(bytes);
        let (sections, filters) = glob_index::build::glob_set(globs, &mut intern);
        (
            sections.map(|(bytes, count)| Section { bytes, count }),
            filters,
        )
    }

    /// One slot per base name, holding both its exact and its wildcard verdict.
    fn dns_table<'p>(
        &mut self,
        count: usize,
        rules_in: impl Iterator<Item = (&'p str, Verdict)>,
    ) -> Section {
        // (base name, is wildcard, verdict). Each list is sorted, and so are its wildcards
        // and its exact names (`*` sorts before every name character), so the stable sort
        // only merges six sorted runs.
        let mut rules: Vec<(&str, bool, Verdict)> = Vec::with_capacity(count);
        for (pattern, v) in rules_in {
            match pattern.strip_prefix("*.") {
                Some(base) => rules.push((base, true, v)),
                None => rules.push((pattern, false, v)),
            }
        }
        rules.sort_by(|a, b| a.0.cmp(b.0));
        let mut entries: Vec<(u64, [u8; DNS_SLOT_LEN])> = Vec::with_capacity(rules.len());
        let mut wire = [0u8; 256];
        for group in rules.chunk_by(|a, b| a.0 == b.0) {
            let base = group[0].0;
            let mut key = DnsKey::default();
            for &(_, wild, v) in group {
                let slot = if wild { &mut key.wild } else { &mut key.exact };
                *slot = Some(slot.map_or(v, |old| old.max(v)));
            }
            // The text is `*.base`; the exact pattern is its tail.
            let text_off = self.intern(b"*.");
            self.intern(base.as_bytes());
            // Control byte (set by the table), text length, verdicts, text offset. The key
            // (wire form) is one byte shorter than the text.
            let mut slot = [
                0,
                (base.len() + 2) as u8,
                verdict_byte(key.exact),
                0,
                0,
                0,
                0,
                0,
            ];
            slot[3] = verdict_byte(key.wild);
            slot[4..8].copy_from_slice(&text_off.to_le_bytes());
            let wire_len = wire_of(base, &mut wire);
            entries.push((hash::hash(&wire[..wire_len]), slot));
        }
        let (bytes, count) = table::build(&entries);
        Section { bytes, count }
    }

    /// An exact-match table (paths or file names).
    /// An exact table of (key, verdict byte) entries.
    fn exact_table<'p>(&mut self, keys: impl Iterator<Item = (&'p str, u8)>) -> Section {
        let entries: Vec<(u64, [u8; EXACT_SLOT_LEN])> = keys
            .map(|(key, v)| {
                // Control byte (set by the table), verdict, length, offset.
                let mut slot = [0, v, 0, 0, 0, 0, 0, 0];
                slot[2..4].copy_from_slice(&(key.len() as u16).to_le_bytes());
                slot[4..8].copy_from_slice(&self.intern(key.as_bytes()).to_le_bytes());
                (hash::hash(key.as_bytes()), slot)
            })
            .collect();
        let (bytes, count) = table::build(&entries);
        Section { bytes, count }
    }
}

/// The most labels of an exact name and of a wildcard's base among the DNS rules.
fn dns_depths(lists: &[&Vec<String>]) -> (u8, u8) {
    let (mut exact, mut wild) = (0u8, 0u8);
    for pattern in lists.iter().flat_map(|l| l.iter()) {
        if !pattern::is_normal_dns(pattern) {
            continue;
        }
        let (base, max) = match pattern.strip_prefix("*.") {
            Some(base) => (base, &mut wild),
            None => (pattern.as_str(), &mut exact),
        };
        let labels = base.bytes().filter(|&b| b == b'.').count() + 1;
        *max = (*max).max(labels.min(u8::MAX as usize) as u8);
    }
    (exact, wild)
}

/// Writes the wire form (no root label) of a normalised name into `out`; returns its
/// length. These are the bytes [`crate::DnsName`] holds for the name.
fn wire_of(name: &str, out: &mut [u8; 256]) -> usize {
    let mut at = 0;
    for label in name.split('.') {
        let end = (at + 1 + label.len()).min(out.len());
        out[at] = label.len() as u8;
        out[at + 1..end].copy_from_slice(&label.as_bytes()[..end - at - 1]);
        at = end;
    }
    at
}
