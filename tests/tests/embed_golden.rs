//! guard-embed over every task definition of the corpus (and a few hand-written inputs for
//! what the corpus lacks): each case either embeds, with the output checked in under
//! tests/golden/embed/, or fails with its checked-in one-line message. Every output must be
//! accepted by register-task-definition, must not change when embedded again, and must give
//! the input back (in canonical form) when the guard is removed.
//!
//! `UPDATE_GOLDEN=1 cargo test -p guard-tests --test embed_golden` rewrites the golden files;
//! review the diff before committing it.

mod embed_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use embed_support::{canonical, corpus_dir, corpus_files, golden_dir, register_problems};
use guard_tests::artifacts::workspace_bin;

const SIDECAR_IMAGE: &str = "public.ecr.aws/taskguard/sidecar:0.1.0";

#[derive(Clone, Copy)]
enum Dir {
    Corpus,
    Inputs,
}

struct Case {
    name: &'static str,
    dir: Dir,
    file: &'static str,
    /// Extra flags; `@x.json` stands for tests/golden/embed/image-configs/x.json.
    args: &'static [&'static str],
    embeds: bool,
}

const fn case(
    name: &'static str,
    dir: Dir,
    file: &'static str,
    args: &'static [&'static str],
    embeds: bool,
) -> Case {
    Case {
        name,
        dir,
        file,
        args,
        embeds,
    }
}

use Dir::{Corpus, Inputs};

const CASES: &[Case] = &[
    // Describe output: no entryPoint anywhere, so it needs the images' configurations.
    case(
        "describe-output",
        Corpus,
        "awscli-describe-task-definition-output.json",
        &[],
        false,
    ),
    case(
        "describe-output-image-configs",
        Corpus,
        "awscli-describe-task-definition-output.json",
        &[
            "--image-config",
            "wordpress=@wordpress.json",
            "--image-config",
            "mysql=@mysql.json",
        ],
        true,
    ),
    // CloudFormation JSON with `Image: {"Ref": ...}` and only a Command.
    case(
        "cfn-kilt-ref-image",
        Corpus,
        "cfn-kilt-ref-image.json",
        &[],
        false,
    ),
    case(
        "cfn-kilt-ref-image-oci-config",
        Corpus,
        "cfn-kilt-ref-image.json",
        &["--image-config", "app=@alpine-oci.json"],
        true,
    ),
    // App Mesh: the Envoy proxy left alone, the app wrapped from an OCI image config.
    case(
        "appmesh",
        Corpus,
        "docs-appmesh-container-dependency.json",
        &[],
        false,
    ),
    case(
        "appmesh-exclude-envoy",
        Corpus,
        "docs-appmesh-container-dependency.json",
        &["--exclude", "envoy", "--image-config", "app=@app-oci.json"],
        true,
    ),
    // One-string shell command behind `sh -c`: passed through verbatim.
    case(
        "fargate-webserver",
        Corpus,
        "docs-fargate-webserver.json",
        &[],
        true,
    ),
    case("secrets-ec2", Corpus, "docs-secrets-ec2.json", &[], true),
    // Falco's own sidecar pattern: only the workload protected; SYS_PTRACE already there.
    case(
        "falco",
        Corpus,
        "falco-mountedbinaries-fargate.json",
        &[],
        false,
    ),
    case(
        "falco-include-workload",
        Corpus,
        "falco-mountedbinaries-fargate.json",
        &["--include", "mountedbinaries", "--ptrace"],
        true,
    ),
    // FireLens: the router skipped, the app's awsfirelens logging copied to the sidecar.
    case(
        "firelens-newrelic",
        Corpus,
        "firelens-newrelic-fargate.json",
        &[],
        false,
    ),
    case(
        "firelens-newrelic-image-config",
        Corpus,
        "firelens-newrelic-fargate.json",
        &["--image-config", "webserver=@nginx.json", "--fail", "open"],
        true,
    ),
    case(
        "consul-host-network",
        Corpus,
        "samples-consul-server-host-network.json",
        &[],
        true,
    ),
    case(
        "consul-policy-url",
        Corpus,
        "samples-consul-server-host-network.json",
        &[
            "--policy-url",
            "https://policies.example.com/consul.toml",
            "--sidecar-name",
            "guard",
        ],
        true,
    ),
    // No entryPoint, no command: the image's CMD must be kept.
    case(
        "tomcat-no-entrypoint",
        Corpus,
        "samples-tomcat-fargate-no-entrypoint.json",
        &[],
        false,
    ),
    case(
        "tomcat-image-config",
        Corpus,
        "samples-tomcat-fargate-no-entrypoint.json",
        &["--image-config", "tomcat-webserver=@tomcat.json"],
        true,
    ),
    case(
        "tomcat-two-images",
        Corpus,
        "samples-tomcat-fargate-no-entrypoint.json",
        &["--image-config", "tomcat-webserver=@two-images.json"],
        false,
    ),
    // Terraform container_definitions with ${...} placeholders, also in the container name.
    case(
        "terraform-array",
        Corpus,
        "terraform-container-definitions-array.json",
        &[],
        false,
    ),
    case(
        "terraform-array-image-config",
        Corpus,
        "terraform-container-definitions-array.json",
        &["--image-config", "${container_name}=@ghost.json"],
        true,
    ),
    case(
        "webserver-unknown-include",
        Corpus,
        "docs-fargate-webserver.json",
        &["--include", "web"],
        false,
    ),
    // Hand-written inputs for what the corpus lacks.
    case("cfn-yaml", Inputs, "cfn-template.yaml", &[], true),
    case(
        "edge-cases",
        Inputs,
        "register-edge-cases.json",
        &["--ptrace", "--fail", "closed"],
        true,
    ),
    case("windows", Inputs, "windows.json", &[], false),
    case(
        "duplicate-names",
        Inputs,
        "duplicate-names.json",
        &[],
        false,
    ),
    case(
        "sidecar-name-taken",
        Inputs,
        "sidecar-name-taken.json",
        &[],
        false,
    ),
    case(
        "terraform-unrendered",
        Inputs,
        "terraform-unrendered.json",
        &[],
        false,
    ),
    case("unknown-shape", Inputs, "unknown-shape.json", &[], false),
    case(
        "entrypoint-not-array",
        Inputs,
        "entrypoint-not-array.json",
        &[],
        false,
    ),
    // ECS allows ten containers; the sidecar would be the eleventh.
    case("ten-containers", Inputs, "ten-containers.json", &[], false),
    case(
        "ten-containers-one-excluded",
        Inputs,
        "ten-containers.json",
        &["--exclude", "c9"],
        false,
    ),
    // A mount where the sidecar's volume goes would shadow it.
    case("guard-mount", Inputs, "guard-mount.json", &[], false),
];

