//! `dns-guard serve`: wires the parts together and runs until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use crate::audit::{Audit, Event};
use crate::cache::Cache;
use crate::cpus::CpuBudget;
use crate::forward::{ForwardConfig, Forwarder, UpstreamSocketError, upstreams_from_resolv_conf};
use crate::guard::{Active, Guard};
use crate::metrics::Metrics;
use crate::publish::{self, PublishError};
use crate::reload::{self, Reloader};
use crate::server::{self, BindError};
use crate::source::{self, Fetch, PolicySource, SourceError};

#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// A file path or an http:// URL.
    pub policy: String,
    pub listen: SocketAddr,
    /// Empty: the nameservers of /etc/resolv.conf.
    pub upstreams: Vec<SocketAddr>,
    pub run_dir: Option<PathBuf>,
    pub admin: Option<SocketAddr>,
    pub cache_size: usize,
    pub cache_max_ttl: u32,
    pub no_cache: bool,
    pub upstream_timeout: Duration,
    pub max_inflight: usize,
    pub http_poll: Duration,
    /// UDP listening sockets; 0 = one per core.
    pub udp_sockets: usize,
    pub resolv_conf: PathBuf,
    /// Runtime threads; None = sized from the CPU quota and affinity (see `cpus`).
    pub threads: Option<usize>,
    /// Slots of the answers ledger (`answers.bin`), rounded up to a power of two.
    pub ledger_slots: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("no upstream resolver: none given with --upstream and none usable in {0}")]
    NoUpstream(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamSocketError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("cannot create the run directory {dir}: {error}")]
    RunDir { dir: String, error: std::io::Error },
    #[error("cannot create the answers ledger in {dir}: {error}")]
    Ledger { dir: String, error: std::io::Error },
    #[error("cannot bind the shim event socket in {dir}: {error}")]
    EventSocket { dir: String, error: std::io::Error },
    #[error("cannot listen for admin HTTP on {addr}: {error}")]
    Admin {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Waf(#[from] crate::cnaf::SettingsError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let budget = CpuBudget::detect(config.threads);
    let cores = budget.threads;
    // At one CPU or less, one thread answers with less CPU per query than a pool: no
    // cross-thread wake-ups, no work stealing, no idle workers spinning before they park.
    let runtime = if cores <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .enable_all()
            .build()
    }
    .map_err(ServeError::Runtime)?;
    eprintln!("dns-guard: {}", budget.describe());
    runtime.block_on(run(config, cores))
}

