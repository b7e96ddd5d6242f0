//! Linkerd proxy HTTP access logs → `http_activity`; the proxy's own log lines, which arrive
//! interleaved in the same stream, → `base_event` (event type `proxy_log`).
//!
//! Input, one line per record, in any of:
//! - the JSON access log (`config.linkerd.io/access-log: json`, Linkerd 2.12 and later): one
//!   object per request with `client.addr`, `client.id`, `host`, `method`, `uri`, `version`,
//!   `status` (a number), `timestamp` (request start, RFC 3339), `total_ns`, `processing_ns`,
//!   `request_bytes`, `response_bytes`, `trace_id`, `user_agent` — nanoseconds and byte counts
//!   as strings, `""` where a header was absent, and `status`, `response_bytes`, `total_ns`,
//!   `processing_ns` missing when the request ended without a response;
//! - the `apache` layout: `<client.addr> <client.id> - [<timestamp>] "<method> <uri>
//!   <version>" <status>` (no byte counts, user agent, host or timing);
//! - the proxy's own log lines (its stdout; the access log is its stderr, and `kubectl logs`
//!   shows both): `[  <uptime>s]  INFO ThreadId(01) <spans>: <target>: <message> <fields>`, or
//!   the JSON of `LINKERD2_PROXY_LOG_FORMAT=json` (`{"timestamp":"[ <uptime>s]","level":…}`);
//! - any of these wrapped by what carried it: `kubectl logs --prefix` (`[pod/<pod>/<container>]
//!   `), `--timestamps` (`<RFC 3339> `), the CRI log file on the node (`<RFC 3339>
//!   stdout|stderr F|P `), Docker's json-file driver (`{"log":"…\n","stream":…,"time":…}`).
//!   Wrappers are removed before the line is read or hashed; what they say (pod, container,
//!   stream, when the runtime took the line) goes to `unmapped`.
//!
//! Mapping: an access-log line is one request into a meshed pod, logged once, by the server's
//! inbound proxy. `client.id` is the client's mTLS identity as the proxy verified it:
//! `zt_client_identity` and `zt_mtls` true; `-` (no mesh identity: an unmeshed client, a kubelet
//! probe) is `zt_mtls` false; a line that does not say leaves both null. A 403 is Blocked (2/2):
//! Linkerd's authorization policy answers a denied HTTP request with 403 (an application's own
//! 403 looks the same); a 401 is Unauthorized (2/26); any other status Allowed (1/1); a request
//! that ended without a response (the client went away) has no status and no decision. The
//! trace id is a correlation id.
//!
//! The proxy's own lines are records of a known source that no class maps: `base_event` rows of
//! type `proxy_log`, with the severity from the level, the message, the client address when a
//! field names one, and for a policy denial (`Request denied … server.name=…`) the Server as the
//! target. The proxy stamps them with its uptime only, so their time is the wrapper's timestamp
//! or, without a wrapper, the processing time. A line that is none of these (a panic message,
//! another program's output) is a dead letter, as is a CRI partial line (`P`: the runtime split
//! a line longer than its limit; ztlens does not join the pieces).
//!
//! Invariants: `metadata_uid` hashes the unwrapped line, so the same request read from
//! `kubectl logs`, the node's file or Docker's counts once (a proxy line's hash also covers the
//! runtime's timestamp when there is one: two proxies print identical start-up lines). Values
//! the client controls (headers copied into `request_bytes`, `host`, `user_agent`, the URI)
//! never make a request a dead letter: what does not parse is kept in `unmapped`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jv::{self, str_at};
use super::tokens::{self, Token};
use super::{
    Format, Parser, Sniff, VendorSpec, as_utf8, content_uid, http_method_activity, json_object,
    parse_timestamp_ms,
};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{BaseEventRow, Common, HttpActivityRow, TableBuilders};
use crate::site::Site;

/// Linkerd proxy access logs (JSON or apache) and the proxy's own log lines.
pub static SPEC: VendorSpec = VendorSpec {
    name: "linkerd",
    aliases: &["linkerd_proxy"],
    framing: Framing::Lines,
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::FirstLine(looks_like_linkerd),
    parser: |site| Box::new(LinkerdParser { site }),
};

/// The linkerd format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

/// Parses Linkerd proxy output; holds the site for the HTTP site tags.
pub struct LinkerdParser {
    site: Arc<Site>,
}

/// The event type of the proxy's own log lines in `base_event`.
const PROXY_LOG: &str = "proxy_log";

/// Longest request taken as one, in milliseconds (a year, as for Envoy).
const MAX_LATENCY_MS: i64 = 366 * 24 * 3_600_000;

/// Whether a line (the first of an input) is Linkerd proxy output: an access-log line in either
/// layout or one of the proxy's own lines, with or without the wrappers of `kubectl logs`, the
/// CRI log file or Docker's json-file driver.
pub fn looks_like_linkerd(line: &str) -> bool {
    let wrapped = unwrap(line.trim());
    let line = wrapped.line.trim();
    if line.starts_with('{') {
        if line.contains("\"client.addr\"") {
            return line.contains("\"client.id\"") || line.contains("\"total_ns\"");
        }
        return line.contains("\"level\"")
            && serde_json::from_str::<Value>(line)
                .ok()
                .as_ref()
                .and_then(proxy_line_from_json)
                .is_some();
    }
    if line.starts_with('[') {
        // The proxy's plain lines always name the runtime thread: a stricter look than parsing.
        return line.contains(" ThreadId(") && proxy_line_from_text(line).is_some();
    }
    looks_like_apache(line)
}

