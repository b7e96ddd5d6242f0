//! Zeek `conn.log` → `network_activity`.
//!
//! Input, one connection per line, in either of Zeek's writers:
//! - **TSV** (the ASCII writer): `#separator`, `#set_separator`, `#empty_field`, `#unset_field`
//!   and `#fields` header lines set how the lines after them are read; the separator directive
//!   is honoured (the comma variant works), `\xHH` escapes are decoded. Without a `#fields`
//!   header the default conn.log column order is assumed. Other `#` lines (`#path`, `#open`,
//!   `#types`, `#close`) are read and produce no row.
//! - **JSON** (`LogAscii::use_json`): one object per line; `ts` as epoch seconds or ISO 8601.
//!
//! Mapping: `uid` → `metadata_uid`; `id.orig_h/p` → source, `id.resp_h/p` → destination;
//! `orig_bytes/pkts` → `traffic_bytes_out/packets_out`, `resp_*` → `*_in`; `duration` → ms and
//! `end_time`; `history` → `connection_info_flag_history`; `community_id` →
//! `connection_info_community_uid`; `service` → `app_name`. For ICMP Zeek writes the message
//! type and code in `id.orig_p` and `id.resp_p`: they go to `unmapped` as `icmp_type` and
//! `icmp_code`, and the row has no ports. Port 0 is no port.
//!
//! `conn_state` → `status_code` and `activity_id`: SF, RSTO, RSTR, RSTRH, SH, SHR → 2 Close;
//! S0 → 4 Fail; REJ → 5 Refuse; anything else → 6 Traffic. S0 and REJ are *failed attempts*
//! (`status_id` 2), never *blocked*: Zeek sees no policy, so `action_id` and `disposition_id`
//! stay empty. Direction: lateral (3) when the site's CIDRs place both ends inside, or when Zeek
//! marks both `local_orig` and `local_resp`; otherwise `local_orig`/`local_resp` decide outbound
//! (T/F → 2) and inbound (F/T → 1).

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{self, as_text};
use super::{Format, Parser, Sniff, VendorSpec, as_utf8, json_object, parse_timestamp_ms};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{NetworkActivityRow, TableBuilders};
use crate::site::Site;

/// conn.log columns in Zeek's default order (used when no `#fields` header was seen).
const DEFAULT_FIELDS: &[&str] = &[
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
];

/// Header directives that change how later lines are read.
const STATE_DIRECTIVES: &[&str] = &[
    "#separator",
    "#set_separator",
    "#empty_field",
    "#unset_field",
    "#fields",
];

/// Zeek conn.log (TSV with header directives, or JSON lines).
pub static SPEC: VendorSpec = VendorSpec {
    name: "zeek",
    aliases: &["zeek_conn", "bro", "conn"],
    framing: Framing::Lines,
    envelope_keys: &[],
    stateful: true,
    sniff: Sniff::Text(looks_like_zeek),
    parser: |site| Box::new(ZeekParser::new(site)),
};

/// The zeek format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct ZeekParser {
    site: Arc<Site>,
    separator: String,
    unset: String,
    empty: String,
    fields: Vec<String>,
}

impl ZeekParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self {
            site,
            separator: "\t".into(),
            unset: "-".into(),
            empty: "(empty)".into(),
            fields: DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn directive(&mut self, line: &str) {
        // `#separator` is always followed by a space; later directives use the separator.
        if let Some(value) = line.strip_prefix("#separator ") {
            self.separator = unescape(value.trim_end_matches(['\r', '\n']));
            return;
        }
        let mut parts = line.split(self.separator.as_str());
        let name = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        match name {
            "#unset_field" => self.unset = rest.join(&self.separator),
            "#empty_field" => self.empty = rest.join(&self.separator),
            "#fields" if !rest.is_empty() => {
                self.fields = rest.iter().map(|f| f.to_string()).collect();
            }
            _ => {}
        }
    }
}

impl Parser for ZeekParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let line = as_utf8(record)?;
        if line.starts_with('#') {
            self.directive(line);
            return Ok(0);
        }
        if line.trim_start().starts_with('{') {
            let value = jv::parse_object(record, "a Zeek conn.log")?;
            let fields = JsonFields(&value);
            let mut row = map_conn(&fields, &self.site, raw_ref)?;
            out.network_activity.append(&mut row);
            return Ok(1);
        }
        let values: Vec<&str> = line.split(self.separator.as_str()).collect();
        if values.len() != self.fields.len() {
            return Err(ParseError::new(
                ErrorKind::FieldCount,
                format!(
                    "{} fields, the #fields header names {}",
                    values.len(),
                    self.fields.len()
                ),
            ));
        }
        let fields = TsvFields {
            names: &self.fields,
            values,
            unset: &self.unset,
            empty: &self.empty,
        };
        let mut row = map_conn(&fields, &self.site, raw_ref)?;
        out.network_activity.append(&mut row);
        Ok(1)
    }

    fn is_stream_state(&self, record: &[u8]) -> bool {
        STATE_DIRECTIVES.iter().any(|d| {
            record.starts_with(d.as_bytes())
                && record
                    .get(d.len())
                    .is_some_and(|b| !b.is_ascii_alphanumeric() && *b != b'_')
        })
    }
}

