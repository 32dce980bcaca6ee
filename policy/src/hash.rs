//! The hash the compiler and the view agree on for table keys.
//!
//! FNV-1a (64 bit): tiny, no_std, no tables, streaming (a prefix's hash is a step on the way
//! to the whole key's), and good enough for keys that come from a trusted compiler. It is part
//! of the blob format: changing it means a new format version.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The hash of a whole key.
#[inline]
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h = Hasher::new();
    h.write(bytes);
    h.finish()
}

/// Incremental form: the state after each byte is the hash of the prefix read so far.
#[derive(Clone, Copy)]
pub(crate) struct Hasher(u64);

impl Hasher {
    #[inline]
    pub(crate) const fn new() -> Hasher {
        Hasher(OFFSET)
    }

    #[inline]
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u8(b);
        }
    }

    #[inline]
    pub(crate) fn write_u8(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(PRIME);
    }

    #[inline]
    pub(crate) const fn finish(&self) -> u64 {
        // FNV's low bits are weak for short keys; fold the high half in before masking.
        self.0 ^ (self.0 >> 29)
    }
}

/// The hash of a glob index suffix key: its bytes back to front.
#[cfg(feature = "compile")]
pub(crate) fn hash_reversed(bytes: &[u8]) -> u64 {
    let mut h = Hasher::new();
    for &b in bytes.iter().rev() {
        h.write_u8(b);
    }
    h.finish()
}
