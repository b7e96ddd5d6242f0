//! AWS Application Load Balancer access logs → `http_activity`.
//!
//! Input: one entry per line, space-separated with quoted fields, in AWS's documented order:
//! `type time elb client:port target:port request_processing_time target_processing_time
//! response_processing_time elb_status_code target_status_code received_bytes sent_bytes
//! "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
//! "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
//! "redirect_url" "error_reason" "target:port_list" "target_status_code_list" "classification"
//! "classification_reason" conn_trace_id`. Later fields AWS appends are kept in `unmapped`;
//! lines that stop after `request_creation_time` (older logs) are accepted. An IPv6 client or
//! target is read bare (`2001:db8::1:443`) or bracketed (`[2001:db8::1]:443`).
//!
//! Zero Trust reading: `actions_executed` containing `authenticate` means the ALB authenticated
//! the user with the identity provider (OIDC / Cognito) before forwarding →
//! `zt_idp_authenticated` = true (false otherwise); an `error_reason` starting with `Auth`
//! (AuthInvalidCookie, AuthMissingCode …) is the authentication failure → `zt_authz_result`;
//! a `waf` action with a 403 → `waf_blocked`. Network Load Balancer TLS lines (`tls 2.0 …`) and
//! ALB connection logs are other products: stored in `base_event`.
//!
//! `metadata_uid` is a hash of the line; the `X-Amzn-Trace-Id` is the correlation id.

use std::borrow::Cow;
use std::sync::Arc;

use super::tokens::{self, Token};
use super::{
    Format, Parser, Sniff, VendorSpec, as_utf8, content_uid, json_object, parse_timestamp_ms,
};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{BaseEventRow, Common, HttpActivityRow, TableBuilders};
use crate::site::Site;

/// AWS Application Load Balancer access logs.
pub static SPEC: VendorSpec = VendorSpec {
    name: "alb",
    aliases: &["aws_alb", "elb"],
    framing: Framing::Lines,
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::Line(looks_like_alb),
    parser: |site| Box::new(AlbParser::new(site)),
};

/// The alb format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct AlbParser {
    site: Arc<Site>,
}

impl AlbParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

const TYPES: &[&str] = &["http", "https", "h2", "grpcs", "ws", "wss"];

/// Names of the fields after `request_creation_time`, kept in `unmapped` when not mapped.
const LATER_FIELDS: &[&str] = &[
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target_port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
];

/// Whether a line looks like an ALB access log entry.
pub fn looks_like_alb(line: &str) -> bool {
    let mut parts = line.split(' ');
    let (kind, time, elb) = (parts.next(), parts.next(), parts.next());
    kind.is_some_and(|k| TYPES.contains(&k))
        && time.is_some_and(|t| t.len() >= 20 && t.as_bytes().get(10) == Some(&b'T'))
        && elb.is_some_and(|e| e.starts_with("app/"))
}

fn bad(kind: ErrorKind, detail: impl Into<String>) -> ParseError {
    ParseError::new(kind, detail)
}

