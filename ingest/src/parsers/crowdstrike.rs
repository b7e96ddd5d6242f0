//! CrowdStrike Falcon → `authentication`, `network_activity`, `detection_finding` and
//! `account_change`.
//!
//! Input, one JSON event per record:
//! - **Falcon Data Replicator** (FDR) events: flat objects with `event_simpleName`, string
//!   values, `timestamp` in epoch milliseconds and `id`; also the variant that nests the event's
//!   fields under `event` (some pipelines do).
//! - **Streaming API** events: `{"metadata": {"eventType": …, "eventCreationTime": ms}, "event":
//!   {…}}`, including pretty-printed objects back to back.
//!
//! | event | table | mapping |
//! |---|---|---|
//! | FDR `UserLogon` / `UserLogonFailed` / `UserLogonFailed2` | authentication | allow / deny_credentials; `LogonType` is the Windows logon type (= OCSF `logon_type_id`); `RemoteAddressIP4` → source; `aid`/`ComputerName` → device; `UserIsAdmin` → `user_is_privileged` |
//! | FDR `NetworkConnectIP4/6`, `NetworkReceiveAcceptIP4/6` | network_activity | outbound: local → source, remote → destination; inbound accept: the reverse; `Protocol` → protocol number |
//! | `DetectionSummaryEvent`, `EppDetectionSummaryEvent` | detection_finding | id, name, description, severity (`SeverityName`, else `Severity` 1–5 or the 0–100 score), host (`SensorId`/`AgentId`…), user, MITRE technique ids |
//! | `AuthActivityAuditEvent` | authentication | Falcon console / API authentication: `Success` → allow, else deny_credentials |
//! | `UserActivityAuditEvent` with a containment operation | account_change | `containment_requested` → host_contain, `lift_containment_requested` → host_release |
//!
//! Event types are matched ignoring case (the Streaming API writes `EPPDetectionSummaryEvent`)
//! and stored in the spelling above.
//!
//! Everything else (process, DNS, file and sensor events, other audit operations) is stored in
//! `base_event` with the host, the user when named, the file, domain or process acted on, and the
//! record.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{self, as_text, epoch_seconds_to_ms, missing, parse_object};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, decision_outcome};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{
    AccountChangeRow, AuthenticationRow, BaseEventRow, DetectionFindingRow, NetworkActivityRow,
    TableBuilders,
};
use crate::site::Site;

/// CrowdStrike Falcon: Data Replicator events and Streaming API events.
pub static SPEC: VendorSpec = VendorSpec {
    name: "crowdstrike",
    aliases: &["falcon", "fdr"],
    framing: Framing::Json,
    envelope_keys: &["resources"],
    stateful: false,
    sniff: Sniff::Json(looks_like_crowdstrike),
    parser: |site| Box::new(CrowdStrikeParser::new(site)),
};

/// The crowdstrike format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct CrowdStrikeParser {
    site: Arc<Site>,
}

impl CrowdStrikeParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Whether a JSON record looks like a Falcon event.
pub fn looks_like_crowdstrike(head: &str) -> bool {
    head.contains("\"event_simpleName\"")
        || (head.contains("\"metadata\"")
            && head.contains("\"eventType\"")
            && head.contains("\"eventCreationTime\""))
}

/// Field lookup over an event whose fields may sit at the top level or under `event`.
struct Fields<'v> {
    top: &'v Value,
    inner: Option<&'v Value>,
}

impl<'v> Fields<'v> {
    fn new(top: &'v Value) -> Self {
        Self {
            top,
            inner: top.get("event").filter(|e| e.is_object()),
        }
    }

    fn text(&self, key: &str) -> Option<Cow<'v, str>> {
        self.inner
            .and_then(|e| e.get(key))
            .or_else(|| self.top.get(key))
            .and_then(as_text)
    }

    fn value(&self, key: &str) -> Option<&'v Value> {
        self.inner
            .and_then(|e| e.get(key))
            .or_else(|| self.top.get(key))
            .filter(|v| !v.is_null())
    }

    fn ip(&self, key: &str) -> Option<IpAddr> {
        self.text(key).and_then(|t| t.parse().ok())
    }

    fn port(&self, key: &str) -> Option<i32> {
        self.text(key)
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(super::port_number)
    }
}

