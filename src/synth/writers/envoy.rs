//! Envoy access log lines in the default format, from the portal's service mesh: the client in
//! X-Forwarded-For, no user, and the response flags that show the external authorizer.

use super::{Hit, body_bytes};
use crate::synth::rng::Rng;

/// A 403 is the external authorizer's refusal (response flag UAEX); other answers name no gate.
pub fn authorizer_refused(status: u16) -> bool {
    status == 403
}

/// The access log line of `hit` at `t`.
pub fn line(rng: &mut Rng, t: i64, hit: &Hit<'_>) -> String {
    let Hit {
        ip,
        method,
        path,
        status,
        ua,
        ..
    } = *hit;
    let flags = if authorizer_refused(status) {
        "UAEX"
    } else {
        "-"
    };
    let bytes = body_bytes(rng, status);
    let duration = 1 + rng.below(80);
    let request_id = rng.uuid();
    format!(
        "[{}] \"{method} {path} HTTP/1.1\" {status} {flags} 0 {bytes} {duration} {} \"{ip}\" \"{ua}\" \"{request_id}\" \"portal.corp.example\" \"10.20.1.10:8080\"",
        ztlens_analytics::time_range::format_ms(t),
        duration.saturating_sub(1)
    )
}
