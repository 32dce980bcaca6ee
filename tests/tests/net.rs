//! Outgoing connections under `[net]`: real programs connect to a host outside the task (a
//! second network namespace behind a veth pair, as the VPC is outside a Fargate task) by an
//! allowed name, and are refused when they go to the same address without it.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use guard_tests::netns::NetNs;
use guard_tests::require;
use guard_tests::shim::{Guard, compile_c_with};
use guard_tests::upstream::{Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone};
use serde_json::Value;

const APP_IP: &str = "10.99.0.1";
const OUTSIDE_IP: &str = "10.99.0.2";
const PORT: u16 = 8080;

/// The task's namespace and the outside one, a veth pair between them, an HTTP-ish server
/// on OUTSIDE_IP:PORT, and `outside.test` in the task's /etc/hosts (`ip netns exec` mounts
/// /etc/netns/NAME/hosts over /etc/hosts).
struct Task {
    app: NetNs,
    _outside: NetNs,
    _server: Child,
    etc: PathBuf,
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

const SERVER: &str = r#"
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(256)
def serve(c):
    try:
        c.settimeout(2); c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n")
    except Exception:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

impl Task {
    fn new() -> Task {
        let app = NetNs::create("tgnet-app").expect("app namespace");
        let outside = NetNs::create("tgnet-out").expect("outside namespace");
        ip(&[
            "-n",
            app.name(),
            "link",
            "add",
            "veth-task",
            "type",
            "veth",
            "peer",
            "name",
            "veth-vpc",
            "netns",
            outside.name(),
        ]);
        for (ns, dev, addr) in [
            (app.name(), "veth-task", APP_IP),
            (outside.name(), "veth-vpc", OUTSIDE_IP),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        let etc = PathBuf::from("/etc/netns").join(app.name());
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("hosts"),
            format!("127.0.0.1 localhost\n{OUTSIDE_IP} outside.test other.test\n"),
        )
        .unwrap();
        let server = Command::new("ip")
            .args(["netns", "exec", outside.name(), "python3", "-c", SERVER])
            .args([OUTSIDE_IP, &PORT.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the outside server");
        let task = Task {
            app,
            _outside: outside,
            _server: server,
            etc,
        };
        // Ready when it accepts (probed from inside the task, without the shim).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let probe = task.run_plain(&["python3", "-c", &connect_py(OUTSIDE_IP)]);
            if probe.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "outside server not up: {probe:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        task
    }

    fn run_plain(&self, argv: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", self.app.name()])
            .args(argv)
            .output()
            .expect("ip netns exec")
    }

    /// `argv` inside the task with the shim and the environment in `env`.
    fn run(&self, env: &[(String, String)], argv: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", self.app.name()])
            .args(argv)
            .envs(env.iter().cloned())
            .output()
            .expect("ip netns exec")
    }
}

/// Python that connects to HOST:PORT and exits 0, or prints the errno name and exits 1.
fn connect_py(host: &str) -> String {
    format!(
        "import socket, errno, sys\ns = socket.socket()\ns.settimeout(3)\ntry:\n    s.connect(({host:?}, {PORT}))\nexcept OSError as e:\n    print(errno.errorcode.get(e.errno, e.errno)); sys.exit(1)\n"
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn precondition(test: &str) -> bool {
    require::root(test)
        && require::commands(
            test,
            &["ip", "python3", "curl", "wget", "perl", "gcc", "nc", "node"],
        )
}

const POLICY: &str = r#"
[dns]
default = "deny"
allow = ["outside.test"]
[net]
default = "deny"
"#;

/// Connects to argv[1]:argv[2] blocking and non-blocking, and resolves argv[3] first when
/// given; prints one line per attempt: `blocking 0|ERRNO`, `nonblocking 0|EINPROGRESS|ERRNO`.
const CONNECT_C: &str = r#"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc > 3) {
        struct addrinfo *res = 0, hints = {0};
        hints.ai_family = AF_INET; hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(argv[3], 0, &hints, &res) != 0) { printf("resolve failed\n"); return 2; }
        freeaddrinfo(res);
    }
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET; sa.sin_port = htons(atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &sa.sin_addr);
    for (int i = 0; i < 3; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        printf("blocking %s\n", rc == 0 ? "0" : strerror(errno));
        close(fd);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd p = { fd, POLLOUT, 0 };
        poll(&p, 1, 3000);
        int err = 0; socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        printf("nonblocking %s\n", err == 0 ? "0" : strerror(err));
    } else {
        printf("nonblocking %s\n", rc == 0 ? "0" : strerror(errno));
    }
    return 0;
}
"#;

fn net_events<'a>(events: &'a [Value], address: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "net" && e["address"] == address)
        .collect()
}

