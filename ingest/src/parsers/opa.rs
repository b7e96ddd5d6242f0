//! Open Policy Agent decision logs → `http_activity` (decisions about a request) and
//! `base_event` (every other decision).
//!
//! Input, one decision-log event (`EventV1`) per record, in any of:
//! - the remote-service upload: a JSON array of events (OPA posts it gzip'd to
//!   `decision_logs.resource`; the push endpoint decodes `Content-Encoding: gzip`);
//! - the console logger (`decision_logs.console: true`): one JSON line per decision, the event's
//!   fields merged with logrus' `level`, `msg` ("Decision Log"), `time` and `type`
//!   (`openpolicyagent.org/decision_logs`), optionally wrapped by a container runtime as
//!   `{"log": "…", "stream": …}`;
//! - NDJSON files of events (a custom decision-log plugin, a log shipper).
//!
//! | input (`input`) | table | mapping |
//! |---|---|---|
//! | Envoy ext_authz `CheckRequest` (v3 `attributes.source.address.socketAddress`, v2 `…Address.SocketAddress.PortSpecifier`) | http_activity | method, path and query, host, protocol, size, user agent, X-Forwarded-For, `x-request-id` (correlation, joins Envoy's own access-log row), source and destination address, `source.principal` → `zt_client_identity` with `zt_mtls` |
//! | a request named by `method` and `path` (OPA's HTTP API authorization shape) | http_activity | method, path (an array is joined with `/`), `host`, `user` |
//! | a Kubernetes `AdmissionReview` | http_activity | the API request it reviews: operation → method (CREATE POST, UPDATE PUT, DELETE DELETE, CONNECT CONNECT), the resource's API path (what the audit log's `requestURI` holds), `userInfo.username` → `user_name` (and `zt_client_identity` for a service account) |
//! | anything else (Terraform plans, Kafka, conftest …) | base_event | the decision path is the event type; `user`/`subject`/`principal` → actor |
//!
//! The decision: `zt_decision` `allow` or `deny_policy`, read from `result` by the site's
//! `opa_decisions` rule for the decision path (longest path prefix; `allow` or `deny`, a dotted
//! path from the event root such as `result.allowed`), else in this order: a boolean `result`
//! (or the strings "true"/"false"), `result.allowed`, `result.allow`, `result.response.allowed`,
//! `result.deny` (a non-empty set, object or string denies; an empty one allows). A result none
//! of these reads, or no result at all, is `other` — never `allow`; with the event's `error` it
//! is an evaluation error (`status_id` 2). `policy_name` is the decision path.
//!
//! Dry-run: an OPA in dry-run mode (the Envoy plugin's `dry-run`) lets every request through
//! but logs what it decided, and nothing in the event says so. A site rule with `observe = true`
//! for its path says so: `zt_decision` is then allow (what happened), and the decision read is
//! `zt_would_be_decision` with the path as `zt_would_be_policy` (none when it reads as neither
//! allow nor deny).
//!
//! Invariants: `http_response_code` stays empty (the policy engine does not see the response:
//! Envoy's own row for the same request has it, and counting the 403 once keeps the KPIs
//! honest); `metadata_uid` is `decision_id` (a content hash when absent); `nd_builtin_cache`
//! and the `authorization`, `proxy-authorization` and `cookie` headers are never copied, and
//! neither are the objects of an AdmissionReview of a Secret or a token.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jv::{self, at, first_str, get, invalid, missing, parse_object, str_at};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, decision_outcome, ip_text};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{BaseEventRow, Common, HttpActivityRow, TableBuilders};
use crate::site::{OpaRule, Site};

/// Open Policy Agent decision logs (remote uploads, console lines, NDJSON).
pub static SPEC: VendorSpec = VendorSpec {
    name: "opa",
    aliases: &["opa_decisions", "open_policy_agent"],
    framing: Framing::Json,
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::Json(looks_like_opa),
    parser: |site| Box::new(OpaParser::new(site)),
};

/// The opa format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct OpaParser {
    site: Arc<Site>,
}

