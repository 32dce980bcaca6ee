//! The mapped `policy.bin`: mapped once per process, re-mapped when the sidecar replaces it.
//!
//! The current mapping is published through one [`AtomicPtr`] to a small record (the blob's
//! address and length and the file identity it came from) that lives in its own anonymous
//! page. Old mappings and records are never unmapped: a `vfork` child or another thread may
//! still be reading them, and the leak is bounded by the number of policy changes.

use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use guard_policy::PolicyView;

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

const RECORD_PAGE: usize = 4096;

/// A policy up to this size is read into the process's own memory the first time, instead of
/// mapped. That saves the mapping's system calls in every new process, and pages a process
/// has written are shared with its `fork` children (their entries are copied at `fork`), while
/// a file mapping's pages fault again in each child. Bigger policies (or a second one, after
/// a reload) are mapped: their cost must not grow with their size.
const INLINE_CAP: usize = 64 * 1024;

/// All of this module's mutable state, in one place: laid out together, the fields a
/// process writes first share a page (with the start of a small inline policy), where
/// separate statics scattered by the linker cost a page fault each, two when read first.
#[repr(C)]
struct State {
    /// Written once by [`prepare`], for its side effect on the page.
    prepared: AtomicBool,
    /// The record decisions use.
    current: AtomicPtr<Record>,
    /// When the file was last checked (CLOCK_MONOTONIC_COARSE, milliseconds; 0 = never).
    last_check_ms: AtomicU64,
    /// The first record of a process lives in `first` (no page to map for the common case
    /// of a policy that never changes during the process's life); handed out once.
    first_taken: AtomicBool,
    /// `inline` handed out (once).
    inline_taken: AtomicBool,
    first: UnsafeCell<MaybeUninit<Record>>,
    inline: UnsafeCell<[MaybeUninit<u8>; INLINE_CAP]>,
}

// SAFETY: `first` and `inline` are each written once, by the thread that took them
// (`first_taken`, `inline_taken`), before the record pointing at them is published through
// `current` (Release); read-only afterwards. The rest are atomics.
unsafe impl Sync for State {}

static STATE: State = State {
    prepared: AtomicBool::new(false),
    current: AtomicPtr::new(ptr::null_mut()),
    last_check_ms: AtomicU64::new(0),
    first_taken: AtomicBool::new(false),
    inline_taken: AtomicBool::new(false),
    first: UnsafeCell::new(MaybeUninit::uninit()),
    inline: UnsafeCell::new([const { MaybeUninit::uninit() }; INLINE_CAP]),
};

/// How long a name lookup may decide with the mapped policy before checking the file again.
/// A `stat` costs a syscall (1.5 µs under gVisor), which would be most of a lookup's budget;
/// launches always check.
const RECHECK_MS: u64 = 100;

fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes a timespec; served from the vDSO, no syscall.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1000)
        .wrapping_add(ts.tv_nsec as u64 / 1_000_000)
}

/// Makes this module's state page writable before its first use, from a new process's
/// constructor. Its first access would otherwise be a read (the kernel maps the shared zero
/// page), and the first write right after another fault to replace it; a store first is one
/// fault. Not for `fork` children, where it would copy a page the parent shares with them.
pub fn prepare() {
    STATE.prepared.store(true, Ordering::Relaxed);
}

/// The policy mapped last, without looking at the file again (for a second decision right
/// after one that did).
pub fn current_unchecked() -> Option<PolicyView<'static>> {
    // SAFETY: records are published fully initialised and never freed.
    unsafe { STATE.current.load(Ordering::Acquire).as_ref() }.and_then(Record::view)
}

/// [`current`], but without checking the file again when it was checked less than
/// [`RECHECK_MS`] ago (for name lookups, which are frequent and cheap).
pub fn recent(bin: &CStr) -> Option<PolicyView<'static>> {
    let now = coarse_ms().max(1);
    let last = STATE.last_check_ms.load(Ordering::Acquire);
    if last != 0 && now.wrapping_sub(last) < RECHECK_MS {
        // SAFETY: records are published fully initialised and never freed.
        if let Some(rec) = unsafe { STATE.current.load(Ordering::Acquire).as_ref() } {
            return rec.view();
        }
    }
    // The time is stamped only after `current` has published what it found: stamped first,
    // a thread arriving while the file is re-mapped would skip the check and decide with the
    // old policy after a reload (seen as a few of 32 threads connecting by the old rules).
    let view = current(bin);
    STATE.last_check_ms.store(now, Ordering::Release);
    view
}

