//! `guard-embed serve`: the embed, remove and check API over HTTP, and one page for people.
//!
//! The server only rewrites the documents it is sent ([`api`]): it runs nothing, fetches
//! nothing and reads no file a request names. Limits: a body cap, a deadline for the request
//! head and for the whole request, and an optional bearer token for the API. [`page`] is the
//! browser page, served from the binary.

pub mod api;
pub mod page;
pub mod query;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Map;

use crate::flags::Flags;
use api::Reply;
use query::Route;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The server's defaults for every embed flag; query parameters override them.
    pub defaults: Flags,
    /// Required as `Authorization: Bearer TOKEN` on the API when set.
    pub token: Option<String>,
    /// Largest request body accepted (413 beyond).
    pub max_body: usize,
    /// Deadline for the request head, and for the whole request once it started.
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

/// Serves until the process is stopped. Prints the address it listens on to stderr.
pub fn run(config: Config) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve(config))
}

async fn serve(config: Config) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    eprintln!(
        "guard-embed: serving on http://{} (POST /v1/embed, /v1/remove, /v1/check; GET / for the page)",
        listener.local_addr()?
    );
    let config = Arc::new(config);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // Out of descriptors and the like: wait a moment rather than spin or exit.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let config = config.clone();
        tokio::spawn(async move {
            let header_timeout = config.header_timeout;
            let service = hyper::service::service_fn(move |req| {
                let config = config.clone();
                async move { Ok::<_, Infallible>(respond(req, &config).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", reply.content_type)
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "no-store");
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn authorized(req: &Request<Incoming>, token: &Option<String>) -> bool {
    let Some(token) = token else { return true };
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compare every byte whatever the first difference, so timing says nothing.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn respond(req: Request<Incoming>, config: &Config) -> Response<Full<Bytes>> {
    let route = match req.uri().path() {
        "/v1/embed" => Some(Route::Embed),
        "/v1/remove" => Some(Route::Remove),
        "/v1/check" => Some(Route::Check),
        _ => None,
    };
    let Some(route) = route else {
        return to_response(match (req.method(), req.uri().path()) {
            (&Method::GET | &Method::HEAD, "/") => page::reply(&config.defaults),
            (_, "/") => Reply::error(405, "/ takes GET", Map::new()),
            (_, path) => Reply::error(
                404,
                &format!(
                    "{path}: no such endpoint; POST /v1/embed, /v1/remove or /v1/check, GET /"
                ),
                Map::new(),
            ),
        });
    };
    if req.method() != Method::POST {
        return to_response(Reply::error(
            405,
            &format!(
                "{} takes POST with the task definition as the body",
                req.uri().path()
            ),
            Map::new(),
        ));
    }
    if !authorized(&req, &config.token) {
        let mut r = Reply::error(401, "expected Authorization: Bearer TOKEN", Map::new());
        r.headers.push(("www-authenticate", "Bearer".into()));
        return to_response(r);
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let max = config.max_body;
    let body = Limited::new(req.into_body(), max);
    let body = match tokio::time::timeout(config.request_timeout, body.collect()).await {
        Err(_) => {
            return to_response(Reply::error(
                408,
                &format!(
                    "the body did not arrive within {} s",
                    config.request_timeout.as_secs()
                ),
                Map::new(),
            ));
        }
        Ok(Err(e)) => {
            let too_big = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return to_response(if too_big {
                Reply::error(
                    413,
                    &format!("the body is larger than {max} bytes (--max-body)"),
                    Map::new(),
                )
            } else {
                Reply::error(400, &format!("reading the body: {e}"), Map::new())
            });
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let defaults = config.defaults.clone();
    // Rewriting is CPU work on a document of at most --max-body bytes: off the I/O threads.
    match tokio::task::spawn_blocking(move || api::handle(route, &query, &body, &defaults)).await {
        Ok(reply) => to_response(reply),
        Err(_) => to_response(Reply::error(500, "the request failed", Map::new())),
    }
}
