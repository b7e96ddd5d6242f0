//! Envoy access logs → `http_activity` (HTTP requests) and `network_activity` (TCP proxy
//! connections, logged as `"- - -"`).
//!
//! Input, one entry per line, in any of:
//! - Envoy's default text format: `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%
//!   %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//!   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//!   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"`, optionally prefixed `ACCESS `
//!   (Ambassador), with any further fields kept in `unmapped`;
//! - Istio's default text format (the sidecar's unless `accessLogFormat` is set): the same fields
//!   with `%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
//!   "%UPSTREAM_TRANSPORT_FAILURE_REASON%"` after the flags, and `%UPSTREAM_CLUSTER%
//!   %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
//!   %REQUESTED_SERVER_NAME% %ROUTE_NAME%` after the upstream host;
//! - the same line wrapped by a container runtime: `{"message": "...", "stream": …}` or
//!   `{"log": "..."}`;
//! - JSON access logs (Istio's `accessLogEncoding: JSON` and any `json_format` using Envoy's
//!   command names in snake case: `start_time`, `method`, `path`, `response_code`,
//!   `response_flags`, `downstream_remote_address`, `upstream_host` …). A dictionary may name
//!   any few of them (Envoy's own example has only `protocol` and `duration`); one without
//!   `start_time` (or `timestamp`) takes the processing time as its `time`, and a JSON `"-"` is
//!   an unset value, as Envoy writes it.
//!
//! Zero Trust reading: response flag `UAEX` (or details `ext_authz_denied`) means the external
//! authorization service refused the request → `zt_authz_result` = `ext_authz_denied`,
//! `action_id` 2, `disposition_id` 2; `rbac_access_denied…` details → `rbac_denied`. A 401 is
//! Unauthorized (26), a 403 Blocked (2). `metadata_uid` is a hash of the line: the request id is a
//! correlation id (`metadata_correlation_uid`), because every proxy hop logs the same one.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{self, str_at};
use super::tokens::{self, Token};
use super::{
    Format, Parser, Sniff, VendorSpec, as_utf8, content_uid, json_object, parse_timestamp_ms,
};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{HttpActivityRow, NetworkActivityRow, TableBuilders};
use crate::site::Site;

/// Envoy access logs (default text format, or JSON).
pub static SPEC: VendorSpec = VendorSpec {
    name: "envoy",
    aliases: &["envoyproxy", "istio"],
    framing: Framing::Lines,
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::FirstLine(looks_like_envoy),
    parser: |site| Box::new(EnvoyParser::new(site)),
};

/// The envoy format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct EnvoyParser {
    site: Arc<Site>,
}

impl EnvoyParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// One access-log entry, whichever encoding it came in.
#[derive(Debug, Default)]
struct Entry<'a> {
    start_time: Option<Cow<'a, str>>,
    method: Option<Cow<'a, str>>,
    path: Option<Cow<'a, str>>,
    protocol: Option<Cow<'a, str>>,
    response_code: Option<Cow<'a, str>>,
    response_flags: Option<Cow<'a, str>>,
    response_code_details: Option<Cow<'a, str>>,
    bytes_received: Option<Cow<'a, str>>,
    bytes_sent: Option<Cow<'a, str>>,
    duration: Option<Cow<'a, str>>,
    x_forwarded_for: Option<Cow<'a, str>>,
    user_agent: Option<Cow<'a, str>>,
    request_id: Option<Cow<'a, str>>,
    authority: Option<Cow<'a, str>>,
    upstream_host: Option<Cow<'a, str>>,
    downstream_remote: Option<Cow<'a, str>>,
    unmapped: Vec<(String, String)>,
}