impl OpaParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Whether a JSON record is an OPA decision-log event. `decision_id` with `input`, `result` or
/// `labels` (an Envoy `json_format` that logs a `decision_id` next to `path` stays Envoy), or
/// the console logger's `type`. `decision_id` and `input` come early in every form; the
/// console's alphabetical keys can push `labels`, `path` and `type` past the sniffed head.
pub fn looks_like_opa(head: &str) -> bool {
    head.contains("openpolicyagent.org/decision_logs")
        || (head.contains("\"decision_id\"")
            && ["\"input\"", "\"result\"", "\"labels\""]
                .iter()
                .any(|k| head.contains(k)))
}

/// Members of an event the rows hold (or deliberately drop); the rest goes to `unmapped`.
const CONSUMED: &[&str] = &[
    "decision_id",
    "path",
    "query",
    "timestamp",
    "input",
    // Cached non-deterministic builtin outputs: large, and may hold fetched secrets.
    "nd_builtin_cache",
    // The console logger's own fields around the event.
    "level",
    "msg",
    "time",
    "type",
];

/// Request headers never copied into `unmapped`, masked or not: they carry credentials.
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// What the policy decided, as read from `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Allow,
    Deny,
    /// A result no rule reads as allow or deny (or none, without an error).
    Unknown,
    /// No result, and the event carries an evaluation `error`.
    Error,
}

impl Verdict {
    /// The `zt_decision` word.
    fn decision(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny_policy",
            Verdict::Unknown | Verdict::Error => "other",
        }
    }

    /// `status_code`: the verdict as read.
    fn word(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Unknown => "unknown",
            Verdict::Error => "error",
        }
    }

    fn status_id(self) -> i32 {
        match self {
            Verdict::Allow => 1,
            Verdict::Deny | Verdict::Error => 2,
            Verdict::Unknown => 0,
        }
    }
}

