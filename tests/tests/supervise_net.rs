//! guard-exec's supervisor decides connections and datagrams the shim cannot see (static
//! programs, raw `syscall(SYS_connect)`) with the same `[net]` policy: a denied address is
//! refused with the shim's errno (ECONNREFUSED for a connection, EPERM for a datagram) and
//! reported once with `api: "syscall"`, an allowed one connects, and a shimmed program's own
//! decisions are neither contradicted nor reported twice.
//!
//! The task is a network namespace and "outside" a second one behind a veth pair
//! (`guard_tests::netns_outside`), with an HTTP server listening on two addresses: one the policy
//! allows, one it does not (so a refusal is the guard's, not the server's).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use guard_tests::netns::NetNs;
use guard_tests::netns_outside::Outside;
use guard_tests::shim::{Guard, compile_c};
use guard_tests::vpc::{spawn_in, wait_tcp};
use guard_tests::{artifacts, require};
use serde_json::Value;

const ALLOWED_IP: &str = "10.214.0.2";
const DENIED_IP: &str = "10.214.0.3";
const PORT: u16 = 8080;
/// A name only the task's /etc/hosts knows, pointing at the denied address.
const NAME: &str = "denied-by-address.test";

fn policy() -> String {
    format!(
        "[dns]\ndefault = \"allow\"\n[process]\ndefault = \"allow\"\n\
         [net]\ndefault = \"deny\"\nallow = [\"{ALLOWED_IP}\"]\n"
    )
}

/// `prog MODE IP PORT`: MODE `c` libc connect, `r` raw connect, `u` libc sendto (UDP), `U`
/// raw sendto, `m` sendmsg (UDP), `t` 32 threads connecting at once. Prints `ok` or the
/// errno's name.
const CLIENT: &str = r#"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
static struct sockaddr_in sa;
static const char *name(int e) {
    return e == 0 ? "ok" : e == ECONNREFUSED ? "ECONNREFUSED" : e == EPERM ? "EPERM" : strerror(e);
}
static int tcp(int raw) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    long r = raw ? syscall(SYS_connect, s, &sa, sizeof sa) : connect(s, (void *)&sa, sizeof sa);
    int e = r == 0 ? 0 : errno;
    close(s);
    return e;
}
static int results[32];
static pthread_barrier_t barrier;
static void *go(void *arg) {
    pthread_barrier_wait(&barrier);
    results[(long)arg] = tcp((long)arg % 2);
    return 0;
}
int main(int argc, char **argv) {
    char mode = argv[1][0];
    sa.sin_family = AF_INET;
    sa.sin_port = htons(atoi(argv[3]));
    inet_pton(AF_INET, argv[2], &sa.sin_addr);
    int e = 0;
    if (mode == 'c' || mode == 'r') e = tcp(mode == 'r');
    if (mode == 'u' || mode == 'U' || mode == 'm') {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        long r;
        if (mode == 'u') r = sendto(s, "x", 1, 0, (void *)&sa, sizeof sa);
        else if (mode == 'U') r = syscall(SYS_sendto, s, "x", 1, 0, &sa, sizeof sa);
        else {
            struct iovec iov = {"x", 1};
            struct msghdr m = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1};
            r = sendmsg(s, &m, 0);
        }
        e = r >= 0 ? 0 : errno;
    }
    if (mode == 't') {
        pthread_t t[32];
        pthread_barrier_init(&barrier, 0, 32);
        for (long i = 0; i < 32; i++) pthread_create(&t[i], 0, go, (void *)i);
        for (int i = 0; i < 32; i++) pthread_join(t[i], 0);
        for (int i = 0; i < 32; i++) printf("%d=%s\n", i, name(results[i]));
        return 0;
    }
    printf("%s\n", name(e));
    return 0;
}
"#;

struct Net {
    task: NetNs,
    _outside: Outside,
    server: Child,
    etc: PathBuf,
}

