//! `GET /api/v1/detections`, `GET /api/v1/alerts` and `GET /api/v1/alerts/{id}`.
//!
//! The alert list is a flat JSON array, newest first, each alert with `time`/`time_end` in
//! epoch milliseconds, `text` and `tags`, so Grafana reads it as a table (Infinity) and as
//! annotations without transformation.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use ztlens_analytics::time_range::format_ms;
use ztlens_ingest::Table;
use ztlens_ingest::lake::layout;

use super::ApiError;
use crate::service::AppState;

/// Most alerts one listing returns.
pub const MAX_ALERTS_LISTED: usize = 10_000;

pub(super) async fn detections(State(state): State<AppState>) -> Json<Value> {
    let rules: Vec<Value> = state
        .detections
        .rules
        .iter()
        .map(|rule| {
            let def = &rule.def;
            json!({
                "id": def.id,
                "title": def.title,
                "severity": rule.severity,
                "mitre": def.mitre,
                "enabled": rule.enabled && state.config.detections.enabled,
                "window_secs": def.window_ms / 1000,
                "schedule_secs": def.schedule_ms / 1000,
                "lookback_secs": def.lookback_ms / 1000,
                "entities": def.entities,
                "parameters": rule.effective_params(),
                "description": def.description,
                "source": def.source,
                "status": state.detections.status_of(&def.id),
            })
        })
        .collect();
    Json(json!({ "detections": rules }))
}

pub(super) async fn list(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let mut from = None;
    let mut to = None;
    let mut alert_state = None;
    let mut severity = None;
    let mut rule = None;
    let mut limit = 1000usize;
    for (key, value) in pairs {
        match key.as_str() {
            "from" => from = Some(value),
            "to" => to = Some(value),
            "state" => alert_state = Some(value),
            "severity" => severity = Some(value),
            "rule" => rule = Some(value),
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_ALERTS_LISTED).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_parameter",
                            format!("limit must be between 1 and {MAX_ALERTS_LISTED}"),
                        )
                    })?
            }
            other => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!(
                        "unknown parameter {other:?}; use from, to, state, severity, rule, limit"
                    ),
                ));
            }
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    let filter = crate::detect::store::AlertFilter::parse(
        from.as_deref(),
        to.as_deref(),
        alert_state.as_deref(),
        severity.as_deref(),
        rule,
        now,
    )?;
    let alerts = state.detections.store().list(&filter, limit);
    Ok(Json(Value::Array(
        alerts
            .iter()
            .map(crate::detect::alerts::Alert::to_json)
            .collect(),
    )))
}

pub(super) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let alert = state.detections.store().get(&id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_alert",
            format!("no alert {id:?}"),
        )
    })?;
    // The evidence rows: each table's rows with those ids, in the days the alert spans (and
    // the rule's lookback before them), so the date partitions prune the scan.
    let lookback = state
        .detections
        .rules
        .iter()
        .find(|r| r.def.id == alert.rule)
        .map_or(0, |r| r.def.lookback_ms);
    let from = alert.first_seen_ms.saturating_sub(lookback);
    let to = alert.last_seen_ms.saturating_add(1);
    let ids = alert
        .evidence
        .iter()
        .map(|id| format!("'{}'", id.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rows = Vec::new();
    if !ids.is_empty() {
        for table in Table::ALL {
            let columns: Vec<String> = table
                .columns()
                .iter()
                .filter(|c| !matches!(c.name, "unmapped" | "raw_data"))
                .map(|c| format!("\"{}\"", c.name))
                .collect();
            let sql = format!(
                "SELECT DISTINCT '{table}' AS \"table\", {columns} FROM {table} \
                 WHERE date >= '{from_date}' AND date <= '{to_date}' \
                 AND time >= TIMESTAMP '{from_ts}' AND time < TIMESTAMP '{to_ts}' \
                 AND metadata_uid IN ({ids}) ORDER BY time, metadata_uid",
                table = table.name(),
                columns = columns.join(", "),
                from_date = layout::date_of_ms(from).unwrap_or_default(),
                to_date = layout::date_of_ms(to).unwrap_or_default(),
                from_ts = format_ms(from),
                to_ts = format_ms(to),
            );
            let output = state.engine.run_sql(&sql).await?;
            rows.extend(output.json_rows()?.into_iter().map(Value::Object));
        }
    }
    Ok(Json(json!({ "alert": alert.to_json(), "evidence": rows })))
}