/// `<ip:port> <client.id> - [<RFC 3339>] "…`: the start of the apache layout. nginx writes no
/// port and a `02/Mar/2026:…` time; Envoy starts with the bracketed time.
fn looks_like_apache(line: &str) -> bool {
    let mut parts = line.splitn(4, ' ');
    let (Some(addr), Some(id), Some("-"), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    addr.parse::<std::net::SocketAddr>().is_ok()
        && !id.is_empty()
        && rest
            .strip_prefix('[')
            .and_then(|r| r.split_once("] \""))
            .is_some_and(|(time, _)| chrono::DateTime::parse_from_rfc3339(time).is_ok())
}

impl Parser for LinkerdParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let text = as_utf8(record)?;
        let wrapped = unwrap(text);
        if wrapped.partial {
            return Err(ParseError::new(
                ErrorKind::Truncated,
                "a CRI partial line (tag P): the container runtime split a line longer than its \
                 limit, and ztlens does not join the pieces",
            ));
        }
        let line = wrapped.line.trim();
        if line.is_empty() {
            // The runtime's record of an empty line: no event.
            return Ok(0);
        }
        if line.starts_with('{') {
            let value = jv::parse_object(line.as_bytes(), "a Linkerd access log")?;
            if jv::get(&value, "client.addr").is_some() {
                let entry = entry_from_json(&value)?;
                return self.emit_request(entry, &wrapped, line, raw_ref, out);
            }
            if let Some(proxy) = proxy_line_from_json(&value) {
                return emit_proxy_line(proxy, &wrapped, line, record, raw_ref, out);
            }
            return Err(ParseError::new(
                ErrorKind::MissingField,
                "client.addr is missing: the object is neither a Linkerd access log entry nor a \
                 proxy log line",
            ));
        }
        if let Some(proxy) = proxy_line_from_text(line) {
            return emit_proxy_line(proxy, &wrapped, line, record, raw_ref, out);
        }
        let entry = entry_from_apache(line)?;
        self.emit_request(entry, &wrapped, line, raw_ref, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Wrappers

/// A proxy line and what carried it.
#[derive(Debug, Default)]
struct Wrapped<'a> {
    /// The proxy's own text, wrappers removed.
    line: Cow<'a, str>,
    /// `kubectl logs --prefix`: the pod and the container.
    pod: Option<&'a str>,
    container: Option<&'a str>,
    /// When the container runtime took the line (`--timestamps`, the CRI file, Docker's `time`).
    log_time: Option<Cow<'a, str>>,
    /// `stdout` or `stderr` (the CRI file, Docker).
    stream: Option<Cow<'a, str>>,
    /// CRI tag `P`: one piece of a line the runtime split.
    partial: bool,
    /// Other members of a JSON wrapper (Docker `attrs`, a collector's metadata), as JSON text.
    extra: Option<String>,
}

/// Remove, in the order they are put on, the wrappers of `kubectl logs --prefix`,
/// `--timestamps` or the CRI file, and Docker's json-file driver.
fn unwrap(text: &str) -> Wrapped<'_> {
    let mut wrapped = Wrapped::default();
    let mut rest = text;
    // `kubectl logs --prefix`: `[pod/<pod>/<container>] `.
    if let Some(after) = rest.strip_prefix("[pod/")
        && let Some((inside, tail)) = after.split_once("] ")
        && let Some((pod, container)) = inside.split_once('/')
        && !pod.is_empty()
        && !container.is_empty()
        && !inside.contains(' ')
    {
        wrapped.pod = Some(pod);
        wrapped.container = Some(container);
        rest = tail;
    }
    // `kubectl logs --timestamps` and the CRI file start with the runtime's RFC 3339 time.
    if let Some((first, tail)) = rest.split_once(' ')
        && first.contains('T')
        && chrono::DateTime::parse_from_rfc3339(first).is_ok()
    {
        wrapped.log_time = Some(Cow::Borrowed(first));
        rest = tail;
        // The CRI file goes on with the stream and a tag: F a whole line, P a piece of one.
        let mut parts = rest.splitn(3, ' ');
        if let (Some(stream @ ("stdout" | "stderr")), Some(tag @ ("F" | "P")), Some(tail)) =
            (parts.next(), parts.next(), parts.next())
        {
            wrapped.stream = Some(Cow::Borrowed(stream));
            wrapped.partial = tag == "P";
            rest = tail;
        }
    }
    // Docker's json-file driver, and collectors that keep its shape: `{"log": "…\n", …}`.
    if rest.starts_with('{')
        && rest.contains("\"log\"")
        && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(rest)
        && !map.contains_key("client.addr")
        && let Some(log) = map.get("log").and_then(Value::as_str)
    {
        wrapped.line = Cow::Owned(log.trim_end_matches(['\n', '\r']).to_string());
        let text = |key: &str| map.get(key).and_then(Value::as_str);
        if let Some(stream) = text("stream") {
            wrapped.stream = Some(Cow::Owned(stream.to_string()));
        }
        if let Some(time) = text("time") {
            wrapped.log_time = Some(Cow::Owned(time.to_string()));
        }
        let others: Map<String, Value> = map
            .iter()
            .filter(|(k, v)| {
                let mapped = match k.as_str() {
                    "log" => true,
                    "stream" | "time" => v.is_string(),
                    _ => false,
                };
                !mapped && !v.is_null()
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        wrapped.extra = (!others.is_empty()).then(|| Value::Object(others).to_string());
        return wrapped;
    }
    wrapped.line = Cow::Borrowed(rest);
    wrapped
}

/// What the wrappers said, as `unmapped` members.
fn wrapper_fields(wrapped: &Wrapped<'_>, kept: &mut Vec<(String, String)>) {
    let mut keep = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            kept.push((key.to_string(), json_string(v)));
        }
    };
    keep("pod", wrapped.pod);
    keep("container", wrapped.container);
    keep("log_stream", wrapped.stream.as_deref());
    keep("log_time", wrapped.log_time.as_deref());
    if let Some(extra) = &wrapped.extra {
        kept.push(("log_wrapper".to_string(), extra.clone()));
    }
}

