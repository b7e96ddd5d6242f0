//! `GET /api/v1/detections`, `GET /api/v1/alerts`, `GET /api/v1/alerts/{id}`, and the silences:
//! `GET` and `POST /api/v1/silences` (POST needs the admin scope), `DELETE /api/v1/silences/{id}`.
//!
//! The alert list is a flat JSON array, newest first, each alert with `time`/`time_end` in
//! epoch milliseconds, `text` and `tags`, so Grafana reads it as a table (Infinity) and as
//! annotations without transformation.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::ApiError;
use crate::detect::silences::{NewSilence, SilenceError};
use crate::service::AppState;

/// Largest silence body.
pub(super) const MAX_SILENCE_BODY_BYTES: usize = 64 * 1024;

/// Most alerts one listing returns.
pub const MAX_ALERTS_LISTED: usize = 10_000;

#[utoipa::path(
    get,
    path = "/api/v1/detections",
    tag = "alerts",
    responses(
        (status = 200, description = "The detection rules, their settings and last evaluation", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    params(
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now"),
        ("state" = Option<String>, Query, description = "firing or resolved"),
        ("severity" = Option<String>, Query, description = "low, medium, high or critical"),
        ("rule" = Option<String>, Query, description = "A rule id"),
        ("limit" = Option<usize>, Query, description = "Alerts at most")
    ),
    responses(
        (status = 200, description = "Alerts, newest first, as a flat array", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
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
    let silences = state.detections.silences();
    Ok(Json(Value::Array(
        alerts
            .iter()
            .map(|a| {
                let mut json = a.to_json();
                json["silenced"] = silences.silences(a, now).into();
                json
            })
            .collect(),
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts/{id}",
    tag = "alerts",
    params(
        ("id" = String, Path, description = "Alert id")
    ),
    responses(
        (status = 200, description = "The alert and the events behind it", content_type = "application/json", body = serde_json::Value),
        (status = 404, description = "No such alert", body = super::error::ErrorBody),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
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
    // The evidence rows: each table's rows with those ids, between the alert's first and last
    // event (a rule's evidence never lies outside them).
    let mut rows = Vec::new();
    for (table, output) in state
        .engine
        .events_by_uid(&alert.evidence, alert.first_seen_ms, alert.last_seen_ms)
        .await?
    {
        for mut row in output.json_rows()? {
            row.insert("table".into(), Value::String(table.to_string()));
            rows.push(Value::Object(row));
        }
    }
    let mut json = alert.to_json();
    json["silenced"] = state
        .detections
        .silences()
        .silences(&alert, chrono::Utc::now().timestamp_millis())
        .into();
    Ok(Json(json!({ "alert": json, "evidence": rows })))
}

#[utoipa::path(
    get,
    path = "/api/v1/silences",
    tag = "alerts",
    responses(
        (status = 200, description = "Silences", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn silences(State(state): State<AppState>) -> Json<Value> {
    let now = chrono::Utc::now().timestamp_millis();
    let list: Vec<Value> = state
        .detections
        .silences()
        .list()
        .iter()
        .map(|s| s.to_json(now))
        .collect();
    Json(json!({ "silences": list }))
}

#[utoipa::path(
    post,
    path = "/api/v1/silences",
    tag = "alerts",
    request_body(content = serde_json::Value, content_type = "application/json", description = "rule, matchers, until, comment"),
    responses(
        (status = 200, description = "The silence created", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn add_silence(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<super::access::Caller>,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = super::read_body(body, MAX_SILENCE_BODY_BYTES).await?;
    let new: NewSilence = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("not a silence: {e}")))?;
    let rules: Vec<&str> = state
        .detections
        .rules
        .iter()
        .map(|r| r.def.id.as_str())
        .collect();
    let now = chrono::Utc::now().timestamp_millis();
    let silence = state
        .detections
        .silences()
        .add(new, &rules, &caller.0, now)
        .map_err(silence_error)?;
    tracing::info!(silence = %silence.id, by = %caller.0, "silence created");
    Ok((StatusCode::CREATED, Json(silence.to_json(now))))
}

#[utoipa::path(
    delete,
    path = "/api/v1/silences/{id}",
    tag = "alerts",
    params(
        ("id" = String, Path, description = "Silence id")
    ),
    responses(
        (status = 200, description = "The silence ended", content_type = "application/json", body = serde_json::Value),
        (status = 404, description = "No such silence", body = super::error::ErrorBody),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    if !state
        .detections
        .silences()
        .expire(&id, now)
        .map_err(silence_error)?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_silence",
            format!("no silence {id:?}"),
        ));
    }
    Ok(Json(json!({ "expired": id })))
}

fn silence_error(e: SilenceError) -> ApiError {
    match e {
        SilenceError::Invalid(message) => ApiError::bad_request("invalid_silence", message),
        SilenceError::Io { .. } => {
            tracing::error!(error = %e, "cannot store the silences");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the silences could not be stored; see the server log",
            )
        }
    }
}
