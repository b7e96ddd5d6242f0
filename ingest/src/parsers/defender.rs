//! Microsoft Defender for Endpoint → `device_state`, `authentication`, `network_activity` and
//! `detection_finding`.
//!
//! Input, one JSON record each (the `{"records": [...]}` / `{"value": [...]}` envelopes are split
//! by the framer):
//! - **Advanced Hunting streaming export** (Event Hubs / storage): `category` =
//!   `AdvancedHunting-<Table>`, the row under `properties`.
//!   `DeviceInfo` → device_state (a heartbeat snapshot), `DeviceLogonEvents` → authentication,
//!   `DeviceNetworkEvents` → network_activity, `AlertInfo` → detection_finding (activity 1
//!   Create), `AlertEvidence` → detection_finding (activity 2 Update: one row per evidence entity,
//!   same `finding_info_uid`, so KPIs count alerts from activity 1 only).
//!   Other tables, and logon or network action types not listed below, go to `base_event`
//!   (event type `<Table>:<ActionType>`) with the account, the device, the file, URL or registry
//!   key acted on, and the record.
//! - **MDE API** `/api/machines` objects → device_state; `/api/alerts` objects → detection_finding
//!   (`relatedUser` and the evidence's user, device and IP name whom and what it concerns).
//! - **Microsoft Graph security alerts (v2)** → detection_finding (device from `deviceEvidence`,
//!   user from `userEvidence.userAccount`).
//!
//! Device posture: `OnboardingStatus` Onboarded → `device_is_managed`; `SensorHealthState` /
//! `healthStatus` → `agent_health`; `ExposureLevel` (Low/Medium/High) → `device_risk_level_id`
//! 1/2/3 and `security_level_id` (Low → 1 Secure, Medium/High → 2 At Risk); tags → `device_groups`.
//! Logons: `ActionType` LogonSuccess → allow, LogonFailed → deny_credentials (`FailureReason` →
//! `status_detail`); `LogonType` text → OCSF logon type; `IsLocalAdmin` → `user_is_privileged`.
//! Connections: `ActionType` ConnectionSuccess / InboundConnectionAccepted → status 1,
//! ConnectionFailed / ConnectionAttempt → status 2 (failed attempts, not policy blocks; Defender
//! firewall blocks arrive as `FirewallInboundConnectionBlocked` / `…OutboundConnectionBlocked`,
//! which are `action_id` 2, `disposition_id` 2).

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{
    as_text, at, bool_at, first_str, i64_at, missing, parse_object, str_at, time_at, unmapped,
};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, decision_outcome};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{
    AuthenticationRow, BaseEventRow, Common, DetectionFindingRow, DeviceStateRow,
    NetworkActivityRow, TableBuilders,
};
use crate::site::Site;

/// Microsoft Defender for Endpoint: Advanced Hunting export, MDE API machines and alerts.
pub static SPEC: VendorSpec = VendorSpec {
    name: "defender",
    aliases: &["mde", "defender_endpoint"],
    framing: Framing::Json,
    envelope_keys: &["records", "value"],
    stateful: false,
    sniff: Sniff::Json(looks_like_defender),
    parser: |site| Box::new(DefenderParser::new(site)),
};

/// The defender format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct DefenderParser {
    site: Arc<Site>,
}

impl DefenderParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Whether a JSON record looks like Defender (Advanced Hunting export or MDE API objects).
pub fn looks_like_defender(head: &str) -> bool {
    head.contains("\"AdvancedHunting-")
        || (head.contains("\"computerDnsName\"")
            && (head.contains("\"machineId\"") || head.contains("\"onboardingStatus\"")))
}

