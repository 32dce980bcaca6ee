//! `libguard_preload.so`: hooks every process launch and name lookup that goes through libc,
//! decides it with the task's policy and reports it to the sidecar.
//!
//! The decisions themselves live in `guard-preload-core` (shared with `guard-exec`); this
//! crate holds the exported hooks, the constructor and the pointers to the real functions.
//! It is `no_std` so the compiler guarantees that no hook allocates: hooks run inside vfork
//! children and right after `fork` in threaded programs, where the heap and every lock may
//! belong to another thread. Forwarding goes only through pointers from
//! `dlsym(RTLD_NEXT)`: a call to a libc symbol we export would come back to us.
//!
//! The exported symbols are exactly the hooks (`hooks.map` adds the C-defined variadic ones,
//! and `tests/tests/shim_build.rs` checks the list).
#![cfg_attr(not(test), no_std)]

mod dns;
mod env;
mod exec;
mod init;
mod net;
mod real;
mod spawn;

// In workspace-wide builds (tests, clippy) other members pull std into the dependency graph,
// which brings its own panic handler; the macro defines ours only when std is absent (the
// dist build of this library alone).
#[cfg(not(test))]
guard_preload_core::panic_handler!();
