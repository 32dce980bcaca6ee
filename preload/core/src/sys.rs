//! The system calls the hooks make, issued directly (see [`raw`]). None of these allocate,
//! lock or touch `errno`: failures come back as the error number.
//!
//! Why not the libc wrappers: the launch checks run in the child between `fork` and `execve`,
//! where the child has none of the parent's page-table entries for libc's code. Each wrapper
//! sits on its own page of libc, and the first call of each is a page fault (about 2 µs
//! here), paid again in every child. The instructions below live in the shim's own pages,
//! which the hook has faulted in already. `stat` never had a usable wrapper anyway: glibc
//! exports `stat`/`fstat` as symbols only since 2.33.

use core::ffi::{CStr, c_char, c_int, c_long};
use core::mem::MaybeUninit;

/// An `errno` value.
pub type Errno = c_int;

pub fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(value: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = value }
}

/// Direct system calls: the raw kernel convention (a negative return is `-errno`).
pub mod raw {
    use core::ffi::c_long;

    /// # Safety
    /// The arguments must be what system call `n` expects (valid pointers, lengths).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub unsafe fn syscall6(n: c_long, a: [usize; 6]) -> isize {
        let ret: isize;
        // SAFETY: the x86-64 Linux system call convention; the kernel clobbers rcx and r11.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
                in("r10") a[3], in("r8") a[4], in("r9") a[5],
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// # Safety
    /// As for the x86-64 version.
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub unsafe fn syscall6(n: c_long, a: [usize; 6]) -> isize {
        let ret: isize;
        // SAFETY: the AArch64 Linux system call convention (number in x8, result in x0).
        unsafe {
            core::arch::asm!(
                "svc 0",
                in("x8") n,
                inlateout("x0") a[0] as isize => ret,
                in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
                options(nostack),
            );
        }
        ret
    }

    /// # Safety
    /// As for the x86-64 version.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub unsafe fn syscall6(n: c_long, a: [usize; 6]) -> isize {
        // SAFETY: per the caller.
        let r = unsafe { libc::syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]) };
        if r == -1 {
            -(super::errno() as isize)
        } else {
            r as isize
        }
    }
}

/// A system call's result: the non-negative return value, or the error number.
fn check(ret: isize) -> Result<usize, Errno> {
    if ret < 0 {
        Err(ret.unsigned_abs() as Errno)
    } else {
        Ok(ret as usize)
    }
}

/// # Safety
/// As for [`raw::syscall6`].
unsafe fn call(n: c_long, a: [usize; 6]) -> Result<usize, Errno> {
    // SAFETY: per the caller.
    check(unsafe { raw::syscall6(n, a) })
}

/// `sendto(2)` as a system call: the shim exports a `sendto` hook, and its own event
/// datagrams must not go through it.
///
/// # Safety
/// `buf` must be `len` readable bytes and `addr` an address of `addrlen` bytes.
pub unsafe fn sendto(
    fd: c_int,
    buf: *const u8,
    len: usize,
    flags: c_int,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
) -> isize {
    // SAFETY: per the caller.
    unsafe {
        raw::syscall6(
            libc::SYS_sendto,
            [
                fd as usize,
                buf as usize,
                len,
                flags as usize,
                addr as usize,
                addrlen as usize,
            ],
        )
    }
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

fn fstatat(dirfd: c_int, path: *const c_char, flags: c_int) -> Result<FileStat, Errno> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: the kernel writes a struct stat (the layout of libc's on the supported 64-bit
    // targets) into st; path is NUL-terminated.
    unsafe {
        call(
            libc::SYS_newfstatat,
            [
                dirfd as usize,
                path as usize,
                st.as_mut_ptr() as usize,
                flags as usize,
                0,
                0,
            ],
        )?;
        // SAFETY: written by the successful call.
        Ok(from_raw(st.assume_init_ref()))
    }
}

/// `stat(2)` (following symlinks) of a NUL-terminated path.
pub fn stat(path: &CStr) -> Result<FileStat, Errno> {
    fstatat(libc::AT_FDCWD, path.as_ptr(), 0)
}

pub fn fstat(fd: c_int) -> Result<FileStat, Errno> {
    fstatat(fd, c"".as_ptr(), libc::AT_EMPTY_PATH)
}

pub fn is_regular(st: &FileStat) -> bool {
    st.mode & libc::S_IFMT == libc::S_IFREG
}

/// `readlink(2)` into `len` bytes at `out`; returns the target length. A target that fills
/// the buffer completely counts as too long (`ENAMETOOLONG`).
///
/// # Safety
/// `out` must be valid for writes of `len` bytes.
pub unsafe fn readlink_into(path: &CStr, out: *mut u8, len: usize) -> Result<usize, Errno> {
    // SAFETY: per the caller.
    let n = unsafe {
        call(
            libc::SYS_readlinkat,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                out as usize,
                len,
                0,
                0,
            ],
        )?
    };
    if n >= len {
        Err(libc::ENAMETOOLONG)
    } else {
        Ok(n)
    }
}

/// [`readlink_into`] a slice.
pub fn readlink(path: &CStr, out: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the slice is writable for its length.
    unsafe { readlink_into(path, out.as_mut_ptr(), out.len()) }
}

