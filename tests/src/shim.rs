//! Harness for the preload shim's tests: a policy published the way the sidecar publishes it
//! (`policy.bin` + `policy.json` in a run directory), the event socket bound by the test, and
//! commands started with the shim preloaded and the `GUARD_*` environment.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use guard_contract as contract;
use guard_policy::Policy;
use serde_json::Value;

use crate::artifacts;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A private run directory with a policy and a bound event socket; removed on drop.
pub struct Guard {
    pub dir: PathBuf,
    events: UnixDatagram,
    pub lib: PathBuf,
    pub container: String,
    pub fail: &'static str,
}

impl Guard {
    /// Publishes `toml` and binds the event socket.
    pub fn new(toml: &str) -> Result<Guard> {
        let guard = Guard::empty()?;
        guard.set_policy(toml)?;
        Ok(guard)
    }

    /// A run directory with the event socket but no policy yet.
    pub fn empty() -> Result<Guard> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("guard-shim-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let sock = dir.join(contract::EVENTS_SOCK_FILE);
        let events =
            UnixDatagram::bind(&sock).with_context(|| format!("binding {}", sock.display()))?;
        events.set_read_timeout(Some(Duration::from_millis(50)))?;
        Ok(Guard {
            dir,
            events,
            lib: artifacts::preload_lib(),
            container: "app".to_string(),
            fail: contract::FAIL_CLOSED,
        })
    }

    /// Compiles and publishes a policy like the sidecar: `policy.bin` first, then
    /// `policy.json`, each through a temporary file and a rename. Returns the version.
    pub fn set_policy(&self, toml: &str) -> Result<String> {
        let policy = Policy::from_toml(toml, "test policy").map_err(|e| anyhow::anyhow!("{e}"))?;
        let compiled = policy.compile();
        write_atomic(&self.dir.join(contract::POLICY_BIN_FILE), compiled.blob())?;
        write_atomic(
            &self.dir.join(contract::POLICY_JSON_FILE),
            compiled.to_json().as_bytes(),
        )?;
        Ok(compiled.version().to_string())
    }

    pub fn policy_json(&self) -> PathBuf {
        self.dir.join(contract::POLICY_JSON_FILE)
    }

    /// The version of the policy published now, as `policy.json` states it.
    pub fn version(&self) -> String {
        let text = std::fs::read_to_string(self.policy_json()).expect("reading policy.json");
        let json: Value = serde_json::from_str(&text).expect("policy.json is JSON");
        json["version"].as_str().expect("a version").to_string()
    }

    pub fn events_path(&self) -> PathBuf {
        self.dir.join(contract::EVENTS_SOCK_FILE)
    }

    /// A path in the run directory for marker files that programs create when they run.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `text` (a script) to `name` in the guard's directory, executable.
    pub fn executable(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("writing a script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("making a script executable");
        path
    }

    /// The environment a guarded container gets.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.lib.display().to_string()),
            (
                contract::env::POLICY.into(),
                self.policy_json().display().to_string(),
            ),
            (
                contract::env::EVENTS.into(),
                self.events_path().display().to_string(),
            ),
            (contract::env::CONTAINER.into(), self.container.clone()),
            (contract::env::FAIL.into(), self.fail.to_string()),
        ]
    }

    /// `program` with the shim preloaded and the guard's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.env());
        cmd
    }

    /// Runs `sh -c script` under the guard.
    pub fn sh(&self, script: &str) -> Output {
        self.command("/bin/sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("running /bin/sh")
    }

    /// Every event received until none arrives for `quiet` (at most `total`).
    pub fn events_for(&self, quiet: Duration, total: Duration) -> Vec<Value> {
        let start = Instant::now();
        let mut last = Instant::now();
        let mut out = Vec::new();
        let mut buf = vec![0u8; contract::event::MAX_DATAGRAM + 1];
        while start.elapsed() < total && last.elapsed() < quiet {
            if let Ok(n) = self.events.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let value: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("event is not JSON ({e}): {text}"));
                out.push(value);
                last = Instant::now();
            }
        }
        out
    }

    /// The events that have arrived (waits until the socket is quiet for 300 ms).
    pub fn events(&self) -> Vec<Value> {
        self.events_for(Duration::from_millis(300), Duration::from_secs(10))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The events of `kind` with `action` whose `program` (or `name`) is `subject`.
pub fn find<'a>(events: &'a [Value], action: &str, subject: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["action"] == action && (e["program"] == subject || e["name"] == subject))
        .collect()
}

/// Asserts one `blocked`-style event for `subject` arrived and checks its common fields.
pub fn expect_event<'a>(
    events: &'a [Value],
    action: &str,
    subject: &str,
    api: &str,
    version: &str,
) -> &'a Value {
    let hits = find(events, action, subject);
    let Some(event) = hits.iter().find(|e| e["api"] == api) else {
        panic!("no {action} event for {subject} from {api}; events: {events:#?}");
    };
    assert_eq!(event["policy_version"], version, "{event}");
    assert_eq!(event["container"], "app", "{event}");
    assert!(event["pid"].as_u64().is_some_and(|p| p > 0), "{event}");
    assert!(event["ppid"].as_u64().is_some(), "{event}");
    assert!(
        event["exe"].as_str().is_some_and(|e| e.starts_with('/')),
        "{event}"
    );
    assert!(
        event["rule"].as_str().is_some_and(|r| !r.is_empty()),
        "{event}"
    );
    event
}

/// Compiles a small C program from `source` into `dir` with gcc.
pub fn compile_c(dir: &Path, name: &str, source: &str, static_link: bool) -> Result<PathBuf> {
    let flags: &[&str] = if static_link { &["-static"] } else { &[] };
    compile_c_with(dir, name, source, "gcc", flags)
}

/// Compiles `source` into `dir/name` with `compiler` (gcc, musl-gcc), adding `flags` after
/// the source file (libraries, `-shared -fPIC`, `-pthread`).
pub fn compile_c_with(
    dir: &Path,
    name: &str,
    source: &str,
    compiler: &str,
    flags: &[&str],
) -> Result<PathBuf> {
    let src = dir.join(format!("{name}.c"));
    let out = dir.join(name);
    std::fs::write(&src, source)?;
    let result = Command::new(compiler)
        .arg("-O1")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .args(flags)
        .output()
        .with_context(|| format!("running {compiler}"))?;
    anyhow::ensure!(
        result.status.success(),
        "{compiler} failed for {name}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    Ok(out)
}