// ---------------------------------------------------------------------------------------------
// Access log

/// One access-log entry, whichever layout it came in.
#[derive(Debug, Default)]
struct Entry<'a> {
    client_addr: Option<Cow<'a, str>>,
    client_id: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    method: Option<Cow<'a, str>>,
    uri: Option<Cow<'a, str>>,
    version: Option<Cow<'a, str>>,
    status: Option<i32>,
    total_ns: Option<Cow<'a, str>>,
    request_bytes: Option<Cow<'a, str>>,
    response_bytes: Option<Cow<'a, str>>,
    trace_id: Option<Cow<'a, str>>,
    user_agent: Option<Cow<'a, str>>,
    host: Option<Cow<'a, str>>,
    /// Fields no column holds: (key, JSON text).
    unmapped: Vec<(String, String)>,
}

/// JSON keys with a column (`processing_ns` has none: it stays in `unmapped`).
const JSON_MAPPED: &[&str] = &[
    "client.addr",
    "client.id",
    "host",
    "method",
    "uri",
    "version",
    "status",
    "timestamp",
    "total_ns",
    "request_bytes",
    "response_bytes",
    "trace_id",
    "user_agent",
];

fn entry_from_json(value: &Value) -> Result<Entry<'_>, ParseError> {
    let get = |key: &str| str_at(value, &[key]);
    let status = match jv::get(value, "status") {
        None => None,
        Some(v) => Some(
            jv::as_i64(v)
                .and_then(status_code)
                .ok_or_else(|| jv::invalid("status", &v.to_string()))?,
        ),
    };
    let unmapped: Vec<(String, String)> = value
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(k, v)| {
                    !v.is_null() && !JSON_MAPPED.iter().any(|m| m.eq_ignore_ascii_case(k))
                })
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Entry {
        client_addr: get("client.addr"),
        client_id: get("client.id"),
        timestamp: get("timestamp"),
        method: get("method"),
        uri: get("uri"),
        version: get("version"),
        status,
        total_ns: get("total_ns"),
        request_bytes: get("request_bytes"),
        response_bytes: get("response_bytes"),
        trace_id: get("trace_id"),
        user_agent: get("user_agent"),
        host: get("host"),
        unmapped,
    })
}

/// An HTTP status as the proxy records it (a `u16` of a real response).
fn status_code(n: i64) -> Option<i32> {
    i32::try_from(n)
        .ok()
        .filter(|code| (100..=999).contains(code))
}

fn not_linkerd() -> ParseError {
    ParseError::new(
        ErrorKind::InvalidField,
        "neither a Linkerd access log entry (JSON or apache) nor a proxy log line",
    )
}

/// `<client.addr> <client.id> - [<timestamp>] "<method> <uri> <version>" [<status>]`.
fn entry_from_apache(line: &str) -> Result<Entry<'_>, ParseError> {
    // Only a line that starts like one is read as one: other output is not a broken entry.
    let first = line.split(' ').next().unwrap_or("");
    if first.parse::<std::net::SocketAddr>().is_err() {
        return Err(not_linkerd());
    }
    let fields = tokens::split(line)?;
    let bare = |i: usize| match fields.get(i) {
        Some(Token::Bare(t)) => Some(*t),
        _ => None,
    };
    let (Some(addr), Some(id)) = (bare(0), bare(1)) else {
        return Err(not_linkerd());
    };
    if bare(2) != Some("-") {
        return Err(ParseError::new(
            ErrorKind::InvalidField,
            "the third field of an apache access log line is `-`",
        ));
    }
    let Some(Token::Bracketed(timestamp)) = fields.get(3) else {
        return Err(ParseError::new(
            ErrorKind::FieldCount,
            "missing the [timestamp] field",
        ));
    };
    let Some(Token::Quoted(request)) = fields.get(4) else {
        return Err(ParseError::new(
            ErrorKind::FieldCount,
            "missing the quoted \"method uri version\" field",
        ));
    };
    let request: &str = request;
    let (method, target) = request.split_once(' ').unwrap_or((request, ""));
    let (uri, version) = match target.rsplit_once(' ') {
        Some((uri, version)) if version.starts_with("HTTP/") => (uri, Some(version)),
        _ => (target, None),
    };
    let owned = |s: &str| (!s.is_empty()).then(|| Cow::Owned(s.to_string()));
    let status = match fields.get(5) {
        None => None,
        Some(token) => {
            let text = token.text();
            Some(
                text.parse::<i64>()
                    .ok()
                    .and_then(status_code)
                    .ok_or_else(|| jv::invalid("status", text))?,
            )
        }
    };
    let unmapped: Vec<(String, String)> = fields
        .iter()
        .enumerate()
        .skip(6)
        .filter_map(|(i, t)| {
            t.value()
                .map(|v| (format!("field_{}", i + 1), json_string(&v)))
        })
        .collect();
    Ok(Entry {
        client_addr: Some(Cow::Borrowed(addr)),
        client_id: Some(Cow::Borrowed(id)),
        timestamp: Some(Cow::Borrowed(*timestamp)),
        method: owned(method),
        uri: owned(uri),
        version: version.and_then(owned),
        status,
        unmapped,
        ..Entry::default()
    })
}

