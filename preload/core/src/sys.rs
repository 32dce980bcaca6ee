//! Thin wrappers over the raw libc calls the hooks need. None of these allocate or lock.
//!
//! `stat` goes through `syscall` because glibc only exports `stat`/`fstat` as symbols since
//! 2.33; the raw call keeps the library loadable on older glibc and never reaches a hooked
//! symbol.

use core::ffi::{CStr, c_char, c_int};
use core::mem::MaybeUninit;

pub fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(value: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = value }
}

/// The fields of `struct stat` the shim uses.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub size: i64,
    pub mtime: i64,
    pub mtime_nsec: i64,
}

// The field types differ between targets (e.g. `st_mode`, `st_size`), hence the casts.
#[allow(clippy::unnecessary_cast)]
fn from_raw(st: &libc::stat) -> FileStat {
    FileStat {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        mode: st.st_mode as u32,
        size: st.st_size as i64,
        mtime: st.st_mtime as i64,
        mtime_nsec: st.st_mtime_nsec as i64,
    }
}

/// `stat(2)` (following symlinks) of a NUL-terminated path.
pub fn stat(path: &CStr) -> Option<FileStat> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: the kernel writes a struct stat (same layout as libc's on the supported
    // 64-bit targets) into st; path is NUL-terminated by the caller.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            path.as_ptr(),
            st.as_mut_ptr(),
            0 as c_int,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: initialised by the successful syscall (and zeroed before).
    Some(from_raw(unsafe { st.assume_init_ref() }))
}

pub fn fstat(fd: c_int) -> Option<FileStat> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: as in `stat`.
    let rc = unsafe { libc::syscall(libc::SYS_fstat, fd, st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: initialised by the successful syscall.
    Some(from_raw(unsafe { st.assume_init_ref() }))
}

pub fn is_regular(st: &FileStat) -> bool {
    st.mode & libc::S_IFMT == libc::S_IFREG
}

/// `readlink(2)` into `out`; returns the target length. `None` for "not a symlink" and
/// errors alike; a target that fills `out` completely counts as too long.
pub fn readlink(path: &CStr, out: &mut [u8]) -> Option<usize> {
    // SAFETY: out is a valid writable buffer of out.len() bytes.
    let n = unsafe { libc::readlink(path.as_ptr(), out.as_mut_ptr().cast(), out.len()) };
    if n < 0 || n as usize >= out.len() {
        None
    } else {
        Some(n as usize)
    }
}

/// The current directory into `out` (without NUL); false when it does not fit.
pub fn getcwd(out: &mut [u8]) -> Option<usize> {
    // SAFETY: glibc and musl write at most out.len() bytes and never allocate when given a
    // buffer.
    let p = unsafe { libc::getcwd(out.as_mut_ptr().cast(), out.len()) };
    if p.is_null() {
        return None;
    }
    out.iter().position(|&b| b == 0)
}

/// The bytes of a NUL-terminated C string (empty for NULL).
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string that outlives the returned slice.
pub unsafe fn cstr<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return &[];
    }
    // SAFETY: per the contract above.
    unsafe { core::ffi::CStr::from_ptr(p).to_bytes() }
}

/// Looks up `key` (without `=`) in a NULL-terminated `KEY=VALUE` vector.
///
/// # Safety
/// `envp` must be NULL or a valid NULL-terminated array of C strings.
pub unsafe fn env_lookup<'a>(envp: *const *const c_char, key: &[u8]) -> Option<&'a [u8]> {
    if envp.is_null() {
        return None;
    }
    let mut i = 0usize;
    loop {
        // SAFETY: envp is NULL-terminated, so every index up to the NULL is readable.
        let entry = unsafe { *envp.add(i) };
        if entry.is_null() {
            return None;
        }
        // SAFETY: entries are C strings.
        let bytes = unsafe { cstr(entry) };
        if let Some(value) = bytes
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(b"="))
        {
            return Some(value);
        }
        i += 1;
    }
}

/// The process environment (`environ`).
pub fn environ() -> *const *const c_char {
    unsafe extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: reading the pointer value of libc's environ.
    unsafe { environ }
}
