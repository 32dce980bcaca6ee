//! The shim decides outgoing connections and datagrams by address (`[net]`): a hard-coded
//! address outside the task is refused as a REJECT firewall would refuse it (ECONNREFUSED for
//! connections, EPERM for datagrams) and reported once, while the same address connects when
//! an allowed name resolved to it or a `[net]` rule allows it, and loopback always works.
//!
//! The task is a network namespace; "outside" is a second one behind a veth pair with an HTTP
//! server on it, as the VPC is outside a Fargate task. Refused connections must leave no
//! request in the server's log, and allowed ones must reach it.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use guard_tests::netns::NetNs;
use guard_tests::require;
use guard_tests::shim::Guard;
use guard_tests::vpc::{spawn_in, wait_tcp};
use serde_json::Value;

const TASK_IP: &str = "10.213.0.1";
/// The host outside the task.
const OUTSIDE_IP: &str = "10.213.0.2";
const PORT: u16 = 8080;
/// A name only the task's private /etc/hosts knows, pointing outside.
const NAME: &str = "api.allowed.test";

/// The task and outside namespaces, the outside HTTP server and a loopback one in the task.
struct Net {
    task: NetNs,
    _outside: NetNs,
    servers: Vec<Child>,
    outside_log: PathBuf,
    etc: PathBuf,
}

impl Net {
    fn start(test: &str) -> Option<Net> {
        if !require::root(test) || !require::commands(test, &["ip", "python3", "curl"]) {
            return None;
        }
        let task = NetNs::create("tgnet-task").expect("task namespace");
        let outside = NetNs::create("tgnet-out").expect("outside namespace");
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("running ip");
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        ip(&[
            "-n",
            task.name(),
            "link",
            "add",
            "tg0",
            "type",
            "veth",
            "peer",
            "name",
            "tg1",
            "netns",
            outside.name(),
        ]);
        let task_cidr = format!("{TASK_IP}/24");
        let out_cidr = format!("{OUTSIDE_IP}/24");
        ip(&["-n", task.name(), "addr", "add", &task_cidr, "dev", "tg0"]);
        ip(&["-n", outside.name(), "addr", "add", &out_cidr, "dev", "tg1"]);
        ip(&["-n", task.name(), "link", "set", "tg0", "up"]);
        ip(&["-n", outside.name(), "link", "set", "tg1", "up"]);
        // `ip netns exec` bind-mounts /etc/netns/NAME/hosts over /etc/hosts: the task's own
        // name for the outside host, resolved by the real glibc lookup.
        let etc = PathBuf::from("/etc/netns").join(task.name());
        std::fs::create_dir_all(&etc).expect("creating /etc/netns/NAME");
        std::fs::write(
            etc.join("hosts"),
            format!("127.0.0.1 localhost\n{OUTSIDE_IP} {NAME}\n"),
        )
        .expect("writing the task's hosts file");
        let dir = std::env::temp_dir().join(format!("{}-www", task.name()));
        std::fs::create_dir_all(&dir).expect("server directory");
        std::fs::write(dir.join("index.html"), "outside\n").expect("index.html");
        let outside_log = dir.join("outside.log");
        let server = |netns: &NetNs, bind: &str, port: u16, log: &PathBuf| {
            spawn_in(
                netns,
                Command::new("python3")
                    .args(["-m", "http.server", &port.to_string(), "--bind", bind])
                    .current_dir(&dir)
                    .stdout(Stdio::null())
                    .stderr(File::create(log).expect("server log")),
            )
            .expect("starting an HTTP server")
        };
        let servers = vec![
            server(&outside, OUTSIDE_IP, PORT, &outside_log),
            server(&task, "127.0.0.1", PORT, &dir.join("loopback.log")),
        ];
        let net = Net {
            task,
            _outside: outside,
            servers,
            outside_log,
            etc,
        };
        wait_tcp(
            &net.task,
            format!("127.0.0.1:{PORT}").parse().expect("address"),
            Duration::from_secs(10),
        )
        .expect("loopback server");
        // The outside server, seen from the task without the shim.
        wait_tcp(
            &net.task,
            format!("{OUTSIDE_IP}:{PORT}").parse().expect("address"),
            Duration::from_secs(10),
        )
        .expect("outside server reachable over the veth pair");
        Some(net)
    }

