//! Cilium Hubble flows → `network_activity` (L3/L4), `http_activity` (L7 HTTP) and
//! `base_event` (L7 DNS and Kafka, exporter events).
//!
//! Input, one JSON object per record (NDJSON, or `jq`-pretty objects), in either shape:
//! - `{"flow": {…}, "node_name": "<cluster>/<node>", "time": "…"}`: a `GetFlowsResponse` as
//!   `hubble observe -o json` (CLI ≥ 0.11, `-o jsonpb`) prints it, and an `ExportEvent` as the
//!   Hubble exporter writes it (`hubble-export-file-path`, static or dynamic flow logs). The
//!   exporter also writes `agent_event`, `debug_event`, `lost_events` (and the relay
//!   `node_status`) in the same envelope: those are stored in `base_event`.
//! - the bare `Flow` object `{"time": …, "verdict": …, …}`: the Hubble CLI ≤ 0.10 `-o json`,
//!   still printed with `HUBBLE_COMPAT=legacy-json-output`.
//!
//! The encoding is protojson with proto field names: enums are names, zero values are absent
//! (ICMP code 0, `policy_match_type` 0), `uint64` values are strings (`latency_ns`), and
//! `is_reply` is written when known, even when false. A field mask may remove any field: a flow
//! without `uuid` gets a content hash as `metadata_uid` (the flow object's canonical JSON, so
//! the same flow through the relay and the exporter, or in either shape, is one event).
//!
//! **Which events decide.** One connection produces many Hubble events: trace events per packet
//! and observation point, on both nodes of a cross-node connection; a policy-verdict event for
//! each new connection on an endpoint that enforces policy; and, for a denied packet, both a
//! policy-verdict event (`event_type.type` 5, verdict DROPPED, the policy names in
//! `*_denied_by`) and the datapath drop event that enforced it (`event_type.type` 1, drop reason
//! `POLICY_DENIED` or `POLICY_DENY`). So that one decision is counted once:
//! - a policy-verdict event decides: FORWARDED or REDIRECTED → 1/1 Allowed (activity 1 Open),
//!   AUDIT → 1/1 Allowed with `status_code` AUDIT and the audit note in `status_detail` (audit
//!   mode: the policy would have denied it), DROPPED → 2/2 Blocked (activity 5 Refuse);
//! - the drop event twin of a policy denial is `action_id` 2, `disposition_id` 6 Dropped: the
//!   KPIs count `disposition_id` 2 as blocked and a null disposition as a failure, so it is
//!   neither (the denial was counted from its policy-verdict event);
//! - a drop that has no policy-verdict twin but is a configured refusal (`AUTH_REQUIRED`,
//!   `DENIED_BY_LB_SRC_RANGE_CHECK`, `UNENCRYPTED_TRAFFIC`) is 2/2 Blocked, and so is a policy
//!   drop whose export lost `event_type` (a field mask): keep `event_type` and `uuid` in masks;
//! - any other drop, and verdict ERROR, is a datapath failure: no decision, status 2 Failure
//!   (activity 4 Fail), the reason in `status_detail`;
//! - trace events (FORWARDED, TRACED, TRANSLATED …), capture and socket events are observations
//!   of packets that moved: no decision, activity 6 Traffic (like Zeek and GCP flow records);
//! - reply flows (`is_reply` true) are turned around so the connection's initiator is the
//!   source (segments and port class are the connection's), and never decide.
//!
//! L7 HTTP flows (Cilium's proxy) → `http_activity`, one row per flow: the request
//! (`http-request`) carries the L7 policy decision (FORWARDED → allow, DROPPED → deny_policy with
//! `zt_authz_result` `l7_policy_denied`), the response (`http-response`, a reply, turned around)
//! carries the status code and latency and no decision. `metadata_event_code` tells them apart.
//! L7 DNS and Kafka flows → `base_event` (`dns-request`, `dns-response`, `kafka-request` …).
//!
//! Site tags: Kubernetes namespaces place pods in segments (`site.segments[].namespaces`),
//! before CIDRs; a namespaced endpoint is always internal, even when its pod address is outside
//! `site.internal_cidrs` (IPv6 or CGNAT pod ranges). Endpoints without a namespace (`world`,
//! `host`, remote nodes) are placed by address as every other source does.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jv::{
    array_at, as_i64, at, bool_at, get, i64_at, invalid, missing, parse_object, str_at,
};
use super::{
    Format, Parser, Sniff, VendorSpec, content_uid, http_method_activity, parse_timestamp_ms,
    port_number, tokens,
};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{
    BaseEventRow, Common, HttpActivityRow, NetworkActivityColumns, NetworkActivityRow,
    TableBuilders,
};
use crate::site::Site;

/// Cilium Hubble flows (`hubble observe -o json`, the Hubble exporter's flow logs).
pub static SPEC: VendorSpec = VendorSpec {
    name: "hubble",
    aliases: &["cilium_hubble", "cilium"],
    framing: Framing::Json,
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::Json(looks_like_hubble),
    parser: |site| Box::new(HubbleParser { site }),
};

/// The hubble format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct HubbleParser {
    site: Arc<Site>,
}

/// Exporter and relay events that are not flows (`ExportEvent`, `GetFlowsResponse`).
const EXPORT_EVENTS: [&str; 4] = ["agent_event", "debug_event", "lost_events", "node_status"];

/// The `Verdict` enum of flow.proto.
const VERDICTS: [&str; 8] = [
    "VERDICT_UNKNOWN",
    "FORWARDED",
    "DROPPED",
    "ERROR",
    "AUDIT",
    "REDIRECTED",
    "TRACED",
    "TRANSLATED",
];

/// Keys only a flow has (at least one survives any useful field mask).
const FLOW_KEYS: [&str; 9] = [
    "verdict",
    "IP",
    "l4",
    "l7",
    "event_type",
    "Type",
    "source",
    "destination",
    "traffic_direction",
];

/// Whether a JSON record is a Hubble flow or exporter event.
pub fn looks_like_hubble(head: &str) -> bool {
    // A cheap look first: most JSON is no Hubble output.
    let markers = [
        "\"flow\"",
        "\"verdict\"",
        "\"agent_event\"",
        "\"debug_event\"",
        "\"lost_events\"",
        "\"node_status\"",
    ];
    if !markers.iter().any(|m| head.contains(m)) {
        return false;
    }
    match serde_json::Deserializer::from_str(head)
        .into_iter::<Value>()
        .next()
    {
        Some(Ok(Value::Object(map))) => is_hubble_object(&map),
        Some(Ok(Value::Array(items))) => items
            .first()
            .and_then(Value::as_object)
            .is_some_and(is_hubble_object),
        // The first object is longer than the 16 KiB the check sees (a flow with many labels).
        Some(Err(e)) if e.is_eof() => {
            head.contains("\"flow\"") && head.contains("\"verdict\"") && head.contains("\"time\"")
        }
        _ => false,
    }
}