impl Parser for EnvoyParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let line = as_utf8(record)?;
        let trimmed = line.trim_start();
        if trimmed.starts_with('{') {
            let value = jv::parse_object(record, "an Envoy access log")?;
            // A container runtime's wrapper around a text line; a `json_format` that happens to
            // have a `message` or `log` key is read as JSON.
            let known = JSON_MAPPED
                .iter()
                .filter(|k| value.get(**k).is_some())
                .count();
            if let Some(inner) = str_at(&value, &["message"]).or_else(|| str_at(&value, &["log"]))
                && value.get("start_time").is_none()
            {
                match parse_text(inner.trim_end()) {
                    Ok(entry) => return self.emit(entry, record, raw_ref, out),
                    Err(e) if known < 2 => return Err(e),
                    Err(_) => {}
                }
            }
            let entry = entry_from_json(&value);
            // Without a start time, only an object that reads as an access log is one: `{}` or
            // another vendor's event sent here is broken, not an entry stamped "now".
            if entry.start_time.is_none() && known < 2 {
                return Err(jv::missing("start_time"));
            }
            return self.emit(entry, record, raw_ref, out);
        }
        let entry = parse_text(line)?;
        self.emit(entry, record, raw_ref, out)
    }
}

/// Whether a line looks like an Envoy access log entry.
pub fn looks_like_envoy(line: &str) -> bool {
    let line = line.strip_prefix("ACCESS ").unwrap_or(line);
    if line.starts_with('{') {
        return (line.contains("\"response_flags\"") && line.contains("\"upstream_host\""))
            || looks_like_json_format(line)
            || (line.contains("\"message\":\"ACCESS [") || line.contains("\"log\":\"["))
                && line.contains("\\\" ");
    }
    // `[2019-04-08T16:50:12.533Z] "GET / HTTP/1.1" 200 - …`: an ISO time in brackets first.
    line.starts_with('[')
        && line
            .get(1..5)
            .is_some_and(|y| y.bytes().all(|b| b.is_ascii_digit()))
        && line.get(11..12) == Some("T")
        && line.contains("] \"")
}