fn severity_id(text: &str) -> i32 {
    match text.to_ascii_lowercase().as_str() {
        "informational" | "info" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

fn exposure(level: &str) -> Option<(i32, i32)> {
    match level.to_ascii_lowercase().as_str() {
        "none" => Some((0, 1)),
        "low" => Some((1, 1)),
        "medium" => Some((2, 2)),
        "high" => Some((3, 2)),
        _ => None,
    }
}

/// "Interactive", "RemoteInteractive", "Network" … → OCSF logon type id.
fn logon_type_id(text: &str) -> i32 {
    match text {
        "Interactive" => 2,
        "Network" => 3,
        "Batch" => 4,
        "Service" => 5,
        "Unlock" => 7,
        "NetworkCleartext" => 8,
        "NewCredentials" => 9,
        "RemoteInteractive" => 10,
        "CachedInteractive" => 11,
        _ => 99,
    }
}

/// `["System Binary Proxy Execution (T1218)", …]` (a JSON array, possibly inside a string) →
/// technique ids.
fn technique_ids(value: Option<&Value>) -> Vec<Cow<'static, str>> {
    let parsed;
    let list = match value {
        Some(Value::Array(a)) => a,
        Some(Value::String(s)) => {
            parsed = serde_json::from_str::<Vec<Value>>(s).unwrap_or_default();
            &parsed
        }
        _ => return Vec::new(),
    };
    let mut ids: Vec<Cow<'static, str>> = Vec::new();
    for item in list {
        let Some(text) = item.as_str() else { continue };
        let id = match (text.rfind('('), text.rfind(')')) {
            (Some(a), Some(b)) if b > a => &text[a + 1..b],
            _ => text,
        };
        if id.starts_with('T') && !ids.iter().any(|x| x == id) {
            ids.push(Cow::Owned(id.to_string()));
        }
    }
    ids
}

impl Parser for DefenderParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a Defender for Endpoint")?;
        let base = Common {
            metadata_product_name: Some(Cow::Borrowed("defender")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Microsoft")),
            metadata_tenant_uid: first_str(&value, &[&["tenantId"], &["aadTenantId"]]),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            ..Common::default()
        };
        if let Some(category) = str_at(&value, &["category"])
            && let Some(table) = category.strip_prefix("AdvancedHunting-")
        {
            let props = at(&value, &["properties"]).ok_or_else(|| missing("properties"))?;
            let time = time_at(props, &["Timestamp"])
                .or_else(|| time_at(&value, &["time"]))
                .ok_or_else(|| missing("properties.Timestamp"))?;
            let mut common = base;
            common.time = Some(time);
            common.metadata_event_code = Some(Cow::Owned(table.to_string()));
            common.metadata_log_name = Some(Cow::Borrowed("Advanced Hunting"));
            common.unmapped = unmapped(props, hunting_mapped(table)).map(Cow::Owned);
            let action = str_at(props, &["ActionType"]);
            let mapped = match table {
                "DeviceInfo" | "AlertInfo" | "AlertEvidence" => true,
                // Without an ActionType the mapping below says what is missing.
                "DeviceLogonEvents" => action.as_deref().is_none_or(|a| LOGON_ACTIONS.contains(&a)),
                "DeviceNetworkEvents" => action
                    .as_deref()
                    .is_none_or(|a| NETWORK_ACTIONS.contains(&a)),
                _ => false,
            };
            if !mapped {
                let event_type = match &action {
                    Some(action) => format!("{table}:{action}"),
                    None => table.to_string(),
                };
                return append_base_event(props, record, common, &event_type, out);
            }
            return match table {
                "DeviceInfo" => {
                    let mut row = device_from_hunting(props, record, common);
                    out.device_state.append(&mut row);
                    Ok(1)
                }
                "DeviceLogonEvents" => {
                    let mut row = logon(props, record, common, &self.site)?;
                    out.authentication.append(&mut row);
                    Ok(1)
                }
                "DeviceNetworkEvents" => {
                    let mut row = connection(props, record, common, &self.site)?;
                    out.network_activity.append(&mut row);
                    Ok(1)
                }
                "AlertInfo" | "AlertEvidence" => {
                    let mut row = hunting_alert(props, record, common, table == "AlertInfo")?;
                    out.detection_finding.append(&mut row);
                    Ok(1)
                }
                other => unreachable!("{other} is mapped above"),
            };
        }
        if str_at(&value, &["computerDnsName"]).is_some() && value.get("osPlatform").is_some() {
            let mut row = device_from_api(&value, record, base)?;
            out.device_state.append(&mut row);
            return Ok(1);
        }
        if str_at(&value, &["title"]).is_some()
            && (value.get("alertCreationTime").is_some() || value.get("createdDateTime").is_some())
        {
            let mut row = api_alert(&value, base)?;
            out.detection_finding.append(&mut row);
            return Ok(1);
        }
        // Not a record of any Defender shape: broken, not unmapped.
        if str_at(&value, &["title"]).is_some() {
            return Err(missing("alertCreationTime (or createdDateTime)"));
        }
        Err(ParseError::new(
            ErrorKind::InvalidJson,
            "not an Advanced Hunting record, an MDE machine or an alert",
        ))
    }
}

