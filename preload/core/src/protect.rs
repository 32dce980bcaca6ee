//! Programs the shim cannot follow into: the loader ignores `LD_PRELOAD` for them.

use core::ffi::CStr;

use core::mem::MaybeUninit;

use crate::sys;

const PT_INTERP: u32 = 3;
/// Program headers read at most (real binaries have about a dozen).
const MAX_PHDRS: usize = 32;

/// Why `path` will run without the shim, or `None` when it will carry it (or is not an ELF
/// file, e.g. a script whose interpreter is checked when it starts). One `open`, `fstat`,
/// `fgetxattr`, `pread` and `close`: this runs on every launch.
pub fn unprotected_reason(path: &CStr) -> Option<&'static str> {
    let file = File::open(path)?;
    let st = file.0.stat().ok()?;
    if st.mode & libc::S_ISUID != 0 {
        return Some("setuid binary (the loader drops LD_PRELOAD)");
    }
    if st.mode & libc::S_ISGID != 0 {
        return Some("setgid binary (the loader drops LD_PRELOAD)");
    }
    if file.0.has_xattr(c"security.capability") {
        return Some("file capabilities (the loader drops LD_PRELOAD)");
    }
    // A musl program still loads the shim when LD_PRELOAD reaches it (musl's loader answers
    // for libc.so.6 itself), so only a missing loader makes a program unprotected here.
    match file.interpreter(&mut [0u8; 256]) {
        Some(None) => Some("static binary (LD_PRELOAD has no effect)"),
        _ => None,
    }
}

fn is_musl_loader(interp: &[u8]) -> bool {
    interp.windows(7).any(|w| w == b"ld-musl")
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
        Some(Some(n)) => is_musl_loader(buf.get(..n).unwrap_or(&[])),
        _ => false,
    }
}

/// The ELF program interpreter of `path`: `Some(Some(len))` with the name in `out`,
/// `Some(None)` for an ELF file without one (static), `None` when not an ELF file or unreadable.
pub fn interpreter(path: &CStr, out: &mut [u8]) -> Option<Option<usize>> {
    File::open(path)?.interpreter(out)
}

/// Whether the file at `path` is the image of a program whose program header table (as
/// mapped in memory, e.g. the main program's `AT_PHDR`) is `phdrs`: an ELF file whose own
/// table is byte for byte the same. Lets the constructor trust the name the kernel was asked
/// to run (`AT_EXECFN`) for what is running, without the `/proc/self/exe` lookup (about
/// 12 µs in a new process); a script, an interpreter or a replaced file does not match.
///
/// `Some(true)` when it is and `path`'s last component is not a symlink (the file was
/// opened with `O_NOFOLLOW`, which saves the caller a `readlink`), `Some(false)` when it is
/// through a symlink, `None` when it is not the image.
pub fn is_image_of(path: &CStr, phdrs: &[u8]) -> Option<bool> {
    let (file, plain) = match File::open_flags(path, libc::O_NOFOLLOW) {
        Ok(f) => (f, true),
        Err(libc::ELOOP) => (File::open(path)?, false),
        Err(_) => return None,
    };
    let mut page = [const { MaybeUninit::<u8>::uninit() }; 1024];
    let n = file.0.pread(&mut page, 0).ok()?;
    // SAFETY: the kernel initialised the first n bytes.
    let first = unsafe { core::slice::from_raw_parts(page.as_ptr().cast::<u8>(), n.min(1024)) };
    let table = PhdrTable::of(first)?;
    if table.entsize.checked_mul(table.count) != Some(phdrs.len()) {
        return None;
    }
    let mut buf = [const { MaybeUninit::<u8>::uninit() }; MAX_PHDRS * 56];
    let out = buf.get_mut(..phdrs.len())?;
    (file.read_at(first, table.offset, out) == Some(phdrs)).then_some(plain)
}

/// What the ELF header in `first` says about its program header table.
struct PhdrTable {
    is64: bool,
    le: bool,
    offset: usize,
    entsize: usize,
    count: usize,
}