impl LinkerdParser {
    fn emit_request(
        &self,
        mut entry: Entry<'_>,
        wrapped: &Wrapped<'_>,
        line: &str,
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let timestamp = entry
            .timestamp
            .as_deref()
            .ok_or_else(|| jv::missing("timestamp"))?;
        let time = event_time(timestamp).ok_or_else(|| jv::invalid("timestamp", timestamp))?;
        // The proxy's own measure: a value that is not one is a broken line.
        let latency = match entry.total_ns.as_deref() {
            None => None,
            Some(ns) => Some(nanos_to_ms(ns).ok_or_else(|| jv::invalid("total_ns", ns))?),
        };
        let mut kept = std::mem::take(&mut entry.unmapped);
        let request_length = byte_count("request_bytes", entry.request_bytes.as_deref(), &mut kept);
        let response_length =
            byte_count("response_bytes", entry.response_bytes.as_deref(), &mut kept);
        let (client_ip, client_port) = match entry.client_addr.as_deref() {
            None => (None, None),
            Some(addr) => {
                let (ip, port) = tokens::address_then_port(addr);
                if ip.is_none() {
                    kept.push(("client.addr".to_string(), json_string(addr)));
                }
                (ip, port)
            }
        };
        let (identity, mtls) = match entry.client_id.as_deref() {
            None => (None, None),
            Some("-") => (None, Some(false)),
            Some(id) => (Some(id.to_string()), Some(true)),
        };
        let method = entry.method.as_deref();
        let (uri_host, path, query) = entry.uri.as_deref().map_or((None, None, None), split_uri);
        // The Host header names a service, or a pod address (kubelet probes, direct calls):
        // only an address is the server's endpoint.
        let (host_name, host_port) = entry.host.as_deref().map_or((None, None), split_authority);
        let host_ip = host_name.and_then(|h| h.parse::<IpAddr>().ok());
        let hostname = uri_host.or(host_name);
        if let Some(host) = entry.host.as_deref()
            && host_ip.is_none()
            && Some(host) != hostname
        {
            kept.push(("host".to_string(), json_string(host)));
        }
        wrapper_fields(wrapped, &mut kept);

        let mut row = HttpActivityRow::default();
        let h = &mut row.own;
        h.http_request_http_method = method.map(|m| Cow::Owned(m.to_string()));
        h.http_request_url_hostname = hostname.map(|n| Cow::Owned(n.to_string()));
        h.http_request_url_path = path.map(|p| Cow::Owned(p.to_string()));
        h.http_request_url_query_string = query.map(|q| Cow::Owned(q.to_string()));
        h.http_request_version = entry.version.as_deref().map(|v| Cow::Owned(v.to_string()));
        h.http_request_user_agent = entry
            .user_agent
            .as_deref()
            .map(|a| Cow::Owned(a.to_string()));
        h.http_request_length = request_length;
        h.http_response_length = response_length;
        h.http_response_latency = latency;
        h.http_response_code = entry.status;
        h.src_endpoint_ip = client_ip.map(|ip| Cow::Owned(ip.to_string()));
        h.src_endpoint_port = client_port;
        h.dst_endpoint_ip = host_ip.map(|ip| Cow::Owned(ip.to_string()));
        h.dst_endpoint_port = host_ip.and(host_port);
        h.zt_client_identity = identity.map(Cow::Owned);
        h.zt_mtls = mtls;
        (h.action_id, h.disposition_id) = match entry.status {
            // Linkerd's authorization policy refuses an HTTP request with 403.
            Some(403) => (Some(2), Some(2)),
            Some(401) => (Some(2), Some(26)),
            Some(_) => (Some(1), Some(1)),
            // No response: the entry does not say how the request ended.
            None => (None, None),
        };
        super::tag_http(&mut row.own, &self.site);

        let (activity_id, activity_name) = http_method_activity(method.unwrap_or(""));
        let pairs: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let c = &mut row.common;
        c.time = Some(time);
        c.activity_id = Some(activity_id);
        c.activity_name = Some(Cow::Borrowed(activity_name));
        c.status_id = Some(match entry.status {
            None => 0,
            Some(n) if n >= 400 => 2,
            Some(_) => 1,
        });
        c.status_code = entry.status.map(|n| Cow::Owned(n.to_string()));
        c.severity_id = Some(1);
        c.metadata_uid = Some(Cow::Owned(content_uid("linkerd", line.as_bytes())));
        c.metadata_correlation_uid = entry.trace_id.as_deref().map(|t| Cow::Owned(t.to_string()));
        c.metadata_log_name = Some(Cow::Borrowed("access log"));
        c.metadata_product_name = Some(Cow::Borrowed("linkerd"));
        c.metadata_product_vendor_name = Some(Cow::Borrowed("Linkerd"));
        c.raw_ref = Some(Cow::Borrowed(raw_ref));
        c.unmapped = json_object(&pairs).map(Cow::Owned);
        out.http_activity.append(&mut row);
        Ok(1)
    }
}

