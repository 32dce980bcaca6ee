//! The constructor: resolve the real launch functions, snapshot the settings, map the policy, and
//! stop this very program before `main` when the policy denies it.

use core::cell::UnsafeCell;
use core::ffi::{CStr, c_char, c_int};
use core::sync::atomic::{AtomicU8, Ordering};

use guard_preload_core::config::INJECTED;
use guard_preload_core::launch::{self, Launch};
use guard_preload_core::path;
use guard_preload_core::{Buf, Config, policy, protect, sys};

use crate::real;

const UNINIT: u8 = 0;
const RUNNING: u8 = 1;
const READY: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);

struct Shared(UnsafeCell<Config>);
// SAFETY: written only by the one thread that wins UNINIT -> RUNNING, before READY is
// published with Release; read only after observing READY with Acquire.
unsafe impl Sync for Shared {}

static CONFIG: Shared = Shared(UnsafeCell::new(Config::new()));

/// The settings, initialising on first use when a hook runs before the constructor (another
/// preload's constructor). `None` while initialisation is under way (a hook re-entered from
/// it): the caller then passes the call through.
pub fn config() -> Option<&'static Config> {
    if STATE.load(Ordering::Acquire) != READY {
        init();
        if STATE.load(Ordering::Acquire) != READY {
            return None;
        }
    }
    // SAFETY: READY was observed, so the config is complete and never written again.
    Some(unsafe { &*CONFIG.0.get() })
}

fn init() {
    if STATE
        .compare_exchange(UNINIT, RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    real::resolve_launch();
    policy::prepare();
    // SAFETY: only this thread writes, and nobody reads before READY.
    let cfg = unsafe { &mut *CONFIG.0.get() };
    let mut exe = Buf::<1024>::new();
    if !exec_name_is_image(&mut exe) {
        exe.fill(|buf, room| {
            // SAFETY: fill hands over `room` bytes plus the one for the NUL.
            unsafe { sys::readlink_into(c"/proc/self/exe", buf, room + 1) }.ok()
        });
    }
    cfg.set_exe(exe.as_bytes());
    let vars = GuardVars::scan(sys::environ());
    cfg.load(&|key| vars.get(key));
    cfg.set_self_lib(own_path());
    STATE.store(READY, Ordering::Release);
}

/// The running program's real path from the name the kernel was asked to run
/// (`AT_EXECFN`), when that file is what is running: its program headers are the main
/// program's (see [`protect::is_image_of`]). False for a script (the interpreter runs), an
/// `fexecve`, or a file replaced since: the caller then asks `/proc/self/exe`.
fn exec_name_is_image(out: &mut Buf<1024>) -> bool {
    // SAFETY: getauxval only reads the auxiliary vector.
    let (name, phdr, phent, phnum) = unsafe {
        (
            libc::getauxval(libc::AT_EXECFN) as *const c_char,
            libc::getauxval(libc::AT_PHDR) as *const u8,
            libc::getauxval(libc::AT_PHENT) as usize,
            libc::getauxval(libc::AT_PHNUM) as usize,
        )
    };
    if name.is_null() || phdr.is_null() {
        return false;
    }
    // SAFETY: the kernel's AT_PHDR points at the main program's mapped header table of
    // AT_PHNUM entries of AT_PHENT bytes, which stays mapped for the life of the process.
    let phdrs = unsafe { core::slice::from_raw_parts(phdr, phent.saturating_mul(phnum)) };
    let mut abs = Buf::<1024>::new();
    // SAFETY: AT_EXECFN is a C string on the initial stack.
    let name = unsafe { sys::cstr(name) };
    if !path::absolute(name, &mut abs) {
        return false;
    }
    match protect::is_image_of(abs.as_cstr(), phdrs) {
        Some(last_is_plain) => {
            path::realpath_known_last(abs.as_bytes(), out, last_is_plain).is_ok()
        }
        None => false,
    }
}

/// The values of the `GUARD_*` variables, found in one pass over the environment (eight
/// `getenv` calls would each walk all of it, and page in libc's `getenv`).
struct GuardVars<'a> {
    values: [Option<&'a [u8]>; INJECTED.len()],
}

impl<'a> GuardVars<'a> {
    fn scan(envp: *const *const c_char) -> GuardVars<'a> {
        let mut values = [None; INJECTED.len()];
        if envp.is_null() {
            return GuardVars { values };
        }
        for i in 0.. {
            // SAFETY: environ is NULL-terminated; we stop at its NULL.
            let entry = unsafe { *envp.add(i) };
            if entry.is_null() {
                break;
            }
            // Cheap rejection before measuring the entry: only GUARD_* can match.
            // SAFETY: an entry is a C string; reading its first byte is in bounds.
            if unsafe { *entry } as u8 != b'G' {
                continue;
            }
            // SAFETY: a C string that lives in the environment for this snapshot.
            let bytes = unsafe { sys::cstr(entry) };
            for (slot, key) in values.iter_mut().zip(INJECTED) {
                if slot.is_none()
                    && let Some(value) = bytes
                        .strip_prefix(key.as_bytes())
                        .and_then(|rest| rest.strip_prefix(b"="))
                {
                    *slot = Some(value);
                }
            }
        }
        GuardVars { values }
    }

    fn get(&self, key: &str) -> Option<&'a [u8]> {
        let i = INJECTED.iter().position(|k| *k == key)?;
        self.values.get(i).copied().flatten()
    }
}

