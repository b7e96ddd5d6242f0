//! Vendor parsers: pure functions from one framed record (bytes) to normalized rows.
//!
//! Contract every parser keeps:
//! - it never panics, whatever the bytes (fuzzed and property-tested);
//! - a record either appends all its rows or none, and a refusal is a [`ParseError`] whose
//!   [`ErrorKind`] is a small fixed set (it becomes a metric label) and whose detail says why;
//! - it knows nothing about where the bytes came from: `raw_ref` is an opaque string it copies;
//! - state across records is allowed only where the format needs it (a VPC flow header line sets
//!   the field layout for the lines after it), and lives in the parser value, one per stream.

pub mod alb;
pub mod cloudtrail;
pub mod combined;
pub mod crowdstrike;
pub mod defender;
pub mod entra;
pub mod envoy;
pub mod intune;
pub mod jamf;
pub mod json;
pub(crate) mod jv;
pub mod okta;
pub(crate) mod tokens;
pub mod vpcflow;
pub mod zeek;

use std::borrow::Cow;
use std::sync::Arc;

use crate::schema::TableBuilders;
use crate::site::Site;

/// Why a record was refused. Bounded: used as a metric label and in dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The record is not valid UTF-8 text.
    InvalidUtf8,
    /// The record is not valid JSON, or not the JSON shape of the format.
    InvalidJson,
    /// A delimited record has a field count the format does not allow.
    FieldCount,
    /// A field has a value the format does not allow.
    InvalidField,
    /// A required field is missing.
    MissingField,
    /// A valid record of an event type ztlens does not map (kept for replay).
    UnsupportedEvent,
    /// The record is larger than `max_record_bytes`.
    Oversized,
    /// The record ended before its structure was complete.
    Truncated,
    /// A message or line holds no record at all.
    Empty,
    /// No known format matches the record (format detection).
    UnknownFormat,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::InvalidUtf8,
        ErrorKind::InvalidJson,
        ErrorKind::FieldCount,
        ErrorKind::InvalidField,
        ErrorKind::MissingField,
        ErrorKind::UnsupportedEvent,
        ErrorKind::Oversized,
        ErrorKind::Truncated,
        ErrorKind::Empty,
        ErrorKind::UnknownFormat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::FieldCount => "field_count",
            ErrorKind::InvalidField => "invalid_field",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::UnsupportedEvent => "unsupported_event",
            ErrorKind::Oversized => "oversized",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Empty => "empty",
            ErrorKind::UnknownFormat => "unknown_format",
        }
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record the parser refused, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ParseError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl ParseError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// The vendor formats ztlens parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Okta System Log (LogEvent JSON: NDJSON, or the array `/api/v1/logs` returns).
    Okta,
    /// AWS VPC Flow Logs (default v2 lines, or custom formats with the S3 header line).
    VpcFlow,
    /// nginx / Apache access logs in combined or common format.
    Combined,
    /// Microsoft Entra ID sign-in logs (diagnostic records or Graph signIn objects).
    Entra,
    /// Zeek conn.log (TSV with header directives, or JSON lines).
    Zeek,
    /// Envoy access logs (default text format, or JSON).
    Envoy,
    /// AWS Application Load Balancer access logs.
    Alb,
    /// AWS CloudTrail events (S3 `Records` files, EventBridge, single events).
    CloudTrail,
    /// CrowdStrike Falcon: Data Replicator events and Streaming API events.
    CrowdStrike,
    /// Microsoft Defender for Endpoint: Advanced Hunting export, MDE API machines and alerts.
    Defender,
    /// Microsoft Intune device compliance (diagnostic Devices export, Graph managedDevice).
    Intune,
    /// Jamf Pro computer inventory and check-in webhooks.
    Jamf,
}

/// How a format's byte stream is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One record per line.
    Lines,
    /// JSON values: NDJSON, one array of objects, or concatenated (pretty-printed) objects.
    Json,
}