/// Whether a line looks like Zeek conn.log (a header directive or a JSON conn record).
pub fn looks_like_zeek(head: &str) -> bool {
    let first = head.lines().next().unwrap_or("");
    first.starts_with("#separator")
        || (first.starts_with('{')
            && first.contains("\"uid\"")
            && first.contains("\"id.orig_h\"")
            && first.contains("\"conn_state\""))
}

/// `\x09` → tab; other text unchanged.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Field access over either writer's record.
trait ConnFields {
    fn text(&self, name: &str) -> Option<Cow<'_, str>>;
    /// Every field not in `known`, as JSON text values.
    fn rest(&self, known: &[&str]) -> Vec<(String, String)>;
}

struct TsvFields<'a> {
    names: &'a [String],
    values: Vec<&'a str>,
    unset: &'a str,
    empty: &'a str,
}

impl ConnFields for TsvFields<'_> {
    fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        let i = self.names.iter().position(|n| n == name)?;
        let v = self.values[i];
        (v != self.unset && v != self.empty && !v.is_empty()).then(|| Cow::Owned(unescape(v)))
    }

    fn rest(&self, known: &[&str]) -> Vec<(String, String)> {
        self.names
            .iter()
            .zip(&self.values)
            .filter(|(n, v)| !known.contains(&n.as_str()) && **v != self.unset && **v != self.empty)
            .map(|(n, v)| {
                (
                    n.clone(),
                    serde_json::to_string(&unescape(v)).unwrap_or_default(),
                )
            })
            .collect()
    }
}

struct JsonFields<'a>(&'a Value);

impl ConnFields for JsonFields<'_> {
    fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.0.get(name).and_then(as_text)
    }

    fn rest(&self, known: &[&str]) -> Vec<(String, String)> {
        self.0
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| !known.contains(&k.as_str()) && !v.is_null())
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    }
}

const MAPPED: &[&str] = &[
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "history",
    "orig_pkts",
    "resp_pkts",
    "community_id",
];

fn parse_ts(text: &str) -> Option<i64> {
    match text.parse::<f64>() {
        Ok(seconds) => jv::epoch_seconds_to_ms(seconds),
        Err(_) => parse_timestamp_ms(text),
    }
}