fn is_hubble_object(map: &Map<String, Value>) -> bool {
    let has = |key: &str| map.get(key).is_some_and(|v| !v.is_null());
    if let Some(Value::Object(flow)) = map.get("flow") {
        return (has("node_name") || has("time"))
            && FLOW_KEYS.iter().any(|k| flow.contains_key(*k));
    }
    if EXPORT_EVENTS
        .iter()
        .any(|k| matches!(map.get(*k), Some(Value::Object(_))))
    {
        return has("node_name") || has("time");
    }
    // A bare (legacy) flow: a verdict by name and another flow key.
    map.get("verdict")
        .and_then(Value::as_str)
        .is_some_and(|v| VERDICTS.contains(&v))
        && FLOW_KEYS
            .iter()
            .any(|k| *k != "verdict" && map.contains_key(*k))
}

impl Parser for HubbleParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a Hubble")?;
        let (flow, envelope) = match get(&value, "flow") {
            Some(flow) if flow.is_object() => (flow, Some(&value)),
            Some(_) => {
                return Err(ParseError::new(
                    ErrorKind::InvalidJson,
                    "flow is not a JSON object",
                ));
            }
            None => {
                if let Some(key) = EXPORT_EVENTS.iter().find(|k| get(&value, k).is_some()) {
                    return append_export_event(&value, key, record, raw_ref, out);
                }
                if !FLOW_KEYS.iter().any(|k| get(&value, k).is_some()) {
                    return Err(ParseError::new(
                        ErrorKind::InvalidJson,
                        "not a Hubble flow: expected a `flow` object, an exporter event \
                         (agent_event, debug_event, lost_events, node_status) or a bare flow",
                    ));
                }
                (&value, None)
            }
        };
        let f = FlowRecord::read(flow, envelope)?;
        if let Some(l7) = get(flow, "l7") {
            if let Some(http) = get(l7, "http") {
                let mut row = http_row(&f, l7, http, &self.site)?;
                row.common.raw_ref = Some(Cow::Borrowed(raw_ref));
                out.http_activity.append(&mut row);
            } else {
                let (mut row, event_type) = l7_base_event(&f, Some(l7));
                row.common.raw_ref = Some(Cow::Borrowed(raw_ref));
                out.append_base_event(&mut row, &event_type, record);
            }
            return Ok(1);
        }
        if f.event == Some(EVENT_L7) {
            // An L7 flow whose `l7` member a field mask removed: nothing a class can map.
            let (mut row, _) = l7_base_event(&f, None);
            row.common.raw_ref = Some(Cow::Borrowed(raw_ref));
            out.append_base_event(&mut row, "l7", record);
            return Ok(1);
        }
        let mut row = network_row(&f, &self.site);
        row.common.raw_ref = Some(Cow::Borrowed(raw_ref));
        out.network_activity.append(&mut row);
        Ok(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a flow.

/// `event_type.type` values (`pkg/monitor/api/types.go`).
const EVENT_DROP: i64 = 1;
const EVENT_POLICY_VERDICT: i64 = 5;
const EVENT_L7: i64 = 129;

/// The name `pkg/monitor/api` gives an event type (`hubble observe --type`), else the number.
fn event_name(code: i64) -> Cow<'static, str> {
    let name = match code {
        1 => "drop",
        2 => "debug",
        3 => "capture",
        4 => "trace",
        5 => "policy-verdict",
        129 => "l7",
        130 => "agent",
        _ => return Cow::Owned(code.to_string()),
    };
    Cow::Borrowed(name)
}

/// One end of a flow as the record names it.
#[derive(Debug, Default)]
struct End<'v> {
    /// The `Endpoint` object (`ID`, `identity`, `namespace`, `labels`, `pod_name`, `workloads`).
    endpoint: Option<&'v Value>,
    /// DNS names Cilium's DNS proxy saw for the address (`source_names` / `destination_names`).
    names: &'v [Value],
    ip: Option<IpAddr>,
    port: Option<i32>,
    namespace: Option<Cow<'v, str>>,
}

impl End<'_> {
    /// `<namespace>/<workload>` (else `<namespace>/<pod>`), else a DNS name the DNS proxy saw,
    /// else the reserved identity label (`reserved:world`, `reserved:host`).
    fn service_name(&self) -> Option<String> {
        let ep = self.endpoint;
        let workload = ep.and_then(|e| {
            array_at(e, &["workloads"])
                .iter()
                .find_map(|w| str_at(w, &["name"]))
        });
        let name = workload.or_else(|| ep.and_then(|e| str_at(e, &["pod_name"])));
        match (self.namespace.as_deref(), name) {
            (Some(ns), Some(name)) => return Some(format!("{ns}/{name}")),
            (None, Some(name)) => return Some(name.into_owned()),
            (Some(ns), None) => return Some(ns.to_string()),
            (None, None) => {}
        }
        if let Some(dns) = self.names.iter().find_map(Value::as_str) {
            return Some(dns.to_string());
        }
        ep.and_then(|e| {
            array_at(e, &["labels"])
                .iter()
                .filter_map(Value::as_str)
                .find(|l| l.starts_with("reserved:"))
                .map(str::to_string)
        })
    }

    /// The Kubernetes service account of a pod, from Cilium's identity label, in the form
    /// Kubernetes authenticates it: `system:serviceaccount:<namespace>:<name>`.
    fn service_account(&self) -> Option<String> {
        let sa = array_at(self.endpoint?, &["labels"])
            .iter()
            .filter_map(Value::as_str)
            .find_map(|l| {
                l.strip_prefix("k8s:")
                    .unwrap_or(l)
                    .strip_prefix("io.cilium.k8s.policy.serviceaccount=")
            })
            .filter(|sa| !sa.is_empty())?;
        let ns = self.namespace.as_deref()?;
        Some(format!("system:serviceaccount:{ns}:{sa}"))
    }
}

/// The transport layer of a flow (`l4`: one of TCP, UDP, SCTP, ICMPv4, ICMPv6).
#[derive(Debug, Default, PartialEq, Eq)]
struct L4 {
    protocol: Option<i32>,
    src_port: Option<i32>,
    dst_port: Option<i32>,
    tcp_flags: Option<i32>,
    /// ICMP type and code (protojson omits zero values: absent is 0).
    icmp: Option<(i64, i64)>,
    /// The `l4` member was read whole, so `unmapped` need not keep it.
    read_whole: bool,
}

