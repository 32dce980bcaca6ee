//! `libguard_preload.so`: hooks every process launch and name lookup that goes through libc,
//! decides it with the task's policy and reports it to the sidecar.
#![cfg_attr(not(test), no_std)]

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort is async-signal-safe and never returns.
    unsafe { libc::abort() }
}
