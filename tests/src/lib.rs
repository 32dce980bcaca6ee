//! Shared harness for TaskGuard's integration tests: where the built artifacts are, real
//! upstream resolvers, the shim's event socket, network namespaces.
//!
//! Tests that need root, a namespace or a system program skip on a developer's machine but
//! fail under CI (`CI=true`): nothing passes there by not running.

pub mod artifacts;
pub mod cdp;
pub mod container;
pub mod netns;
pub mod netns_outside;
pub mod report;
pub mod require;
pub mod scenario;
pub mod shim;
pub mod static_task;
pub mod task;
pub mod upstream;
pub mod vpc;