/// TCP flag names of flow.proto's `TCPFlags` and their bits in the TCP header.
const TCP_FLAGS: [(&str, i32); 9] = [
    ("FIN", 1),
    ("SYN", 2),
    ("RST", 4),
    ("PSH", 8),
    ("ACK", 16),
    ("URG", 32),
    ("ECE", 64),
    ("CWR", 128),
    ("NS", 256),
];

fn read_l4(flow: &Value) -> Result<L4, ParseError> {
    let Some(l4) = get(flow, "l4") else {
        return Ok(L4::default());
    };
    for (key, protocol) in [("TCP", 6), ("UDP", 17), ("SCTP", 132)] {
        if let Some(ports) = get(l4, key) {
            return Ok(L4 {
                protocol: Some(protocol),
                src_port: port_at(ports, key, "source_port")?,
                dst_port: port_at(ports, key, "destination_port")?,
                tcp_flags: if protocol == 6 {
                    tcp_flags(ports)
                } else {
                    None
                },
                icmp: None,
                read_whole: true,
            });
        }
    }
    for (key, protocol) in [("ICMPv4", 1), ("ICMPv6", 58)] {
        if let Some(icmp) = get(l4, key) {
            let number = |field: &str| -> Result<i64, ParseError> {
                match get(icmp, field) {
                    None => Ok(0),
                    Some(v) => as_i64(v)
                        .filter(|n| (0..=255).contains(n))
                        .ok_or_else(|| invalid(&format!("l4.{key}.{field}"), &v.to_string())),
                }
            };
            return Ok(L4 {
                protocol: Some(protocol),
                icmp: Some((number("type")?, number("code")?)),
                read_whole: true,
                ..L4::default()
            });
        }
    }
    // A protocol this version does not know: kept in `unmapped`.
    Ok(L4::default())
}

fn port_at(ports: &Value, protocol: &str, key: &str) -> Result<Option<i32>, ParseError> {
    match get(ports, key) {
        None => Ok(None),
        Some(v) => as_i64(v)
            .filter(|p| (0..=65_535).contains(p))
            .map(port_number)
            .ok_or_else(|| invalid(&format!("l4.{protocol}.{key}"), &v.to_string())),
    }
}

/// Bitwise OR of the flags set in `TCP.flags` (`{"SYN": true, "ACK": true}`).
fn tcp_flags(tcp: &Value) -> Option<i32> {
    let flags = get(tcp, "flags")?.as_object()?;
    Some(
        TCP_FLAGS
            .iter()
            .filter(|(name, _)| flags.get(*name).and_then(Value::as_bool) == Some(true))
            .fold(0, |bits, (_, bit)| bits | bit),
    )
}

fn ip_at(value: &Value, path: &[&str]) -> Result<Option<IpAddr>, ParseError> {
    match str_at(value, path) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| invalid(&path.join("."), &text)),
    }
}

/// An RFC 3339 `time` member: absent → `None`, unreadable → an error naming `field`.
fn time_member(value: &Value, field: &str) -> Result<Option<i64>, ParseError> {
    match get(value, "time") {
        None => Ok(None),
        Some(Value::String(text)) => parse_timestamp_ms(text)
            .map(Some)
            .ok_or_else(|| invalid(field, text)),
        Some(other) => Err(invalid(field, &other.to_string())),
    }
}

/// The verdict's name; an export that wrote enum numbers is read too (flow.proto `Verdict`).
fn verdict_name(flow: &Value) -> Option<Cow<'_, str>> {
    let verdict = get(flow, "verdict")?;
    if let Some(n) = as_i64(verdict).filter(|_| verdict.is_number()) {
        return usize::try_from(n)
            .ok()
            .and_then(|i| VERDICTS.get(i))
            .map(|v| Cow::Borrowed(*v));
    }
    str_at(flow, &["verdict"])
}

/// What every row of a flow shares.
struct FlowRecord<'v> {
    value: &'v Value,
    time: i64,
    uid: String,
    node: Option<Cow<'v, str>>,
    /// The verdict as written (`status_code`).
    verdict: Option<Cow<'v, str>>,
    event: Option<i64>,
    is_reply: bool,
    /// The connection's initiator (the flow's destination when `is_reply`).
    src: End<'v>,
    dst: End<'v>,
    l4: L4,
    ip_version: Option<i32>,
    /// Envelope members no column holds (a `time` or `node_name` that differs from the flow's).
    envelope_rest: Map<String, Value>,
}

impl<'v> FlowRecord<'v> {
    fn read(flow: &'v Value, envelope: Option<&'v Value>) -> Result<Self, ParseError> {
        let field = if envelope.is_some() {
            "flow.time"
        } else {
            "time"
        };
        let time = match time_member(flow, field)? {
            Some(t) => t,
            None => match envelope {
                Some(e) => time_member(e, "time")?.ok_or_else(|| missing("flow.time"))?,
                None => return Err(missing("time")),
            },
        };
        let uid = match str_at(flow, &["uuid"]) {
            Some(uuid) => uuid.into_owned(),
            // Field-masked exports and old releases have no uuid; the flow object's canonical
            // JSON (sorted keys) is the same through the relay, the exporter and the legacy CLI.
            None => content_uid("hubble", flow.to_string().as_bytes()),
        };
        let node = str_at(flow, &["node_name"])
            .or_else(|| envelope.and_then(|e| str_at(e, &["node_name"])));
        let l4 = read_l4(flow)?;
        let is_reply = bool_at(flow, &["is_reply"])
            // `reply` is the deprecated spelling, written only when true.
            .or_else(|| bool_at(flow, &["reply"]).filter(|r| *r))
            .unwrap_or(false);
        let end = |endpoint: &str, names: &str, ip: &str, port: Option<i32>| {
            let ep = get(flow, endpoint);
            ip_at(flow, &["IP", ip]).map(|ip| End {
                endpoint: ep,
                names: array_at(flow, &[names]),
                ip,
                port,
                namespace: ep.and_then(|e| str_at(e, &["namespace"])),
            })
        };
        let mut src = end("source", "source_names", "source", l4.src_port)?;
        let mut dst = end(
            "destination",
            "destination_names",
            "destination",
            l4.dst_port,
        )?;
        if is_reply {
            std::mem::swap(&mut src, &mut dst);
        }
        let ip_version = match str_at(flow, &["IP", "ipVersion"]).as_deref() {
            Some("IPv4") => Some(4),
            Some("IPv6") => Some(6),
            _ => None,
        };
        let mut envelope_rest = envelope.map(|e| rest(e, &["flow"])).unwrap_or_default();
        for key in ["time", "node_name"] {
            if envelope_rest.get(key) == get(flow, key) {
                envelope_rest.remove(key);
            }
        }
        if get(flow, "time").is_none() {
            // The envelope's time is the row's `time`.
            envelope_rest.remove("time");
        }
        if envelope_rest.get("node_name").and_then(Value::as_str) == node.as_deref() {
            envelope_rest.remove("node_name");
        }
        Ok(FlowRecord {
            value: flow,
            time,
            uid,
            node,
            verdict: verdict_name(flow),
            event: i64_at(flow, &["event_type", "type"]),
            is_reply,
            src,
            dst,
            l4,
            ip_version,
            envelope_rest,
        })
    }

