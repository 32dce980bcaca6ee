//! Where an exported symbol of the shim lives in a process that loaded it: the symbol's value
//! from the file's dynamic symbol table, plus where the process mapped the file. Written by
//! hand because one lookup of one symbol in a 64-bit little-endian ELF file is ~60 lines,
//! where an ELF crate would be a dependency for all of guard-exec.

use std::sync::Mutex;

const SHT_DYNSYM: u32 = 11;
const PT_LOAD: u32 = 1;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn usize_at(b: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64_at(b, at)?).ok()
}

/// The offset of `name` from the address the file's first byte is mapped at: its value less
/// the virtual address of the segment that starts at file offset 0.
pub fn symbol_offset(file: &[u8], name: &[u8]) -> Option<u64> {
    if file.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, phentsize, phnum) = (
        usize_at(file, 0x20)?,
        usize::from(u16_at(file, 0x36)?),
        usize::from(u16_at(file, 0x38)?),
    );
    let base = (0..phnum).find_map(|i| {
        let ph = phoff + i * phentsize;
        (u32_at(file, ph)? == PT_LOAD && u64_at(file, ph + 8)? == 0)
            .then(|| u64_at(file, ph + 16))?
    })?;
    let (shoff, shentsize, shnum) = (
        usize_at(file, 0x28)?,
        usize::from(u16_at(file, 0x3A)?),
        usize::from(u16_at(file, 0x3C)?),
    );
    let section = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let dynsym = (0..shnum).find_map(|i| {
        let sh = section(i)?;
        (u32_at(file, sh + 4)? == SHT_DYNSYM).then_some(sh)
    })?;
    let strtab = section(u32_at(file, dynsym + 40)? as usize)?;
    let (str_off, str_size) = (usize_at(file, strtab + 24)?, usize_at(file, strtab + 32)?);
    let strings = file.get(str_off..str_off.checked_add(str_size)?)?;
    let (sym_off, sym_size) = (usize_at(file, dynsym + 24)?, usize_at(file, dynsym + 32)?);
    let entsize = usize_at(file, dynsym + 56)?.max(24);
    (0..sym_size / entsize).find_map(|i| {
        let sym = sym_off + i * entsize;
        let start = u32_at(file, sym)? as usize;
        let rest = strings.get(start..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        (&rest[..end] == name && u16_at(file, sym + 6)? != 0)
            .then(|| u64_at(file, sym + 8).map(|v| v.wrapping_sub(base)))?
    })
}

/// Offsets already looked up, per shim file path (a container has one or two).
static OFFSETS: Mutex<Vec<(Vec<u8>, Option<u64>)>> = Mutex::new(Vec::new());

/// The address of the shim's `name` in process `pid`, when the process mapped a file called
/// `shim_name` (the start of its mapping at file offset 0, from `/proc/PID/maps`).
pub fn symbol_in(pid: u32, shim_name: &[u8], name: &[u8]) -> Option<u64> {
    if shim_name.is_empty() {
        return None;
    }
    let maps = std::fs::read(format!("/proc/{pid}/maps")).ok()?;
    let (start, path) = maps.split(|&b| b == b'\n').find_map(|line| {
        // start-end perms offset dev inode path
        let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
        let range = fields.next()?;
        let offset = fields.nth(1)?;
        let path = fields.nth(2)?;
        let file = path.rsplit(|&b| b == b'/').next()?;
        if file != shim_name || offset.iter().any(|&b| b != b'0') {
            return None;
        }
        let start = range.split(|&b| b == b'-').next()?;
        let start = u64::from_str_radix(std::str::from_utf8(start).ok()?, 16).ok()?;
        Some((start, path.to_vec()))
    })?;
    let mut cache = OFFSETS.lock().unwrap_or_else(|e| e.into_inner());
    let offset = match cache.iter().find(|(p, _)| *p == path) {
        Some((_, o)) => *o,
        None => {
            use std::os::unix::ffi::OsStrExt;
            let o = std::fs::read(std::ffi::OsStr::from_bytes(&path))
                .ok()
                .and_then(|f| symbol_offset(&f, name));
            cache.push((path, o));
            o
        }
    };
    start.checked_add(offset?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn finds_a_dynamic_symbol_of_a_real_library() {
        // libc's own `getpid`, found through dladdr, must be where our parser says.
        let addr = libc::getpid as *const () as usize;
        // SAFETY: dladdr fills a Dl_info for an address in a loaded object.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        assert!(unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) } != 0);
        // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
        let path = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
        let file = std::fs::read(std::ffi::OsStr::from_bytes(path.to_bytes())).unwrap();
        let off = symbol_offset(&file, b"getpid").expect("getpid in libc's dynsym");
        let sym = info.dli_saddr as u64;
        assert_eq!(info.dli_fbase as u64 + off, sym);
        assert_eq!(symbol_offset(&file, b"no_such_symbol_here"), None);
        assert_eq!(symbol_offset(b"not an elf file", b"getpid"), None);
    }
}