async fn run(config: ServeConfig, cores: usize) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::default());
    let audit = Audit::start(metrics.clone(), Box::new(std::io::stdout()));
    let source = PolicySource::parse(&config.policy)?;
    let described = source.describe();

    let initial = initial_policy(&source).await;
    let (compiled, file_stamp, etag) = match initial {
        Ok(v) => v,
        Err(e) => {
            audit.emit(Event::Policy {
                action: "rejected",
                source: described,
                version: None,
                error: Some(e.to_string()),
            });
            audit.flush(Duration::from_secs(2));
            return Err(e.into());
        }
    };

    let upstreams = if config.upstreams.is_empty() {
        let text = std::fs::read_to_string(&config.resolv_conf).unwrap_or_default();
        upstreams_from_resolv_conf(&text, config.listen)
    } else {
        config.upstreams.clone()
    };
    if upstreams.is_empty() {
        return Err(ServeError::NoUpstream(
            config.resolv_conf.display().to_string(),
        ));
    }

    if let Some(dir) = &config.run_dir {
        std::fs::create_dir_all(dir).map_err(|error| ServeError::RunDir {
            dir: dir.display().to_string(),
            error,
        })?;
        publish::publish(dir, &compiled)?;
    }
    let events = match &config.run_dir {
        Some(dir) => Some(
            crate::events::bind(dir).map_err(|error| ServeError::EventSocket {
                dir: dir.display().to_string(),
                error,
            })?,
        ),
        None => None,
    };

    let forwarder = Forwarder::new(ForwardConfig {
        upstreams: upstreams.clone(),
        sockets_per_upstream: cores.clamp(2, 8),
        max_inflight: config.max_inflight,
        timeout: config.upstream_timeout,
    })?;
    let cache = (!config.no_cache && config.cache_size > 0)
        .then(|| Cache::new(config.cache_size, config.cache_max_ttl));
    let waf = match crate::cnaf::prepare(&compiled) {
        Ok(w) => w,
        Err(e) => {
            audit.emit(Event::Policy {
                action: "rejected",
                source: described,
                version: Some(compiled.version().to_string()),
                error: Some(e.to_string()),
            });
            audit.flush(Duration::from_secs(2));
            return Err(e.into());
        }
    };
    let version = compiled.version().to_string();
    let guard = Arc::new(Guard::new(
        Active::new(compiled, described.clone()),
        metrics.clone(),
        audit,
        cache,
        forwarder,
    ));
    if let Some(dir) = &config.run_dir {
        let ledger =
            crate::ledger::LedgerFile::open(dir, config.ledger_slots).map_err(|error| {
                ServeError::Ledger {
                    dir: dir.display().to_string(),
                    error,
                }
            })?;
        let _ = guard.ledger.set(ledger);
    }
    guard
        .metrics
        .reloads_ok
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    guard.audit.emit(Event::Policy {
        action: "loaded",
        source: described.clone(),
        version: Some(version.clone()),
        error: None,
    });

    let udp_count = if config.udp_sockets == 0 {
        cores
    } else {
        config.udp_sockets
    };
    let (udp, tcp) = server::bind(config.listen, udp_count)?;
    let admin = match config.admin {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|error| ServeError::Admin { addr, error })?,
        ),
        None => None,
    };

    Forwarder::start(&guard);
    for socket in udp {
        tokio::spawn(server::udp_loop(guard.clone(), socket));
    }
    tokio::spawn(server::tcp_loop(guard.clone(), tcp));
    crate::cnaf::commit(waf, || guard.audit.clone());
    if let Some(listener) = admin {
        tokio::spawn(crate::admin::serve(guard.clone(), listener));
    }
    if let Some(sock) = events {
        tokio::spawn(crate::events::receive(guard.clone(), sock));
    }
    let reloader = Reloader {
        guard: guard.clone(),
        source,
        run_dir: config.run_dir.clone(),
        http_poll: config.http_poll,
    };
    tokio::spawn(reloader.run(file_stamp, etag));

    let upstream_list: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
    eprintln!(
        "dns-guard: serving DNS on {} (udp+tcp), policy {version} from {described}, upstreams {}{}",
        config.listen,
        upstream_list.join(","),
        config
            .admin
            .map(|a| format!(", admin on http://{a}"))
            .unwrap_or_default()
    );

    wait_for_shutdown().await;
    eprintln!("dns-guard: shutting down");
    guard.audit.flush(Duration::from_secs(3));
    Ok(())
}

type Initial = (
    guard_policy::CompiledPolicy,
    Option<reload::FileStamp>,
    Option<String>,
);

async fn initial_policy(source: &PolicySource) -> Result<Initial, SourceError> {
    match source {
        PolicySource::File(path) => {
            let stamp = reload::stamp(path);
            let path2 = path.clone();
            let compiled = tokio::task::spawn_blocking(move || source::load_file(&path2))
                .await
                .map_err(|e| SourceError::Read {
                    origin: path.display().to_string(),
                    error: std::io::Error::other(e.to_string()),
                })??;
            Ok((compiled, stamp, None))
        }
        PolicySource::Http(url) => match source::fetch(url, None).await? {
            Fetch::Body { text, etag } => Ok((source::compile_text(&text, &url.text)?, None, etag)),
            Fetch::NotModified => Err(SourceError::Http {
                url: url.text.clone(),
                reason: "304 Not Modified to an unconditional request".into(),
            }),
        },
    }
}

async fn wait_for_shutdown() {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}
