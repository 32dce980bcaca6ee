//! `guard-exec`: starts an app container's entrypoint under TaskGuard.
fn main() {}
