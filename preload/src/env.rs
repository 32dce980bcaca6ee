//! Keeping the guard in children's environments (`env -i`, explicit envp, `unsetenv`).
//!
//! The patched vector is built on the stack (bounded); when the environment is too large for
//! it, the call goes ahead with the caller's vector unchanged rather than failing.

use core::ffi::c_char;

use guard_contract::env::LD_PRELOAD;
use guard_preload_core::config::INJECTED;
use guard_preload_core::{Buf, Config, sys};

/// Most environment entries patched on the stack (8 KiB of pointers).
const MAX_ENV: usize = 1024;

type PreloadEntry = Buf<4096>;

/// Whether an `LD_PRELOAD` value already names our library (by path or file name: the same
/// library may be reached by several paths).
fn preload_has(value: &[u8], lib: &[u8]) -> bool {
    let base = |p: &[u8]| -> usize { p.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1) };
    let lib_name = lib.get(base(lib)..).unwrap_or(lib);
    value.split(|&b| b == b':' || b == b' ').any(|entry| {
        entry == lib || (!lib_name.is_empty() && entry.get(base(entry)..) == Some(lib_name))
    })
}

/// `LD_PRELOAD=<existing>:<ours>` (or just ours), or `None` if it would not fit.
fn preload_entry(existing: Option<&[u8]>, lib: &[u8], out: &mut PreloadEntry) -> bool {
    out.clear();
    let mut ok = out.push(LD_PRELOAD.as_bytes()) && out.push_byte(b'=');
    if let Some(old) = existing.filter(|v| !v.is_empty()) {
        ok &= out.push(old) && out.push_byte(b':');
    }
    ok && out.push(lib)
}

/// What is missing from an environment.
struct Missing {
    preload: bool,
    /// Indexes into [`INJECTED`].
    guards: [bool; 4],
    count: usize,
    preload_index: Option<usize>,
}

fn inspect(cfg: &Config, envp: *const *const c_char) -> Missing {
    let mut m = Missing {
        preload: false,
        guards: [false; 4],
        count: 0,
        preload_index: None,
    };
    let mut present = [false; 4];
    let mut preload_value: Option<&[u8]> = None;
    if !envp.is_null() {
        loop {
            // SAFETY: envp is NULL-terminated; we stop at the NULL.
            let entry = unsafe { *envp.add(m.count) };
            if entry.is_null() {
                break;
            }
            // SAFETY: entries are C strings.
            let bytes = unsafe { sys::cstr(entry) };
            let key_end = bytes.iter().position(|&b| b == b'=').unwrap_or(bytes.len());
            let key = bytes.get(..key_end).unwrap_or(&[]);
            if key == LD_PRELOAD.as_bytes() {
                preload_value = bytes.get(key_end + 1..);
                m.preload_index = Some(m.count);
            }
            for (i, name) in INJECTED.iter().enumerate() {
                if key == name.as_bytes() {
                    present[i] = true;
                }
            }
            m.count += 1;
        }
    }
    m.preload = !cfg.self_lib().is_empty()
        && !preload_value.is_some_and(|v| preload_has(v, cfg.self_lib()));
    for (i, guard) in m.guards.iter_mut().enumerate() {
        *guard = !present[i] && !cfg.inject(i).is_empty();
    }
    m
}

/// Calls `f` with `envp`, or with a copy that has the shim and the `GUARD_*` variables put
/// back when the caller dropped them.
pub fn with_env<R>(
    cfg: &Config,
    envp: *const *const c_char,
    f: &mut dyn FnMut(*const *const c_char) -> R,
) -> R {
    let m = inspect(cfg, envp);
    if !m.preload && !m.guards.iter().any(|&g| g) {
        return f(envp);
    }
    patched(cfg, envp, &m, f)
}