impl Format {
    pub const ALL: [Format; 12] = [
        Format::Okta,
        Format::VpcFlow,
        Format::Combined,
        Format::Entra,
        Format::Zeek,
        Format::Envoy,
        Format::Alb,
        Format::CloudTrail,
        Format::CrowdStrike,
        Format::Defender,
        Format::Intune,
        Format::Jamf,
    ];

    /// Name on the command line, in URLs and in `metadata_product_name`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Okta => "okta",
            Format::VpcFlow => "vpcflow",
            Format::Combined => "nginx",
            Format::Entra => "entra",
            Format::Zeek => "zeek",
            Format::Envoy => "envoy",
            Format::Alb => "alb",
            Format::CloudTrail => "cloudtrail",
            Format::CrowdStrike => "crowdstrike",
            Format::Defender => "defender",
            Format::Intune => "intune",
            Format::Jamf => "jamf",
        }
    }

    /// Accepts the canonical name and common aliases.
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "okta" => Some(Format::Okta),
            "vpcflow" | "vpc_flow" | "aws_vpcflow" => Some(Format::VpcFlow),
            "nginx" | "apache" | "combined" | "common" | "nginx_apache" => Some(Format::Combined),
            "entra" | "entra_signin" | "azuread" | "aad" | "entra_id" => Some(Format::Entra),
            "zeek" | "zeek_conn" | "bro" | "conn" => Some(Format::Zeek),
            "envoy" | "envoyproxy" | "istio" => Some(Format::Envoy),
            "alb" | "aws_alb" | "elb" => Some(Format::Alb),
            "cloudtrail" | "aws_cloudtrail" => Some(Format::CloudTrail),
            "crowdstrike" | "falcon" | "fdr" => Some(Format::CrowdStrike),
            "defender" | "mde" | "defender_endpoint" => Some(Format::Defender),
            "intune" | "intune_jamf" | "managed_devices" => Some(Format::Intune),
            "jamf" | "jamf_pro" => Some(Format::Jamf),
            _ => None,
        }
    }

    pub fn framing(self) -> Framing {
        match self {
            Format::Okta
            | Format::Entra
            | Format::CloudTrail
            | Format::CrowdStrike
            | Format::Defender
            | Format::Intune
            | Format::Jamf => Framing::Json,
            Format::VpcFlow | Format::Combined | Format::Zeek | Format::Envoy | Format::Alb => {
                Framing::Lines
            }
        }
    }

    /// Top-level keys of the envelopes this format arrives in; the framer hands out each
    /// element of the envelope's array as a record.
    pub fn envelope_keys(self) -> &'static [&'static str] {
        match self {
            Format::Entra | Format::Defender | Format::Intune => &["records", "value"],
            Format::CloudTrail => &["Records"],
            Format::CrowdStrike => &["resources"],
            Format::Jamf => &["results"],
            Format::Okta
            | Format::VpcFlow
            | Format::Combined
            | Format::Zeek
            | Format::Envoy
            | Format::Alb => &[],
        }
    }

    /// Whether the parser keeps state across records (a VPC header line sets the layout).
    pub fn is_stateful(self) -> bool {
        matches!(self, Format::VpcFlow | Format::Zeek)
    }

    /// Recognize the format of one record (or message) from its content; `None` when no known
    /// format matches. Checks are cheap and look at the start of the input only.
    pub fn detect(record: &[u8]) -> Option<Format> {
        let head = &record[..record.len().min(16 * 1024)];
        let text = String::from_utf8_lossy(head);
        let text = text.trim_start();
        let first_line = text.lines().next().unwrap_or("");
        if zeek::looks_like_zeek(text) {
            return Some(Format::Zeek);
        }
        if envoy::looks_like_envoy(first_line) {
            return Some(Format::Envoy);
        }
        if text.starts_with('{') || text.starts_with('[') {
            // Okta LogEvent: eventType, plus the actor/outcome objects every event carries.
            let okta = text.contains("\"eventType\"")
                && (text.contains("\"actor\"") || text.contains("\"outcome\""));
            if okta {
                return Some(Format::Okta);
            }
            if entra::looks_like_entra(text) {
                return Some(Format::Entra);
            }
            if defender::looks_like_defender(text) {
                return Some(Format::Defender);
            }
            if intune::looks_like_intune(text) {
                return Some(Format::Intune);
            }
            if jamf::looks_like_jamf(text) {
                return Some(Format::Jamf);
            }
            if crowdstrike::looks_like_crowdstrike(text) {
                return Some(Format::CrowdStrike);
            }
            if cloudtrail::looks_like_cloudtrail(text) {
                return Some(Format::CloudTrail);
            }
            return None;
        }
        let line = first_line;
        if alb::looks_like_alb(line) {
            return Some(Format::Alb);
        }
        if vpcflow::looks_like_vpc_flow(line) {
            return Some(Format::VpcFlow);
        }
        if combined::looks_like_access_log(line) {
            return Some(Format::Combined);
        }
        None
    }

    /// A fresh parser for one stream (file, request, message).
    pub fn parser(self, site: Arc<Site>) -> Box<dyn Parser> {
        match self {
            Format::Okta => Box::new(okta::OktaParser::new(site)),
            Format::VpcFlow => Box::new(vpcflow::VpcFlowParser::new(site)),
            Format::Combined => Box::new(combined::CombinedParser::new(site)),
            Format::Entra => Box::new(entra::EntraParser::new(site)),
            Format::Zeek => Box::new(zeek::ZeekParser::new(site)),
            Format::Envoy => Box::new(envoy::EnvoyParser::new(site)),
            Format::Alb => Box::new(alb::AlbParser::new(site)),
            Format::CloudTrail => Box::new(cloudtrail::CloudTrailParser::new(site)),
            Format::CrowdStrike => Box::new(crowdstrike::CrowdStrikeParser::new(site)),
            Format::Defender => Box::new(defender::DefenderParser::new(site)),
            Format::Intune => Box::new(intune::IntuneParser::new(site)),
            Format::Jamf => Box::new(jamf::JamfParser::new(site)),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses framed records of one format into rows.
pub trait Parser: Send {
    /// Parse one record and append its rows; returns the number of rows appended.
    ///
    /// On error nothing was appended. `raw_ref` identifies the record's origin and is copied
    /// into every row.
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError>;

    /// True when `record` changes how the stream's later records are read (a VPC flow header
    /// line). Parallel ingest hands the latest such record to parsers that start mid-stream.
    fn is_stream_state(&self, record: &[u8]) -> bool {
        let _ = record;
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the parsers.

/// OCSF `action_id`, `disposition_id` and `status_id` for a `zt_decision`.
///
/// A challenge (MFA or re-authentication) is neither a success nor a failure: status 99,
/// disposition 23. Credential and MFA refusals are `Unauthorized` (26); every other denial is
/// `Blocked` (2).
pub(crate) fn decision_outcome(decision: &str) -> (i32, i32, i32) {
    match decision {
        "allow" => (1, 1, 1),
        "challenge_mfa" | "reauth_required" => (99, 23, 99),
        "mfa_failed" | "mfa_denied" | "deny_credentials" => (2, 26, 2),
        "other" => (0, 0, 0),
        _ => (2, 2, 2),
    }
}

/// Site tags for a flow between `src` and `dst`: segments, `zt_is_lateral` (both ends
/// internal), direction (lateral overrides the vendor's `hint`, else inbound/outbound from
/// which end is internal) and the destination port class (for TCP, UDP and SCTP only).
pub(crate) fn tag_network(
    own: &mut crate::schema::NetworkActivityColumns<'_>,
    site: &Site,
    src: Option<std::net::IpAddr>,
    dst: Option<std::net::IpAddr>,
    direction_hint: Option<i32>,
) {
    if let (Some(s), Some(d)) = (src, dst) {
        let (ps, pd) = (site.place(s), site.place(d));
        own.zt_segment_src = Some(Cow::Owned(ps.segment().to_string()));
        own.zt_segment_dst = Some(Cow::Owned(pd.segment().to_string()));
        let lateral = ps.is_internal() && pd.is_internal();
        own.zt_is_lateral = Some(lateral);
        own.connection_info_direction_id = Some(if lateral {
            3
        } else {
            match direction_hint {
                Some(hint) => hint,
                None if pd.is_internal() => 1,
                None if ps.is_internal() => 2,
                None => 0,
            }
        });
    } else if direction_hint.is_some() {
        own.connection_info_direction_id = direction_hint;
    }
    if let Some(port) = own.dst_endpoint_port {
        let has_ports = matches!(own.connection_info_protocol_num, Some(6 | 17 | 132));
        let class = if has_ports {
            u16::try_from(port).map(|p| site.port_class(p)).ok()
        } else {
            None
        };
        own.zt_port_class = Some(Cow::Borrowed(class.map_or("other", |c| c.as_str())));
    }
    if own.connection_info_protocol_name.is_none() {
        own.connection_info_protocol_name = own
            .connection_info_protocol_num
            .and_then(vpcflow::protocol_name)
            .map(Cow::Borrowed);
    }
    if own.connection_info_protocol_ver_id.is_none() {
        own.connection_info_protocol_ver_id = src.map(|ip| if ip.is_ipv4() { 4 } else { 6 });
    }
}

/// Site tags for an HTTP request: the configured app (host first, then path prefix) and
/// whether the path is privileged.
/// Site tags of a sign-in's target app: privileged (`site.privileged_apps`) and the site
/// application it is (`site.apps[].idp_apps`).
pub(crate) fn tag_auth_app(own: &mut crate::schema::AuthenticationColumns<'_>, site: &Site) {
    let app = own.service_name.as_deref();
    own.zt_privileged_target = Some(app.is_some_and(|a| site.is_privileged_app(a)));
    if let Some(m) = app.and_then(|a| site.match_idp_app(a)) {
        own.zt_app_id = Some(Cow::Owned(m.id.to_string()));
        own.zt_app_sensitivity = m.sensitivity.map(|s| Cow::Owned(s.to_string()));
    }
}

pub(crate) fn tag_http(own: &mut crate::schema::HttpActivityColumns<'_>, site: &Site) {
    let path = own.http_request_url_path.as_deref();
    if let Some(app) = site.match_app(own.http_request_url_hostname.as_deref(), path) {
        own.zt_app_id = Some(Cow::Owned(app.id.to_string()));
        own.zt_app_sensitivity = app.sensitivity.map(|s| Cow::Owned(s.to_string()));
    }
    let privileged = path.and_then(|p| site.privileged_prefix(p));
    own.zt_privileged_target = Some(privileged.is_some());
    own.zt_privileged_prefix = privileged.map(|p| Cow::Owned(p.to_string()));
}

/// HTTP method → OCSF HTTP activity id and name.
pub(crate) fn http_method_activity(method: &str) -> (i32, &'static str) {
    match method {
        "CONNECT" => (1, "Connect"),
        "DELETE" => (2, "Delete"),
        "GET" => (3, "Get"),
        "HEAD" => (4, "Head"),
        "OPTIONS" => (5, "Options"),
        "POST" => (6, "Post"),
        "PUT" => (7, "Put"),
        "TRACE" => (8, "Trace"),
        _ => (99, "Other"),
    }
}

/// Stable id from record content, for formats whose records carry no event id.
pub fn content_uid(prefix: &str, bytes: &[u8]) -> String {
    let hash = xxhash_rust::xxh3::xxh3_128(bytes);
    format!("{prefix}-{hash:032x}")
}

pub(crate) fn as_utf8(record: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(record).map_err(|e| {
        ParseError::new(
            ErrorKind::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}

/// Parse RFC 3339 (and the `YYYY-MM-DD HH:MM:SS[.fff]` variant some exporters write, read as
/// UTC) into epoch milliseconds.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    // RFC 3339 with a space instead of `T` and an offset.
    if let Ok(t) = chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.timestamp_millis());
    }
    None
}

/// `Some(text)` unless the text is empty or a placeholder dash.
pub(crate) fn non_empty(text: &str) -> Option<Cow<'_, str>> {
    if text.is_empty() || text == "-" {
        None
    } else {
        Some(Cow::Borrowed(text))
    }
}

/// Serialize a list of (key, JSON text) pairs as one JSON object, or `None` when empty.
pub(crate) fn json_object(pairs: &[(&str, &str)]) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    let mut out = String::from("{");
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp_ms("2024-01-02T03:04:05.678Z"),
            Some(1_704_164_645_678)
        );
        assert_eq!(
            parse_timestamp_ms("2024-01-02T03:04:05+01:00"),
            Some(1_704_161_045_000)
        );
        assert_eq!(
            parse_timestamp_ms("2024-01-02 03:04:05.678"),
            Some(1_704_164_645_678)
        );
        assert_eq!(parse_timestamp_ms("yesterday"), None);
    }

    #[test]
    fn json_object_escapes_keys() {
        assert_eq!(
            json_object(&[("a\"b", "1"), ("c", "[2]")]).unwrap(),
            r#"{"a\"b":1,"c":[2]}"#
        );
        assert_eq!(json_object(&[]), None);
    }
}