/// The event types mapped below, in CrowdStrike's documented spelling.
const KINDS: &[&str] = &[
    "UserLogon",
    "UserLogonFailed",
    "UserLogonFailed2",
    "NetworkConnectIP4",
    "NetworkConnectIP6",
    "NetworkReceiveAcceptIP4",
    "NetworkReceiveAcceptIP6",
    "DetectionSummaryEvent",
    "EppDetectionSummaryEvent",
    "AuthActivityAuditEvent",
    "UserActivityAuditEvent",
];

/// A mapped event type in its documented spelling, whatever the case it arrived in
/// (`EPPDetectionSummaryEvent`); other types as they are.
fn canonical_kind(kind: &str) -> &str {
    KINDS
        .iter()
        .copied()
        .find(|k| k.eq_ignore_ascii_case(kind))
        .unwrap_or(kind)
}

/// OCSF severity id (1 Informational … 5 Critical) and risk score of a detection. `SeverityName`
/// decides when present. Else `Severity` above 5 is the 0–100 score of EPP detections and alerts,
/// in CrowdStrike's bands (Informational below 20, Low 20–39, Medium 40–59, High 60–79, Critical
/// 80 and up), and is the risk score; 1–5 is the level of the older `DetectionSummaryEvent`,
/// scored 20 a level.
fn detection_severity(name: Option<&str>, value: Option<i32>) -> (i32, Option<i32>) {
    let by_name = name.and_then(|n| match n.to_ascii_lowercase().as_str() {
        "informational" | "info" => Some(1),
        "low" => Some(2),
        "medium" => Some(3),
        "high" => Some(4),
        "critical" => Some(5),
        _ => None,
    });
    let (by_value, score) = match value {
        Some(v @ 6..=100) => (Some(1 + v.min(99) / 20), Some(v)),
        Some(v @ 1..=5) => (Some(v), Some(v * 20)),
        _ => (None, None),
    };
    (by_name.or(by_value).unwrap_or(0), score)
}

/// Epoch seconds or milliseconds (told apart by magnitude), as text or number → ms. Values
/// beyond [`jv::MAX_EPOCH_SECONDS`] either way are not times.
fn epoch_ms(text: &str) -> Option<i64> {
    let n: f64 = text.trim().parse().ok()?;
    if n.abs() > 1e11 {
        (n.abs() < jv::MAX_EPOCH_SECONDS * 1000.0).then_some(n as i64)
    } else {
        epoch_seconds_to_ms(n)
    }
}