/// The shape of a decision's `input`.
enum Input<'v> {
    /// Envoy ext_authz `CheckRequest`: its `attributes`.
    Envoy(&'v Value),
    /// `method` + `path` (OPA's HTTP API authorization tutorial and most services).
    Http(&'v Value),
    /// A Kubernetes `AdmissionReview`: its `request`.
    Admission(&'v Value),
    Other,
}

fn classify(input: Option<&Value>) -> Input<'_> {
    let Some(input) = input.filter(|i| i.is_object()) else {
        return Input::Other;
    };
    if let Some(attributes) = get(input, "attributes")
        && at(attributes, &["request", "http"]).is_some_and(Value::is_object)
    {
        return Input::Envoy(attributes);
    }
    if let Some(request) = get(input, "request").filter(|r| r.is_object())
        && (str_at(input, &["kind"]).as_deref() == Some("AdmissionReview")
            || (get(request, "operation").is_some() && get(request, "userInfo").is_some()))
    {
        return Input::Admission(request);
    }
    let has_path = matches!(get(input, "path"), Some(Value::String(_) | Value::Array(_)));
    if has_path && str_at(input, &["method"]).is_some() {
        return Input::Http(input);
    }
    Input::Other
}

impl Parser for OpaParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let outer = parse_object(record, "an OPA decision log")?;
        let unwrapped = unwrap_console(&outer);
        let event = unwrapped.as_ref().unwrap_or(&outer);
        if get(event, "decision_id").is_none()
            && get(event, "path").is_none()
            && get(event, "query").is_none()
        {
            return Err(ParseError::new(
                ErrorKind::InvalidJson,
                "not an OPA decision log event: no decision_id, path or query",
            ));
        }
        let time = match str_at(event, &["timestamp"]).or_else(|| str_at(event, &["time"])) {
            Some(text) => {
                super::parse_timestamp_ms(&text).ok_or_else(|| invalid("timestamp", &text))?
            }
            None => return Err(missing("timestamp")),
        };
        // Receivers must tolerate a leading `/` on the path (OPA's documentation says so).
        let path = str_at(event, &["path"]).map(|p| p.trim_start_matches('/').to_string());
        let query = str_at(event, &["query"]);
        let rule_path = path
            .clone()
            .or_else(|| query.as_deref().and_then(query_path));
        let name = path
            .clone()
            .or_else(|| query.as_ref().map(|q| q.to_string()))
            .ok_or_else(|| missing("path (or query)"))?;
        let rule = rule_path.as_deref().and_then(|p| self.site.opa_rule(p));
        let verdict = decide(event, rule);
        let reason = reason(event, rule, verdict);
        let uid = str_at(event, &["decision_id"])
            .map(Cow::into_owned)
            .unwrap_or_else(|| content_uid("opa", record));
        let input = get(event, "input");
        let shape = classify(input);

        let common = Common {
            time: Some(time),
            severity_id: Some(1),
            status_id: Some(verdict.status_id()),
            status_code: Some(Cow::Borrowed(verdict.word())),
            status_detail: reason.map(Cow::Owned),
            metadata_uid: Some(Cow::Owned(uid)),
            metadata_event_code: Some(Cow::Owned(name.clone())),
            metadata_log_name: Some(Cow::Borrowed("decision_logs")),
            metadata_product_name: Some(Cow::Borrowed("opa")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Open Policy Agent")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            ..Common::default()
        };

        if let Input::Other = shape {
            let mut row = BaseEventRow {
                common,
                ..BaseEventRow::default()
            };
            row.common.metadata_correlation_uid = str_at(event, &["trace_id"]);
            if let Some(input) = input {
                let actor = first_str(
                    input,
                    &[
                        &["user"],
                        &["user", "name"],
                        &["subject"],
                        &["principal"],
                        &["principal", "name"],
                        &["requestContext", "principal", "name"],
                    ],
                );
                row.own.actor_user_email_addr = actor.clone().filter(|a| a.contains('@'));
                row.own.actor_user_name = actor;
            }
            // The record as received may carry credentials (the builtin cache, request
            // bodies, tokens): the stored copy is the event without them.
            let mut stored = event.clone();
            super::jv::scrub_secrets(&mut stored);
            out.append_base_event(&mut row, &name, stored.to_string().as_bytes());
            return Ok(1);
        }

        let mut row = HttpActivityRow {
            common,
            ..HttpActivityRow::default()
        };
        let mut kept_input = input.cloned().unwrap_or(Value::Null);
        // Dry-run (site `observe`): the request went through whatever the policy said; the
        // policy's answer is what it would have done.
        let observe = rule.is_some_and(|r| r.observe);
        let enforced = if observe { Verdict::Allow } else { verdict };
        let (action_id, disposition_id, _) = decision_outcome(enforced.decision());
        let h = &mut row.own;
        h.zt_decision = Some(Cow::Borrowed(enforced.decision()));
        if observe && matches!(verdict, Verdict::Allow | Verdict::Deny) {
            h.zt_would_be_decision = Some(Cow::Borrowed(verdict.decision()));
            h.zt_would_be_policy = Some(Cow::Owned(name.clone()));
        }
        h.action_id = Some(action_id);
        h.disposition_id = Some(disposition_id);
        h.policy_name = Some(Cow::Owned(name.clone()));
        match shape {
            Input::Envoy(attributes) => {
                fill_envoy(h, attributes, &mut kept_input);
                // Envoy's own words for what ext_authz did, so both rows read alike.
                h.zt_authz_result = match enforced {
                    Verdict::Deny => Some(Cow::Borrowed("ext_authz_denied")),
                    Verdict::Error => Some(Cow::Borrowed("ext_authz_error")),
                    Verdict::Allow | Verdict::Unknown => None,
                };
                let request_id = at(attributes, &["request", "http", "headers"])
                    .and_then(|headers| str_at(headers, &["x-request-id"]));
                row.common.metadata_correlation_uid =
                    request_id.or_else(|| str_at(event, &["trace_id"]));
            }
            Input::Http(input) => {
                fill_http(h, input, &mut kept_input);
                row.common.metadata_correlation_uid = str_at(event, &["trace_id"]);
            }
            Input::Admission(request) => {
                fill_admission(h, request, &mut kept_input);
                if enforced == Verdict::Deny {
                    h.zt_authz_result = Some(Cow::Borrowed("admission_denied"));
                }
                row.common.metadata_correlation_uid = str_at(request, &["uid"]);
            }
            Input::Other => {}
        }
        if let Some(method) = row.own.http_request_http_method.as_deref() {
            let (id, activity) = super::http_method_activity(method);
            row.common.activity_id = Some(id);
            row.common.activity_name = Some(Cow::Borrowed(activity));
        } else {
            row.common.activity_id = Some(99);
            row.common.activity_name = Some(Cow::Borrowed("Other"));
        }
        super::tag_http(&mut row.own, &self.site);
        row.common.unmapped = unmapped(event, kept_input).map(Cow::Owned);
        out.http_activity.append(&mut row);
        Ok(1)
    }
}

