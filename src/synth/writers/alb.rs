//! AWS ALB access log lines. Signed-in requests ran the `authenticate` action (the ALB's OIDC
//! integration with the identity provider), which the line's actions field shows.

use super::{Hit, body_bytes};
use crate::synth::rng::Rng;

/// The access log line of `hit` at `t`.
pub fn line(rng: &mut Rng, t: i64, hit: &Hit<'_>) -> String {
    let Hit {
        ip,
        user,
        method,
        path,
        status,
        ua,
    } = *hit;
    let port = 1024 + rng.below(60_000);
    let bytes = body_bytes(rng, status);
    let trace = format!("Root=1-{:08x}-{:024x}", t / 1000, rng.next_u64());
    let actions = if user.is_some() {
        "authenticate,forward"
    } else {
        "forward"
    };
    let created = ztlens_analytics::time_range::format_ms(t - 3);
    let time = ztlens_analytics::time_range::format_ms(t);
    format!(
        "https {time} app/corp-portal/50dc6c495c0c9188 {ip}:{port} 10.20.1.10:443 0.001 0.004 0.000 {status} {status} 320 {bytes} \"{method} https://portal.corp.example:443{path} HTTP/1.1\" \"{ua}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/portal/73e2d6bc24d8a067 \"{trace}\" \"portal.corp.example\" \"arn:aws:acm:eu-central-1:123456789012:certificate/portal\" 1 {created} \"{actions}\" \"-\" \"-\" \"10.20.1.10:443\" \"{status}\" \"-\" \"-\""
    )
}
