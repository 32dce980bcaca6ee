//! The mapped `policy.bin`: mapped once per process, re-mapped when the sidecar replaces it.
//!
//! The current mapping is published through one [`AtomicPtr`] to a small record (the blob's
//! address and length and the file identity it came from) that lives in its own anonymous
//! page. Old mappings and records are never unmapped: a `vfork` child or another thread may
//! still be reading them, and the leak is bounded by the number of policy changes.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use guard_policy::PolicyView;

use crate::buf::Buf;
use crate::sys::{self, FileStat};

struct Record {
    blob: *const u8,
    len: usize,
    stat: FileStat,
}

impl Record {
    fn view(&self) -> Option<PolicyView<'static>> {
        if self.blob.is_null() {
            return None;
        }
        // SAFETY: blob is a read-only mapping of len bytes that is never unmapped.
        let bytes = unsafe { core::slice::from_raw_parts(self.blob, self.len) };
        PolicyView::open(bytes).ok()
    }
}

static CURRENT: AtomicPtr<Record> = AtomicPtr::new(ptr::null_mut());

const RECORD_PAGE: usize = 4096;

/// The policy to decide with: the current `policy.bin` (re-mapped first if the file changed
/// since the last call), or `None` when there is no valid one (missing, empty, corrupt).
/// When the file disappears after a valid policy was seen, the last one stays in force.
pub fn current(bin: &Buf<1024>) -> Option<PolicyView<'static>> {
    let seen = sys::stat(bin.as_cstr());
    let cur = CURRENT.load(Ordering::Acquire);
    // SAFETY: records are published fully initialised and never freed.
    let cur_ref = unsafe { cur.as_ref() };
    let st = match (seen, cur_ref) {
        (Some(st), Some(rec)) if rec.stat == st => return rec.view(),
        (None, Some(rec)) => return rec.view(),
        (None, None) => return None,
        (Some(st), _) => st,
    };
    let _ = st;
    let Some(new) = map(bin) else {
        return cur_ref.and_then(Record::view);
    };
    match CURRENT.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `new` was initialised by `map` and is now published for good.
        Ok(_) => unsafe { (*new).view() },
        Err(other) => {
            // Another thread published first; ours was never visible to anyone.
            // SAFETY: `new` and its blob are ours alone.
            unsafe { discard(new) };
            // SAFETY: published records are never freed.
            unsafe { other.as_ref() }.and_then(Record::view)
        }
    }
}

/// Maps the file and builds a record for it (a record with no blob when the file is empty
/// or not a valid policy, so the change is noticed once, not on every call).
fn map(bin: &Buf<1024>) -> Option<*mut Record> {
    // SAFETY: plain syscalls on a NUL-terminated path; results are checked.
    unsafe {
        let fd = libc::open(bin.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let Some(st) = sys::fstat(fd) else {
            libc::close(fd);
            return None;
        };
        let page = libc::mmap(
            ptr::null_mut(),
            RECORD_PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if page == libc::MAP_FAILED {
            libc::close(fd);
            return None;
        }
        let mut blob: *const u8 = ptr::null();
        let len = usize::try_from(st.size).unwrap_or(0);
        if len > 0 {
            let m = libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                fd,
                0,
            );
            if m != libc::MAP_FAILED {
                let bytes = core::slice::from_raw_parts(m as *const u8, len);
                if PolicyView::open(bytes).is_ok() {
                    blob = m as *const u8;
                } else {
                    libc::munmap(m, len);
                }
            }
        }
        libc::close(fd);
        let record = page.cast::<Record>();
        record.write(Record {
            blob,
            len,
            stat: st,
        });
        Some(record)
    }
}

unsafe fn discard(record: *mut Record) {
    // SAFETY: per the caller, nobody else knows this record or its blob.
    unsafe {
        if !(*record).blob.is_null() {
            libc::munmap((*record).blob as *mut libc::c_void, (*record).len);
        }
        libc::munmap(record.cast(), RECORD_PAGE);
    }
}