/// The event inside a container runtime's wrapper (`{"log": "{…}\n", "stream": "stderr"}`), when
/// the record is one and not an event itself.
fn unwrap_console(outer: &Value) -> Option<Value> {
    if get(outer, "decision_id").is_some() || get(outer, "path").is_some() {
        return None;
    }
    let text = str_at(outer, &["log"]).or_else(|| str_at(outer, &["message"]))?;
    let inner: Value = serde_json::from_str(text.trim()).ok()?;
    (inner.is_object() && get(&inner, "decision_id").is_some()).then_some(inner)
}

/// `data.envoy.authz.result` → `envoy/authz/result`: an ad-hoc query that is a plain reference
/// reads like the path it names; any other query has no path.
fn query_path(query: &str) -> Option<String> {
    let rest = query.trim().strip_prefix("data.")?;
    let plain = !rest.is_empty()
        && rest
            .split('.')
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    plain.then(|| rest.replace('.', "/"))
}

/// The value at a dotted path from the event root (`result.response.allowed`); a numeric
/// segment indexes an array.
fn select<'v>(event: &'v Value, selector: &str) -> Option<&'v Value> {
    selector.split('.').try_fold(event, |v, segment| {
        if segment.is_empty() {
            return None;
        }
        match v {
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
            _ => get(v, segment),
        }
    })
}