/// A request target → (host, path, query): the absolute form the proxy logs for meshed and
/// HTTP/2 requests (`http://host:port/path?query`), the origin form (`/path?query`), the
/// authority form (`host:port`, CONNECT) or `*`.
fn split_uri(uri: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    if uri.starts_with('/') {
        let (path, query) = tokens::split_target(uri);
        return (None, Some(path), query);
    }
    if let Some((scheme, rest)) = uri.split_once("://")
        && !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        let (path, query) = tokens::split_target(target);
        // `http://host` and `http://host?q` ask for the root.
        let path = if path.is_empty() { "/" } else { path };
        return (split_authority(authority).0, Some(path), query);
    }
    if uri == "*" {
        return (None, Some(uri), None);
    }
    (split_authority(uri).0, None, None)
}

/// `host:port`, `[v6]:port`, a bare host or address (with any `user@` before it) → host and
/// port.
fn split_authority(authority: &str) -> (Option<&str>, Option<i32>) {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        match inner.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (inner, None),
        }
    } else if authority.parse::<IpAddr>().is_ok() {
        // A bare IPv6 address has colons but no port.
        (authority, None)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = port
        .and_then(|p| p.parse::<i64>().ok())
        .and_then(super::port_number);
    ((!host.is_empty()).then_some(host), port)
}

/// A byte count the proxy copied from a `Content-Length` header: the client's (or the
/// application's) text, so one that is not a count is kept in `unmapped`, never a reason to
/// lose the request.
fn byte_count(key: &str, text: Option<&str>, kept: &mut Vec<(String, String)>) -> Option<i64> {
    let text = text?;
    let count = text
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| i64::try_from(n).ok());
    if count.is_none() {
        kept.push((key.to_string(), json_string(text)));
    }
    count
}

/// `total_ns` (request start to response headers) in whole milliseconds; `None` when it is not
/// a count of nanoseconds up to a year.
fn nanos_to_ms(text: &str) -> Option<i64> {
    let ns = text.trim().parse::<u64>().ok()?;
    i64::try_from(ns / 1_000_000)
        .ok()
        .filter(|ms| *ms <= MAX_LATENCY_MS)
}

/// Epoch milliseconds of an RFC 3339 time within the range ztlens takes as a time.
fn event_time(text: &str) -> Option<i64> {
    parse_timestamp_ms(text).filter(|ms| ((*ms / 1000) as f64).abs() < jv::MAX_EPOCH_SECONDS)
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The proxy's own log lines

/// One of the proxy's own log lines.
#[derive(Debug)]
struct ProxyLine<'a> {
    level: &'static str,
    /// Spans, target and message (and the fields after it), as the proxy wrote them.
    message: Cow<'a, str>,
    /// The client a field names (`client.addr`, `client.ip`).
    client: Option<IpAddr>,
    /// The Server (`policy.linkerd.io`) a policy denial names.
    server: Option<Cow<'a, str>>,
}

/// The proxy's log levels (tracing's, upper case in both the plain and the JSON format).
const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

fn level_of(text: &str) -> Option<&'static str> {
    LEVELS.iter().copied().find(|l| *l == text)
}

/// OCSF severity of a proxy log level. The proxy's errors are operational trouble (a failed
/// connection, a refused request), not security findings: ERROR Medium, WARN Low.
fn level_severity(level: &str) -> i32 {
    match level {
        "ERROR" => 3,
        "WARN" => 2,
        "INFO" | "DEBUG" | "TRACE" => 1,
        _ => 0,
    }
}

/// The proxy's uptime stamp, `[{:>6}.{:06}s]` (seconds may outgrow the padding).
fn is_uptime(text: &str) -> bool {
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix("s]")) else {
        return false;
    };
    let Some((secs, micros)) = inner.trim_start().split_once('.') else {
        return false;
    };
    !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
        && micros.len() == 6
        && micros.bytes().all(|b| b.is_ascii_digit())
}