/// DeviceLogonEvents action types mapped to `authentication`.
const LOGON_ACTIONS: &[&str] = &["LogonSuccess", "LogonFailed", "LogonAttempted"];

/// DeviceNetworkEvents action types mapped to `network_activity`.
const NETWORK_ACTIONS: &[&str] = &[
    "ConnectionSuccess",
    "InboundConnectionAccepted",
    "ConnectionFailed",
    "ConnectionAttempt",
    "ConnectionRequest",
    "ConnectionFound",
    "ListeningConnectionCreated",
    "FirewallInboundConnectionBlocked",
    "FirewallOutboundConnectionBlocked",
];

/// An Advanced Hunting record no class maps (process, file, registry events, other action
/// types): the account, the device, what was acted on, and the record.
fn append_base_event<'v>(
    props: &'v Value,
    record: &[u8],
    mut common: Common<'v>,
    event_type: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    common.metadata_uid = Some(Cow::Owned(content_uid("mde-event", record)));
    let mut row = BaseEventRow {
        common,
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    let account = |suffix: &str| {
        str_at(props, &[&format!("Account{suffix}")])
            .or_else(|| str_at(props, &[&format!("InitiatingProcessAccount{suffix}")]))
            .filter(|v| !v.is_empty())
    };
    own.actor_user_uid = account("Sid");
    own.actor_user_email_addr = account("Upn").filter(|u| u.contains('@'));
    own.actor_user_name = account("Name");
    own.device_uid = str_at(props, &["DeviceId"]);
    own.device_hostname = str_at(props, &["DeviceName"]);
    own.src_endpoint_ip = str_at(props, &["RemoteIP"]).filter(|ip| ip.parse::<IpAddr>().is_ok());
    if let Some((kind, name)) = [
        ("file", "FileName"),
        ("url", "RemoteUrl"),
        ("registry_key", "RegistryKey"),
    ]
    .iter()
    .find_map(|(kind, key)| {
        str_at(props, &[key])
            .filter(|v| !v.is_empty())
            .map(|v| (*kind, v))
    }) {
        own.zt_target_type = Some(Cow::Borrowed(kind));
        own.zt_target_name = Some(name);
    }
    out.append_base_event(&mut row, event_type, record);
    Ok(1)
}

/// The `properties` keys an Advanced Hunting table's mapping reads; everything else stays in
/// `unmapped`. One list per table: a key one table maps (a connection's `Protocol`) is data
/// another table would lose (a logon's `Protocol`, NTLM or Kerberos).
fn hunting_mapped(table: &str) -> &'static [&'static str] {
    match table {
        "DeviceInfo" => DEVICE_INFO_MAPPED,
        "DeviceLogonEvents" => LOGON_MAPPED,
        "DeviceNetworkEvents" => CONNECTION_MAPPED,
        "AlertInfo" | "AlertEvidence" => ALERT_MAPPED,
        _ => &[],
    }
}

