//! `POST /v1/logs`: OpenTelemetry logs over OTLP/HTTP, so an OpenTelemetry Collector's
//! `otlphttp` exporter ships to ztlens (protobuf or JSON, gzip or not).
//!
//! Each log record's body is a vendor record, read as the source its `ztlens.source` attribute
//! (or its resource's) names, else recognized from its content ([`crate::otlp`]). The answer
//! follows OTLP/HTTP: 200 only once every record is durable in the WAL (rows, or dead letters
//! for records that cannot be read — reported as a partial success, which exporters do not
//! retry); errors carry a `google.rpc.Status` in the request's encoding, and everything worth
//! retrying (busy, back-pressure, storage failure) is a 429 or 503 with `Retry-After`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, read_body};
use crate::otlp::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse, OtlpError,
};
use crate::service::AppState;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[utoipa::path(
    post,
    path = "/v1/logs",
    tag = "ingest",
    request_body(content((Vec<u8> = "application/x-protobuf"), (serde_json::Value = "application/json")), description = "An OTLP ExportLogsServiceRequest; each record's body is a vendor record, its source the ztlens.source attribute"),
    responses(
        (status = 200, description = "Durable; partial_success counts records kept as dead letters", content_type = "application/x-protobuf"),
        (status = 400, description = "Not an OTLP logs request (a google.rpc.Status body)"),
        (status = 413, description = "Body too large, or more than 500,000 records, attributes and values"),
        (status = 415, description = "Neither protobuf nor JSON, or compressed other than with gzip"),
        (status = 429, description = "Too many requests at once; retry"),
        (status = 503, description = "Back-pressure or a storage failure; retry after Retry-After")
    )
)]
pub(super) async fn logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let protobuf = match media_type.as_str() {
        PROTOBUF => true,
        JSON => false,
        other => {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Type must be {PROTOBUF} or {JSON}, not {other:?}"),
            )
            .into_otlp_response(false);
        }
    };
    match export(&state, &headers, body, protobuf).await {
        Ok(response) => response,
        Err(e) => e.into_otlp_response(protobuf),
    }
}

async fn export(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    protobuf: bool,
) -> Result<Response, ApiError> {
    if !state.config.server.ingest {
        return Err(ApiError::ingest_disabled());
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let declared_gzip = match encoding.as_deref() {
        None | Some("identity") => false,
        Some("gzip" | "x-gzip") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding {other:?} is not supported; send gzip or none"),
            ));
        }
    };
    // Held from before decompression: decoding is where a body's memory goes.
    let _slot = state.pipeline.try_push_slot()?;
    let bytes = read_body(body, state.config.server.max_body_bytes).await?;
    let gzip = declared_gzip || bytes.starts_with(&[0x1f, 0x8b]);
    let max_decompressed = state.config.server.max_decompressed_bytes;
    let origin = state.next_request_origin().replacen("http:", "otlp:", 1);
    let decoded = tokio::task::spawn_blocking(move || {
        let plain = if gzip {
            ztlens_ingest::pipeline::gunzip_limited(&bytes, max_decompressed)?
        } else {
            bytes.to_vec()
        };
        let request = if protobuf {
            ExportLogsServiceRequest::from_protobuf(&plain)
        } else {
            ExportLogsServiceRequest::from_json(&plain)
        };
        let request = request.map_err(|e| match e {
            OtlpError::TooManyElements => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_elements",
                e.to_string(),
            ),
            _ => ApiError::bad_request("invalid_otlp", e.to_string()),
        })?;
        Ok::<_, ApiError>(request.into_messages(&origin))
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "decoding the request failed",
        )
    })??;
    let receipt = state
        .pipeline
        .ingest_messages(
            std::sync::Arc::new(decoded),
            ztlens_ingest::pipeline::WhenBroken::Refuse,
        )
        .await?;
    let partial_success = (receipt.refused > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: receipt.refused as i64,
        error_message: if receipt.dead_letters_not_kept > 0 {
            format!(
                "{} of {} log records could not be read as their source, and today's dead-letter budget is spent, so they were not kept",
                receipt.refused, receipt.messages
            )
        } else {
            format!(
                "{} of {} log records could not be read as their source; they are kept as dead letters (ztlens dead-letters){}",
                receipt.refused,
                receipt.messages,
                receipt
                    .dead_letters
                    .first()
                    .map(|d| format!(", e.g. {}: {}", d.origin, d.reason))
                    .unwrap_or_default()
            )
        },
    });
    Ok(if protobuf {
        let body = prost::Message::encode_to_vec(&ExportLogsServiceResponse { partial_success });
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF))],
            body,
        )
            .into_response()
    } else {
        let json = match partial_success {
            None => serde_json::json!({}),
            Some(p) => serde_json::json!({"partialSuccess": {
                "rejectedLogRecords": p.rejected_log_records.to_string(),
                "errorMessage": p.error_message,
            }}),
        };
        axum::Json(json).into_response()
    })
}