    /// Requests the outside server logged (python's http.server: one line per request).
    fn outside_requests(&self) -> usize {
        std::fs::read_to_string(&self.outside_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET "))
            .count()
    }

    /// `argv` inside the task namespace under the guard.
    fn run(&self, guard: &Guard, argv: &[&str]) -> Output {
        guard
            .command("ip")
            .args(["netns", "exec", self.task.name()])
            .args(argv)
            .output()
            .expect("running ip netns exec")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for child in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

fn policy(net: &str) -> String {
    format!(
        "[dns]\ndefault = \"deny\"\nallow = [\"{NAME}\", \"localhost\"]\n\
         [process]\ndefault = \"allow\"\n{net}"
    )
}

fn net_events(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["kind"] == "net").collect()
}

const PYTHON: &str = r#"
import errno, socket, sys, urllib.request
def tcp(host, port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, port))
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
QUERY = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01"
def udp(host, port, msg=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if msg:
            s.sendmsg([QUERY], [], 0, (host, port))
        else:
            s.sendto(QUERY, (host, port))
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
out, port = sys.argv[1], int(sys.argv[2])
print("direct", tcp(out, port))
print("again", tcp(out, port))
print("mapped", tcp("::ffff:" + out, port, socket.AF_INET6))
print("loopback", tcp("127.0.0.1", port))
print("udp", udp(out, 53))
print("udpmsg", udp(out, 53, msg=True))
print("resolved", socket.getaddrinfo(sys.argv[3], port, socket.AF_INET)[0][4][0])
print("after", tcp(out, port))
print("urllib", urllib.request.urlopen("http://%s:%d/" % (sys.argv[3], port), timeout=5).read().decode().strip())
"#;

#[test]
fn a_hard_coded_address_is_refused_until_an_allowed_name_resolves_to_it() {
    let Some(net) = Net::start("a_hard_coded_address_is_refused_until_an_allowed_name") else {
        return;
    };
    let guard = Guard::new(&policy("[net]\ndefault = \"deny\"\n")).unwrap();
    let port = PORT.to_string();
    let out = net.run(&guard, &["python3", "-c", PYTHON, OUTSIDE_IP, &port, NAME]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "direct ECONNREFUSED\nagain ECONNREFUSED\nmapped ECONNREFUSED\nloopback ok\nudp EPERM\nudpmsg EPERM\n\
         resolved {OUTSIDE_IP}\nafter ok\nurllib outside\n"
    );
    assert_eq!(stdout, expected, "{out:?}");
    // Only the two connections after the lookup reached the outside host.
    assert_eq!(net.outside_requests(), 1, "one HTTP request (urllib)");
    let events = guard.events();
    let net_ev = net_events(&events);
    let tcp: Vec<_> = net_ev
        .iter()
        .filter(|e| e["address"] == OUTSIDE_IP && e["protocol"] == "tcp")
        .collect();
    assert_eq!(
        tcp.len(),
        1,
        "one report for three refused attempts: {events:#?}"
    );
    let ev = tcp[0];
    assert_eq!(ev["action"], "blocked");
    assert_eq!(ev["port"], PORT);
    assert_eq!(ev["rule"], "net.default");
    assert_eq!(ev["api"], "connect");
    assert_eq!(
        ev["policy_version"].as_str(),
        Some(guard.version().as_str())
    );
    assert!(ev["pid"].as_u64().is_some(), "{ev}");
    let argv = ev["argv"].as_array().expect("argv");
    assert!(
        argv[0].as_str().is_some_and(|a| a.ends_with("python3")),
        "{ev}"
    );
    assert_eq!(argv.last().and_then(Value::as_str), Some(NAME), "{ev}");
    let udp: Vec<_> = net_ev
        .iter()
        .filter(|e| e["protocol"] == "udp" && e["port"] == 53)
        .collect();
    assert_eq!(udp.len(), 1, "{events:#?}");
    assert_eq!(udp[0]["api"], "sendto");
    assert!(
        net_ev.iter().all(|e| e["address"] != "127.0.0.1"),
        "{events:#?}"
    );
}

#[test]
fn curl_to_an_address_follows_net_rules() {
    let Some(net) = Net::start("curl_to_an_address_follows_net_rules") else {
        return;
    };
    let url = format!("http://{OUTSIDE_IP}:{PORT}/");
    let curl = ["curl", "-sS", "-o", "/dev/null", "--max-time", "5", &url];

    let denied = Guard::new(&policy("[net]\ndefault = \"deny\"\n")).unwrap();
    let out = net.run(&denied, &curl);
    assert_eq!(out.status.code(), Some(7), "couldn't connect: {out:?}");
    assert_eq!(
        net.outside_requests(),
        0,
        "a refused connection sends nothing"
    );
    let events = denied.events();
    let ev = net_events(&events);
    assert_eq!(ev.len(), 1, "{events:#?}");
    assert_eq!(ev[0]["address"], OUTSIDE_IP);
    assert_eq!(ev[0]["argv"][0], "curl");

    // A CIDR with the port allows it; another port of the same host stays refused.
    let cidr = Guard::new(&policy(
        "[net]\ndefault = \"deny\"\nallow = [\"10.213.0.0/24:8080\"]\n",
    ))
    .unwrap();
    let out = net.run(&cidr, &curl);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(net.outside_requests(), 1);
    let other = format!("http://{OUTSIDE_IP}:8081/");
    let out = net.run(&cidr, &["curl", "-sS", "--max-time", "5", &other]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let events = cidr.events();
    let ev = net_events(&events);
    assert_eq!(
        ev.len(),
        1,
        "only the refused port is reported: {events:#?}"
    );
    assert_eq!(ev[0]["port"], 8081);

    // Loopback always works, whatever the default.
    let out = net.run(
        &denied,
        &["curl", "-sS", "--max-time", "5", "http://127.0.0.1:8080/"],
    );
    assert!(out.status.success(), "{out:?}");

    // Without [net], nothing about connections changes.
    let before = Guard::new(&policy("")).unwrap();
    let out = net.run(&before, &curl);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(net.outside_requests(), 2);
    assert!(net_events(&before.events()).is_empty());
}

const CONNECT_C: &str = r#"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static void attempt(const char *what, const char *ip, int port, int nonblock) {
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    errno = 0;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    printf("%s rc=%d errno=%s\n", what, rc, rc == 0 ? "0" : strerror(errno));
    close(fd);
}
/* Two datagrams in one sendmmsg, to `first` then `second` (port 53). */
static void batch(const char *what, const char *first, const char *second) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to[2] = {{.sin_family = AF_INET, .sin_port = htons(53)},
                                {.sin_family = AF_INET, .sin_port = htons(53)}};
    inet_pton(AF_INET, first, &to[0].sin_addr);
    inet_pton(AF_INET, second, &to[1].sin_addr);
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct mmsghdr m[2];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 2; i++) {
        m[i].msg_hdr.msg_name = &to[i];
        m[i].msg_hdr.msg_namelen = sizeof to[i];
        m[i].msg_hdr.msg_iov = &iov;
        m[i].msg_hdr.msg_iovlen = 1;
    }
    errno = 0;
    int rc = sendmmsg(fd, m, 2, 0);
    printf("%s rc=%d errno=%s\n", what, rc, rc >= 0 ? "0" : strerror(errno));
    close(fd);
}
int main(int argc, char **argv) {
    int port = atoi(argv[2]);
    attempt("blocking", argv[1], port, 0);
    attempt("nonblocking", argv[1], port, 1);
    /* The kernel stops a batch at a message that fails; so does the guard. */
    batch("sendmmsg_cut", "127.0.0.1", argv[1]);
    batch("sendmmsg_first", argv[1], "127.0.0.1");
    return 0;
}
"#;