/// Read by [`device_from_hunting`].
const DEVICE_INFO_MAPPED: &[&str] = &[
    "Timestamp",
    "DeviceId",
    "DeviceName",
    "AadDeviceId",
    "OSPlatform",
    "OSVersion",
    "DeviceType",
    "OnboardingStatus",
    "SensorHealthState",
    "ExposureLevel",
    "MachineGroup",
    "DeviceManualTags",
    "DeviceDynamicTags",
];

/// Read by [`logon`].
const LOGON_MAPPED: &[&str] = &[
    "Timestamp",
    "DeviceId",
    "DeviceName",
    "ActionType",
    "AccountName",
    "AccountDomain",
    "AccountSid",
    "LogonType",
    "RemoteIP",
    "RemotePort",
    "FailureReason",
    "IsLocalAdmin",
];

/// Read by [`connection`].
const CONNECTION_MAPPED: &[&str] = &[
    "Timestamp",
    "DeviceId",
    "ActionType",
    "LocalIP",
    "LocalPort",
    "RemoteIP",
    "RemotePort",
    "Protocol",
];

/// Read by [`hunting_alert`].
const ALERT_MAPPED: &[&str] = &[
    "Timestamp",
    "AlertId",
    "Title",
    "Category",
    "Severity",
    "AttackTechniques",
    "DetectionSource",
    "DeviceId",
    "DeviceName",
    "AccountName",
    "AccountObjectId",
    // Not "AccountSid": with an AccountObjectId as the uid, the on-premises SID (the join key
    // to DeviceLogonEvents) stays in `unmapped`.
    "RemoteIP",
    "EntityType",
];

fn device_from_hunting<'v>(
    props: &'v Value,
    record: &[u8],
    mut common: Common<'v>,
) -> DeviceStateRow<'v> {
    common.metadata_uid = Some(Cow::Owned(content_uid("mde-device", record)));
    common.activity_id = Some(2);
    common.activity_name = Some(Cow::Borrowed("Collect"));
    common.status_id = Some(1);
    let mut row = DeviceStateRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_uid = str_at(props, &["DeviceId"]);
    d.device_uid_alt = str_at(props, &["AadDeviceId"]);
    d.device_hostname = str_at(props, &["DeviceName"]);
    d.device_os_name = str_at(props, &["OSPlatform"]);
    d.device_os_version = str_at(props, &["OSVersion"]);
    d.device_type = str_at(props, &["DeviceType"]);
    d.device_is_managed = str_at(props, &["OnboardingStatus"]).map(|s| s == "Onboarded");
    d.agent_name = Some(Cow::Borrowed("Microsoft Defender for Endpoint"));
    d.agent_health = str_at(props, &["SensorHealthState"]);
    if let Some((risk, security)) = str_at(props, &["ExposureLevel"]).and_then(|e| exposure(&e)) {
        d.device_risk_level_id = Some(risk);
        d.security_level_id = Some(security);
    }
    d.device_last_seen_time = row.common.time;
    let mut groups: Vec<Cow<'v, str>> = Vec::new();
    if let Some(g) = str_at(props, &["MachineGroup"]) {
        groups.push(g);
    }
    for key in ["DeviceManualTags", "DeviceDynamicTags"] {
        for tag in string_list(at(props, &[key])) {
            if !groups.contains(&tag) {
                groups.push(tag);
            }
        }
    }
    d.device_groups = groups;
    row
}

/// A list that may be a JSON array or a JSON array inside a string.
fn string_list(value: Option<&Value>) -> Vec<Cow<'_, str>> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(as_text).collect(),
        Some(Value::String(s)) if s.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<String>>(s)
                .unwrap_or_default()
                .into_iter()
                .filter(|t| !t.is_empty())
                .map(Cow::Owned)
                .collect()
        }
        Some(Value::String(s)) if !s.is_empty() => vec![Cow::Borrowed(s.as_str())],
        _ => Vec::new(),
    }
}