#[cfg(test)]
mod detect_tests {
    use super::Format;

    #[test]
    fn recognizes_each_format_from_content() {
        let cases: [(&[u8], Option<Format>); 18] = [
            (br#"{"totalCount": 1, "results": [{"id": "1", "general": {"name": "mac-1", "remoteManagement": {"managed": true}}}]}"#, Some(Format::Jamf)),
            (br#"{"records":[{"time":"2026-01-01T00:00:00Z","category":"AdvancedHunting-DeviceInfo","properties":{"DeviceId":"d1"}}]}"#, Some(Format::Defender)),
            (br#"{"value":[{"id":"m1","deviceName":"LT-1","complianceState":"noncompliant","lastSyncDateTime":"2026-01-01T00:00:00Z"}]}"#, Some(Format::Intune)),
            (br#"{"Records": [{"eventVersion": "1.08", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin"}]}"#, Some(Format::CloudTrail)),
            (br#"{"event_simpleName":"UserLogon","aid":"a1","timestamp":"1767225600000"}"#, Some(Format::CrowdStrike)),
            (br#"{"records": [{"time": "2026-01-01T00:00:00Z", "category": "SignInLogs", "properties": {}}]}"#, Some(Format::Entra)),
            (br#"{"id":"1","createdDateTime":"2026-01-01T00:00:00Z","userPrincipalName":"a@b","appDisplayName":"x"}"#, Some(Format::Entra)),
            (b"#separator \\x09\n#set_separator\t,\n", Some(Format::Zeek)),
            (br#"{"ts":1.5,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"conn_state":"S0"}"#, Some(Format::Zeek)),
            (br#"[2019-04-08T16:50:12.533Z] "GET / HTTP/1.1" 200 - 0 1 2 1 "-" "curl" "id" "host" "10.0.0.1:80""#, Some(Format::Envoy)),
            (br#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1""#, Some(Format::Alb)),
            (br#"{"uuid":"1","eventType":"user.session.start","actor":{}}"#, Some(Format::Okta)),
            (br#"  [{"eventType":"x","outcome":{"result":"SUCCESS"}}]"#, Some(Format::Okta)),
            (b"2 123456789010 eni-1 10.0.1.5 10.0.2.9 49152 22 6 10 840 1772438400 1772438460 REJECT OK", Some(Format::VpcFlow)),
            (b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", Some(Format::VpcFlow)),
            (br#"198.51.100.7 - alice [02/Mar/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8""#, Some(Format::Combined)),
            (br#"{"some":"other json"}"#, None),
            (b"hello world", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                Format::detect(input),
                want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
