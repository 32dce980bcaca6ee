//! Where a launch goes: absolute paths, PATH search with glibc's rules, symlink hops and the
//! real path, all in stack buffers.

use core::ffi::{CStr, c_int};
use core::fmt::Write;

use crate::buf::Buf;
use crate::sys;

/// Room for one path (Linux `PATH_MAX` is 4096 including the NUL).
pub const PATH_CAP: usize = 4096;
pub type PathBuf = Buf<PATH_CAP>;

/// Room for one path on the fast path. Launch checks run in the child of every `fork`, where
/// each stack page they write is a page fault (it costs more than the check): they work in
/// buffers of this size and start over with [`PATH_CAP`] ones only when a path does not fit.
pub const SHORT_CAP: usize = 384;
pub type ShortPath = Buf<SHORT_CAP>;

/// Symlink hops followed one by one for the candidates (the real path resolves all of them).
const MAX_HOPS: usize = 8;
/// Like the kernel's and glibc's `realpath` limit.
const MAX_LINKS: usize = 40;
/// glibc's `CS_PATH`, used by `execvp`/`posix_spawnp` when `PATH` is unset.
pub const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// Drops the last component of a normalised path ("" stands for the root).
fn pop<const N: usize>(out: &mut Buf<N>) {
    let cut = out.as_bytes().iter().rposition(|&b| b == b'/').unwrap_or(0);
    out.truncate(cut);
}

/// Appends `input`'s components to the normalised prefix in `out`, resolving `.` and `..`
/// lexically. `out` holds "" for the root while building; callers finish with [`finish`].
fn push_components<const N: usize>(out: &mut Buf<N>, input: &[u8]) -> bool {
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

fn finish<const N: usize>(out: &mut Buf<N>) -> bool {
    if out.is_empty() {
        out.push_byte(b'/')
    } else {
        true
    }
}

/// Lexical normalisation of an absolute path: no `.`, `..`, `//` or trailing `/`.
pub fn normalize<const N: usize>(abs: &[u8], out: &mut Buf<N>) -> bool {
    out.clear();
    push_components(out, abs) && finish(out)
}

/// `path` made absolute against the current directory (when relative) and normalised.
/// False when it does not fit (then `out.overflowed()`) or there is no current directory.
pub fn absolute<const N: usize>(path: &[u8], out: &mut Buf<N>) -> bool {
    out.clear();
    if !path.starts_with(b"/") {
        // The kernel's current directory is already canonical: it goes in as it is.
        let mut err = 0;
        let got = out.fill(|buf, room| {
            // SAFETY: fill hands over `room` bytes plus the one for the NUL.
            unsafe { sys::getcwd_into(buf, room + 1) }
                .map_err(|e| err = e)
                .ok()
        });
        if !got {
            if err == libc::ERANGE {
                out.mark_overflow();
            }
            return false;
        }
        if out.as_bytes() == b"/" {
            out.clear();
        }
    }
    push_components(out, path) && finish(out)
}

/// `target` (a symlink's content) resolved against the directory of `link` (absolute,
/// normalised), lexically.
fn resolve_link_target<const N: usize>(link: &[u8], target: &[u8], out: &mut Buf<N>) -> bool {
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
/// the real call will fail too (or when a candidate did not fit: `out.overflowed()`).
pub fn search_path<const N: usize>(file: &[u8], path_env: Option<&[u8]>, out: &mut Buf<N>) -> bool {
    out.clear();
    if file.is_empty() {
        return false;
    }
    if file.contains(&b'/') {
        return absolute(file, out);
    }
    for dir in path_env.unwrap_or(DEFAULT_PATH).split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        if !(out.set(dir) && out.push_byte(b'/') && out.push(file)) {
            if N < PATH_CAP {
                // This entry comes first and may hold the program: a later one must not be
                // taken for it. The caller starts over with full-size buffers.
                out.mark_overflow();
                return false;
            }
            // Longer than PATH_MAX: the real call cannot use this entry either.
            continue;
        }
        let candidate = out.as_cstr();
        let executable = sys::access(candidate, libc::X_OK).is_ok();
        if executable && sys::stat(candidate).is_ok_and(|st| sys::is_regular(&st)) {
            let mut found = Buf::<N>::new();
            core::mem::swap(out, &mut found);
            return absolute(found.as_bytes(), out);
        }
    }
    out.clear();
    false
}

/// Why [`realpath`] found no path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealpathError {
    /// A component is missing, unreadable, or the links loop.
    NotFound,
    /// The path or a link's content is longer than the buffers.
    TooLong,
}

