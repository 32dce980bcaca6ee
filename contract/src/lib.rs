//! The contracts between TaskGuard's parts, in one place.
//!
//! The sidecar (`dns-guard`), the launcher (`guard-exec`), the preload shim and the
//! task-definition rewriter (`guard-embed`) never talk to each other except through what is
//! defined here: files on the sidecar's shared volume, environment variables of the app
//! containers, and the event datagrams the shim sends to the sidecar. `docs/contracts.md` is
//! the prose version of this file; keep them in step.
//!
//! This crate is `no_std` and has no dependencies so the preload shim can use it.
#![no_std]

/// Where the sidecar's volume is mounted in every container of the task (`volumesFrom`).
pub const VOLUME: &str = "/guard";
/// The sidecar daemon.
pub const BIN_DNS_GUARD: &str = "/guard/bin/dns-guard";
/// The launcher that prefixes each app container's entryPoint.
pub const BIN_GUARD_EXEC: &str = "/guard/bin/guard-exec";
/// The preload shim.
pub const LIB_PRELOAD: &str = "/guard/lib/libguard_preload.so";
/// The directory the sidecar publishes into (`dns-guard serve --run-dir`).
pub const RUN_DIR: &str = "/guard/run";
/// Relative locations inside the volume, for building the dist layout.
pub const VOLUME_BIN_DIR: &str = "bin";
pub const VOLUME_LIB_DIR: &str = "lib";
pub const VOLUME_RUN_DIR: &str = "run";
pub const DNS_GUARD_FILE: &str = "dns-guard";
pub const GUARD_EXEC_FILE: &str = "guard-exec";
pub const PRELOAD_FILE: &str = "libguard_preload.so";

/// The compiled policy as JSON (canonical, normalised document plus its version), replaced
/// atomically (write to a temporary file in the same directory, then rename).
pub const POLICY_JSON_FILE: &str = "policy.json";
/// The compiled policy in the compact form the shim maps into memory without parsing
/// (`guard_policy::view`). Always published *before* `policy.json`, in the same directory, so a
/// reader that sees a new `policy.json` also finds the matching `policy.bin`.
pub const POLICY_BIN_FILE: &str = "policy.bin";
/// The answers ledger (`guard_ledger`): the addresses the sidecar answered for allowed names,
/// each until its TTL plus `[net] grace`, in a fixed-size table of atomically updated slots
/// that the shim maps and reads in its `connect`/`sendto` hooks. Created once at full size
/// (by rename) and then only updated in place.
pub const ANSWERS_FILE: &str = "answers.bin";
/// The sidecar's Unix datagram socket that receives the shim's events.
pub const EVENTS_SOCK_FILE: &str = "events.sock";
/// Full paths of the three run files on the volume.
pub const POLICY_JSON: &str = "/guard/run/policy.json";
pub const POLICY_BIN: &str = "/guard/run/policy.bin";
pub const EVENTS_SOCK: &str = "/guard/run/events.sock";
pub const ANSWERS: &str = "/guard/run/answers.bin";

/// Environment of the app containers (set by guard-embed in the task definition, and by
/// guard-exec at launch).
pub mod env {
    /// Path of `policy.json`; the shim maps `policy.bin` from the same directory.
    pub const POLICY: &str = "GUARD_POLICY";
    /// Path of the sidecar's event socket.
    pub const EVENTS: &str = "GUARD_EVENTS";
    /// The container's name, for attribution in audit events.
    pub const CONTAINER: &str = "GUARD_CONTAINER";
    /// `closed` (default) or `open`: what happens when no valid policy is available.
    pub const FAIL: &str = "GUARD_FAIL";
    /// Seconds guard-exec waits for the policy file to appear (default 30).
    pub const WAIT: &str = "GUARD_WAIT";
    /// The IP guard-exec points `/etc/resolv.conf` at before starting the app, normally
    /// [`DNS_RESOLVER_IP`](crate::DNS_RESOLVER_IP) (the sidecar), so resolvers that bypass libc
    /// (dig, Go, c-ares) ask the sidecar too. Unset or empty: resolv.conf is left alone.
    /// Same as guard-exec's `--resolver IP`, which wins when both are given.
    pub const RESOLVER: &str = "GUARD_RESOLVER";
    /// The dynamic loader's preload list. Always appended to, never replaced.
    pub const LD_PRELOAD: &str = "LD_PRELOAD";
    /// `off` turns guard-exec's seccomp supervisor off (guard-embed `--no-supervise`): it
    /// then replaces itself with the app as before. Unset: on.
    pub const SUPERVISE: &str = "GUARD_SUPERVISE";
    /// The value of [`SUPERVISE`] that turns the supervisor off.
    pub const SUPERVISE_OFF: &str = "off";
}

