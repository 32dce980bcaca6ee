//! The compiled policy blob: the layout [`crate::compile`] writes and [`crate::PolicyView`]
//! reads. All integers are little-endian; all offsets are from the start of the blob.
//!
//! ```text
//! header (HEADER_LEN = 128 bytes)
//!   0  magic            8 bytes, b"TGPOL\0\0\x01"
//!   8  format           u32, FORMAT_VERSION
//!  12  blob length      u32
//!  16  mode u8, dns answer u8, cname mode u8, dns default u8 (a verdict)
//!  20  process default u8 (a verdict), most labels of an exact DNS rule u8, most labels
//!      of a wildcard's base u8 (0 = no such rule; the matcher skips longer keys), reserved u8
//!  24  block_ttl        u32
//!  28  version          16 ASCII hex digits
//!  44  DNS table              offset u32, capacity u32 (a power of two, or 0)
//!  52  exact path table       offset u32, capacity u32
//!  60  exact file-name table  offset u32, capacity u32
//!  68  path globs             offset u32, count u32
//!  76  file-name globs        offset u32, count u32
//!  84  path-glob prefix index offset u32, capacity u32
//!  92  path-glob suffix index offset u32, capacity u32
//! 100  name-glob prefix index offset u32, capacity u32
//! 108  name-glob suffix index offset u32, capacity u32
//! 116  string pool            offset u32, length u32
//! 124  [net] section        offset u32 (0 = no [net] section; see [`crate::net`])
//! glob index filters (FILTERS_LEN = 4 x 96 bytes), right after the header, in the order
//!     path-glob prefix, path-glob suffix, name-glob prefix, name-glob suffix: each index's
//!     key-length bitmap and head filter (see below). Kept next to the header, which every
//!     decision reads anyway, rather than in front of each index's table: a decision then
//!     touches no page for them of its own.
//!
//! Every hash table section is `capacity` fixed-size slots whose first byte is a control
//! byte (0 = empty slot, else 8 bits of the key's hash); see [`crate::table`].
//! DNS slot (8 bytes): control u8, text length u8, exact verdict u8, wildcard verdict u8,
//!     text offset u32. The key (hashed) is the name's lower-case wire form without the
//!     root label, one byte longer than the name's text; the text is `*.name`, against which
//!     a candidate is compared label by label. The exact rule's pattern is the text without
//!     its first two bytes. NO_VERDICT means no rule of that kind.
//! exact path / file-name slot (8 bytes): control u8, verdict u8, text length u16, text
//!     offset u32. The key is the text. The file-name table also holds the file name of
//!     every exact path rule: its verdict byte has NAME_HAS_PATHS set, and is NO_NAME_RULE
//!     in its low bits when no file-name rule has that name. A decision probes the paths
//!     table only when the file name is there with the flag, so a path no rule names costs
//!     one probe (one page in a new process) for both tables.
//! glob entry (16 bytes): literal count u32, text offset u32, text length u32, verdict u8,
//!     3 reserved. Globs are grouped in buckets (consecutive entries); inside a bucket sorted
//!     by literal count (descending), then verdict (deny first), so a bucket's first match is
//!     its best.
//! glob index: its filters (in the block after the header) are a 32-byte bitmap of the key
//!     lengths present (bit i = some key has length i) and a 64-byte head filter (bit
//!     `head_bit(h)` set for the hash h of each key's first min(HEAD_KEY_LEN, length) bytes,
//!     hashed the way the key is); its section is a hash table of 16-byte slots: control
//!     u8, key length u8, 2 reserved, key offset u32, first glob u32, glob count u32. The head filter lets a text whose start (end) no key shares skip every
//!     probe: without it, a text is probed at each length in the bitmap, and each probe of a
//!     large index is a page fault in a process that has not touched that page yet.
//!     Each glob is indexed once, by its literal prefix (bytes before the first `*`/`?`) or
//!     by its literal suffix (bytes after the last one), whichever is longer, cut to
//!     MAX_KEY_LEN bytes. A text is looked up with each of its prefixes (suffixes) whose
//!     length is in the bitmap; suffix keys are hashed back to front, so both sides hash
//!     incrementally while walking the text.
//! string pool: the bytes the offsets above point into.
//! ```
//!
//! Table capacities are powers of two with a load factor of at most 3/4.

