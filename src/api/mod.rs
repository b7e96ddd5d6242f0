//! The HTTP API: KPIs for Grafana (flat JSON rows, RFC 3339 times), guarded SQL, push ingest,
//! Prometheus metrics and health probes. One module per resource:
//! - [`kpis`]: the catalog, KPI series and their evidence;
//! - [`ingest`]: push ingest (the push source itself is `ztlens_ingest::pipeline::push`);
//! - [`otlp`]: OpenTelemetry logs over OTLP/HTTP (`POST /v1/logs`);
//! - [`alerts`]: the detection catalog, the alerts and their evidence;
//! - [`query`]: guarded read-only SQL;
//! - [`whatif`]: a candidate policy's effect over history, and its evidence;
//! - [`access_paths`]: who reaches each sensitive app and how, which workloads talk;
//! - [`status`]: the service's status and the maturity scorecard;
//! - [`ui`]: the built-in overview page at `/` (static files compiled in);
//! - [`openapi`]: the OpenAPI 3.1 description, generated from the handlers' annotations;
//! - [`error`]: [`ApiError`], the one error→HTTP mapping;
//! - `access`: host allow-list, origin check, token scopes and rate limits, before any handler;
//! - [`rate_limit`]: a token bucket per API token.
//!
//! The accept loop is ours (hyper): a header-read timeout, a connection cap, and the TLS
//! handshake of `[server.tls]` (see [`crate::tls`]) inside each connection's task.
//!
//! `app(state)` builds the router and `serve(listener, state, shutdown)` runs it, so tests bind
//! port 0 and stop the server with a future. Handlers read the shared [`AppState`] of
//! [`crate::service`]; this module may import `service`, `status`, `config`, `auth`, `tls`,
//! `detect` and `metrics`, never `commands`.
//!
//! Ingest answers 2xx only after the rows are in the fsynced write-ahead log: a 200 means the
//! rows survive a crash.

mod access;
mod access_paths;
mod alerts;
mod error;
mod ingest;
mod kpis;
mod openapi;
mod otlp;
mod query;
pub mod rate_limit;
mod status;
mod ui;
mod whatif;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use access::AccessPolicy;
pub use error::ApiError;

use crate::service::AppState;

/// The router: every route behind the access rules (host, origin, token scopes), then the
/// request timeout, the JSON shape of every error, request metrics and CORS around everything.
///
/// Limits are tower-http layers: a body past its route's limit (or a `Content-Length` saying
/// so) is refused before the handler reads it (handlers read the raw body, so axum's own
/// extractor limit does not apply), and a request that takes longer than
/// `server.request_timeout_secs` is cut off with a 503; [`json_errors`] gives their answers the
/// API's error shape.
pub fn app(state: AppState, access: AccessPolicy) -> Router {
    use tower_http::limit::RequestBodyLimitLayer;
    let server = &state.config.server;
    let timeout = Duration::from_secs(server.request_timeout_secs.max(1));
    Router::new()
        .route("/api/v1/kpis", get(kpis::list))
        .route("/api/v1/kpis/{id}", get(kpis::get))
        .route("/api/v1/kpis/{id}/evidence", get(kpis::evidence))
        .route(
            "/api/v1/kpis/{id}/labels/{label}/values",
            get(kpis::label_values),
        )
        .route("/api/v1/maturity", get(status::maturity))
        .route("/api/v1/access-paths", get(access_paths::paths))
        .route("/api/v1/access-paths/services", get(access_paths::services))
        .route("/api/v1/access-paths/graph", get(access_paths::graph))
        .route("/api/v1/detections", get(alerts::detections))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{id}", get(alerts::get))
        .route(
            "/api/v1/silences",
            get(alerts::silences)
                .post(alerts::add_silence)
                .layer(RequestBodyLimitLayer::new(alerts::MAX_SILENCE_BODY_BYTES)),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(alerts::expire_silence),
        )
        .route(
            "/api/v1/query",
            post(query::run).layer(RequestBodyLimitLayer::new(query::MAX_QUERY_BODY_BYTES)),
        )
        .route(
            "/api/v1/whatif",
            post(whatif::run).layer(RequestBodyLimitLayer::new(whatif::MAX_WHATIF_BODY_BYTES)),
        )
        .route(
            "/api/v1/whatif/evidence",
            post(whatif::evidence).layer(RequestBodyLimitLayer::new(whatif::MAX_WHATIF_BODY_BYTES)),
        )
        .route(
            "/api/v1/ingest/{source}",
            // The decompressed limit is the push source's.
            post(ingest::push).layer(RequestBodyLimitLayer::new(server.max_body_bytes)),
        )
        .route(
            "/v1/logs",
            post(otlp::logs).layer(RequestBodyLimitLayer::new(server.max_body_bytes)),
        )
        .route("/api/v1/status", get(status::status))
        .route("/", get(ui::index))
        .route("/ui/overview.js", get(ui::script))
        .route("/ui/overview.css", get(ui::style))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(middleware::from_fn_with_state(
            Arc::new(access),
            access::check_access,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(cors(&server.allowed_origins))
        .with_state(state)
}

/// Error answers not written by [`ApiError`] — tower-http's limits and timeout, axum's
/// method-not-allowed — get the API's JSON shape, keeping their status and headers.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let typed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || typed {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body exceeds this endpoint's limit",
        ),
        StatusCode::SERVICE_UNAVAILABLE => ("request_timeout", "the request took too long"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this endpoint does not take that method",
        ),
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
        s if s.is_server_error() => ("internal", "the request failed"),
        _ => ("bad_request", "the request could not be read"),
    };
    let (parts, _) = response.into_parts();
    let mut error = ApiError::new(status, code, message);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        error = error.retry(1);
    }
    let mut json = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// CORS for the browser apps of `server.allowed_origins` (outermost, so a preflight is answered
