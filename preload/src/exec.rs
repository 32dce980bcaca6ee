//! The `exec*` family. These run in vfork children (CPython's `_posixsubprocess`), so they
//! only use the stack, atomics and raw syscalls.

use core::ffi::{c_char, c_int};

use guard_preload_core::launch::{self, Attempt, Launch};
use guard_preload_core::path::{self, PathBuf};
use guard_preload_core::{Config, sys};

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
    program: &PathBuf,
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
    let mut program = PathBuf::new();
    // SAFETY: path is the caller's C string (or NULL).
    let invoked = unsafe { sys::cstr(path) };
    if !invoked.is_empty() {
        let errno = if path::absolute(invoked, &mut program) {
            refused(cfg, api, &program, argv, "", true)
        } else if launch::unresolvable(cfg, api, invoked, argv) {
            0
        } else {
            libc::EACCES
        };
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
    let mut program = PathBuf::new();
    // SAFETY: the caller's C string; PATH comes from the caller's environment, as glibc's
    // execvpe and posix_spawnp read it.
    let (name, search) = unsafe { (sys::cstr(file), sys::env_lookup(sys::environ(), b"PATH")) };
    if path::search_path(name, search, &mut program) {
        let errno = refused(cfg, api, &program, argv, "", true);
        if errno != 0 {
            return fail(errno);
        }
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
        let errno = refused(cfg, "fexecve", &program, argv, note, false);
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
        let errno = refused(cfg, "execveat", &program, argv, note, !by_fd);
        if errno != 0 {
            return fail(errno);
        }
    }
    with_env(cfg, envp, &mut |e| real(e))
}

// The variadic `execl`, `execle` and `execlp` are defined in `variadic.c` (C-variadic
// definitions are not stable Rust); it collects the arguments and calls back through this
// table, which is not exported.
unsafe extern "C" {
    fn guard_preload_register_variadic(
        execl: unsafe extern "C" fn(*const c_char, Argv) -> c_int,
        execle: unsafe extern "C" fn(*const c_char, Argv, Argv) -> c_int,
        execlp: unsafe extern "C" fn(*const c_char, Argv) -> c_int,
    );
}

unsafe extern "C" fn variadic_execl(path: *const c_char, argv: Argv) -> c_int {
    do_execve("execl", path, argv, sys::environ())
}

unsafe extern "C" fn variadic_execle(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    do_execve("execle", path, argv, envp)
}

unsafe extern "C" fn variadic_execlp(file: *const c_char, argv: Argv) -> c_int {
    do_execvpe("execlp", file, argv, sys::environ())
}

pub fn register_variadic() {
    // SAFETY: stores three function pointers in the C file's table.
    unsafe { guard_preload_register_variadic(variadic_execl, variadic_execle, variadic_execlp) }
}
