//! The one error type of the API and the one place that maps errors to HTTP: every handler
//! returns [`ApiError`], which leaves as `{"code": …, "message": …}` with a status chosen here
//! and no internal detail.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use ztlens_analytics::AnalyticsError;
use ztlens_ingest::lake::LakeError;
use ztlens_ingest::pipeline::PushError;
use ztlens_ingest::{Format, UnknownSource};

/// The body of every error answer (for the OpenAPI description; [`ApiError`] writes it).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Stable and machine-readable, e.g. `invalid_parameter`, `payload_too_large`.
    code: String,
    /// For people.
    message: String,
}

/// An error answer: status, stable machine-readable code, message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Ask the client to retry after `seconds` (`Retry-After`).
    pub fn retry(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A push to a node that does not ingest (`server.ingest = false`).
    pub fn ingest_disabled() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ingest_disabled",
            "this node serves queries only (server.ingest = false); send events to an ingest node",
        )
    }

    pub fn too_large(limit: usize, what: &str) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the {what} exceeds the limit of {limit} bytes"),
        )
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

impl ApiError {
    /// The same error as an OTLP/HTTP client expects it: a `google.rpc.Status` body in the
    /// request's encoding, with the same status, except that an internal failure is a 503
    /// (OpenTelemetry exporters retry only 429, 502, 503 and 504 and drop the data on any other
    /// status).
    pub fn into_otlp_response(self, protobuf: bool) -> Response {
        let status = if self.status.is_server_error() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            self.status
        };
        let retry_after = self
            .retry_after
            .or((status == StatusCode::SERVICE_UNAVAILABLE).then_some(5));
        let message = format!("{}: {}", self.code, self.message);
        // google.rpc.Code of the status.
        let code = match status.as_u16() {
            401 => 16,       // UNAUTHENTICATED
            403 => 7,        // PERMISSION_DENIED
            404 => 5,        // NOT_FOUND
            429 => 8,        // RESOURCE_EXHAUSTED
            500..=599 => 14, // UNAVAILABLE
            _ => 3,          // INVALID_ARGUMENT
        };
        let mut response = if protobuf {
            let body = prost::Message::encode_to_vec(&crate::otlp::Status { code, message });
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                )],
                body,
            )
                .into_response()
        } else {
            (status, Json(json!({"code": code, "message": message}))).into_response()
        };
        if let Some(seconds) = retry_after {
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
            | AnalyticsError::InvalidParameter(_)
            | AnalyticsError::InvalidPolicy(_) => StatusCode::BAD_REQUEST,
            AnalyticsError::UnknownKpi(_) => StatusCode::NOT_FOUND,
            AnalyticsError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            AnalyticsError::ResourcesExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            AnalyticsError::QueryTooLarge(_) => StatusCode::UNPROCESSABLE_ENTITY,
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

impl From<UnknownSource> for ApiError {
    fn from(e: UnknownSource) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_source", e.to_string())
    }
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::InvalidGzip(_) => ApiError::bad_request("invalid_gzip", e.to_string()),
            PushError::TooLarge { limit } => {
                ApiError::too_large(limit, "decompressed request body")
            }
            PushError::UnknownFormat => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_format",
                format!(
                    "the body matches no known format; post to /api/v1/ingest/NAME (known: {})",
                    Format::known_names()
                ),
            ),
            PushError::TooManyRefused { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_many_refused",
                e.to_string(),
            ),
            // Retry when the day (UTC) changes; an hour is a polite upper bound for a client.
            PushError::DeadLetterBudgetSpent { .. } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "dead_letter_budget_spent",
                e.to_string(),
            )
            .retry(3600),
            PushError::Busy => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", e.to_string()).retry(1)
            }
            PushError::Lake(e) => e.into(),
        }
    }
}