fn dir(d: Dir) -> PathBuf {
    match d {
        Dir::Corpus => corpus_dir(),
        Dir::Inputs => golden_dir().join("inputs"),
    }
}

fn args(case: &Case) -> Vec<String> {
    let configs = golden_dir().join("image-configs");
    case.args
        .iter()
        .map(|a| match a.split_once("=@") {
            Some((name, file)) => format!("{name}={}", configs.join(file).display()),
            None => a.to_string(),
        })
        .collect()
}

fn run(cwd: &Path, args: &[String], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut command = Command::new(workspace_bin("guard-embed"));
    command.current_dir(cwd).args(args);
    command.stdin(std::process::Stdio::piped());
    command.stdout(std::process::Stdio::piped());
    command.stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("guard-embed runs");
    if let Some(mut pipe) = child.stdin.take() {
        // guard-embed may exit (on a flag error) without reading stdin.
        let _ = pipe.write_all(stdin.unwrap_or("").as_bytes());
    }
    child.wait_with_output().expect("guard-embed finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn output_name(case: &Case) -> String {
    let ext = if case.file.ends_with(".yaml") {
        "yaml"
    } else {
        "json"
    };
    format!("{}.out.{ext}", case.name)
}

#[test]
fn every_corpus_file_has_a_case_that_embeds_and_one_that_shows_its_error_if_any() {
    let Some(files) = corpus_files("every_corpus_file_has_a_case") else {
        return;
    };
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            CASES
                .iter()
                .any(|c| matches!(c.dir, Dir::Corpus) && c.file == name && c.embeds),
            "{name}: no golden case embeds it"
        );
    }
}

