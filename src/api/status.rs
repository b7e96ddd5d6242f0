//! `GET /api/v1/status` and `GET /api/v1/maturity`: typed answers from [`crate::status`].

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Query, State};
use ztlens_analytics::time_range::format_ms;
use ztlens_ingest::Format;

use super::ApiError;
use super::kpis::KpiParams;
use crate::service::AppState;
use crate::status::{
    Disabled, HttpSourceStatus, HttpState, KafkaSourceStatus, LakeStatus, MaturityReport,
    ServiceStatus, SourcesStatus,
};

/// `GET /api/v1/maturity?from&to`: the per-pillar scorecard (see docs/kpis.md).
#[utoipa::path(
    get,
    path = "/api/v1/maturity",
    tag = "status",
    params(
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now")
    ),
    responses(
        (status = 200, description = "The maturity scorecard by pillar", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn maturity(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<MaturityReport>, ApiError> {
    let params = KpiParams::parse(pairs, false)?;
    if let Some((label, _)) = params.filters.first() {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("unknown parameter {label:?}; the scorecard takes from and to"),
        ));
    }
    let range = params.range()?;
    let scorecard = state.engine.maturity(range).await?;
    Ok(Json(MaturityReport::new(range, scorecard)))
}

/// `GET /api/v1/status`: sources, lake and Kafka lag (what `ztlens status` prints).
#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "status",
    responses(
        (status = 200, description = "Lake writer and Kafka source state", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn status(State(state): State<AppState>) -> Json<ServiceStatus> {
    let writer = &state.pipeline.writer;
    let stats = writer.stats();
    let counter = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    Json(ServiceStatus {
        uptime_secs: state.started.elapsed().as_secs(),
        data_dir: writer.data_dir().to_path_buf(),
        writer_id: writer.writer_id().to_string(),
        lake: LakeStatus {
            buffered_rows: counter(&stats.buffered_rows),
            rows_flushed: counter(&stats.rows_flushed),
            files_written: counter(&stats.files_written),
            dead_letters: counter(&stats.dead_letters),
            flush_errors: counter(&stats.flush_errors),
            last_flush: match counter(&stats.last_flush_unix_ms) {
                0 => None,
                ms => Some(format_ms(ms as i64)),
            },
        },
        sources: SourcesStatus {
            http: HttpSourceStatus {
                state: HttpState::Listening,
                formats: Format::ALL.iter().map(|f| f.name().to_string()).collect(),
            },
            kafka: match &state.kafka_status {
                Some(s) => KafkaSourceStatus::Enabled(s.lock().expect("not poisoned").clone()),
                None => KafkaSourceStatus::Disabled {
                    state: Disabled::Disabled,
                },
            },
        },
        kpis: state.engine.catalog().list().len(),
    })
}