/// A decision boolean: `true`/`false`, or the strings "true"/"false" (OPA's own example logs
/// `"result": "true"`). Nothing else is a boolean here: `1` or "yes" is not a decision.
fn as_decision_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a deny value denies: a non-empty set, object or string, or `true`; an empty one (or
/// `false`) allows; anything else says nothing.
fn denies(value: &Value) -> Option<bool> {
    match value {
        Value::Array(items) => Some(!items.is_empty()),
        Value::Object(map) => Some(!map.is_empty()),
        Value::String(s) => Some(!s.trim().is_empty()),
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn by_allow(value: Option<&Value>) -> Verdict {
    match value.and_then(as_decision_bool) {
        Some(true) => Verdict::Allow,
        Some(false) => Verdict::Deny,
        None => Verdict::Unknown,
    }
}

fn by_deny(value: Option<&Value>) -> Verdict {
    match value.and_then(denies) {
        Some(true) => Verdict::Deny,
        Some(false) => Verdict::Allow,
        None => Verdict::Unknown,
    }
}

/// Read the verdict: the site's rule for the path when there is one, else the default order.
fn decide(event: &Value, rule: Option<&OpaRule>) -> Verdict {
    let verdict = match rule {
        Some(rule) => match (rule.allow.as_deref(), rule.deny.as_deref()) {
            (Some(allow), _) => by_allow(select(event, allow)),
            (None, Some(deny)) => by_deny(select(event, deny)),
            (None, None) => default_verdict(event),
        },
        None => default_verdict(event),
    };
    let errored = get(event, "result").is_none() && get(event, "error").is_some();
    if verdict == Verdict::Unknown && errored {
        return Verdict::Error;
    }
    verdict
}

fn default_verdict(event: &Value) -> Verdict {
    let Some(result) = get(event, "result") else {
        return Verdict::Unknown;
    };
    if let Some(b) = as_decision_bool(result) {
        return if b { Verdict::Allow } else { Verdict::Deny };
    }
    for path in [
        &["allowed"][..],
        &["allow"][..],
        &["response", "allowed"][..],
    ] {
        if let Some(value) = at(result, path)
            && as_decision_bool(value).is_some()
        {
            return by_allow(Some(value));
        }
    }
    by_deny(get(result, "deny"))
}

/// The policy's stated reason: Envoy's `body`, a `reason` or `msg`, an AdmissionReview status,
/// else the deny messages; an evaluation error's message.
fn reason(event: &Value, rule: Option<&OpaRule>, verdict: Verdict) -> Option<String> {
    if verdict == Verdict::Error {
        let error = get(event, "error")?;
        return str_at(error, &["message"])
            .or_else(|| jv::as_text(error))
            .map(Cow::into_owned)
            .or_else(|| Some("evaluation error".to_string()));
    }
    let stated = first_str(
        event,
        &[
            &["result", "body"],
            &["result", "reason"],
            &["result", "msg"],
            &["result", "response", "status", "message"],
            &["result", "response", "status", "reason"],
        ],
    );
    if let Some(text) = stated {
        return Some(text.into_owned());
    }
    if verdict != Verdict::Deny {
        return None;
    }
    let selector = rule
        .and_then(|r| r.deny.as_deref())
        .unwrap_or("result.deny");
    let messages: Vec<String> = match select(event, selector)? {
        Value::Array(items) => items.iter().filter_map(message_of).collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        other => message_of(other).into_iter().collect(),
    };
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// A deny entry's text: a string, or the `msg` of an object (`{"msg": …, "details": …}`).
fn message_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Object(_) => first_str(value, &[&["msg"], &["message"]]).map(Cow::into_owned),
        _ => None,
    }
}

/// `ip` + port of an Envoy `Address`: v3 `socketAddress.{address, portValue}`, v2
/// `Address.SocketAddress.{address, PortSpecifier.PortValue}` (keys match case-insensitively,
/// so the two paths differ only in nesting).
fn socket_address(address: &Value) -> (Option<Cow<'_, str>>, Option<i32>) {
    let v3 = get(address, "socketAddress");
    let v2 = at(address, &["Address", "SocketAddress"]);
    let Some(socket) = v3.or(v2) else {
        return (None, None);
    };
    let ip = str_at(socket, &["address"]).and_then(ip_text);
    let port = jv::i64_at(socket, &["portValue"])
        .or_else(|| jv::i64_at(socket, &["PortSpecifier", "PortValue"]))
        .and_then(super::port_number);
    (ip, port)
}

/// Remove `path` from `value` (keys matched as [`jv::get`] does), and the objects it leaves empty.
fn remove_path(value: &mut Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(map) = value.as_object_mut() else {
        return;
    };
    let key = map
        .keys()
        .find(|k| k.as_str() == *first)
        .or_else(|| map.keys().find(|k| k.eq_ignore_ascii_case(first)))
        .cloned();
    let Some(key) = key else {
        return;
    };
    if rest.is_empty() {
        map.remove(&key);
        return;
    }
    let emptied = match map.get_mut(&key) {
        Some(child) => {
            remove_path(child, rest);
            child.as_object().is_some_and(Map::is_empty)
        }
        None => false,
    };
    if emptied {
        map.remove(&key);
    }
}

fn fill_envoy<'v>(
    h: &mut crate::schema::HttpActivityColumns<'v>,
    attributes: &'v Value,
    kept: &mut Value,
) {
    let http = at(attributes, &["request", "http"]);
    let headers = http.and_then(|r| get(r, "headers"));
    let header = |name: &str| headers.and_then(|hs| str_at(hs, &[name]));
    let field = |name: &str| http.and_then(|r| str_at(r, &[name]));
    h.http_request_http_method = field("method").or_else(|| header(":method"));
    if let Some(target) = field("path").or_else(|| header(":path")) {
        let (path, query) = super::tokens::split_target(&target);
        h.http_request_url_path = Some(Cow::Owned(path.to_string()));
        h.http_request_url_query_string = query.map(|q| Cow::Owned(q.to_string()));
    }
    h.http_request_url_hostname = field("host").or_else(|| header(":authority"));
    h.http_request_version = field("protocol");
    // Envoy writes -1 when it does not know the size.
    h.http_request_length = http
        .and_then(|r| jv::i64_at(r, &["size"]))
        .filter(|n| *n >= 0);
    h.http_request_user_agent = header("user-agent");
    h.http_request_x_forwarded_for = header("x-forwarded-for");
    for name in ["method", "path", "host", "protocol", "size"] {
        remove_path(kept, &["attributes", "request", "http", name]);
    }
    for name in [
        "user-agent",
        "x-forwarded-for",
        "x-request-id",
        ":authority",
        ":method",
        ":path",
    ]
    .iter()
    .chain(SECRET_HEADERS)
    {
        remove_path(kept, &["attributes", "request", "http", "headers", *name]);
    }
    // The plugin's parsed copies of the path and query repeat what the columns hold.
    remove_path(kept, &["parsed_path"]);
    remove_path(kept, &["parsed_query"]);

    if let Some(source) = get(attributes, "source") {
        let (ip, port) = get(source, "address").map_or((None, None), socket_address);
        if ip.is_some() {
            remove_path(kept, &["attributes", "source", "address"]);
        }
        h.src_endpoint_ip = ip;
        h.src_endpoint_port = port;
        // The SPIFFE id (or subject) of the peer's client certificate: the connection was
        // mutually authenticated, and this is the workload that made it.
        if let Some(principal) = str_at(source, &["principal"]) {
            h.zt_client_identity = Some(principal);
            h.zt_mtls = Some(true);
            remove_path(kept, &["attributes", "source", "principal"]);
        }
    }
    if h.src_endpoint_ip.is_none() {
        // Without the peer address, the client is the left-most X-Forwarded-For hop.
        h.src_endpoint_ip = h
            .http_request_x_forwarded_for
            .as_deref()
            .and_then(|x| x.split(',').next())
            .and_then(|x| x.trim().parse::<std::net::IpAddr>().ok())
            .map(|ip| Cow::Owned(ip.to_string()));
    }
    if let Some(destination) = get(attributes, "destination") {
        let (ip, port) = get(destination, "address").map_or((None, None), socket_address);
        if ip.is_some() {
            remove_path(kept, &["attributes", "destination", "address"]);
        }
        h.dst_endpoint_ip = ip;
        h.dst_endpoint_port = port;
    }
}

fn fill_http<'v>(
    h: &mut crate::schema::HttpActivityColumns<'v>,
    input: &'v Value,
    kept: &mut Value,
) {
    h.http_request_http_method = str_at(input, &["method"]);
    let path = match get(input, "path") {
        Some(Value::String(p)) => Some(p.clone()),
        // `["finance", "salary", "alice"]` is `/finance/salary/alice`.
        Some(Value::Array(parts)) => {
            let parts: Vec<Cow<'_, str>> = parts.iter().filter_map(jv::as_text).collect();
            Some(format!("/{}", parts.join("/")))
        }
        _ => None,
    };
    if let Some(target) = path {
        let (path, query) = super::tokens::split_target(&target);
        h.http_request_url_path = Some(Cow::Owned(path.to_string()));
        h.http_request_url_query_string = query.map(|q| Cow::Owned(q.to_string()));
    }
    h.http_request_url_hostname = str_at(input, &["host"]);
    h.user_name = first_str(input, &[&["user"], &["user", "name"], &["subject"]]);
    for key in ["method", "path", "host"] {
        remove_path(kept, &[key]);
    }
    if str_at(input, &["user"]).is_some() {
        remove_path(kept, &["user"]);
    }
    for name in SECRET_HEADERS {
        remove_path(kept, &["headers", *name]);
    }
}

