//! Who may send which request: the `Host` allow-list (DNS rebinding), the `Origin` check for
//! requests that change something (a web page posting `text/plain` to the API triggers no CORS
//! preflight), and API tokens with scopes. Applied to every route but the health probes, before
//! any handler runs; refusals are JSON errors that never echo the token.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::rate_limit::RateLimiter;
use crate::auth::{Denied, Scope, Tokens};
use crate::metrics::Metrics;

/// The access rules of one listening server.
#[derive(Clone)]
pub struct AccessPolicy {
    tokens: Tokens,
    /// Host names allowed in `Host`; `None` allows any.
    hosts: Option<Vec<String>>,
    origins: Vec<String>,
    limiter: Arc<RateLimiter>,
    metrics: Option<Arc<Metrics>>,
}

impl AccessPolicy {
    /// The rules for a server listening on a loopback address or not.
    pub fn new(
        tokens: Tokens,
        allowed_hosts: &[String],
        allowed_origins: &[String],
        loopback: bool,
    ) -> Self {
        let hosts = if allowed_hosts.iter().any(|h| h == "*") {
            None
        } else if !allowed_hosts.is_empty() {
            Some(
                allowed_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
            )
        } else if loopback {
            Some(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()])
        } else {
            None
        };
        Self {
            tokens,
            hosts,
            origins: allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            limiter: Arc::new(RateLimiter::new(None, Default::default())),
            metrics: None,
        }
    }

    /// Limit each token's request rate (see [`super::rate_limit`]), counting refusals.
    pub fn with_rate_limits(mut self, limiter: RateLimiter, metrics: Option<Arc<Metrics>>) -> Self {
        self.limiter = Arc::new(limiter);
        self.metrics = metrics;
        self
    }
}

/// The bucket of requests without a token (no tokens configured: a loopback-only server).
const ANONYMOUS: &str = "anonymous";

/// The token name a request was authorized with (`anonymous` without tokens), for handlers
/// that record who did something.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// The scope a route needs; `None` for the health probes, which answer anyone.
fn required_scope(route: Option<&str>, method: &Method) -> Option<Scope> {
    match route {
        Some("/healthz" | "/readyz") => None,
        // The overview page's static files hold no data; its API calls carry the token.
        Some(path) if super::ui::PATHS.contains(&path) => None,
        Some("/api/v1/ingest/{source}" | "/v1/logs") => Some(Scope::Ingest),
        // Creating or ending a silence changes what the SOC is told: admins only.
        Some("/api/v1/silences" | "/api/v1/silences/{id}")
            if !matches!(*method, Method::GET | Method::HEAD) =>
        {
            Some(Scope::Admin)
        }
        _ => Some(Scope::Read),
    }
}

/// The host part of a `Host` header (`[::1]:8080` → `::1`, `ztlens:8080` → `ztlens`).
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.to_ascii_lowercase()
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn check_access(
    State(policy): State<Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let Some(needed) = required_scope(route.as_deref(), request.method()) else {
        return next.run(request).await;
    };
    let headers = request.headers();
    let host = header(headers, header::HOST).unwrap_or("");
    if let Some(hosts) = &policy.hosts
        && !hosts.contains(&host_name(host))
    {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown_host",
            "this server does not answer for that host name; see server.allowed_hosts",
        )
        .into_response();
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let cross_site = header(headers, header::HeaderName::from_static("sec-fetch-site"))
            .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
        let origin = header(headers, header::ORIGIN)
            .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase());
        let listed = origin.as_ref().is_some_and(|o| policy.origins.contains(o));
        let foreign_origin = origin.as_ref().is_some_and(|origin| {
            let own = origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host.trim()));
            !own && !listed
        });
        // A listed origin is a browser app the operator trusts (it gets CORS headers too).
        if (cross_site && !listed) || foreign_origin {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "requests from other web sites are refused; see server.allowed_origins",
            )
            .into_response();
        }
    }
    let mut who = ANONYMOUS.to_string();
    if policy.tokens.enabled() {
        let token = header(headers, header::AUTHORIZATION).and_then(|v| {
            let (kind, token) = v.trim().split_once(' ')?;
            kind.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        match policy.tokens.authorize(token, needed) {
            Ok(name) => {
                tracing::debug!(token = name, "authorized");
                who = name.to_string();
            }
            Err(Denied::Unauthenticated) => {
                let mut response = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "send an API token: Authorization: Bearer <token>",
                )
                .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
            Err(Denied::Forbidden) => {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("this token lacks the {needed} scope"),
                )
                .into_response();
            }
        }
    }
    if let Err(wait) = policy.limiter.check(&who) {
        if let Some(m) = &policy.metrics {
            m.http_rate_limited.with_label_values(&[&who]).inc();
        }
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests for this token; slow down (see server.rate_limit_per_second)",
        )
        .retry(wait.as_secs().max(1))
        .into_response();
    }
    let mut request = request;
    request.extensions_mut().insert(Caller(who));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_drop_ports_and_brackets() {
        assert_eq!(host_name("localhost:8080"), "localhost");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("Ztlens.Example"), "ztlens.example");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn probes_are_open_ingest_needs_ingest_the_rest_read() {
        assert_eq!(required_scope(Some("/healthz"), &Method::GET), None);
        assert_eq!(
            required_scope(Some("/api/v1/silences"), &Method::POST),
            Some(Scope::Admin)
        );
        assert_eq!(
            required_scope(Some("/api/v1/silences/{id}"), &Method::DELETE),
            Some(Scope::Admin)
        );
        assert_eq!(
            required_scope(Some("/api/v1/silences"), &Method::GET),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope(Some("/api/v1/ingest/{source}"), &Method::POST),
            Some(Scope::Ingest)
        );
        assert_eq!(
            required_scope(Some("/metrics"), &Method::GET),
            Some(Scope::Read)
        );
        assert_eq!(required_scope(None, &Method::GET), Some(Scope::Read));
    }
}
