//! The HTTP API: KPIs for Grafana (flat JSON rows, RFC 3339 times), guarded SQL, push ingest,
//! Prometheus metrics and health probes.
//!
//! `app(state)` builds the router and `serve(listener, state, shutdown)` runs it, so tests bind
//! port 0 and stop the server with a future. Every error leaves through [`ApiError`] as
//! `{"code": …, "message": …}` with a status chosen in one place and no internal detail.
//!
//! Ingest answers 2xx only after the rows are in the fsynced write-ahead log: a 200 means the
//! rows survive a crash.

use std::future::Future;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use ztlens_analytics::time_range::format_ms;
use ztlens_analytics::{AnalyticsError, Engine, LabelFilter, TimeRange};
use ztlens_ingest::Format;
use ztlens_ingest::kafka::SharedStatus;
use ztlens_ingest::lake::LakeError;
use ztlens_ingest::pipeline::Pipeline;

use crate::config::Config;
use crate::metrics::Metrics;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub pipeline: Pipeline,
    /// State of the Kafka source, when it runs.
    pub kafka_status: Option<SharedStatus>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    pub started: Instant,
    pub request_counter: Arc<AtomicU64>,
}

/// The one error type of the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn retry(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        let status = match &e {
            AnalyticsError::Rejected(_)
            | AnalyticsError::InvalidQuery(_)
            | AnalyticsError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            AnalyticsError::UnknownKpi(_) => StatusCode::NOT_FOUND,
            AnalyticsError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            AnalyticsError::ResourcesExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            AnalyticsError::InvalidDefinition { .. } | AnalyticsError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "query failed");
        }
        let error = ApiError::new(status, e.code(), e.public_message());
        match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => error.retry(1),
            _ => error,
        }
    }
}

impl From<LakeError> for ApiError {
    fn from(e: LakeError) -> Self {
        tracing::warn!(error = %e, "ingest could not be made durable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ingest_unavailable",
            "the rows could not be stored durably; retry later",
        )
        .retry(1)
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/kpis", get(list_kpis))
        .route("/api/v1/kpis/{id}", get(get_kpi))
        .route("/api/v1/kpis/{id}/evidence", get(get_kpi_evidence))
        .route("/api/v1/maturity", get(get_maturity))
        .route("/api/v1/query", post(run_query))
        .route(
            "/api/v1/ingest/{source}",
            // The handler enforces its own compressed and decompressed limits.
            post(ingest).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/v1/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Run the API on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Request metrics by route template (never the raw path) and the request timeout.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let timeout = Duration::from_secs(state.config.server.request_timeout_secs.max(1));
    let response = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            "the request took too long",
        )
        .retry(1)
        .into_response(),
    };
    state
        .metrics
        .http_requests
        .with_label_values(&[&route, &method, response.status().as_str()])
        .inc();
    state
        .metrics
        .http_duration
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn list_kpis(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"kpis": state.engine.catalog().list()}))
}

/// Query parameters of a KPI request, as Grafana sends them: `from`, `to`, `step` (or
/// Grafana's `interval`), paging for evidence (`limit`, `offset`), and any other key is a
/// drill-down filter on a KPI label (repeat the key for several values; an empty value, as
/// Grafana's "All" sends it, filters nothing).
#[derive(Debug, Default)]
struct KpiParams {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    filters: Vec<LabelFilter>,
}