#[test]
fn golden_outputs_and_messages() {
    if corpus_files("golden_outputs_and_messages").is_none() {
        return;
    }
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for case in CASES {
        let mut full = vec![
            "embed".to_string(),
            case.file.to_string(),
            "--sidecar-image".into(),
            SIDECAR_IMAGE.into(),
        ];
        full.extend(args(case));
        let out = run(&dir(case.dir), &full, None);
        let stdout = text(&out.stdout);
        // Image config files are passed by absolute path; the golden files say <golden>.
        let stderr = format!(
            "exit: {}\n{}",
            out.status.code().unwrap_or(-1),
            text(&out.stderr)
        )
        .replace(&golden_dir().display().to_string(), "<golden>");
        let out_path = golden_dir().join(output_name(case));
        let err_path = golden_dir().join(format!("{}.stderr", case.name));
        assert_eq!(
            out.status.success(),
            case.embeds,
            "{}: exit status {:?}, stderr:\n{stderr}",
            case.name,
            out.status
        );
        if update {
            std::fs::write(&err_path, &stderr).expect("write golden");
            if case.embeds {
                std::fs::write(&out_path, &stdout).expect("write golden");
            } else {
                let _ = std::fs::remove_file(&out_path);
            }
            continue;
        }
        let expected_err = std::fs::read_to_string(&err_path).unwrap_or_default();
        if expected_err != stderr {
            failures.push(format!(
                "{}: stderr\n--- expected\n{expected_err}--- got\n{stderr}",
                case.name
            ));
        }
        if case.embeds {
            let expected = std::fs::read_to_string(&out_path).unwrap_or_default();
            if expected != stdout {
                failures.push(format!(
                    "{}: output differs from {}",
                    case.name,
                    out_path.display()
                ));
            }
        } else {
            assert!(stdout.is_empty(), "{}: wrote output on error", case.name);
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 regenerates):\n{}",
        failures.join("\n")
    );
}

#[test]
fn errors_are_one_line_naming_the_file_with_exit_code_2() {
    if corpus_files("errors_are_one_line").is_none() {
        return;
    }
    for case in CASES.iter().filter(|c| !c.embeds) {
        let mut full = vec![
            "embed".to_string(),
            case.file.to_string(),
            "--sidecar-image".into(),
            SIDECAR_IMAGE.into(),
        ];
        full.extend(args(case));
        let out = run(&dir(case.dir), &full, None);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", case.name);
        assert_eq!(
            stderr.lines().count(),
            1,
            "{}: one line, got {stderr}",
            case.name
        );
        assert!(out.stdout.is_empty(), "{}", case.name);
        let names_a_file = stderr.starts_with(&format!("guard-embed: error: {}: ", case.file))
            || stderr.contains(".json: ");
        assert!(names_a_file, "{}: names the file: {stderr}", case.name);
    }
}

#[test]
fn outputs_are_registrable_idempotent_and_removable() {
    if corpus_files("outputs_are_registrable").is_none() {
        return;
    }
    for case in CASES.iter().filter(|c| c.embeds) {
        let cwd = dir(case.dir);
        let input = std::fs::read_to_string(cwd.join(case.file)).expect("input");
        let mut full = vec![
            "embed".to_string(),
            case.file.to_string(),
            "--sidecar-image".into(),
            SIDECAR_IMAGE.into(),
        ];
        full.extend(args(case));
        let out = run(&cwd, &full, None);
        let embedded = text(&out.stdout);
        assert!(out.status.success(), "{}", case.name);

        // Some public samples are not registrable as they are (App Mesh's has no memory for
        // an EC2-compatible task); embedding must add no problem of its own.
        let before = register_problems(&canonical(&input));
        let problems: Vec<String> = register_problems(&embedded)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert!(
            problems.is_empty(),
            "{}: register-task-definition would refuse: {problems:?}",
            case.name
        );

        let mut again = vec![
            "embed".to_string(),
            "-".into(),
            "--sidecar-image".into(),
            SIDECAR_IMAGE.into(),
        ];
        again.extend(args(case));
        let twice = run(&cwd, &again, Some(&embedded));
        assert!(twice.status.success(), "{}", case.name);
        assert_eq!(
            text(&twice.stdout),
            embedded,
            "{}: embed(embed(x)) != embed(x)",
            case.name
        );

        let removed = run(&cwd, &["remove".into(), "-".into()], Some(&embedded));
        assert!(removed.status.success(), "{}", case.name);
        assert_eq!(
            text(&removed.stdout),
            canonical(&input),
            "{}: remove(embed(x)) != x",
            case.name
        );

        let check = run(&cwd, &["check".into(), "-".into()], Some(&embedded));
        let report = text(&check.stdout);
        let extra: Vec<String> = ["--include", "--exclude"]
            .iter()
            .filter_map(|flag| {
                let at = case.args.iter().position(|a| a == flag)?;
                Some(format!("{flag}={}", case.args[at + 1]))
            })
            .collect();
        if extra.is_empty() {
            assert!(
                check.status.success(),
                "{}: check after embed:\n{report}",
                case.name
            );
        }
        assert!(
            !report.contains("NOT PROTECTED") || !extra.is_empty(),
            "{}:\n{report}",
            case.name
        );
    }
}
