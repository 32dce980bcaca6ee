//! The page of `guard-embed serve` in a real browser: headless Chromium, driven over the
//! DevTools protocol like a person — a corpus task definition pasted, "Generate protected
//! task" clicked — shows exactly what the CLI prints, the diff of what changed, and errors
//! next to the field they name. A screenshot is left in target/test-artifacts/.

mod embed_support;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use embed_support::corpus_files;
use guard_tests::artifacts::workspace_bin;
use guard_tests::cdp::{Browser, artifact_path};
use guard_tests::require;
use guard_tests::upstream::free_port;
use serde_json::Value;

const IMAGE: &str = "public.ecr.aws/taskguard/sidecar:0.1.0";

struct Server(Child, SocketAddr);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server() -> Server {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let child = Command::new(workspace_bin("guard-embed"))
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--sidecar-image",
            IMAGE,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start guard-embed serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "guard-embed serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(child, addr)
}

fn cli(args: &[&str], file: &Path) -> (bool, String, String) {
    let o = Command::new(workspace_bin("guard-embed"))
        .args(args)
        .arg(file)
        .output()
        .expect("guard-embed");
    let prefix = format!("guard-embed: error: {}: ", file.display());
    let stderr = String::from_utf8_lossy(&o.stderr);
    let message = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix(&prefix)
                .or_else(|| l.strip_prefix("guard-embed: error: "))
        })
        .unwrap_or("")
        .to_string();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        message,
    )
}

fn text(v: Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

const SETTLED: &str = "['done', 'error'].includes(document.getElementById('output').dataset.state)";

#[test]
fn the_page_generates_what_the_cli_prints() {
    let test = "the_page_generates_what_the_cli_prints";
    if !require::commands(test, &["chromium"]) {
        return;
    }
    let Some(files) = corpus_files(test) else {
        return;
    };
    let find = |name: &str| {
        files
            .iter()
            .find(|f| f.ends_with(name))
            .unwrap_or_else(|| panic!("{name} in the corpus"))
            .clone()
    };
    let good = find("docs-fargate-webserver.json");
    let refused = find("samples-tomcat-fargate-no-entrypoint.json");
    let server = server();
    let browser = Browser::start().expect("chromium");
    let mut page = browser.page().expect("a page");
    page.call("Page.enable", serde_json::json!({}))
        .expect("Page.enable");
    page.call(
        "Page.navigate",
        serde_json::json!({"url": format!("http://{}/", server.1)}),
    )
    .expect("navigate");
    page.wait_for(
        "document.readyState === 'complete' && !!document.getElementById('generate')",
        Duration::from_secs(10),
    )
    .expect("the page loads");
    assert_eq!(
        text(
            page.eval("document.getElementById('sidecar-image').value")
                .expect("eval")
        ),
        IMAGE,
        "the server's defaults are in the fields"
    );

    // Paste, generate: the right side is the CLI's output, character for character.
    let input = std::fs::read_to_string(&good).expect("corpus file");
    page.paste("input", &input).expect("paste");
    page.click("generate").expect("click");
    page.wait_for(SETTLED, Duration::from_secs(10))
        .expect("a result");
    let (ok, want, _) = cli(&["embed", "--sidecar-image", IMAGE], &good);
    assert!(ok);
    let shown = text(
        page.eval("document.getElementById('output').textContent")
            .expect("eval"),
    );
    assert_eq!(shown, want, "the page shows the CLI's output");

    // What changed: added lines include the sidecar image, nothing of the input is lost.
    page.click("show-diff").expect("click");
    let added = page
        .eval("[...document.querySelectorAll('#diff .add')].map(d => d.textContent).join('\\n')")
        .expect("eval");
    assert!(text(added).contains(IMAGE), "the diff shows the sidecar");
    let kept = page
        .eval("document.querySelectorAll('#diff .same').length")
        .expect("eval");
    assert!(
        kept.as_u64().unwrap_or(0) > 10,
        "the input's lines are shown as kept, not all replaced: {kept}"
    );
    let visible = page
        .eval("!document.getElementById('diff').hidden && document.getElementById('output').hidden")
        .expect("eval");
    assert_eq!(visible, true);
    let png = page.screenshot().expect("screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let shot = artifact_path("serve-page.png");
    std::fs::write(&shot, &png).expect("write the screenshot");
    page.click("show-output").expect("click");

    // A bad flag: the CLI's message, next to that field.
    page.eval("document.getElementById('policy-url').value = 'ftp://policy'")
        .expect("eval");
    page.click("generate").expect("click");
    page.wait_for(SETTLED, Duration::from_secs(10))
        .expect("a result");
    let (ok, _, message) = cli(
        &[
            "embed",
            "--sidecar-image",
            IMAGE,
            "--policy-url",
            "ftp://policy",
        ],
        &good,
    );
    assert!(!ok);
    let beside = page
        .eval(
            "document.querySelector('.field[data-flag=\"--policy-url\"] .field-error').textContent",
        )
        .expect("eval");
    assert_eq!(text(beside), message);
    page.eval("document.getElementById('policy-url').value = ''")
        .expect("eval");

    // A document the CLI refuses: its message above the task definition, at the path it names.
    let input = std::fs::read_to_string(&refused).expect("corpus file");
    page.eval(&format!(
        "document.getElementById('input').value = {}",
        serde_json::to_string(&input).expect("json")
    ))
    .expect("eval");
    page.click("generate").expect("click");
    page.wait_for(SETTLED, Duration::from_secs(10))
        .expect("a result");
    let (ok, _, message) = cli(&["embed", "--sidecar-image", IMAGE], &refused);
    assert!(!ok);
    let shown = page
        .eval("document.getElementById('input-error').textContent")
        .expect("eval");
    assert_eq!(text(shown), message);
    assert!(message.starts_with("containerDefinitions[0].entryPoint:"));
    let marked = page
        .eval("document.getElementById('input-pane').classList.contains('invalid')")
        .expect("eval");
    assert_eq!(marked, true);
    let png = page.screenshot().expect("screenshot");
    std::fs::write(artifact_path("serve-page-error.png"), png).expect("write");
    eprintln!("screenshots: {}", shot.display());
}
