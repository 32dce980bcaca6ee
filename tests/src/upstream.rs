//! Real DNS parts for the dns-guard tests: a dnsmasq upstream with its query log, the built
//! `dns-guard` running as a child process, `dig`, and raw UDP/TCP exchanges.
//!
//! Everything listens on free loopback ports (never 53), so the tests need no root.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("guard-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port free for both UDP and TCP right now.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no free loopback port");
}

/// The zone a dnsmasq upstream answers (dnsmasq command-line options).
#[derive(Default, Clone)]
pub struct Zone {
    args: Vec<String>,
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    /// `name` (and, as dnsmasq does for `--address`, every name below it) has this IPv4.
    pub fn address(mut self, name: &str, ip: &str) -> Zone {
        self.args.push(format!("--address=/{name}/{ip}"));
        self
    }

    /// Exactly `name` has this A or AAAA record.
    pub fn host(mut self, name: &str, ip: &str) -> Zone {
        self.args.push(format!("--host-record={name},{ip}"));
        self
    }

    /// `alias` is a CNAME for `target` (which must be a --host-record or another cname).
    pub fn cname(mut self, alias: &str, target: &str) -> Zone {
        self.args.push(format!("--cname={alias},{target}"));
        self
    }

    /// A TXT record made of these strings.
    pub fn txt(mut self, name: &str, strings: &[String]) -> Zone {
        let quoted: Vec<String> = strings.iter().map(|s| format!("\"{s}\"")).collect();
        self.args
            .push(format!("--txt-record={name},{}", quoted.join(",")));
        self
    }

    /// A TXT record of about `bytes` bytes: too big for a 1232-byte UDP answer.
    pub fn big_txt(self, name: &str, bytes: usize) -> Zone {
        let strings: Vec<String> = (0..bytes.div_ceil(200))
            .map(|i| format!("s{i:03}{}", "x".repeat(196)))
            .collect();
        self.txt(name, &strings)
    }

    pub fn arg(mut self, arg: &str) -> Zone {
        self.args.push(arg.to_string());
        self
    }
}

/// A dnsmasq answering a [`Zone`] on a loopback port, logging every query it receives.
pub struct Dnsmasq {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: TempDir,
}

impl Dnsmasq {
    pub fn start(zone: &Zone) -> Dnsmasq {
        let dir = TempDir::new("dnsmasq");
        let log = dir.join("queries.log");
        let port = free_port();
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--no-resolv",
            "--no-hosts",
            "--keep-in-foreground",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--log-queries",
            // Answers live 60 s, so the guard's cache has something to keep.
            "--local-ttl=60",
            // UDP answers over 1232 bytes are truncated, so TC handling is exercised.
            "--edns-packet-max=1232",
            "--cache-size=0",
        ]);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-facility={}", log.display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .args(&zone.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            // Keep root so the log file in our temp dir stays writable.
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().expect("start dnsmasq (is it installed?)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let d = Dnsmasq {
            child,
            addr,
            log,
            _dir: dir,
        };
        // Ready when it answers.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if udp_exchange(
                addr,
                &build_query(1, "ready.invalid", 1, None),
                Duration::from_millis(200),
            )
            .is_some()
            {
                return d;
            }
        }
        panic!("dnsmasq did not start on {addr}");
    }

    /// The names dnsmasq was asked about, with their types, in order (`("A", "Name.Test")`).
    pub fn queries(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let rest = &line[line.find("query[")? + "query[".len()..];
                let (qtype, rest) = rest.split_once("] ")?;
                let name = rest.split(" from ").next()?;
                if name.eq_ignore_ascii_case("ready.invalid") {
                    return None;
                }
                Some((qtype.to_string(), name.to_string()))
            })
            .collect()
    }

    /// How many queries for `name` (any case, any type) reached dnsmasq.
    pub fn count(&self, name: &str) -> usize {
        // The log is written as queries arrive; give the last line a moment.
        std::thread::sleep(Duration::from_millis(100));
        self.queries()
            .iter()
            .filter(|(_, n)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Options for a dns-guard under test.
pub struct GuardOptions {
    pub policy: String,
    pub upstreams: Vec<SocketAddr>,
    pub run_dir: Option<PathBuf>,
    pub extra: Vec<String>,
    /// Never read the guard's stdout: once the pipe is full its audit writer is stuck, like
    /// behind a log driver that stopped reading.
    pub stuck_stdout: bool,
}

impl GuardOptions {
    pub fn new(policy: impl Into<String>, upstream: SocketAddr) -> GuardOptions {
        GuardOptions {
            policy: policy.into(),
            upstreams: vec![upstream],
            run_dir: None,
            extra: vec![],
            stuck_stdout: false,
        }
    }

    pub fn arg(mut self, a: &str) -> GuardOptions {
        self.extra.push(a.to_string());
        self
    }
}

/// The built dns-guard, serving on free loopback ports; its stdout (the audit log) and stderr
/// are collected.
pub struct GuardProcess {
    child: Child,
    pub dns: SocketAddr,
    pub admin: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    _unread: Option<std::process::ChildStdout>,
}

fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().expect("lines").push(line);
        }
    });
    lines
}

