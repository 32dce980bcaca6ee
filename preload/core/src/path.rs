//! Where a launch goes: absolute paths, PATH search with glibc's rules, symlink hops and the
//! real path, all in stack buffers.

use core::ffi::c_int;
use core::fmt::Write;

use crate::buf::Buf;
use crate::sys;

/// Room for one path (Linux `PATH_MAX` is 4096 including the NUL).
pub const PATH_CAP: usize = 4096;
pub type PathBuf = Buf<PATH_CAP>;

/// Symlink hops followed one by one for the candidates (the real path resolves all of them).
const MAX_HOPS: usize = 8;
/// Like the kernel's and glibc's `realpath` limit.
const MAX_LINKS: usize = 40;
/// glibc's `CS_PATH`, used by `execvp`/`posix_spawnp` when `PATH` is unset.
pub const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// Drops the last component of a normalised path ("" stands for the root).
fn pop(out: &mut PathBuf) {
    let cut = out.as_bytes().iter().rposition(|&b| b == b'/').unwrap_or(0);
    out.truncate(cut);
}

/// Appends `input`'s components to the normalised prefix in `out`, resolving `.` and `..`
/// lexically. `out` holds "" for the root while building; callers finish with [`finish`].
fn push_components(out: &mut PathBuf, input: &[u8]) -> bool {
    for comp in input.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => pop(out),
            c => {
                if !(out.push_byte(b'/') && out.push(c)) {
                    return false;
                }
            }
        }
    }
    true
}

fn finish(out: &mut PathBuf) -> bool {
    if out.is_empty() {
        out.push_byte(b'/')
    } else {
        true
    }
}

/// Lexical normalisation of an absolute path: no `.`, `..`, `//` or trailing `/`.
pub fn normalize(abs: &[u8], out: &mut PathBuf) -> bool {
    out.clear();
    push_components(out, abs) && finish(out)
}

/// `path` made absolute against the current directory (when relative) and normalised.
pub fn absolute(path: &[u8], out: &mut PathBuf) -> bool {
    out.clear();
    if !path.starts_with(b"/") {
        let mut cwd = [0u8; PATH_CAP];
        let Some(n) = sys::getcwd(&mut cwd) else {
            return false;
        };
        if !push_components(out, cwd.get(..n).unwrap_or(&[])) {
            return false;
        }
    }
    push_components(out, path) && finish(out)
}

/// `target` (a symlink's content) resolved against the directory of `link` (absolute,
/// normalised), lexically.
fn resolve_link_target(link: &[u8], target: &[u8], out: &mut PathBuf) -> bool {
    out.clear();
    if !target.starts_with(b"/") {
        let dir_end = link.iter().rposition(|&b| b == b'/').unwrap_or(0);
        if !push_components(out, link.get(..dir_end).unwrap_or(&[])) {
            return false;
        }
    }
    push_components(out, target) && finish(out)
}

/// The file `execvp`/`posix_spawnp` would run for `file`: a name with a `/` is taken as it
/// is; otherwise each directory of `path_env` (default `/bin:/usr/bin`, an empty entry means
/// the current directory) is tried in order and the first executable regular file wins
/// (glibc skips entries that fail with EACCES/ENOENT the same way). False when none is found:
/// the real call will fail too.
pub fn search_path(file: &[u8], path_env: Option<&[u8]>, out: &mut PathBuf) -> bool {
    if file.is_empty() {
        return false;
    }
    if file.contains(&b'/') {
        return absolute(file, out);
    }
    for dir in path_env.unwrap_or(DEFAULT_PATH).split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut candidate = PathBuf::new();
        if !(candidate.push(dir) && candidate.push_byte(b'/') && candidate.push(file)) {
            continue;
        }
        // SAFETY: candidate is NUL-terminated.
        let executable = unsafe { libc::access(candidate.as_ptr(), libc::X_OK) } == 0;
        if executable && sys::stat(candidate.as_cstr()).is_some_and(|st| sys::is_regular(&st)) {
            return absolute(candidate.as_bytes(), out);
        }
    }
    false
}