/// Kubernetes resources whose admitted objects carry credentials.
fn carries_credentials(resource: Option<&str>, subresource: Option<&str>) -> bool {
    matches!(resource, Some("secrets" | "tokenreviews")) || subresource == Some("token")
}

/// The API path a reviewed request was sent to: `/api/v1/namespaces/shop/pods` (a create names
/// its collection), `/apis/apps/v1/namespaces/web/deployments/frontend`, `…/pods/x/exec`.
fn admission_path(request: &Value, operation: Option<&str>) -> Option<String> {
    let resource = get(request, "resource")?;
    let name = str_at(resource, &["resource"])?;
    let version = str_at(resource, &["version"])?;
    let mut path = match str_at(resource, &["group"]) {
        Some(group) => format!("/apis/{group}/{version}"),
        None => format!("/api/{version}"),
    };
    let core_namespaces = name == "namespaces" && str_at(resource, &["group"]).is_none();
    if let Some(ns) = str_at(request, &["namespace"]).filter(|_| !core_namespaces) {
        path.push_str(&format!("/namespaces/{ns}"));
    }
    path.push('/');
    path.push_str(&name);
    let subresource = str_at(request, &["subResource"]);
    if let Some(object) = str_at(request, &["name"])
        && (operation != Some("CREATE") || subresource.is_some())
    {
        path.push('/');
        path.push_str(&object);
    }
    if let Some(sub) = subresource {
        path.push('/');
        path.push_str(&sub);
    }
    Some(path)
}