#[test]
fn c_connect_blocking_and_non_blocking_is_refused_at_once() {
    let test = "c_connect_blocking_and_non_blocking_is_refused_at_once";
    let Some(net) = Net::start(test) else { return };
    if !require::commands(test, &["gcc"]) {
        return;
    }
    let guard = Guard::new(&policy("[net]\ndefault = \"deny\"\n")).unwrap();
    let prog = guard_tests::shim::compile_c(&guard.dir, "connect", CONNECT_C, false).unwrap();
    let prog = prog.display().to_string();
    let port = PORT.to_string();
    let out = net.run(&guard, &[&prog, OUTSIDE_IP, &port]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "blocking rc=-1 errno=Connection refused\nnonblocking rc=-1 errno=Connection refused\n\
         sendmmsg_cut rc=1 errno=0\nsendmmsg_first rc=-1 errno=Operation not permitted\n",
        "{out:?}"
    );
    assert_eq!(net.outside_requests(), 0);
    let events = guard.events();
    let protocols: Vec<_> = net_events(&events)
        .iter()
        .map(|e| (e["protocol"].clone(), e["api"].clone()))
        .collect();
    assert_eq!(
        protocols,
        [
            ("tcp".into(), "connect".into()),
            ("udp".into(), "sendmmsg".into())
        ],
        "{events:#?}"
    );
    // Allowed, the same program connects (blocking) and starts connecting (non-blocking).
    let allowed = Guard::new(&policy(
        "[net]\ndefault = \"deny\"\nallow = [\"10.213.0.2\"]\n",
    ))
    .unwrap();
    let out = net.run(&allowed, &[&prog, OUTSIDE_IP, &port]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("blocking rc=0 errno=0\n"), "{out:?}");
    assert!(
        stdout.contains("nonblocking rc=-1 errno=Operation now in progress"),
        "{out:?}"
    );
    assert!(stdout.contains("sendmmsg_cut rc=2 errno=0"), "{out:?}");
}

