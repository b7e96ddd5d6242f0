//! `POST /api/v1/ingest/{source}`: the HTTP side of push ingest (size limits on the wire,
//! `Content-Encoding`); decompression, format detection and durability are the push source's
//! (`ztlens_ingest::pipeline::push`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use serde_json::Value;
use ztlens_ingest::SourceFormat;

use super::{ApiError, read_body};
use crate::service::AppState;

#[utoipa::path(
    post,
    path = "/api/v1/ingest/{source}",
    tag = "ingest",
    params(
        ("source" = String, Path, description = "A source format (okta, vpcflow, nginx …) or auto")
    ),
    request_body(content = String, content_type = "application/x-ndjson", description = "Records of the source: NDJSON, a JSON array or envelope, or raw lines; gzip with Content-Encoding"),
    responses(
        (status = 200, description = "Durable in the write-ahead log: records accepted and refused", content_type = "application/json", body = serde_json::Value),
        (status = 404, description = "No such source", body = super::error::ErrorBody),
        (status = 413, description = "Body too large, as sent or decompressed", body = super::error::ErrorBody),
        (status = 422, description = "Too many broken records, or no format matches", body = super::error::ErrorBody),
        (status = 429, description = "Too many bodies at once, or the dead-letter budget is spent", body = super::error::ErrorBody),
        (status = 503, description = "Back-pressure or a storage failure; retry after Retry-After", body = super::error::ErrorBody),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn push(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    if !state.config.server.ingest {
        return Err(ApiError::ingest_disabled());
    }
    let chosen: SourceFormat = source.parse()?;
    let bytes = read_body(body, state.config.server.max_body_bytes).await?;
    let gzip_declared = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let origin = state.next_request_origin();
    let receipt = state
        .pipeline
        .ingest_push(
            chosen,
            bytes,
            gzip_declared,
            state.config.server.max_decompressed_bytes,
            origin,
        )
        .await?;
    Ok(Json(
        serde_json::to_value(receipt).expect("receipts serialize"),
    ))
}
