//! `guard-embed serve`: the API gives, for every corpus task definition and every hand-written
//! input, byte for byte what the CLI prints (or its error message as JSON), asked with real
//! curl; limits, the token and the page are checked over real HTTP; the page itself runs in
//! headless Chromium (tests/tests/serve_page.rs).

mod embed_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use embed_support::corpus_files;
use guard_tests::artifacts::{workspace_bin, workspace_root};
use guard_tests::require;
use guard_tests::upstream::free_port;
use serde_json::Value;

const IMAGE: &str = "public.ecr.aws/taskguard/sidecar:0.1.0";

/// A running `guard-embed serve`, stopped on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let child = Command::new(workspace_bin("guard-embed"))
            .args([
                "serve",
                "--listen",
                &addr.to_string(),
                "--sidecar-image",
                IMAGE,
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start guard-embed serve");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "guard-embed serve did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What curl got: status, content type, body.
struct Got {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    headers: String,
}

fn curl(url: &str, body: &Path, extra: &[&str]) -> Got {
    let dir = std::env::temp_dir().join(format!("guard-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let n = free_port();
    let out = dir.join(format!("body-{n}"));
    let head = dir.join(format!("head-{n}"));
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .args(["-H", "Content-Type: application/octet-stream", "-o"])
        .arg(&out)
        .arg("-D")
        .arg(&head)
        .args(["-w", "%{http_code} %{content_type}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl");
    assert!(
        o.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let w = String::from_utf8_lossy(&o.stdout).into_owned();
    let (status, content_type) = w.split_once(' ').unwrap_or((&w, ""));
    let got = Got {
        status: status.parse().unwrap_or(0),
        content_type: content_type.to_string(),
        body: std::fs::read(&out).unwrap_or_default(),
        headers: std::fs::read_to_string(&head).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(head);
    got
}

fn cli(args: &[&str], input: &Path) -> Output {
    Command::new(workspace_bin("guard-embed"))
        .args(args)
        .arg(input)
        .output()
        .expect("guard-embed")
}

/// The CLI's error message without `guard-embed: error: FILE: `.
fn cli_message(out: &Output, file: &Path) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let prefix = format!("guard-embed: error: {}: ", file.display());
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no error line in {stderr:?}"))
        .to_string()
}

fn inputs(test: &str) -> Option<Vec<PathBuf>> {
    let mut files = corpus_files(test)?;
    let hand = workspace_root().join("tests/golden/embed/inputs");
    let mut more: Vec<PathBuf> = std::fs::read_dir(&hand)
        .expect("tests/golden/embed/inputs")
        .map(|e| e.expect("entry").path())
        .collect();
    more.sort();
    files.extend(more);
    Some(files)
}

/// The API and the CLI agree on one input for one set of flags.
fn agree(
    server: &Server,
    route: &str,
    query: &str,
    cli_args: &[&str],
    file: &Path,
) -> Option<Vec<u8>> {
    let got = curl(&server.url(&format!("/v1/{route}{query}")), file, &[]);
    let want = cli(cli_args, file);
    let name = file.display();
    if route == "check" {
        // check exits 1 when a container is unprotected; the report is the body either way.
        if want.status.code() != Some(2) {
            assert_eq!(
                got.status,
                200,
                "{name}: {}",
                String::from_utf8_lossy(&got.body)
            );
            assert_eq!(got.body, want.stdout, "{name}: check report");
            let protected = want.status.success();
            assert!(
                got.headers
                    .contains(&format!("x-guard-protected: {protected}")),
                "{name}: {}",
                got.headers
            );
            return None;
        }
    } else if want.status.success() {
        assert_eq!(
            got.status,
            200,
            "{name} {route}{query}: {}",
            String::from_utf8_lossy(&got.body)
        );
        assert!(
            got.body == want.stdout,
            "{name} {route}{query}: the API's bytes differ from the CLI's"
        );
        let yaml = want.stdout.first() != Some(&b'{') && want.stdout.first() != Some(&b'[');
        let expected = if yaml {
            "application/yaml"
        } else {
            "application/json"
        };
        assert_eq!(got.content_type, expected, "{name}");
        return Some(got.body);
    }
    let message = cli_message(&want, file);
    assert!(
        got.status == 400 || got.status == 422,
        "{name} {route}: status {} for a refused input",
        got.status
    );
    assert_eq!(got.content_type, "application/json", "{name}");
    let err: Value = serde_json::from_slice(&got.body).expect("a JSON error");
    assert_eq!(err["error"], message, "{name} {route}: the CLI's message");
    if let Some(path) = err["path"].as_str() {
        assert!(
            message.starts_with(path),
            "{name}: path {path} is where the message points"
        );
    }
    None
}

#[test]
fn the_api_gives_the_clis_bytes_for_every_input() {
    let test = "the_api_gives_the_clis_bytes_for_every_input";
    if !require::commands(test, &["curl"]) {
        return;
    }
    let Some(files) = inputs(test) else { return };
    let server = Server::start(&[]);
    let flagged = "?fail=open&ptrace&no-resolver&policy-url=https%3A%2F%2Fpolicy.example%2Fp.toml";
    let flagged_cli = [
        "embed",
        "--sidecar-image",
        IMAGE,
        "--fail",
        "open",
        "--ptrace",
        "--no-resolver",
        "--policy-url",
        "https://policy.example/p.toml",
    ];
    let dir = std::env::temp_dir().join(format!("guard-serve-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (mut embedded, mut refused) = (0, 0);
    for file in &files {
        let out = agree(
            &server,
            "embed",
            "",
            &["embed", "--sidecar-image", IMAGE],
            file,
        );
        agree(&server, "embed", flagged, &flagged_cli, file);
        agree(&server, "check", "", &["check"], file);
        agree(&server, "remove", "", &["remove"], file);
        match out {
            Some(bytes) => {
                embedded += 1;
                // The protected task through check and remove, as a pipeline would.
                let protected = dir.join(file.file_name().expect("name"));
                std::fs::write(&protected, bytes).expect("write");
                agree(&server, "check", "", &["check"], &protected);
                agree(&server, "remove", "", &["remove"], &protected);
            }
            None => refused += 1,
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // Both paths ran: documents the CLI protects and documents it refuses with a message.
    assert!(
        embedded > 0 && refused > 0,
        "{embedded} embedded, {refused} refused"
    );
}

#[test]
fn flags_errors_limits_and_the_token() {
    let test = "flags_errors_limits_and_the_token";
    if !require::commands(test, &["curl"]) {
        return;
    }
    let Some(files) = corpus_files(test) else {
        return;
    };
    let file = files
        .iter()
        .find(|f| f.ends_with("docs-fargate-webserver.json"))
        .expect("docs-fargate-webserver.json");
    let dir = std::env::temp_dir().join(format!("guard-serve-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let token = dir.join("token");
    std::fs::write(&token, "s3cret-token\n").expect("token");
    let server = Server::start(&[
        "--token-file",
        token.to_str().expect("path"),
        "--max-body",
        "4000",
        "--request-timeout",
        "1",
    ]);
    let auth = ["-H", "Authorization: Bearer s3cret-token"];

    let no_token = curl(&server.url("/v1/embed"), file, &[]);
    assert_eq!(no_token.status, 401);
    let wrong = curl(
        &server.url("/v1/embed"),
        file,
        &["-H", "Authorization: Bearer s3cret-tokeN"],
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(curl(&server.url("/v1/embed"), file, &auth).status, 200);

    let bad_flag = curl(&server.url("/v1/embed?fail=sometimes"), file, &auth);
    assert_eq!(bad_flag.status, 400);
    let err: Value = serde_json::from_slice(&bad_flag.body).expect("json");
    assert_eq!(err["error"], "--fail sometimes: expected open or closed");
    assert_eq!(err["flag"], "--fail");
    let unknown = curl(&server.url("/v1/remove?ptrace"), file, &auth);
    assert_eq!(unknown.status, 400);
    let cli_err = cli(
        &["embed", "--sidecar-image", IMAGE, "--policy-url", "ftp://x"],
        file,
    );
    let api_err = curl(&server.url("/v1/embed?policy-url=ftp://x"), file, &auth);
    let err: Value = serde_json::from_slice(&api_err.body).expect("json");
    assert_eq!(
        format!(
            "guard-embed: error: {}\n",
            err["error"].as_str().unwrap_or("")
        ),
        String::from_utf8_lossy(&cli_err.stderr),
        "a flag's message is the CLI's"
    );
    let image_config = curl(
        &server.url("/v1/embed?image-config=web%3D%2Fetc%2Fpasswd"),
        file,
        &auth,
    );
    assert_eq!(
        image_config.status, 400,
        "the server reads no file a request names"
    );

    let big = dir.join("big.json");
    std::fs::write(&big, vec![b' '; 5000]).expect("big");
    let too_big = curl(&server.url("/v1/embed"), &big, &auth);
    assert_eq!(too_big.status, 413);

    // A body that never arrives is answered 408 after --request-timeout.
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(
        b"POST /v1/embed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\nContent-Length: 100\r\n\r\n{",
    )
    .expect("write");
    let started = Instant::now();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));

    let not_found = curl(&server.url("/v2/embed"), file, &auth);
    assert_eq!(not_found.status, 404);
    let get = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &server.url("/v1/embed"),
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&get.stdout), "405");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_page_is_one_self_contained_document() {
    let test = "the_page_is_one_self_contained_document";
    if !require::commands(test, &["curl"]) {
        return;
    }
    let server = Server::start(&["--fail", "open"]);
    let page = Command::new("curl")
        .args(["-sS", "-D", "-", &server.url("/")])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&page.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("content-type: text/html"), "{text}");
    assert!(text.contains("Generate protected task"));
    assert!(
        text.contains(&format!("\"sidecar-image\":\"{IMAGE}\"")),
        "defaults are filled in"
    );
    assert!(text.contains("\"fail\":\"open\""));
    for external in ["src=\"http", "href=\"http", "@import", "<link "] {
        assert!(
            !text.contains(external),
            "the page loads nothing else: {external}"
        );
    }
}
