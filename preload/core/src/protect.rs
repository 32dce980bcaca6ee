//! Programs the shim cannot follow into: the loader ignores `LD_PRELOAD` for them.

use core::ffi::CStr;

use crate::sys;

const PT_INTERP: u32 = 3;
/// Program headers read at most (real binaries have about a dozen).
const MAX_PHDRS: usize = 64;

/// Why `path` (NUL-terminated) will run without the shim, or `None` when it will carry it
/// (or is not an ELF file, e.g. a script whose interpreter is checked when it starts).
pub fn unprotected_reason(path: &CStr) -> Option<&'static str> {
    let st = sys::stat(path)?;
    if st.mode & libc::S_ISUID != 0 {
        return Some("setuid binary (the loader drops LD_PRELOAD)");
    }
    if st.mode & libc::S_ISGID != 0 {
        return Some("setgid binary (the loader drops LD_PRELOAD)");
    }
    // SAFETY: a size query (NULL buffer, size 0) on a NUL-terminated path.
    let caps = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"security.capability".as_ptr(),
            core::ptr::null_mut(),
            0,
        )
    };
    if caps >= 0 {
        return Some("file capabilities (the loader drops LD_PRELOAD)");
    }
    let mut interp = [0u8; 256];
    match interpreter(path, &mut interp) {
        Some(None) => Some("static binary (LD_PRELOAD has no effect)"),
        Some(Some(n))
            if interp
                .get(..n)
                .is_some_and(|i| i.windows(7).any(|w| w == b"ld-musl")) =>
        {
            Some("musl program (the shim is built for glibc)")
        }
        _ => None,
    }
}

fn u16_at(b: &[u8], off: usize, le: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(off..off + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(s)
    } else {
        u16::from_be_bytes(s)
    })
}

fn u32_at(b: &[u8], off: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(off..off + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

fn u64_at(b: &[u8], off: usize, le: bool) -> Option<u64> {
    let s: [u8; 8] = b.get(off..off + 8)?.try_into().ok()?;
    Some(if le {
        u64::from_le_bytes(s)
    } else {
        u64::from_be_bytes(s)
    })
}

/// An ELF executable without a `PT_INTERP` program header: no dynamic loader, no preload.
pub fn is_static_elf(path: &CStr) -> bool {
    matches!(interpreter(path, &mut [0u8; 256]), Some(None))
}

/// Whether a dynamic program is loaded by musl's loader, which cannot load the glibc build of
/// the shim (and fails the program when a preloaded library's dependency is missing).
pub fn is_musl(path: &CStr) -> bool {
    let mut buf = [0u8; 256];
    match interpreter(path, &mut buf) {
        Some(Some(n)) => buf
            .get(..n)
            .is_some_and(|i| i.windows(7).any(|w| w == b"ld-musl")),
        _ => false,
    }
}

/// The ELF program interpreter of `path`: `Some(Some(len))` with the name in `out`,
/// `Some(None)` for an ELF file without one (static), `None` when not an ELF file or unreadable.
pub fn interpreter(path: &CStr, out: &mut [u8]) -> Option<Option<usize>> {
    // SAFETY: open/pread/close with checked results and stack buffers.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let mut hdr = [0u8; 64];
        let n = libc::pread(fd, hdr.as_mut_ptr().cast(), hdr.len(), 0);
        let result = (|| {
            if n < 52 || hdr.get(..4) != Some(b"\x7fELF") {
                return None;
            }
            let is64 = hdr.get(4) == Some(&2);
            let le = hdr.get(5) == Some(&1);
            let (phoff, phentsize, phnum) = if is64 {
                (
                    u64_at(&hdr, 32, le)?,
                    u16_at(&hdr, 54, le)?,
                    u16_at(&hdr, 56, le)?,
                )
            } else {
                (
                    u64::from(u32_at(&hdr, 28, le)?),
                    u16_at(&hdr, 42, le)?,
                    u16_at(&hdr, 44, le)?,
                )
            };
            let entsize = usize::from(phentsize);
            let count = usize::from(phnum).min(MAX_PHDRS);
            if !(8..=64).contains(&entsize) || count == 0 {
                return Some(None);
            }
            let mut phdrs = [0u8; MAX_PHDRS * 64];
            let want = entsize * count;
            let got = libc::pread(
                fd,
                phdrs.as_mut_ptr().cast(),
                want,
                i64::try_from(phoff).ok()?,
            );
            if got < want as isize {
                return None;
            }
            for i in 0..count {
                let ph = i * entsize;
                if u32_at(&phdrs, ph, le)? != PT_INTERP {
                    continue;
                }
                let (off, size) = if is64 {
                    (u64_at(&phdrs, ph + 8, le)?, u64_at(&phdrs, ph + 32, le)?)
                } else {
                    (
                        u64::from(u32_at(&phdrs, ph + 4, le)?),
                        u64::from(u32_at(&phdrs, ph + 16, le)?),
                    )
                };
                let len = usize::try_from(size).ok()?.min(out.len());
                let got = libc::pread(fd, out.as_mut_ptr().cast(), len, i64::try_from(off).ok()?);
                let got = usize::try_from(got).ok()?;
                let name = out.get(..got)?;
                return Some(Some(name.iter().position(|&b| b == 0).unwrap_or(got)));
            }
            Some(None)
        })();
        libc::close(fd);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_programs_are_protected() {
        assert!(!is_static_elf(c"/bin/sh"));
        assert_eq!(unprotected_reason(c"/bin/sh"), None);
    }
}