/// The current directory into `len` bytes at `out` (without the NUL); its length.
///
/// # Safety
/// `out` must be valid for writes of `len` bytes.
pub unsafe fn getcwd_into(out: *mut u8, len: usize) -> Result<usize, Errno> {
    // SAFETY: per the caller; the kernel returns the length including the NUL.
    let n = unsafe { call(libc::SYS_getcwd, [out as usize, len, 0, 0, 0, 0])? };
    // "(unreachable)/..." means the directory is outside our root: not a usable path.
    // SAFETY: the kernel wrote n bytes, n >= 1.
    if n == 0 || unsafe { *out } != b'/' {
        return Err(libc::ENOENT);
    }
    Ok(n - 1)
}

/// `access(path, mode)`.
pub fn access(path: &CStr, mode: c_int) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated path.
    unsafe {
        call(
            libc::SYS_faccessat,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                mode as usize,
                0,
                0,
                0,
            ],
        )
    }
    .map(drop)
}

/// An open descriptor, closed on drop.
pub struct Fd(c_int);

impl Fd {
    pub fn open(path: &CStr, flags: c_int) -> Result<Fd, Errno> {
        // SAFETY: a NUL-terminated path; the descriptor is owned by the returned Fd.
        let fd = unsafe {
            call(
                libc::SYS_openat,
                [
                    libc::AT_FDCWD as usize,
                    path.as_ptr() as usize,
                    (flags | libc::O_CLOEXEC) as usize,
                    0,
                    0,
                    0,
                ],
            )?
        };
        Ok(Fd(fd as c_int))
    }

    pub fn raw(&self) -> c_int {
        self.0
    }

    /// Up to `out.len()` bytes at `offset`.
    pub fn pread(&self, out: &mut [MaybeUninit<u8>], offset: usize) -> Result<usize, Errno> {
        // SAFETY: the buffer is writable for its length.
        unsafe {
            call(
                libc::SYS_pread64,
                [
                    self.0 as usize,
                    out.as_mut_ptr() as usize,
                    out.len(),
                    offset,
                    0,
                    0,
                ],
            )
        }
    }

    /// Whether the file has extended attribute `name`.
    pub fn has_xattr(&self, name: &CStr) -> bool {
        // SAFETY: a size query (NULL buffer, size 0).
        unsafe {
            call(
                libc::SYS_fgetxattr,
                [self.0 as usize, name.as_ptr() as usize, 0, 0, 0, 0],
            )
        }
        .is_ok()
    }

    pub fn stat(&self) -> Result<FileStat, Errno> {
        fstat(self.0)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: our own descriptor, closed once.
        let _ = unsafe { call(libc::SYS_close, [self.0 as usize, 0, 0, 0, 0, 0]) };
    }
}

/// `getpid(2)`.
pub fn getpid() -> c_int {
    // SAFETY: no arguments; cannot fail.
    unsafe { raw::syscall6(libc::SYS_getpid, [0; 6]) as c_int }
}

/// A read-only shared mapping of `len` bytes of `fd`, with `MADV_RANDOM` (see `policy.rs`).
pub fn map_shared_random(fd: &Fd, len: usize) -> Result<*const u8, Errno> {
    // SAFETY: a fresh mapping chosen by the kernel; nothing else is affected.
    unsafe {
        let addr = call(
            libc::SYS_mmap,
            [
                0,
                len,
                libc::PROT_READ as usize,
                libc::MAP_SHARED as usize,
                fd.raw() as usize,
                0,
            ],
        )?;
        let _ = call(
            libc::SYS_madvise,
            [addr, len, libc::MADV_RANDOM as usize, 0, 0, 0],
        );
        Ok(addr as *const u8)
    }
}

/// # Safety
/// `addr..addr+len` must be a mapping nobody uses any more.
pub unsafe fn unmap(addr: *const u8, len: usize) {
    // SAFETY: per the caller.
    let _ = unsafe { call(libc::SYS_munmap, [addr as usize, len, 0, 0, 0, 0]) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_calls_report_errors_as_errno() {
        assert_eq!(stat(c"/nonexistent/x"), Err(libc::ENOENT));
        assert!(stat(c"/").is_ok_and(|st| st.mode & libc::S_IFMT == libc::S_IFDIR));
        let mut buf = [0u8; 64];
        assert_eq!(readlink(c"/", &mut buf), Err(libc::EINVAL));
        assert_eq!(
            readlink(c"/proc/self/cwd", &mut buf[..1]),
            Err(libc::ENAMETOOLONG)
        );
        let fd = Fd::open(c"/proc/self/status", libc::O_RDONLY).unwrap();
        let mut head = [MaybeUninit::new(0u8); 5];
        assert_eq!(fd.pread(&mut head, 0), Ok(5));
        assert_eq!(head.map(|b| unsafe { b.assume_init() }), *b"Name:");
        assert!(fd.stat().is_ok());
        assert_eq!(getpid() as u32, std::process::id());
        let mut cwd = [0u8; 4096];
        let n = unsafe { getcwd_into(cwd.as_mut_ptr(), cwd.len()) }.unwrap();
        assert_eq!(
            &cwd[..n],
            std::env::current_dir()
                .unwrap()
                .as_os_str()
                .as_encoded_bytes()
        );
    }
}
