//! What surrounds a task in a VPC, inside the task's network namespace: the VPC resolver
//! (Debian's dnsmasq answering a test zone, with its query log) and "internet" hosts (HTTP
//! servers on other loopback addresses, with their request logs).
//!
//! Both logs are evidence: a denied name must never show up in the resolver's log, and a
//! denied program or name must never produce a request on an internet host.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::netns::{NetNs, setns_raw};

/// One record of the test zone.
#[derive(Debug, Clone)]
pub enum Record {
    /// `name A ip`
    A { name: String, ip: Ipv4Addr },
    /// `alias CNAME target` (the target must have an A record in the zone).
    Cname { alias: String, target: String },
}

/// The VPC resolver's address in the task's namespace (the "VPC+2" resolver).
pub const RESOLVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Starts a process inside the namespace (host filesystem), in its own process group.
pub fn spawn_in(netns: &NetNs, command: &mut Command) -> Result<Child> {
    let net = netns.open()?;
    command.stdin(Stdio::null()).process_group(0);
    // SAFETY: the hook only makes one raw system call.
    unsafe {
        command.pre_exec(move || setns_raw(&net, libc::CLONE_NEWNET));
    }
    command
        .spawn()
        .with_context(|| format!("starting {command:?}"))
}

/// Runs `f` with the calling thread inside the namespace, on a scoped thread so the caller's
/// own namespace never changes.
pub fn in_netns<T: Send>(netns: &NetNs, f: impl FnOnce() -> T + Send) -> Result<T> {
    let net = netns.open()?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                setns_raw(&net, libc::CLONE_NEWNET).context("entering the task namespace")?;
                Ok(f())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("thread in the task namespace panicked"))?
    })
}

/// The VPC resolver: dnsmasq serving only the zone, logging every query.
pub struct Resolver {
    pub child: Child,
    pub log: PathBuf,
}

impl Resolver {
    pub fn start(netns: &NetNs, dir: &Path, zone: &[Record]) -> Result<Resolver> {
        let conf = dir.join("dnsmasq.conf");
        let log = dir.join("vpc-resolver.log");
        let mut text = format!(
            "# the VPC resolver of the local task run\n\
             listen-address={RESOLVER_IP}\nbind-interfaces\nport=53\n\
             no-resolv\nno-hosts\nno-poll\nlog-queries\nlog-facility={}\n\
             local=/test/\nuser=root\n",
            log.display()
        );
        for record in zone {
            match record {
                Record::A { name, ip } => text.push_str(&format!("host-record={name},{ip}\n")),
                Record::Cname { alias, target } => {
                    text.push_str(&format!("cname={alias},{target}\n"))
                }
            }
        }
        std::fs::write(&conf, text).with_context(|| format!("writing {}", conf.display()))?;
        File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let stderr = File::create(dir.join("vpc-resolver.stderr"))?;
        let child = spawn_in(
            netns,
            Command::new("dnsmasq")
                .arg("--keep-in-foreground")
                .arg(format!("--conf-file={}", conf.display()))
                .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
                .stdout(Stdio::null())
                .stderr(stderr),
        )?;
        let resolver = Resolver { child, log };
        in_netns(netns, || wait_udp_dns(SocketAddr::from((RESOLVER_IP, 53))))??;
        Ok(resolver)
    }

    /// Query names the resolver received, lower-cased (from dnsmasq's `query[A] NAME from`).
    pub fn queried_names(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| line.split_once("query[").map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_once("] ").map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_ascii_lowercase)
            .collect()
    }
}

/// Waits until something answers DNS on `addr` (a query for `.` NS gets any reply).
fn wait_udp_dns(addr: SocketAddr) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("binding a UDP socket")?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    // ID 0x1234, RD, one question: root, NS, IN.
    let query = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        let _ = socket.send_to(&query, addr);
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && n >= 2
            && buf[..2] == query[..2]
        {
            return Ok(());
        }
    }
    bail!("nothing answered DNS on {addr} within 10 s")
}

/// Waits until a TCP port accepts connections (inside the namespace).
pub fn wait_tcp(netns: &NetNs, addr: SocketAddr, within: Duration) -> Result<()> {
    in_netns(netns, || {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("nothing listened on {addr} within {within:?}")
    })?
}

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The internet hosts: one Python process serving HTTP on port 80 of each address (and
/// optionally files from a directory on one more address), logging `IP METHOD PATH` lines.
pub struct Internet {
    pub child: Child,
    pub log: PathBuf,
}

const SERVER: &str = r#"
import http.server, socketserver, sys, threading, os
log = open(sys.argv[1], "a", buffering=1)
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        ip = self.connection.getsockname()[0]
        log.write(f"{ip} GET {self.path}\n")
        if self.server.files:
            return super().do_GET()
        body = f"hello from {ip}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def translate_path(self, path):
        return os.path.join(self.server.files, path.lstrip("/").split("?")[0])
    def log_message(self, *args):
        pass
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
servers = []
for spec in sys.argv[2:]:
    addr, _, files = spec.partition("=")
    host, port = addr.rsplit(":", 1)
    s = Server((host, int(port)), Handler)
    s.files = files
    servers.append(s)
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
servers[0].serve_forever()
"#;

impl Internet {
    /// Serves `hosts` (port 80 each) and, when given, the files of `files.1` on `files.0`.
    pub fn start(
        netns: &NetNs,
        dir: &Path,
        hosts: &[Ipv4Addr],
        files: Option<(SocketAddr, &Path)>,
    ) -> Result<Internet> {
        let log = dir.join("internet.log");
        File::create(&log)?;
        // Debian's python3 directly: a version manager's shim on PATH (pyenv) costs a second.
        let python = if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut command = Command::new(python);
        command.arg("-c").arg(SERVER).arg(&log);
        for ip in hosts {
            command.arg(format!("{ip}:80"));
        }
        if let Some((addr, path)) = files {
            command.arg(format!("{addr}={}", path.display()));
        }
        command
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("internet.stderr"))?);
        let child = spawn_in(netns, &mut command)?;
        let internet = Internet { child, log };
        for ip in hosts {
            wait_tcp(netns, SocketAddr::from((*ip, 80)), Duration::from_secs(10))?;
        }
        if let Some((addr, _)) = files {
            wait_tcp(netns, addr, Duration::from_secs(10))?;
        }
        Ok(internet)
    }

    /// `(ip, path)` of every request received so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut parts = line.split(' ');
                let ip = parts.next()?;
                let _method = parts.next()?;
                Some((ip.to_string(), parts.next()?.to_string()))
            })
            .collect()
    }
}