/// `[  <uptime>s]  <LEVEL> ThreadId(NN) <spans>: <target>: <message> <fields>`.
fn proxy_line_from_text(line: &str) -> Option<ProxyLine<'_>> {
    if !line.starts_with('[') {
        return None;
    }
    let end = line.find("s]")?.checked_add(2)?;
    let (uptime, rest) = line.split_at_checked(end)?;
    if !is_uptime(uptime) {
        return None;
    }
    let rest = rest.trim_start();
    let (level, message) = rest.split_once(' ').unwrap_or((rest, ""));
    let level = level_of(level)?;
    let message = message.trim_start();
    // Which runtime thread logged it says nothing about the event.
    let message = match message
        .strip_prefix("ThreadId(")
        .and_then(|m| m.split_once(") "))
    {
        Some((_, rest)) => rest,
        None => message,
    };
    let client = field(message, "client.addr")
        .and_then(|a| tokens::address_then_port(a).0)
        .or_else(|| field(message, "client.ip").and_then(|a| a.parse().ok()));
    let server = message
        .contains("Request denied")
        .then(|| field(message, "server.name"))
        .flatten()
        .map(Cow::Borrowed);
    Some(ProxyLine {
        level,
        message: Cow::Borrowed(message),
        client,
        server,
    })
}

/// The JSON of `LINKERD2_PROXY_LOG_FORMAT=json`: `{"timestamp":"[ <uptime>s]","level":…,
/// "fields":{"message":…,…},"target":…,"spans":[…],"threadId":…}`. Linkerd's when the time is
/// the proxy's uptime stamp or the target one of its crates.
fn proxy_line_from_json(value: &Value) -> Option<ProxyLine<'_>> {
    let level = level_of(str_at(value, &["level"])?.as_ref())?;
    let uptime = str_at(value, &["timestamp"]).is_some_and(|t| is_uptime(&t));
    let target = str_at(value, &["target"]);
    if !uptime && !target.as_deref().is_some_and(|t| t.starts_with("linkerd")) {
        return None;
    }
    let fields = jv::get(value, "fields");
    let field_text = |key: &str| fields.and_then(|f| str_at(f, &[key]));
    let text = field_text("message").unwrap_or_default();
    let client = field_text("client.addr")
        .and_then(|a| tokens::address_then_port(&a).0)
        .or_else(|| field_text("client.ip").and_then(|a| a.parse().ok()));
    let server = if text.contains("Request denied") {
        field_text("server.name")
    } else {
        None
    };
    let message = match &target {
        Some(t) => Cow::Owned(format!("{t}: {text}")),
        None => text,
    };
    Some(ProxyLine {
        level,
        message,
        client,
        server,
    })
}

/// The value of a `key=value` field of a plain proxy line (fields follow the message; span
/// fields sit in `{…}`).
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    if key.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(at) = text.get(from..).and_then(|t| t.find(key)) {
        let start = from + at;
        let after = start + key.len();
        let before = text.get(..start).and_then(|t| t.chars().next_back());
        if matches!(before, Some(' ' | '{' | ',')) && text.get(after..after + 1) == Some("=") {
            let value = text.get(after + 1..)?;
            let end = value.find([' ', '}', ',']).unwrap_or(value.len());
            return value.get(..end).filter(|v| !v.is_empty());
        }
        from = after;
    }
    None
}

