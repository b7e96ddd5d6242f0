//! Vendor parsers: pure functions from one framed record (bytes) to normalized rows.
//!
//! Contract every parser keeps:
//! - it never panics, whatever the bytes (fuzzed and property-tested);
//! - a record either appends all its rows or none, and a refusal is a [`ParseError`] whose
//!   [`ErrorKind`] is a small fixed set (it becomes a metric label) and whose detail says why;
//! - it knows nothing about where the bytes came from: `raw_ref` is an opaque string it copies;
//! - a parser of a JSON-framed format accepts exactly one JSON value and refuses trailing bytes
//!   (`serde_json::from_slice`, or `jv::parse_object`): a Kafka message that is one object is
//!   parsed without framing on that promise (`decode::RecordProcessor::process_payload`);
//! - state across records is allowed only where the format needs it (a VPC flow header line sets
//!   the field layout for the lines after it), and lives in the parser value, one per stream.

pub mod alb;
pub mod azure_nsg;
pub mod cloudtrail;
pub mod crowdstrike;
pub mod defender;
pub mod entra;
pub mod envoy;
pub mod gcp_vpc;
pub mod google_workspace;
pub mod guardduty;
pub mod hubble;
pub mod intune;
pub mod jamf;
pub mod json;
pub(crate) mod jv;
pub mod k8s_audit;
pub mod k8s_policy;
pub mod kandji;
pub mod linkerd;
pub mod nginx;
pub mod okta;
pub mod opa;
pub mod pingfederate;
pub mod pingone;
pub mod sentinelone;
pub(crate) mod tokens;
pub mod vpcflow;
pub mod workspace_one;
pub mod zeek;

use std::borrow::Cow;
use std::sync::Arc;

use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::TableBuilders;
use crate::site::Site;

/// Everything ztlens knows about one vendor format, as data. Each `parsers/<vendor>.rs` defines
/// its `SPEC` and `FORMAT`; [`Format::ALL`] is the registry that lists them.
#[derive(Debug)]
pub struct VendorSpec {
    /// The one name of the format: on the command line, in URLs, in `metadata_product_name`,
    /// metric labels, fixture folders and fuzz targets.
    pub name: &'static str,
    /// Other names users write for it (`--source apache`, a Kafka topic's `format = "aad"`).
    pub aliases: &'static [&'static str],
    /// How its byte stream is cut into records.
    pub framing: Framing,
    /// Top-level keys of the envelopes it arrives in (`{"records": [...]}`); the framer hands out
    /// each element of the envelope's array as a record. JSON framing only.
    pub envelope_keys: &'static [&'static str],
    /// Whether its parser keeps state across records (a VPC flow header line sets the layout),
    /// so every self-contained payload needs a fresh parser.
    pub stateful: bool,
    /// How to recognize it from the start of its content.
    pub sniff: Sniff,
    /// A fresh parser for one stream.
    pub parser: fn(Arc<Site>) -> Box<dyn Parser>,
}

/// Which part of an input a format's content check looks at, and on which inputs.
#[derive(Debug, Clone, Copy)]
pub enum Sniff {
    /// Every input: the start of the text, leading whitespace trimmed.
    Text(fn(&str) -> bool),
    /// Every input: its first line.
    FirstLine(fn(&str) -> bool),
    /// Inputs that start with `{` or `[`: the start of the text.
    Json(fn(&str) -> bool),
    /// Inputs that do not start with `{` or `[`: the first line.
    Line(fn(&str) -> bool),
}

