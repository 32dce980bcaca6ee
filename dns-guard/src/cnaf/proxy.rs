//! The listener and the per-request path: access control, inspection, block or forward.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use guard_waf::{Action, Verdict};
use http_body::Body as _;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::body::Prefixed;
use super::report::Report;
use super::{Cnaf, Settings};
use crate::audit::Event;

pub type Out = BoxBody<Bytes, hyper::Error>;
type Upstream = Client<HttpConnector, Prefixed>;

/// Accepts connections on `listen` until the process ends.
pub async fn listen(cnaf: Arc<Cnaf>, listen: SocketAddr) {
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("dns-guard: waf: cannot listen on {listen}: {e}");
            cnaf.audit.emit(Event::Policy {
                action: "waf-listen-failed",
                source: listen.to_string(),
                version: None,
                error: Some(e.to_string()),
            });
            return;
        }
    };
    eprintln!("dns-guard: waf proxy on {listen}");
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let upstream: Upstream = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_timer(TokioTimer::new())
        .build(connector);
    let open = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(settings) = cnaf.settings.load_full() else {
            continue;
        };
        if open.load(Relaxed) >= u64::from(settings.limits.max_connections) {
            cnaf.metrics.malformed.fetch_add(1, Relaxed);
            continue; // dropped: over the connection limit
        }
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, Relaxed);
        let (cnaf, upstream, open) = (cnaf.clone(), upstream.clone(), open.clone());
        tokio::spawn(async move {
            serve_connection(cnaf, upstream, stream, peer, &settings).await;
            open.fetch_sub(1, Relaxed);
        });
    }
}

async fn serve_connection(
    cnaf: Arc<Cnaf>,
    upstream: Upstream,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    settings: &Settings,
) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .half_close(true)
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(u64::from(
            settings.limits.header_timeout,
        )))
        .max_buf_size((settings.limits.header_bytes as usize).max(8192));
    builder.http2().timer(TokioTimer::new());
    let service = hyper::service::service_fn(move |req| {
        let (cnaf, upstream) = (cnaf.clone(), upstream.clone());
        async move { Ok::<_, Infallible>(handle(cnaf, upstream, peer, req).await) }
    });
    let idle = Duration::from_secs(u64::from(settings.limits.idle_timeout));
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    // The idle timeout bounds a connection's whole life without requests; hyper's own
    // header timeout handles slow heads.
    let _ = tokio::time::timeout(idle.max(Duration::from_secs(1)) * 60, conn).await;
}

static EVENT_SEQ: AtomicU64 = AtomicU64::new(0);

/// Short, unique within the process, sortable: hex milliseconds + sequence.
fn event_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{ms:x}-{:x}", EVENT_SEQ.fetch_add(1, Relaxed))
}