/// before the token check and error answers carry the headers too). Other origins get no CORS
/// headers, so browsers keep their pages from reading answers.
fn cors(allowed_origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ])
        .max_age(Duration::from_secs(3600))
}

/// A count query parameter (`limit`, `offset`), or a 400 naming it.
fn count_param(key: &str, value: &str) -> Result<usize, ApiError> {
    value.parse::<usize>().map_err(|_| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{key} must be a non-negative integer, not {value:?}"),
        )
    })
}

/// The offset of the page after `offset` when the answer was cut there.
fn next_offset(truncated: bool, offset: usize, limit: usize) -> Option<usize> {
    truncated.then(|| offset.checked_add(limit)).flatten()
}

/// Read a request body of at most `limit` bytes; a longer one is a JSON 413.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let is_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if is_limit {
            ApiError::too_large(limit, "request body")
        } else {
            ApiError::bad_request("invalid_body", "the request body could not be read")
        }
    })
}

/// Run the API on `listener` until `shutdown` resolves; in-flight requests finish first.
/// Refuses to start an open API (no tokens) on anything but loopback.
///
/// The accept loop is ours rather than `axum::serve`'s for two limits: a connection has
/// `server.header_read_timeout_secs` to send its headers, and at most `server.max_connections`
/// are open (the next ones are closed at once), so slow or half-open clients can neither hold
/// connections forever nor exhaust the process's file descriptors.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), crate::service::BoxError> {
    let address = listener.local_addr()?;
    let server = &state.config.server;
    let tokens = server.tokens()?;
    crate::auth::check_exposure(&tokens, address)?;
    let access = AccessPolicy::new(
        tokens,
        &server.allowed_hosts,
        &server.allowed_origins,
        address.ip().is_loopback(),
    )
    .with_rate_limits(
        rate_limit::RateLimiter::for_server(server),
        Some(state.metrics.clone()),
    );
    let header_timeout = Duration::from_secs(server.header_read_timeout_secs.max(1));
    let max_connections = server.max_connections.max(1);
    let metrics = state.metrics.clone();
    let tls = match &server.tls {
        Some(config) => Some(crate::tls::acceptor(config, &[b"http/1.1"])?),
        None => None,
    };
    let app = app(state, access);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let (closing, _) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little
                    // instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.http_connections_refused.inc();
            drop(stream);
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let closing = closing.subscribe();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                // The handshake runs in the connection's task, under the header timeout, so
                // a client that stalls it holds only its own slot.
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, service, header_timeout, closing).await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
                None => serve_connection(stream, service, header_timeout, closing).await,
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection task holds a slot until it ends.
    let _ = slots.acquire_many(max_connections as u32).await;
    Ok(())
}

/// Serve HTTP/1.1 on one connection (plain or TLS) until it ends or the server closes: on
/// close, the request in flight finishes first.
async fn serve_connection<I, S>(
    io: I,
    service: S,
    header_timeout: Duration,
    mut closing: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            changed = closing.changed() => {
                // Finish the request in flight, then close.
                connection.as_mut().graceful_shutdown();
                if changed.is_err() || *closing.borrow() {
                    let _ = connection.as_mut().await;
                    break;
                }
            }
        }
    }
}

/// Request metrics and the access log by route template (never the raw path).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .http_requests
        .with_label_values(&[&route, &method, response.status().as_str()])
        .inc();
    let elapsed = started.elapsed();
    state
        .metrics
        .http_duration
        .with_label_values(&[&route])
        .observe(elapsed.as_secs_f64());
    // The route template, never the raw path or query: they can carry names and addresses.
    tracing::info!(
        target: "ztlens::access",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        ms = elapsed.as_millis() as u64,
        "request"
    );
    response
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "status",
    responses(
        (status = 200, description = "Prometheus text format: ingest, lake, HTTP, KPI gauges, detections", content_type = "text/plain")
    )
)]
async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "status",
    security(()),
    responses((status = 200, description = "The process answers", content_type = "application/json", body = serde_json::Value))
)]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "status",
    security(()),
    responses(
        (status = 200, description = "The lake writer answers", content_type = "application/json", body = serde_json::Value),
        (status = 503, description = "The lake writer does not answer", body = error::ErrorBody)
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.pipeline.writer.snapshot()).await {
        Ok(Ok(_)) => Ok(Json(json!({"status": "ready"}))),
        _ => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the lake writer is not answering",
        )
        .retry(1)),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    async fn answer(response: Response) -> (StatusCode, Option<String>, Value) {
        let response = json_errors(response).await;
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (
            status,
            retry,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }

    /// tower-http's timeout (an empty 503) and body limit (a text 413) answer in the API's
    /// JSON shape; answers that already have a type, and successes, pass unchanged.
    #[tokio::test]
    async fn bare_error_answers_get_the_api_shape() {
        let timeout = Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::empty())
            .unwrap();
        let (status, retry, body) = answer(timeout).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body["code"], "request_timeout");
        let too_large = Response::builder()
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from("length limit exceeded"))
            .unwrap();
        let (status, _, body) = answer(too_large).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["code"], "payload_too_large");
        let ours = ApiError::bad_request("invalid_parameter", "x").into_response();
        assert_eq!(answer(ours).await.2["code"], "invalid_parameter");
        let ok = Response::new(Body::from("fine"));
        assert_eq!(answer(ok).await.0, StatusCode::OK);
    }
}
