//! The real libc functions behind each hook, resolved with `dlsym(RTLD_NEXT)`.

use core::ffi::{CStr, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

/// One real function. The `exec*` functions are resolved in the constructor (or on first use
/// when a hook runs before it, from another preload's constructor), so that no `exec*` hook,
/// which may run in a vfork child, ever calls `dlsym` itself. The others (spawn, resolver,
/// `system`, `popen`) are resolved on first use: most processes never call them, and each
/// `dlsym` walks the loaded objects' symbol tables, a cost every process launch would pay
/// otherwise.
/// A missing optional symbol is remembered as [`MISSING`] and the hook fails the call with
/// `ENOSYS` the way a libc without it would.
pub struct Real {
    name: &'static CStr,
    /// Pre-2.34 glibc spelling (`__res_query`) or another fallback.
    alt: Option<&'static CStr>,
    ptr: AtomicUsize,
}

/// Looked up, and not there.
const MISSING: usize = 1;

impl Real {
    pub const fn new(name: &'static CStr) -> Real {
        Real {
            name,
            alt: None,
            ptr: AtomicUsize::new(0),
        }
    }

    pub const fn with_alt(name: &'static CStr, alt: &'static CStr) -> Real {
        Real {
            name,
            alt: Some(alt),
            ptr: AtomicUsize::new(0),
        }
    }

    pub fn resolve(&self) {
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name.
        let mut p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) };
        if p.is_null()
            && let Some(alt) = self.alt
        {
            // SAFETY: as above.
            p = unsafe { libc::dlsym(libc::RTLD_NEXT, alt.as_ptr()) };
        }
        let value = if p.is_null() { MISSING } else { p as usize };
        self.ptr.store(value, Ordering::Release);
    }

    /// The function's address, or 0 when the libc has no such function.
    pub fn get(&self) -> usize {
        let mut p = self.ptr.load(Ordering::Acquire);
        if p == 0 {
            self.resolve();
            p = self.ptr.load(Ordering::Acquire);
        }
        if p == MISSING { 0 } else { p }
    }

    #[allow(dead_code)]
    pub fn addr(&self) -> *const c_void {
        self.get() as *const c_void
    }
}

/// Calls a [`Real`] with the given signature; evaluates to `None` when it is missing.
macro_rules! call_real {
    ($real:expr, fn($($t:ty),* $(,)?) -> $r:ty, $($arg:expr),* $(,)?) => {{
        let p = $real.get();
        if p == 0 {
            None
        } else {
            // SAFETY: the symbol was resolved by name and has this C signature.
            let f: unsafe extern "C" fn($($t),*) -> $r = unsafe { core::mem::transmute(p) };
            // SAFETY: the caller's arguments are passed through unchanged.
            Some(unsafe { f($($arg),*) })
        }
    }};
}
pub(crate) use call_real;

pub static EXECVE: Real = Real::new(c"execve");
pub static EXECVPE: Real = Real::new(c"execvpe");
pub static FEXECVE: Real = Real::new(c"fexecve");
pub static EXECVEAT: Real = Real::new(c"execveat");
pub static POSIX_SPAWN: Real = Real::new(c"posix_spawn");
pub static POSIX_SPAWNP: Real = Real::new(c"posix_spawnp");
pub static PIDFD_SPAWN: Real = Real::new(c"pidfd_spawn");
pub static PIDFD_SPAWNP: Real = Real::new(c"pidfd_spawnp");
pub static SYSTEM: Real = Real::new(c"system");
pub static POPEN: Real = Real::new(c"popen");
pub static GETADDRINFO: Real = Real::new(c"getaddrinfo");
pub static GETADDRINFO_A: Real = Real::new(c"getaddrinfo_a");
pub static GETHOSTBYNAME: Real = Real::new(c"gethostbyname");
pub static GETHOSTBYNAME2: Real = Real::new(c"gethostbyname2");
pub static GETHOSTBYNAME_R: Real = Real::new(c"gethostbyname_r");
pub static GETHOSTBYNAME2_R: Real = Real::new(c"gethostbyname2_r");
pub static RES_QUERY: Real = Real::with_alt(c"res_query", c"__res_query");
pub static RES_SEARCH: Real = Real::with_alt(c"res_search", c"__res_search");
pub static RES_QUERYDOMAIN: Real = Real::with_alt(c"res_querydomain", c"__res_querydomain");
pub static RES_NQUERY: Real = Real::with_alt(c"res_nquery", c"__res_nquery");
pub static RES_NSEARCH: Real = Real::with_alt(c"res_nsearch", c"__res_nsearch");
pub static RES_NQUERYDOMAIN: Real = Real::with_alt(c"res_nquerydomain", c"__res_nquerydomain");
pub static CONNECT: Real = Real::new(c"connect");
pub static SENDTO: Real = Real::new(c"sendto");
pub static SENDMSG: Real = Real::new(c"sendmsg");
pub static SENDMMSG: Real = Real::new(c"sendmmsg");
pub static RES_SEND: Real = Real::with_alt(c"res_send", c"__res_send");

/// The functions the `exec*` hooks call, resolved in the constructor: those hooks may run
/// in a vfork child, where `dlsym` (which takes the loader's lock) must not be called. The
/// spawn hooks run in the calling process like any libc call and resolve on first use; so
/// does everything else. `pidfd_spawn` in particular is missing from glibc before 2.39, and a
/// failed `dlsym` formats an error message on the heap: that would set up malloc in every
/// process (a `getrandom` and two `brk` calls and their page faults).
static LAUNCH: [&Real; 4] = [&EXECVE, &EXECVPE, &FEXECVE, &EXECVEAT];

/// Resolves the `exec*` functions (called once, from the constructor); the rest resolve on
/// first use (see [`Real`]).
pub fn resolve_launch() {
    for real in LAUNCH {
        real.resolve();
    }
}