    fn common(&self) -> Common<'v> {
        Common {
            time: Some(self.time),
            severity_id: Some(1),
            message: str_at(self.value, &["Summary"]),
            metadata_uid: Some(Cow::Owned(self.uid.clone())),
            metadata_log_name: Some(Cow::Borrowed("flows")),
            metadata_product_name: Some(Cow::Borrowed("hubble")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Cilium")),
            ..Common::default()
        }
    }

    /// `unmapped` for a row: the flow minus `consumed` keys, the partly read members' rest, and
    /// the envelope's rest.
    fn unmapped(&self, consumed: &[&str], mut extra: Map<String, Value>) -> Option<Cow<'v, str>> {
        let flow = self.value;
        let mut map = rest(flow, consumed);
        if consumed.contains(&"IP")
            && let Some(ip) = partial(flow, "IP", &["source", "destination", "ipVersion"])
        {
            map.insert("IP".into(), ip);
        }
        if consumed.contains(&"l4")
            && !self.l4.read_whole
            && let Some(l4) = get(flow, "l4")
        {
            map.insert("l4".into(), l4.clone());
        }
        if let Some((icmp_type, icmp_code)) = self.l4.icmp {
            map.insert("icmp_type".into(), icmp_type.into());
            map.insert("icmp_code".into(), icmp_code.into());
        }
        map.append(&mut extra);
        if !self.envelope_rest.is_empty() {
            map.insert("envelope".into(), Value::Object(self.envelope_rest.clone()));
        }
        (!map.is_empty()).then(|| Cow::Owned(Value::Object(map).to_string()))
    }
}

/// The members of `object` whose keys are not in `known` (case-insensitively).
fn rest(object: &Value, known: &[&str]) -> Map<String, Value> {
    object
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(k, v)| !v.is_null() && !known.iter().any(|n| n.eq_ignore_ascii_case(k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Member `key` of `object` without its `consumed` members; `None` when nothing is left.
fn partial(object: &Value, key: &str, consumed: &[&str]) -> Option<Value> {
    let member = get(object, key)?;
    if !member.is_object() {
        return Some(member.clone());
    }
    let left = rest(member, consumed);
    (!left.is_empty()).then_some(Value::Object(left))
}

// ---------------------------------------------------------------------------------------------
// Decisions.

/// Drop reasons that are a policy refusal (flow.proto `DropReason`): each has a policy-verdict
/// event of its own where policy enforcement is on.
const POLICY_DROPS: [(i64, &str); 2] = [(133, "POLICY_DENIED"), (181, "POLICY_DENY")];

/// Refusals by configuration that are decided in the datapath without a policy-verdict event.
const OTHER_REFUSALS: [(i64, &str); 3] = [
    (177, "DENIED_BY_LB_SRC_RANGE_CHECK"),
    (189, "AUTH_REQUIRED"),
    (195, "UNENCRYPTED_TRAFFIC"),
];

/// `drop_reason_desc`, else the numeric `drop_reason` (old releases), by name when known.
fn drop_reason(flow: &Value) -> Option<Cow<'_, str>> {
    if let Some(desc) = str_at(flow, &["drop_reason_desc"]).filter(|d| d != "DROP_REASON_UNKNOWN") {
        return Some(desc);
    }
    let code = i64_at(flow, &["drop_reason"]).filter(|c| *c != 0)?;
    Some(
        POLICY_DROPS
            .iter()
            .chain(OTHER_REFUSALS.iter())
            .find(|(c, _)| *c == code)
            .map_or_else(
                || Cow::Owned(code.to_string()),
                |(_, name)| Cow::Borrowed(*name),
            ),
    )
}

/// What a flow event says about a decision (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A policy allowed the connection.
    Allowed,
    /// Audit mode: a policy would have denied it, and it passed.
    Audited,
    /// A policy or a configured check refused it.
    Blocked,
    /// The datapath drop enforcing a policy denial that its policy-verdict event counts.
    Enforced,
    /// Dropped for a reason that is no decision (a datapath error).
    Failed,
    /// Packets that moved: no decision.
    Observed,
}

impl Outcome {
    /// `activity_id`, `activity_name`, `status_id`, `action_id`, `disposition_id`.
    fn columns(self) -> (i32, &'static str, i32, Option<i32>, Option<i32>) {
        match self {
            Outcome::Allowed | Outcome::Audited => (1, "Open", 1, Some(1), Some(1)),
            Outcome::Blocked => (5, "Refuse", 2, Some(2), Some(2)),
            Outcome::Enforced => (5, "Refuse", 2, Some(2), Some(6)),
            Outcome::Failed => (4, "Fail", 2, None, None),
            Outcome::Observed => (6, "Traffic", 1, None, None),
        }
    }
}

fn outcome(verdict: &str, event: Option<i64>, reason: Option<&str>, is_reply: bool) -> Outcome {
    let dropped = matches!(verdict, "DROPPED" | "ERROR");
    if is_reply {
        return if dropped {
            Outcome::Failed
        } else {
            Outcome::Observed
        };
    }
    match verdict {
        // A trace event of a forwarded packet is an observation: the decision is the
        // connection's policy-verdict event (one per new connection, not one per packet).
        "FORWARDED" | "REDIRECTED" if event == Some(EVENT_POLICY_VERDICT) => Outcome::Allowed,
        "AUDIT" => Outcome::Audited,
        "DROPPED" => {
            let policy = reason.is_some_and(|r| POLICY_DROPS.iter().any(|(_, n)| *n == r));
            let refusal = reason.is_some_and(|r| OTHER_REFUSALS.iter().any(|(_, n)| *n == r));
            match event {
                Some(EVENT_DROP) if policy => Outcome::Enforced,
                _ if policy || refusal => Outcome::Blocked,
                // A policy verdict is a decision even when the reason was not exported.
                Some(EVENT_POLICY_VERDICT) => Outcome::Blocked,
                _ => Outcome::Failed,
            }
        }
        "ERROR" => Outcome::Failed,
        _ => Outcome::Observed,
    }
}

const ALLOWED_BY: [&str; 2] = ["ingress_allowed_by", "egress_allowed_by"];
const DENIED_BY: [&str; 2] = ["ingress_denied_by", "egress_denied_by"];

/// The policies of `*_allowed_by` / `*_denied_by`, as `<namespace>/<name>` (a clusterwide
/// policy has no namespace), in order and once each.
fn policy_names(flow: &Value, keys: &[&str]) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    for key in keys {
        for policy in array_at(flow, &[*key]) {
            let Some(name) = str_at(policy, &["name"]) else {
                continue;
            };
            let full = match str_at(policy, &["namespace"]) {
                Some(ns) => format!("{ns}/{name}"),
                None => name.into_owned(),
            };
            if !names.contains(&full) {
                names.push(full);
            }
        }
    }
    (!names.is_empty()).then(|| names.join(", "))
}

