//! The answers ledger file (`answers.bin`, see `guard_ledger`): the addresses the guard served
//! for allowed names, which the shims' `connect`/`sendto` hooks look up.
//!
//! The file is created once, at its full size, and only its slots change afterwards (in
//! place, through the ledger's atomics): readers map it once and never see a partial file.
//! A sidecar restart keeps an existing valid file of the same size, so the addresses its
//! predecessor answered stay allowed for the processes that got them.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use guard_contract::ANSWERS_FILE;
use guard_ledger::{HEADER_LEN, Ledger, SLOT_LEN, key_v4};

use crate::query::{HEADER_LEN as DNS_HEADER_LEN, read_u16, read_u32};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
/// Longest TTL believed (a week): an upstream's year-long TTL should not allow an address
/// for a year.
const MAX_TTL: u32 = 7 * 24 * 3600;

/// The mapped ledger file.
pub struct LedgerFile {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is shared memory accessed only through guard_ledger's atomics, and it
// lives as long as the LedgerFile (never unmapped before drop).
unsafe impl Send for LedgerFile {}
// SAFETY: as above.
unsafe impl Sync for LedgerFile {}

impl Drop for LedgerFile {
    fn drop(&mut self) {
        // SAFETY: our own mapping of len bytes.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Seconds since the Unix epoch, as the ledger counts (the shims read the same clock).
pub fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

impl LedgerFile {
    /// Opens `answers.bin` in `dir` with `slots` slots (a power of two), creating it (and
    /// publishing it by rename) when it is missing or of another size.
    pub fn open(dir: &Path, slots: u32) -> std::io::Result<LedgerFile> {
        let slots = slots.max(1).next_power_of_two();
        let len = HEADER_LEN + slots as usize * SLOT_LEN;
        let path = dir.join(ANSWERS_FILE);
        if let Ok(f) = OpenOptions::new().read(true).write(true).open(&path)
            && f.metadata().is_ok_and(|m| m.len() == len as u64)
            && let Ok(l) = LedgerFile::map(&f, len)
            && l.ledger().is_some_and(|t| t.capacity() == slots as usize)
        {
            return Ok(l);
        }
        let tmp = dir.join(format!(".{ANSWERS_FILE}.{}.tmp", std::process::id()));
        let result = (|| {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            f.set_len(len as u64)?;
            std::os::unix::fs::FileExt::write_all_at(&f, &Ledger::header(slots), 0)?;
            let l = LedgerFile::map(&f, len)?;
            std::fs::rename(&tmp, &path)?;
            Ok(l)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn map(f: &std::fs::File, len: usize) -> std::io::Result<LedgerFile> {
        // SAFETY: a shared read-write mapping of the whole file, checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(LedgerFile {
            base: base.cast(),
            len,
        })
    }

    /// The table, when the file's header is valid.
    pub fn ledger(&self) -> Option<Ledger<'_>> {
        // SAFETY: a page-aligned mapping of len bytes that lives as long as self; the slots
        // are only accessed through the ledger's atomics.
        unsafe { Ledger::from_mapping(self.base, self.len) }
    }

    /// Records the A/AAAA records of an answer's answer section (the question's own and
    /// those of every name of its CNAME chain) until TTL + `grace`. Returns how many.
    pub fn record(&self, answer: &[u8], grace: u32) -> usize {
        let Some(ledger) = self.ledger() else {
            return 0;
        };
        let now = now();
        let mut n = 0;
        for_each_address(answer, |key, ttl| {
            let expiry = now.saturating_add(ttl.min(MAX_TTL)).saturating_add(grace);
            if ledger.insert(&key, expiry, now) {
                n += 1;
            }
        });
        n
    }
}

/// Calls `f` with (key, TTL) of each A and AAAA record in the answer section of `msg`.
/// Stops quietly at the first malformed record.
pub fn for_each_address(msg: &[u8], mut f: impl FnMut([u8; 16], u32)) {
    let (Some(qd), Some(an)) = (read_u16(msg, 4), read_u16(msg, 6)) else {
        return;
    };
    let mut pos = DNS_HEADER_LEN;
    for _ in 0..qd {
        let Some(p) = skip_name(msg, pos) else { return };
        pos = p + 4;
    }
    for _ in 0..an {
        let Some(p) = skip_name(msg, pos) else { return };
        let (Some(rtype), Some(ttl), Some(rdlen)) =
            (read_u16(msg, p), read_u32(msg, p + 4), read_u16(msg, p + 8))
        else {
            return;
        };
        let rdata = p + 10;
        let end = rdata + usize::from(rdlen);
        let Some(data) = msg.get(rdata..end) else {
            return;
        };
        match (rtype, data.len()) {
            (TYPE_A, 4) => f(key_v4([data[0], data[1], data[2], data[3]]), ttl),
            (TYPE_AAAA, 16) => {
                let mut k = [0u8; 16];
                k.copy_from_slice(data);
                f(k, ttl)
            }
            _ => {}
        }
        pos = end;
    }
}

fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            l if l & 0xc0 == 0xc0 => {
                msg.get(pos + 1)?;
                return Some(pos + 2);
            }
            l if l <= 63 => pos += 1 + usize::from(l),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a.example` CNAME `b.example`, A 192.0.2.7, AAAA 2001:db8::7.
    fn answer() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
        m.extend_from_slice(b"\x01a\x07example\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4]);
        m.extend_from_slice(b"\x01b\xc0\x0e");
        let b_at = (m.len() - 4) as u8;
        m.extend_from_slice(&[0xc0, b_at, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 7]);
        m.extend_from_slice(&[0xc0, b_at, 0, 28, 0, 1, 0, 0, 0, 90, 0, 16]);
        m.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        m
    }

    #[test]
    fn addresses_along_the_chain_are_found_with_their_ttls() {
        let mut got = Vec::new();
        for_each_address(&answer(), |k, ttl| got.push((k, ttl)));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (key_v4([192, 0, 2, 7]), 30));
        assert_eq!(got[1].1, 90);
        let mut cut = answer();
        cut.truncate(cut.len() - 3);
        let mut n = 0;
        for_each_address(&cut, |_, _| n += 1);
        assert_eq!(n, 1);
    }

    #[test]
    fn the_file_is_created_reused_and_recorded_into() {
        let dir = std::env::temp_dir().join(format!("ledger-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let l = LedgerFile::open(&dir, 100).unwrap();
        assert_eq!(l.ledger().unwrap().capacity(), 128);
        assert_eq!(l.record(&answer(), 10), 2);
        drop(l);
        let again = LedgerFile::open(&dir, 128).unwrap();
        let t = again.ledger().unwrap();
        assert!(t.contains(&key_v4([192, 0, 2, 7]), now()));
        assert!(!t.contains(&key_v4([192, 0, 2, 7]), now() + 41));
        let resized = LedgerFile::open(&dir, 256).unwrap();
        assert!(
            !resized
                .ledger()
                .unwrap()
                .contains(&key_v4([192, 0, 2, 7]), now())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