#[inline(never)]
fn patched<R>(
    cfg: &Config,
    envp: *const *const c_char,
    m: &Missing,
    f: &mut dyn FnMut(*const *const c_char) -> R,
) -> R {
    if m.count + INJECTED.len() + 2 > MAX_ENV {
        return f(envp);
    }
    let mut preload = PreloadEntry::new();
    if m.preload {
        let existing = m.preload_index.and_then(|i| {
            // SAFETY: i < count, inside the NULL-terminated vector.
            let entry = unsafe { sys::cstr(*envp.add(i)) };
            entry.get(LD_PRELOAD.len() + 1..)
        });
        if !preload_entry(existing, cfg.self_lib(), &mut preload) {
            return f(envp);
        }
    }
    let mut vec: [*const c_char; MAX_ENV] = [core::ptr::null(); MAX_ENV];
    let mut n = 0usize;
    for i in 0..m.count {
        // SAFETY: i < count.
        let entry = unsafe { *envp.add(i) };
        let entry = if m.preload && m.preload_index == Some(i) {
            preload.as_ptr()
        } else {
            entry
        };
        if let Some(slot) = vec.get_mut(n) {
            *slot = entry;
            n += 1;
        }
    }
    if m.preload
        && m.preload_index.is_none()
        && let Some(slot) = vec.get_mut(n)
    {
        *slot = preload.as_ptr();
        n += 1;
    }
    for (i, missing) in m.guards.iter().enumerate() {
        if let (true, Some(slot)) = (*missing, vec.get_mut(n)) {
            *slot = cfg.inject(i).as_ptr();
            n += 1;
        }
    }
    // vec[n] is still NULL: the terminator.
    f(vec.as_ptr())
}

/// For `system`/`popen`, which take no environment: put the shim and the `GUARD_*` variables
/// back into the process environment itself (they run in the parent, where `setenv` is safe
/// as far as the program's own `setenv` calls are).
pub fn restore_process_env(cfg: &Config) {
    let m = inspect(cfg, sys::environ());
    if m.preload {
        // SAFETY: getenv with a NUL-terminated name.
        let old = unsafe { libc::getenv(c"LD_PRELOAD".as_ptr()) };
        // SAFETY: getenv returns NULL or a C string.
        let old = unsafe { sys::cstr(old) };
        let mut entry = PreloadEntry::new();
        if preload_entry(Some(old), cfg.self_lib(), &mut entry) {
            let value = entry.as_bytes().get(LD_PRELOAD.len() + 1..).unwrap_or(&[]);
            let value = PreloadEntry::from_bytes(value);
            // SAFETY: NUL-terminated name and value.
            unsafe { libc::setenv(c"LD_PRELOAD".as_ptr(), value.as_ptr(), 1) };
        }
    }
    for (i, missing) in m.guards.iter().enumerate() {
        if !*missing {
            continue;
        }
        let bytes = cfg.inject(i).to_bytes();
        let eq = bytes.iter().position(|&b| b == b'=').unwrap_or(bytes.len());
        let key = Buf::<64>::from_bytes(bytes.get(..eq).unwrap_or(&[]));
        let value = Buf::<512>::from_bytes(bytes.get(eq + 1..).unwrap_or(&[]));
        // SAFETY: NUL-terminated name and value.
        unsafe { libc::setenv(key.as_ptr(), value.as_ptr(), 1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_our_library_by_path_or_name() {
        let lib = b"/guard/lib/libguard_preload.so";
        assert!(preload_has(b"/x/a.so:/guard/lib/libguard_preload.so", lib));
        assert!(preload_has(b"/other/dir/libguard_preload.so", lib));
        assert!(!preload_has(b"/x/a.so", lib));
        assert!(!preload_has(b"", lib));
    }

    #[test]
    fn appends_to_an_existing_preload() {
        let mut out = PreloadEntry::new();
        assert!(preload_entry(Some(b"/x/a.so"), b"/g/l.so", &mut out));
        assert_eq!(out.as_bytes(), b"LD_PRELOAD=/x/a.so:/g/l.so");
        assert!(preload_entry(None, b"/g/l.so", &mut out));
        assert_eq!(out.as_bytes(), b"LD_PRELOAD=/g/l.so");
    }
}