fn emit_proxy_line(
    proxy: ProxyLine<'_>,
    wrapped: &Wrapped<'_>,
    line: &str,
    record: &[u8],
    raw_ref: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    // The proxy stamps its lines with its uptime only: the runtime's timestamp is the time;
    // without one (plain `kubectl logs`) only the processing time is known.
    let time = match wrapped.log_time.as_deref() {
        Some(t) => event_time(t).ok_or_else(|| jv::invalid("time", t))?,
        None => out.processed_time(),
    };
    // Two proxies print identical lines (the same start-up message at the same uptime): the
    // runtime's timestamp tells them apart, and is the same in `kubectl logs --timestamps` and
    // in the node's file.
    let identity = match wrapped.log_time.as_deref() {
        Some(t) => format!("{t}\n{line}"),
        None => line.to_string(),
    };
    let mut row = BaseEventRow {
        common: Common {
            time: Some(time),
            severity_id: Some(level_severity(proxy.level)),
            message: Some(proxy.message),
            metadata_uid: Some(Cow::Owned(content_uid("linkerd", identity.as_bytes()))),
            metadata_log_name: Some(Cow::Borrowed("proxy log")),
            metadata_product_name: Some(Cow::Borrowed("linkerd")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Linkerd")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            ..Common::default()
        },
        ..BaseEventRow::default()
    };
    row.own.src_endpoint_ip = proxy.client.map(|ip| Cow::Owned(ip.to_string()));
    if let Some(server) = proxy.server {
        row.own.zt_target_type = Some(Cow::Borrowed("server"));
        row.own.zt_target_name = Some(server);
    }
    out.append_base_event(&mut row, PROXY_LOG, record);
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Table;

    const JSON_LINE: &str = r#"{"client.addr":"10.42.0.1:56300","client.id":"-","host":"10.42.0.69:7000","method":"GET","processing_ns":"35848","request_bytes":"","response_bytes":"4","status":200,"timestamp":"2022-08-23T20:33:49.254262428Z","total_ns":"1416066","trace_id":"","uri":"/ping","user_agent":"kube-probe/1.24","version":"HTTP/1.1"}"#;
    const APACHE_LINE: &str = r#"10.42.0.63:51160 traffic.booksapp.serviceaccount.identity.linkerd.cluster.local - [2022-08-23T20:28:20.071809491Z] "GET http://webapp:7000/ HTTP/2.0" 200"#;
    const PROXY_LINE: &str = "[     0.001822s]  INFO ThreadId(01) linkerd2_proxy: release 2.210.4 (5a910be) by linkerd on 2023-11-22T17:01:46Z";

    #[test]
    fn wrappers_come_off_and_leave_the_same_line() {
        let kubectl = format!("[pod/web-1/linkerd-proxy] 2022-08-23T20:28:20.2Z {APACHE_LINE}");
        let cri = format!("2022-08-23T20:28:20.2Z stderr F {APACHE_LINE}");
        let docker = serde_json::json!({"log": format!("{APACHE_LINE}\n"), "stream": "stderr",
            "time": "2022-08-23T20:28:20.2Z", "attrs": {"tag": "x"}})
        .to_string();
        for input in [
            APACHE_LINE.to_string(),
            kubectl.clone(),
            cri.clone(),
            docker.clone(),
        ] {
            assert_eq!(unwrap(&input).line, APACHE_LINE, "{input}");
        }
        let k = unwrap(&kubectl);
        assert_eq!((k.pod, k.container), (Some("web-1"), Some("linkerd-proxy")));
        assert_eq!(k.log_time.as_deref(), Some("2022-08-23T20:28:20.2Z"));
        assert_eq!(k.stream, None);
        let c = unwrap(&cri);
        assert_eq!(c.stream.as_deref(), Some("stderr"));
        assert!(!c.partial);
        assert!(unwrap("2022-08-23T20:28:20.2Z stdout P [   0.1").partial);
        let d = unwrap(&docker);
        assert_eq!(d.extra.as_deref(), Some(r#"{"attrs":{"tag":"x"}}"#));
        // The access log's own JSON is not a wrapper.
        assert_eq!(unwrap(JSON_LINE).line, JSON_LINE);
        // Text that merely looks like a prefix stays.
        assert_eq!(unwrap("[pod/x] y").line, "[pod/x] y");
    }

    #[test]
    fn targets() {
        assert_eq!(
            split_uri("http://webapp:7000/authors/104?x=1"),
            (Some("webapp"), Some("/authors/104"), Some("x=1"))
        );
        assert_eq!(
            split_uri("http://webapp:7000"),
            (Some("webapp"), Some("/"), None)
        );
        assert_eq!(split_uri("/ping"), (None, Some("/ping"), None));
        // A URL in the query of an origin-form target is not the target's host.
        assert_eq!(
            split_uri("/go?to=http://evil.example/"),
            (None, Some("/go"), Some("to=http://evil.example/"))
        );
        assert_eq!(split_uri("*"), (None, Some("*"), None));
        assert_eq!(
            split_uri("db.example:5432"),
            (Some("db.example"), None, None)
        );
        assert_eq!(
            split_authority("10.42.0.69:7000"),
            (Some("10.42.0.69"), Some(7000))
        );
        assert_eq!(
            split_authority("[2001:db8::1]:443"),
            (Some("2001:db8::1"), Some(443))
        );
        assert_eq!(split_authority("2001:db8::1"), (Some("2001:db8::1"), None));
        assert_eq!(split_authority("u@h.example:0"), (Some("h.example"), None));
        assert_eq!(split_authority(":80"), (None, Some(80)));
    }

    #[test]
    fn numbers() {
        assert_eq!(nanos_to_ms("1416066"), Some(1));
        assert_eq!(nanos_to_ms("999999"), Some(0));
        assert_eq!(
            nanos_to_ms(&(MAX_LATENCY_MS as u64 * 1_000_000).to_string()),
            Some(MAX_LATENCY_MS)
        );
        assert_eq!(
            nanos_to_ms(&((MAX_LATENCY_MS as u64 + 1) * 1_000_000).to_string()),
            None
        );
        assert_eq!(nanos_to_ms("18446744073709551615"), None);
        assert_eq!(nanos_to_ms("-1"), None);
        assert_eq!(status_code(99), None);
        assert_eq!(status_code(100), Some(100));
        assert_eq!(status_code(999), Some(999));
        assert_eq!(status_code(1000), None);
        let mut kept = Vec::new();
        assert_eq!(byte_count("request_bytes", Some("33"), &mut kept), Some(33));
        assert_eq!(byte_count("request_bytes", Some("33, 33"), &mut kept), None);
        assert_eq!(
            kept,
            vec![("request_bytes".to_string(), "\"33, 33\"".to_string())]
        );
        assert_eq!(
            event_time("2022-08-23T20:28:20.071809491Z"),
            Some(1_661_286_500_071)
        );
        assert_eq!(event_time("9999-12-31T23:59:59Z"), None);
    }

    #[test]
    fn proxy_lines() {
        let p = proxy_line_from_text(PROXY_LINE).unwrap();
        assert_eq!(p.level, "INFO");
        assert!(p.message.starts_with("linkerd2_proxy: release"));
        assert!(is_uptime("[1234567.000000s]"));
        assert!(!is_uptime("[     0.0018s]"));
        assert!(!is_uptime("[2019-04-08T16:50:12.533Z]"));
        let denied = "[  3002.281434s]  INFO ThreadId(01) inbound:server{port=16686}: linkerd_app_inbound::policy::http: Request denied server.group=policy.linkerd.io server.kind=server server.name=jaeger-ui route.name=default client.tls=None(NoClientHello) client.ip=100.64.11.50";
        let p = proxy_line_from_text(denied).unwrap();
        assert_eq!(p.server.as_deref(), Some("jaeger-ui"));
        assert_eq!(p.client, "100.64.11.50".parse().ok());
        let rescue = "[  3002.281471s]  INFO ThreadId(01) inbound:server{port=16686}:rescue{client.addr=100.64.11.50:53713}: linkerd_app_core::errors::respond: HTTP/1.1 request failed";
        assert_eq!(
            proxy_line_from_text(rescue).unwrap().client,
            "100.64.11.50".parse().ok()
        );
        assert!(proxy_line_from_text("[     0.001822s]  NOTICE x").is_none());
        assert_eq!(field("a xclient.ip=1 client.ip=2", "client.ip"), Some("2"));
        assert_eq!(field("client.ip=1", "client.ip"), None);
        let json: Value = serde_json::from_str(r#"{"timestamp":"[     0.001822s]","level":"WARN","fields":{"message":"m"},"target":"linkerd_app"}"#).unwrap();
        let p = proxy_line_from_json(&json).unwrap();
        assert_eq!((p.level, p.message.as_ref()), ("WARN", "linkerd_app: m"));
        // Another program's tracing JSON is not the proxy's.
        let other: Value = serde_json::from_str(r#"{"timestamp":"2026-03-02T08:00:00Z","level":"INFO","fields":{"message":"m"},"target":"my_app"}"#).unwrap();
        assert!(proxy_line_from_json(&other).is_none());
    }

    #[test]
    fn severities() {
        assert_eq!(level_severity("ERROR"), 3);
        assert_eq!(level_severity("WARN"), 2);
        assert_eq!(level_severity("INFO"), 1);
        assert_eq!(level_severity("TRACE"), 1);
        assert_eq!(level_severity("warn"), 0);
    }

    #[test]
    fn sniff() {
        assert!(looks_like_linkerd(JSON_LINE));
        assert!(looks_like_linkerd(APACHE_LINE));
        assert!(looks_like_linkerd(PROXY_LINE));
        assert!(looks_like_linkerd(&format!(
            "[pod/p/linkerd-proxy] 2026-03-02T07:59:58.001920113Z {PROXY_LINE}"
        )));
        assert!(looks_like_linkerd(&format!(
            "2026-03-02T07:59:58.0Z stdout F {PROXY_LINE}"
        )));
        // nginx (no port, a CLF time), Envoy, Linkerd's Go controllers: not the proxy.
        assert!(!looks_like_linkerd(
            r#"10.42.0.1:43682 - - [23/Aug/2022:20:28:23 +0000] "GET /ping HTTP/1.1" 200 4"#
        ));
        assert!(!looks_like_linkerd(
            r#"[2019-04-08T16:50:12.533Z] "GET / HTTP/1.1" 200 - 0 1 2 1 "-" "curl" "id" "host" "10.0.0.1:80""#
        ));
        assert!(!looks_like_linkerd(
            r#"time="2026-03-02T08:00:00Z" level=info msg="running version stable-2.14.10""#
        ));
        for odd in [
            "",
            "[",
            "[pod/",
            "{",
            "[ s]",
            "[\u{e9}s]",
            "2026-03-02T07:59:58Z stdout",
        ] {
            assert!(!looks_like_linkerd(odd), "{odd:?}");
        }
    }

    #[test]
    fn one_record_one_row_or_a_refusal() {
        let site = Arc::new(Site::default());
        let mut parser = LinkerdParser { site };
        let mut out = TableBuilders::new(0);
        for line in [JSON_LINE, APACHE_LINE, PROXY_LINE] {
            assert_eq!(
                parser.parse(line.as_bytes(), "t", &mut out),
                Ok(1),
                "{line}"
            );
        }
        assert_eq!(out.len_of(Table::HttpActivity), 2);
        assert_eq!(out.len_of(Table::BaseEvent), 1);
        assert_eq!(
            parser.parse(b"2026-03-02T07:59:58Z stderr F ", "t", &mut out),
            Ok(0)
        );
        for broken in [
            "thread 'main' panicked at 'boom'",
            "2026-03-02T07:59:58Z stderr P 10.42.0.1:1 - - [",
            r#"{"level":"info","msg":"x"}"#,
            r#"10.42.0.1:43682 - - [23/Aug/2022:20:28:23 +0000] "GET /ping HTTP/1.1" 200"#,
            r#"10.42.0.1:43682 - - [2022-08-23T20:28:23Z] "GET /ping HTTP/1.1" OK"#,
            r#"{"client.addr":"10.42.0.1:1","client.id":"-","total_ns":"x","timestamp":"2022-08-23T20:28:23Z"}"#,
        ] {
            assert!(
                parser.parse(broken.as_bytes(), "t", &mut out).is_err(),
                "{broken}"
            );
        }
        assert_eq!(out.len(), 3);
    }
}
