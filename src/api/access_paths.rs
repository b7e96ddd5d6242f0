//! `GET /api/v1/access-paths`, `/api/v1/access-paths/services` and
//! `/api/v1/access-paths/graph`: the map of real access paths (see
//! `ztlens_analytics::access_paths`).

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use ztlens_analytics::TimeRange;
use ztlens_analytics::access_paths::resolve_apps;
use ztlens_analytics::time_range::format_ms;

use super::ApiError;
use crate::service::AppState;

/// `from`, `to`, `app` (repeatable; default every sensitive app), `kind`, `limit`, `offset`.
#[derive(Debug, Default)]
struct PathParams {
    from: Option<String>,
    to: Option<String>,
    apps: Vec<String>,
    kind: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

impl PathParams {
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut params = PathParams::default();
        for (key, value) in pairs {
            match key.as_str() {
                "from" => params.from = Some(value),
                "to" => params.to = Some(value),
                "app" => params.apps.push(value),
                "kind" => params.kind = Some(value),
                "limit" => params.limit = Some(super::count_param("limit", &value)?),
                "offset" => params.offset = Some(super::count_param("offset", &value)?),
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_parameter",
                        format!(
                            "unknown parameter {other:?}; use from, to, app, kind, limit, offset"
                        ),
                    ));
                }
            }
        }
        Ok(params)
    }

    fn range(&self) -> Result<TimeRange, ApiError> {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(TimeRange::parse(
            Some(self.from.as_deref().unwrap_or("now-7d")),
            self.to.as_deref(),
            None,
            now,
        )?)
    }
}

/// `GET /api/v1/access-paths?app&from&to&limit&offset`: who reaches the apps, how, how often.
#[utoipa::path(
    get,
    path = "/api/v1/access-paths",
    tag = "observe",
    params(
        ("app" = Option<String>, Query, description = "An app id (repeatable); default every sensitive app"),
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now"),
        ("limit" = Option<usize>, Query, description = "Rows per page"),
        ("offset" = Option<usize>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "Who reaches each app, through which front end, from where", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn paths(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = PathParams::parse(pairs)?;
    let range = params.range()?;
    let apps = resolve_apps(&state.config.site, &params.apps)?;
    let (offset, limit) = (params.offset.unwrap_or(0), params.limit.unwrap_or(1000));
    let output = state
        .engine
        .access_paths(&apps, range, offset, limit)
        .await?;
    Ok(Json(json!({
        "apps": apps,
        "from": format_ms(range.from_ms()),
        "to": format_ms(range.to_ms()),
        "offset": offset,
        "limit": limit,
        "next_offset": super::next_offset(output.truncated, offset, limit),
        "columns": output.columns,
        "rows": output.json_rows()?,
    })))
}

/// `GET /api/v1/access-paths/services?from&to&limit&offset`: which workloads talk to which.
#[utoipa::path(
    get,
    path = "/api/v1/access-paths/services",
    tag = "observe",
    params(
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now"),
        ("limit" = Option<usize>, Query, description = "Rows per page"),
        ("offset" = Option<usize>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "Flows between segments and mesh workloads", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn services(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = PathParams::parse(pairs)?;
    let range = params.range()?;
    let (offset, limit) = (params.offset.unwrap_or(0), params.limit.unwrap_or(1000));
    let page = state
        .engine
        .service_edges(&state.config.site, range, offset, limit)
        .await?;
    Ok(Json(json!({
        "from": format_ms(range.from_ms()),
        "to": format_ms(range.to_ms()),
        "offset": offset,
        "limit": limit,
        "next_offset": super::next_offset(page.truncated, offset, limit),
        "edges": page.edges,
    })))
}

/// `GET /api/v1/access-paths/graph?kind=services|apps&app&from&to`: node-graph frames.
#[utoipa::path(
    get,
    path = "/api/v1/access-paths/graph",
    tag = "observe",
    params(
        ("kind" = Option<String>, Query, description = "services or apps"),
        ("app" = Option<String>, Query, description = "An app id (repeatable)"),
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now")
    ),
    responses(
        (status = 200, description = "Node-graph frames (nodes, edges)", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn graph(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = PathParams::parse(pairs)?;
    let range = params.range()?;
    let kind = params.kind.as_deref().unwrap_or("services");
    let apps = if kind == "apps" {
        resolve_apps(&state.config.site, &params.apps)?
    } else {
        Vec::new()
    };
    Ok(Json(
        state
            .engine
            .access_graph(&state.config.site, kind, &apps, range)
            .await?,
    ))
}
