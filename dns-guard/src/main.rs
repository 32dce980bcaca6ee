//! `dns-guard`: the command line over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dns_guard::{audits, commands, serve};

#[derive(Parser)]
#[command(
    name = "dns-guard",
    version,
    about = "TaskGuard's policy-enforcing DNS sidecar"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve DNS on --listen, enforcing the policy; audit events go to stdout as JSON lines.
    Serve(ServeArgs),
    /// Exit 0 only if the guard on --listen answers a DNS query (the ECS healthCheck command).
    Health {
        #[arg(long, default_value = guard_contract::DNS_LISTEN)]
        listen: SocketAddr,
        /// Also require 200 from this admin address's /healthz.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Seconds to wait for each answer.
        #[arg(long, default_value_t = 2)]
        timeout: u64,
    },
    /// Print each name's (or address's: `203.0.113.5`, `[fd00::1]:443`) verdict and the rule
    /// that decided it.
    Check {
        #[arg(long)]
        policy: PathBuf,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Report every error in a policy file (exit 1 if there is any).
    Validate { policy: PathBuf },
    /// Print the audit log as a report: blocked and alerted names, programs, connections and
    /// web attacks, grouped and counted by container, rule and program (docs/audits.md).
    Audits(audits::AuditsArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Policy file (.toml or .json) or http(s):// URL; watched and reloaded on change.
    #[arg(long)]
    policy: String,
    /// Address for DNS over UDP and TCP.
    #[arg(long, default_value = guard_contract::DNS_LISTEN)]
    listen: SocketAddr,
    /// Upstream resolver (repeatable, tried in order). Default: the nameservers of
    /// /etc/resolv.conf except --listen.
    #[arg(long = "upstream")]
    upstreams: Vec<SocketAddr>,
    /// Publish policy.bin and policy.json here and receive shim events on events.sock.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Admin HTTP address for /healthz and /metrics.
    #[arg(long, default_value = guard_contract::ADMIN_LISTEN)]
    admin: SocketAddr,
    /// Do not serve admin HTTP.
    #[arg(long, conflicts_with = "admin")]
    no_admin: bool,
    /// Largest number of cached answers.
    #[arg(long, default_value_t = 10_000)]
    cache_size: usize,
    /// Longest time (seconds) an answer is cached, whatever its TTL.
    #[arg(long, default_value_t = 300)]
    cache_max_ttl: u32,
    /// Disable the answer cache.
    #[arg(long)]
    no_cache: bool,
    /// Milliseconds to wait for an upstream before retrying on the next one (then SERVFAIL).
    #[arg(long, default_value_t = 1200)]
    upstream_timeout_ms: u64,
    /// Queries forwarded and not yet answered at most; beyond that, SERVFAIL.
    #[arg(long, default_value_t = 8192)]
    max_inflight: usize,
    /// Milliseconds between polls of an http(s):// policy source.
    #[arg(long, default_value_t = 5000)]
    http_poll_ms: u64,
    /// UDP listening sockets (SO_REUSEPORT); 0 means one per core.
    #[arg(long, default_value_t = 0)]
    udp_sockets: usize,
    /// Runtime threads. Default: sized from the cgroup CPU quota and the affinity mask (one
    /// thread, a current-thread runtime, at one CPU or less).
    #[arg(long)]
    threads: Option<usize>,
    /// Slots of the answers ledger (answers.bin in --run-dir), each one address of an
    /// allowed name; rounded up to a power of two. When full, the entries closest to expiry
    /// make room.
    #[arg(long, default_value_t = guard_ledger::DEFAULT_SLOTS)]
    ledger_slots: u32,
    /// Where the default upstreams are read from.
    #[arg(long, default_value = "/etc/resolv.conf", hide = true)]
    resolv_conf: PathBuf,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dns-guard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Audits(a) => audits::run(a).map(|()| ExitCode::SUCCESS),
        Command::Serve(a) => {
            let admin = (!a.no_admin).then_some(a.admin);
            serve::serve(serve::ServeConfig {
                policy: a.policy,
                listen: a.listen,
                upstreams: a.upstreams,
                run_dir: a.run_dir,
                admin,
                cache_size: a.cache_size,
                cache_max_ttl: a.cache_max_ttl,
                no_cache: a.no_cache,
                upstream_timeout: Duration::from_millis(a.upstream_timeout_ms.max(10)),
                max_inflight: a.max_inflight.max(1),
                http_poll: Duration::from_millis(a.http_poll_ms.max(100)),
                udp_sockets: a.udp_sockets,
                resolv_conf: a.resolv_conf,
                threads: a.threads.filter(|n| *n > 0),
                ledger_slots: a.ledger_slots.clamp(16, 1 << 24),
            })
            .context("serve")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Health {
            listen,
            admin,
            timeout,
        } => {
            commands::health(listen, admin, Duration::from_secs(timeout.max(1)))
                .context("unhealthy")?;
            println!("healthy: {listen} answers DNS");
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { policy, names } => {
            let (mode, lines) = commands::check(&policy, &names)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("policy {} is invalid", policy.display()))?;
            print!("{}", commands::render_check(mode, &lines));
            let invalid = lines.iter().any(|l| l.verdict == "invalid");
            Ok(if invalid {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Validate { policy } => match commands::validate(&policy) {
            Ok(summary) => {
                println!("{summary}");
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors.0 {
                    eprintln!("{e}");
                }
                eprintln!("{}: {} error(s)", policy.display(), errors.0.len());
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