impl KpiParams {
    fn parse(pairs: Vec<(String, String)>, paged: bool) -> Result<Self, ApiError> {
        let mut params = KpiParams::default();
        let mut interval = None;
        let number = |key: &str, value: &str| {
            value.parse::<usize>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter",
                    format!("{key} must be a non-negative integer, not {value:?}"),
                )
            })
        };
        for (key, value) in pairs {
            match key.as_str() {
                "from" => params.from = Some(value),
                "to" => params.to = Some(value),
                "step" => params.step = Some(value),
                "interval" => interval = Some(value),
                "limit" if paged => params.limit = Some(number("limit", &value)?),
                "offset" if paged => params.offset = Some(number("offset", &value)?),
                _ => match params.filters.iter_mut().find(|(label, _)| *label == key) {
                    Some((_, values)) => values.push(value),
                    None => params.filters.push((key, vec![value])),
                },
            }
        }
        if params.step.is_none() {
            params.step = interval;
        }
        Ok(params)
    }

    fn range(&self) -> Result<TimeRange, ApiError> {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(TimeRange::parse(
            self.from.as_deref(),
            self.to.as_deref(),
            self.step.as_deref(),
            now,
        )?)
    }
}

/// `GET /api/v1/kpis/{id}`: the time series (`rows`), and when a step is given also the
/// whole-range `breakdown` per label set; `value` sums the KPI's additive metrics (`totals`)
/// over the whole range.
async fn get_kpi(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = KpiParams::parse(pairs, false)?;
    let range = params.range()?;
    let (def, output) = state
        .engine
        .run_kpi_filtered(&id, range, &params.filters)
        .await?;
    let rows = output.json_rows()?;
    let breakdown = if range.step_ms.is_some() {
        let whole = TimeRange {
            step_ms: None,
            ..range
        };
        let (_, out) = state
            .engine
            .run_kpi_filtered(&id, whole, &params.filters)
            .await?;
        Some(out.json_rows()?)
    } else {
        None
    };
    let totals_from = breakdown.as_ref().unwrap_or(&rows);
    let mut value = serde_json::Map::new();
    for metric in &def.totals {
        let sum: f64 = totals_from
            .iter()
            .filter_map(|r| r.get(metric).and_then(Value::as_f64))
            .sum();
        value.insert(metric.clone(), json!(sum));
    }
    Ok(Json(json!({
        "id": def.id,
        "title": def.title,
        "unit": def.unit,
        "labels": def.labels,
        "filters": params.filters.iter().filter(|(_, v)| v.iter().any(|v| !v.is_empty())).map(|(l, v)| (l.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "from": format_ms(range.from_ms),
        "to": format_ms(range.to_ms),
        "step_ms": range.step_ms,
        "value": value,
        "columns": output.columns,
        "rows": rows,
        "breakdown": breakdown,
        "truncated": output.truncated,
    })))
}

/// `GET /api/v1/kpis/{id}/evidence`: the events behind a KPI for the same range and filters,
/// `limit` (default 100, at most 1000) at a time from `offset`; `next_offset` names the next
/// page while there is one.
async fn get_kpi_evidence(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = KpiParams::parse(pairs, true)?;
    let range = params.range()?;
    let offset = params.offset.unwrap_or(0);
    let limit = params.limit.unwrap_or(100);
    let (def, output) = state
        .engine
        .run_evidence(&id, range, &params.filters, offset, limit)
        .await?;
    Ok(Json(json!({
        "id": def.id,
        "from": format_ms(range.from_ms),
        "to": format_ms(range.to_ms),
        "offset": offset,
        "limit": limit,
        "next_offset": output.truncated.then_some(offset + limit),
        "columns": output.columns,
        "rows": output.json_rows()?,
    })))
}

/// `GET /api/v1/maturity?from&to`: the per-pillar scorecard (see docs/kpis.md).
async fn get_maturity(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = KpiParams::parse(pairs, false)?;
    if let Some((label, _)) = params.filters.first() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("unknown parameter {label:?}; the scorecard takes from and to"),
        ));
    }
    let range = params.range()?;
    let inputs = state.engine.maturity_inputs(range).await?;
    let pillars = ztlens_analytics::maturity::assess(&inputs);
    Ok(Json(json!({
        "from": format_ms(range.from_ms),
        "to": format_ms(range.to_ms),
        "pillars": pillars,
        "inputs": inputs,
    })))
}

#[derive(Debug, Deserialize)]
struct QueryBody {
    sql: String,
}

