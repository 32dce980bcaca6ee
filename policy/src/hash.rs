//! The hashes the compiler and the view agree on for table keys. Both are part of the blob
//! format: changing either means a new format version.
//!
//! Whole keys (DNS names, exact paths, file names) use a word-at-a-time multiply-xor hash
//! with a murmur3 finaliser: names are hashed once per label on the hot path, so bytes per
//! cycle matter. Glob index keys use FNV-1a, whose byte-at-a-time state is the hash of the
//! prefix read so far, so walking a path hashes all of its prefixes in one pass.
//! Neither needs to resist chosen keys: the table layout (and so every probe length) is
//! fixed by the policy at compile time; queries only choose which slot to start at.

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The hash of a whole key.
#[inline]
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    fmix(h)
}

/// murmur3's 64-bit finaliser: every input bit reaches the low bits used for the slot.
#[inline]
const fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Incremental FNV-1a: the state after each byte is the hash of the prefix read so far.
#[derive(Clone, Copy)]
pub(crate) struct Hasher(u64);

impl Hasher {
    #[inline]
    pub(crate) const fn new() -> Hasher {
        Hasher(FNV_OFFSET)
    }

    #[inline]
    pub(crate) fn write_u8(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }

    #[inline]
    pub(crate) const fn finish(&self) -> u64 {
        fmix(self.0)
    }
}

/// The glob index hash of a prefix key (bytes front to back).
#[cfg(feature = "compile")]
pub(crate) fn prefix_hash(bytes: &[u8]) -> u64 {
    let mut h = Hasher::new();
    for &b in bytes {
        h.write_u8(b);
    }
    h.finish()
}

/// The glob index hash of a suffix key (bytes back to front).
#[cfg(feature = "compile")]
pub(crate) fn suffix_hash(bytes: &[u8]) -> u64 {
    let mut h = Hasher::new();
    for &b in bytes.iter().rev() {
        h.write_u8(b);
    }
    h.finish()
}
