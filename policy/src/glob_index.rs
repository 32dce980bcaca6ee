//! Finding the best matching glob of a set through its prefix and suffix indexes (layout in
//! [`crate::format`]): only the buckets whose literal key is a prefix or a suffix of the
//! text are matched, so the cost follows the text's length, not the number of globs.

use crate::decision::Verdict;
use crate::format::{
    BITMAP_LEN, ENTRY_LEN, HEAD_FILTER_LEN, HEAD_KEY_LEN, INDEX_LEADING_LEN, INDEX_SLOT_LEN, Pool,
    head_bit, u32_at,
};
use crate::glob;
use crate::hash::Hasher;
use crate::table::Table;
use crate::view::ViewError;

/// A glob array and its two indexes.
#[derive(Clone, Copy, Default)]
pub(crate) struct GlobSet {
    globs: usize,
    count: usize,
    prefix: Table,
    suffix: Table,
    /// Where each index's filters start (see [`crate::format::filters_at`]).
    prefix_filters: usize,
    suffix_filters: usize,
}

/// The best match so far: (literal count, verdict, pattern).
type Best<'a> = Option<(u32, Verdict, &'a str)>;

impl GlobSet {
    pub(crate) const EMPTY: GlobSet = GlobSet {
        globs: 0,
        count: 0,
        prefix: Table::EMPTY,
        suffix: Table::EMPTY,
        prefix_filters: 0,
        suffix_filters: 0,
    };

