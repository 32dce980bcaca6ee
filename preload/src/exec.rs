//! The `exec*` family. These run in vfork children (CPython's `_posixsubprocess`), so they
//! only use the stack, atomics and raw syscalls.

use core::ffi::{CStr, c_char, c_int};

use guard_preload_core::launch::{self, Attempt, Launch};
use guard_preload_core::path::{self, PathBuf};
use guard_preload_core::{Buf, Config, sys};

use crate::env::with_env;
use crate::init::config;
use crate::real::{self, call_real};

type Argv = *const *const c_char;

fn fail(errno: c_int) -> c_int {
    sys::set_errno(errno);
    -1
}

/// Decides a launch of the file at `program` (absolute, normalised): the errno to fail
/// with when refused. An absent file is refused with `ENOENT` and not reported, so shells
/// trying each `PATH` entry report only the program that exists.
fn refused(
    cfg: &Config,
    api: &'static str,
    program: &CStr,
    argv: Argv,
    note: &str,
    by_path: bool,
) -> c_int {
    let launch = Launch {
        api,
        program,
        argv,
        note,
        constructor: false,
    };
    if !by_path {
        // A descriptor (fexecve, AT_EMPTY_PATH): its name may not exist (memfd, deleted),
        // and there is no PATH walk to de-duplicate.
        return if launch::decide(cfg, &launch) {
            0
        } else {
            libc::EACCES
        };
    }
    match launch::decide_attempt(cfg, &launch) {
        Attempt::Allow => 0,
        Attempt::Deny => libc::EACCES,
        Attempt::Absent => libc::ENOENT,
    }
}

/// The errno to fail an `execve` of `invoked` with (0: go ahead). Works in short buffers
/// (see [`path::SHORT_CAP`]) and starts over with full-size ones only for a long path.
fn check_execve(cfg: &Config, api: &'static str, invoked: &[u8], argv: Argv) -> c_int {
    check_execve_in::<{ path::SHORT_CAP }>(cfg, api, invoked, argv)
        .unwrap_or_else(|| check_execve_long(cfg, api, invoked, argv))
}

#[cold]
#[inline(never)]
fn check_execve_long(cfg: &Config, api: &'static str, invoked: &[u8], argv: Argv) -> c_int {
    check_execve_in::<{ path::PATH_CAP }>(cfg, api, invoked, argv).unwrap_or(libc::EACCES)
}

/// `None` when the path did not fit buffers of size `N` (and larger ones exist).
fn check_execve_in<const N: usize>(
    cfg: &Config,
    api: &'static str,
    invoked: &[u8],
    argv: Argv,
) -> Option<c_int> {
    let mut program = Buf::<N>::new();
    Some(if path::absolute(invoked, &mut program) {
        refused(cfg, api, program.as_cstr(), argv, "", true)
    } else if program.overflowed() && N < path::PATH_CAP {
        return None;
    } else if launch::unresolvable(cfg, api, invoked, argv) {
        0
    } else {
        libc::EACCES
    })
}

/// The errno to fail an `execvpe` of `file` with (0: go ahead), as [`check_execve`].
fn check_execvpe(cfg: &Config, api: &'static str, file: &[u8], argv: Argv) -> c_int {
    check_execvpe_in::<{ path::SHORT_CAP }>(cfg, api, file, argv)
        .unwrap_or_else(|| check_execvpe_long(cfg, api, file, argv))
}

#[cold]
#[inline(never)]
fn check_execvpe_long(cfg: &Config, api: &'static str, file: &[u8], argv: Argv) -> c_int {
    check_execvpe_in::<{ path::PATH_CAP }>(cfg, api, file, argv).unwrap_or(0)
}

fn check_execvpe_in<const N: usize>(
    cfg: &Config,
    api: &'static str,
    file: &[u8],
    argv: Argv,
) -> Option<c_int> {
    let mut program = Buf::<N>::new();
    // SAFETY: PATH comes from the caller's environment, as glibc's execvpe and
    // posix_spawnp read it.
    let search = unsafe { sys::env_lookup(sys::environ(), b"PATH") };
    if path::search_path(file, search, &mut program) {
        Some(refused(cfg, api, program.as_cstr(), argv, "", true))
    } else if program.overflowed() && N < path::PATH_CAP {
        None
    } else {
        Some(0)
    }
}

fn real_execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    call_real!(
        real::EXECVE,
        fn(*const c_char, Argv, Argv) -> c_int,
        path,
        argv,
        envp
    )
    .unwrap_or_else(|| fail(libc::ENOSYS))
}

fn real_execvpe(file: *const c_char, argv: Argv, envp: Argv) -> c_int {
    call_real!(
        real::EXECVPE,
        fn(*const c_char, Argv, Argv) -> c_int,
        file,
        argv,
        envp
    )
    .unwrap_or_else(|| fail(libc::ENOSYS))
}