impl Net {
    fn start(test: &str) -> Option<Net> {
        if !require::root(test) || !require::commands(test, &["ip", "python3", "gcc"]) {
            return None;
        }
        let task = NetNs::create("tgsup-task").expect("task namespace");
        let hosts = [ALLOWED_IP.to_string(), DENIED_IP.to_string()];
        let outside = Outside::link(&task, "tgsup-out", &hosts).expect("outside namespace");
        let t = task.name();
        let lo = Command::new("ip")
            .args(["-n", t, "link", "set", "lo", "up"])
            .output()
            .expect("running ip");
        assert!(lo.status.success(), "ip link set lo up: {lo:?}");
        let etc = PathBuf::from("/etc/netns").join(t);
        std::fs::create_dir_all(&etc).expect("creating /etc/netns/NAME");
        std::fs::write(
            etc.join("hosts"),
            format!("127.0.0.1 localhost\n{DENIED_IP} {NAME}\n"),
        )
        .expect("writing the task's hosts file");
        let dir = std::env::temp_dir().join(format!("{t}-www"));
        std::fs::create_dir_all(&dir).expect("server directory");
        let server = spawn_in(
            &outside.netns,
            Command::new("python3")
                .args(["-m", "http.server", &PORT.to_string(), "--bind", "0.0.0.0"])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(File::create(dir.join("server.log")).expect("server log")),
        )
        .expect("starting the outside server");
        let net = Net {
            task,
            _outside: outside,
            server,
            etc,
        };
        for addr in [ALLOWED_IP, DENIED_IP] {
            wait_tcp(
                &net.task,
                format!("{addr}:{PORT}").parse().expect("address"),
                Duration::from_secs(10),
            )
            .expect("outside server reachable over the veth pair");
        }
        Some(net)
    }

    /// `argv` in the task under guard-exec (`supervise`: with the supervisor, else
    /// `GUARD_SUPERVISE=off`).
    fn run(&self, guard: &Guard, supervise: bool, argv: &[&str]) -> Output {
        let mut cmd = guard.command("ip");
        cmd.args(["netns", "exec", self.task.name()])
            .arg(artifacts::guard_exec())
            .args(argv)
            .env_remove("LD_PRELOAD")
            .env_remove("GUARD_RESOLVER")
            .env("GUARD_PRELOAD_LIB", &guard.lib)
            .env("GUARD_SUPERVISE", if supervise { "on" } else { "off" });
        cmd.output().expect("running guard-exec in the task")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn net_events<'a>(events: &'a [Value], address: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "net" && e["address"] == address)
        .collect()
}

fn client(guard: &Guard, static_link: bool) -> PathBuf {
    let name = if static_link {
        "client-static"
    } else {
        "client"
    };
    compile_c(&guard.dir, name, CLIENT, static_link).expect("compiling the client")
}

fn assert_one_syscall_event(events: &[Value], protocol: &str, program: &Path) {
    let hits = net_events(events, DENIED_IP);
    assert_eq!(
        hits.len(),
        1,
        "one event per denied destination: {events:#?}"
    );
    let e = hits[0];
    assert_eq!(e["action"], "blocked", "{e}");
    assert_eq!(e["api"], "syscall", "{e}");
    assert_eq!(e["port"], if protocol == "tcp" { PORT } else { 53 }, "{e}");
    assert_eq!(e["protocol"], protocol, "{e}");
    assert_eq!(e["container"], "app", "{e}");
    assert_eq!(e["exe"], program.display().to_string(), "{e}");
    assert_eq!(e["argv"][0], program.display().to_string(), "{e}");
    assert!(
        e["rule"].as_str().is_some_and(|r| r.contains("default")),
        "{e}"
    );
    assert!(net_events(events, ALLOWED_IP).is_empty(), "{events:#?}");
}

#[test]
fn a_static_program_connects_only_where_the_policy_allows_by_libc_or_raw_syscall() {
    let Some(net) = Net::start("a_static_program_connects_only_where_the_policy_allows") else {
        return;
    };
    let guard = Guard::new(&policy()).unwrap();
    let prog = client(&guard, true);
    let p = prog.to_str().unwrap();
    let port = PORT.to_string();
    // Without the supervisor the static program reaches the denied address: the refusal
    // below is the guard's.
    let out = net.run(&guard, false, &[p, "c", DENIED_IP, &port]);
    assert_eq!(stdout(&out), "ok", "{out:?}");
    guard.events();
    for mode in ["c", "r"] {
        let out = net.run(&guard, true, &[p, mode, DENIED_IP, &port]);
        assert_eq!(stdout(&out), "ECONNREFUSED", "{mode}: {out:?}");
        let out = net.run(&guard, true, &[p, mode, ALLOWED_IP, &port]);
        assert_eq!(stdout(&out), "ok", "{mode}: {out:?}");
        assert_one_syscall_event(&guard.events(), "tcp", &prog);
    }
}