fn fill_admission<'v>(
    h: &mut crate::schema::HttpActivityColumns<'v>,
    request: &'v Value,
    kept: &mut Value,
) {
    let operation = str_at(request, &["operation"]).map(|o| o.to_ascii_uppercase());
    // The admission operation, not the wire method (a patch is UPDATE, an exec CONNECT).
    h.http_request_http_method = operation.as_deref().and_then(|o| match o {
        "CREATE" => Some(Cow::Borrowed("POST")),
        "UPDATE" => Some(Cow::Borrowed("PUT")),
        "DELETE" => Some(Cow::Borrowed("DELETE")),
        "CONNECT" => Some(Cow::Borrowed("CONNECT")),
        _ => None,
    });
    h.http_request_url_path = admission_path(request, operation.as_deref()).map(Cow::Owned);
    let user = str_at(request, &["userInfo", "username"]);
    if user
        .as_deref()
        .is_some_and(|u| u.starts_with("system:serviceaccount:"))
    {
        h.zt_client_identity = user.clone();
    }
    h.user_name = user;
    if h.http_request_url_path.is_some() {
        for key in ["resource", "namespace", "name", "subResource"] {
            remove_path(kept, &["request", key]);
        }
    }
    if h.http_request_http_method.is_some() {
        remove_path(kept, &["request", "operation"]);
    }
    remove_path(kept, &["request", "userInfo", "username"]);
    let resource = str_at(request, &["resource", "resource"]);
    let subresource = str_at(request, &["subResource"]);
    if carries_credentials(resource.as_deref(), subresource.as_deref()) {
        remove_path(kept, &["request", "object"]);
        remove_path(kept, &["request", "oldObject"]);
    }
}

