//! nginx access log lines (combined format), as the portal's nginx front end writes them in
//! its server's local time.

use super::Hit;

/// The server's offset from UTC, in minutes (it logs `+0100`).
const SERVER_TZ_OFFSET_MIN: i64 = 60;

/// The combined-format line of `hit` at `t`, answered with `bytes` of body.
pub fn line(t: i64, hit: &Hit<'_>, bytes: u64) -> String {
    let Hit {
        ip,
        user,
        method,
        path,
        status,
        ua,
    } = *hit;
    let local = chrono::DateTime::from_timestamp_millis(t + SERVER_TZ_OFFSET_MIN * 60_000)
        .unwrap_or_default();
    let time_local = format!("{} +0100", local.format("%d/%b/%Y:%H:%M:%S"));
    format!(
        "{ip} - {} [{time_local}] \"{method} {path} HTTP/1.1\" {status} {bytes} \"https://portal.corp.example/\" \"{ua}\"",
        user.unwrap_or("-")
    )
}