/// This library's path, to put back into `LD_PRELOAD` of children that lost it.
fn own_path() -> &'static [u8] {
    let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let anchor = constructor as *const libc::c_void;
    // SAFETY: dladdr fills info for an address inside this object.
    let ok = unsafe { libc::dladdr(anchor, info.as_mut_ptr()) } != 0;
    if !ok {
        return &[];
    }
    // SAFETY: filled by the successful dladdr.
    let name = unsafe { info.assume_init_ref() }.dli_fname;
    // SAFETY: dli_fname is a C string owned by the loader for as long as we are loaded.
    unsafe { sys::cstr(name) }
}

/// Whether the C library is glibc, which passes `argc, argv, envp` to `.init_array`
/// functions. musl's loader (which also loads this library: it answers for `libc.so.6`
/// itself) passes nothing, so the argument registers hold garbage there.
fn libc_passes_argv() -> bool {
    // SAFETY: dlsym with a NUL-terminated name; only the result's nullness is used.
    !unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"gnu_get_libc_version".as_ptr()) }.is_null()
}

/// Runs before `main` of every program that has the shim preloaded.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn constructor(_argc: c_int, argv: *const *const c_char, _envp: *const *const c_char) {
    init();
    let Some(cfg) = config() else { return };
    let argv = if libc_passes_argv() {
        argv
    } else {
        core::ptr::null()
    };
    guard_preload_core::event::PROCESS_ARGV
        .store(argv.cast_mut(), core::sync::atomic::Ordering::Relaxed);
    // A parent we could not hook (a static binary, a raw syscall) may have started us: check
    // our own program, as the kernel ran it and as it was invoked.
    let exe = cfg.exe();
    if exe.is_empty() {
        return;
    }
    let denied = |program: &CStr| {
        !launch::decide(
            cfg,
            &Launch {
                api: "constructor",
                program,
                argv,
                note: "",
                constructor: true,
            },
        )
    };
    if denied(exe) {
        // SAFETY: _exit never returns and runs no user code.
        unsafe { libc::_exit(guard_contract::EXIT_DENIED) };
    }
    // SAFETY: the loader passes a NULL-terminated argv (NULL on libcs that pass none).
    let argv0 = if argv.is_null() {
        &[][..]
    } else {
        unsafe { sys::cstr(*argv) }
    };
    if argv0.contains(&b'/') && invoked_denied(cfg, argv0, exe, &denied) {
        // SAFETY: as above.
        unsafe { libc::_exit(guard_contract::EXIT_DENIED) };
    }
}

type Denied<'a> = &'a dyn Fn(&CStr) -> bool;

/// Whether the program named by `argv0` (when it differs from `exe` and exists) is denied.
/// Decided from the policy already mapped for `exe` first; the file is only looked at, and
/// the decision reported, when it would be refused.
fn invoked_denied(cfg: &Config, argv0: &[u8], exe: &CStr, denied: Denied<'_>) -> bool {
    invoked_denied_in::<{ path::SHORT_CAP }>(cfg, argv0, exe, denied)
        .unwrap_or_else(|| invoked_denied_long(cfg, argv0, exe, denied))
}

#[cold]
#[inline(never)]
fn invoked_denied_long(cfg: &Config, argv0: &[u8], exe: &CStr, denied: Denied<'_>) -> bool {
    invoked_denied_in::<{ path::PATH_CAP }>(cfg, argv0, exe, denied).unwrap_or(false)
}

/// `None` when `argv0` did not fit buffers of size `N`.
fn invoked_denied_in<const N: usize>(
    cfg: &Config,
    argv0: &[u8],
    exe: &CStr,
    denied: Denied<'_>,
) -> Option<bool> {
    let mut invoked = Buf::<N>::new();
    if !path::absolute(argv0, &mut invoked) {
        return if invoked.overflowed() {
            None
        } else {
            Some(false)
        };
    }
    if invoked.as_bytes() == exe.to_bytes() {
        return Some(false);
    }
    let refused = match policy::current_unchecked() {
        Some(view) => {
            let verdict = view.decide_process(invoked.as_bytes()).verdict;
            !launch::outcome(view.mode(), verdict).allow
        }
        None => !cfg.fail_open,
    };
    Some(refused && sys::stat(invoked.as_cstr()).is_ok() && denied(invoked.as_cstr()))
}

// Not in the unit-test binary of this crate: it would decide about the test runner itself.
#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = constructor;
