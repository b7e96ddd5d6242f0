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

pub(super) async fn push(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let chosen: SourceFormat = source.parse()?;
    let limit = state.config.server.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit, "request body"));
    }
    let bytes = read_body(body, limit).await?;
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