/// A vendor format: a cheap handle to its [`VendorSpec`].
#[derive(Clone, Copy)]
pub struct Format(&'static VendorSpec);

impl Format {
    /// The registry: every format ztlens parses. The order is the order of content detection,
    /// so a format whose records another format's check could also match comes first (Zeek and
    /// Envoy lines before the JSON and access-log checks, Okta before the other JSON formats).
    pub const ALL: &'static [Format] = &[
        k8s_audit::FORMAT,
        zeek::FORMAT,
        hubble::FORMAT,
        linkerd::FORMAT,
        envoy::FORMAT,
        opa::FORMAT,
        k8s_policy::FORMAT,
        sentinelone::FORMAT,
        okta::FORMAT,
        entra::FORMAT,
        google_workspace::FORMAT,
        pingone::FORMAT,
        defender::FORMAT,
        intune::FORMAT,
        jamf::FORMAT,
        kandji::FORMAT,
        workspace_one::FORMAT,
        crowdstrike::FORMAT,
        guardduty::FORMAT,
        cloudtrail::FORMAT,
        azure_nsg::FORMAT,
        gcp_vpc::FORMAT,
        pingfederate::FORMAT,
        alb::FORMAT,
        vpcflow::FORMAT,
        nginx::FORMAT,
    ];

    pub const fn new(spec: &'static VendorSpec) -> Self {
        Format(spec)
    }

    pub fn spec(self) -> &'static VendorSpec {
        self.0
    }

    /// Name on the command line, in URLs and in `metadata_product_name`.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// The canonical name or an alias, in any case.
    pub fn from_name(name: &str) -> Option<Format> {
        Self::ALL.iter().copied().find(|f| {
            f.0.name.eq_ignore_ascii_case(name)
                || f.0.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// The canonical names, comma-separated, for messages that list what is known.
    pub fn known_names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
        names.join(", ")
    }

    pub fn framing(self) -> Framing {
        self.0.framing
    }

    pub fn envelope_keys(self) -> &'static [&'static str] {
        self.0.envelope_keys
    }

    pub fn is_stateful(self) -> bool {
        self.0.stateful
    }

    /// Recognize the format of one record (or message) from its content; `None` when no known
    /// format matches. Checks are cheap and look at the first 16 KiB only.
    pub fn detect(record: &[u8]) -> Option<Format> {
        let head = &record[..record.len().min(16 * 1024)];
        let text = String::from_utf8_lossy(head);
        let text = text.trim_start();
        let first_line = text.lines().next().unwrap_or("");
        let json = text.starts_with('{') || text.starts_with('[');
        Self::ALL.iter().copied().find(|f| match f.0.sniff {
            Sniff::Text(check) => check(text),
            Sniff::FirstLine(check) => check(first_line),
            Sniff::Json(check) => json && check(text),
            Sniff::Line(check) => !json && check(first_line),
        })
    }

    /// A fresh parser for one stream (file, request, message).
    pub fn parser(self, site: Arc<Site>) -> Box<dyn Parser> {
        (self.0.parser)(site)
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Format {}

impl std::hash::Hash for Format {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

impl std::fmt::Debug for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Format({})", self.0.name)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a user asked to read input as: one named format, or `auto` (each file, body or message
/// recognized from its content). The one parser of `--source`, the ingest URL and a Kafka
/// topic's `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Auto,
    Named(Format),
}

/// A source name that is neither `auto` nor a known format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?}; known: auto, {names}", names = Format::known_names())]
pub struct UnknownSource(pub String);

impl std::str::FromStr for SourceFormat {
    type Err = UnknownSource;

    fn from_str(name: &str) -> Result<Self, UnknownSource> {
        if name.eq_ignore_ascii_case("auto") {
            return Ok(SourceFormat::Auto);
        }
        Format::from_name(name)
            .map(SourceFormat::Named)
            .ok_or_else(|| UnknownSource(name.to_string()))
    }
}

/// Parses framed records of one format into rows.
pub trait Parser: Send {
    /// Parse one record and append its rows; returns the number of rows appended, 0 for a line
    /// that holds no event (a header line that sets how later lines are read), which is counted
    /// as a header line, not a record.
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

/// How restrictive a decision is, for keeping the most restrictive of several observe-mode
/// verdicts: a denial above a challenge above a re-authentication above `other` above an
/// allow.
pub(crate) fn restrictiveness(decision: &str) -> u8 {
    match decision {
        "allow" => 0,
        "other" => 1,
        "reauth_required" => 2,
        "challenge_mfa" => 3,
        _ => 4,
    }
}

/// Site tags for a flow between `src` and `dst`: segments, `zt_is_lateral` (both ends
/// internal), direction (lateral overrides the vendor's `hint`, else inbound/outbound from
/// which end is internal) and the destination port class (for TCP, UDP and SCTP only).
pub(crate) fn tag_network<'a>(
    own: &mut crate::schema::NetworkActivityColumns<'a>,
    site: &'a Site,
    src: Option<std::net::IpAddr>,
    dst: Option<std::net::IpAddr>,
    direction_hint: Option<i32>,
) {
    if let (Some(s), Some(d)) = (src, dst) {
        let (ps, pd) = (site.place(s), site.place(d));
        // Segment names live in the site config: borrowed, not copied per row.
        own.zt_segment_src = Some(Cow::Borrowed(ps.segment()));
        own.zt_segment_dst = Some(Cow::Borrowed(pd.segment()));
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
    let has_ports = matches!(own.connection_info_protocol_num, Some(6 | 17 | 132));
    let class = match own.dst_endpoint_port {
        Some(port) if has_ports => {
            Some(u16::try_from(port).map_or("other", |p| site.port_class(p).as_str()))
        }
        Some(_) => Some("other"),
        // A protocol without ports (ICMP) has no port to class, and is no admin access either.
        None if own.connection_info_protocol_num.is_some() && !has_ports => Some("other"),
        None => None,
    };
    if let Some(class) = class {
        own.zt_port_class = Some(Cow::Borrowed(class));
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

/// A transport port worth storing: 1 to 65535. Sources write 0 where there is no port (a
/// Defender local logon, ICMP in VPC flow logs); stored, it would look like a real port.
pub(crate) fn port_number(value: i64) -> Option<i32> {
    u16::try_from(value).ok().filter(|p| *p != 0).map(i32::from)
}

/// `Some(text)` when the text is an IP address: sources write placeholders ("unknown",
/// "null") where they have none, and a placeholder must not become an address.
pub(crate) fn ip_text(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    text.parse::<std::net::IpAddr>().is_ok().then_some(text)
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
    fn ports_and_addresses() {
        assert_eq!(port_number(443), Some(443));
        assert_eq!(port_number(0), None);
        assert_eq!(port_number(-1), None);
        assert_eq!(port_number(65_536), None);
        assert_eq!(
            ip_text("2001:db8::1".into()).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(ip_text("null".into()), None);
        assert_eq!(ip_text("unknown".into()), None);
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
    use super::*;

    #[test]
    fn recognizes_each_format_from_content() {
        let cases: [(&[u8], Option<Format>); 83] = [
            (br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list"}"#, Some(k8s_audit::FORMAT)),
            (br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[]}"#, Some(k8s_audit::FORMAT)),
            // An audited write of a Kyverno report is an audit event, not a report.
            (br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a2","verb":"update","requestObject":{"apiVersion":"wgpolicyk8s.io/v1alpha2","kind":"PolicyReport","results":[]}}"#, Some(k8s_audit::FORMAT)),
            // Near misses: a core/v1 Event (`kubectl get events -o json`) and an audit policy file.
            (br#"{"kind":"Event","apiVersion":"v1","metadata":{"name":"web-1.17f"},"involvedObject":{"kind":"Pod"},"reason":"Killing"}"#, None),
            (br#"{"kind":"Policy","apiVersion":"audit.k8s.io/v1","omitStages":["RequestReceived"],"rules":[]}"#, None),
            (br#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"wgpolicyk8s.io/v1alpha2","kind":"PolicyReport","results":[]}]}"#, Some(k8s_policy::FORMAT)),
            (br#"{"apiVersion":"openreports.io/v1alpha1","kind":"ClusterReport","results":[]}"#, Some(k8s_policy::FORMAT)),
            (br#"{"level":"info","ts":1772441722.3,"logger":"controller","msg":"x","process":"audit","audit_id":"2026-03-02T08:55:20Z","event_type":"violation_audited"}"#, Some(k8s_policy::FORMAT)),
            (br#"{"apiVersion":"constraints.gatekeeper.sh/v1beta1","kind":"K8sRequiredLabels","metadata":{"name":"n"},"status":{"totalViolations":0}}"#, Some(k8s_policy::FORMAT)),
            // Near miss: a Kyverno policy (not a report).
            (br#"{"apiVersion":"kyverno.io/v1","kind":"ClusterPolicy","metadata":{"name":"require-labels"},"spec":{"rules":[]}}"#, None),
            (br#"{"decision_id":"d1","path":"envoy/authz/allow","input":{"attributes":{}},"result":true}"#, Some(opa::FORMAT)),
            (br#"[{"labels":{"id":"i"},"decision_id":"d1","path":"httpapi/authz/allow","result":"true"}]"#, Some(opa::FORMAT)),
            (br#"{"log":"{\"decision_id\":\"d1\",\"type\":\"openpolicyagent.org/decision_logs\"}\n","stream":"stderr"}"#, Some(opa::FORMAT)),
            // An OPA decision about an Okta event hook is a decision, not an Okta event.
            (br#"{"decision_id":"d1","input":{"eventType":"user.session.start","actor":{"id":"u"}},"result":false}"#, Some(opa::FORMAT)),
            // Near miss: an Envoy json_format that logs a decision id stays Envoy.
            (br#"{"decision_id":"d1","method":"GET","path":"/","response_code":200}"#, Some(envoy::FORMAT)),
            (b"2026-03-02 09:15:02,118| tid:k3Qw9ZxB| AUTHN_ATTEMPT| alice| 198.51.100.23 | | ac_client| | pf.example.com| IdP| inprogress| HTMLFormPCV| | 15 ", Some(pingfederate::FORMAT)),
            (b"2026-03-02 10:00:01,004| tid:Wd3f| txn-7f3a| SSO| carol| 192.0.2.45 | Workday| wd| SAML20| pf.example.com| IdP| success| PingIDAdapter| | 31 ", Some(pingfederate::FORMAT)),
            // Near miss: PingFederate's admin.log (7 fields).
            (b"2026-03-02 09:15:02,118 | admin | Admin | 198.51.100.5 | A-1 | LOGIN | 123 | Login was successful", None),
            (br#"[{"id":"a1","recordedAt":"2026-03-02T11:00:02.100Z","actors":{"user":{"id":"u1","name":"alice@example.com","type":"USER"}},"action":{"type":"USER.ACCESS_ALLOWED"},"result":{"status":"SUCCESS"}}]"#, Some(pingone::FORMAT)),
            (br#"{"_links":{"self":{"href":"https://api.pingone.eu/v1/environments/e/activities"}},"_embedded":{"activities":[]},"count":0,"size":0}"#, Some(pingone::FORMAT)),
            // Near misses: Okta stays Okta; a log line with only a recordedAt is nobody's.
            (br#"{"uuid":"1","published":"2026-03-02T00:00:00Z","eventType":"user.session.start","actor":{},"outcome":{"result":"SUCCESS"}}"#, Some(okta::FORMAT)),
            (br#"{"recordedAt":"2026-03-02T00:00:00Z","level":"info","msg":"done"}"#, None),
            (br#"{"kind":"admin#reports#activities","etag":"\"e\"","items":[{"kind":"admin#reports#activity","id":{"time":"2026-03-02T08:14:05.221Z","uniqueQualifier":"1","applicationName":"login"},"events":[{"type":"login","name":"login_success"}]}]}"#, Some(google_workspace::FORMAT)),
            (br#"{"id":{"time":"2026-03-02T08:14:05.221Z","uniqueQualifier":"-1","applicationName":"login","customerId":"C0"},"actor":{"email":"a@example.com"},"events":[{"name":"logout"}]}"#, Some(google_workspace::FORMAT)),
            (br#"{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"login.googleapis.com","methodName":"google.login.LoginService.loginSuccess"},"logName":"organizations/1/logs/cloudaudit.googleapis.com%2Fdata_access"}"#, Some(google_workspace::FORMAT)),
            // Near miss: another service's audit entry (the existing `cloudaudit …%2Factivity` case stays None too).
            (br#"{"protoPayload":{"serviceName":"admin.googleapis.com","methodName":"google.admin.AdminService.createUser"},"logName":"organizations/1/logs/cloudaudit.googleapis.com%2Factivity"}"#, None),
            (b"[pod/checkout-api-7c9d6b8f5-h4j6k/linkerd-proxy] 2026-03-02T07:59:58.001920113Z [     0.001822s]  INFO ThreadId(01) linkerd2_proxy: release 2.210.4 (5a910be) by linkerd on 2023-11-22T17:01:46Z", Some(linkerd::FORMAT)),
            (br#"{"client.addr":"10.42.0.1:56300","client.id":"-","host":"10.42.0.69:7000","method":"GET","processing_ns":"35848","request_bytes":"","response_bytes":"4","status":200,"timestamp":"2022-08-23T20:33:49.254262428Z","total_ns":"1416066","trace_id":"","uri":"/ping","user_agent":"kube-probe/1.24","version":"HTTP/1.1"}"#, Some(linkerd::FORMAT)),
            (br#"2026-03-02T09:15:02.121904417Z stderr F 10.244.2.14:40112 portal.web.serviceaccount.identity.linkerd.cluster.local - [2026-03-02T09:15:02.118230411Z] "GET http://payroll-api.hr.svc.cluster.local:8080/payroll/run HTTP/2.0" 200"#, Some(linkerd::FORMAT)),
            // Near misses: nginx with a client port (a CLF time, not RFC 3339); another program's tracing JSON.
            (br#"10.244.3.57:60500 - - [02/Mar/2026:09:15:06 +0000] "GET /payroll HTTP/1.1" 200 12 "-" "curl/8""#, Some(nginx::FORMAT)),
            (br#"{"timestamp":"2026-03-02T08:00:00.000000Z","level":"INFO","fields":{"message":"listening"},"target":"my_app::server","threadId":"ThreadId(1)"}"#, None),
            // A Docker-wrapped proxy line with a quoted field: Envoy's `"log":"[` + `\" ` check would take
            // it if envoy came first.
            (br#"{"log":"[    11.501342s]  WARN ThreadId(01) linkerd_app_core::serve: Server failed to become ready error=\"connection closed\" client.addr=10.244.3.57:60418\n","stream":"stdout","time":"2026-03-02T08:00:09.501446508Z"}"#, Some(linkerd::FORMAT)),
            (br#"{"flow":{"time":"2026-03-02T08:00:01Z","verdict":"DROPPED","event_type":{"type":5}},"node_name":"prod-eu/worker-2","time":"2026-03-02T08:00:01Z"}"#, Some(hubble::FORMAT)),
            (br#"{"time":"2026-03-02T08:00:01Z","verdict":"FORWARDED","IP":{"source":"10.244.1.15","destination":"10.244.2.23"},"l4":{"TCP":{"destination_port":5432}}}"#, Some(hubble::FORMAT)),
            (br#"{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"42"},"node_name":"prod-eu/worker-2","time":"2026-03-02T08:00:10Z"}"#, Some(hubble::FORMAT)),
            // Near-misses: a "verdict" that is no Hubble verdict; a verdict among Envoy json_format keys.
            (br#"{"verdict":"approved","case_id":"42","time":"2026-03-02T08:00:00Z"}"#, None),
            (br#"{"method":"GET","path":"/","protocol":"HTTP/1.1","verdict":"FORWARDED"}"#, Some(envoy::FORMAT)),
            (br#"{"Devices":[{"Id":{"Value":1},"Udid":"u1","EnrollmentStatus":"Enrolled","ComplianceStatus":"Compliant"}],"Page":0,"PageSize":500,"Total":1}"#, Some(workspace_one::FORMAT)),
            (br#"{"EventId":178,"EventType":"Compliance Status Changed","DeviceId":5615,"EventTime":"2026-03-02T08:00:01Z","ComplianceStatus":"NonCompliant"}"#, Some(workspace_one::FORMAT)),
            // Near misses: Intune's diagnostic Devices record stays Intune; an event type and a device id
            // without any UEM status field is no notification.
            (br#"{"category":"Devices","properties":{"DeviceId":"d1","CompliantState":"Compliant","LastContact":"2026-01-01T00:00:00Z"}}"#, Some(intune::FORMAT)),
            (br#"{"EventType":"Device Deleted","DeviceId":1}"#, None),
            (br#"[{"device_id":"d1","blueprint_id":"b1","mdm_enabled":true,"platform":"Mac","last_check_in":"2026-01-01T00:00:00Z"}]"#, Some(kandji::FORMAT)),
            (br#"{"device_id":"d1","library_items":[{"name":"Require FileVault","status":"ERROR","reported_at":"2026-01-01T00:00:00Z"}]}"#, Some(kandji::FORMAT)),
            (br#"{"next":null,"previous":null,"results":[{"action":"update","id":"01J","occurred_at":"2026-01-01T00:00:00Z","target_component":"","target_type":"blueprint"}]}"#, Some(kandji::FORMAT)),
            // Near misses: a bare `device_id` is no Kandji record; Jamf inventory (`general` too) stays Jamf
            // (the existing Jamf case covers it).
            (br#"{"device_id":"d1","device_name":"mac-1"}"#, None),
            // SentinelOne: a threats page, a Panther-style activity (keys lower-cased, type as text), an
            // agent, and an alert (it has Okta's `eventType`, but no `actor`/`outcome`).
            (br#"{"data":[{"agentDetectionInfo":{"accountId":"1"},"agentRealtimeInfo":{"agentId":"2"},"id":"3","threatInfo":{"threatId":"3"}}],"pagination":{"nextCursor":null}}"#, Some(sentinelone::FORMAT)),
            (br#"{"accountid":"1","activitytype":"19","createdat":"2022-12-07 16:08:55.703","id":"4","primarydescription":"Threat detected","threatid":"5"}"#, Some(sentinelone::FORMAT)),
            (br#"{"computerName":"LT-1","id":"1","infected":false,"isActive":true,"networkStatus":"connected"}"#, Some(sentinelone::FORMAT)),
            (br#"{"alertInfo":{"alertId":"1","eventType":"PROCESSCREATION"},"ruleInfo":{"name":"r"}}"#, Some(sentinelone::FORMAT)),
            // Near-misses: Falcon's `ComputerName` without an agent's status keys, and a bare object.
            (br#"{"event_simpleName":"ProcessRollup2","ComputerName":"h","aid":"a"}"#, Some(crowdstrike::FORMAT)),
            (br#"{"computerName":"LT-1","status":"ok"}"#, None),
            (br#"{"version":"0","id":"e1","detail-type":"GuardDuty Finding","source":"aws.guardduty","account":"111122223333","time":"2026-03-02T09:06:00Z","region":"us-east-1","resources":[],"detail":{"schemaVersion":"2.0","id":"f1","arn":"arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1","type":"Recon:EC2/Portscan","updatedAt":"2026-03-02T09:05:12.617Z"}}"#, Some(guardduty::FORMAT)),
            // EventBridge's copy of a CloudTrail record about GuardDuty's API: CloudTrail's.
            (br#"{"version":"0","id":"e2","detail-type":"AWS API Call via CloudTrail","source":"aws.guardduty","detail":{"eventVersion":"1.08","eventTime":"2026-03-02T10:00:00Z","eventSource":"guardduty.amazonaws.com","eventName":"ArchiveFindings","requestParameters":{"detectorId":"d1","findingIds":["f1"]}}}"#, Some(cloudtrail::FORMAT)),
            // A Security Hub (ASFF) copy of a GuardDuty finding: neither.
            (br#"{"SchemaVersion":"2018-10-08","Id":"arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/guardduty","AwsAccountId":"111122223333","Types":["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"],"UpdatedAt":"2026-03-02T09:05:12.617Z"}"#, None),
            // `aws guardduty get-findings` output, pretty-printed, PascalCase.
            (b"{\n    \"Findings\": [\n        {\n            \"SchemaVersion\": \"2.0\",\n            \"AccountId\": \"111122223333\",\n            \"Id\": \"f1\",\n            \"Arn\": \"arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1\",\n            \"Type\": \"Recon:EC2/Portscan\"\n        }\n    ]\n}\n", Some(guardduty::FORMAT)),
            // An S3 export line (a bare finding).
            (br#"{"schemaVersion":"2.0","accountId":"111122223333","region":"us-east-1","partition":"aws","id":"f1","arn":"arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1","type":"Recon:EC2/Portscan"}"#, Some(guardduty::FORMAT)),
            // Security Hub's EventBridge event carrying a GuardDuty finding: not GuardDuty's format.
            (br#"{"version":"0","detail-type":"Security Hub Findings - Imported","source":"aws.securityhub","detail":{"findings":[{"SchemaVersion":"2018-10-08","Id":"arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/guardduty"}]}}"#, None),
            (br#"{"insertId":"1","logName":"projects/p/logs/compute.googleapis.com%2Fvpc_flows","jsonPayload":{"connection":{"src_ip":"10.0.0.1"},"bytes_sent":"1","start_time":"2026-01-01T00:00:00Z"}}"#, Some(gcp_vpc::FORMAT)),
            (br#"[{"insertId":"1","jsonPayload":{"disposition":"DENIED"},"logName":"projects/p/logs/compute.googleapis.com%2Ffirewall"}]"#, Some(gcp_vpc::FORMAT)),
            (br#"{"insertId":"1","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","protoPayload":{}}"#, None),
            (br#"{"records":[{"time":"2026-01-01T00:00:00Z","category":"NetworkSecurityGroupFlowEvent","properties":{"Version":2,"flows":[]}}]}"#, Some(azure_nsg::FORMAT)),
            (br#"{"time":"2026-01-01T00:00:00Z","flowLogVersion":4,"category":"FlowLogFlowEvent","flowRecords":{"flows":[]}}"#, Some(azure_nsg::FORMAT)),
            (br#"{"totalCount": 1, "results": [{"id": "1", "general": {"name": "mac-1", "remoteManagement": {"managed": true}}}]}"#, Some(jamf::FORMAT)),
            (br#"{"records":[{"time":"2026-01-01T00:00:00Z","category":"AdvancedHunting-DeviceInfo","properties":{"DeviceId":"d1"}}]}"#, Some(defender::FORMAT)),
            (br#"{"value":[{"id":"m1","deviceName":"LT-1","complianceState":"noncompliant","lastSyncDateTime":"2026-01-01T00:00:00Z"}]}"#, Some(intune::FORMAT)),
            (br#"{"Records": [{"eventVersion": "1.08", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin"}]}"#, Some(cloudtrail::FORMAT)),
            (br#"{"event_simpleName":"UserLogon","aid":"a1","timestamp":"1767225600000"}"#, Some(crowdstrike::FORMAT)),
            (br#"{"records": [{"time": "2026-01-01T00:00:00Z", "category": "SignInLogs", "properties": {}}]}"#, Some(entra::FORMAT)),
            (br#"{"id":"1","createdDateTime":"2026-01-01T00:00:00Z","userPrincipalName":"a@b","appDisplayName":"x"}"#, Some(entra::FORMAT)),
            (b"#separator \\x09\n#set_separator\t,\n", Some(zeek::FORMAT)),
            (br#"{"ts":1.5,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"conn_state":"S0"}"#, Some(zeek::FORMAT)),
            (br#"[2019-04-08T16:50:12.533Z] "GET / HTTP/1.1" 200 - 0 1 2 1 "-" "curl" "id" "host" "10.0.0.1:80""#, Some(envoy::FORMAT)),
            // Envoy's documented `json_format` example, and Istio's default text format.
            (br#"{"protocol": "HTTP/1.1", "duration": "123", "my_custom_header": "value_of_MY_CUSTOM_HEADER"}"#, Some(envoy::FORMAT)),
            (br#"{"time": "2026-01-01T00:00:00Z", "level": "info", "msg": "done", "method": "GET", "path": "/", "status": 200}"#, None),
            (br#"[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default"#, Some(envoy::FORMAT)),
            (br#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1""#, Some(alb::FORMAT)),
            (br#"{"uuid":"1","eventType":"user.session.start","actor":{}}"#, Some(okta::FORMAT)),
            (br#"  [{"eventType":"x","outcome":{"result":"SUCCESS"}}]"#, Some(okta::FORMAT)),
            (b"2 123456789010 eni-1 10.0.1.5 10.0.2.9 49152 22 6 10 840 1772438400 1772438460 REJECT OK", Some(vpcflow::FORMAT)),
            (b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", Some(vpcflow::FORMAT)),
            (br#"198.51.100.7 - alice [02/Mar/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8""#, Some(nginx::FORMAT)),
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