/// `readlink` of `path` into `out`: `Ok(true)` with the content when it is a symlink,
/// `Ok(false)` when it is not.
fn read_link<const N: usize>(path: &CStr, out: &mut Buf<N>) -> Result<bool, RealpathError> {
    let mut err = 0;
    let read = out.fill(|buf, room| {
        // SAFETY: fill hands over `room` bytes plus the one for the NUL.
        match unsafe { sys::readlink_into(path, buf, room + 1) } {
            Ok(n) => Some(n),
            Err(e) => {
                err = e;
                None
            }
        }
    });
    match (read, err) {
        (true, _) => Ok(true),
        (false, libc::EINVAL) => Ok(false),
        (false, libc::ENAMETOOLONG) => Err(RealpathError::TooLong),
        _ => Err(RealpathError::NotFound),
    }
}

/// The canonical path with every symlink resolved (like `realpath(3)`, without its heap
/// use), resolving one component at a time with `readlink`. Three or four `readlink`s for a
/// program in a `PATH` directory cost less than asking the kernel for an open descriptor's
/// name: that `/proc/self/fd` lookup sets up `/proc` entries for the new process and costs
/// about 10 µs in a fresh `fork` child.
pub fn realpath<const N: usize>(abs: &[u8], out: &mut Buf<N>) -> Result<(), RealpathError> {
    realpath_known_last(abs, out, false)
}

/// [`realpath`], told whether the last component of `abs` is already known not to be a
/// symlink (the caller asked), which saves its `readlink`.
pub fn realpath_known_last<const N: usize>(
    abs: &[u8],
    out: &mut Buf<N>,
    last_is_plain: bool,
) -> Result<(), RealpathError> {
    use RealpathError::{NotFound, TooLong};
    let mut rest = Buf::<N>::from_bytes(abs);
    if rest.overflowed() {
        return Err(TooLong);
    }
    let mut next = Buf::<N>::new();
    let mut pos = 0usize;
    let mut links = 0usize;
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
            return Err(TooLong);
        }
        let is_last = bytes
            .get(pos..)
            .is_none_or(|r| r.iter().all(|&b| b == b'/'));
        // The caller's readlink of the whole path already looked at this same last component
        // (directories in front of it only change where it is found).
        if is_last && last_is_plain {
            break;
        }
        if !read_link(out.as_cstr(), &mut next)? {
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(NotFound);
        }
        if !(next.push_byte(b'/') && next.push(bytes.get(pos..).unwrap_or(&[]))) {
            return Err(TooLong);
        }
        out.truncate(mark);
        if next.as_bytes().starts_with(b"/") {
            out.clear();
        }
        core::mem::swap(&mut rest, &mut next);
        pos = 0;
    }
    if finish(out) { Ok(()) } else { Err(TooLong) }
}

/// Calls `visit` with every path a launch of `abs` (absolute, normalised) is known by: the
/// path as invoked, each symlink hop, and the real path. Duplicates in a row are skipped.
/// A policy that denies any of them denies the launch (a rule for `/usr/bin/python3` must
/// hold whether it is called by that name or through `/usr/local/bin/python`).
///
/// Returns false when a path did not fit the buffers of size `N`: the visits so far are
/// incomplete, and the caller starts over with larger ones.
pub fn for_each_candidate<const N: usize>(abs: &CStr, visit: &mut dyn FnMut(&[u8])) -> bool {
    visit(abs.to_bytes());
    // `last` is the last name visited (once there was a hop); `next` the next hop.
    let mut last = Buf::<N>::new();
    let mut next = Buf::<N>::new();
    let mut content = Buf::<N>::new();
    let mut hopped = false;
    // Whether the last name visited is known not to be a symlink.
    let mut plain = false;
    for _ in 0..MAX_HOPS {
        let from = if hopped { last.as_cstr() } else { abs };
        match read_link(from, &mut content) {
            Ok(true) => {}
            Ok(false) => {
                plain = true;
                break;
            }
            Err(RealpathError::TooLong) => return false,
            // Missing (an attempt on one PATH entry): there is no real path either.
            Err(RealpathError::NotFound) => return true,
        }
        if !resolve_link_target(from.to_bytes(), content.as_bytes(), &mut next) {
            return !next.overflowed();
        }
        if next.as_bytes() != from.to_bytes() {
            visit(next.as_bytes());
        }
        core::mem::swap(&mut last, &mut next);
        hopped = true;
    }
    let last_seen = if hopped {
        last.as_bytes()
    } else {
        abs.to_bytes()
    };
    // `content` is free again: it takes the real path.
    match realpath_known_last(last_seen, &mut content, plain) {
        Ok(()) => {
            if content.as_bytes() != last_seen {
                visit(content.as_bytes());
            }
            true
        }
        Err(RealpathError::TooLong) => false,
        Err(RealpathError::NotFound) => true,
    }
}