/// The body is `{"sql": "…"}` (whatever the Content-Type says) or the SQL text itself.
async fn run_query(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body is not UTF-8 text",
        )
    })?;
    let sql = if text.trim_start().starts_with('{') {
        serde_json::from_str::<QueryBody>(text)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    format!("expected {{\"sql\": \"…\"}}: {e}"),
                )
            })?
            .sql
    } else {
        text.to_string()
    };
    let output = state.engine.run_sql(&sql).await?;
    Ok(Json(
        json!({"columns": output.columns, "rows": output.json_rows()?, "truncated": output.truncated}),
    ))
}

fn too_large(limit: usize, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the {what} exceeds the limit of {limit} bytes"),
    )
}

async fn ingest(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let known = || {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        names.join(", ")
    };
    let auto = source.eq_ignore_ascii_case("auto");
    let named = if auto {
        None
    } else {
        Some(Format::from_name(&source).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_source",
                format!("unknown source {source:?}; known: auto, {}", known()),
            )
        })?)
    };
    let limit = state.config.server.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit, "request body"));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let is_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if is_limit {
            too_large(limit, "request body")
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the request body could not be read",
            )
        }
    })?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"))
        || bytes.starts_with(&[0x1f, 0x8b]);
    let max_plain = state.config.server.max_decompressed_bytes;
    let data = if gzip {
        tokio::task::spawn_blocking(move || gunzip_limited(&bytes, max_plain))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            })??
    } else {
        bytes.to_vec()
    };
    // `auto`: the body's first bytes decide its format.
    let format = match named {
        Some(f) => f,
        None => Format::detect(&data).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_format",
                format!(
                    "the body matches no known format; post to /api/v1/ingest/NAME (known: {})",
                    known()
                ),
            )
        })?,
    };
    let request_id = state.request_counter.fetch_add(1, Ordering::Relaxed);
    let origin = format!("http:{}-{request_id}", state.started_unix_ms());
    let receipt = state.pipeline.ingest_body(format, data, origin).await?;
    Ok(Json(
        serde_json::to_value(receipt).expect("receipts serialize"),
    ))
}

/// Decompress at most `limit` bytes; one byte more means the body is too large (a gzip bomb
/// never gets further than `limit + 1` bytes of memory).
fn gunzip_limited(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_gzip",
                format!("the body is not valid gzip: {e}"),
            )
        })?;
    if out.len() > limit {
        return Err(too_large(limit, "decompressed request body"));
    }
    Ok(out)
}

impl AppState {
    fn started_unix_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() - self.started.elapsed().as_millis() as i64
    }
}

async fn status(State(state): State<AppState>) -> Json<Value> {
    let writer = &state.pipeline.writer;
    let stats = writer.stats();
    Json(json!({
        "uptime_secs": state.started.elapsed().as_secs(),
        "data_dir": writer.data_dir(),
        "writer_id": writer.writer_id(),
        "lake": {
            "buffered_rows": stats.buffered_rows.load(Ordering::Relaxed),
            "rows_flushed": stats.rows_flushed.load(Ordering::Relaxed),
            "files_written": stats.files_written.load(Ordering::Relaxed),
            "dead_letters": stats.dead_letters.load(Ordering::Relaxed),
            "flush_errors": stats.flush_errors.load(Ordering::Relaxed),
            "last_flush": match stats.last_flush_unix_ms.load(Ordering::Relaxed) { 0 => Value::Null, ms => json!(format_ms(ms as i64)) },
        },
        "sources": {
            "http": {"state": "listening", "formats": Format::ALL.iter().map(|f| f.name()).collect::<Vec<_>>()},
            "kafka": match &state.kafka_status {
                Some(s) => serde_json::to_value(&*s.lock().expect("not poisoned")).unwrap_or_default(),
                None => json!({"state": "disabled"}),
            },
        },
        "kpis": state.engine.catalog().list().len(),
    }))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

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