impl Parser for CrowdStrikeParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a CrowdStrike Falcon")?;
        let f = Fields::new(&value);
        let stream_type = jv::str_at(&value, &["metadata", "eventType"]);
        let kind = stream_type
            .or_else(|| f.text("event_simpleName"))
            .or_else(|| f.text("ExternalApiType"))
            .or_else(|| f.text("fdr_event_type"))
            .map(|k| Cow::<str>::Owned(canonical_kind(k.trim_start_matches("Event_")).to_string()))
            .ok_or_else(|| missing("event_simpleName (or metadata.eventType)"))?;
        let time = jv::str_at(&value, &["metadata", "eventCreationTime"])
            .or_else(|| f.text("timestamp"))
            .or_else(|| f.text("UTCTimestamp"))
            .or_else(|| f.text("ContextTimeStamp"))
            .and_then(|t| epoch_ms(&t).or_else(|| super::parse_timestamp_ms(&t)))
            .ok_or_else(|| missing("timestamp"))?;
        let uid = f
            .text("id")
            .or_else(|| f.text("CompositeId"))
            .or_else(|| f.text("DetectId"))
            .unwrap_or_else(|| Cow::Owned(content_uid("falcon", record)));
        let mut common = crate::schema::Common {
            time: Some(time),
            metadata_uid: Some(uid),
            metadata_event_code: Some(kind.clone()),
            metadata_product_name: Some(Cow::Borrowed("crowdstrike")),
            metadata_product_vendor_name: Some(Cow::Borrowed("CrowdStrike")),
            metadata_tenant_uid: f
                .text("cid")
                .or_else(|| jv::str_at(&value, &["metadata", "customerIDString"])),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            ..Default::default()
        };
        match kind.as_ref() {
            "UserLogon" | "UserLogonFailed" | "UserLogonFailed2" => {
                common.metadata_log_name = Some(Cow::Borrowed("FDR"));
                let failed = kind.as_ref() != "UserLogon";
                let decision = if failed { "deny_credentials" } else { "allow" };
                let (action_id, disposition_id, status_id) = decision_outcome(decision);
                common.activity_id = Some(1);
                common.activity_name = Some(Cow::Borrowed("Logon"));
                common.status_id = Some(status_id);
                common.status_code = f.text("Status").or_else(|| f.text("SubStatus"));
                let mut row = AuthenticationRow {
                    common,
                    ..Default::default()
                };
                let own = &mut row.own;
                own.user_name = f.text("UserName");
                own.user_uid = f.text("UserSid");
                own.user_domain = f.text("LogonDomain");
                own.user_is_privileged = f.text("UserIsAdmin").map(|a| a == "1");
                own.user_type_id = Some(1);
                own.logon_type_id = f.text("LogonType").and_then(|t| t.parse().ok());
                own.is_remote = own.logon_type_id.map(|t| matches!(t, 3 | 10));
                own.is_interactive = own.logon_type_id.map(|t| matches!(t, 2 | 10 | 11));
                own.src_endpoint_ip = f
                    .ip("RemoteAddressIP4")
                    .or_else(|| f.ip("RemoteAddressIP6"))
                    .map(|ip| Cow::Owned(ip.to_string()));
                own.device_uid = f.text("aid");
                own.device_name = f.text("ComputerName");
                own.zt_decision = Some(Cow::Borrowed(decision));
                own.action_id = Some(action_id);
                own.disposition_id = Some(disposition_id);
                own.is_mfa = Some(false);
                out.authentication.append(&mut row);
            }
            "NetworkConnectIP4"
            | "NetworkConnectIP6"
            | "NetworkReceiveAcceptIP4"
            | "NetworkReceiveAcceptIP6" => {
                common.metadata_log_name = Some(Cow::Borrowed("FDR"));
                let inbound = kind.starts_with("NetworkReceiveAccept")
                    || f.text("ConnectionDirection").as_deref() == Some("1");
                // Sensors sometimes put an IPv4 peer in an `…IP6` event: take whichever is set.
                let (lip, rip) = (
                    f.ip("LocalAddressIP6").or_else(|| f.ip("LocalAddressIP4")),
                    f.ip("RemoteAddressIP6")
                        .or_else(|| f.ip("RemoteAddressIP4")),
                );
                let (lport, rport) = (f.port("LocalPort"), f.port("RemotePort"));
                let ((src, sport), (dst, dport)) = if inbound {
                    ((rip, rport), (lip, lport))
                } else {
                    ((lip, lport), (rip, rport))
                };
                if src.is_none() || dst.is_none() {
                    return Err(ParseError::new(
                        ErrorKind::MissingField,
                        "local or remote address is missing or not an IP",
                    ));
                }
                common.activity_id = Some(1);
                common.activity_name = Some(Cow::Borrowed(if inbound { "Accept" } else { "Open" }));
                common.status_id = Some(1);
                let mut row = NetworkActivityRow {
                    common,
                    ..Default::default()
                };
                let n = &mut row.own;
                n.src_endpoint_ip = src.map(|ip| Cow::Owned(ip.to_string()));
                n.dst_endpoint_ip = dst.map(|ip| Cow::Owned(ip.to_string()));
                n.src_endpoint_port = sport;
                n.dst_endpoint_port = dport;
                n.connection_info_protocol_num = f.text("Protocol").and_then(|p| p.parse().ok());
                n.device_uid = f.text("aid");
                n.start_time = Some(time);
                super::tag_network(n, &self.site, src, dst, Some(if inbound { 1 } else { 2 }));
                out.network_activity.append(&mut row);
            }
            "DetectionSummaryEvent" | "EppDetectionSummaryEvent" => {
                common.metadata_log_name = Some(Cow::Borrowed("Streaming API"));
                let (severity_id, risk_score) = detection_severity(
                    f.text("SeverityName").as_deref(),
                    f.text("Severity").and_then(|s| s.parse::<i32>().ok()),
                );
                common.severity_id = Some(severity_id);
                common.activity_id = Some(1);
                common.activity_name = Some(Cow::Borrowed("Create"));
                common.status_id = Some(1);
                common.message = f
                    .text("DetectDescription")
                    .or_else(|| f.text("Description"));
                let mut row = DetectionFindingRow {
                    common,
                    ..Default::default()
                };
                let d = &mut row.own;
                d.finding_info_uid = f.text("DetectId").or_else(|| f.text("CompositeId"));
                d.finding_info_title = f.text("DetectName").or_else(|| f.text("Name"));
                d.finding_info_desc = row.common.message.clone();
                d.finding_info_analytic_name = f.text("Objective").filter(|o| o != "N/A");
                d.finding_info_analytic_type = Some(Cow::Borrowed("rule"));
                d.finding_info_created_time = Some(time);
                d.finding_info_first_seen_time = f
                    .text("ProcessStartTime")
                    .and_then(|t| epoch_ms(&t))
                    .or(Some(time));
                d.finding_info_last_seen_time = Some(time);
                d.is_alert = Some(true);
                d.device_uid = f
                    .text("SensorId")
                    .or_else(|| f.text("AgentIdString"))
                    .or_else(|| f.text("AgentId"))
                    .or_else(|| f.text("aid"));
                d.device_hostname = f.text("ComputerName").or_else(|| f.text("Hostname"));
                d.user_name = f.text("UserName");
                d.src_endpoint_ip = f.text("LocalIP");
                let mut techniques: Vec<Cow<'_, str>> = Vec::new();
                if let Some(t) = f.text("TechniqueId").filter(|t| t != "N/A") {
                    techniques.push(t);
                }
                for m in f
                    .value("MitreAttack")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = jv::str_at(m, &["TechniqueID"])
                        && !techniques.contains(&t)
                    {
                        techniques.push(t);
                    }
                }
                d.attacks_technique_uids = techniques;
                d.risk_score = risk_score;
                out.detection_finding.append(&mut row);
            }
            "AuthActivityAuditEvent" => {
                common.metadata_log_name = Some(Cow::Borrowed("Streaming API"));
                let success = jv::bool_at(f.inner.unwrap_or(&value), &["Success"]);
                let decision = match success {
                    Some(true) => "allow",
                    Some(false) => "deny_credentials",
                    None => "other",
                };
                let (action_id, disposition_id, status_id) = decision_outcome(decision);
                common.activity_id = Some(1);
                common.activity_name = Some(Cow::Borrowed("Logon"));
                common.status_id = Some(status_id);
                common.message = f.text("OperationName");
                let mut row = AuthenticationRow {
                    common,
                    ..Default::default()
                };
                let own = &mut row.own;
                let user = f.text("UserId");
                own.user_type_id =
                    Some(if user.as_deref().is_some_and(|u| u.starts_with("API:")) {
                        4
                    } else {
                        1
                    });
                own.user_email_addr = user.clone().filter(|u| u.contains('@'));
                own.user_name = user;
                own.src_endpoint_ip = f.text("UserIp").filter(|ip| ip.parse::<IpAddr>().is_ok());
                own.service_name = f.text("ServiceName");
                own.is_interactive = Some(own.user_type_id == Some(1));
                own.zt_decision = Some(Cow::Borrowed(decision));
                own.action_id = Some(action_id);
                own.disposition_id = Some(disposition_id);
                own.is_mfa = Some(false);
                own.zt_privileged_target = Some(true);
                out.authentication.append(&mut row);
            }
            "UserActivityAuditEvent" => {
                let operation = f.text("OperationName").unwrap_or_default();
                let change = match operation.as_ref() {
                    "containment_requested" | "contain_host" => "host_contain",
                    "lift_containment_requested" | "lift_containment" => "host_release",
                    other => {
                        let event_type = format!("UserActivityAuditEvent:{other}");
                        let mut row = map_base_event(&f, common);
                        out.append_base_event(&mut row, &event_type, record);
                        return Ok(1);
                    }
                };
                common.metadata_log_name = Some(Cow::Borrowed("Streaming API"));
                common.activity_id = Some(99);
                common.activity_name = Some(Cow::Borrowed("Other"));
                common.status_id =
                    Some(match jv::bool_at(f.inner.unwrap_or(&value), &["Success"]) {
                        Some(false) => 2,
                        _ => 1,
                    });
                common.message = Some(operation.clone());
                let mut row = AccountChangeRow {
                    common,
                    ..Default::default()
                };
                let own = &mut row.own;
                own.actor_user_name = f.text("UserId");
                own.src_endpoint_ip = f.text("UserIp").filter(|ip| ip.parse::<IpAddr>().is_ok());
                own.zt_change_type = Some(Cow::Borrowed(change));
                // The host is named in the audit key/values.
                for kv in f
                    .value("AuditKeyValues")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let key = jv::str_at(kv, &["Key"]).unwrap_or_default();
                    let val = jv::str_at(kv, &["ValueString"]);
                    match key.as_ref() {
                        "device_id" | "aid" | "host_id" => own.device_uid = val,
                        "hostname" | "device_name" => own.device_hostname = val,
                        "detection_id" | "detect_id" => own.zt_related_finding_uid = val,
                        _ => {}
                    }
                }
                out.account_change.append(&mut row);
            }
            other => {
                let mut row = map_base_event(&f, common);
                out.append_base_event(&mut row, other, record);
            }
        }
        Ok(1)
    }
}

