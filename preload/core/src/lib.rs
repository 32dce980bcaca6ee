//! What `libguard_preload.so` and `guard-exec` decide, shared so there is one implementation.
//!
//! Everything here runs inside hooks that may execute in a `vfork` child or right after `fork`
//! in a multi-threaded program, so the crate is `no_std`: no heap, no locks, no panics on
//! input, only raw libc calls into fixed-size stack buffers. It covers where a launch would go
//! (PATH search, symlink hops, real path), the decision with the mapped `policy.bin`
//! (reloaded when the sidecar replaces it), the event datagram, and the checks that tell when
//! a program cannot be protected (static, setuid, file capabilities).
#![no_std]

#[cfg(any(test, feature = "std"))]
extern crate std;

/// Defines the `#[panic_handler]` of a `no_std` artifact (the preload library): abort, which
/// is all a hook can safely do. Expands to nothing when std is linked (this crate's `std`
/// feature, which `guard-exec` enables, so workspace-wide builds that also link std through
/// other members compile) because std has its own handler.
#[cfg(not(feature = "std"))]
#[macro_export]
macro_rules! panic_handler {
    () => {
        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo) -> ! {
            // SAFETY: abort is async-signal-safe and never returns.
            unsafe { libc::abort() }
        }
    };
}

/// See the `no_std` version: std provides the handler.
#[cfg(feature = "std")]
#[macro_export]
macro_rules! panic_handler {
    () => {};
}

pub mod buf;
pub mod config;
pub mod event;
pub mod launch;
pub mod lookup;
pub mod net;
pub mod path;
pub mod policy;
pub mod protect;
pub mod sys;

pub use buf::Buf;
pub use config::Config;