pub(crate) const MAGIC: [u8; 8] = *b"TGPOL\0\0\x01";
pub(crate) const FORMAT_VERSION: u32 = 3;
pub(crate) const HEADER_LEN: usize = 128;
pub(crate) const ENTRY_LEN: usize = 16;
pub(crate) const DNS_SLOT_LEN: usize = 8;
pub(crate) const EXACT_SLOT_LEN: usize = 8;
pub(crate) const INDEX_SLOT_LEN: usize = 16;
pub(crate) const BITMAP_LEN: usize = 32;
/// The glob index head filter: bytes, and how many leading (trailing) key bytes it covers.
pub(crate) const HEAD_FILTER_LEN: usize = 64;
pub(crate) const HEAD_KEY_LEN: usize = 4;
/// One glob index's filters: its length bitmap, then its head filter.
pub(crate) const INDEX_LEADING_LEN: usize = BITMAP_LEN + HEAD_FILTER_LEN;
/// The filters of the four glob indexes, right after the header.
#[cfg(feature = "compile")]
pub(crate) const FILTERS_LEN: usize = 4 * INDEX_LEADING_LEN;
/// Where the filters of glob index `k` (0 path prefix, 1 path suffix, 2 name prefix,
/// 3 name suffix) start.
pub(crate) const fn filters_at(k: usize) -> usize {
    HEADER_LEN + k * INDEX_LEADING_LEN
}

/// The head filter bit of a hash: bits the table does not use for the home slot (low bits)
/// or the control byte (top byte).
#[inline]
pub(crate) const fn head_bit(h: u64) -> usize {
    ((h >> 40) as usize) & (HEAD_FILTER_LEN * 8 - 1)
}
/// Longest glob index key (the bitmap has one bit per length 0..=255).
#[cfg(feature = "compile")]
pub(crate) const MAX_KEY_LEN: usize = 255;
pub(crate) const VERSION_LEN: usize = 16;
#[cfg(feature = "compile")]
pub(crate) const NO_VERDICT: u8 = 0xff;
/// File-name slot flag: some exact path rule ends in this file name.
pub(crate) const NAME_HAS_PATHS: u8 = 0x80;
/// File-name slot verdict when the name is there only for [`NAME_HAS_PATHS`].
#[cfg(feature = "compile")]
pub(crate) const NO_NAME_RULE: u8 = 0x7f;

pub(crate) const OFF_FORMAT: usize = 8;
pub(crate) const OFF_BLOB_LEN: usize = 12;
pub(crate) const OFF_MODE: usize = 16;
pub(crate) const OFF_ANSWER: usize = 17;
pub(crate) const OFF_CNAME: usize = 18;
pub(crate) const OFF_DNS_DEFAULT: usize = 19;
pub(crate) const OFF_PROCESS_DEFAULT: usize = 20;
pub(crate) const OFF_MAX_EXACT_LABELS: usize = 21;
pub(crate) const OFF_MAX_WILD_LABELS: usize = 22;
pub(crate) const OFF_BLOCK_TTL: usize = 24;
pub(crate) const OFF_VERSION: usize = 28;
pub(crate) const OFF_DNS_TABLE: usize = 44;
pub(crate) const OFF_PATH_TABLE: usize = 52;
pub(crate) const OFF_NAME_TABLE: usize = 60;
pub(crate) const OFF_PATH_GLOBS: usize = 68;
pub(crate) const OFF_NAME_GLOBS: usize = 76;
pub(crate) const OFF_PATH_PREFIX_INDEX: usize = 84;
pub(crate) const OFF_PATH_SUFFIX_INDEX: usize = 92;
pub(crate) const OFF_NAME_PREFIX_INDEX: usize = 100;
pub(crate) const OFF_NAME_SUFFIX_INDEX: usize = 108;
pub(crate) const OFF_POOL: usize = 116;
pub(crate) const OFF_NET: usize = 124;

/// A little-endian u32 at `off`, if it is inside `bytes`.
#[inline]
pub(crate) fn u32_at(bytes: &[u8], off: usize) -> Option<u32> {
    let b = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The string pool: every read is bounds-checked.
#[derive(Clone, Copy, Default)]
pub(crate) struct Pool<'a>(pub(crate) &'a [u8]);

impl<'a> Pool<'a> {
    #[inline]
    pub(crate) fn bytes(&self, off: u32, len: usize) -> Option<&'a [u8]> {
        let off = off as usize;
        self.0.get(off..off.checked_add(len)?)
    }

    #[inline]
    pub(crate) fn str(&self, off: u32, len: usize) -> Option<&'a str> {
        core::str::from_utf8(self.bytes(off, len)?).ok()
    }
}
