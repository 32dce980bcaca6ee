//! Hot reload: watch the policy source and swap in a new compiled policy atomically.
//!
//! A file is polled every 250 ms (modification time, size, inode, change time: editors that
//! replace the file by rename change the inode) and re-read on SIGHUP; an http:// source is
//! polled with If-None-Match. A new policy is compiled off the query path, published to the
//! run directory, then swapped in with one atomic pointer store: queries in progress finish
//! with the policy they started with and none are dropped. An invalid policy is refused with
//! a `policy` event and the old one keeps serving.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use guard_policy::CompiledPolicy;
use tokio::signal::unix::{SignalKind, signal};

use crate::audit::Event;
use crate::guard::{Active, Guard};
use crate::publish;
use crate::source::{self, Fetch, HttpUrl, PolicySource, SourceError};

pub const FILE_POLL: Duration = Duration::from_millis(250);

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    mtime: (i64, i64),
    ctime: (i64, i64),
    size: u64,
    inode: u64,
}

pub fn stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        size: m.size(),
        inode: m.ino(),
    })
}

pub struct Reloader {
    pub guard: Arc<Guard>,
    pub source: PolicySource,
    pub run_dir: Option<PathBuf>,
    pub http_poll: Duration,
}

impl Reloader {
    /// Takes a newly read policy (or the error reading it) into service.
    pub fn apply(&self, result: Result<CompiledPolicy, SourceError>) {
        let guard = &self.guard;
        let source = self.source.describe();
        let compiled = match result {
            Ok(c) => c,
            Err(e) => {
                guard.metrics.reloads_failed.fetch_add(1, Relaxed);
                eprintln!("dns-guard: policy refused, the previous one keeps serving: {e}");
                guard.audit.emit(Event::Policy {
                    action: "rejected",
                    source,
                    version: None,
                    error: Some(e.to_string()),
                });
                return;
            }
        };
        // Every successful load counts; only a new version is published, swapped and reported.
        guard.metrics.reloads_ok.fetch_add(1, Relaxed);
        if compiled.version() == &*guard.policy.load().version {
            return;
        }
        // An invalid [waf] (rules that do not load) refuses the whole policy.
        let waf = match crate::cnaf::prepare(&compiled) {
            Ok(w) => w,
            Err(e) => {
                guard.metrics.reloads_failed.fetch_add(1, Relaxed);
                eprintln!("dns-guard: policy refused, the previous one keeps serving: {e}");
                guard.audit.emit(Event::Policy {
                    action: "rejected",
                    source,
                    version: Some(compiled.version().to_string()),
                    error: Some(e.to_string()),
                });
                return;
            }
        };
        if let Some(dir) = &self.run_dir
            && let Err(e) = publish::publish(dir, &compiled)
        {
            // The guard itself can still enforce the new policy; the shims keep the old one
            // until publishing works again.
            eprintln!("dns-guard: {e}");
            guard.audit.emit(Event::Policy {
                action: "publish-failed",
                source: source.clone(),
                version: Some(compiled.version().to_string()),
                error: Some(e.to_string()),
            });
        }
        let version = compiled.version().to_string();
        guard
            .policy
            .store(Arc::new(Active::new(compiled, source.clone())));
        crate::cnaf::commit(waf, || guard.audit.clone());
        eprintln!("dns-guard: policy {version} loaded from {source}");
        guard.audit.emit(Event::Policy {
            action: "loaded",
            source,
            version: Some(version),
            error: None,
        });
    }

    pub async fn run(self, mut file_stamp: Option<FileStamp>, mut etag: Option<String>) {
        let mut hup = signal(SignalKind::hangup()).ok();
        let poll = match &self.source {
            PolicySource::File(_) => FILE_POLL,
            PolicySource::Http(_) => self.http_poll,
        };
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let forced = tokio::select! {
                _ = tick.tick() => false,
                Some(()) = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => true,
            };
            match &self.source {
                PolicySource::File(path) => {
                    let now = stamp(path);
                    if now == file_stamp && !forced {
                        continue;
                    }
                    file_stamp = now;
                    let path = path.clone();
                    let result =
                        tokio::task::spawn_blocking(move || source::load_file(&path)).await;
                    match result {
                        Ok(r) => self.apply(r),
                        Err(e) => eprintln!("dns-guard: policy reload task failed: {e}"),
                    }
                }
                PolicySource::Http(url) => {
                    let tag = if forced { None } else { etag.clone() };
                    if let Some(new_tag) = self.poll_http(url, tag).await {
                        etag = new_tag;
                    }
                }
            }
        }
    }

    /// One conditional GET; returns the ETag to use next time when a body arrived.
    async fn poll_http(&self, url: &HttpUrl, etag: Option<String>) -> Option<Option<String>> {
        match source::fetch(url, etag.as_deref()).await {
            Ok(Fetch::NotModified) => None,
            Ok(Fetch::Body { text, etag }) => {
                let origin = url.text.clone();
                let result =
                    tokio::task::spawn_blocking(move || source::compile_text(&text, &origin)).await;
                match result {
                    Ok(r) => self.apply(r),
                    Err(e) => eprintln!("dns-guard: policy reload task failed: {e}"),
                }
                Some(etag)
            }
            Err(e) => {
                // Unreachable server: keep serving and keep the ETag, without an event per
                // poll (a down console must not flood the audit log).
                self.guard.metrics.reloads_failed.fetch_add(1, Relaxed);
                eprintln!("dns-guard: policy poll failed: {e}");
                None
            }
        }
    }
}
