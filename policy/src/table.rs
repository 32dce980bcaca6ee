//! The hash tables inside a blob: open addressing with linear probing, a control byte per
//! slot (0 = empty, else 8 bits of the key's hash), then the fixed-size slots.
//!
//! Probing reads only the control bytes (one byte per slot, so a whole probe run is usually
//! one cache line) and touches a slot, and the string pool behind it, only when the control
//! byte matches: a lookup for a key that is not there, the common case when a name's
//! suffixes are tried one by one, rarely leaves the control array.

use crate::view::ViewError;

/// A table's place in the blob.
#[derive(Clone, Copy, Default)]
pub(crate) struct Table {
    ctrl: usize,
    slots: usize,
    cap: usize,
    slot_len: usize,
}

/// Control bytes are padded to a multiple of 4 so that the slots stay 4-byte aligned.
pub(crate) const fn ctrl_len(cap: usize) -> usize {
    (cap + 3) & !3
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
        ctrl: 0,
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
        let ctrl = off.checked_add(skip).ok_or(ViewError::Truncated)?;
        let slots = ctrl
            .checked_add(ctrl_len(cap))
            .ok_or(ViewError::Truncated)?;
        let end = cap.checked_mul(slot_len).and_then(|n| n.checked_add(slots));
        match end {
            Some(end) if end <= blob.len() => Ok(Table {
                ctrl,
                slots,
                cap,
                slot_len,
            }),
            _ => Err(ViewError::Truncated),
        }
    }

    /// Where the section's leading `skip` bytes start (the glob index keeps a bitmap there).
    pub(crate) fn leading(&self, skip: usize) -> usize {
        self.ctrl.saturating_sub(skip)
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
        if self.cap == 0 {
            return None;
        }
        let ctrl = blob.get(self.ctrl..self.ctrl.checked_add(self.cap)?)?;
        let want = ctrl_byte(h);
        let mut i = home(h, self.cap);
        for _ in 0..self.cap {
            let c = *ctrl.get(i)?;
            if c == 0 {
                return None;
            }
            if c == want {
                let start = self.slots.checked_add(i.checked_mul(self.slot_len)?)?;
                if let Some(slot) = blob.get(start..start.checked_add(self.slot_len)?)
                    && let Some(found) = check(slot)
                {
                    return Some(found);
                }
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

/// Builds control bytes and slots for `(hash, slot)` entries; returns them and the capacity.
#[cfg(feature = "compile")]
pub(crate) fn build(slot_len: usize, entries: &[(u64, Vec<u8>)]) -> (Vec<u8>, usize) {
    let cap = capacity(entries.len());
    let slots = ctrl_len(cap);
    let mut bytes = vec![0u8; slots + cap * slot_len];
    for (h, slot) in entries {
        let mut i = home(*h, cap);
        while bytes[i] != 0 {
            i = (i + 1) & (cap - 1);
        }
        bytes[i] = ctrl_byte(*h);
        let at = slots + i * slot_len;
        bytes[at..at + slot_len].copy_from_slice(slot);
    }
    (bytes, cap)
}
