//! The answer cache: bounded, TTL-honouring, and re-checked against the current policy.
//!
//! An entry keeps the upstream answer's bytes, where its TTLs are, and the names of its CNAME
//! chain. A hit copies the bytes and ages the TTLs; the caller patches in the client's ID and
//! question and decides the chain names with the policy in force *now*, so a policy change
//! applies to cached answers at once without clearing the cache.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use guard_policy::DnsName;

use crate::query::{FLAG_CD, Query};
use crate::response::patch_ttls;

const SHARDS: usize = 16;
/// Longest key: name wire form + type + class + flags.
const KEY_MAX: usize = 254 + 5;

struct Entry {
    key: Box<[u8]>,
    bytes: Box<[u8]>,
    ttl_offsets: Box<[u16]>,
    chain: Arc<[DnsName]>,
    stored: Instant,
    /// Seconds the entry lives (the answer's smallest TTL, capped).
    ttl: u32,
}

pub struct Cache {
    shards: Box<[Mutex<HashMap<u64, Entry>>]>,
    per_shard: usize,
    max_ttl: u32,
    hasher: std::collections::hash_map::RandomState,
}

/// A cached answer, aged, with the chain names to re-check.
pub struct Hit {
    pub bytes: Vec<u8>,
    pub chain: Arc<[DnsName]>,
}

struct Key {
    buf: [u8; KEY_MAX],
    len: usize,
}

impl Key {
    fn of(q: &Query) -> Key {
        let wire = q.name.wire();
        let mut buf = [0u8; KEY_MAX];
        let n = wire.len().min(254);
        buf[..n].copy_from_slice(&wire[..n]);
        buf[n..n + 2].copy_from_slice(&q.qtype.to_be_bytes());
        buf[n + 2..n + 4].copy_from_slice(&q.qclass.to_be_bytes());
        // Answers differ with DNSSEC records (DO), checking disabled (CD), and whether the
        // client speaks EDNS at all (the OPT record in the answer).
        let mut flags = 0u8;
        if let Some(e) = q.edns {
            flags |= 1;
            if e.dnssec_ok {
                flags |= 2;
            }
        }
        if q.flags & FLAG_CD != 0 {
            flags |= 4;
        }
        buf[n + 4] = flags;
        Key { buf, len: n + 5 }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Cache {
    pub fn new(entries: usize, max_ttl: u32) -> Cache {
        let per_shard = entries.div_ceil(SHARDS).max(1);
        Cache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
            max_ttl,
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn locate(&self, key: &Key) -> (u64, &Mutex<HashMap<u64, Entry>>) {
        let mut h = self.hasher.build_hasher();
        h.write(key.bytes());
        let hash = h.finish();
        (hash, &self.shards[(hash as usize) % SHARDS])
    }

    pub fn get(&self, q: &Query, now: Instant) -> Option<Hit> {
        let key = Key::of(q);
        let (hash, shard) = self.locate(&key);
        let mut map = shard.lock().ok()?;
        let entry = map.get(&hash)?;
        if &*entry.key != key.bytes() {
            return None;
        }
        let age = now.saturating_duration_since(entry.stored).as_secs();
        let age = u32::try_from(age).unwrap_or(u32::MAX);
        if age >= entry.ttl {
            map.remove(&hash);
            return None;
        }
        let mut bytes = entry.bytes.to_vec();
        let cap = self.max_ttl;
        patch_ttls(&mut bytes, &entry.ttl_offsets, |t| {
            t.min(cap).saturating_sub(age)
        });
        Some(Hit {
            bytes,
            chain: entry.chain.clone(),
        })
    }

    /// Stores an answer for `min_ttl` seconds (capped by `--cache-max-ttl`).
    pub fn put(
        &self,
        q: &Query,
        bytes: &[u8],
        ttl_offsets: &[u16],
        chain: &[DnsName],
        min_ttl: u32,
    ) {
        let ttl = min_ttl.min(self.max_ttl);
        if ttl == 0 {
            return;
        }
        let key = Key::of(q);
        let (hash, shard) = self.locate(&key);
        let entry = Entry {
            key: key.bytes().into(),
            bytes: bytes.into(),
            ttl_offsets: ttl_offsets.into(),
            chain: chain.into(),
            stored: Instant::now(),
            ttl,
        };
        let Ok(mut map) = shard.lock() else { return };
        if map.len() >= self.per_shard && !map.contains_key(&hash) {
            let now = Instant::now();
            map.retain(|_, e| now.saturating_duration_since(e.stored).as_secs() < u64::from(e.ttl));
            if map.len() >= self.per_shard
                && let Some(&victim) = map.keys().next()
            {
                map.remove(&victim);
            }
        }
        map.insert(hash, entry);
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
