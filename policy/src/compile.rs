//! Compiling a policy into the blob that [`crate::PolicyView`] reads (layout in
//! [`crate::format`]), plus the canonical JSON and the version.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::decision::Verdict;
use crate::document::Policy;
use crate::format::*;
use crate::glob;
use crate::hash;
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

/// Table capacity: a power of two at least twice the number of keys (0 for no keys).
fn capacity(keys: usize) -> usize {
    if keys == 0 {
        0
    } else {
        (keys * 2).next_power_of_two()
    }
}

#[derive(Default)]
struct DnsKey {
    exact: Option<Verdict>,
    wild: Option<Verdict>,
}

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
        let proc_ = &policy.process;

        // DNS: one key per base name, holding both the exact and the wildcard verdict.
        let mut keys: HashMap<&str, DnsKey> = HashMap::new();
        for (pattern, v) in lists(&dns.allow, &dns.alert, &dns.deny) {
            let (base, wild) = match pattern.strip_prefix("*.") {
                Some(base) => (base, true),
                None => (pattern, false),
            };
            let key = keys.entry(base).or_default();
            let slot = if wild { &mut key.wild } else { &mut key.exact };
            *slot = Some(slot.map_or(v, |old| old.max(v)));
        }
        let mut dns_keys: Vec<(&str, DnsKey)> = keys.into_iter().collect();
        dns_keys.sort_by(|a, b| a.0.cmp(b.0));
        let dns_cap = capacity(dns_keys.len());
        let mut dns_table = vec![0u8; dns_cap * ENTRY_LEN];
        for (base, key) in &dns_keys {
            let wire = wire_of(base);
            let text = format!("*.{base}");
            let key_off = self.intern(&wire);
            let text_off = self.intern(text.as_bytes());
            let mut slot = [0u8; ENTRY_LEN];
            let h = hash::hash(&wire);
            slot[0..4].copy_from_slice(&tag(h).to_le_bytes());
            slot[4..8].copy_from_slice(&key_off.to_le_bytes());
            slot[8..12].copy_from_slice(&text_off.to_le_bytes());
            slot[12] = wire.len() as u8;
            slot[13] = text.len() as u8;
            slot[14] = verdict_byte(key.exact);
            slot[15] = verdict_byte(key.wild);
            place(&mut dns_table, dns_cap, h, &slot, |s| s[12] == 0);
        }

        // Process: exact paths, exact file names, path globs, file-name globs.
        let mut paths: HashMap<&str, Verdict> = HashMap::new();
        let mut names: HashMap<&str, Verdict> = HashMap::new();
        let mut path_globs: HashMap<&str, Verdict> = HashMap::new();
        let mut name_globs: HashMap<&str, Verdict> = HashMap::new();
        for (pattern, v) in lists(&proc_.allow, &proc_.alert, &proc_.deny) {
            let is_path = pattern.contains('/');
            let map = match (is_path, glob::is_glob(pattern.as_bytes())) {
                (true, false) => &mut paths,
                (false, false) => &mut names,
                (true, true) => &mut path_globs,
                (false, true) => &mut name_globs,
            };
            let e = map.entry(pattern).or_insert(v);
            *e = (*e).max(v);
        }
        let path_table = self.exact_table(paths);
        let name_table = self.exact_table(names);
        let path_glob_array = self.glob_array(path_globs);
        let name_glob_array = self.glob_array(name_globs);

        // Layout: header, sections, pool.
        let mut out = vec![0u8; HEADER_LEN];
        let put_section = |out: &mut Vec<u8>, at: usize, bytes: &[u8], count: usize| {
            let off = out.len() as u32;
            out.extend_from_slice(bytes);
            out[at..at + 4].copy_from_slice(&off.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&(count as u32).to_le_bytes());
        };
        put_section(&mut out, OFF_DNS_TABLE, &dns_table, dns_cap);
        put_section(&mut out, OFF_PATH_TABLE, &path_table.0, path_table.1);
        put_section(&mut out, OFF_NAME_TABLE, &name_table.0, name_table.1);
        put_section(
            &mut out,
            OFF_PATH_GLOBS,
            &path_glob_array.0,
            path_glob_array.1,
        );
        put_section(
            &mut out,
            OFF_NAME_GLOBS,
            &name_glob_array.0,
            name_glob_array.1,
        );
        let pool = std::mem::take(&mut self.pool);
        put_section(&mut out, OFF_POOL, &pool, pool.len());

        out[..8].copy_from_slice(&MAGIC);
        out[OFF_FORMAT..OFF_FORMAT + 4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let len = out.len() as u32;
        out[OFF_BLOB_LEN..OFF_BLOB_LEN + 4].copy_from_slice(&len.to_le_bytes());
        out[OFF_MODE] = policy.mode as u8;
        out[OFF_ANSWER] = dns.answer as u8;
        out[OFF_CNAME] = dns.cname as u8;
        out[OFF_DNS_DEFAULT] = dns.default as u8;
        out[OFF_PROCESS_DEFAULT] = proc_.default as u8;
        out[OFF_BLOCK_TTL..OFF_BLOCK_TTL + 4].copy_from_slice(&dns.block_ttl.to_le_bytes());
        out[OFF_VERSION..OFF_VERSION + VERSION_LEN]
            .copy_from_slice(&version.as_bytes()[..VERSION_LEN]);
        out
    }

    /// An exact-match table (paths or file names) and its capacity.
    fn exact_table(&mut self, keys: HashMap<&str, Verdict>) -> (Vec<u8>, usize) {
        let mut keys: Vec<_> = keys.into_iter().collect();
        keys.sort();
        let cap = capacity(keys.len());
        let mut table = vec![0u8; cap * ENTRY_LEN];
        for (key, v) in keys {
            let off = self.intern(key.as_bytes());
            let h = hash::hash(key.as_bytes());
            let mut slot = [0u8; ENTRY_LEN];
            slot[0..4].copy_from_slice(&tag(h).to_le_bytes());
            slot[4..8].copy_from_slice(&off.to_le_bytes());
            slot[8..12].copy_from_slice(&(key.len() as u32).to_le_bytes());
            slot[12] = v as u8;
            place(&mut table, cap, h, &slot, |s| s[8..12] == [0; 4]);
        }
        (table, cap)
    }

    /// A glob array sorted so that the first match is the most specific, strongest rule.
    fn glob_array(&mut self, globs: HashMap<&str, Verdict>) -> (Vec<u8>, usize) {
        let mut globs: Vec<(usize, Verdict, &str)> = globs
            .into_iter()
            .map(|(p, v)| (glob::literal_count(p.as_bytes()), v, p))
            .collect();
        globs.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
        let mut array = Vec::with_capacity(globs.len() * ENTRY_LEN);
        for (literal, v, pattern) in &globs {
            let off = self.intern(pattern.as_bytes());
            let mut entry = [0u8; ENTRY_LEN];
            entry[0..4].copy_from_slice(&(*literal as u32).to_le_bytes());
            entry[4..8].copy_from_slice(&off.to_le_bytes());
            entry[8..12].copy_from_slice(&(pattern.len() as u32).to_le_bytes());
            entry[12] = *v as u8;
            array.extend_from_slice(&entry);
        }
        (array, globs.len())
    }
}

/// Puts a slot into its home position or the next free one (linear probing).
fn place(
    table: &mut [u8],
    cap: usize,
    h: u64,
    slot: &[u8; ENTRY_LEN],
    is_free: impl Fn(&[u8]) -> bool,
) {
    let mut i = (h as usize) & (cap - 1);
    loop {
        let at = i * ENTRY_LEN;
        if is_free(&table[at..at + ENTRY_LEN]) {
            table[at..at + ENTRY_LEN].copy_from_slice(slot);
            return;
        }
        i = (i + 1) & (cap - 1);
    }
}

/// Wire form (lower case, no root label) of a normalised name: the same bytes
/// [`crate::DnsName`] produces for it.
fn wire_of(name: &str) -> Vec<u8> {
    let mut wire = Vec::with_capacity(name.len() + 1);
    for label in name.split('.') {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire
}