fn status_detail(outcome: Outcome, reason: Option<&str>, flow: &Value) -> Option<String> {
    match outcome {
        Outcome::Allowed => policy_names(flow, &ALLOWED_BY),
        Outcome::Audited => Some(
            match policy_names(flow, &DENIED_BY).or_else(|| policy_names(flow, &ALLOWED_BY)) {
                Some(names) => format!("audit mode, not enforced: {names}"),
                None => "audit mode, not enforced".to_string(),
            },
        ),
        Outcome::Blocked | Outcome::Enforced => {
            let reason = reason.unwrap_or("denied by policy");
            Some(match policy_names(flow, &DENIED_BY) {
                Some(names) => format!("{reason}: {names}"),
                None => reason.to_string(),
            })
        }
        Outcome::Failed | Outcome::Observed => reason.map(str::to_string),
    }
}

fn direction_hint(flow: &Value) -> Option<i32> {
    match str_at(flow, &["traffic_direction"]).as_deref() {
        Some("INGRESS") => Some(1),
        Some("EGRESS") => Some(2),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Rows.

/// Where an end sits: a namespace's segment (else its address's segment if internal, else
/// `internal`: a pod is inside the cluster whatever its address), or its address's placement.
fn place<'s>(site: &'s Site, end: &End<'_>) -> Option<(&'s str, bool)> {
    if let Some(ns) = end.namespace.as_deref() {
        if let Some(segment) = site.namespace_segment(ns) {
            return Some((segment, true));
        }
        let by_address = end.ip.map(|ip| site.place(ip)).filter(|p| p.is_internal());
        return Some((by_address.map_or("internal", |p| p.segment()), true));
    }
    end.ip.map(|ip| {
        let p = site.place(ip);
        (p.segment(), p.is_internal())
    })
}

/// `tag_network` (port class, protocol name, IP version, and segments by address), then the
/// segments, lateral flag and direction again when a namespace places an end.
fn tag_flow<'a>(
    own: &mut NetworkActivityColumns<'a>,
    site: &'a Site,
    src: &End<'_>,
    dst: &End<'_>,
    hint: Option<i32>,
) {
    super::tag_network(own, site, src.ip, dst.ip, hint);
    if src.namespace.is_none() && dst.namespace.is_none() {
        return;
    }
    let (Some((seg_src, int_src)), Some((seg_dst, int_dst))) = (place(site, src), place(site, dst))
    else {
        return;
    };
    own.zt_segment_src = Some(Cow::Owned(seg_src.to_string()));
    own.zt_segment_dst = Some(Cow::Owned(seg_dst.to_string()));
    let lateral = int_src && int_dst;
    own.zt_is_lateral = Some(lateral);
    // As tag_network decides it: lateral wins, then the vendor's hint, then which end is inside.
    own.connection_info_direction_id = Some(if lateral {
        3
    } else {
        match hint {
            Some(h) => h,
            None if int_dst => 1,
            None if int_src => 2,
            None => 0,
        }
    });
}

fn network_row<'v>(f: &FlowRecord<'v>, site: &'v Site) -> NetworkActivityRow<'v> {
    let flow = f.value;
    let verdict = f
        .verdict
        .as_deref()
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    let reason = drop_reason(flow);
    let outcome = outcome(&verdict, f.event, reason.as_deref(), f.is_reply);
    let (activity_id, activity_name, status_id, action_id, disposition_id) = outcome.columns();

    let mut row = NetworkActivityRow {
        common: f.common(),
        ..NetworkActivityRow::default()
    };
    let n = &mut row.own;
    n.src_endpoint_ip = f.src.ip.map(|ip| Cow::Owned(ip.to_string()));
    n.src_endpoint_port = f.src.port;
    n.dst_endpoint_ip = f.dst.ip.map(|ip| Cow::Owned(ip.to_string()));
    n.dst_endpoint_port = f.dst.port;
    n.src_endpoint_svc_name = f.src.service_name().map(Cow::Owned);
    n.dst_endpoint_svc_name = f.dst.service_name().map(Cow::Owned);
    // The address before or after Cilium translated it (a ClusterIP, SNAT).
    n.src_endpoint_intermediate_ips = ["source_xlated", "destination_xlated"]
        .iter()
        .filter_map(|k| str_at(flow, &["IP", *k]))
        .filter(|ip| ip.parse::<IpAddr>().is_ok())
        .collect();
    n.connection_info_protocol_num = f.l4.protocol;
    n.connection_info_protocol_ver_id = f.ip_version;
    n.connection_info_tcp_flags = f.l4.tcp_flags;
    n.action_id = action_id;
    n.disposition_id = disposition_id;
    n.device_uid = f.node.clone();
    n.device_interface_uid = str_at(flow, &["interface", "name"]);
    tag_flow(n, site, &f.src, &f.dst, direction_hint(flow));

    let c = &mut row.common;
    c.activity_id = Some(activity_id);
    c.activity_name = Some(Cow::Borrowed(activity_name));
    c.status_id = Some(status_id);
    c.status_code = f.verdict.clone();
    c.status_detail = status_detail(outcome, reason.as_deref(), flow).map(Cow::Owned);
    c.metadata_event_code = f.event.map(event_name);
    let mut extra = Map::new();
    if let Some(iface) = partial(flow, "interface", &["name"]) {
        extra.insert("interface".into(), iface);
    }
    c.unmapped = f.unmapped(
        &[
            "time",
            "uuid",
            "verdict",
            "drop_reason",
            "drop_reason_desc",
            "node_name",
            "Summary",
            "IP",
            "l4",
            "interface",
        ],
        extra,
    );
    row
}