/// The policy to decide with: the current `policy.bin` (re-mapped first if the file changed
/// since the last call), or `None` when there is no valid one (missing, empty, corrupt).
/// When the file disappears after a valid policy was seen, the last one stays in force.
///
/// Launch decisions use this (a `stat` per launch is noise next to an exec); it does not read
/// the clock, whose first use faults in the vDSO data page of every new process.
pub fn current(bin: &CStr) -> Option<PolicyView<'static>> {
    let cur = STATE.current.load(Ordering::Acquire);
    // SAFETY: records are published fully initialised and never freed.
    let cur_ref = unsafe { cur.as_ref() };
    if let Some(rec) = cur_ref {
        match sys::stat(bin) {
            Ok(st) if rec.stat == st => return rec.view(),
            Err(_) => return rec.view(),
            Ok(_) => {}
        }
    }
    // First use (mapping straight away: `map` fails cheaply when there is no file), or the
    // file changed.
    let Some(new) = map(bin) else {
        return cur_ref.and_then(Record::view);
    };
    match STATE
        .current
        .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
    {
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

/// Room for one record: the static slot the first time, an anonymous page afterwards.
fn record_slot() -> Option<*mut Record> {
    if !STATE.first_taken.swap(true, Ordering::AcqRel) {
        return Some(STATE.first.get().cast());
    }
    // SAFETY: an anonymous private mapping, checked below.
    let page = unsafe {
        libc::mmap(
            ptr::null_mut(),
            RECORD_PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    (page != libc::MAP_FAILED).then_some(page.cast())
}

fn is_inline(blob: *const u8) -> bool {
    ptr::eq(blob, STATE.inline.get().cast::<u8>())
}

/// Reads all `len` bytes of `fd` into the inline buffer, if it is free and big enough.
fn read_inline(fd: &sys::Fd, len: usize) -> Option<*const u8> {
    if len > INLINE_CAP || STATE.inline_taken.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: taken by this thread alone (INLINE_TAKEN) and not yet published.
    let buf = unsafe { &mut *STATE.inline.get() };
    let mut done = 0;
    while done < len {
        let n = fd.pread(buf.get_mut(done..len)?, done).ok()?;
        if n == 0 {
            return None;
        }
        done += n;
    }
    Some(buf.as_ptr().cast())
}

/// Maps the file and builds a record for it (a record with no blob when the file is empty
/// or not a valid policy, so the change is noticed once, not on every call).
fn map(bin: &CStr) -> Option<*mut Record> {
    let fd = sys::Fd::open(bin, libc::O_RDONLY).ok()?;
    let st = fd.stat().ok()?;
    let record = record_slot()?;
    let mut blob: *const u8 = ptr::null();
    let len = usize::try_from(st.size).unwrap_or(0);
    if len > 0
        && let Some(m) = read_inline(&fd, len)
    {
        // SAFETY: len bytes were read into the inline buffer, which lives forever.
        let bytes = unsafe { core::slice::from_raw_parts(m, len) };
        if PolicyView::open(bytes).is_ok() {
            blob = m;
        }
    } else if len > 0
        // Shared, not private: identical for a read-only mapping of a file that is only ever
        // replaced by rename, and on Linux 6.x with large page-cache folios (ext4) a private
        // file mapping made every process start ~4 ms slower. A decision touches a handful
        // of pages; without MADV_RANDOM every fault would map the pages around it too (a
        // whole large folio on ext4), and the process would pay for setting up and tearing
        // down those entries.
        && let Ok(m) = sys::map_shared_random(&fd, len)
    {
        // SAFETY: a read-only mapping of len bytes that is never unmapped while published.
        let bytes = unsafe { core::slice::from_raw_parts(m, len) };
        if PolicyView::open(bytes).is_ok() {
            blob = m;
        } else {
            // SAFETY: ours alone, never published.
            unsafe { sys::unmap(m, len) };
        }
    }
    // SAFETY: `record` is a free slot (see record_slot).
    unsafe {
        record.write(Record {
            blob,
            len,
            stat: st,
        })
    };
    Some(record)
}

unsafe fn discard(record: *mut Record) {
    // SAFETY: per the caller, nobody else knows this record or its blob.
    unsafe {
        let blob = (*record).blob;
        if !blob.is_null() && !is_inline(blob) {
            sys::unmap(blob, (*record).len);
        }
        // The static first slot is simply never used again.
        if record != STATE.first.get().cast::<Record>() {
            libc::munmap(record.cast(), RECORD_PAGE);
        }
    }
}
