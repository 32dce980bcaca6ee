//! The guard-embed command line as a CI pipeline uses it: files and pipes, `-o` written only
//! on success, exit codes (0 ok, 1 unprotected for `check`, 2 bad input), one-line errors,
//! warnings on stderr, upgrades in place.

mod embed_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use embed_support::{corpus_dir, golden_dir};
use guard_tests::artifacts::workspace_bin;

const IMAGE: &str = "public.ecr.aws/taskguard/sidecar:0.1.0";

fn guard_embed(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(workspace_bin("guard-embed"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("guard-embed runs");
    if let Some(mut pipe) = child.stdin.take() {
        // guard-embed may exit (on a flag error) without reading stdin.
        let _ = pipe.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("guard-embed finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch directory for one test, emptied first.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("guard-embed-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write");
    path.display().to_string()
}

const WEB: &str = r#"{
  "family": "web",
  "requiresCompatibilities": ["FARGATE"],
  "networkMode": "awsvpc",
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {"name": "web", "image": "nginx", "entryPoint": ["/docker-entrypoint.sh"], "command": ["nginx", "-g", "daemon off;"]}
  ]
}
"#;

fn assert_one_line_error(out: &Output, mentions: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code 2: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("guard-embed: error: "), "{stderr}");
    for m in mentions {
        assert!(stderr.contains(m), "mentions {m:?}: {stderr}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn output_file_is_written_only_on_success_and_left_alone_on_error() {
    let dir = scratch("output");
    let good = write(&dir, "good.json", WEB);
    let bad = write(
        &dir,
        "bad.json",
        r#"{"family": "x", "containerDefinitions": [{"name": "a", "image": "i"}]}"#,
    );
    let out_path = write(&dir, "out.json", "previous content\n");

    let failed = guard_embed(
        &["embed", &bad, "-o", &out_path, "--sidecar-image", IMAGE],
        "",
    );
    assert_one_line_error(
        &failed,
        &[
            "bad.json",
            "containerDefinitions[0].entryPoint",
            "--image-config a=FILE",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&out_path).expect("out"),
        "previous content\n"
    );

    let fresh = dir.join("fresh.json");
    let failed = guard_embed(
        &[
            "embed",
            &bad,
            "-o",
            &fresh.display().to_string(),
            "--sidecar-image",
            IMAGE,
        ],
        "",
    );
    assert_eq!(failed.status.code(), Some(2));
    assert!(!fresh.exists(), "no output file on error");

    let ok = guard_embed(
        &["embed", &good, "-o", &out_path, "--sidecar-image", IMAGE],
        "",
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(ok.stdout.is_empty(), "with -o nothing goes to stdout");
    let piped = guard_embed(&["embed", "--sidecar-image", IMAGE], WEB);
    assert_eq!(
        std::fs::read_to_string(&out_path).expect("out"),
        text(&piped.stdout)
    );

    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".guard-embed-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stdin_is_read_when_input_is_dash_or_missing() {
    let dash = guard_embed(&["embed", "-", "--sidecar-image", IMAGE], WEB);
    let none = guard_embed(&["embed", "--sidecar-image", IMAGE], WEB);
    assert!(dash.status.success() && none.status.success());
    assert_eq!(dash.stdout, none.stdout);
    assert!(text(&dash.stdout).contains("/guard/bin/guard-exec"));
    let broken = guard_embed(&["embed", "--sidecar-image", IMAGE], "{\"family\": ");
    assert_one_line_error(&broken, &["<stdin>", "line 1", "invalid JSON"]);
}

#[test]
fn check_is_a_ci_gate() {
    let before = guard_embed(&["check"], WEB);
    assert_eq!(before.status.code(), Some(1), "unprotected: exit 1");
    let report = text(&before.stdout);
    assert!(
        report.contains("web") && report.contains("NOT PROTECTED"),
        "{report}"
    );
    assert!(report.contains("no TaskGuard sidecar"), "{report}");

    let embedded = text(&guard_embed(&["embed", "--sidecar-image", IMAGE], WEB).stdout);
    let after = guard_embed(&["check"], &embedded);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after.stdout));
    let report = text(&after.stdout);
    assert!(
        report.contains("protected") && report.contains("sidecar"),
        "{report}"
    );

    // Hand-editing one part away is caught and named.
    let edited = embedded.replace("\"/guard/bin/guard-exec\",\n        \"--\",\n", "");
    assert_ne!(edited, embedded);
    let out = guard_embed(&["check"], &edited);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("entryPoint does not start with guard-exec"));

    // Containers the user chose not to protect do not fail the gate.
    let excluded = guard_embed(&["check", "--exclude", "web"], WEB);
    assert_eq!(
        excluded.status.code(),
        Some(0),
        "{}",
        text(&excluded.stdout)
    );
    assert!(text(&excluded.stdout).contains("skipped (--exclude)"));

    let bad = guard_embed(&["check"], "[1, 2]");
    assert_one_line_error(&bad, &["<stdin>", "[0]", "expected a container definition"]);
}

#[test]
fn a_second_embed_with_a_new_image_upgrades_the_sidecar_in_place() {
    let v1 = text(&guard_embed(&["embed", "--sidecar-image", "taskguard:1"], WEB).stdout);
    let out = guard_embed(
        &[
            "embed",
            "--sidecar-image",
            "taskguard:2",
            "--policy-url",
            "https://example.com/p.toml",
        ],
        &v1,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v2 = text(&out.stdout);
    let expected = v1
        .replace("\"taskguard:1\"", "\"taskguard:2\"")
        .replace("\"/guard/policy.toml\"", "\"https://example.com/p.toml\"");
    assert_eq!(v2, expected, "only the image and the policy source change");
}

#[test]
fn a_sidecar_under_another_name_is_not_added_twice() {
    let named = text(
        &guard_embed(
            &["embed", "--sidecar-image", IMAGE, "--sidecar-name", "guard"],
            WEB,
        )
        .stdout,
    );
    assert!(named.contains("\"sourceContainer\": \"guard\""));
    let again = guard_embed(&["embed", "--sidecar-image", IMAGE], &named);
    assert_one_line_error(
        &again,
        &["containerDefinitions[1].name", "--sidecar-name \"guard\""],
    );
    let removed = guard_embed(&["remove"], &named);
    assert!(removed.status.success());
    assert_eq!(text(&removed.stdout), embed_support::canonical(WEB));
}

#[test]
fn flags_are_checked_before_anything_is_read() {
    let out = guard_embed(
        &[
            "embed",
            "--sidecar-image",
            IMAGE,
            "--policy-url",
            "ftp://x/p.toml",
        ],
        WEB,
    );
    assert_one_line_error(
        &out,
        &["--policy-url ftp://x/p.toml", "http:// or https://"],
    );
    let out = guard_embed(
        &[
            "embed",
            "--sidecar-image",
            IMAGE,
            "--policy-file",
            "policy.toml",
        ],
        WEB,
    );
    assert_one_line_error(&out, &["--policy-file", "absolute path"]);
    let out = guard_embed(
        &["embed", "--sidecar-image", IMAGE, "--image-config", "web"],
        WEB,
    );
    assert_one_line_error(&out, &["--image-config web", "NAME=FILE"]);
    let out = guard_embed(
        &[
            "embed",
            "--sidecar-image",
            IMAGE,
            "--image-config",
            "web=/nonexistent/x.json",
        ],
        WEB,
    );
    assert_one_line_error(&out, &["/nonexistent/x.json", "cannot read"]);
    let out = guard_embed(
        &["embed", "--sidecar-image", IMAGE, "--exclude", "nosuch"],
        WEB,
    );
    assert_one_line_error(&out, &["--exclude nosuch", "no container"]);
    let missing = guard_embed(
        &["embed", "/nonexistent/task.json", "--sidecar-image", IMAGE],
        "",
    );
    assert_one_line_error(&missing, &["/nonexistent/task.json", "cannot read"]);
    let out = guard_embed(
        &[
            "embed",
            "--sidecar-image",
            IMAGE,
            "--sidecar-name",
            "task guard",
        ],
        WEB,
    );
    assert_one_line_error(&out, &["--sidecar-name task guard", "ECS container name"]);
    let usage = guard_embed(&["embed"], WEB);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "a missing --sidecar-image is a usage error"
    );
}

#[test]
fn invalid_yaml_is_one_line_with_its_position() {
    let out = guard_embed(
        &["embed", "--sidecar-image", IMAGE],
        "Resources:\n  T:\n    Type: [unclosed\n",
    );
    assert_one_line_error(&out, &["<stdin>", "invalid YAML", "line "]);
}

#[test]
fn warnings_name_what_does_not_fit() {
    let tight = r#"{"family": "tight", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
      "cpu": "0.25 vcpu", "memory": "0.5 GB",
      "containerDefinitions": [{"name": "a", "image": "i", "entryPoint": ["/a"], "cpu": 256, "memory": 500,
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "r", "awslogs-stream-prefix": "a"}}}]}"#;
    let out = guard_embed(&["embed", "--sidecar-image", IMAGE], tight);
    assert!(out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("memory: ") && stderr.contains("532 MiB, more than the task's 512 MiB"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cpu: the containers reserve 256 of the task's 256 CPU units"),
        "{stderr}"
    );
    assert!(
        stderr.contains("executionRoleArn: missing, but awslogs is used"),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with("guard-embed: warning: <stdin>: ")),
        "{stderr}"
    );

    // The FireLens sample's "1 vcpu" / "2 gb" leave room: no warning about size.
    let corpus = corpus_dir().join("firelens-newrelic-fargate.json");
    if corpus.exists() {
        let nginx = golden_dir().join("image-configs/nginx.json");
        let out = guard_embed(
            &[
                "embed",
                &corpus.display().to_string(),
                "--sidecar-image",
                IMAGE,
                "--image-config",
                &format!("webserver={}", nginx.display()),
            ],
            "",
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
}

#[test]
fn remove_writes_the_original_back_to_a_file() {
    let dir = scratch("remove");
    let input = write(&dir, "task.json", WEB);
    let embedded = dir.join("embedded.json").display().to_string();
    let restored = dir.join("restored.json").display().to_string();
    assert!(
        guard_embed(
            &[
                "embed",
                &input,
                "-o",
                &embedded,
                "--sidecar-image",
                IMAGE,
                "--ptrace",
                "--fail",
                "open"
            ],
            ""
        )
        .status
        .success()
    );
    assert!(
        guard_embed(&["remove", &embedded, "-o", &restored], "")
            .status
            .success()
    );
    assert_eq!(
        std::fs::read_to_string(&restored).expect("restored"),
        embed_support::canonical(WEB)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn environment(task: &serde_json::Value, container: usize) -> Vec<(String, String)> {
    task["containerDefinitions"][container]["environment"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                    (field("name"), field("value"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn guard_resolver_is_set_keeps_the_users_own_and_no_resolver_leaves_it_out() {
    let out = guard_embed(&["embed", "--sidecar-image", IMAGE], WEB);
    assert!(out.status.success(), "{out:?}");
    let task: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let env = environment(&task, 0);
    assert!(
        env.contains(&("GUARD_RESOLVER".into(), "127.0.0.1".into())),
        "{env:?}"
    );
    // The entryPoint prefix stays the fixed one: the resolver travels in the environment.
    let entry = &task["containerDefinitions"][0]["entryPoint"];
    assert_eq!(
        (entry[0].as_str(), entry[1].as_str()),
        (Some("/guard/bin/guard-exec"), Some("--")),
        "{entry}"
    );

    let out = guard_embed(&["embed", "--sidecar-image", IMAGE, "--no-resolver"], WEB);
    assert!(out.status.success(), "{out:?}");
    let task: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let env = environment(&task, 0);
    assert!(env.iter().any(|(n, _)| n == "GUARD_POLICY"), "{env:?}");
    assert!(!env.iter().any(|(n, _)| n == "GUARD_RESOLVER"), "{env:?}");

    // A container's own GUARD_RESOLVER wins, with a warning, and survives remove.
    let own = WEB.replace(
        r#""entryPoint""#,
        r#""environment": [{"name": "GUARD_RESOLVER", "value": "10.0.0.53"}], "entryPoint""#,
    );
    let out = guard_embed(&["embed", "--sidecar-image", IMAGE], &own);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stderr).contains("keeping the container's own GUARD_RESOLVER"),
        "{out:?}"
    );
    let task: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let env = environment(&task, 0);
    assert_eq!(
        env.iter().filter(|(n, _)| n == "GUARD_RESOLVER").count(),
        1,
        "{env:?}"
    );
    assert!(
        env.contains(&("GUARD_RESOLVER".into(), "10.0.0.53".into())),
        "{env:?}"
    );
    let restored = guard_embed(&["remove"], &text(&out.stdout));
    assert!(restored.status.success(), "{restored:?}");
    assert_eq!(text(&restored.stdout), embed_support::canonical(&own));
}
