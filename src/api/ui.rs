//! The built-in overview page at `/`: static files compiled into the binary (`ui/`), which
//! read the API from the browser like any client (with a read token when the server has
//! tokens). The files carry no data, so they are served without a token; a strict Content
//! Security Policy allows only this origin's scripts, styles and API.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../ui/index.html");
const SCRIPT: &str = include_str!("../../ui/overview.js");
const STYLE: &str = include_str!("../../ui/overview.css");

/// The paths served here (no scope needed).
pub(super) const PATHS: [&str; 3] = ["/", "/ui/overview.js", "/ui/overview.css"];

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[utoipa::path(
    get,
    path = "/",
    tag = "ui",
    security(()),
    responses(
        (status = 200, description = "The overview page", content_type = "text/html")
    )
)]
pub(super) async fn index() -> Response {
    file(INDEX, "text/html; charset=utf-8")
}

#[utoipa::path(
    get,
    path = "/ui/overview.js",
    tag = "ui",
    security(()),
    responses(
        (status = 200, description = "The overview page's script", content_type = "text/javascript")
    )
)]
pub(super) async fn script() -> Response {
    file(SCRIPT, "text/javascript; charset=utf-8")
}

#[utoipa::path(
    get,
    path = "/ui/overview.css",
    tag = "ui",
    security(()),
    responses(
        (status = 200, description = "The overview page's styles", content_type = "text/css")
    )
)]
pub(super) async fn style() -> Response {
    file(STYLE, "text/css; charset=utf-8")
}
