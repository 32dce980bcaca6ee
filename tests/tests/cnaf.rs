//! CNAF: dns-guard as a reverse proxy in front of a real web app (python3's http.server),
//! running Debian's OWASP CRS through guard-waf, driven with real curl. A clean request
//! reaches the app; attacks are answered by the proxy with the block page and one `waf`
//! audit line naming the protection; a ban refuses the client's next clean request; a
//! policy edit from `prevent` to `alert` applies without a restart.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use guard_tests::require;
use guard_tests::upstream::{GuardOptions, GuardProcess, TempDir, free_port, write_policy};
use serde_json::Value;

const CRS: &str = "/usr/share/modsecurity-crs";

/// The app: python3's http.server on loopback, serving a directory with one page.
struct App {
    child: Child,
    port: u16,
}

impl App {
    fn start(dir: &TempDir) -> App {
        let root = dir.join("www");
        std::fs::create_dir_all(&root).expect("www");
        std::fs::write(root.join("index.html"), "hello from the app\n").expect("index");
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 http.server");
        let app = App { child, port };
        wait_http(port);
        app
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_http(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

fn policy(listen: u16, app: u16, action: &str) -> String {
    format!(
        r#"
[dns]
default = "allow"

[waf]
listen = "127.0.0.1:{listen}"
app = "127.0.0.1:{app}"
crs = "{CRS}"
default_action = "{action}"
"#
    )
}

/// curl's status code and body for a request through the proxy.
fn curl(port: u16, args: &[&str], path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}"])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn waf_events(guard: &GuardProcess) -> Vec<Value> {
    guard
        .audit_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "waf")
        .collect()
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ready(test: &str) -> bool {
    require::commands(test, &["curl", "python3"])
        && (Path::new(CRS).join("rules").is_dir()
            || require::skip(test, "Debian's modsecurity-crs is not installed"))
}

struct Proxy {
    _dir: TempDir,
    _app: App,
    guard: GuardProcess,
    port: u16,
    policy: std::path::PathBuf,
    app_port: u16,
}

fn start(action: &str) -> Proxy {
    let dir = TempDir::new("cnaf");
    let app = App::start(&dir);
    let port = free_port();
    let policy = write_policy(&dir, "policy.toml", &policy(port, app.port, action));
    // No DNS traffic in this test: the upstream is never asked.
    let upstream = ([127, 0, 0, 1], free_port()).into();
    let guard = GuardProcess::start(GuardOptions::new(policy.display().to_string(), upstream));
    wait_http(port);
    let app_port = app.port;
    Proxy {
        _dir: dir,
        _app: app,
        guard,
        port,
        policy,
        app_port,
    }
}

#[test]
fn clean_requests_reach_the_app_and_attacks_are_blocked_with_their_protection() {
    if !ready("cnaf attacks") {
        return;
    }
    let p = start("prevent");
    let (code, body) = curl(p.port, &["-H", "Host: shop.example"], "/?q=shoes&page=2");
    assert_eq!(code, 200, "a clean request passes: {body}");
    assert!(body.contains("hello from the app"), "{body}");

    let attacks: &[(&str, &[&str], &str)] = &[
        ("sqli", &[], "/?id=1%27%20OR%20%271%27=%271"),
        ("xss", &[], "/?q=%3Cscript%3Ealert(1)%3C/script%3E"),
        ("cmdi", &[], "/?host=127.0.0.1%3Buname%20-a"),
        ("code", &[], "/?x=phpinfo()"),
        ("lfi", &[], "/?file=../../../etc/passwd"),
        (
            "scanners",
            &["-A", "sqlmap/1.7.2#stable (https://sqlmap.org)"],
            "/",
        ),
        ("cmdi", &["-A", "() { :; }; echo; echo vulnerable"], "/"),
    ];
    for (protection, args, path) in attacks {
        let mut a: Vec<&str> = vec!["-H", "Host: shop.example"];
        a.extend_from_slice(args);
        let before = waf_events(&p.guard).len();
        let (code, body) = curl(p.port, &a, path);
        assert_eq!(code, 403, "{protection} {path} {args:?} is blocked: {body}");
        let event = wait_for("the waf audit line", || {
            waf_events(&p.guard).get(before).cloned()
        });
        assert_eq!(event["action"], "prevent", "{event}");
        assert_eq!(event["status"], 403, "{event}");
        let protections: Vec<&str> = event["protections"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert!(
            protections.contains(protection),
            "{path} {args:?}: expected {protection} in {protections:?}"
        );
        let id = event["event_id"].as_str().unwrap_or_default();
        assert!(
            !id.is_empty() && body.contains(id),
            "event id in the block page: {body}"
        );
    }
}

#[test]
fn a_ban_refuses_the_next_clean_request_and_alert_forwards_after_a_reload() {
    if !ready("cnaf ban") {
        return;
    }
    let p = start("ban");
    let host = ["-H", "Host: shop.example"];
    assert_eq!(curl(p.port, &host, "/?q=ok").0, 200);
    assert_eq!(curl(p.port, &host, "/?id=1%27%20OR%20%271%27=%271").0, 403);
    let (code, _) = curl(p.port, &host, "/?q=ok");
    assert_eq!(code, 403, "a banned client's clean request is refused");

    // prevent -> alert without a restart: the attack now reaches the app and is reported.
    let text = policy(p.port, p.app_port, "alert");
    let tmp = p.policy.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write policy");
    std::fs::rename(&tmp, &p.policy).expect("replace policy");
    wait_for("the new policy", || {
        let loaded = p
            .guard
            .audit_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["kind"] == "policy" && v["action"] == "loaded")
            .count();
        (loaded >= 2).then_some(())
    });
    // The old client's ban still stands (it lasts from its last attack): the edit is observed
    // from a second loopback address.
    let (code, body) = curl(
        p.port,
        &["-H", "Host: shop.example", "--interface", "127.0.0.2"],
        "/?q=%3Cscript%3Ealert(1)%3C/script%3E",
    );
    assert_eq!(code, 200, "{body}");
    let last = waf_events(&p.guard).pop().expect("an alert line");
    assert_eq!(last["action"], "alert", "{last}");
    assert_eq!(last["client"], "127.0.0.2", "{last}");
}