impl Parser for AlbParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let line = as_utf8(record)?;
        let fields = tokens::split(line)?;
        let kind = fields.first().map(Token::text).unwrap_or("");
        if !TYPES.contains(&kind) {
            let text = |i: usize| fields.get(i).map(Token::text).unwrap_or("");
            // Elastic Load Balancing's other logs: stored, not mapped.
            let (event_type, time, client, target_type, target) = if kind == "tls" {
                // tls version time elb listener client:port destination:port …
                ("nlb_tls", text(2), text(5), "load_balancer", text(3))
            } else if parse_timestamp_ms(kind).is_some() {
                // time client_ip client_port listener_port tls_protocol …
                ("alb_connection", kind, text(1), "listener_port", text(3))
            } else {
                let shown: String = kind.chars().take(40).collect();
                return Err(bad(
                    ErrorKind::InvalidField,
                    format!("not an ALB access log line (type {shown:?})"),
                ));
            };
            let time = parse_timestamp_ms(time)
                .ok_or_else(|| bad(ErrorKind::InvalidField, format!("time {time:?}")))?;
            let mut row = BaseEventRow {
                common: Common {
                    time: Some(time),
                    metadata_uid: Some(Cow::Owned(content_uid("alb", record))),
                    metadata_product_name: Some(Cow::Borrowed("alb")),
                    metadata_product_vendor_name: Some(Cow::Borrowed("AWS")),
                    metadata_log_name: Some(Cow::Borrowed(event_type)),
                    cloud_provider: Some(Cow::Borrowed("AWS")),
                    raw_ref: Some(Cow::Borrowed(raw_ref)),
                    severity_id: Some(1),
                    ..Common::default()
                },
                ..BaseEventRow::default()
            };
            // An NLB client is `address:port` (IPv6 without brackets too); a connection log's
            // client_ip has no port.
            let client = if event_type == "nlb_tls" {
                tokens::address_then_port(client).0
            } else {
                tokens::host_port(client).0
            };
            row.own.src_endpoint_ip = client.map(|ip| Cow::Owned(ip.to_string()));
            row.own.zt_target_type = Some(Cow::Borrowed(target_type));
            row.own.zt_target_name = (!target.is_empty()).then(|| Cow::Owned(target.to_string()));
            out.append_base_event(&mut row, event_type, record);
            return Ok(1);
        }
        if fields.len() < 22 {
            return Err(bad(
                ErrorKind::FieldCount,
                format!(
                    "{} fields; an ALB access log line has at least 22",
                    fields.len()
                ),
            ));
        }
        let v = |i: usize| fields.get(i).and_then(Token::value);
        let time_text = fields[1].text();
        let time = parse_timestamp_ms(time_text)
            .ok_or_else(|| bad(ErrorKind::InvalidField, format!("time {time_text:?}")))?;
        let seconds = |i: usize| -> Result<Option<f64>, ParseError> {
            match v(i) {
                None => Ok(None),
                Some(t) => {
                    let s: f64 = t.parse().map_err(|_| {
                        bad(ErrorKind::InvalidField, format!("processing time {t:?}"))
                    })?;
                    // -1: the load balancer could not dispatch or the target did not answer.
                    Ok((s >= 0.0).then_some(s))
                }
            }
        };
        let int = |i: usize, name: &str| -> Result<Option<i64>, ParseError> {
            match v(i) {
                None => Ok(None),
                Some(t) => t
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| bad(ErrorKind::InvalidField, format!("{name} {t:?}"))),
            }
        };
        let timings = [seconds(5)?, seconds(6)?, seconds(7)?];
        let elb_status = int(8, "elb_status_code")?;
        let received = int(10, "received_bytes")?;
        let sent = int(11, "sent_bytes")?;
        // Both fields always end in `:port`; an IPv6 address comes bare or in brackets.
        let (client_ip, client_port) = v(3)
            .as_deref()
            .map_or((None, None), tokens::address_then_port);
        let (target_ip, target_port) = v(4)
            .as_deref()
            .map_or((None, None), tokens::address_then_port);

        let mut row = HttpActivityRow::default();
        let h = &mut row.own;
        h.src_endpoint_ip = client_ip.map(|ip| Cow::Owned(ip.to_string()));
        h.src_endpoint_port = client_port;
        h.dst_endpoint_ip = target_ip.map(|ip| Cow::Owned(ip.to_string()));
        h.dst_endpoint_port = target_port;
        h.http_request_length = received;
        h.http_response_length = sent;
        h.http_response_code = elb_status.and_then(|c| i32::try_from(c).ok());
        h.http_response_latency = if timings.iter().all(Option::is_some) {
            let total: f64 = timings.iter().flatten().sum();
            Some((total * 1000.0).round() as i64)
        } else {
            None
        };
        h.http_request_user_agent = v(13).map(|u| Cow::Owned(u.into_owned()));
        h.tls_cipher = v(14).map(|u| Cow::Owned(u.into_owned()));
        h.tls_version = v(15).map(|u| Cow::Owned(u.into_owned()));

        // "GET https://host:443/path?q HTTP/1.1"; a URL may hold spaces, so the method is the
        // first word and the version the last.
        let mut unmapped: Vec<(String, String)> = Vec::new();
        let request = fields[12].text();
        let mut activity = (99, "Other");
        if let (Some((method, rest)), true) = (request.split_once(' '), request.len() > 2)
            && let Some((url, version)) = rest.trim_end().rsplit_once(' ')
            && method != "-"
        {
            activity = super::http_method_activity(method);
            h.http_request_http_method = Some(Cow::Owned(method.to_string()));
            h.http_request_version = Some(Cow::Owned(version.to_string()));
            let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
            let (authority, target) = match after_scheme.find('/') {
                Some(i) => (&after_scheme[..i], &after_scheme[i..]),
                None => (after_scheme, "/"),
            };
            let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
            if !host.is_empty() {
                h.http_request_url_hostname = Some(Cow::Owned(host.to_string()));
            }
            let (path, query) = tokens::split_target(target);
            h.http_request_url_path = Some(Cow::Owned(path.to_string()));
            h.http_request_url_query_string = query.map(|q| Cow::Owned(q.to_string()));
        } else if request != "-" && !request.trim().is_empty() {
            unmapped.push(("request".into(), json_str(request)));
        }
        if let Some(domain) = v(18) {
            // SNI domain: the app's name even when the request line used an IP.
            if h.http_request_url_hostname
                .as_deref()
                .is_none_or(|host| host.parse::<std::net::IpAddr>().is_ok())
            {
                h.http_request_url_hostname = Some(Cow::Owned(domain.into_owned()));
            }
        }
        let actions = v(22).unwrap_or_default();
        let error_reason = v(24);
        h.zt_idp_authenticated = Some(actions.split(',').any(|a| a == "authenticate"));
        let code = h.http_response_code.unwrap_or(0);
        h.zt_authz_result = match error_reason.as_deref() {
            Some(e) if e.starts_with("Auth") => Some(Cow::Owned(e.to_string())),
            _ if code == 403 && actions.split(',').any(|a| a == "waf") => {
                Some(Cow::Borrowed("waf_blocked"))
            }
            _ => None,
        };
        let (action_id, disposition_id) = match code {
            401 => (2, 26),
            403 => (2, 2),
            _ if h.zt_authz_result.is_some() => (2, 26),
            _ => (1, 1),
        };
        h.action_id = Some(action_id);
        h.disposition_id = Some(disposition_id);
        super::tag_http(h, &self.site);

        for (i, name) in [
            (2, "elb"),
            (9, "target_status_code"),
            (16, "target_group_arn"),
            (19, "chosen_cert_arn"),
            (20, "matched_rule_priority"),
            (21, "request_creation_time"),
        ] {
            if let Some(value) = v(i) {
                unmapped.push((name.into(), json_str(&value)));
            }
        }
        for (offset, name) in LATER_FIELDS.iter().enumerate() {
            if let Some(value) = v(22 + offset) {
                unmapped.push((name.to_string(), json_str(&value)));
            }
        }
        for (i, token) in fields.iter().enumerate().skip(22 + LATER_FIELDS.len()) {
            if let Some(value) = token.value() {
                unmapped.push((format!("field_{}", i + 1), json_str(&value)));
            }
        }

        let c = &mut row.common;
        c.time = Some(time);
        c.activity_id = Some(activity.0);
        c.activity_name = Some(Cow::Borrowed(activity.1));
        c.status_id = Some(if code == 0 || code >= 400 { 2 } else { 1 });
        c.status_code = (code > 0).then(|| Cow::Owned(code.to_string()));
        c.status_detail = error_reason.map(|e| Cow::Owned(e.into_owned()));
        c.severity_id = Some(1);
        c.metadata_uid = Some(Cow::Owned(content_uid("alb", record)));
        c.metadata_correlation_uid = v(17).map(|t| Cow::Owned(t.into_owned()));
        c.metadata_product_name = Some(Cow::Borrowed("alb"));
        c.metadata_product_vendor_name = Some(Cow::Borrowed("AWS"));
        c.metadata_log_name = Some(Cow::Owned(format!("ALB access log ({kind})")));
        c.cloud_provider = Some(Cow::Borrowed("AWS"));
        if let Some(arn) = v(16)
            && let Some(account) = arn.split(':').nth(4).filter(|a| !a.is_empty())
        {
            c.cloud_account_uid = Some(Cow::Owned(account.to_string()));
            c.cloud_region = arn
                .split(':')
                .nth(3)
                .filter(|r| !r.is_empty())
                .map(|r| Cow::Owned(r.to_string()));
        }
        c.raw_ref = Some(Cow::Borrowed(raw_ref));
        let pairs: Vec<(&str, &str)> = unmapped
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        c.unmapped = json_object(&pairs).map(Cow::Owned);
        out.http_activity.append(&mut row);
        Ok(1)
    }
}

fn json_str(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
