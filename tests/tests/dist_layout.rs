//! The sidecar image and the sidecar volume layout agree.
//!
//! The image cannot be built here (no Docker engine), so this checks what a build would copy:
//! the `Dockerfile`'s COPY and VOLUME lines against the layout `cargo xtask dist` builds and
//! against `guard_contract`'s paths, and the modes that let non-root app containers use the
//! volume.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use guard_contract as contract;
use guard_tests::artifacts;

/// One Dockerfile instruction: keyword (upper case) and its arguments, continuation lines
/// joined.
struct Instruction {
    keyword: String,
    args: String,
}

fn dockerfile() -> Vec<Instruction> {
    let path = artifacts::workspace_root().join("Dockerfile");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, args) = pending
            .split_once(char::is_whitespace)
            .unwrap_or((&pending, ""));
        instructions.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        });
        pending.clear();
    }
    assert!(
        pending.is_empty(),
        "Dockerfile ends inside a continued line"
    );
    instructions
}

fn exec_form(args: &str, what: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|e| panic!("Dockerfile {what} must be in exec (JSON array) form: {e}"))
}

#[test]
fn dockerfile_copies_exactly_the_dist_layout_into_the_volume() {
    let instructions = dockerfile();
    let copies: Vec<&Instruction> = instructions
        .iter()
        .filter(|i| i.keyword == "COPY")
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "expected one COPY of the whole layout, found {}",
        copies.len()
    );
    let words: Vec<&str> = copies[0].args.split_whitespace().collect();
    assert!(
        words.iter().all(|w| !w.starts_with("--")),
        "COPY must not rewrite modes or owners (the layout's own modes are the contract): {}",
        copies[0].args
    );
    let [source, dest] = words[..] else {
        panic!(
            "COPY must have one source and one destination: {}",
            copies[0].args
        );
    };
    // The default layout `cargo xtask dist` writes, relative to the build context (the
    // workspace root).
    assert_eq!(source.trim_end_matches('/'), "dist/guard", "COPY source");
    assert_eq!(
        dest.trim_end_matches('/'),
        contract::VOLUME,
        "COPY destination"
    );

    let volumes: Vec<(usize, &Instruction)> = instructions
        .iter()
        .enumerate()
        .filter(|(_, i)| i.keyword == "VOLUME")
        .collect();
    assert_eq!(volumes.len(), 1, "expected one VOLUME");
    let (volume_at, volume) = volumes[0];
    let declared: Vec<String> = if volume.args.starts_with('[') {
        exec_form(&volume.args, "VOLUME")
    } else {
        volume.args.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(declared, [contract::VOLUME], "VOLUME");
    let copy_at = instructions
        .iter()
        .position(|i| i.keyword == "COPY")
        .unwrap_or(usize::MAX);
    assert!(
        copy_at < volume_at,
        "VOLUME must come after the COPY that fills it"
    );
}

/// The build context is the dist layout only: `.dockerignore` excludes everything else (the
/// multi-gigabyte target/) and must not exclude what the COPY needs.
#[test]
fn dockerignore_keeps_only_the_dist_layout() {
    let path = artifacts::workspace_root().join(".dockerignore");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let rules: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // Docker applies the last matching rule: "*" first, then the exception.
    assert_eq!(rules, ["*", "!dist/guard"], "{}", path.display());
}

#[test]
fn dockerfile_entrypoint_and_healthcheck_use_the_contract_paths() {
    let instructions = dockerfile();
    let entry = instructions
        .iter()
        .find(|i| i.keyword == "ENTRYPOINT")
        .expect("Dockerfile has no ENTRYPOINT");
    let entry = exec_form(&entry.args, "ENTRYPOINT");
    assert_eq!(
        entry.first().map(String::as_str),
        Some(contract::BIN_DNS_GUARD)
    );
    assert_eq!(entry.get(1).map(String::as_str), Some("serve"));
    let run_dir = entry
        .iter()
        .position(|a| a == "--run-dir")
        .and_then(|i| entry.get(i + 1));
    assert_eq!(
        run_dir.map(String::as_str),
        Some(contract::RUN_DIR),
        "ENTRYPOINT --run-dir"
    );

    let health = instructions
        .iter()
        .find(|i| i.keyword == "HEALTHCHECK")
        .expect("Dockerfile has no HEALTHCHECK");
    let cmd = health
        .args
        .split_once("CMD")
        .map(|(_, c)| c.trim())
        .expect("HEALTHCHECK CMD");
    assert_eq!(
        exec_form(cmd, "HEALTHCHECK CMD"),
        [contract::BIN_DNS_GUARD, "health"]
    );

    let from = instructions
        .iter()
        .find(|i| i.keyword == "FROM")
        .expect("Dockerfile has no FROM");
    // dns-guard is linked against glibc: the base must have it (distroless/static does not).
    assert!(
        from.args.contains("debian12") || from.args.contains("debian:12"),
        "the base image must be a Debian 12 (glibc 2.36) image, got {}",
        from.args
    );
}

/// Every entry of the layout, relative to its root, directories with a trailing `/`.
fn entries(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let read = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in read {
        let entry = entry.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if path.is_dir() {
            out.insert(format!("{relative}/"));
            entries(root, &path, out);
        } else {
            out.insert(relative);
        }
    }
}