fn logon<'v>(
    props: &'v Value,
    record: &[u8],
    mut common: Common<'v>,
    site: &Site,
) -> Result<AuthenticationRow<'v>, ParseError> {
    let action = str_at(props, &["ActionType"]).ok_or_else(|| missing("ActionType"))?;
    let decision = match action.as_ref() {
        "LogonSuccess" => "allow",
        "LogonFailed" => "deny_credentials",
        "LogonAttempted" => "other",
        other => {
            return Err(ParseError::new(
                ErrorKind::InvalidField,
                format!("DeviceLogonEvents ActionType {other:?} is not mapped"),
            ));
        }
    };
    let (action_id, disposition_id, status_id) = decision_outcome(decision);
    common.metadata_uid = Some(Cow::Owned(content_uid("mde-logon", record)));
    common.activity_id = Some(1);
    common.activity_name = Some(Cow::Borrowed("Logon"));
    common.status_id = Some(status_id);
    common.status_code = Some(action);
    common.status_detail = str_at(props, &["FailureReason"]);
    let mut row = AuthenticationRow {
        common,
        ..Default::default()
    };
    let own = &mut row.own;
    own.user_name = str_at(props, &["AccountName"]);
    own.user_domain = str_at(props, &["AccountDomain"]);
    own.user_uid = str_at(props, &["AccountSid"]);
    own.user_is_privileged = bool_at(props, &["IsLocalAdmin"]);
    let login = own.user_name.as_deref().unwrap_or("");
    own.user_type_id = Some(if !login.is_empty() && site.is_service_account(login) {
        4
    } else {
        1
    });
    own.logon_type_id = str_at(props, &["LogonType"]).map(|t| logon_type_id(&t));
    own.is_remote = own.logon_type_id.map(|t| matches!(t, 3 | 8 | 10));
    own.is_interactive = own.logon_type_id.map(|t| matches!(t, 2 | 7 | 10 | 11));
    own.src_endpoint_ip = str_at(props, &["RemoteIP"]).filter(|ip| ip.parse::<IpAddr>().is_ok());
    // A local logon has no remote port: Defender writes 0.
    own.src_endpoint_port = i64_at(props, &["RemotePort"]).and_then(super::port_number);
    own.device_uid = str_at(props, &["DeviceId"]);
    own.device_name = str_at(props, &["DeviceName"]);
    own.zt_decision = Some(Cow::Borrowed(decision));
    own.action_id = Some(action_id);
    own.disposition_id = Some(disposition_id);
    own.is_mfa = Some(false);
    Ok(row)
}

