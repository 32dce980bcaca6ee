//! `--run-dir`: what the preload shims read, published atomically.
//!
//! `policy.bin` first, then `policy.json` (guard_contract's order), each written to a
//! temporary file in the same directory and renamed over the old one, so a reader sees either
//! the old or the new file, never a partial one.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use guard_contract::{POLICY_BIN_FILE, POLICY_JSON_FILE};
use guard_policy::CompiledPolicy;

#[derive(Debug, thiserror::Error)]
#[error("cannot publish {path}: {error}")]
pub struct PublishError {
    pub path: String,
    pub error: std::io::Error,
}

pub fn publish(dir: &Path, compiled: &CompiledPolicy) -> Result<(), PublishError> {
    write_atomic(dir, POLICY_BIN_FILE, compiled.blob())?;
    write_atomic(dir, POLICY_JSON_FILE, compiled.to_json().as_bytes())
}

fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PublishError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let err = |error| PublishError {
        path: path.display().to_string(),
        error,
    };
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        // Readable by the app containers' (non-root) users.
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}