/// Default for `GUARD_WAIT`, in seconds.
pub const DEFAULT_WAIT_SECS: u32 = 30;
/// Value of `GUARD_FAIL` that lets programs run when no valid policy is available.
pub const FAIL_OPEN: &str = "open";
/// Value of `GUARD_FAIL` that refuses launches and lookups when no valid policy is available.
pub const FAIL_CLOSED: &str = "closed";

/// Where the sidecar listens for DNS (the task's shared loopback).
pub const DNS_LISTEN: &str = "127.0.0.1:53";
/// The address part of [`DNS_LISTEN`]: what `GUARD_RESOLVER` names in a task definition.
pub const DNS_RESOLVER_IP: &str = "127.0.0.1";
/// Where the sidecar serves `/healthz` and `/metrics`.
pub const ADMIN_LISTEN: &str = "127.0.0.1:9053";
/// Default container name of the sidecar in a task definition.
pub const SIDECAR_NAME: &str = "taskguard";

/// Exit status of a process that the shim's constructor stops before `main` because the
/// policy denies its program (the shell's "found but cannot execute").
pub const EXIT_DENIED: i32 = 126;

/// The shim's event datagrams.
///
/// One datagram is one UTF-8 JSON object, at most [`event::MAX_DATAGRAM`] bytes, sent with a
/// non-blocking `sendto` on a `SOCK_DGRAM` Unix socket. Fields (all optional unless noted):
///
/// | field | type | meaning |
/// |---|---|---|
/// | `kind` (required) | string | `dns`, `process` or `net` |
/// | `action` (required) | string | `blocked`, `alerted`, `would-block`, `unprotected` |
/// | `name` | string | the name looked up (kind `dns`) |
/// | `program` | string | the resolved absolute path of the program launched (kind `process`) |
/// | `argv` | array of strings | the launched program's arguments (truncated to fit) |
/// | `rule` | string | the deciding rule, as `guard_policy` renders it |
/// | `policy_version` | string | version of the policy that decided |
/// | `container` | string | `GUARD_CONTAINER` of the reporting process |
/// | `pid`, `ppid` | number | the reporting process and its parent |
/// | `exe` | string | the reporting process's own executable |
/// | `api` | string | the hooked call (`execve`, `posix_spawnp`, `getaddrinfo`, ...), or `syscall` from guard-exec's supervisor |
/// | `reason` | string | free text for `unprotected` (e.g. `static binary`, `setuid`) |
/// | `address`, `port`, `protocol` | string, number, string | the destination of a `net` event (`tcp`, `udp`) |
///
/// The sidecar validates each datagram, drops unknown fields, adds `time` and
/// `source: "shim"`, and writes it as an audit event.
pub mod event {
    /// Largest datagram the sidecar accepts; the shim truncates `argv` to fit.
    pub const MAX_DATAGRAM: usize = 8192;
    pub const KIND_DNS: &str = "dns";
    pub const KIND_PROCESS: &str = "process";
    pub const KIND_NET: &str = "net";
    pub const ACTION_BLOCKED: &str = "blocked";
    pub const ACTION_ALERTED: &str = "alerted";
    pub const ACTION_WOULD_BLOCK: &str = "would-block";
    pub const ACTION_UNPROTECTED: &str = "unprotected";
}