fn connection<'v>(
    props: &'v Value,
    record: &[u8],
    mut common: Common<'v>,
    site: &'v Site,
) -> Result<NetworkActivityRow<'v>, ParseError> {
    let action = str_at(props, &["ActionType"]).ok_or_else(|| missing("ActionType"))?;
    let inbound = action.starts_with("Inbound") || action.starts_with("FirewallInbound");
    let (activity_id, activity_name, status_id, blocked) = match action.as_ref() {
        "ConnectionSuccess" | "InboundConnectionAccepted" => (1, "Open", 1, false),
        "ConnectionFailed" | "ConnectionAttempt" | "ConnectionRequest" => (4, "Fail", 2, false),
        "ConnectionFound" | "ListeningConnectionCreated" => (6, "Traffic", 1, false),
        "FirewallInboundConnectionBlocked" | "FirewallOutboundConnectionBlocked" => {
            (5, "Refuse", 2, true)
        }
        other => {
            return Err(ParseError::new(
                ErrorKind::InvalidField,
                format!("DeviceNetworkEvents ActionType {other:?} is not mapped"),
            ));
        }
    };
    let ip = |k: &str| str_at(props, &[k]).and_then(|t| t.parse::<IpAddr>().ok());
    let port = |k: &str| i64_at(props, &[k]).and_then(super::port_number);
    let (local, remote) = (
        (ip("LocalIP"), port("LocalPort")),
        (ip("RemoteIP"), port("RemotePort")),
    );
    let ((src, sport), (dst, dport)) = if inbound {
        (remote, local)
    } else {
        (local, remote)
    };
    common.metadata_uid = Some(Cow::Owned(content_uid("mde-net", record)));
    common.activity_id = Some(activity_id);
    common.activity_name = Some(Cow::Borrowed(activity_name));
    common.status_id = Some(status_id);
    common.status_code = Some(action);
    let mut row = NetworkActivityRow {
        common,
        ..Default::default()
    };
    let n = &mut row.own;
    n.src_endpoint_ip = src.map(|ip| Cow::Owned(ip.to_string()));
    n.dst_endpoint_ip = dst.map(|ip| Cow::Owned(ip.to_string()));
    n.src_endpoint_port = sport;
    n.dst_endpoint_port = dport;
    n.connection_info_protocol_name = str_at(props, &["Protocol"]).map(|p| {
        let p = p.to_ascii_lowercase();
        Cow::Owned(p.trim_end_matches("v4").trim_end_matches("v6").to_string())
    });
    n.connection_info_protocol_num =
        n.connection_info_protocol_name
            .as_deref()
            .and_then(|p| match p {
                "tcp" => Some(6),
                "udp" => Some(17),
                "icmp" => Some(1),
                _ => None,
            });
    n.device_uid = str_at(props, &["DeviceId"]);
    n.start_time = row.common.time;
    if blocked {
        n.action_id = Some(2);
        n.disposition_id = Some(2);
    }
    super::tag_network(n, site, src, dst, Some(if inbound { 1 } else { 2 }));
    Ok(row)
}

fn hunting_alert<'v>(
    props: &'v Value,
    record: &[u8],
    mut common: Common<'v>,
    is_info: bool,
) -> Result<DetectionFindingRow<'v>, ParseError> {
    let alert_id = str_at(props, &["AlertId"]).ok_or_else(|| missing("AlertId"))?;
    common.metadata_uid = Some(if is_info {
        alert_id.clone()
    } else {
        Cow::Owned(content_uid("mde-evidence", record))
    });
    common.severity_id = Some(str_at(props, &["Severity"]).map_or(0, |s| severity_id(&s)));
    common.activity_id = Some(if is_info { 1 } else { 2 });
    common.activity_name = Some(Cow::Borrowed(if is_info { "Create" } else { "Update" }));
    common.status_id = Some(1);
    common.message = str_at(props, &["Title"]);
    let time = common.time;
    let mut row = DetectionFindingRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.finding_info_uid = Some(alert_id.clone());
    d.zt_dedup_key = Some(alert_id);
    d.finding_info_title = str_at(props, &["Title"]);
    d.finding_info_analytic_name = str_at(props, &["DetectionSource"]);
    d.finding_info_analytic_type = Some(Cow::Borrowed("rule"));
    d.finding_info_types = str_at(props, &["Category"]).into_iter().collect();
    d.finding_info_created_time = time;
    d.attacks_technique_uids = technique_ids(at(props, &["AttackTechniques"]));
    d.is_alert = Some(true);
    d.device_uid = str_at(props, &["DeviceId"]);
    d.device_hostname = str_at(props, &["DeviceName"]);
    d.user_name = str_at(props, &["AccountName"]);
    d.user_uid = str_at(props, &["AccountObjectId"]).or_else(|| str_at(props, &["AccountSid"]));
    d.src_endpoint_ip = str_at(props, &["RemoteIP"]);
    if !is_info {
        d.evidences_uids = str_at(props, &["EntityType"]).into_iter().collect();
    }
    Ok(row)
}

