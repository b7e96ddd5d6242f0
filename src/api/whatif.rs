//! `POST /api/v1/whatif` and `POST /api/v1/whatif/evidence`: a candidate policy's effect over
//! history (see `ztlens_analytics::whatif`).
//!
//! The body is the policy file itself (TOML), or `{"policy": "<toml>", "baseline": "<toml>"}`
//! to compare with a baseline. `from` and `to` are query parameters as for KPIs; the evidence
//! takes `rule`, `offset` and `limit` too.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use ztlens_analytics::TimeRange;
use ztlens_analytics::time_range::format_ms;
use ztlens_analytics::whatif::{CandidatePolicy, MAX_POLICY_BYTES};

use super::{ApiError, read_body};
use crate::service::AppState;

/// Largest body: a policy and a baseline, JSON-escaped.
pub(super) const MAX_WHATIF_BODY_BYTES: usize = 4 * 2 * MAX_POLICY_BYTES;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhatIfBody {
    policy: String,
    #[serde(default)]
    baseline: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WhatIfParams {
    from: Option<String>,
    to: Option<String>,
    rule: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

impl WhatIfParams {
    fn range(&self) -> Result<TimeRange, ApiError> {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(TimeRange::parse(
            self.from.as_deref(),
            self.to.as_deref(),
            None,
            now,
        )?)
    }
}

/// The policy and the optional baseline of a request body, parsed against the site.
async fn policies(
    state: &AppState,
    body: axum::body::Body,
) -> Result<(CandidatePolicy, Option<CandidatePolicy>), ApiError> {
    let body = read_body(body, MAX_WHATIF_BODY_BYTES).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid_body", "the body is not UTF-8 text"))?;
    let (policy, baseline) = if text.trim_start().starts_with('{') {
        let body: WhatIfBody = serde_json::from_str(text).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("expected {{\"policy\": \"<toml>\", \"baseline\": \"<toml>\"}}: {e}"),
            )
        })?;
        (body.policy, body.baseline)
    } else {
        (text.to_string(), None)
    };
    let site = &state.config.site;
    let policy = CandidatePolicy::parse(&policy, site)?;
    let baseline = match baseline {
        Some(text) => Some(CandidatePolicy::parse(&text, site)?),
        None => None,
    };
    Ok((policy, baseline))
}

/// `POST /api/v1/whatif`: per rule, what it would have refused over the range.
#[utoipa::path(
    post,
    path = "/api/v1/whatif",
    tag = "observe",
    params(
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now")
    ),
    request_body(content((String = "text/plain"), (serde_json::Value = "application/json")), description = "The candidate policy file (TOML), or {\"policy\": …, \"baseline\": …}"),
    responses(
        (status = 200, description = "Per rule, what the candidate policy would have refused", content_type = "application/json", body = serde_json::Value),
        (status = 413, description = "Body too large", body = super::error::ErrorBody),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn run(
    State(state): State<AppState>,
    Query(params): Query<WhatIfParams>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let range = params.range()?;
    let (policy, baseline) = policies(&state, body).await?;
    let report = state
        .engine
        .what_if(&policy, baseline.as_ref(), range)
        .await?;
    Ok(Json(json!(report)))
}

/// `POST /api/v1/whatif/evidence?rule=…`: the requests one rule would have refused, `limit`
/// (default 100, at most 1000) at a time from `offset`; `next_offset` names the next page.
#[utoipa::path(
    post,
    path = "/api/v1/whatif/evidence",
    tag = "observe",
    params(
        ("from" = Option<String>, Query, description = "Start: RFC 3339, a date, epoch milliseconds (Grafana ${__from}) or now-24h; default now-24h"),
        ("to" = Option<String>, Query, description = "End (exclusive), same forms; default now"),
        ("rule" = String, Query, description = "The rule whose refusals to list"),
        ("limit" = Option<usize>, Query, description = "Rows per page"),
        ("offset" = Option<usize>, Query, description = "Rows to skip")
    ),
    request_body(content((String = "text/plain"), (serde_json::Value = "application/json")), description = "The candidate policy file"),
    responses(
        (status = 200, description = "One page of the requests the rule would refuse", content_type = "application/json", body = serde_json::Value),
        (status = 400, description = "Invalid parameter", body = super::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = super::error::ErrorBody),
        (status = 403, description = "Token without the route's scope", body = super::error::ErrorBody)
    )
)]
pub(super) async fn evidence(
    State(state): State<AppState>,
    Query(params): Query<WhatIfParams>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let range = params.range()?;
    let rule = params.rule.as_deref().ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            "rule is required: the id of a policy rule",
        )
    })?;
    let (policy, _) = policies(&state, body).await?;
    let offset = params.offset.unwrap_or(0);
    let limit = params.limit.unwrap_or(100);
    let output = state
        .engine
        .what_if_evidence(&policy, rule, range, offset, limit)
        .await?;
    Ok(Json(json!({
        "policy": policy.name,
        "rule": rule,
        "from": format_ms(range.from_ms()),
        "to": format_ms(range.to_ms()),
        "offset": offset,
        "limit": limit,
        "next_offset": super::next_offset(output.truncated, offset, limit),
        "columns": output.columns,
        "rows": output.json_rows()?,
    })))
}