#[test]
fn an_allowed_name_connects_and_the_same_address_without_it_is_refused() {
    let test = "an_allowed_name_connects_and_the_same_address_without_it_is_refused";
    if !precondition(test) {
        return;
    }
    let task = Task::new();
    let guard = Guard::new(POLICY).unwrap();
    let env = guard.env();
    let by_name = format!("http://outside.test:{PORT}/");
    let by_ip = format!("http://{OUTSIDE_IP}:{PORT}/");

    // curl and wget: the name resolves (its answer recorded by the process), the connect
    // to its address goes ahead.
    let out = task.run(&env, &["curl", "-sS", "-m", "5", &by_name]);
    assert!(
        out.status.success() && text(&out).contains("hello"),
        "{out:?}"
    );
    let out = task.run(
        &env,
        &["wget", "-q", "-O", "-", "-T", "5", "-t", "1", &by_name],
    );
    assert!(
        out.status.success() && text(&out).contains("hello"),
        "{out:?}"
    );
    // The same address, no name: refused at once, as by a REJECT rule.
    let out = task.run(&env, &["curl", "-sS", "-m", "5", &by_ip]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "curl: couldn't connect: {out:?}"
    );
    let out = task.run(
        &env,
        &["wget", "-q", "-O", "-", "-T", "5", "-t", "1", &by_ip],
    );
    assert!(!out.status.success(), "{out:?}");

    // python socket + urllib, perl, node, nc.
    let py = format!(
        "import urllib.request\nprint(urllib.request.urlopen({by_name:?}, timeout=5).read().decode())"
    );
    let out = task.run(&env, &["python3", "-c", &py]);
    assert!(text(&out).contains("hello"), "{out:?}");
    let out = task.run(&env, &["python3", "-c", &connect_py(OUTSIDE_IP)]);
    assert_eq!(text(&out).trim(), "ECONNREFUSED", "{out:?}");
    let perl = |host: &str| {
        format!(
            "use IO::Socket::INET; my $s = IO::Socket::INET->new(PeerAddr => '{host}', PeerPort => {PORT}, Timeout => 5); if ($s) {{ print \"connected\\n\" }} else {{ print \"$!\\n\"; exit 1 }}"
        )
    };
    let out = task.run(&env, &["perl", "-e", &perl("outside.test")]);
    assert!(text(&out).contains("connected"), "{out:?}");
    let out = task.run(&env, &["perl", "-e", &perl(OUTSIDE_IP)]);
    assert!(text(&out).contains("Connection refused"), "{out:?}");
    let node = |host: &str| {
        format!(
            "const s = require('net').connect({{host: '{host}', port: {PORT}}}, () => {{ console.log('connected'); s.destroy(); }}); s.on('error', e => {{ console.log(e.code); process.exit(1); }});"
        )
    };
    let out = task.run(&env, &["node", "-e", &node("outside.test")]);
    assert!(text(&out).contains("connected"), "{out:?}");
    let out = task.run(&env, &["node", "-e", &node(OUTSIDE_IP)]);
    assert!(text(&out).contains("ECONNREFUSED"), "{out:?}");
    let out = task.run(
        &env,
        &["nc", "-z", "-w", "3", "outside.test", &PORT.to_string()],
    );
    assert!(out.status.success(), "{out:?}");
    let out = task.run(
        &env,
        &["nc", "-z", "-w", "3", OUTSIDE_IP, &PORT.to_string()],
    );
    assert!(!out.status.success(), "{out:?}");

    // A name the policy denies does not resolve, so nothing reaches its address either.
    let out = task.run(
        &env,
        &[
            "curl",
            "-sS",
            "-m",
            "5",
            &format!("http://other.test:{PORT}/"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(6),
        "curl: couldn't resolve: {out:?}"
    );

    // C, blocking and non-blocking: refused (ECONNREFUSED, at once) without the name;
    // connected after resolving it.
    let dir = TempDir::new("net-c");
    let prog = compile_c_with(dir.path(), "connect", CONNECT_C, "gcc", &[]).unwrap();
    let prog = prog.to_str().unwrap();
    let started = Instant::now();
    let out = task.run(&env, &[prog, OUTSIDE_IP, &PORT.to_string()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "blocking Connection refused\n".repeat(3) + "nonblocking Connection refused\n",
        "{out:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    let out = task.run(&env, &[prog, OUTSIDE_IP, &PORT.to_string(), "outside.test"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "blocking 0\n".repeat(3) + "nonblocking 0\n",
        "{out:?}"
    );

    // UDP to a hard-coded resolver: EPERM, and no datagram leaves.
    let udp = format!(
        "import socket, errno\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n    s.sendto(b'q', ({OUTSIDE_IP:?}, 53)); print('sent')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n"
    );
    let out = task.run(&env, &["python3", "-c", &udp]);
    assert_eq!(text(&out).trim(), "EPERM", "{out:?}");

    // Reported once per process and destination, with who and what.
    let events = guard.events();
    let refused = net_events(&events, OUTSIDE_IP);
    let c_events: Vec<_> = refused
        .iter()
        .filter(|e| e["exe"].as_str().is_some_and(|x| x.ends_with("/connect")))
        .collect();
    assert_eq!(
        c_events.len(),
        1,
        "one report for 4 refused connects: {c_events:?}"
    );
    let ev = c_events[0];
    assert_eq!(ev["action"], "blocked");
    assert_eq!(ev["port"], PORT);
    assert_eq!(ev["protocol"], "tcp");
    assert_eq!(ev["api"], "connect");
    assert_eq!(ev["rule"], "net.default");
    assert_eq!(ev["container"], "app");
    assert_eq!(ev["policy_version"], guard.version());
    assert_eq!(ev["argv"][1], OUTSIDE_IP);
    assert!(ev["pid"].as_u64().is_some());
    let udp_ev = refused
        .iter()
        .find(|e| e["port"] == 53)
        .expect("the UDP send is reported");
    assert_eq!(udp_ev["protocol"], "udp");
    assert_eq!(udp_ev["api"], "sendto");
    // DNS events carry the program's argv too.
    let dns = events
        .iter()
        .find(|e| e["kind"] == "dns" && e["name"] == "other.test")
        .expect("the denied lookup is reported");
    assert_eq!(dns["argv"][0], "curl");
}

#[test]
fn a_policy_reload_changes_decisions_in_a_running_process() {
    let test = "a_policy_reload_changes_decisions_in_a_running_process";
    if !precondition(test) {
        return;
    }
    let task = Task::new();
    let guard = Guard::new(POLICY).unwrap();
    let script = format!(
        "import socket, time, sys\nfor i in range(100):\n    s = socket.socket(); s.settimeout(3)\n    try:\n        s.connect(({OUTSIDE_IP:?}, {PORT})); print('connected', flush=True); sys.exit(0)\n    except OSError as e:\n        print('refused', flush=True)\n    s.close(); time.sleep(0.1)\nsys.exit(1)\n"
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", task.app.name(), "python3", "-c", &script])
        .envs(guard.env())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    guard
        .set_policy(&format!("{POLICY}allow = [\"10.99.0.0/24\"]\n"))
        .unwrap();
    let status = child.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{out}");
    assert!(out.starts_with("refused\n"), "{out}");
    assert!(out.ends_with("connected\n"), "{out}");
}

/// 32 threads connect at once: half to the allowed address, half to a denied one.
const THREADS_C: &str = r#"
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static pthread_barrier_t go;
static int results[32];
static void *run(void *arg) {
    long i = (long)arg;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET; sa.sin_port = htons(8080);
    inet_pton(AF_INET, i % 2 ? "10.99.0.2" : "10.99.0.9", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    pthread_barrier_wait(&go);
    results[i] = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno;
    close(fd);
    return 0;
}
int main(void) {
    pthread_t t[32];
    pthread_barrier_init(&go, 0, 32);
    for (long i = 0; i < 32; i++) pthread_create(&t[i], 0, run, (void *)i);
    for (int i = 0; i < 32; i++) pthread_join(t[i], 0);
    int ok = 0, refused = 0;
    for (int i = 0; i < 32; i++) {
        if (i % 2 && results[i] == 0) ok++;
        if (!(i % 2) && results[i] == ECONNREFUSED) refused++;
    }
    printf("%d %d\n", ok, refused);
    return 0;
}
"#;

#[test]
fn thirty_two_threads_connect_at_once() {
    let test = "thirty_two_threads_connect_at_once";
    if !precondition(test) {
        return;
    }
    let task = Task::new();
    let guard = Guard::new(&format!("{POLICY}allow = [\"{OUTSIDE_IP}:{PORT}\"]\n")).unwrap();
    let dir = TempDir::new("net-threads");
    let prog = compile_c_with(dir.path(), "threads", THREADS_C, "gcc", &["-pthread"]).unwrap();
    let out = task.run(&guard.env(), &[prog.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "16 16\n", "{out:?}");
    let events = guard.events();
    assert_eq!(net_events(&events, "10.99.0.9").len(), 1, "{events:?}");
    assert!(net_events(&events, OUTSIDE_IP).is_empty(), "{events:?}");
}

/// A sidecar, its upstream, and the shim environment pointed at its run directory.
struct Sidecar {
    guard: GuardProcess,
    _dnsmasq: Dnsmasq,
    run: TempDir,
    _policy_dir: TempDir,
}

impl Sidecar {
    fn start(zone: Zone, policy: &str, extra: &[&str]) -> Sidecar {
        let dnsmasq = Dnsmasq::start(&zone);
        let policy_dir = TempDir::new("net-policy");
        let file = policy_dir.join("policy.toml");
        std::fs::write(&file, policy).unwrap();
        let run = TempDir::new("net-run");
        let mut opts = GuardOptions::new(file.display().to_string(), dnsmasq.addr);
        opts.run_dir = Some(run.path().to_path_buf());
        for a in extra {
            opts = opts.arg(a);
        }
        let guard = GuardProcess::start(opts);
        Sidecar {
            guard,
            _dnsmasq: dnsmasq,
            run,
            _policy_dir: policy_dir,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "LD_PRELOAD".into(),
                guard_tests::artifacts::preload_lib().display().to_string(),
            ),
            (
                "GUARD_POLICY".into(),
                self.run.join("policy.json").display().to_string(),
            ),
            (
                "GUARD_EVENTS".into(),
                self.run.join("events.sock").display().to_string(),
            ),
            ("GUARD_CONTAINER".into(), "app".into()),
        ]
    }

    fn dig(&self, names: &[&str]) -> String {
        let out = Command::new("dig")
            .arg(format!("@{}", self.guard.dns.ip()))
            .args(["-p", &self.guard.dns.port().to_string(), "+short"])
            .args(names)
            .output()
            .expect("dig");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn the_sidecars_answers_allow_an_address_until_ttl_and_grace_pass() {
    let test = "the_sidecars_answers_allow_an_address_until_ttl_and_grace_pass";
    if !precondition(test) || !require::commands(test, &["dnsmasq", "dig"]) {
        return;
    }
    let task = Task::new();
    // dnsmasq's host-record takes a TTL after the address.
    let zone = Zone::new().host("ledger.test", &format!("{OUTSIDE_IP},1"));
    let policy = "[dns]\ndefault = \"deny\"\nallow = [\"ledger.test\"]\n[net]\ndefault = \"deny\"\ngrace = 1\n";
    let sidecar = Sidecar::start(zone, policy, &["--no-cache"]);
    let env = sidecar.env();
    let probe = connect_py(OUTSIDE_IP);
    let out = task.run(&env, &["python3", "-c", &probe]);
    assert_eq!(
        text(&out).trim(),
        "ECONNREFUSED",
        "before the name is resolved: {out:?}"
    );
    // Another program (dig: its own resolver, not hooked) asks the sidecar for the name; the
    // sidecar records the answer, and this process may now connect to it by address.
    assert_eq!(sidecar.dig(&["ledger.test"]).trim(), OUTSIDE_IP);
    let out = task.run(&env, &["python3", "-c", &probe]);
    assert!(out.status.success(), "after the sidecar answered: {out:?}");
    // TTL 1 + grace 1: gone a few seconds later.
    std::thread::sleep(Duration::from_millis(3200));
    let out = task.run(&env, &["python3", "-c", &probe]);
    assert_eq!(text(&out).trim(), "ECONNREFUSED", "after expiry: {out:?}");
    let ev = sidecar
        .guard
        .wait_event(Duration::from_secs(3), |e| {
            e["kind"] == "net" && e["address"] == OUTSIDE_IP && e["source"] == "shim"
        })
        .expect("the refused connect reaches the sidecar's audit log");
    assert_eq!(ev["rule"], "net.default");
}

#[test]
fn the_ledger_grows_past_its_bound_without_harm() {
    let test = "the_ledger_grows_past_its_bound_without_harm";
    if !precondition(test) || !require::commands(test, &["dnsmasq", "dig"]) {
        return;
    }
    let task = Task::new();
    let mut zone = Zone::new();
    let names: Vec<String> = (1..=200).map(|i| format!("h{i}.bound.test")).collect();
    for (i, n) in names.iter().enumerate() {
        zone = zone.host(n, &format!("10.98.{}.{}", i / 200, i % 200 + 1));
    }
    let policy =
        "[dns]\ndefault = \"deny\"\nallow = [\"*.bound.test\"]\n[net]\ndefault = \"deny\"\n";
    let sidecar = Sidecar::start(zone, policy, &["--ledger-slots", "16"]);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let answers = sidecar.dig(&refs);
    assert_eq!(answers.lines().count(), 200, "{answers}");
    // 10.98.0.0/16 has no route in the task: an allowed connect fails with ENETUNREACH from
    // the kernel, a refused one with ECONNREFUSED from the shim.
    let script = "import socket, errno\nok = 0\nfor i in range(200):\n    s = socket.socket()\n    try:\n        s.connect(('10.98.0.%d' % (i + 1), 80))\n    except OSError as e:\n        ok += e.errno != errno.ECONNREFUSED\n        last = e.errno != errno.ECONNREFUSED\nprint(ok, last)\n";
    let out = task.run(&sidecar.env(), &["python3", "-c", script]);
    let out_text = text(&out);
    let mut words = out_text.split_whitespace();
    let allowed: usize = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(usize::MAX);
    assert!((1..=16).contains(&allowed), "{out_text}");
    assert_eq!(
        words.next(),
        Some("True"),
        "the newest answer is kept: {out_text}"
    );
    // The sidecar keeps serving.
    assert_eq!(sidecar.dig(&["h1.bound.test"]).trim(), "10.98.0.1");
}

/// `res_nquery` and `res_send` for a denied name fail as "not found" in their own terms.
const RESOLVER_C: &str = r#"
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    struct __res_state st;
    memset(&st, 0, sizeof st);
    res_ninit(&st);
    unsigned char ans[512];
    int n = res_nquery(&st, "blocked.test", C_IN, T_A, ans, sizeof ans);
    printf("nquery %d %d\n", n, st.res_h_errno == HOST_NOT_FOUND);
    unsigned char q[512];
    int qlen = res_mkquery(QUERY, "blocked.test", C_IN, T_A, 0, 0, 0, q, sizeof q);
    n = res_send(q, qlen, ans, sizeof ans);
    printf("send %d rcode %d id %d qr %d\n", n > 12 ? 1 : 0, n > 3 ? ans[3] & 0xf : -1,
           n > 1 && ans[0] == q[0] && ans[1] == q[1], n > 2 ? ans[2] >> 7 : -1);
    return 0;
}
"#;

#[test]
fn resolver_calls_fail_as_not_found_for_a_denied_name() {
    let test = "resolver_calls_fail_as_not_found_for_a_denied_name";
    if !require::commands(test, &["gcc"]) {
        return;
    }
    let guard = Guard::new("[dns]\ndefault = \"allow\"\ndeny = [\"blocked.test\"]\n").unwrap();
    let dir = TempDir::new("net-resolv");
    let prog = compile_c_with(dir.path(), "resolv", RESOLVER_C, "gcc", &["-lresolv"]).unwrap();
    let out = guard.command(&prog).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nquery -1 1\nsend 1 rcode 3 id 1 qr 1\n",
        "{out:?}"
    );
}