/// What the row does not hold: the event's other members and the unread rest of `input`.
fn unmapped(event: &Value, kept_input: Value) -> Option<String> {
    let map = event.as_object()?;
    let mut rest: Map<String, Value> = map
        .iter()
        .filter(|(k, v)| !v.is_null() && !CONSUMED.iter().any(|c| c.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(context) = rest.get_mut("request_context") {
        for name in SECRET_HEADERS {
            remove_path(context, &["http", "headers", *name]);
        }
    }
    if kept_input.as_object().is_some_and(|m| !m.is_empty()) {
        rest.insert("input".to_string(), kept_input);
    }
    // Credentials anywhere in what is kept (request bodies, API keys, tokens in the input or
    // the result's headers) are dropped, not stored.
    let mut rest = Value::Object(rest);
    super::jv::scrub_secrets(&mut rest);
    let Value::Object(mut rest) = rest else {
        return None;
    };
    // Objects emptied of what was mapped or dropped say nothing.
    rest.retain(|_, v| !v.as_object().is_some_and(Map::is_empty));
    (!rest.is_empty()).then(|| Value::Object(rest).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(allow: Option<&str>, deny: Option<&str>) -> OpaRule {
        OpaRule {
            observe: false,
            allow: allow.map(str::to_string),
            deny: deny.map(str::to_string),
        }
    }

    #[test]
    fn default_order_reads_each_documented_shape() {
        let v = |result: Value| json!({"decision_id": "d", "result": result});
        assert_eq!(decide(&v(json!(true)), None), Verdict::Allow);
        assert_eq!(decide(&v(json!("false")), None), Verdict::Deny);
        assert_eq!(
            decide(&v(json!({"allowed": false, "allow": true})), None),
            Verdict::Deny
        );
        assert_eq!(decide(&v(json!({"allow": true})), None), Verdict::Allow);
        assert_eq!(
            decide(&v(json!({"response": {"allowed": false}})), None),
            Verdict::Deny
        );
        assert_eq!(
            decide(&v(json!({"deny": ["no"], "warn": []})), None),
            Verdict::Deny
        );
        assert_eq!(decide(&v(json!({"deny": []})), None), Verdict::Allow);
        // Unreadable results are never allow.
        assert_eq!(decide(&v(json!({"permit": true})), None), Verdict::Unknown);
        assert_eq!(decide(&v(json!(1)), None), Verdict::Unknown);
        assert_eq!(decide(&v(json!("yes")), None), Verdict::Unknown);
        assert_eq!(decide(&v(json!(["a"])), None), Verdict::Unknown);
        assert_eq!(decide(&json!({"decision_id": "d"}), None), Verdict::Unknown);
        assert_eq!(
            decide(
                &json!({"decision_id": "d", "error": {"message": "x"}}),
                None
            ),
            Verdict::Error
        );
    }

    #[test]
    fn a_site_rule_wins_and_an_unresolved_selector_is_unknown() {
        let event = json!({"result": {"permit": true, "violations": [], "allowed": false}});
        assert_eq!(
            decide(&event, Some(&rule(Some("result.permit"), None))),
            Verdict::Allow
        );
        assert_eq!(
            decide(&event, Some(&rule(None, Some("result.violations")))),
            Verdict::Allow
        );
        assert_eq!(
            decide(&event, Some(&rule(Some("result.nope"), None))),
            Verdict::Unknown
        );
        let list = json!({"result": ["container must not run as root"]});
        assert_eq!(
            decide(&list, Some(&rule(None, Some("result")))),
            Verdict::Deny
        );
        assert_eq!(
            reason(&list, Some(&rule(None, Some("result"))), Verdict::Deny).as_deref(),
            Some("container must not run as root")
        );
        assert_eq!(
            select(&json!({"result": [{"a": 1}]}), "result.0.a"),
            Some(&json!(1))
        );
        assert_eq!(select(&event, "result..permit"), None);
        assert_eq!(select(&event, "result.9"), None);
    }

    #[test]
    fn reasons_and_deny_messages() {
        let event = json!({"result": {"deny": ["a", {"msg": "b"}, 3]}});
        assert_eq!(reason(&event, None, Verdict::Deny).as_deref(), Some("a; b"));
        assert_eq!(reason(&event, None, Verdict::Allow), None);
        let envoy = json!({"result": {"allowed": false, "body": "nope"}});
        assert_eq!(reason(&envoy, None, Verdict::Deny).as_deref(), Some("nope"));
        assert_eq!(message_of(&json!("")), None);
        assert_eq!(message_of(&json!({"message": "m"})).as_deref(), Some("m"));
    }

    #[test]
    fn queries_paths_and_admission_paths() {
        assert_eq!(
            query_path("data.envoy.authz.result").as_deref(),
            Some("envoy/authz/result")
        );
        assert_eq!(query_path("data.x[\"y\"]"), None);
        assert_eq!(query_path("data."), None);
        let create = json!({"resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop", "name": "web-1", "operation": "CREATE"});
        assert_eq!(
            admission_path(&create, Some("CREATE")).as_deref(),
            Some("/api/v1/namespaces/shop/pods")
        );
        let exec = json!({"resource": {"group": "", "version": "v1", "resource": "pods"},
            "subResource": "exec", "namespace": "shop", "name": "web-1"});
        assert_eq!(
            admission_path(&exec, Some("CONNECT")).as_deref(),
            Some("/api/v1/namespaces/shop/pods/web-1/exec")
        );
        let ns = json!({"resource": {"version": "v1", "resource": "namespaces"},
            "namespace": "billing", "name": "billing"});
        assert_eq!(
            admission_path(&ns, Some("DELETE")).as_deref(),
            Some("/api/v1/namespaces/billing")
        );
        let deploy = json!({"resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "namespace": "web", "name": "frontend"});
        assert_eq!(
            admission_path(&deploy, Some("UPDATE")).as_deref(),
            Some("/apis/apps/v1/namespaces/web/deployments/frontend")
        );
    }

    #[test]
    fn secrets_stay_out_of_unmapped() {
        let mut input = json!({"attributes": {"request": {"http": {"headers":
            {"Authorization": "Bearer x", "accept": "*/*"}}}}});
        remove_path(
            &mut input,
            &["attributes", "request", "http", "headers", "authorization"],
        );
        assert_eq!(
            input,
            json!({"attributes": {"request": {"http": {"headers": {"accept": "*/*"}}}}})
        );
        remove_path(
            &mut input,
            &["attributes", "request", "http", "headers", "accept"],
        );
        assert_eq!(input, json!({}));
        let event = json!({"decision_id": "d", "nd_builtin_cache": {"a": 1}, "labels": {"id": "i"},
            "request_context": {"http": {"headers": {"Cookie": ["c"]}}}});
        assert_eq!(
            unmapped(&event, Value::Null).as_deref(),
            Some(r#"{"labels":{"id":"i"}}"#)
        );
    }

    #[test]
    fn sniff() {
        assert!(looks_like_opa(
            r#"{"decision_id":"1","input":{},"path":"a/b"}"#
        ));
        assert!(looks_like_opa(
            r#"{"log":"{\"type\":\"openpolicyagent.org/decision_logs\"}"}"#
        ));
        // An Envoy json_format that logs a decision id next to the path stays Envoy.
        assert!(!looks_like_opa(
            r#"{"decision_id":"1","path":"/a","method":"GET"}"#
        ));
    }
}
