//! The TaskGuard sidecar: a stub DNS resolver that answers only policy-allowed names, the
//! publisher of the compiled policy for the preload shims, and the task's audit log.