fn map_conn<'r>(
    f: &dyn ConnFields,
    site: &'r Site,
    raw_ref: &'r str,
) -> Result<NetworkActivityRow<'r>, ParseError> {
    let invalid = |name: &str, value: &str| jv::invalid(name, value);
    let ts_text = f.text("ts").ok_or_else(|| jv::missing("ts"))?;
    let time = parse_ts(&ts_text).ok_or_else(|| invalid("ts", &ts_text))?;
    let uid = f
        .text("uid")
        .ok_or_else(|| jv::missing("uid"))?
        .into_owned();
    let ip = |name: &str| -> Result<Option<IpAddr>, ParseError> {
        match f.text(name) {
            None => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|_| invalid(name, &t)),
        }
    };
    let port = |name: &str| -> Result<Option<i64>, ParseError> {
        match f.text(name) {
            None => Ok(None),
            Some(t) => t
                .parse::<u16>()
                .map(|p| Some(i64::from(p)))
                .map_err(|_| invalid(name, &t)),
        }
    };
    let count = |name: &str| -> Result<Option<i64>, ParseError> {
        match f.text(name) {
            None => Ok(None),
            Some(t) => t
                .parse::<u64>()
                .ok()
                .and_then(|v| i64::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| invalid(name, &t)),
        }
    };
    let flag = |name: &str| match f.text(name).as_deref() {
        Some("T" | "true") => Some(true),
        Some("F" | "false") => Some(false),
        _ => None,
    };
    let src = ip("id.orig_h")?;
    let dst = ip("id.resp_h")?;
    let (orig_p, resp_p) = (port("id.orig_p")?, port("id.resp_p")?);
    let proto = f.text("proto").map(|p| p.to_ascii_lowercase());
    // ICMP "ports" are the message type and code (Zeek's conn.log says so).
    let icmp = proto.as_deref() == Some("icmp");
    let mut row = NetworkActivityRow::default();
    let n = &mut row.own;
    n.src_endpoint_ip = src.map(|ip| Cow::Owned(ip.to_string()));
    n.dst_endpoint_ip = dst.map(|ip| Cow::Owned(ip.to_string()));
    if !icmp {
        n.src_endpoint_port = orig_p.and_then(super::port_number);
        n.dst_endpoint_port = resp_p.and_then(super::port_number);
    }
    n.connection_info_protocol_num = proto.as_deref().and_then(|p| match p {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(if dst.is_some_and(|d| d.is_ipv6()) {
            58
        } else {
            1
        }),
        _ => None,
    });
    n.connection_info_protocol_name = proto.map(Cow::Owned);
    n.app_name = f.text("service").map(|s| Cow::Owned(s.into_owned()));
    n.traffic_bytes_out = count("orig_bytes")?;
    n.traffic_bytes_in = count("resp_bytes")?;
    n.traffic_packets_out = count("orig_pkts")?;
    n.traffic_packets_in = count("resp_pkts")?;
    n.traffic_bytes = match (n.traffic_bytes_out, n.traffic_bytes_in) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    };
    n.traffic_packets = match (n.traffic_packets_out, n.traffic_packets_in) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    };
    let duration_ms = match f.text("duration") {
        None => None,
        Some(t) => Some(
            t.parse::<f64>()
                .ok()
                .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
                .map(|d| (d * 1000.0).round() as i64)
                .ok_or_else(|| invalid("duration", &t))?,
        ),
    };
    n.duration = duration_ms;
    n.start_time = Some(time);
    n.end_time = Some(time + duration_ms.unwrap_or(0));
    n.connection_info_flag_history = f.text("history").map(|h| Cow::Owned(h.into_owned()));
    n.connection_info_community_uid = f.text("community_id").map(|h| Cow::Owned(h.into_owned()));

    let (local_orig, local_resp) = (flag("local_orig"), flag("local_resp"));
    let hint = match (local_orig, local_resp) {
        (Some(true), Some(true)) => Some(3),
        (Some(true), Some(false)) => Some(2),
        (Some(false), Some(true)) => Some(1),
        _ => None,
    };
    super::tag_network(n, site, src, dst, hint);
    if hint == Some(3) {
        n.zt_is_lateral = Some(true);
        n.connection_info_direction_id = Some(3);
    }

    let state = f.text("conn_state").map(|s| s.into_owned());
    let (activity_id, activity_name, status_id) = match state.as_deref() {
        Some("SF" | "RSTO" | "RSTR" | "RSTRH" | "SH" | "SHR") => (2, "Close", 1),
        Some("S0") => (4, "Fail", 2),
        Some("REJ") => (5, "Refuse", 2),
        Some(_) => (6, "Traffic", 1),
        None => (6, "Traffic", 0),
    };
    let mut rest = f.rest(MAPPED);
    if icmp {
        for (name, value) in [("icmp_type", orig_p), ("icmp_code", resp_p)] {
            if let Some(v) = value {
                rest.push((name.to_string(), v.to_string()));
            }
        }
    }
    let c = &mut row.common;
    c.time = Some(time);
    c.activity_id = Some(activity_id);
    c.activity_name = Some(Cow::Borrowed(activity_name));
    c.status_id = Some(status_id);
    c.status_code = state.map(Cow::Owned);
    c.severity_id = Some(1);
    c.metadata_uid = Some(Cow::Owned(uid));
    c.metadata_product_name = Some(Cow::Borrowed("zeek"));
    c.metadata_product_vendor_name = Some(Cow::Borrowed("Zeek"));
    c.metadata_log_name = Some(Cow::Borrowed("conn"));
    c.raw_ref = Some(Cow::Borrowed(raw_ref));
    let pairs: Vec<(&str, &str)> = rest.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    c.unmapped = json_object(&pairs).map(Cow::Owned);
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_escapes() {
        assert_eq!(unescape("\\x09"), "\t");
        assert_eq!(unescape(","), ",");
        assert_eq!(unescape("a\\x2cb\\xZZ"), "a,b\\xZZ");
    }

    #[test]
    fn state_lines() {
        let p = ZeekParser::new(Arc::new(Site::default()));
        assert!(p.is_stream_state(b"#fields\tts\tuid"));
        assert!(p.is_stream_state(b"#separator \\x09"));
        assert!(!p.is_stream_state(b"#open\t2020"));
        assert!(!p.is_stream_state(b"#fieldsx"));
    }
}
