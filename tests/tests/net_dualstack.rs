//! Dual-stack clients under `[net] default = "deny"`: a name with an A and an AAAA record,
//! answered by a real upstream (Debian's dnsmasq) through the sidecar, is reached over both
//! families by clients that try both (python over every `getaddrinfo` result, curl `-4`, `-6`
//! and its own happy eyeballs); both answers are in the sidecar's answers ledger (a fresh
//! process that never looked the name up connects to both literals); an IPv6 literal no
//! allowed name answered is refused and reported. A name only `/etc/hosts` knows allows both
//! its families in the process that looked it up (its own records), and in no other.
//!
//! Everything runs as in a task: dnsmasq (the VPC resolver, `127.0.0.2`) and dns-guard
//! (`127.0.0.1:53`, the run dir with `policy.json`, `events.sock`, `answers.bin`) inside the
//! task's network namespace; the hosts outside it, behind a veth pair with IPv4 and IPv6.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use guard_tests::netns::NetNs;
use guard_tests::netns_outside::Outside;
use guard_tests::upstream::TempDir;
use guard_tests::vpc::{spawn_in, wait_tcp};
use guard_tests::{artifacts, require};
use serde_json::Value;

const NAME: &str = "dual.test";
const V4: &str = "203.0.113.10";
const V6: &str = "2001:db8:113::10";
/// Served outside too, but no name answers it.
const V6_UNANSWERED: &str = "2001:db8:113::99";
/// A name only the task's /etc/hosts knows (the sidecar never sees it), with both families:
/// only the looking-up process's own records can allow its addresses.
const HOSTS_NAME: &str = "local.test";
const HOSTS_V4: &str = "203.0.113.20";
const HOSTS_V6: &str = "2001:db8:113::20";

const POLICY: &str = "[dns]\ndefault = \"deny\"\nallow = [\"dual.test\", \"local.test\", \"localhost\"]\n\
                      [process]\ndefault = \"allow\"\n[net]\ndefault = \"deny\"\n";

/// One HTTP/1.0 responder per address on port 80, logging the address each request came in
/// on and its path.
const SERVER: &str = r#"
import socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
def serve(s):
    while True:
        c, _ = s.accept()
        try:
            c.settimeout(2)
            req = c.recv(4096).decode(errors="replace")
            path = req.split(" ")[1] if " " in req else "-"
            log.write("%s %s\n" % (c.getsockname()[0], path))
            body = ("hello from %s\n" % c.getsockname()[0]).encode()
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        except Exception:
            pass
        c.close()
for addr in sys.argv[2:]:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 80))
    s.listen(64)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"#;

/// Connects to every address `getaddrinfo` gives for the name (both families, as a
/// happy-eyeballs client races them), then `create_connection`, printing one line each.
const CLIENT: &str = r#"
import errno, socket, sys
name = sys.argv[1]
def get(family, addr, path):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(addr)
        s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
seen = set()
for family, _, _, _, addr in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM):
    fam = "v6" if family == socket.AF_INET6 else "v4"
    if fam in seen:
        continue
    seen.add(fam)
    print(fam, addr[0], get(family, addr, "/py-" + fam))
c = socket.create_connection((name, 80), timeout=5)
c.close()
print("create_connection ok")
"#;

/// Connects to literal addresses (no lookup in this process), printing `ADDRESS RESULT`.
const LITERALS: &str = r#"
import errno, socket, sys
for addr in sys.argv[1:]:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((addr, 80))
        s.sendall(b"GET /literal HTTP/1.0\r\n\r\n")
        r = "ok"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    print(addr, r)
"#;

struct DualStack {
    task: NetNs,
    _outside: Outside,
    children: Vec<Child>,
    dir: TempDir,
    etc: PathBuf,
}