#[test]
fn dist_layout_is_the_contract_layout_with_non_root_modes() {
    let root = artifacts::dist_dir();
    // Fails with the command to run when the layout has not been built.
    artifacts::dns_guard();
    let mut found = BTreeSet::new();
    entries(&root, &root, &mut found);
    let bin = contract::VOLUME_BIN_DIR;
    let lib = contract::VOLUME_LIB_DIR;
    let run = contract::VOLUME_RUN_DIR;
    let expected: BTreeSet<String> = [
        format!("{bin}/"),
        format!("{bin}/{}", contract::DNS_GUARD_FILE),
        format!("{bin}/{}", contract::GUARD_EXEC_FILE),
        format!("{lib}/"),
        format!("{lib}/{}", contract::PRELOAD_FILE),
        format!("{run}/"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        found,
        expected,
        "{} must hold exactly the sidecar layout (the Dockerfile copies all of it); \
         rebuild it with `cargo xtask dist` after removing stray files",
        root.display()
    );

    // The absolute contract paths are the volume plus the relative layout.
    for (absolute, relative) in [
        (
            contract::BIN_DNS_GUARD,
            format!("{bin}/{}", contract::DNS_GUARD_FILE),
        ),
        (
            contract::BIN_GUARD_EXEC,
            format!("{bin}/{}", contract::GUARD_EXEC_FILE),
        ),
        (
            contract::LIB_PRELOAD,
            format!("{lib}/{}", contract::PRELOAD_FILE),
        ),
        (contract::RUN_DIR, run.to_string()),
    ] {
        assert_eq!(absolute, format!("{}/{relative}", contract::VOLUME));
    }

    for entry in &expected {
        let path = root.join(entry.trim_end_matches('/'));
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mode = meta.permissions().mode() & 0o7777;
        let want = if entry.ends_with(".so") { 0o644 } else { 0o755 };
        assert_eq!(
            mode,
            want,
            "{} has mode {mode:o}, expected {want:o}",
            path.display()
        );
        // Ownership does not survive `COPY` anyway (it becomes root), but setuid/setgid bits
        // would, and the shim treats setuid programs as unprotected.
        assert_eq!(
            meta.mode() & 0o6000,
            0,
            "{} must not be setuid/setgid",
            path.display()
        );
    }
}

/// Highest `GLIBC_x.y` symbol version a binary needs, from `objdump -T`.
fn max_glibc(binary: &Path) -> Option<(u32, u32)> {
    let output = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .unwrap_or_else(|e| panic!("running objdump -T {}: {e}", binary.display()));
    assert!(
        output.status.success(),
        "objdump -T {} failed",
        binary.display()
    );
    String::from_utf8_lossy(&output.stdout)
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
            Some((major, minor))
        })
        .max()
}

#[test]
fn dns_guard_runs_on_the_image_glibc() {
    if !guard_tests::require::commands("dns_guard_runs_on_the_image_glibc", &["objdump"]) {
        return;
    }
    // distroless/cc-debian12 ships Debian 12's glibc 2.36.
    let needed = max_glibc(&artifacts::dns_guard());
    assert!(
        needed.is_none_or(|v| v <= (2, 36)),
        "dns-guard needs glibc {needed:?}, newer than the image's 2.36: build it on Debian 12"
    );
}

/// The image's default policy (CMD) is the one guard-embed's sidecar reads by default, so a
/// derived image that adds `/guard/policy.toml` works both with `docker run` and in a task.
#[test]
fn dockerfile_default_policy_is_guard_embeds_default() {
    let instructions = dockerfile();
    let cmd = instructions
        .iter()
        .find(|i| i.keyword == "CMD")
        .expect("Dockerfile has no CMD");
    let cmd = exec_form(&cmd.args, "CMD");
    let image_policy = cmd
        .iter()
        .position(|a| a == "--policy")
        .and_then(|i| cmd.get(i + 1));

    let work = std::env::temp_dir().join(format!("taskguard-dist-layout-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let out = work.join("embedded.json");
    let status = Command::new(artifacts::workspace_bin("guard-embed"))
        .arg("embed")
        .arg(artifacts::workspace_root().join("examples/task-definition.json"))
        .arg("-o")
        .arg(&out)
        .args(["--sidecar-image", "taskguard:test"])
        .status()
        .expect("running guard-embed");
    assert!(status.success(), "guard-embed embed failed on the example");
    let task: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("embed output")).expect("JSON");
    let _ = std::fs::remove_dir_all(&work);
    let sidecar = task["containerDefinitions"]
        .as_array()
        .and_then(|defs| defs.iter().find(|d| d["name"] == contract::SIDECAR_NAME))
        .expect("no sidecar in guard-embed's output");
    let entry: Vec<String> =
        serde_json::from_value(sidecar["entryPoint"].clone()).expect("sidecar entryPoint");
    let embed_policy = entry
        .iter()
        .position(|a| a == "--policy")
        .and_then(|i| entry.get(i + 1));
    assert_eq!(
        image_policy, embed_policy,
        "Dockerfile CMD policy vs guard-embed's default"
    );
}
