//! `GET /api/v1/kpis`, `GET /api/v1/kpis/{id}`, `GET /api/v1/kpis/{id}/evidence` and
//! `GET /api/v1/kpis/{id}/labels/{label}/values`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use ztlens_analytics::time_range::format_ms;
use ztlens_analytics::{LabelFilter, TimeRange};

use super::ApiError;
use crate::service::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/kpis",
    tag = "kpis",
    responses(
        (status = 200, description = "The KPI catalog", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"kpis": state.engine.catalog().list()}))
}

/// Query parameters of a KPI request, as Grafana sends them: `from`, `to`, `step` (or
/// Grafana's `interval`), paging for evidence (`limit`, `offset`), and any other key is a
/// drill-down filter on a KPI label (repeat the key for several values; an empty value, as
/// Grafana's "All" sends it, filters nothing).
#[derive(Debug, Default)]
pub(super) struct KpiParams {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    pub(super) filters: Vec<LabelFilter>,
}

impl KpiParams {
    pub(super) fn parse(pairs: Vec<(String, String)>, paged: bool) -> Result<Self, ApiError> {
        let mut params = KpiParams::default();
        let mut interval = None;
        for (key, value) in pairs {
            match key.as_str() {
                "from" => params.from = Some(value),
                "to" => params.to = Some(value),
                "step" => params.step = Some(value),
                "interval" => interval = Some(value),
                "limit" if paged => params.limit = Some(super::count_param("limit", &value)?),
                "offset" if paged => params.offset = Some(super::count_param("offset", &value)?),
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

    pub(super) fn range(&self) -> Result<TimeRange, ApiError> {
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
#[utoipa::path(
    get,
    path = "/api/v1/kpis/{id}",
    tag = "kpis",
    params(
        ("id" = String, Path, description = "KPI id (GET /api/v1/kpis lists them)"),
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now"),
        ("step" = Option<String>, Query, description = "Bucket width (5m, 1h, 1d …) for a time series; Grafana's interval is read too"),
        ("filters" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "Any KPI label as a key filters on it (repeat for several values; empty or * filters nothing)")
    ),
    responses(
        (status = 200, description = "Rows, the whole-range breakdown with a step, and the summed value", content_type = "application/json", body = serde_json::Value),
        (status = 404, description = "No such KPI", body = super::error::ErrorBody),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn get(
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
    let breakdown = if range.step_ms().is_some() {
        let whole = range.whole();
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
        "from": format_ms(range.from_ms()),
        "to": format_ms(range.to_ms()),
        "step_ms": range.step_ms(),
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
#[utoipa::path(
    get,
    path = "/api/v1/kpis/{id}/evidence",
    tag = "kpis",
    params(
        ("id" = String, Path, description = "KPI id (GET /api/v1/kpis lists them)"),
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now"),
        ("limit" = Option<usize>, Query, description = "Rows per page"),
        ("offset" = Option<usize>, Query, description = "Rows to skip"),
        ("step" = Option<String>, Query, description = "Bucket width (5m, 1h, 1d …) for a time series; Grafana's interval is read too"),
        ("filters" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "Any KPI label as a key filters on it (repeat for several values; empty or * filters nothing)")
    ),
    responses(
        (status = 200, description = "One page of the events behind the KPI", content_type = "application/json", body = serde_json::Value),
        (status = 404, description = "No such KPI", body = super::error::ErrorBody),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn evidence(
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
        "from": format_ms(range.from_ms()),
        "to": format_ms(range.to_ms()),
        "offset": offset,
        "limit": limit,
        "next_offset": super::next_offset(output.truncated, offset, limit),
        "columns": output.columns,
        "rows": output.json_rows()?,
    })))
}

/// `GET /api/v1/kpis/{id}/labels/{label}/values`: the values a KPI label takes over the range,
/// filtered by the other labels like the KPI itself, sorted, at most 1,000
/// (`truncated` says more exist). Grafana lists them in a variable's dropdown.
#[utoipa::path(
    get,
    path = "/api/v1/kpis/{id}/labels/{label}/values",
    tag = "kpis",
    params(
        ("id" = String, Path, description = "KPI id (GET /api/v1/kpis lists them)"),
        ("label" = String, Path, description = "One of the KPI's labels"),
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now"),
        ("step" = Option<String>, Query, description = "Bucket width (5m, 1h, 1d …) for a time series; Grafana's interval is read too"),
        ("filters" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "Any KPI label as a key filters on it (repeat for several values; empty or * filters nothing)")
    ),
    responses(
        (status = 200, description = "The label's values over the range, sorted", content_type = "application/json", body = serde_json::Value),
        (status = 404, description = "No such KPI", body = super::error::ErrorBody),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn label_values(
    State(state): State<AppState>,
    Path((id, label)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = KpiParams::parse(pairs, false)?;
    let range = params.range()?;
    // The label's own filter would list only the chosen values: a dropdown lists them all.
    let filters: Vec<LabelFilter> = params
        .filters
        .into_iter()
        .filter(|(l, _)| *l != label)
        .collect();
    let (def, output) = state
        .engine
        .run_label_values(&id, range, &filters, &label)
        .await?;
    let values: Vec<Value> = output
        .json_rows()?
        .into_iter()
        .filter_map(|mut row| row.remove("value"))
        .map(|value| json!({ "value": value }))
        .collect();
    Ok(Json(json!({
        "id": def.id,
        "label": label,
        "from": format_ms(range.from_ms()),
        "to": format_ms(range.to_ms()),
        "values": values,
        "truncated": output.truncated,
    })))
}