fn device_from_api<'v>(
    value: &'v Value,
    record: &[u8],
    mut common: Common<'v>,
) -> Result<DeviceStateRow<'v>, ParseError> {
    let time = time_at(value, &["lastSeen"])
        .or_else(|| time_at(value, &["firstSeen"]))
        .ok_or_else(|| missing("lastSeen"))?;
    common.time = Some(time);
    common.metadata_uid = Some(Cow::Owned(content_uid("mde-machine", record)));
    common.metadata_event_code = Some(Cow::Borrowed("machine"));
    common.metadata_log_name = Some(Cow::Borrowed("MDE API machines"));
    common.activity_id = Some(2);
    common.activity_name = Some(Cow::Borrowed("Collect"));
    common.status_id = Some(1);
    common.unmapped = unmapped(value, API_MACHINE_MAPPED).map(Cow::Owned);
    let mut row = DeviceStateRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_uid = str_at(value, &["id"]);
    d.device_uid_alt = str_at(value, &["aadDeviceId"]);
    d.device_hostname = str_at(value, &["computerDnsName"]);
    d.device_os_name = str_at(value, &["osPlatform"]);
    d.device_os_version = first_str(value, &[&["osVersion"], &["version"]]);
    d.device_is_managed = str_at(value, &["onboardingStatus"]).map(|s| s == "Onboarded");
    d.device_is_trusted = bool_at(value, &["isAadJoined"]);
    d.agent_name = Some(Cow::Borrowed("Microsoft Defender for Endpoint"));
    d.agent_version = str_at(value, &["agentVersion"]);
    d.agent_health = str_at(value, &["healthStatus"]);
    if let Some((risk, security)) = str_at(value, &["exposureLevel"]).and_then(|e| exposure(&e)) {
        d.device_risk_level_id = Some(risk);
        d.security_level_id = Some(security);
    }
    d.device_last_seen_time = Some(time);
    d.device_groups = string_list(at(value, &["machineTags"]));
    if let Some(group) = str_at(value, &["rbacGroupName"]) {
        d.device_groups.push(group);
    }
    Ok(row)
}

const API_MACHINE_MAPPED: &[&str] = &[
    "id",
    "aadDeviceId",
    "computerDnsName",
    "osPlatform",
    "osVersion",
    "version",
    "onboardingStatus",
    "isAadJoined",
    "agentVersion",
    "healthStatus",
    "exposureLevel",
    "lastSeen",
    "machineTags",
    "rbacGroupName",
];

