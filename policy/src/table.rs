//! The hash tables inside a blob: open addressing with linear probing over fixed-size
//! slots whose first byte is a control byte (0 = empty, else 8 bits of the key's hash).
//!
//! A probe compares control bytes and reads the rest of a slot, and the string pool behind
//! it, only when one matches (1 in 255 for another key). Keeping the control byte inside
//! the slot, rather than in a separate array, makes a hit two dependent memory reads (slot,
//! then pool text) instead of three, which is what a decision costs on a large policy.

use crate::view::ViewError;

/// A table's place in the blob.
#[derive(Clone, Copy, Default)]
pub(crate) struct Table {
    slots: usize,
    cap: usize,
    slot_len: usize,
}

/// The home slot of a hash.
#[inline]
fn home(h: u64, cap: usize) -> usize {
    (h as usize) & (cap - 1)
}

/// The control byte of a hash: its top 8 bits, never 0.
#[inline]
fn ctrl_byte(h: u64) -> u8 {
    match (h >> 56) as u8 {
        0 => 1,
        b => b,
    }
}

impl Table {
    pub(crate) const EMPTY: Table = Table {
        slots: 0,
        cap: 0,
        slot_len: 0,
    };

    /// A table from a header field (offset u32, capacity u32) whose section starts with
    /// `skip` other bytes; checks that it lies inside the blob.
    pub(crate) fn at(
        blob: &[u8],
        field: usize,
        slot_len: usize,
        skip: usize,
    ) -> Result<Table, ViewError> {
        let read = |at: usize| -> Result<usize, ViewError> {
            let b = blob.get(at..at + 4).ok_or(ViewError::Truncated)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let (off, cap) = (read(field)?, read(field + 4)?);
        if cap != 0 && !cap.is_power_of_two() {
            return Err(ViewError::NotAPolicy);
        }
        let slots = off.checked_add(skip).ok_or(ViewError::Truncated)?;
        let end = cap.checked_mul(slot_len).and_then(|n| n.checked_add(slots));
        match end {
            Some(end) if end <= blob.len() => Ok(Table {
                slots,
                cap,
                slot_len,
            }),
            _ => Err(ViewError::Truncated),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.cap == 0
    }

    /// Probes for hash `h`; `check` sees each slot whose control byte matches and returns
    /// `Some` for the key sought. Bounded by the capacity, so a corrupt table (no empty
    /// slot) still ends.
    #[inline]
    pub(crate) fn find<'a, T>(
        &self,
        blob: &'a [u8],
        h: u64,
        mut check: impl FnMut(&'a [u8]) -> Option<T>,
    ) -> Option<T> {
        if self.cap == 0 || self.slot_len == 0 {
            return None;
        }
        let slots = blob.get(self.slots..self.slots.checked_add(self.cap * self.slot_len)?)?;
        let want = ctrl_byte(h);
        let mut i = home(h, self.cap);
        for _ in 0..self.cap {
            let slot = slots.get(i * self.slot_len..(i + 1) * self.slot_len)?;
            match slot[0] {
                0 => return None,
                c if c == want => {
                    if let Some(found) = check(slot) {
                        return Some(found);
                    }
                }
                _ => {}
            }
            i = (i + 1) & (self.cap - 1);
        }
        None
    }
}

/// Table capacity: a power of two with a load factor of at most 3/4 (0 for no keys).
#[cfg(feature = "compile")]
pub(crate) fn capacity(keys: usize) -> usize {
    if keys == 0 {
        0
    } else {
        (keys + keys / 3 + 1).next_power_of_two()
    }
}

/// Builds the slots for `(hash, slot)` entries, whose first byte is left for the control
/// byte; returns them and the capacity.
#[cfg(feature = "compile")]
pub(crate) fn build<const N: usize>(entries: &[(u64, [u8; N])]) -> (Vec<u8>, usize) {
    let cap = capacity(entries.len());
    let mut bytes = vec![0u8; cap * N];
    for (h, slot) in entries {
        let mut i = home(*h, cap);
        while bytes[i * N] != 0 {
            i = (i + 1) & (cap - 1);
        }
        let at = i * N;
        bytes[at..at + N].copy_from_slice(slot);
        bytes[at] = ctrl_byte(*h);
    }
    (bytes, cap)
}