/// A Falcon event no class maps (process, DNS, file and sensor telemetry): the host, the user
/// when the event names one, and what it acted on.
fn map_base_event<'v>(f: &Fields<'v>, common: crate::schema::Common<'v>) -> BaseEventRow<'v> {
    let mut row = BaseEventRow {
        common,
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    own.actor_user_uid = f.text("UserSid");
    own.actor_user_name = f.text("UserName").or_else(|| f.text("UserId"));
    own.actor_user_email_addr = own.actor_user_name.clone().filter(|u| u.contains('@'));
    own.device_uid = f.text("aid").or_else(|| f.text("AgentIdString"));
    own.device_hostname = f.text("ComputerName").or_else(|| f.text("HostnameField"));
    // `aip` is the sensor's own public address, not the actor's: it stays in raw_data.
    own.src_endpoint_ip = ["UserIp", "RemoteAddressIP4", "RemoteAddressIP6"]
        .iter()
        .find_map(|k| f.ip(k))
        .map(|ip| Cow::Owned(ip.to_string()));
    if let Some((kind, name)) = [
        ("file", "TargetFileName"),
        ("domain", "DomainName"),
        ("process", "ImageFileName"),
    ]
    .iter()
    .find_map(|(kind, key)| f.text(key).map(|v| (*kind, v)))
    {
        own.zt_target_type = Some(Cow::Borrowed(kind));
        own.zt_target_name = Some(name);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::{canonical_kind, detection_severity, epoch_ms};

    #[test]
    fn severity_scales_and_names() {
        // EPP detection summary: Low 30 is Low, not Critical.
        assert_eq!(detection_severity(Some("Low"), Some(30)), (2, Some(30)));
        assert_eq!(detection_severity(None, Some(30)), (2, Some(30)));
        assert_eq!(detection_severity(None, Some(10)), (1, Some(10)));
        assert_eq!(detection_severity(None, Some(70)), (4, Some(70)));
        assert_eq!(detection_severity(None, Some(100)), (5, Some(100)));
        // The older DetectionSummaryEvent: levels 1–5.
        assert_eq!(detection_severity(Some("Low"), Some(2)), (2, Some(40)));
        assert_eq!(detection_severity(None, Some(5)), (5, Some(100)));
        assert_eq!(detection_severity(None, None), (0, None));
        assert_eq!(
            canonical_kind("EPPDetectionSummaryEvent"),
            "EppDetectionSummaryEvent"
        );
        assert_eq!(canonical_kind("ProcessRollup2"), "ProcessRollup2");
    }

    #[test]
    fn epoch_times_beyond_any_calendar_are_not_times() {
        assert_eq!(epoch_ms("1772400000"), Some(1_772_400_000_000));
        assert_eq!(epoch_ms("1772400000123"), Some(1_772_400_000_123));
        // Once stored as i64::MAX, printed by Arrow as an error inside the JSON answer.
        for absurd in [
            "18446744073709551616",
            "9000000000000000000",
            "-1e300",
            "NaN",
        ] {
            assert_eq!(epoch_ms(absurd), None, "{absurd}");
        }
    }
}
