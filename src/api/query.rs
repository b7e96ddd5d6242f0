//! `POST /api/v1/query`: read-only SQL through the analytics guard.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, read_body};
use crate::service::AppState;

#[derive(Debug, Deserialize)]
struct QueryBody {
    sql: String,
}

/// Largest query body: the guard's longest SQL text, JSON-escaped.
pub(super) const MAX_QUERY_BODY_BYTES: usize = 4 * ztlens_analytics::guard::MAX_SQL_BYTES;

/// The body is `{"sql": "…"}` (whatever the Content-Type says) or the SQL text itself.
#[utoipa::path(
    post,
    path = "/api/v1/query",
    tag = "query",
    request_body(content((serde_json::Value = "application/json"), (String = "text/plain")), description = "{\"sql\": \"SELECT …\"} or the SQL text; read-only statements only"),
    responses(
        (status = 200, description = "Columns and rows", content_type = "application/json", body = serde_json::Value),
        (status = 413, description = "Body too large", body = super::error::ErrorBody),
        (status = 422, description = "The query needs more memory than the limit", body = super::error::ErrorBody),
        (status = 503, description = "The query took too long", body = super::error::ErrorBody),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn run(
    State(state): State<AppState>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(body, MAX_QUERY_BODY_BYTES).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid_body", "the body is not UTF-8 text"))?;
    let sql = if text.trim_start().starts_with('{') {
        serde_json::from_str::<QueryBody>(text)
            .map_err(|e| {
                ApiError::bad_request("invalid_body", format!("expected {{\"sql\": \"…\"}}: {e}"))
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