fn do_execve(api: &'static str, path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    let Some(cfg) = config() else {
        return real_execve(path, argv, envp);
    };
    // SAFETY: path is the caller's C string (or NULL).
    let invoked = unsafe { sys::cstr(path) };
    if !invoked.is_empty() {
        let errno = check_execve(cfg, api, invoked, argv);
        if errno != 0 {
            return fail(errno);
        }
    }
    with_env(cfg, envp, &mut |e| real_execve(path, argv, e))
}

fn do_execvpe(api: &'static str, file: *const c_char, argv: Argv, envp: Argv) -> c_int {
    let Some(cfg) = config() else {
        return real_execvpe(file, argv, envp);
    };
    // SAFETY: the caller's C string.
    let name = unsafe { sys::cstr(file) };
    let errno = check_execvpe(cfg, api, name, argv);
    if errno != 0 {
        return fail(errno);
    }
    with_env(cfg, envp, &mut |e| real_execvpe(file, argv, e))
}

/// # Safety
/// C ABI: arguments as for `execve(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    do_execve("execve", path, argv, envp)
}

/// # Safety
/// C ABI: arguments as for `execv(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Argv) -> c_int {
    do_execve("execv", path, argv, sys::environ())
}

/// # Safety
/// C ABI: arguments as for `execvp(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Argv) -> c_int {
    do_execvpe("execvp", file, argv, sys::environ())
}

/// # Safety
/// C ABI: arguments as for `execvpe(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Argv, envp: Argv) -> c_int {
    do_execvpe("execvpe", file, argv, envp)
}

/// Names a descriptor being executed; fileless (memfd) programs get a note.
fn fd_program(fd: c_int, out: &mut PathBuf) -> &'static str {
    if path::fd_path(fd, out) && path::is_memfd(out.as_bytes()) {
        "fileless program (memfd)"
    } else {
        ""
    }
}

/// # Safety
/// C ABI: arguments as for `fexecve(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Argv, envp: Argv) -> c_int {
    let real = |e: Argv| {
        call_real!(real::FEXECVE, fn(c_int, Argv, Argv) -> c_int, fd, argv, e)
            .unwrap_or_else(|| fail(libc::ENOSYS))
    };
    let Some(cfg) = config() else {
        return real(envp);
    };
    let mut program = PathBuf::new();
    let note = fd_program(fd, &mut program);
    if !program.is_empty() {
        let errno = refused(cfg, "fexecve", program.as_cstr(), argv, note, false);
        if errno != 0 {
            return fail(errno);
        }
    }
    with_env(cfg, envp, &mut |e| real(e))
}

/// # Safety
/// C ABI: arguments as for `execveat(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: Argv,
    envp: Argv,
    flags: c_int,
) -> c_int {
    let real = |e: Argv| {
        call_real!(
            real::EXECVEAT,
            fn(c_int, *const c_char, Argv, Argv, c_int) -> c_int,
            dirfd,
            path,
            argv,
            e,
            flags
        )
        .unwrap_or_else(|| fail(libc::ENOSYS))
    };
    let Some(cfg) = config() else {
        return real(envp);
    };
    // SAFETY: the caller's C string (or NULL).
    let name = unsafe { sys::cstr(path) };
    let mut program = PathBuf::new();
    let mut note = "";
    let by_fd = name.is_empty() && flags & libc::AT_EMPTY_PATH != 0;
    if by_fd {
        note = fd_program(dirfd, &mut program);
    } else if name.starts_with(b"/") || dirfd == libc::AT_FDCWD {
        if !path::absolute(name, &mut program) && !launch::unresolvable(cfg, "execveat", name, argv)
        {
            return fail(libc::EACCES);
        }
    } else {
        let mut dir = PathBuf::new();
        if path::fd_path(dirfd, &mut dir) && dir.push_byte(b'/') && dir.push(name) {
            path::normalize(dir.as_bytes(), &mut program);
        }
    }
    if !program.is_empty() {
        let errno = refused(cfg, "execveat", program.as_cstr(), argv, note, !by_fd);
        if errno != 0 {
            return fail(errno);
        }
    }
    with_env(cfg, envp, &mut |e| real(e))
}

// The variadic `execl`, `execle` and `execlp` are defined in `variadic.c` (C-variadic
// definitions are not stable Rust); they collect the arguments and call these. `hooks.map`
// keeps them out of the exported symbols.

/// # Safety
/// C ABI: arguments as for `execv(3)`.
#[unsafe(no_mangle)]
unsafe extern "C" fn guard_variadic_execl(path: *const c_char, argv: Argv) -> c_int {
    do_execve("execl", path, argv, sys::environ())
}

/// # Safety
/// C ABI: arguments as for `execve(2)`.
#[unsafe(no_mangle)]
unsafe extern "C" fn guard_variadic_execle(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    do_execve("execle", path, argv, envp)
}

/// # Safety
/// C ABI: arguments as for `execvp(3)`.
#[unsafe(no_mangle)]
unsafe extern "C" fn guard_variadic_execlp(file: *const c_char, argv: Argv) -> c_int {
    do_execvpe("execlp", file, argv, sys::environ())
}