#[test]
fn a_static_programs_datagram_to_a_denied_address_fails_with_eperm() {
    let Some(net) = Net::start("a_static_programs_datagram_to_a_denied_address") else {
        return;
    };
    let guard = Guard::new(&policy()).unwrap();
    let prog = client(&guard, true);
    let p = prog.to_str().unwrap();
    let out = net.run(&guard, false, &[p, "u", DENIED_IP, "53"]);
    assert_eq!(stdout(&out), "ok", "{out:?}");
    guard.events();
    for mode in ["u", "U", "m"] {
        let out = net.run(&guard, true, &[p, mode, DENIED_IP, "53"]);
        assert_eq!(stdout(&out), "EPERM", "{mode}: {out:?}");
        let out = net.run(&guard, true, &[p, mode, ALLOWED_IP, "53"]);
        assert_eq!(stdout(&out), "ok", "{mode}: {out:?}");
        assert_one_syscall_event(&guard.events(), "udp", &prog);
    }
}

#[test]
fn thirty_two_threads_connecting_at_once_are_each_decided() {
    let Some(net) = Net::start("thirty_two_threads_connecting_at_once") else {
        return;
    };
    let guard = Guard::new(&policy()).unwrap();
    let prog = client(&guard, true);
    let p = prog.to_str().unwrap();
    let port = PORT.to_string();
    for (ip, want) in [(DENIED_IP, "ECONNREFUSED"), (ALLOWED_IP, "ok")] {
        let out = net.run(&guard, true, &[p, "t", ip, &port]);
        let text = stdout(&out);
        for i in 0..32 {
            assert!(
                text.contains(&format!("{i}={want}\n")) || text.ends_with(&format!("{i}={want}")),
                "{ip} thread {i}: {text}"
            );
        }
    }
    let events = guard.events();
    assert_eq!(net_events(&events, DENIED_IP).len(), 1, "{events:#?}");
}

/// A dynamically linked program has the shim: its libc `connect` to a denied address is the
/// shim's to refuse and report (once, not again by the supervisor), its raw system call the
/// supervisor's; an address an allowed name resolved to in the process (its own lookup, via
/// /etc/hosts, which the sidecar never sees) connects, because the supervisor reads the
/// answers the shim recorded.
#[test]
fn shim_and_supervisor_agree_and_report_a_denial_once() {
    let Some(net) = Net::start("shim_and_supervisor_agree_and_report_a_denial_once") else {
        return;
    };
    let guard = Guard::new(&policy()).unwrap();
    let prog = client(&guard, false);
    let p = prog.to_str().unwrap();
    let port = PORT.to_string();

    let out = net.run(&guard, true, &[p, "c", DENIED_IP, &port]);
    assert_eq!(stdout(&out), "ECONNREFUSED", "{out:?}");
    let events = guard.events();
    let hits = net_events(&events, DENIED_IP);
    assert_eq!(hits.len(), 1, "{events:#?}");
    assert_eq!(
        hits[0]["api"], "connect",
        "the shim decided it: {events:#?}"
    );

    let out = net.run(&guard, true, &[p, "r", DENIED_IP, &port]);
    assert_eq!(stdout(&out), "ECONNREFUSED", "{out:?}");
    assert_one_syscall_event(&guard.events(), "tcp", &prog);

    let script = format!(
        "import socket\n\
         ip = socket.getaddrinfo('{NAME}', {PORT}, socket.AF_INET)[0][4][0]\n\
         s = socket.create_connection((ip, {PORT}), timeout=5)\n\
         print('ok', ip)\n"
    );
    let out = net.run(&guard, true, &["python3", "-c", &script]);
    assert_eq!(stdout(&out), format!("ok {DENIED_IP}"), "{out:?}");
    let events = guard.events();
    assert!(net_events(&events, DENIED_IP).is_empty(), "{events:#?}");
}