    /// From the header fields of the array and its two indexes, and where their filters are.
    pub(crate) fn at(
        blob: &[u8],
        array: usize,
        prefix: usize,
        suffix: usize,
        filters: [usize; 2],
    ) -> Result<GlobSet, ViewError> {
        for at in filters {
            if at
                .checked_add(INDEX_LEADING_LEN)
                .is_none_or(|end| end > blob.len())
            {
                return Err(ViewError::Truncated);
            }
        }
        let globs = u32_at(blob, array).ok_or(ViewError::Truncated)? as usize;
        let count = u32_at(blob, array + 4).ok_or(ViewError::Truncated)? as usize;
        match count
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(globs))
        {
            Some(end) if end <= blob.len() => {}
            _ => return Err(ViewError::Truncated),
        }
        Ok(GlobSet {
            globs,
            count,
            prefix: Table::at(blob, prefix, INDEX_SLOT_LEN, 0)?,
            suffix: Table::at(blob, suffix, INDEX_SLOT_LEN, 0)?,
            prefix_filters: filters[0],
            suffix_filters: filters[1],
        })
    }

    /// The most specific, then strongest, glob matching `text`: (verdict, pattern).
    pub(crate) fn best<'a>(
        &self,
        blob: &'a [u8],
        pool: Pool<'a>,
        text: &[u8],
    ) -> Option<(Verdict, &'a str)> {
        if self.count == 0 {
            return None;
        }
        let mut best: Best<'a> = None;
        self.walk(
            blob,
            pool,
            (self.prefix, self.prefix_filters),
            text,
            false,
            &mut best,
        );
        self.walk(
            blob,
            pool,
            (self.suffix, self.suffix_filters),
            text,
            true,
            &mut best,
        );
        best.map(|(_, v, p)| (v, p))
    }

    /// Looks up each prefix (or suffix) of `text` whose length some key has, hashing the
    /// text once from its start (or end).
    fn walk<'a>(
        &self,
        blob: &'a [u8],
        pool: Pool<'a>,
        (index, at): (Table, usize),
        text: &[u8],
        suffix: bool,
        best: &mut Best<'a>,
    ) {
        if index.is_empty() {
            return;
        }
        let Some(leading) = blob.get(at..at + INDEX_LEADING_LEN) else {
            return;
        };
        let (bitmap, heads) = leading.split_at(BITMAP_LEN);
        let Some(top) = bitmap.iter().rposition(|&b| b != 0) else {
            return;
        };
        let has_head = |h: u64| {
            let bit = head_bit(h);
            heads
                .get(bit / 8)
                .is_some_and(|b| b & (1 << (bit % 8)) != 0)
        };
        debug_assert_eq!(heads.len(), HEAD_FILTER_LEN);
        let longest = (top * 8 + 7 - bitmap[top].leading_zeros() as usize).min(text.len());
        let mut h = Hasher::new();
        // Whether some key of HEAD_KEY_LEN bytes or more starts (ends) like the text.
        let mut long_head = true;
        for i in 0..=longest {
            if i == HEAD_KEY_LEN {
                long_head = has_head(h.finish());
            }
            if i >= HEAD_KEY_LEN && !long_head {
                // No longer key shares the text's head: nothing left to probe.
                return;
            }
            if bitmap[i / 8] & (1 << (i % 8)) != 0 && (i >= HEAD_KEY_LEN || has_head(h.finish())) {
                let key = if suffix {
                    &text[text.len() - i..]
                } else {
                    &text[..i]
                };
                let bucket = index.find(blob, h.finish(), |slot| {
                    let len = slot[1] as usize;
                    if len != key.len() || pool.bytes(u32_at(slot, 4)?, len)? != key {
                        return None;
                    }
                    Some((u32_at(slot, 8)? as usize, u32_at(slot, 12)? as usize))
                });
                if let Some((first, count)) = bucket {
                    self.scan(blob, pool, first, count, text, best);
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

    /// The first glob of a bucket that matches, if it beats `best`.
    fn scan<'a>(
        &self,
        blob: &'a [u8],
        pool: Pool<'a>,
        first: usize,
        count: usize,
        text: &[u8],
        best: &mut Best<'a>,
    ) {
        let end = first.saturating_add(count).min(self.count);
        for i in first..end {
            let Some(start) = i
                .checked_mul(ENTRY_LEN)
                .and_then(|n| n.checked_add(self.globs))
            else {
                return;
            };
            let Some(entry) = blob.get(start..start.saturating_add(ENTRY_LEN)) else {
                return;
            };
            let (Some(literal), Some(off), Some(len)) =
                (u32_at(entry, 0), u32_at(entry, 4), u32_at(entry, 8))
            else {
                return;
            };
            let Some(v) = verdict_of(entry[12]) else {
                continue;
            };
            if let Some((bl, bv, _)) = *best
                && (literal, v) <= (bl, bv)
            {
                // Sorted best first: nothing later in this bucket can win.
                return;
            }
            let Some(pattern) = pool.str(off, len as usize) else {
                continue;
            };
            if glob::matches(pattern.as_bytes(), text) {
                *best = Some((literal, v, pattern));
                return;
            }
        }
    }
}

pub(crate) fn verdict_of(b: u8) -> Option<Verdict> {
    match b {
        0 => Some(Verdict::Allow),
        1 => Some(Verdict::Alert),
        2 => Some(Verdict::Deny),
        _ => None,
    }
}

/// Building a glob set: the array (bucketed) and its prefix and suffix indexes, each as
/// section bytes and the count (or capacity) the header records.
#[cfg(feature = "compile")]
pub(crate) mod build {
    use std::collections::BTreeMap;

    use crate::decision::Verdict;
    use crate::format::{
        BITMAP_LEN, ENTRY_LEN, HEAD_FILTER_LEN, HEAD_KEY_LEN, INDEX_SLOT_LEN, MAX_KEY_LEN, head_bit,
    };
    use crate::glob;
    use crate::hash;
    use crate::table;

    /// The globs sharing one index key: (literal count, verdict, pattern).
    type Bucket<'p> = Vec<(usize, Verdict, &'p str)>;

    /// A section's bytes and its count (or capacity).
    pub(crate) type Built = (Vec<u8>, usize);

    /// `intern` puts bytes into the string pool and returns their offset.
    /// The glob array and the two index tables (bytes, count or capacity), and the two
    /// indexes' filters (which go after the header).
    pub(crate) fn glob_set(
        globs: &[(&str, Verdict)],
        intern: &mut impl FnMut(&[u8]) -> u32,
    ) -> ([Built; 3], [Vec<u8>; 2]) {
        // (is suffix key, key) -> globs, each bucket sorted best first.
        let mut buckets: BTreeMap<(bool, &[u8]), Bucket> = BTreeMap::new();
        for &(pattern, v) in globs {
            let bytes = pattern.as_bytes();
            let wild = |b: &u8| *b == b'*' || *b == b'?';
            let first = bytes.iter().position(wild).unwrap_or(bytes.len());
            let last = bytes.iter().rposition(wild).map_or(0, |i| i + 1);
            let prefix = &bytes[..first.min(MAX_KEY_LEN)];
            let suffix = &bytes[last.max(bytes.len().saturating_sub(MAX_KEY_LEN))..];
            let key = if prefix.len() >= suffix.len() {
                (false, prefix)
            } else {
                (true, suffix)
            };
            buckets
                .entry(key)
                .or_default()
                .push((glob::literal_count(bytes), v, pattern));
        }
        let mut array = Vec::new();
        let mut count = 0usize;
        let mut index_keys: [Vec<(&[u8], usize, usize)>; 2] = [Vec::new(), Vec::new()];
        for ((suffix, key), mut globs) in buckets {
            globs.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
            index_keys[usize::from(suffix)].push((key, count, globs.len()));
            for (literal, v, pattern) in globs {
                let mut entry = [0u8; ENTRY_LEN];
                entry[0..4].copy_from_slice(&(literal as u32).to_le_bytes());
                entry[4..8].copy_from_slice(&intern(pattern.as_bytes()).to_le_bytes());
                entry[8..12].copy_from_slice(&(pattern.len() as u32).to_le_bytes());
                entry[12] = v as u8;
                array.extend_from_slice(&entry);
                count += 1;
            }
        }
        let [prefix_keys, suffix_keys] = index_keys;
        let (prefix_filters, prefix) = index(&prefix_keys, hash::prefix_hash, prefix_head, intern);
        let (suffix_filters, suffix) = index(&suffix_keys, hash::suffix_hash, suffix_head, intern);
        (
            [(array, count), prefix, suffix],
            [prefix_filters, suffix_filters],
        )
    }

    /// One index: its filters (the key-length bitmap and the head filter), and its table of
    /// (key, first glob, count) with the table's capacity.
    fn index(
        keys: &[(&[u8], usize, usize)],
        hash: fn(&[u8]) -> u64,
        head: fn(&[u8], usize) -> &[u8],
        intern: &mut impl FnMut(&[u8]) -> u32,
    ) -> (Vec<u8>, Built) {
        let mut bitmap = vec![0u8; BITMAP_LEN];
        let mut heads = vec![0u8; HEAD_FILTER_LEN];
        let entries: Vec<(u64, [u8; INDEX_SLOT_LEN])> = keys
            .iter()
            .map(|&(key, first, count)| {
                bitmap[key.len() / 8] |= 1 << (key.len() % 8);
                let bit = head_bit(hash(head(key, HEAD_KEY_LEN)));
                heads[bit / 8] |= 1 << (bit % 8);
                // Control byte (set by the table), key length, 2 reserved, key offset,
                // first glob, glob count.
                let mut slot = [0u8; INDEX_SLOT_LEN];
                slot[1] = key.len() as u8;
                slot[4..8].copy_from_slice(&intern(key).to_le_bytes());
                slot[8..12].copy_from_slice(&(first as u32).to_le_bytes());
                slot[12..16].copy_from_slice(&(count as u32).to_le_bytes());
                (hash(key), slot)
            })
            .collect();
        let (table, count) = table::build(&entries);
        bitmap.extend_from_slice(&heads);
        (bitmap, (table, count))
    }

    /// The first `n` bytes of a prefix key (all of a shorter one).
    fn prefix_head(key: &[u8], n: usize) -> &[u8] {
        &key[..n.min(key.len())]
    }

    /// The last `n` bytes of a suffix key (all of a shorter one).
    fn suffix_head(key: &[u8], n: usize) -> &[u8] {
        &key[key.len().saturating_sub(n)..]
    }
}