/// The sidecar's answers ledger: an address is allowed in every process of the task once the
/// sidecar answered an allowed name with it (here `dig` asks it, as another container would),
/// not before, and no longer once its TTL and the grace period are over.
#[test]
fn an_address_the_sidecar_answered_is_allowed_in_other_processes() {
    use guard_tests::upstream::{Dnsmasq, GuardOptions, GuardProcess, TempDir, Zone, dig};
    let test = "an_address_the_sidecar_answered_is_allowed_in_other_processes";
    let Some(net) = Net::start(test) else { return };
    if !guard_tests::upstream::dns_tools(test) {
        return;
    }
    let dir = TempDir::new("net-ledger");
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let policy_path = dir.join("policy.toml");
    std::fs::write(
        &policy_path,
        policy("[net]\ndefault = \"deny\"\ngrace = 1\n"),
    )
    .unwrap();
    // TTL 1 s plus 1 s of grace: the entry is dead three seconds later.
    let record = format!("--host-record={NAME},{OUTSIDE_IP},1");
    let upstream = Dnsmasq::start(&Zone::new().arg(&record));
    let mut opts = GuardOptions::new(policy_path.display().to_string(), upstream.addr);
    opts.run_dir = Some(run.clone());
    let sidecar = GuardProcess::start(opts);
    let env = [
        (
            "LD_PRELOAD",
            guard_tests::artifacts::preload_lib().display().to_string(),
        ),
        (
            guard_contract::env::POLICY,
            run.join("policy.json").display().to_string(),
        ),
        (
            guard_contract::env::EVENTS,
            run.join("events.sock").display().to_string(),
        ),
        (guard_contract::env::CONTAINER, "app".to_string()),
    ];
    let connect = || {
        let out = Command::new("ip")
            .args(["netns", "exec", net.task.name(), "python3", "-c"])
            .arg(format!(
                "import socket\ntry:\n    socket.create_connection(('{OUTSIDE_IP}', {PORT}), 5).close(); print('ok')\nexcept OSError as e:\n    print(e.errno)"
            ))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("running python3");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        connect(),
        libc::ECONNREFUSED.to_string(),
        "before the name was resolved"
    );
    let ev = sidecar
        .wait_event(Duration::from_secs(5), |e| e["kind"] == "net")
        .expect("the refusal reaches the sidecar's audit log");
    assert_eq!(ev["address"], OUTSIDE_IP);
    assert_eq!(ev["action"], "blocked");
    let d = dig(sidecar.dns, NAME, "A", &[]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(d.raw.contains(OUTSIDE_IP), "{}", d.raw);
    assert_eq!(connect(), "ok", "after the sidecar answered {NAME}");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        connect(),
        libc::ECONNREFUSED.to_string(),
        "the entry expired after TTL + grace"
    );
}

const RELOAD_PY: &str = r#"
import errno, socket, sys, threading
def tcp(host, port):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect((host, port))
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
host, port = sys.argv[1], int(sys.argv[2])
for line in sys.stdin:
    results = []
    def one():
        results.append(tcp(host, port))
    threads = [threading.Thread(target=one) for _ in range(32)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(line.strip(), sorted(set(results)), len(results), flush=True)
"#;

/// 32 threads connecting at once get the same answer and one report; a policy reload changes
/// the decision inside the running process.
#[test]
fn threads_and_a_reload_in_a_running_process() {
    use std::io::{BufRead, BufReader, Write};
    let Some(net) = Net::start("threads_and_a_reload_in_a_running_process") else {
        return;
    };
    let guard = Guard::new(&policy("[net]\ndefault = \"deny\"\n")).unwrap();
    let port = PORT.to_string();
    let mut child = guard
        .command("ip")
        .args(["netns", "exec", net.task.name(), "python3", "-c", RELOAD_PY])
        .args([OUTSIDE_IP, port.as_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting python3");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut round = |tag: &str| {
        writeln!(stdin, "{tag}").expect("writing to python3");
        lines.next().expect("a line").expect("reading python3")
    };
    assert_eq!(round("denied"), "denied ['ECONNREFUSED'] 32");
    let events = guard.events();
    assert_eq!(net_events(&events).len(), 1, "{events:#?}");
    guard
        .set_policy(&policy(
            "[net]\ndefault = \"deny\"\nallow = [\"10.213.0.2:8080\"]\n",
        ))
        .unwrap();
    // The shim looks at the policy file again at most every 100 ms.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(round("allowed"), "allowed ['ok'] 32");
    guard
        .set_policy(&policy("[net]\ndefault = \"deny\"\n"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(round("denied-again"), "denied-again ['ECONNREFUSED'] 32");
    drop(stdin);
    let _ = child.wait();
}