fn full(body: impl Into<Bytes>) -> Out {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

fn simple(status: StatusCode, text: &'static str) -> Response<Out> {
    let mut r = Response::new(full(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn block_page(settings: &Settings, id: &str) -> Response<Out> {
    let body = settings.block_body.replace("{event_id}", id);
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(settings.block_status).unwrap_or(StatusCode::FORBIDDEN);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert(HeaderName::from_static("x-taskguard-event-id"), v);
    }
    r
}

/// The client as policy sees it: the peer, or the first X-Forwarded-For address.
fn client_of(settings: &Settings, peer: IpAddr, req: &Request<Incoming>) -> IpAddr {
    if !settings.behind_load_balancer {
        return peer;
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

/// One decision outside the engine (access control, limits).
struct Finding {
    protection: &'static str,
    action: Action,
    reason: String,
}

fn header_findings(settings: &Settings, req: &Request<Incoming>) -> Option<Finding> {
    for rule in &settings.headers {
        let values: Vec<&[u8]> = req
            .headers()
            .get_all(rule.name.as_str())
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        let fires = if rule.required {
            values.is_empty()
        } else if rule.values.is_empty() {
            !values.is_empty()
        } else {
            values.iter().any(|v| {
                let v = String::from_utf8_lossy(v);
                rule.values.iter().any(|r| r.is_match(&v))
            })
        };
        if fires {
            let reason = if rule.required {
                format!("header {} is required", rule.name)
            } else {
                format!("header {} matches a header rule", rule.name)
            };
            return Some(Finding {
                protection: "headers",
                action: rule.action,
                reason,
            });
        }
    }
    None
}

/// Reads the body up to the limit. Returns what was read, whether more follows, and the
/// rest of the stream.
async fn read_prefix(
    mut body: Incoming,
    limit: usize,
) -> Result<(Bytes, bool, Option<Incoming>), hyper::Error> {
    let mut buf = BytesMut::new();
    while buf.len() <= limit {
        if body.is_end_stream() {
            return Ok((buf.freeze(), false, None));
        }
        match body.frame().await {
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            None => return Ok((buf.freeze(), false, None)),
        }
    }
    Ok((buf.freeze(), true, Some(body)))
}

async fn handle(
    cnaf: Arc<Cnaf>,
    upstream: Upstream,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Out> {
    let Some(settings) = cnaf.settings.load_full() else {
        return simple(StatusCode::SERVICE_UNAVAILABLE, "waf disabled\n");
    };
    let client = client_of(&settings, peer.ip(), &req);
    if cnaf.bans.banned(client) {
        cnaf.metrics.banned_refused.fetch_add(1, Relaxed);
        let id = event_id();
        return block_page(&settings, &id);
    }
    let method = req.method().as_str().to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(ToString::to_string))
        .unwrap_or_default();
    let path = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), ToString::to_string);

    let report = |action: &str,
                  protections: Vec<&str>,
                  verdict: Option<&Verdict>,
                  reason: Option<&str>,
                  id: &str,
                  status: u16| {
        cnaf.audit.emit(Event::Waf(
            Report {
                action,
                client,
                method: &method,
                host: &host,
                path: &path,
                protections,
                verdict,
                reason,
                event_id: id,
                policy_version: &settings.version,
                status,
            }
            .to_fields(),
        ));
    };
    // Applies an action outside the engine: Some(response) when the request stops here.
    let enforce = |finding: &Finding| -> Option<Response<Out>> {
        let id = event_id();
        let stops = matches!(finding.action, Action::Prevent | Action::Ban);
        if stops && settings.audit {
            cnaf.metrics.would_block.fetch_add(1, Relaxed);
            report(
                "would-block",
                vec![finding.protection],
                None,
                Some(&finding.reason),
                &id,
                0,
            );
            return None;
        }
        match finding.action {
            Action::Disable => None,
            Action::Alert => {
                cnaf.metrics.alerted.fetch_add(1, Relaxed);
                report(
                    "alert",
                    vec![finding.protection],
                    None,
                    Some(&finding.reason),
                    &id,
                    0,
                );
                None
            }
            Action::Prevent | Action::Ban => {
                if finding.action == Action::Ban {
                    cnaf.bans.ban(client, settings.ban);
                }
                cnaf.metrics.blocked.fetch_add(1, Relaxed);
                report(
                    finding.action.as_str(),
                    vec![finding.protection],
                    None,
                    Some(&finding.reason),
                    &id,
                    settings.block_status,
                );
                Some(block_page(&settings, &id))
            }
        }
    };

    if settings.denied(client) {
        let f = Finding {
            protection: "access",
            action: Action::Prevent,
            reason: "client network is denied".into(),
        };
        if let Some(r) = enforce(&f) {
            return r;
        }
    }
    let exempt = settings.exempt(client);
    if !exempt {
        if let Some((burst, average, action)) = settings.rate
            && cnaf.bans.over_rate(client, burst, average)
        {
            let f = Finding {
                protection: "rate",
                action,
                reason: format!("over the rate limit (burst {burst}/5s, average {average}/s)"),
            };
            if let Some(r) = enforce(&f) {
                return r;
            }
        }
        if let Some(f) = header_findings(&settings, &req)
            && let Some(r) = enforce(&f)
        {
            return r;
        }
    }

    // WebSocket and other upgrades: the upgrade request itself is inspected like any other;
    // after the app's 101 the two streams are joined.
    let mut req = req;
    let on_upgrade = req
        .headers()
        .contains_key(header::UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let (prefix, truncated, rest) = if exempt {
        (Bytes::new(), false, Some(body))
    } else {
        match read_prefix(body, settings.body_limit).await {
            Ok(v) => v,
            Err(_) => {
                cnaf.metrics.malformed.fetch_add(1, Relaxed);
                return simple(StatusCode::BAD_REQUEST, "bad request body\n");
            }
        }
    };
    if truncated {
        let f = Finding {
            protection: "body",
            action: settings.body_over_limit,
            reason: format!(
                "body longer than the inspection limit of {} bytes",
                settings.body_limit
            ),
        };
        if let Some(r) = enforce(&f) {
            return r;
        }
    }

    if !exempt {
        let headers: Vec<(&[u8], &[u8])> = parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
            .collect();
        let protocol = match parts.version {
            hyper::Version::HTTP_2 => "HTTP/2.0",
            hyper::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        let request = guard_waf::Request {
            client,
            method: &method,
            target: path.as_bytes(),
            protocol,
            headers: &headers,
            body: &prefix[..prefix.len().min(settings.body_limit)],
            body_truncated: truncated,
        };
        let started = Instant::now();
        let verdict = settings.engine.inspect(&request);
        cnaf.metrics.inspected(started.elapsed());
        if let Some(action) = verdict.action {
            for p in &verdict.protections {
                cnaf.metrics.protection(*p);
            }
            let names: Vec<&str> = verdict.protections.iter().map(|p| p.as_str()).collect();
            let id = event_id();
            if verdict.blocks() && settings.audit {
                cnaf.metrics.would_block.fetch_add(1, Relaxed);
                report("would-block", names, Some(&verdict), None, &id, 0);
            } else if verdict.blocks() {
                if action == Action::Ban {
                    cnaf.bans.ban(client, settings.ban);
                }
                cnaf.metrics.blocked.fetch_add(1, Relaxed);
                report(
                    action.as_str(),
                    names,
                    Some(&verdict),
                    None,
                    &id,
                    settings.block_status,
                );
                return block_page(&settings, &id);
            } else if action == Action::Alert {
                cnaf.metrics.alerted.fetch_add(1, Relaxed);
                report("alert", names, Some(&verdict), None, &id, 0);
            }
        }
    }

    let body = Prefixed {
        prefix: Some(prefix),
        rest,
    };
    forward(
        &cnaf, &settings, upstream, peer, &mut parts, body, on_upgrade,
    )
    .await
}

/// Headers that describe one hop, not the request (RFC 9110 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

async fn forward(
    cnaf: &Cnaf,
    settings: &Settings,
    upstream: Upstream,
    peer: SocketAddr,
    parts: &mut hyper::http::request::Parts,
    body: Prefixed,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<Out> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let Ok(uri) = format!("http://{}{path}", settings.app).parse::<hyper::Uri>() else {
        return simple(StatusCode::BAD_REQUEST, "bad request target\n");
    };
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = std::mem::take(&mut parts.headers);
    // HTTP/2 clients send :authority instead of Host; the app still needs one.
    if !req.headers().contains_key(header::HOST)
        && let Some(a) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        req.headers_mut().insert(header::HOST, v);
    }
    let h = req.headers_mut();
    if on_upgrade.is_none() {
        for name in HOP_BY_HOP {
            h.remove(name);
        }
    }
    let peer_ip = peer.ip().to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {peer_ip}"),
        None => peer_ip.clone(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    h.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    let node = if peer.is_ipv6() {
        format!("\"[{peer_ip}]\"")
    } else {
        peer_ip
    };
    let fwd = match h.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, for={node};proto=http"),
        None => format!("for={node};proto=http"),
    };
    if let Ok(v) = HeaderValue::from_str(&fwd) {
        h.insert(header::FORWARDED, v);
    }
    match upstream.request(req).await {
        Ok(mut resp) => {
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS
                && let Some(client_side) = on_upgrade
            {
                let app_side = hyper::upgrade::on(&mut resp);
                tokio::spawn(async move {
                    if let (Ok(c), Ok(a)) = (client_side.await, app_side.await) {
                        let (mut c, mut a) = (TokioIo::new(c), TokioIo::new(a));
                        let _ = tokio::io::copy_bidirectional(&mut c, &mut a).await;
                    }
                });
            }
            let mut resp = resp.map(|b| b.boxed());
            rewrite_response(settings, &mut resp);
            resp
        }
        Err(_) => {
            cnaf.metrics.upstream_errors.fetch_add(1, Relaxed);
            simple(StatusCode::BAD_GATEWAY, "502 the app is not answering\n")
        }
    }
}

fn rewrite_response(settings: &Settings, resp: &mut Response<Out>) {
    let h = resp.headers_mut();
    if settings.response.strip_server_headers {
        for name in [
            "server",
            "x-powered-by",
            "x-aspnet-version",
            "x-aspnetmvc-version",
        ] {
            h.remove(name);
        }
    }
    if let Some(v) = &settings.response.frame_options
        && let Ok(v) = HeaderValue::from_str(v)
    {
        h.insert(HeaderName::from_static("x-frame-options"), v);
    }
    if let Some(same_site) = &settings.response.same_site {
        let cookies: Vec<HeaderValue> = h.get_all(header::SET_COOKIE).iter().cloned().collect();
        if !cookies.is_empty() {
            h.remove(header::SET_COOKIE);
            for c in cookies {
                let text = String::from_utf8_lossy(c.as_bytes());
                let value = if text.to_ascii_lowercase().contains("samesite=") {
                    c
                } else {
                    HeaderValue::from_str(&format!("{text}; SameSite={same_site}")).unwrap_or(c)
                };
                h.append(header::SET_COOKIE, value);
            }
        }
    }
}
