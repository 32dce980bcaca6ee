//! `posix_spawn[p]`, `pidfd_spawn[p]`, `system` and `popen`. glibc runs the child of all of
//! these with `CLONE_VM|CLONE_VFORK` and only its own internal code, so the decision is made
//! here, in the parent, before the real call.

use core::ffi::{c_char, c_int, c_void};

use guard_preload_core::launch::{self, Launch};
use guard_preload_core::path::{self, PathBuf};
use guard_preload_core::sys;

use crate::env::{restore_process_env, with_env};
use crate::init::config;
use crate::real::{self, Real, call_real};

type Argv = *const *const c_char;
type SpawnFn = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_void,
    *const c_void,
    Argv,
    Argv,
) -> c_int;

/// Shared body of the four spawn calls (the C signature dictates the argument count) (`pid` is a `pid_t*` or, for pidfd_spawn, an `int*`;
/// both are passed through untouched). Failure is the error number, as these calls return it.
#[allow(clippy::too_many_arguments)]
unsafe fn spawn(
    api: &'static str,
    real: &Real,
    search: bool,
    pid: *mut c_void,
    file: *const c_char,
    actions: *const c_void,
    attr: *const c_void,
    argv: Argv,
    envp: Argv,
) -> c_int {
    let call = |e: Argv| -> c_int {
        let p = real.get();
        if p == 0 {
            return libc::ENOSYS;
        }
        // SAFETY: resolved by name; all four calls have this shape.
        let f: SpawnFn = unsafe { core::mem::transmute(p) };
        // SAFETY: the caller's arguments, with the (possibly patched) environment.
        unsafe { f(pid, file, actions, attr, argv, e) }
    };
    let Some(cfg) = config() else {
        return call(envp);
    };
    // SAFETY: the caller's C string.
    let name = unsafe { sys::cstr(file) };
    let mut program = PathBuf::new();
    let found = if search {
        // SAFETY: reading PATH from the caller's environment, as glibc does for the p variant.
        let path_env = unsafe { sys::env_lookup(sys::environ(), b"PATH") };
        path::search_path(name, path_env, &mut program)
    } else if name.is_empty() {
        false
    } else if path::absolute(name, &mut program) {
        true
    } else if launch::unresolvable(cfg, api, name, argv) {
        false
    } else {
        return libc::EACCES;
    };
    if found
        && !launch::decide(
            cfg,
            &Launch {
                api,
                program: program.as_cstr(),
                argv,
                note: "",
                constructor: false,
            },
        )
    {
        return libc::EACCES;
    }
    with_env(cfg, envp, &mut |e| call(e))
}

/// # Safety
/// C ABI: arguments as for `posix_spawn(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const c_void,
    attr: *const c_void,
    argv: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: forwarded C arguments.
    unsafe {
        spawn(
            "posix_spawn",
            &real::POSIX_SPAWN,
            false,
            pid.cast(),
            path,
            actions,
            attr,
            argv,
            envp,
        )
    }
}

/// # Safety
/// C ABI: arguments as for `posix_spawnp(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    actions: *const c_void,
    attr: *const c_void,
    argv: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: forwarded C arguments.
    unsafe {
        spawn(
            "posix_spawnp",
            &real::POSIX_SPAWNP,
            true,
            pid.cast(),
            file,
            actions,
            attr,
            argv,
            envp,
        )
    }
}

/// # Safety
/// C ABI: arguments as for `pidfd_spawn(3)` (glibc 2.39+).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pidfd_spawn(
    pidfd: *mut c_int,
    path: *const c_char,
    actions: *const c_void,
    attr: *const c_void,
    argv: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: forwarded C arguments.
    unsafe {
        spawn(
            "pidfd_spawn",
            &real::PIDFD_SPAWN,
            false,
            pidfd.cast(),
            path,
            actions,
            attr,
            argv,
            envp,
        )
    }
}

/// # Safety
/// C ABI: arguments as for `pidfd_spawnp(3)` (glibc 2.39+).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pidfd_spawnp(
    pidfd: *mut c_int,
    file: *const c_char,
    actions: *const c_void,
    attr: *const c_void,
    argv: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: forwarded C arguments.
    unsafe {
        spawn(
            "pidfd_spawnp",
            &real::PIDFD_SPAWNP,
            true,
            pidfd.cast(),
            file,
            actions,
            attr,
            argv,
            envp,
        )
    }
}

/// The shell both calls run. The shell's own hooked `execve` then decides on the programs
/// the command line starts; here only the shell itself is decided.
const SHELL: &[u8] = b"/bin/sh";

/// Decides running `sh -c command`; false when denied.
fn shell_allowed(api: &'static str, command: *const c_char) -> bool {
    let Some(cfg) = config() else { return true };
    let argv: [*const c_char; 4] = [c"sh".as_ptr(), c"-c".as_ptr(), command, core::ptr::null()];
    let mut program = PathBuf::new();
    program.set(SHELL);
    let ok = launch::decide(
        cfg,
        &Launch {
            api,
            program: program.as_cstr(),
            argv: argv.as_ptr(),
            note: "",
            constructor: false,
        },
    );
    if ok {
        restore_process_env(cfg);
    }
    ok
}

/// Exit status `system` returns for a denied shell: as if the shell had exited 126 ("cannot
/// execute"), which is what callers already handle for a command that could not run.
const SYSTEM_DENIED_STATUS: c_int = 126 << 8;

/// # Safety
/// C ABI: arguments as for `system(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    // A NULL command only asks whether a shell exists.
    if !command.is_null() && !shell_allowed("system", command) {
        sys::set_errno(libc::EACCES);
        return SYSTEM_DENIED_STATUS;
    }
    call_real!(real::SYSTEM, fn(*const c_char) -> c_int, command).unwrap_or(-1)
}

/// # Safety
/// C ABI: arguments as for `popen(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    if !command.is_null() && !shell_allowed("popen", command) {
        sys::set_errno(libc::EACCES);
        return core::ptr::null_mut();
    }
    call_real!(
        real::POPEN,
        fn(*const c_char, *const c_char) -> *mut libc::FILE,
        command,
        mode
    )
    .unwrap_or(core::ptr::null_mut())
}