/// `http://host:port/path?query` or `/path?query` → host, path, query.
fn split_url(url: &str) -> (Option<&str>, &str, Option<&str>) {
    let (host, target) = match url.split_once("://") {
        Some((_, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            (Some(host_of(&rest[..end])), &rest[end..])
        }
        None => (None, url),
    };
    let target = target.split('#').next().unwrap_or(target);
    let (path, query) = tokens::split_target(target);
    let path = if path.is_empty() { "/" } else { path };
    (host.filter(|h| !h.is_empty()), path, query)
}

/// The host of an authority (`user@host:port`, `[v6]:port`).
fn host_of(authority: &str) -> &str {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Non-empty string at `path`, borrowed from the value.
fn text<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    at(value, path)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// `l7.type` as Hubble's CLI names it in `http-request`, `dns-response` …
fn l7_kind(l7: &Value) -> &'static str {
    match str_at(l7, &["type"]).as_deref() {
        Some("REQUEST") => "request",
        Some("RESPONSE") => "response",
        Some("SAMPLE") => "sample",
        _ => "unknown",
    }
}

fn http_row<'v>(
    f: &FlowRecord<'v>,
    l7: &'v Value,
    http: &'v Value,
    site: &Site,
) -> Result<HttpActivityRow<'v>, ParseError> {
    let flow = f.value;
    let kind = l7_kind(l7);
    let verdict = f
        .verdict
        .as_deref()
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    let code = match get(http, "code") {
        None => None,
        Some(v) => Some(
            as_i64(v)
                .and_then(|c| i32::try_from(c).ok())
                .filter(|c| (0..1000).contains(c))
                .ok_or_else(|| invalid("l7.http.code", &v.to_string()))?,
        ),
    }
    .filter(|c| *c > 0);
    let latency = match get(l7, "latency_ns") {
        None => None,
        Some(v) => Some(
            as_i64(v)
                .filter(|ns| *ns >= 0)
                .map(|ns| ns / 1_000_000)
                .ok_or_else(|| invalid("l7.latency_ns", &v.to_string()))?,
        ),
    };

    let mut ua = None;
    let mut xff = None;
    let mut referrer = None;
    let mut authority = None;
    let mut request_id = None;
    let mut other_headers = Vec::new();
    for header in array_at(http, &["headers"]) {
        let key = text(header, &["key"]).unwrap_or("").to_ascii_lowercase();
        // Credentials (authorization, cookies, API keys) are never stored.
        if super::jv::is_secret_key(&key) {
            continue;
        }
        let slot = match key.as_str() {
            "user-agent" => &mut ua,
            "x-forwarded-for" => &mut xff,
            "referer" => &mut referrer,
            ":authority" | "host" => &mut authority,
            "x-request-id" => &mut request_id,
            _ => {
                other_headers.push(header.clone());
                continue;
            }
        };
        match (slot.is_none(), text(header, &["value"])) {
            (true, Some(value)) => *slot = Some(value),
            _ => other_headers.push(header.clone()),
        }
    }

    let mut row = HttpActivityRow {
        common: f.common(),
        ..HttpActivityRow::default()
    };
    let h = &mut row.own;
    let method = text(http, &["method"]);
    let (activity_id, activity_name) = http_method_activity(method.unwrap_or(""));
    h.http_request_http_method = method.map(Cow::Borrowed);
    let (url_host, path, query) = match text(http, &["url"]) {
        Some(url) => {
            let (host, path, query) = split_url(url);
            (host, Some(path), query)
        }
        None => (None, None, None),
    };
    h.http_request_url_hostname = url_host
        .or_else(|| authority.map(host_of))
        .filter(|host| !host.is_empty())
        .map(Cow::Borrowed);
    h.http_request_url_path = path.map(Cow::Borrowed);
    h.http_request_url_query_string = query.map(Cow::Borrowed);
    h.http_request_version = text(http, &["protocol"]).map(Cow::Borrowed);
    h.http_request_user_agent = ua.map(Cow::Borrowed);
    h.http_request_referrer = referrer.map(Cow::Borrowed);
    h.http_request_x_forwarded_for = xff.map(Cow::Borrowed);
    h.http_response_code = code;
    h.http_response_latency = latency;
    // The client is the initiator: the destination of a response flow (turned around).
    h.src_endpoint_ip = f.src.ip.map(|ip| Cow::Owned(ip.to_string()));
    h.src_endpoint_port = f.src.port;
    h.dst_endpoint_ip = f.dst.ip.map(|ip| Cow::Owned(ip.to_string()));
    h.dst_endpoint_port = f.dst.port;
    h.zt_client_identity = f.src.service_account().map(Cow::Owned);
    // Cilium mutual authentication (SPIRE) on the connection; anything else does not say.
    if str_at(flow, &["auth_type"]).as_deref() == Some("SPIRE") {
        h.zt_mtls = Some(true);
    }

    // The request states the proxy's L7 policy decision; the response only what came back.
    let decides = kind == "request" && !f.is_reply;
    let mut detail = None;
    let status_id = match (decides, verdict.as_str()) {
        (true, "FORWARDED" | "REDIRECTED" | "AUDIT") => {
            h.action_id = Some(1);
            h.disposition_id = Some(1);
            h.zt_decision = Some(Cow::Borrowed("allow"));
            h.policy_name = policy_names(flow, &ALLOWED_BY).map(Cow::Owned);
            if verdict == "AUDIT" {
                detail = Some("audit mode, not enforced".to_string());
            }
            1
        }
        (true, "DROPPED") => {
            h.action_id = Some(2);
            h.disposition_id = Some(2);
            h.zt_decision = Some(Cow::Borrowed("deny_policy"));
            h.zt_authz_result = Some(Cow::Borrowed("l7_policy_denied"));
            h.policy_name = policy_names(flow, &DENIED_BY).map(Cow::Owned);
            detail = drop_reason(flow).map(Cow::into_owned);
            2
        }
        _ => match code {
            Some(c) if c >= 400 => 2,
            Some(_) => 1,
            None if matches!(verdict.as_str(), "DROPPED" | "ERROR") => 2,
            None => 0,
        },
    };
    super::tag_http(&mut row.own, site);

    let c = &mut row.common;
    c.activity_id = Some(activity_id);
    c.activity_name = Some(Cow::Borrowed(activity_name));
    c.status_id = Some(match code {
        Some(code) if code >= 400 => 2,
        _ => status_id,
    });
    c.status_code = code
        .map(|code| Cow::Owned(code.to_string()))
        .or_else(|| f.verdict.clone());
    c.status_detail = detail.map(Cow::Owned);
    c.metadata_event_code = Some(Cow::Owned(format!("http-{kind}")));
    c.metadata_correlation_uid = request_id
        .map(Cow::Borrowed)
        .or_else(|| str_at(flow, &["trace_context", "parent", "trace_id"]));

    // What no column holds: the rest of `l7` (other headers), and of the flow.
    let mut http_rest = rest(http, &["code", "method", "url", "protocol", "headers"]);
    if !other_headers.is_empty() {
        http_rest.insert("headers".into(), Value::Array(other_headers));
    }
    let mut l7_rest = rest(l7, &["type", "latency_ns", "http"]);
    if !http_rest.is_empty() {
        l7_rest.insert("http".into(), Value::Object(http_rest));
    }
    let mut extra = Map::new();
    if !l7_rest.is_empty() {
        extra.insert("l7".into(), Value::Object(l7_rest));
    }
    if let Some(flags) = f.l4.tcp_flags {
        extra.insert("tcp_flags".into(), flags.into());
    }
    c.unmapped = f.unmapped(
        &[
            "time",
            "uuid",
            "verdict",
            "drop_reason",
            "drop_reason_desc",
            "Summary",
            "IP",
            "l4",
            "l7",
        ],
        extra,
    );
    Ok(row)
}

