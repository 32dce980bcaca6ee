//! The answers ledger: which addresses allowed names resolved to in this task, and until when.
//!
//! The sidecar writes every A/AAAA answer it serves for an allowed name (along its CNAME
//! chain) into `answers.bin` in the run directory; every process with the shim maps that file
//! and looks destinations up in its `connect`/`sendto` hooks. The shim also keeps a small
//! table of the same form in its own memory for its own lookups' answers, so a `getaddrinfo`
//! followed at once by `connect` never races the sidecar.
//!
//! A table is a fixed number of 32-byte slots (a power of two) after a 64-byte header. A key
//! (the address as 16 bytes, IPv4 as IPv4-mapped IPv6) lives in one of the [`WINDOW`] slots
//! from its home slot on. Lookups read the whole window (no tombstones, no deletion: an entry
//! is dead when its expiry has passed). An insert refreshes the key's slot, else takes an
//! empty or expired slot of the window, else the one expiring first: the table never grows
//! and a flood of answers only evicts the entries closest to expiry.
//!
//! Slots are seqlocks: a writer claims a slot by moving its sequence from even to odd with a
//! compare-and-swap (so several writers — threads of one process — never interleave), stores
//! the fields, and publishes an even sequence; a reader keeps a slot's fields only when the
//! sequence was even and unchanged around its reads. All fields are atomics, so a reader in
//! another process can never see a torn value as valid. No locks, no allocation, no panics:
//! safe to call from any hook.
//!
//! ```text
//! header (64 bytes): magic 8 bytes b"TGLEDG\0\x01", slot count u32 (power of two), 52 reserved
//! slot (32 bytes):   sequence u32, expiry u32 (Unix seconds; 0 = empty),
//!                    address high u64, address low u64 (big-endian halves), reserved u64
//! ```
#![no_std]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

pub const MAGIC: [u8; 8] = *b"TGLEDG\0\x01";
pub const HEADER_LEN: usize = 64;
pub const SLOT_LEN: usize = 32;
/// Slots a key may live in, from its home slot on.
pub const WINDOW: usize = 8;
/// The sidecar's default table: 65,536 slots (2 MiB), far more addresses than a task's
/// allowed names resolve to within a grace period.
pub const DEFAULT_SLOTS: u32 = 65_536;

/// One slot. `repr(C)` with only atomics: its layout is the file's.
#[repr(C, align(32))]
pub struct Slot {
    seq: AtomicU32,
    expiry: AtomicU32,
    hi: AtomicU64,
    lo: AtomicU64,
    _reserved: AtomicU64,
}

impl Slot {
    /// An empty slot, for tables in a process's own memory: `[const { Slot::empty() }; N]`.
    pub const fn empty() -> Slot {
        Slot {
            seq: AtomicU32::new(0),
            expiry: AtomicU32::new(0),
            hi: AtomicU64::new(0),
            lo: AtomicU64::new(0),
            _reserved: AtomicU64::new(0),
        }
    }

    /// A consistent (key, expiry) snapshot, or `None` while a writer is inside.
    fn read(&self) -> Option<(u64, u64, u32)> {
        for _ in 0..4 {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                core::hint::spin_loop();
                continue;
            }
            let hi = self.hi.load(Ordering::Relaxed);
            let lo = self.lo.load(Ordering::Relaxed);
            let expiry = self.expiry.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return Some((hi, lo, expiry));
            }
        }
        None
    }

    /// Writes a key and expiry unless another writer holds the slot (then false).
    fn write(&self, hi: u64, lo: u64, expiry: u32) -> bool {
        let s = self.seq.load(Ordering::Relaxed);
        if s & 1 == 1
            || self
                .seq
                .compare_exchange(s, s.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        fence(Ordering::Release);
        self.hi.store(hi, Ordering::Relaxed);
        self.lo.store(lo, Ordering::Relaxed);
        self.expiry.store(expiry, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
        true
    }
}

/// The 16-byte key of an address: IPv6 as is, IPv4 as `::ffff:a.b.c.d`.
pub fn key_v4(octets: [u8; 4]) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[10] = 0xff;
    k[11] = 0xff;
    k[12..].copy_from_slice(&octets);
    k
}