/// Whether a JSON line is a `json_format` entry: two or more of its keys, and at least half of
/// them, are Envoy's command names. A dictionary may name any subset (the documented example is
/// `protocol`, `duration` and one custom header); an application's JSON log with a `method` and
/// a `path` among many other keys is not one.
fn looks_like_json_format(line: &str) -> bool {
    // A cheap look first: most JSON is no access log.
    if JSON_MAPPED.iter().filter(|k| line.contains(*k)).count() < 2 {
        return false;
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    let known = map
        .keys()
        .filter(|k| JSON_MAPPED.contains(&k.as_str()))
        .count();
    known >= 2 && known * 2 >= map.len()
}

/// Istio's default text format puts `%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
/// "%UPSTREAM_TRANSPORT_FAILURE_REASON%"` between the flags and the byte counts: a quoted fifth
/// field, where Envoy's default has the bare `%DURATION%`, tells the two apart.
fn is_istio_text(rest: &[Token<'_>]) -> bool {
    matches!(rest.get(4), Some(Token::Quoted(_)))
}

/// Istio's fields after `"%UPSTREAM_HOST%"`, named as its JSON encoding names them.
const ISTIO_TAIL: &[&str] = &[
    "upstream_cluster",
    "upstream_local_address",
    "downstream_local_address",
    "downstream_remote_address",
    "requested_server_name",
    "route_name",
];

fn parse_text(line: &str) -> Result<Entry<'_>, ParseError> {
    let line = line.strip_prefix("ACCESS ").unwrap_or(line);
    let fields = tokens::split(line)?;
    let mut it = fields.into_iter();
    let mut entry = Entry::default();
    match it.next() {
        Some(Token::Bracketed(t)) => entry.start_time = Some(Cow::Borrowed(t)),
        _ => {
            return Err(ParseError::new(
                ErrorKind::InvalidField,
                "an Envoy access log line starts with [START_TIME]",
            ));
        }
    }
    let request = match it.next() {
        Some(Token::Quoted(r)) => r,
        _ => {
            return Err(ParseError::new(
                ErrorKind::FieldCount,
                "missing the quoted \"METHOD PATH PROTOCOL\" field",
            ));
        }
    };
    let mut parts = request.split(' ');
    let (method, path, protocol) = (parts.next(), parts.next(), parts.next());
    let own = |s: Option<&str>| {
        s.filter(|s| !s.is_empty() && *s != "-")
            .map(|s| Cow::Owned(s.to_string()))
    };
    entry.method = own(method);
    entry.path = own(path);
    entry.protocol = own(protocol);
    let rest: Vec<Token<'_>> = it.collect();
    // Istio's three extra fields shift the rest of Envoy's default layout.
    let istio = is_istio_text(&rest);
    let shift = if istio { 3 } else { 0 };
    if rest.len() < 6 + shift {
        return Err(ParseError::new(
            ErrorKind::FieldCount,
            format!(
                "{} fields after the request; the default format has 11 (Istio's 20)",
                rest.len()
            ),
        ));
    }
    let value = |i: usize| rest.get(i).and_then(Token::value);
    let mut keep = |key: &str, i: usize| {
        if let Some(v) = value(i) {
            entry.unmapped.push((key.to_string(), json_string(&v)));
        }
    };
    if istio {
        keep("connection_termination_details", 3);
        keep("upstream_transport_failure_reason", 4);
    }
    keep("upstream_service_time", 5 + shift);
    entry.response_code = value(0);
    entry.response_flags = value(1);
    if istio {
        entry.response_code_details = value(2);
    }
    entry.bytes_received = value(2 + shift);
    entry.bytes_sent = value(3 + shift);
    entry.duration = value(4 + shift);
    entry.x_forwarded_for = value(6 + shift);
    entry.user_agent = value(7 + shift);
    entry.request_id = value(8 + shift);
    entry.authority = value(9 + shift);
    entry.upstream_host = value(10 + shift);
    let mut named = 11 + shift;
    if istio {
        for (i, key) in ISTIO_TAIL.iter().enumerate() {
            let at = named + i;
            if *key == "downstream_remote_address" {
                entry.downstream_remote = value(at);
            } else if let Some(v) = value(at) {
                entry.unmapped.push((key.to_string(), json_string(&v)));
            }
        }
        named += ISTIO_TAIL.len();
    }
    for (i, token) in rest.iter().enumerate().skip(named) {
        if let Some(v) = token.value() {
            entry
                .unmapped
                .push((format!("field_{}", i + 3), json_string(&v)));
        }
    }
    Ok(entry)
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

const JSON_MAPPED: &[&str] = &[
    "start_time",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "response_code_details",
    "bytes_received",
    "bytes_sent",
    "duration",
    "x_forwarded_for",
    "user_agent",
    "request_id",
    "authority",
    "upstream_host",
    "downstream_remote_address",
];

fn entry_from_json(value: &Value) -> Entry<'_> {
    // Envoy writes an unset value as the string "-" in JSON logs too.
    let get = |k: &str| str_at(value, &[k]).filter(|v| v != "-");
    let mut entry = Entry {
        start_time: get("start_time").or_else(|| get("timestamp")),
        method: get("method"),
        path: get("path").or_else(|| get("x_envoy_original_path")),
        protocol: get("protocol"),
        response_code: get("response_code"),
        response_flags: get("response_flags"),
        response_code_details: get("response_code_details"),
        bytes_received: get("bytes_received"),
        bytes_sent: get("bytes_sent"),
        duration: get("duration"),
        x_forwarded_for: get("x_forwarded_for"),
        user_agent: get("user_agent"),
        request_id: get("request_id"),
        authority: get("authority"),
        upstream_host: get("upstream_host"),
        downstream_remote: get("downstream_remote_address"),
        unmapped: Vec::new(),
    };
    if let Some(map) = value.as_object() {
        entry.unmapped = map
            .iter()
            .filter(|(k, v)| {
                !v.is_null() && v.as_str() != Some("-") && !JSON_MAPPED.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
    }
    entry
}

/// Longest request or connection duration taken as one, in milliseconds (a year).
const MAX_DURATION_MS: i64 = 366 * 24 * 3_600_000;

fn number(field: &str, text: &Option<Cow<'_, str>>) -> Result<Option<i64>, ParseError> {
    match text {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| jv::invalid(field, t)),
    }
}

/// `ip:port` (or `tcp://ip:port`) → address and port. An address that is not an IP (a host
/// name, a `unix://` socket) is kept in `unmapped` under `key` as written, so it is not lost.
fn address(
    key: &str,
    text: Option<&str>,
    unmapped: &mut Vec<(String, String)>,
) -> (Option<std::net::IpAddr>, Option<i32>) {
    let Some(text) = text else {
        return (None, None);
    };
    let (ip, port) = tokens::host_port(text);
    if ip.is_none() {
        unmapped.push((key.to_string(), json_string(text)));
    }
    (ip, port)
}

impl EnvoyParser {
    fn emit(
        &self,
        mut entry: Entry<'_>,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        // A `json_format` without %START_TIME% states no time: the entry is as recent as its
        // processing (text lines always start with one).
        let time = match entry.start_time.as_deref() {
            Some(start) => {
                parse_timestamp_ms(start).ok_or_else(|| jv::invalid("start_time", start))?
            }
            None => out.processed_time(),
        };
        let code = number("response_code", &entry.response_code)?
            .map(i32::try_from)
            .transpose()
            .map_err(|_| {
                jv::invalid(
                    "response_code",
                    entry.response_code.as_deref().unwrap_or(""),
                )
            })?;
        let bytes_received = number("bytes_received", &entry.bytes_received)?;
        let bytes_sent = number("bytes_sent", &entry.bytes_sent)?;
        // A duration beyond a year is not one (and `time + duration` must not overflow).
        let duration = number("duration", &entry.duration)?;
        if let (Some(d), Some(text)) = (duration, &entry.duration)
            && !(0..=MAX_DURATION_MS).contains(&d)
        {
            return Err(jv::invalid("duration", text));
        }
        let mut kept = std::mem::take(&mut entry.unmapped);
        let (upstream_ip, upstream_port) =
            address("upstream_host", entry.upstream_host.as_deref(), &mut kept);
        let (downstream_ip, downstream_port) = address(
            "downstream_remote_address",
            entry.downstream_remote.as_deref(),
            &mut kept,
        );
        let uid = content_uid("envoy", record);
        let pairs: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let unmapped = json_object(&pairs);

        // TCP proxy entries carry no HTTP request (%PROTOCOL% is "-" for them).
        if entry.method.is_none() && code.unwrap_or(0) == 0 && entry.protocol.is_none() {
            let mut row = NetworkActivityRow::default();
            let n = &mut row.own;
            n.src_endpoint_ip = downstream_ip.map(|ip| Cow::Owned(ip.to_string()));
            n.src_endpoint_port = downstream_port;
            n.dst_endpoint_ip = upstream_ip.map(|ip| Cow::Owned(ip.to_string()));
            n.dst_endpoint_port = upstream_port;
            n.connection_info_protocol_num = Some(6);
            n.traffic_bytes_in = bytes_sent;
            n.traffic_bytes_out = bytes_received;
            n.traffic_bytes = Some(
                bytes_sent
                    .unwrap_or(0)
                    .saturating_add(bytes_received.unwrap_or(0)),
            );
            n.duration = duration;
            n.start_time = Some(time);
            n.end_time = Some(time + duration.unwrap_or(0));
            super::tag_network(n, &self.site, downstream_ip, upstream_ip, None);
            let flags = entry.response_flags.clone();
            let c = &mut row.common;
            c.time = Some(time);
            c.activity_id = Some(6);
            c.activity_name = Some(Cow::Borrowed("Traffic"));
            c.status_id = Some(if flags.is_some() { 2 } else { 1 });
            c.status_detail = flags.map(|f| Cow::Owned(f.into_owned()));
            c.severity_id = Some(1);
            c.metadata_uid = Some(Cow::Owned(uid));
            c.metadata_correlation_uid = entry.request_id.map(|r| Cow::Owned(r.into_owned()));
            c.metadata_product_name = Some(Cow::Borrowed("envoy"));
            c.metadata_product_vendor_name = Some(Cow::Borrowed("Envoy"));
            c.metadata_log_name = Some(Cow::Borrowed("access log (tcp)"));
            c.raw_ref = Some(Cow::Borrowed(raw_ref));
            c.unmapped = unmapped.map(Cow::Owned);
            out.network_activity.append(&mut row);
            return Ok(1);
        }

        let mut row = HttpActivityRow::default();
        let h = &mut row.own;
        let method = entry.method.as_deref().unwrap_or("");
        let (activity_id, activity_name) = super::http_method_activity(method);
        h.http_request_http_method = entry.method.as_ref().map(|m| Cow::Owned(m.to_string()));
        if let Some(target) = entry.path.as_deref() {
            let (path, query) = tokens::split_target(target);
            h.http_request_url_path = Some(Cow::Owned(path.to_string()));
            h.http_request_url_query_string = query.map(|q| Cow::Owned(q.to_string()));
        }
        h.http_request_version = entry.protocol.map(|p| Cow::Owned(p.into_owned()));
        h.http_request_url_hostname = entry.authority.map(|a| Cow::Owned(a.into_owned()));
        h.http_request_user_agent = entry.user_agent.map(|a| Cow::Owned(a.into_owned()));
        // Without the downstream address, the client is the left-most X-Forwarded-For hop.
        let xff_client = entry
            .x_forwarded_for
            .as_deref()
            .and_then(|x| x.split(',').next())
            .and_then(|x| x.trim().parse::<std::net::IpAddr>().ok());
        h.http_request_x_forwarded_for = entry.x_forwarded_for.map(|x| Cow::Owned(x.into_owned()));
        h.src_endpoint_ip = downstream_ip
            .or(xff_client)
            .map(|ip| Cow::Owned(ip.to_string()));
        h.src_endpoint_port = downstream_port;
        h.dst_endpoint_ip = upstream_ip.map(|ip| Cow::Owned(ip.to_string()));
        h.dst_endpoint_port = upstream_port;
        h.http_request_length = bytes_received;
        h.http_response_length = bytes_sent;
        h.http_response_latency = duration;
        h.http_response_code = code.filter(|n| *n > 0);
        let flags = entry.response_flags.as_deref().unwrap_or("");
        let details = entry.response_code_details.as_deref().unwrap_or("");
        let authz =
            if flags.split(',').any(|f| f == "UAEX") || details.starts_with("ext_authz_denied") {
                Some("ext_authz_denied")
            } else if details.starts_with("ext_authz_error") {
                Some("ext_authz_error")
            } else if details.starts_with("rbac_access_denied") {
                Some("rbac_denied")
            } else {
                None
            };
        h.zt_authz_result = authz.map(Cow::Borrowed);
        let (action_id, disposition_id) = match (authz, code) {
            (Some("ext_authz_denied" | "rbac_denied"), _) | (_, Some(403)) => (Some(2), Some(2)),
            (_, Some(401)) => (Some(2), Some(26)),
            (_, Some(_)) => (Some(1), Some(1)),
            // Without %RESPONSE_CODE% the entry does not say how the request ended.
            (_, None) => (None, None),
        };
        h.action_id = action_id;
        h.disposition_id = disposition_id;
        super::tag_http(&mut row.own, &self.site);

        let c = &mut row.common;
        c.time = Some(time);
        c.activity_id = Some(activity_id);
        c.activity_name = Some(Cow::Borrowed(activity_name));
        // Code 0: the upstream never answered (a failure); no code at all: unknown.
        c.status_id = Some(match code {
            None => 0,
            Some(n) if n == 0 || n >= 400 => 2,
            Some(_) => 1,
        });
        c.status_code = code.filter(|n| *n > 0).map(|n| Cow::Owned(n.to_string()));
        c.status_detail = match (flags, details) {
            ("", "") => None,
            (f, "") => Some(Cow::Owned(f.to_string())),
            ("", d) => Some(Cow::Owned(d.to_string())),
            (f, d) => Some(Cow::Owned(format!("{f} ({d})"))),
        };
        c.severity_id = Some(1);
        c.metadata_uid = Some(Cow::Owned(uid));
        c.metadata_correlation_uid = entry.request_id.map(|r| Cow::Owned(r.into_owned()));
        c.metadata_product_name = Some(Cow::Borrowed("envoy"));
        c.metadata_product_vendor_name = Some(Cow::Borrowed("Envoy"));
        c.metadata_log_name = Some(Cow::Borrowed("access log"));
        c.raw_ref = Some(Cow::Borrowed(raw_ref));
        c.unmapped = unmapped.map(Cow::Owned);
        out.http_activity.append(&mut row);
        Ok(1)
    }
}