fn api_alert<'v>(
    value: &'v Value,
    mut common: Common<'v>,
) -> Result<DetectionFindingRow<'v>, ParseError> {
    let created = time_at(value, &["alertCreationTime"])
        .or_else(|| time_at(value, &["createdDateTime"]))
        .ok_or_else(|| missing("alertCreationTime (or createdDateTime)"))?;
    let id = str_at(value, &["id"]).ok_or_else(|| missing("id"))?;
    let resolved =
        time_at(value, &["resolvedTime"]).or_else(|| time_at(value, &["resolvedDateTime"]));
    let updated =
        time_at(value, &["lastUpdateTime"]).or_else(|| time_at(value, &["lastUpdateDateTime"]));
    common.time = Some(created);
    common.metadata_uid = Some(id.clone());
    common.metadata_event_code = Some(Cow::Borrowed("alert"));
    common.metadata_log_name = Some(Cow::Borrowed(if value.get("alertCreationTime").is_some() {
        "MDE API alerts"
    } else {
        "Graph security alerts"
    }));
    common.severity_id = Some(str_at(value, &["severity"]).map_or(0, |s| severity_id(&s)));
    common.activity_id = Some(1);
    common.activity_name = Some(Cow::Borrowed("Create"));
    // OCSF finding status: 1 New, 2 In Progress, 4 Resolved.
    common.status_id = Some(
        match str_at(value, &["status"])
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("new") | Some("unknown") => 1,
            Some("inprogress") | Some("in_progress") => 2,
            Some("resolved") => 4,
            _ => 0,
        },
    );
    common.status_code = str_at(value, &["status"]);
    common.message = str_at(value, &["description"]);
    let mut row = DetectionFindingRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.finding_info_uid = Some(id.clone());
    d.zt_dedup_key = Some(id);
    d.finding_info_title = str_at(value, &["title"]);
    d.finding_info_desc = str_at(value, &["description"]);
    d.finding_info_analytic_name = first_str(value, &[&["detectionSource"], &["serviceSource"]]);
    d.finding_info_analytic_type = Some(Cow::Borrowed("rule"));
    d.finding_info_types = str_at(value, &["category"]).into_iter().collect();
    d.finding_info_created_time = Some(created);
    d.finding_info_first_seen_time =
        time_at(value, &["firstEventTime"]).or_else(|| time_at(value, &["firstActivityDateTime"]));
    d.finding_info_last_seen_time =
        time_at(value, &["lastEventTime"]).or_else(|| time_at(value, &["lastActivityDateTime"]));
    d.modified_time = resolved.or(updated);
    d.is_alert = Some(true);
    d.device_uid = str_at(value, &["machineId"]);
    d.device_hostname = str_at(value, &["computerDnsName"]);
    d.attacks_technique_uids = technique_ids(at(value, &["mitreTechniques"]));
    // Evidence fills what the alert itself does not name. A user's id and name come from one
    // entity (a User entity first), and so do a device's id and name: two entities' halves
    // would name someone who does not exist.
    let items = evidence_items(value);
    let is_user = |e: &Value| {
        str_at(e, &["entityType"]).as_deref() == Some("User")
            || str_at(e, &["@odata.type"]).is_some_and(|t| t.ends_with("userEvidence"))
    };
    if d.user_uid.is_none()
        && d.user_name.is_none()
        && let Some((uid, name)) = items
            .iter()
            .filter(|e| is_user(e))
            .chain(items.iter())
            .map(evidence_user)
            .find(|(uid, name)| uid.is_some() || name.is_some())
    {
        d.user_uid = uid;
        d.user_name = name;
    }
    if d.device_uid.is_none()
        && d.device_hostname.is_none()
        && let Some((uid, name)) = items
            .iter()
            .map(evidence_device)
            .find(|(uid, name)| uid.is_some() || name.is_some())
    {
        d.device_uid = uid;
        d.device_hostname = name;
    }
    if d.src_endpoint_ip.is_none() {
        d.src_endpoint_ip = items
            .iter()
            .find_map(|e| str_at(e, &["ipAddress"]).filter(|ip| ip.parse::<IpAddr>().is_ok()));
    }
    // MDE API `relatedUser` names the account without its UPN: the name of last resort.
    d.user_name = d
        .user_name
        .take()
        .or_else(|| str_at(value, &["relatedUser", "userName"]));
    Ok(row)
}

/// An alert's evidence entities: a list (Graph v2; MDE API with `$expand=evidence`), or one
/// object where an exporter split the list into one alert per entity.
fn evidence_items(value: &Value) -> &[Value] {
    match at(value, &["evidence"]) {
        Some(Value::Array(items)) => items.as_slice(),
        Some(item) if item.is_object() => std::slice::from_ref(item),
        _ => &[],
    }
}

/// (id, name) of the user an evidence entity names: MDE API `User` evidence keeps it flat,
/// Graph v2 `userEvidence` under `userAccount`. The Entra object id is preferred to the SID.
fn evidence_user(evidence: &Value) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    let account = at(evidence, &["userAccount"]).unwrap_or(evidence);
    (
        first_str(account, &[&["azureAdUserId"], &["aadUserId"], &["userSid"]]),
        first_str(account, &[&["userPrincipalName"], &["accountName"]]),
    )
}

/// (Defender device id, DNS name) of a Graph v2 `deviceEvidence` entity.
fn evidence_device(evidence: &Value) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    (
        str_at(evidence, &["mdeDeviceId"]),
        str_at(evidence, &["deviceDnsName"]),
    )
}