/// The canonical path with every symlink resolved (like `realpath(3)`, without its heap
/// use). False when a component is missing or the links loop. Asks the kernel (an `O_PATH`
/// descriptor's name: three syscalls whatever the depth) and walks the components itself only
/// when `/proc` is not available.
pub fn realpath(abs: &PathBuf, out: &mut PathBuf) -> bool {
    // SAFETY: open/close on a NUL-terminated path; the descriptor is closed on every path.
    let fd = unsafe { libc::open(abs.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    let named = fd_path(fd, out) && out.as_bytes().starts_with(b"/");
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    named || realpath_walk(abs.as_bytes(), out)
}

/// [`realpath`] by resolving one component at a time with `readlink`.
pub fn realpath_walk(abs: &[u8], out: &mut PathBuf) -> bool {
    let mut rest = PathBuf::from_bytes(abs);
    if rest.overflowed() {
        return false;
    }
    let mut pos = 0usize;
    let mut links = 0usize;
    let mut target = [0u8; PATH_CAP];
    out.clear();
    loop {
        let bytes = rest.as_bytes();
        while bytes.get(pos) == Some(&b'/') {
            pos += 1;
        }
        if pos >= bytes.len() {
            break;
        }
        let start = pos;
        while bytes.get(pos).is_some_and(|&b| b != b'/') {
            pos += 1;
        }
        let comp = bytes.get(start..pos).unwrap_or(&[]);
        match comp {
            b"." => continue,
            b".." => {
                pop(out);
                continue;
            }
            _ => {}
        }
        let mark = out.len();
        if !(out.push_byte(b'/') && out.push(comp)) {
            return false;
        }
        match sys::readlink(out.as_cstr(), &mut target) {
            Some(n) => {
                links += 1;
                if links > MAX_LINKS {
                    return false;
                }
                let link = target.get(..n).unwrap_or(&[]);
                let mut next = PathBuf::new();
                if !(next.push(link)
                    && next.push_byte(b'/')
                    && next.push(bytes.get(pos..).unwrap_or(&[])))
                {
                    return false;
                }
                out.truncate(mark);
                if link.starts_with(b"/") {
                    out.clear();
                }
                rest = next;
                pos = 0;
            }
            None => {
                if sys::errno() != libc::EINVAL {
                    return false;
                }
            }
        }
    }
    finish(out)
}

/// Calls `visit` with every path a launch of `abs` (absolute, normalised) is known by: the
/// path as invoked, each symlink hop, and the real path. Duplicates in a row are skipped.
/// A policy that denies any of them denies the launch (a rule for `/usr/bin/python3` must
/// hold whether it is called by that name or through `/usr/local/bin/python`).
///
/// Three path buffers in all: this runs in the child of every launch, where each new stack
/// page is a page fault.
pub fn for_each_candidate(abs: &PathBuf, visit: &mut dyn FnMut(&[u8])) {
    visit(abs.as_bytes());
    // `last` is the last name visited; `scratch` holds a link's content, then the real path.
    let mut last = PathBuf::new();
    let mut next = PathBuf::new();
    let mut scratch = PathBuf::new();
    let mut hopped = false;
    for _ in 0..MAX_HOPS {
        let from = if hopped { &last } else { abs };
        if !scratch.fill(|buf| sys::readlink(from.as_cstr(), buf)) {
            break;
        }
        if !resolve_link_target(from.as_bytes(), scratch.as_bytes(), &mut next) {
            break;
        }
        if next.as_bytes() != from.as_bytes() {
            visit(next.as_bytes());
        }
        core::mem::swap(&mut last, &mut next);
        hopped = true;
    }
    let last_seen = if hopped {
        last.as_bytes()
    } else {
        abs.as_bytes()
    };
    if realpath(abs, &mut scratch) && scratch.as_bytes() != last_seen {
        visit(scratch.as_bytes());
    }
}

/// What an open descriptor points to (`readlink /proc/self/fd/N`), e.g. for `fexecve`.
pub fn fd_path(fd: c_int, out: &mut PathBuf) -> bool {
    let mut link = Buf::<64>::new();
    if write!(link, "/proc/self/fd/{fd}").is_err() {
        return false;
    }
    out.fill(|buf| sys::readlink(link.as_cstr(), buf))
}

/// A descriptor name of a memory file (`/memfd:NAME (deleted)`): fileless execution.
pub fn is_memfd(path: &[u8]) -> bool {
    path.starts_with(b"/memfd:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> PathBuf {
        let mut out = PathBuf::new();
        assert!(normalize(p.as_bytes(), &mut out));
        out
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(norm("/usr//bin/./x").as_bytes(), b"/usr/bin/x");
        assert_eq!(norm("/usr/bin/../lib/").as_bytes(), b"/usr/lib");
        assert_eq!(norm("/../..").as_bytes(), b"/");
        assert_eq!(norm("/").as_bytes(), b"/");
    }

    #[test]
    fn link_targets_resolve_against_the_link_directory() {
        let mut out = PathBuf::new();
        assert!(resolve_link_target(
            b"/usr/bin/python3",
            b"python3.11",
            &mut out
        ));
        assert_eq!(out.as_bytes(), b"/usr/bin/python3.11");
        assert!(resolve_link_target(b"/usr/bin/x", b"../lib/y", &mut out));
        assert_eq!(out.as_bytes(), b"/usr/lib/y");
        assert!(resolve_link_target(b"/usr/bin/x", b"/opt//z", &mut out));
        assert_eq!(out.as_bytes(), b"/opt/z");
    }

    #[test]
    fn candidates_are_the_invoked_path_each_hop_and_the_real_path() {
        let dir = std::env::temp_dir().join(std::format!("guard-cand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let real = std::fs::canonicalize(&dir).unwrap().join("prog");
        std::fs::write(&real, b"").unwrap();
        std::os::unix::fs::symlink("prog", dir.join("hop2")).unwrap();
        std::os::unix::fs::symlink(dir.join("hop2"), dir.join("hop1")).unwrap();
        let abs = PathBuf::from_bytes(dir.join("hop1").as_os_str().as_encoded_bytes());
        let mut seen = std::vec::Vec::new();
        for_each_candidate(&abs, &mut |c| {
            seen.push(std::string::String::from_utf8_lossy(c).into_owned())
        });
        let d = dir.display();
        let mut expected = std::vec![
            std::format!("{d}/hop1"),
            std::format!("{d}/hop2"),
            std::format!("{d}/prog")
        ];
        if real != dir.join("prog") {
            expected.push(std::format!("{}", real.display()));
        }
        assert_eq!(seen, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn searches_path_like_glibc() {
        let mut out = PathBuf::new();
        assert!(search_path(b"sh", Some(b"/nonexistent::/bin"), &mut out));
        assert_eq!(out.as_bytes(), b"/bin/sh");
        assert!(!search_path(
            b"definitely-not-a-program-xyz",
            Some(b"/bin"),
            &mut out
        ));
        assert!(!search_path(b"", None, &mut out));
    }

    #[test]
    fn realpath_matches_the_kernel() {
        let mut out = PathBuf::new();
        let expected = std::fs::canonicalize("/proc/self/exe").unwrap();
        let expected = expected.as_os_str().as_encoded_bytes();
        assert!(realpath(
            &PathBuf::from_bytes(b"/proc/self/../self/exe"),
            &mut out
        ));
        assert_eq!(out.as_bytes(), expected);
        assert!(realpath_walk(b"/proc/self/../self/exe", &mut out));
        assert_eq!(out.as_bytes(), expected);
        assert!(!realpath(&PathBuf::from_bytes(b"/nonexistent/x"), &mut out));
        assert!(!realpath_walk(b"/nonexistent/x", &mut out));
    }
}