impl GuardProcess {
    /// Starts the guard and waits until it answers DNS.
    pub fn start(opts: GuardOptions) -> GuardProcess {
        let g = GuardProcess::spawn(opts);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let q = build_query(7, "health.dns-guard.invalid", 1, None);
            if udp_exchange(g.dns, &q, Duration::from_millis(200)).is_some() {
                return g;
            }
        }
        panic!(
            "dns-guard did not answer on {}; stderr: {:?}",
            g.dns,
            g.stderr()
        );
    }

    /// Starts the guard without waiting (for tests of start-up failures).
    pub fn spawn(opts: GuardOptions) -> GuardProcess {
        let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut cmd = Command::new(crate::artifacts::dns_guard());
        cmd.arg("serve")
            .arg("--policy")
            .arg(&opts.policy)
            .arg("--listen")
            .arg(dns.to_string())
            .arg("--admin")
            .arg(admin.to_string());
        for u in &opts.upstreams {
            cmd.arg("--upstream").arg(u.to_string());
        }
        if let Some(dir) = &opts.run_dir {
            cmd.arg("--run-dir").arg(dir);
        }
        cmd.args(&opts.extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("start dns-guard");
        let pipe = child.stdout.take().expect("stdout");
        let (stdout, unread) = if opts.stuck_stdout {
            (Arc::new(Mutex::new(Vec::new())), Some(pipe))
        } else {
            (collect(pipe), None)
        };
        let stderr = collect(child.stderr.take().expect("stderr"));
        GuardProcess {
            child,
            dns,
            admin,
            stdout,
            stderr,
            _unread: unread,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Exit status if it has exited (waits up to `within`).
    pub fn exited(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().expect("stderr").clone()
    }

    /// Every audit line so far, as written.
    pub fn audit_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout").clone()
    }

    /// Every audit line so far, parsed (lines that are not JSON fail the test).
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .expect("stdout")
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("audit line {l:?} is not JSON: {e}"))
            })
            .collect()
    }

    /// Waits until an audit event satisfies `pred`.
    pub fn wait_event(&self, within: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `n` policies have been loaded (the start counts as one); returns the
    /// version of the last one.
    pub fn wait_loaded(&self, n: usize, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let loads: Vec<Value> = self
                .events()
                .into_iter()
                .filter(|e| e["kind"] == "policy" && e["action"] == "loaded")
                .collect();
            if loads.len() >= n {
                return loads
                    .last()
                    .and_then(|e| e["policy_version"].as_str())
                    .map(str::to_string);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// GET on the admin address: (status code, body).
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path)
    }

    /// The value of one metric line, e.g. `dnsguard_cache_hits_total` or
    /// `dnsguard_queries_total{verdict="blocked",qtype="A"}`.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.admin_get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for GuardProcess {
    fn drop(&mut self) {
        if self.exited(Duration::ZERO).is_none() {
            self.signal(libc::SIGTERM);
            if self.exited(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// A plain HTTP/1.1 GET: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    );
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A standard query (RD set) for `name` and `qtype`, with an OPT record advertising
/// `edns_size` when given.
pub fn build_query(id: u16, name: &str, qtype: u16, edns_size: Option<u16>) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns_size.is_some()),
    ]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if let Some(size) = edns_size {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&size.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    q
}

/// Sends one datagram and waits for one answer.
pub fn udp_exchange(server: SocketAddr, msg: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    sock.send_to(msg, server).ok()?;
    let mut buf = vec![0u8; 65_535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Sends several length-framed messages on one TCP connection and reads `expect` answers.
pub fn tcp_exchange(
    server: SocketAddr,
    msgs: &[Vec<u8>],
    expect: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    let Ok(mut s) = TcpStream::connect_timeout(&server, timeout) else {
        return vec![];
    };
    let _ = s.set_read_timeout(Some(timeout));
    for m in msgs {
        let mut framed = (m.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(m);
        if s.write_all(&framed).is_err() {
            return vec![];
        }
    }
    let mut out = Vec::new();
    while out.len() < expect {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            break;
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if s.read_exact(&mut msg).is_err() {
            break;
        }
        out.push(msg);
    }
    out
}

/// RCODE of a raw answer.
pub fn rcode(answer: &[u8]) -> u8 {
    answer.get(3).map_or(255, |b| b & 0x0f)
}

/// What `dig` printed, parsed.
#[derive(Debug, Clone, Default)]
pub struct Dig {
    pub status: String,
    pub id: u16,
    pub flags: Vec<String>,
    pub question: Vec<String>,
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    /// `15 (Blocked): (blocked by dns.deny:evil.test)`
    pub ede: Option<String>,
    pub edns: Option<String>,
    pub raw: String,
}

impl Dig {
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    /// The record types in the answer section, in order.
    pub fn answer_types(&self) -> Vec<String> {
        self.answer
            .iter()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }
}

/// Runs `dig @server -p port NAME TYPE +tries=1 +timeout=3 EXTRA...` and parses the output.
pub fn dig(server: SocketAddr, name: &str, qtype: &str, extra: &[&str]) -> Dig {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .arg(name)
        .arg(qtype)
        .args(["+tries=1", "+timeout=4"])
        .args(extra)
        .output()
        .expect("run dig");
    parse_dig(&String::from_utf8_lossy(&out.stdout))
}

pub fn parse_dig(text: &str) -> Dig {
    let mut d = Dig {
        raw: text.to_string(),
        ..Dig::default()
    };
    let mut section = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<- ") {
            for part in rest.split(", ") {
                if let Some(s) = part.strip_prefix("status: ") {
                    d.status = s.to_string();
                }
                if let Some(s) = part.strip_prefix("id: ") {
                    d.id = s.trim().parse().unwrap_or(0);
                }
            }
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            let flags = rest.split(';').next().unwrap_or("");
            d.flags = flags.split_whitespace().map(str::to_string).collect();
        } else if let Some(rest) = line.strip_prefix("; EDE: ") {
            d.ede = Some(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("; EDNS: ") {
            d.edns = Some(rest.to_string());
        } else if line.starts_with(";; QUESTION SECTION") {
            section = "q";
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "an";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "ns";
        } else if line.starts_with(";; ADDITIONAL SECTION")
            || line.starts_with(";;")
            || line.is_empty()
        {
            section = "";
        } else {
            match section {
                "q" => d.question.push(line.trim_start_matches(';').to_string()),
                "an" => d.answer.push(line.to_string()),
                "ns" => d.authority.push(line.to_string()),
                _ => {}
            }
        }
    }
    d
}

/// Whether the DNS tests can run here (dnsmasq and dig installed); see [`crate::require`].
pub fn dns_tools(test: &str) -> bool {
    crate::require::commands(test, &["dnsmasq", "dig"])
}

/// Writes a policy file into `dir` and returns its path.
pub fn write_policy(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write policy");
    path
}

/// Replaces a file the way an editor or a config agent does: write a temporary file, rename.
pub fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).expect("write temp policy");
    std::fs::rename(&tmp, path).expect("rename policy");
}
