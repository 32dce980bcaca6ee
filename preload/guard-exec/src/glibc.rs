//! Whether the image's glibc can load the shim.
//!
//! A preloaded library whose symbol versions the libc lacks is fatal for every process ("version
//! `GLIBC_2.34' not found"), so guard-exec checks before it preloads.

use std::path::Path;

/// The newest glibc symbol version the shim needs (see docs/preload.md).
pub const REQUIRED: &str = "GLIBC_2.34";

/// Where glibc-based images keep libc.so.6.
const LIBC_PATHS: &[&str] = &[
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/aarch64-linux-gnu/libc.so.6",
    "/usr/lib/aarch64-linux-gnu/libc.so.6",
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/lib/libc.so.6",
    "/usr/lib/libc.so.6",
];

/// `Some(path)` of an image libc that lacks [`REQUIRED`]; `None` when it has it or no glibc
/// is found (then nothing is known to be wrong).
pub fn too_old(root: &Path) -> Option<String> {
    let needle = format!("{REQUIRED}\0");
    for path in LIBC_PATHS {
        let full = root.join(path.trim_start_matches('/'));
        let Ok(bytes) = std::fs::read(&full) else {
            continue;
        };
        let has = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        return if has {
            None
        } else {
            Some(full.display().to_string())
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_a_new_enough_glibc_and_old_ones_are_caught() {
        assert_eq!(too_old(Path::new("/")), None);
        let dir = std::env::temp_dir().join(format!("guard-glibc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib64")).unwrap();
        std::fs::write(
            dir.join("lib64/libc.so.6"),
            b"\x7fELF GLIBC_2.2.5\0GLIBC_2.26\0",
        )
        .unwrap();
        assert!(too_old(&dir).is_some_and(|p| p.ends_with("lib64/libc.so.6")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