/// What an open descriptor points to (`readlink /proc/self/fd/N`), e.g. for `fexecve`.
pub fn fd_path<const N: usize>(fd: c_int, out: &mut Buf<N>) -> bool {
    let mut link = Buf::<64>::new();
    if write!(link, "/proc/self/fd/{fd}").is_err() {
        return false;
    }
    read_link(link.as_cstr(), out) == Ok(true)
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
        assert!(for_each_candidate::<PATH_CAP>(abs.as_cstr(), &mut |c| {
            seen.push(std::string::String::from_utf8_lossy(c).into_owned())
        }));
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
        assert_eq!(realpath(b"/proc/self/../self/exe", &mut out), Ok(()));
        assert_eq!(out.as_bytes(), expected);
        assert_eq!(
            realpath(b"/nonexistent/x", &mut out),
            Err(RealpathError::NotFound)
        );
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        assert_eq!(realpath(b"/bin/sh", &mut out), Ok(()));
        assert_eq!(out.as_bytes(), sh.as_os_str().as_encoded_bytes());
    }

    /// A directory tree deeper than the short buffers, reached through a symlink: the short
    /// pass says it did not fit, the full-size one finds every name.
    #[test]
    fn long_paths_fall_back_to_full_size_buffers() {
        let base = std::env::temp_dir().join(std::format!("guard-long-{}", std::process::id()));
        let mut deep = std::fs::canonicalize(std::env::temp_dir())
            .unwrap()
            .join(base.file_name().unwrap());
        for i in 0..12 {
            deep.push(std::format!("directory-level-{i:02}-padding-padding"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        let prog = deep.join("prog");
        std::fs::write(&prog, b"").unwrap();
        let link = base.join("link");
        std::os::unix::fs::symlink(&prog, &link).unwrap();
        let link_c = std::ffi::CString::new(link.as_os_str().as_encoded_bytes()).unwrap();
        let prog_bytes = prog.as_os_str().as_encoded_bytes();
        assert!(prog_bytes.len() > SHORT_CAP);

        let mut seen = std::vec::Vec::new();
        let fitted = for_each_candidate::<SHORT_CAP>(&link_c, &mut |c| seen.push(c.to_vec()));
        assert!(!fitted, "the short pass must say it did not fit");

        seen.clear();
        assert!(for_each_candidate::<PATH_CAP>(&link_c, &mut |c| seen.push(c.to_vec())));
        assert_eq!(
            seen.first().map(|v| v.as_slice()),
            Some(link.as_os_str().as_encoded_bytes())
        );
        assert_eq!(seen.last().map(|v| v.as_slice()), Some(prog_bytes));

        let mut short = ShortPath::new();
        assert_eq!(
            realpath(prog_bytes, &mut short),
            Err(RealpathError::TooLong)
        );
        let mut abs = ShortPath::new();
        assert!(!absolute(prog_bytes, &mut abs) && abs.overflowed());
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// A PATH entry too long for the short buffers comes first: the short pass must not
    /// settle for a later entry, and the full-size pass finds the program there.
    #[test]
    fn a_long_path_entry_is_searched_with_full_size_buffers_not_skipped() {
        let base = std::env::temp_dir().join(std::format!("guard-longpath-{}", std::process::id()));
        let mut dir = base.clone();
        for i in 0..12 {
            dir.push(std::format!("directory-level-{i:02}-padding-padding"));
        }
        std::fs::create_dir_all(&dir).unwrap();
        let prog = dir.join("sh");
        std::fs::copy("/bin/sh", &prog).unwrap();
        let path_env = std::format!("{}:/bin", dir.display());

        let mut short = ShortPath::new();
        assert!(!search_path(b"sh", Some(path_env.as_bytes()), &mut short));
        assert!(short.overflowed());
        let mut full = PathBuf::new();
        assert!(search_path(b"sh", Some(path_env.as_bytes()), &mut full));
        assert_eq!(full.as_bytes(), prog.as_os_str().as_encoded_bytes());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn relative_paths_resolve_against_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        let mut out = PathBuf::new();
        assert!(absolute(b"a/./b/../c", &mut out));
        assert_eq!(
            out.as_bytes(),
            cwd.join("a/c").as_os_str().as_encoded_bytes()
        );
    }
}