impl Drop for DualStack {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

impl DualStack {
    fn start(test: &str) -> Option<DualStack> {
        if !require::root(test)
            || !require::commands(test, &["ip", "sysctl", "dnsmasq", "dig", "python3", "curl"])
        {
            return None;
        }
        let dir = TempDir::new("net-dualstack");
        let task = NetNs::create("tgdual").expect("task namespace");
        let hosts = [V4, V6, V6_UNANSWERED, HOSTS_V4, HOSTS_V6].map(String::from);
        let outside = Outside::link(&task, "tgdual", &hosts).expect("outside namespace");
        // `ip netns exec` mounts these over /etc: the task asks the sidecar.
        let etc = PathBuf::from("/etc/netns").join(task.name());
        std::fs::create_dir_all(&etc).expect("/etc/netns/NAME");
        std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n").expect("resolv.conf");
        std::fs::write(
            etc.join("hosts"),
            format!(
                "127.0.0.1 localhost\n::1 localhost\n{HOSTS_V4} {HOSTS_NAME}\n{HOSTS_V6} {HOSTS_NAME}\n"
            ),
        )
        .expect("hosts");
        let mut net = DualStack {
            task,
            _outside: outside,
            children: Vec::new(),
            dir,
            etc,
        };
        let log = net.dir.join("outside.log");
        File::create(&log).expect("outside log");
        let mut server = Command::new("python3");
        server
            .args(["-c", SERVER])
            .arg(&log)
            .args(hosts.iter())
            .stdout(Stdio::null())
            .stderr(File::create(net.dir.join("outside.stderr")).expect("stderr"));
        net.children
            .push(spawn_in(&net._outside.netns, &mut server).expect("outside server"));
        for host in &hosts {
            let addr = if host.contains(':') {
                format!("[{host}]:80")
            } else {
                format!("{host}:80")
            };
            wait_tcp(
                &net.task,
                addr.parse().expect("address"),
                Duration::from_secs(10),
            )
            .expect("outside host reachable from the task over the veth pair");
        }
        let conf = net.dir.join("dnsmasq.conf");
        std::fs::write(
            &conf,
            format!(
                "listen-address=127.0.0.2\nbind-interfaces\nport=53\nno-resolv\nno-hosts\n\
                 no-poll\nlocal=/test/\nuser=root\nlog-queries\nlog-facility={}\n\
                 host-record={NAME},{V4},{V6}\n",
                net.dir.join("dnsmasq.log").display()
            ),
        )
        .expect("dnsmasq.conf");
        let mut dnsmasq = Command::new("dnsmasq");
        dnsmasq
            .arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", conf.display()))
            .arg(format!(
                "--pid-file={}",
                net.dir.join("dnsmasq.pid").display()
            ))
            .stdout(Stdio::null())
            .stderr(File::create(net.dir.join("dnsmasq.stderr")).expect("stderr"));
        net.children
            .push(spawn_in(&net.task, &mut dnsmasq).expect("dnsmasq"));
        let policy = net.dir.join("policy.toml");
        std::fs::write(&policy, POLICY).expect("policy");
        let run = net.dir.join("run");
        std::fs::create_dir_all(&run).expect("run dir");
        let mut sidecar = Command::new(artifacts::dns_guard());
        sidecar
            .arg("serve")
            .arg("--policy")
            .arg(&policy)
            .args(["--listen", "127.0.0.1:53", "--admin", "127.0.0.1:9901"])
            .args(["--upstream", "127.0.0.2:53", "--run-dir"])
            .arg(&run)
            .stdout(File::create(net.dir.join("audit.log")).expect("audit log"))
            .stderr(File::create(net.dir.join("dns-guard.stderr")).expect("stderr"));
        net.children
            .push(spawn_in(&net.task, &mut sidecar).expect("dns-guard"));
        // Ready when dnsmasq answers the name (asked directly: the sidecar's ledger stays
        // empty), the sidecar answers, and it has published the policy.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let dig = |server: &str, name: &str| {
                net.plain(&["dig", server, "+short", "+time=1", "+tries=1", name])
            };
            let upstream = dig("@127.0.0.2", NAME);
            let sidecar = dig("@127.0.0.1", "localhost");
            let published = run.join("policy.json").exists() && run.join("events.sock").exists();
            if !upstream.stdout.trim_ascii().is_empty() && sidecar.status.success() && published {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the sidecar did not start: {}",
                std::fs::read_to_string(net.dir.join("dns-guard.stderr")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(net)
    }

    fn plain(&self, argv: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", self.task.name()])
            .args(argv)
            .output()
            .expect("ip netns exec")
    }

    /// `argv` in the task under the shim, as a container of the task runs it.
    fn guarded(&self, argv: &[&str]) -> Output {
        let run = self.dir.join("run");
        Command::new("ip")
            .args(["netns", "exec", self.task.name()])
            .args(argv)
            .env("LD_PRELOAD", artifacts::preload_lib())
            .env("GUARD_POLICY", run.join("policy.json"))
            .env("GUARD_EVENTS", run.join("events.sock"))
            .env("GUARD_CONTAINER", "app")
            .output()
            .expect("ip netns exec")
    }

    /// `(address, path)` of every request the outside hosts received (`-`: a connection
    /// without a request, as the readiness probe and `create_connection` make).
    fn requests(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.join("outside.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, p)| *p != "-")
            .map(|(a, p)| (a.to_string(), p.to_string()))
            .collect()
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }

    fn wait_net_event(&self, address: &str, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self
                .events()
                .into_iter()
                .find(|e| e["kind"] == "net" && e["address"] == address)
            {
                return Some(e);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn dual_stack_clients_reach_both_answers_and_an_unanswered_v6_literal_is_refused() {
    let test = "dual_stack_clients_reach_both_answers_and_an_unanswered_v6_literal_is_refused";
    let Some(net) = DualStack::start(test) else {
        return;
    };
    // Before any lookup of the name, neither answer is allowed: the rest proves something.
    let out = net.guarded(&["python3", "-c", LITERALS, V4, V6]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{V4} ECONNREFUSED\n{V6} ECONNREFUSED\n"),
        "before the name resolved: {}",
        text(&out)
    );

    // Python over every getaddrinfo result: both families, both connect.
    let out = net.guarded(&["python3", "-c", CLIENT, NAME]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        format!("v4 {V4} ok"),
        format!("v6 {V6} ok"),
        "create_connection ok".into(),
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "python: expected {line:?}: {}",
            text(&out)
        );
    }

    // curl per family and with its own happy eyeballs (both families resolved, one raced).
    for (flag, path) in [("-4", "/curl-v4"), ("-6", "/curl-v6"), ("-s", "/curl-any")] {
        let url = format!("http://{NAME}{path}");
        let out = net.guarded(&["curl", "-fsS", "-m", "5", flag, "-o", "/dev/null", &url]);
        assert!(out.status.success(), "curl {flag} {url}: {}", text(&out));
    }

    // A fresh process that never looked the name up: both answers are in the sidecar's
    // ledger; an IPv6 literal no allowed name answered is refused.
    let out = net.guarded(&["python3", "-c", LITERALS, V4, V6, V6_UNANSWERED]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{V4} ok\n{V6} ok\n{V6_UNANSWERED} ECONNREFUSED\n"),
        "from the ledger: {}",
        text(&out)
    );

    let requests = net.requests();
    let got = |addr: &str, path: &str| requests.iter().any(|(a, p)| a == addr && p == path);
    for (addr, path) in [
        (V4, "/py-v4"),
        (V6, "/py-v6"),
        (V4, "/curl-v4"),
        (V6, "/curl-v6"),
        (V4, "/literal"),
        (V6, "/literal"),
    ] {
        assert!(
            got(addr, path),
            "outside: no {path} on {addr}: {requests:?}"
        );
    }
    assert!(
        got(V4, "/curl-any") || got(V6, "/curl-any"),
        "outside: curl's happy-eyeballs request never arrived: {requests:?}"
    );
    assert!(
        !requests.iter().any(|(a, _)| a == V6_UNANSWERED),
        "outside: the refused literal got a request: {requests:?}"
    );

    // The process's own lookup (from /etc/hosts, never seen by the sidecar) allows both of
    // its families in that process, and only there.
    let out = net.guarded(&["python3", "-c", CLIENT, HOSTS_NAME]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [format!("v4 {HOSTS_V4} ok"), format!("v6 {HOSTS_V6} ok")] {
        assert!(
            stdout.lines().any(|l| l == line),
            "python, own lookup: expected {line:?}: {}",
            text(&out)
        );
    }
    let out = net.guarded(&["python3", "-c", LITERALS, HOSTS_V4, HOSTS_V6]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{HOSTS_V4} ECONNREFUSED\n{HOSTS_V6} ECONNREFUSED\n"),
        "another process's lookup is not in the ledger: {}",
        text(&out)
    );

    let refused = net
        .wait_net_event(V6_UNANSWERED, Duration::from_secs(3))
        .unwrap_or_else(|| panic!("no net event for {V6_UNANSWERED}: {:#?}", net.events()));
    assert_eq!(refused["action"], "blocked", "{refused}");
    assert_eq!(refused["rule"], "net.default", "{refused}");
    assert_eq!(refused["protocol"], "tcp", "{refused}");
    assert_eq!(refused["port"], 80, "{refused}");
    assert_eq!(refused["container"], "app", "{refused}");
    // The refusals before the lookup were reported (once each); nothing after it was.
    let events = net.events();
    let net_events: Vec<&Value> = events.iter().filter(|e| e["kind"] == "net").collect();
    let count = |addr: &str| net_events.iter().filter(|e| e["address"] == addr).count();
    assert_eq!(count(V4), 1, "{net_events:#?}");
    assert_eq!(count(V6), 1, "{net_events:#?}");
    assert_eq!(count(V6_UNANSWERED), 1, "{net_events:#?}");
}