fn halves(key: &[u8; 16]) -> (u64, u64) {
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&key[..8]);
    lo.copy_from_slice(&key[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

fn home(hi: u64, lo: u64) -> usize {
    let h = (hi ^ lo.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 32) as usize
}

/// A table of slots (the mapped file's, or a process's own).
#[derive(Clone, Copy)]
pub struct Ledger<'a> {
    slots: &'a [Slot],
}

impl<'a> Ledger<'a> {
    /// A table over `slots` (a power of two of them).
    pub fn new(slots: &'a [Slot]) -> Option<Ledger<'a>> {
        slots.len().is_power_of_two().then_some(Ledger { slots })
    }

    /// The table in a mapped ledger file of `len` bytes at `base`, when its header is valid.
    ///
    /// # Safety
    /// `base` must point at `len` readable bytes, aligned to 32, that stay mapped for `'a`
    /// and are only ever written through [`Slot`] atomics (the header is written once,
    /// before the file is published).
    pub unsafe fn from_mapping(base: *const u8, len: usize) -> Option<Ledger<'a>> {
        if base.is_null() || len < HEADER_LEN || !(base as usize).is_multiple_of(32) {
            return None;
        }
        // SAFETY: the header's 64 bytes are readable (len >= HEADER_LEN) and never change.
        let header = unsafe { core::slice::from_raw_parts(base, HEADER_LEN) };
        if header[..8] != MAGIC {
            return None;
        }
        let count = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        if count == 0 || !count.is_power_of_two() || HEADER_LEN + count * SLOT_LEN > len {
            return None;
        }
        // SAFETY: per the caller, the slots' bytes are mapped, aligned and only accessed
        // atomically; Slot is repr(C) of atomics.
        let slots = unsafe { core::slice::from_raw_parts(base.add(HEADER_LEN).cast(), count) };
        Some(Ledger { slots })
    }

    /// The header of a file with `slots` slots.
    pub fn header(slots: u32) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&slots.to_le_bytes());
        h
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn window(&self, hi: u64, lo: u64) -> impl Iterator<Item = &'a Slot> + use<'a> {
        let slots = self.slots;
        let mask = slots.len() - 1;
        let start = home(hi, lo) & mask;
        (0..WINDOW.min(slots.len())).filter_map(move |i| slots.get((start + i) & mask))
    }

    /// Whether `key` has an entry that expires after `now`.
    pub fn contains(&self, key: &[u8; 16], now: u32) -> bool {
        let (hi, lo) = halves(key);
        self.window(hi, lo)
            .any(|slot| matches!(slot.read(), Some((h, l, e)) if h == hi && l == lo && e > now))
    }

    /// Records `key` until `expiry` (an existing later expiry is kept). False when every
    /// candidate slot was busy with another writer (the caller may simply go on).
    pub fn insert(&self, key: &[u8; 16], expiry: u32, now: u32) -> bool {
        let (hi, lo) = halves(key);
        if hi == 0 && lo == 0 {
            return false;
        }
        let mut victim: Option<(&Slot, u32)> = None;
        for slot in self.window(hi, lo) {
            match slot.read() {
                Some((h, l, e)) if h == hi && l == lo => {
                    return e >= expiry || slot.write(hi, lo, expiry);
                }
                Some((_, _, e)) => {
                    let free = if e <= now { 0 } else { e };
                    if victim.is_none_or(|(_, best)| free < best) {
                        victim = Some((slot, free));
                    }
                }
                None => {}
            }
        }
        victim.is_some_and(|(slot, _)| slot.write(hi, lo, expiry))
    }

    /// Entries alive at `now` (for metrics and tests; reads every slot).
    pub fn live(&self, now: u32) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s.read(), Some((_, _, e)) if e > now))
            .count()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn table(n: usize) -> Vec<Slot> {
        (0..n).map(|_| Slot::empty()).collect()
    }

    #[test]
    fn entries_are_found_until_they_expire() {
        let slots = table(64);
        let l = Ledger::new(&slots).unwrap();
        let a = key_v4([203, 0, 113, 5]);
        assert!(!l.contains(&a, 100));
        assert!(l.insert(&a, 200, 100));
        assert!(l.contains(&a, 199));
        assert!(!l.contains(&a, 200));
        // A shorter expiry does not cut a longer one.
        assert!(l.insert(&a, 150, 100));
        assert!(l.contains(&a, 180));
        assert_eq!(l.live(100), 1);
    }

    #[test]
    fn a_full_table_evicts_what_expires_first_and_keeps_working() {
        let slots = table(16);
        let l = Ledger::new(&slots).unwrap();
        for i in 0..1000u32 {
            let k = key_v4(i.to_be_bytes());
            assert!(l.insert(&k, 1000 + i, 10));
            assert!(l.contains(&k, 10), "just inserted {i}");
        }
        assert!(l.live(10) <= 16);
        // The newest (longest-lived) entries survive.
        assert!(l.contains(&key_v4(999u32.to_be_bytes()), 10));
    }

    #[test]
    fn threads_insert_and_read_at_once_without_torn_entries() {
        let slots = table(256);
        let l = Ledger::new(&slots).unwrap();
        std::thread::scope(|s| {
            for t in 0..8u8 {
                s.spawn(move || {
                    for i in 0..2000u32 {
                        let mut k = [t; 16];
                        k[12..].copy_from_slice(&i.to_be_bytes());
                        l.insert(&k, 5000, 1);
                        let _ = l.contains(&k, 1);
                    }
                });
            }
        });
        for slot in l.slots {
            let (hi, lo, _) = slot.read().unwrap();
            if hi == 0 && lo == 0 {
                continue;
            }
            // Every stored key is one some thread wrote: all of its first 12 bytes equal.
            let t = (hi >> 56) as u8;
            assert_eq!(hi, u64::from_be_bytes([t; 8]));
            assert_eq!(lo >> 32, u64::from(u32::from_be_bytes([t; 4])));
        }
    }
}