impl PhdrTable {
    fn of(first: &[u8]) -> Option<PhdrTable> {
        if first.len() < 52 || first.get(..4) != Some(b"\x7fELF") {
            return None;
        }
        let is64 = first.get(4) == Some(&2);
        let le = first.get(5) == Some(&1);
        let (offset, entsize, count) = if is64 {
            (
                u64_at(first, 32, le)?,
                u16_at(first, 54, le)?,
                u16_at(first, 56, le)?,
            )
        } else {
            (
                u64::from(u32_at(first, 28, le)?),
                u16_at(first, 42, le)?,
                u16_at(first, 44, le)?,
            )
        };
        Some(PhdrTable {
            is64,
            le,
            offset: usize::try_from(offset).ok()?,
            entsize: usize::from(entsize),
            count: usize::from(count),
        })
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

/// A read-only descriptor, closed on drop (no allocation involved).
struct File(sys::Fd);

impl File {
    fn open(path: &CStr) -> Option<File> {
        Self::open_flags(path, 0).ok()
    }

    fn open_flags(path: &CStr, flags: libc::c_int) -> Result<File, sys::Errno> {
        // Non-blocking and no controlling terminal: a FIFO or a device named as a program
        // must not hang or change the launching process (the kernel refuses to run those).
        sys::Fd::open(
            path,
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | flags,
        )
        .map(File)
    }

    /// `out.len()` bytes at `offset`: from the first page read at start when they are in it,
    /// else read with `pread`.
    fn read_at<'b>(
        &self,
        first: &'b [u8],
        offset: usize,
        out: &'b mut [MaybeUninit<u8>],
    ) -> Option<&'b [u8]> {
        let len = out.len();
        if let Some(bytes) = first.get(offset..offset.checked_add(len)?) {
            return Some(bytes);
        }
        if self.0.pread(out, offset).ok()? < len {
            return None;
        }
        // SAFETY: the kernel initialised all `len` bytes.
        Some(unsafe { core::slice::from_raw_parts(out.as_ptr().cast::<u8>(), len) })
    }

    fn interpreter(&self, out: &mut [u8]) -> Option<Option<usize>> {
        // The ELF header, the program headers and usually the interpreter name all sit in the
        // first kilobyte, so one read is enough for ordinary binaries (and the buffers stay
        // small: this runs in the child of every launch, where each stack page is a fault).
        let mut page = [const { MaybeUninit::<u8>::uninit() }; 1024];
        let n = self.0.pread(&mut page, 0).ok()?.min(page.len());
        // SAFETY: the kernel initialised the first n bytes.
        let first = unsafe { core::slice::from_raw_parts(page.as_ptr().cast::<u8>(), n) };
        let PhdrTable {
            is64,
            le,
            offset: phoff,
            entsize,
            count,
        } = PhdrTable::of(first)?;
        let count = count.min(MAX_PHDRS);
        if !(8..=56).contains(&entsize) || count == 0 {
            return Some(None);
        }
        let mut phdr_buf = [const { MaybeUninit::<u8>::uninit() }; MAX_PHDRS * 56];
        let phdrs = self.read_at(first, phoff, phdr_buf.get_mut(..entsize * count)?)?;
        for i in 0..count {
            let ph = i * entsize;
            if u32_at(phdrs, ph, le)? != PT_INTERP {
                continue;
            }
            let (off, size) = if is64 {
                (u64_at(phdrs, ph + 8, le)?, u64_at(phdrs, ph + 32, le)?)
            } else {
                (
                    u64::from(u32_at(phdrs, ph + 4, le)?),
                    u64::from(u32_at(phdrs, ph + 16, le)?),
                )
            };
            let len = usize::try_from(size).ok()?.min(out.len());
            let mut name_buf = [const { MaybeUninit::<u8>::uninit() }; 256];
            let name = self.read_at(first, usize::try_from(off).ok()?, name_buf.get_mut(..len)?)?;
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            out.get_mut(..len)?.copy_from_slice(name.get(..len)?);
            return Some(Some(len));
        }
        Some(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_programs_are_protected() {
        assert!(!is_static_elf(c"/bin/sh"));
        assert!(!is_musl(c"/bin/sh"));
        assert_eq!(unprotected_reason(c"/bin/sh"), None);
        let mut interp = [0u8; 256];
        let n = interpreter(c"/bin/sh", &mut interp).unwrap().unwrap();
        assert!(interp[..n].starts_with(b"/lib"), "{:?}", &interp[..n]);
    }
}