/// An L7 DNS, Kafka or unknown-protocol flow: `base_event`, with the query or topic as target.
fn l7_base_event<'v>(f: &FlowRecord<'v>, l7: Option<&'v Value>) -> (BaseEventRow<'v>, String) {
    let kind = l7.map_or("unknown", l7_kind);
    let (protocol, target) = if let Some(dns) = l7.and_then(|l| get(l, "dns")) {
        ("dns", Some(("domain", str_at(dns, &["query"]))))
    } else if let Some(kafka) = l7.and_then(|l| get(l, "kafka")) {
        ("kafka", Some(("kafka_topic", str_at(kafka, &["topic"]))))
    } else {
        ("l7", None)
    };
    let mut row = BaseEventRow {
        common: f.common(),
        ..BaseEventRow::default()
    };
    row.common.status_code = f.verdict.clone();
    row.own.src_endpoint_ip = f.src.ip.map(|ip| Cow::Owned(ip.to_string()));
    row.own.device_uid = f.node.clone();
    if let Some((target_type, name)) = target {
        row.own.zt_target_type = Some(Cow::Borrowed(target_type));
        row.own.zt_target_name = name;
    }
    (row, format!("{protocol}-{kind}"))
}

/// An exporter or relay event that is not a flow: `base_event`.
fn append_export_event(
    value: &Value,
    key: &str,
    record: &[u8],
    raw_ref: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let time = time_member(value, "time")?.ok_or_else(|| missing("time"))?;
    static NULL: Value = Value::Null;
    let event = get(value, key).unwrap_or(&NULL);
    let mut row = BaseEventRow {
        common: Common {
            time: Some(time),
            severity_id: Some(1),
            // The export line itself is the identity (no event id), whitespace aside.
            metadata_uid: Some(Cow::Owned(content_uid(
                "hubble",
                value.to_string().as_bytes(),
            ))),
            metadata_log_name: Some(Cow::Owned(key.to_string())),
            metadata_product_name: Some(Cow::Borrowed("hubble")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Cilium")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            ..Common::default()
        },
        ..BaseEventRow::default()
    };
    row.own.device_uid = str_at(value, &["node_name"]);
    let mut event_type = key.to_string();
    match key {
        "agent_event" => {
            // AGENT_STARTED, POLICY_UPDATED, ENDPOINT_CREATED …: a small enum.
            if let Some(t) = str_at(event, &["type"]) {
                event_type = t.into_owned();
            }
            if let Some(update) = get(event, "policy_update") {
                let label = |prefix: &str| {
                    array_at(update, &["labels"])
                        .iter()
                        .filter_map(Value::as_str)
                        .find_map(|l| l.strip_prefix(prefix))
                        .filter(|v| !v.is_empty())
                };
                if let Some(name) = label("k8s:io.cilium.k8s.policy.name=") {
                    row.own.zt_target_type = Some(Cow::Borrowed("policy"));
                    row.own.zt_target_name = Some(Cow::Owned(
                        match label("k8s:io.cilium.k8s.policy.namespace=") {
                            Some(ns) => format!("{ns}/{name}"),
                            None => name.to_string(),
                        },
                    ));
                }
            } else if let Some(ep) = get(event, "endpoint_update")
                && let Some(pod) = str_at(ep, &["pod_name"])
            {
                row.own.zt_target_type = Some(Cow::Borrowed("pod"));
                row.own.zt_target_name = Some(Cow::Owned(match str_at(ep, &["namespace"]) {
                    Some(ns) => format!("{ns}/{pod}"),
                    None => pod.into_owned(),
                }));
            }
        }
        "lost_events" => {
            // Events Hubble could not keep: flows are missing from this node's record.
            let lost = str_at(event, &["num_events_lost"]).unwrap_or(Cow::Borrowed("?"));
            row.common.message = Some(Cow::Owned(match str_at(event, &["source"]) {
                Some(source) => format!("{lost} events lost ({source})"),
                None => format!("{lost} events lost"),
            }));
        }
        _ => {}
    }
    out.append_base_event(&mut row, &event_type, record);
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::{SegmentConfig, SiteConfig};
    use serde_json::json;

    #[test]
    fn decisions_count_once() {
        let o = |verdict: &str, event: Option<i64>, reason: Option<&str>| {
            outcome(verdict, event, reason, false)
        };
        assert_eq!(o("FORWARDED", Some(5), None), Outcome::Allowed);
        assert_eq!(o("REDIRECTED", Some(5), None), Outcome::Allowed);
        // Trace events and masked flows without event_type are observations, not decisions.
        assert_eq!(o("FORWARDED", Some(4), None), Outcome::Observed);
        assert_eq!(o("FORWARDED", None, None), Outcome::Observed);
        assert_eq!(o("AUDIT", Some(5), None), Outcome::Audited);
        assert_eq!(
            o("DROPPED", Some(5), Some("POLICY_DENIED")),
            Outcome::Blocked
        );
        assert_eq!(o("DROPPED", Some(5), None), Outcome::Blocked);
        assert_eq!(
            o("DROPPED", Some(1), Some("POLICY_DENY")),
            Outcome::Enforced
        );
        assert_eq!(o("DROPPED", None, Some("POLICY_DENIED")), Outcome::Blocked);
        assert_eq!(
            o("DROPPED", Some(1), Some("AUTH_REQUIRED")),
            Outcome::Blocked
        );
        assert_eq!(
            o("DROPPED", Some(1), Some("CT_MAP_INSERTION_FAILED")),
            Outcome::Failed
        );
        assert_eq!(o("DROPPED", Some(1), None), Outcome::Failed);
        assert_eq!(o("ERROR", Some(1), Some("POLICY_DENIED")), Outcome::Failed);
        assert_eq!(o("TRACED", Some(4), None), Outcome::Observed);
        assert_eq!(o("TRANSLATED", None, None), Outcome::Observed);
        // Replies never decide.
        assert_eq!(outcome("FORWARDED", Some(5), None, true), Outcome::Observed);
        assert_eq!(
            outcome("DROPPED", Some(5), Some("POLICY_DENIED"), true),
            Outcome::Failed
        );
        assert_eq!(Outcome::Enforced.columns().4, Some(6));
        assert_eq!(Outcome::Failed.columns().3, None);
    }

    #[test]
    fn drop_reasons_by_name_or_number() {
        assert_eq!(
            drop_reason(&json!({"drop_reason": 181})).as_deref(),
            Some("POLICY_DENY")
        );
        assert_eq!(
            drop_reason(
                &json!({"drop_reason": 139, "drop_reason_desc": "UNSUPPORTED_L3_PROTOCOL"})
            )
            .as_deref(),
            Some("UNSUPPORTED_L3_PROTOCOL")
        );
        assert_eq!(
            drop_reason(&json!({"drop_reason": 150})).as_deref(),
            Some("150")
        );
        assert_eq!(drop_reason(&json!({"drop_reason": 0})), None);
        let flow = json!({"egress_denied_by": [{"name": "deny-world", "namespace": "payments"},
            {"name": "ccnp-default-deny"}, {"name": "deny-world", "namespace": "payments"}]});
        assert_eq!(
            status_detail(Outcome::Blocked, Some("POLICY_DENY"), &flow).as_deref(),
            Some("POLICY_DENY: payments/deny-world, ccnp-default-deny")
        );
    }

    #[test]
    fn transport_layer() {
        let tcp = json!({"l4": {"TCP": {"source_port": 1, "destination_port": 5432,
            "flags": {"SYN": true, "ACK": true, "FIN": false}}}});
        let l4 = read_l4(&tcp).unwrap();
        assert_eq!(
            (l4.protocol, l4.dst_port, l4.tcp_flags),
            (Some(6), Some(5432), Some(18))
        );
        let icmp = read_l4(&json!({"l4": {"ICMPv4": {"type": 8}}})).unwrap();
        assert_eq!(
            (icmp.protocol, icmp.icmp, icmp.dst_port),
            (Some(1), Some((8, 0)), None)
        );
        assert!(read_l4(&json!({"l4": {"UDP": {"destination_port": 70000}}})).is_err());
        assert!(read_l4(&json!({"l4": {"TCP": {"destination_port": "x"}}})).is_err());
        let unknown = read_l4(&json!({"l4": {"QUIC": {}}})).unwrap();
        assert!(!unknown.read_whole && unknown.protocol.is_none());
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://api.payments.svc:8080/v1/cart?id=42"),
            (Some("api.payments.svc"), "/v1/cart", Some("id=42"))
        );
        assert_eq!(split_url("/ready"), (None, "/ready", None));
        assert_eq!(
            split_url("http://[2001:db8::1]:80"),
            (Some("2001:db8::1"), "/", None)
        );
        assert_eq!(split_url("http://u@h?x#f"), (Some("h"), "/", Some("x")));
        assert_eq!(split_url(""), (None, "/", None));
        assert_eq!(host_of("svc.ns:8080"), "svc.ns");
    }

    #[test]
    fn detection() {
        assert!(looks_like_hubble(
            r#"{"flow":{"time":"2026-01-01T00:00:00Z","verdict":"DROPPED","IP":{}},"node_name":"n","time":"2026-01-01T00:00:00Z"}"#
        ));
        assert!(looks_like_hubble(
            r#"{"time":"2026-01-01T00:00:00Z","verdict":"FORWARDED","l4":{"UDP":{}},"node_name":"n"}"#
        ));
        assert!(looks_like_hubble(
            r#"{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1"},"node_name":"n","time":"2026-01-01T00:00:00Z"}"#
        ));
        assert!(!looks_like_hubble(r#"{"verdict":"guilty","court":"x"}"#));
        assert!(!looks_like_hubble(
            r#"{"ts":1.5,"uid":"C1","id.orig_h":"10.0.0.1","conn_state":"S0"}"#
        ));
        assert!(!looks_like_hubble(
            r#"{"flow":"x","time":"2026-01-01T00:00:00Z"}"#
        ));
    }

    #[test]
    fn namespaces_place_pods_before_addresses() {
        let config = SiteConfig {
            segments: vec![
                SegmentConfig {
                    name: "payments".into(),
                    cidrs: Vec::new(),
                    namespaces: vec!["payments".into(), "payments-*".into()],
                    talks_to: Vec::new(),
                },
                SegmentConfig {
                    name: "pods".into(),
                    cidrs: vec!["10.244.0.0/16".into()],
                    namespaces: Vec::new(),
                    talks_to: Vec::new(),
                },
            ],
            ..SiteConfig::default()
        };
        let site = Site::new(&config).unwrap();
        let end = |ip: &str, ns: Option<&'static str>| End {
            ip: ip.parse().ok(),
            namespace: ns.map(Cow::Borrowed),
            ..End::default()
        };
        let mut own = NetworkActivityColumns {
            connection_info_protocol_num: Some(6),
            dst_endpoint_port: Some(5432),
            ..NetworkActivityColumns::default()
        };
        // web (CIDR segment `pods`) → payments (namespace), with an IPv6 pod address that no
        // internal CIDR holds: still lateral.
        tag_flow(
            &mut own,
            &site,
            &end("10.244.1.31", Some("web")),
            &end("2001:db8::23", Some("payments-eu")),
            Some(1),
        );
        assert_eq!(own.zt_segment_src.as_deref(), Some("pods"));
        assert_eq!(own.zt_segment_dst.as_deref(), Some("payments"));
        assert_eq!(own.zt_is_lateral, Some(true));
        assert_eq!(own.connection_info_direction_id, Some(3));
        assert_eq!(own.zt_port_class.as_deref(), Some("db"));
        // A pod to the world: placed by address, outbound by Cilium's hint.
        let mut own = NetworkActivityColumns::default();
        tag_flow(
            &mut own,
            &site,
            &end("2001:db8::15", Some("payments")),
            &end("203.0.113.10", None),
            Some(2),
        );
        assert_eq!(own.zt_segment_dst.as_deref(), Some("external"));
        assert_eq!(own.zt_is_lateral, Some(false));
        assert_eq!(own.connection_info_direction_id, Some(2));
    }
}
