//! SentinelOne (Management API v2.1) → `detection_finding`, `device_state` and `authentication`.
//!
//! Input, one object per record (the API's `{"data": [...], "pagination": {...}}` pages are split
//! by the framer; an activity's own `data` member is an object and stays inside its record):
//! - **threats** (`GET /web/api/v2.1/threats`): `id`, `threatInfo` (name, classification,
//!   `confidenceLevel`, `incidentStatus`, `mitigationStatus`, times, `storyline`, engines),
//!   `agentRealtimeInfo` (the agent now: `agentId`, `agentComputerName` …), `agentDetectionInfo`
//!   (the agent at detection: `agentIpV4`, last logged-in user …), `indicators[]` with MITRE
//!   techniques, `mitigationStatus[]` (the response actions);
//! - **cloud-detection alerts** (`GET /web/api/v2.1/cloud-detection/alerts`, STAR custom rules):
//!   `alertInfo`, `ruleInfo`, `agentRealtimeInfo` (here `id` / `name`, not `agentId`),
//!   `agentDetectionInfo`, `sourceProcessInfo`, `targetProcessInfo`;
//! - **activities** (`GET /web/api/v2.1/activities`): `id`, `activityType` (a number, or a string
//!   in some exports), `createdAt`, `primaryDescription`, `threatId`, `agentId`, `userId` and a
//!   per-type `data` object;
//! - **agents** (`GET /web/api/v2.1/agents`): `id`, `uuid`, `computerName`, `isActive`,
//!   `infected`, `activeThreats`, `networkStatus`, `isUpToDate` ….
//!
//! Keys are matched ignoring ASCII case (Panther's exports lower-case every key), times may be
//! RFC 3339 or `2022-12-07 17:36:05.076` (UTC), and ids numbers or strings.
//!
//! | record | table | mapping |
//! |---|---|---|
//! | threat | detection_finding | `id` → `finding_info_uid` / `zt_dedup_key`, `id@updatedAt` → `metadata_uid` (each state a row); `confidenceLevel` malicious → severity 4 High (confidence 3), suspicious → 3 Medium (2), else 0; `incidentStatus` → finding status; `threatInfo.mitigationStatus` → `status_detail`; techniques from `indicators` |
//! | alert | detection_finding | `alertInfo.alertId` → uid; `ruleInfo.severity` Low 2 … Critical 5; `ruleInfo` → analytic (type rule) |
//! | activity 27, 33, 133, 134, 139, 3629 | authentication | console sign-ins: 27 / 3629 allow (3629 with a recovery code), 133 by the reason in `comments`, 134 deny_credentials, 139 other (a failure), 33 logoff without a decision |
//! | activity 18, 19, 20, 3608, 4003, 4106–4113 | detection_finding | a new threat or alert: `metadata_uid` = the activity `id`, `finding_info_uid` = `threatId` (3608: `data.alertId`), so the threat seen in both feeds is one finding |
//! | other activities | base_event | event type = the activity type as decimal text |
//! | agent | device_state | agent health and security level; no compliance verdict |
//!
//! SentinelOne states no compliance verdict (as Jamf): `zt_compliance_state` stays empty and an
//! infected agent is `security_level_id` 3 Compromised. `networkStatus` is the network-quarantine
//! state ("Disconnect from network"), not console connectivity, which is `isActive`.
//! Nulls, empty strings and empty objects, of which SentinelOne writes dozens per record, are
//! left out of `unmapped`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jv::{
    array_at, as_i64, as_text, at, bool_at, first_str, get, i64_at, invalid, missing, parse_object,
    str_at,
};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, decision_outcome, ip_text};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{
    AuthenticationRow, BaseEventRow, Common, DetectionFindingColumns, DetectionFindingRow,
    DeviceStateRow, TableBuilders,
};
use crate::site::Site;

/// SentinelOne Management API v2.1: threats, cloud-detection alerts, activities and agents.
pub static SPEC: VendorSpec = VendorSpec {
    name: "sentinelone",
    aliases: &["s1", "sentinel_one"],
    framing: Framing::Json,
    envelope_keys: &["data"],
    stateful: false,
    sniff: Sniff::Json(looks_like_sentinelone),
    parser: |site| Box::new(SentinelOneParser::new(site)),
};

/// The sentinelone format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct SentinelOneParser {
    site: Arc<Site>,
}

impl SentinelOneParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Whether a JSON record (or API page) looks like SentinelOne: a threat or alert (the agent
/// objects come first in them, before a large `indicators` list), an activity, or an agent.
/// Keys are matched ignoring ASCII case.
pub fn looks_like_sentinelone(head: &str) -> bool {
    let has = |key: &str| has_key(head, key);
    (has("agentRealtimeInfo")
        && (has("agentDetectionInfo") || has("threatInfo") || has("alertInfo")))
        || (has("alertInfo") && has("ruleInfo"))
        || (has("activityType") && (has("primaryDescription") || has("activityUuid")))
        || (has("computerName") && has("networkStatus") && (has("infected") || has("isActive")))
}

/// Whether `head` holds the JSON string `"key"` (a key, in practice), ignoring ASCII case.
fn has_key(head: &str, key: &str) -> bool {
    let bytes = head.as_bytes();
    let key = key.as_bytes();
    memchr::memchr_iter(b'"', bytes).any(|quote| {
        let start = quote + 1;
        let end = start + key.len();
        bytes
            .get(start..end)
            .is_some_and(|word| word.eq_ignore_ascii_case(key))
            && bytes.get(end) == Some(&b'"')
    })
}

/// The four record shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Threat,
    Alert,
    Activity,
    Agent,
}

/// Which shape a record is, from its keys (any case).
fn shape(value: &Value) -> Option<Shape> {
    // `activityType` counts even when null or unreadable: the activity mapping names the field.
    let present = |key: &str| {
        value
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(key)))
    };
    if get(value, "threatInfo").is_some() {
        Some(Shape::Threat)
    } else if get(value, "alertInfo").is_some() {
        Some(Shape::Alert)
    } else if present("activityType") {
        Some(Shape::Activity)
    } else if get(value, "computerName").is_some()
        && (present("networkStatus") || present("isActive") || present("infected"))
    {
        Some(Shape::Agent)
    } else {
        None
    }
}

/// Console sign-in activity types (Microsoft Sentinel's ASIM SentinelOne authentication parser):
/// 27 logged in, 33 logged out, 133 existing user login failure, 134 unknown user login, 139
/// failed to start an unrestricted session, 3629 login with a saved 2FA recovery code.
const LOGIN_TYPES: &[i64] = &[27, 33, 133, 134, 139, 3629];

/// Activity types that report a new threat or alert (Panther's SentinelOne rules): 18 mitigated,
/// 19 not mitigated, 20 blocked preemptively, 4003 suspicious not mitigated, 4106/4107 STAR
/// active response, 4108/4109 cloud detections, 4110/4113 threat intelligence, 4111/4112
/// Watchtower, 3608 a custom (STAR) rule alert.
const THREAT_TYPES: &[i64] = &[
    18, 19, 20, 3608, 4003, 4106, 4107, 4108, 4109, 4110, 4111, 4112, 4113,
];

/// `service_name` of console sign-ins.
const CONSOLE: &str = "SentinelOne Management Console";

impl Parser for SentinelOneParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a SentinelOne")?;
        let common = Common {
            metadata_product_name: Some(Cow::Borrowed("sentinelone")),
            metadata_product_vendor_name: Some(Cow::Borrowed("SentinelOne")),
            metadata_tenant_uid: first_str(
                &value,
                &[
                    &["accountId"],
                    &["agentDetectionInfo", "accountId"],
                    &["agentRealtimeInfo", "accountId"],
                ],
            ),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            ..Common::default()
        };
        match shape(&value) {
            Some(Shape::Threat) => {
                let mut row = threat(&value, common)?;
                out.detection_finding.append(&mut row);
            }
            Some(Shape::Alert) => {
                let mut row = alert(&value, common)?;
                out.detection_finding.append(&mut row);
            }
            Some(Shape::Activity) => return activity(&value, record, common, &self.site, out),
            Some(Shape::Agent) => {
                let mut row = agent(&value, common)?;
                out.device_state.append(&mut row);
            }
            // An `{"errors": [...]}` body or another product's JSON: broken, not unmapped.
            None => {
                return Err(ParseError::new(
                    ErrorKind::InvalidJson,
                    "not a SentinelOne threat, alert, activity or agent",
                ));
            }
        }
        Ok(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Threats and alerts.

/// The members each mapping reads, for [`leftover`]: `("", keys)` are top-level members read
/// whole, `(object, keys)` members read inside a top-level object.
type Read = &'static [(&'static str, &'static [&'static str])];

const THREAT_READ: Read = &[
    ("", &["id"]),
    (
        "threatInfo",
        &[
            "threatName",
            "classification",
            "confidenceLevel",
            "createdAt",
            "identifiedAt",
            "updatedAt",
            "incidentStatus",
            "mitigationStatus",
            "storyline",
            "processUser",
        ],
    ),
    ("agentRealtimeInfo", &["agentId", "agentComputerName"]),
    ("agentDetectionInfo", &["accountId", "agentIpV4"]),
];

fn threat<'v>(
    value: &'v Value,
    mut common: Common<'v>,
) -> Result<DetectionFindingRow<'v>, ParseError> {
    let uid = first_str(value, &[&["id"], &["threatInfo", "threatId"]])
        .ok_or_else(|| missing("id (or threatInfo.threatId)"))?;
    let created = time_ms(value, &["threatInfo", "createdAt"])
        .or_else(|| time_ms(value, &["threatInfo", "identifiedAt"]))
        .or_else(|| time_ms(value, &["threatInfo", "updatedAt"]))
        .ok_or_else(|| missing("threatInfo.createdAt"))?;
    let (severity, confidence) =
        confidence_severity(str_at(value, &["threatInfo", "confidenceLevel"]).as_deref());
    let incident = str_at(value, &["threatInfo", "incidentStatus"]);
    common.time = Some(created);
    // Each state of a threat is a row of its own (the lake keeps one row per uid: the bare id
    // would keep the first state and drop the resolution); views group them by finding.
    common.metadata_uid = Some(Cow::Owned(version_uid(
        &uid,
        time_ms(value, &["threatInfo", "updatedAt"]).unwrap_or(created),
    )));
    common.metadata_correlation_uid = str_at(value, &["threatInfo", "storyline"]);
    common.metadata_event_code = Some(Cow::Borrowed("threat"));
    common.metadata_log_name = Some(Cow::Borrowed("threats"));
    common.activity_id = Some(1);
    common.activity_name = Some(Cow::Borrowed("Create"));
    common.severity_id = Some(severity);
    common.status_id = Some(incident.as_deref().map_or(0, incident_status));
    common.status_code = incident;
    common.status_detail = str_at(value, &["threatInfo", "mitigationStatus"]);
    common.unmapped = leftover(value, THREAT_READ).map(Cow::Owned);
    let mut row = DetectionFindingRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.finding_info_uid = Some(uid.clone());
    d.zt_dedup_key = Some(uid);
    d.finding_info_title = str_at(value, &["threatInfo", "threatName"]);
    d.finding_info_types = str_at(value, &["threatInfo", "classification"])
        .into_iter()
        .collect();
    d.finding_info_analytic_name = engine_names(value);
    // Dynamic detections are SentinelOne's behavioral engine, static ones its static AI model.
    d.finding_info_analytic_type = str_at(value, &["threatInfo", "detectionType"]).and_then(|t| {
        match t.to_ascii_lowercase().as_str() {
            "dynamic" => Some(Cow::Borrowed("behavioral")),
            "static" => Some(Cow::Borrowed("learning")),
            _ => None,
        }
    });
    d.finding_info_created_time = Some(created);
    d.finding_info_first_seen_time = time_ms(value, &["threatInfo", "identifiedAt"]);
    d.modified_time = time_ms(value, &["threatInfo", "updatedAt"]);
    d.confidence_id = Some(confidence);
    d.is_alert = Some(true);
    d.attacks_technique_uids = technique_ids(value);
    set_device(value, d);
    d.src_endpoint_ip = str_at(value, &["agentDetectionInfo", "agentIpV4"]).and_then(ip_text);
    d.user_name = first_str(
        value,
        &[
            &["threatInfo", "processUser"],
            &["agentDetectionInfo", "agentLastLoggedInUpn"],
            &["agentDetectionInfo", "agentLastLoggedInUserName"],
        ],
    );
    Ok(row)
}

const ALERT_READ: Read = &[
    (
        "alertInfo",
        &[
            "alertId",
            "createdAt",
            "updatedAt",
            "eventType",
            "incidentStatus",
            "analystVerdict",
        ],
    ),
    (
        "ruleInfo",
        &["id", "name", "description", "severity", "treatAsThreat"],
    ),
    ("agentRealtimeInfo", &["id", "name"]),
    ("agentDetectionInfo", &["accountId"]),
    ("sourceProcessInfo", &["storyline"]),
];

fn alert<'v>(
    value: &'v Value,
    mut common: Common<'v>,
) -> Result<DetectionFindingRow<'v>, ParseError> {
    let uid =
        str_at(value, &["alertInfo", "alertId"]).ok_or_else(|| missing("alertInfo.alertId"))?;
    let created = time_ms(value, &["alertInfo", "createdAt"])
        .or_else(|| time_ms(value, &["alertInfo", "reportedAt"]))
        .or_else(|| time_ms(value, &["alertInfo", "updatedAt"]))
        .ok_or_else(|| missing("alertInfo.createdAt"))?;
    let incident = str_at(value, &["alertInfo", "incidentStatus"]);
    common.time = Some(created);
    common.metadata_uid = Some(Cow::Owned(version_uid(
        &uid,
        time_ms(value, &["alertInfo", "updatedAt"]).unwrap_or(created),
    )));
    common.metadata_correlation_uid = first_str(
        value,
        &[
            &["sourceProcessInfo", "storyline"],
            &["targetProcessInfo", "tgtProcStorylineId"],
        ],
    );
    common.metadata_event_code = Some(Cow::Borrowed("alert"));
    common.metadata_log_name = Some(Cow::Borrowed("cloud-detection alerts"));
    common.activity_id = Some(1);
    common.activity_name = Some(Cow::Borrowed("Create"));
    common.severity_id =
        Some(str_at(value, &["ruleInfo", "severity"]).map_or(0, |s| rule_severity(&s)));
    common.status_id = Some(incident.as_deref().map_or(0, incident_status));
    common.status_code = incident;
    common.status_detail = str_at(value, &["alertInfo", "analystVerdict"]);
    common.message = str_at(value, &["ruleInfo", "description"]);
    common.unmapped = leftover(value, ALERT_READ).map(Cow::Owned);
    let mut row = DetectionFindingRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.finding_info_uid = Some(uid.clone());
    d.zt_dedup_key = Some(uid);
    d.finding_info_title = str_at(value, &["ruleInfo", "name"]);
    d.finding_info_desc = str_at(value, &["ruleInfo", "description"]);
    d.finding_info_analytic_uid = str_at(value, &["ruleInfo", "id"]);
    d.finding_info_analytic_name = str_at(value, &["ruleInfo", "name"]);
    d.finding_info_analytic_type = Some(Cow::Borrowed("rule"));
    d.finding_info_types = str_at(value, &["alertInfo", "eventType"])
        .into_iter()
        .collect();
    d.finding_info_created_time = Some(created);
    d.modified_time = time_ms(value, &["alertInfo", "updatedAt"]);
    d.confidence_id = Some(
        match str_at(value, &["ruleInfo", "treatAsThreat"])
            .map(|t| t.to_ascii_lowercase())
            .as_deref()
        {
            Some("malicious") => 3,
            Some("suspicious") => 2,
            _ => 0,
        },
    );
    d.is_alert = Some(true);
    set_device(value, d);
    d.src_endpoint_ip = first_str(
        value,
        &[&["alertInfo", "srcIp"], &["alertInfo", "srcMachineIp"]],
    )
    .and_then(ip_text);
    // A logon alert (WINLOGONATTEMPT) is about the account that logged on, not the process.
    d.user_name = first_str(
        value,
        &[
            &["alertInfo", "loginsUserName"],
            &["sourceProcessInfo", "user"],
        ],
    );
    Ok(row)
}

/// The agent a threat or alert is on: threats name it `agentId` / `agentComputerName`, alerts
/// `id` / `name`.
fn set_device<'v>(value: &'v Value, d: &mut DetectionFindingColumns<'v>) {
    d.device_uid = first_str(
        value,
        &[
            &["agentRealtimeInfo", "agentId"],
            &["agentRealtimeInfo", "id"],
        ],
    );
    d.device_hostname = first_str(
        value,
        &[
            &["agentRealtimeInfo", "agentComputerName"],
            &["agentRealtimeInfo", "name"],
            &["agentDetectionInfo", "name"],
        ],
    );
}

/// The engines that detected a threat: `detectionEngines[].title`, else `engines[]`, joined.
fn engine_names(value: &Value) -> Option<Cow<'_, str>> {
    let mut names: Vec<Cow<'_, str>> = array_at(value, &["threatInfo", "detectionEngines"])
        .iter()
        .filter_map(|e| str_at(e, &["title"]))
        .collect();
    if names.is_empty() {
        names = array_at(value, &["threatInfo", "engines"])
            .iter()
            .filter_map(as_text)
            .collect();
    }
    match names.len() {
        0 => None,
        1 => names.pop(),
        _ => Some(Cow::Owned(names.join(", "))),
    }
}

/// OCSF severity and confidence ids of a `confidenceLevel`: malicious → 4 High / 3 High,
/// suspicious → 3 Medium / 2 Medium, anything else (`n/a`, missing) → 0 Unknown / 0 Unknown.
/// Mitigation and verdict do not change it: the state is in `status_*`.
fn confidence_severity(level: Option<&str>) -> (i32, i32) {
    match level.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
        Some("malicious") => (4, 3),
        Some("suspicious") => (3, 2),
        _ => (0, 0),
    }
}

/// OCSF severity id of a rule severity (`ruleInfo.severity` Low … Critical, activity
/// `data.severity` `E_LOW` … `E_CRITICAL`): Informational 1, Low 2, Medium 3, High 4,
/// Critical 5, anything else 0.
fn rule_severity(text: &str) -> i32 {
    let text = text.trim().to_ascii_lowercase();
    match text.strip_prefix("e_").unwrap_or(&text) {
        "info" | "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

/// OCSF finding status id of an `incidentStatus` (threats `in_progress`, alerts `In Progress`):
/// 1 New, 2 In Progress, 4 Resolved, anything else 0.
fn incident_status(text: &str) -> i32 {
    let folded: String = text
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    match folded.as_str() {
        "unresolved" | "new" => 1,
        "inprogress" => 2,
        "resolved" => 4,
        _ => 0,
    }
}

/// MITRE technique ids of a threat's indicators (`indicators[].tactics[].techniques[]`): the
/// `name` when it is an id (`T1059.001`), else the id in the `link`
/// (`…/techniques/T1059/001/`); de-duplicated, in order.
fn technique_ids(value: &Value) -> Vec<Cow<'_, str>> {
    let mut ids: Vec<Cow<'_, str>> = Vec::new();
    for indicator in array_at(value, &["indicators"]) {
        for tactic in array_at(indicator, &["tactics"]) {
            for technique in array_at(tactic, &["techniques"]) {
                let id = str_at(technique, &["name"])
                    .filter(|n| is_technique_id(n))
                    .or_else(|| {
                        str_at(technique, &["link"])
                            .and_then(|l| technique_from_link(&l))
                            .map(Cow::Owned)
                    });
                if let Some(id) = id
                    && !ids.contains(&id)
                {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// `T` and four digits, optionally `.` and three digits.
fn is_technique_id(text: &str) -> bool {
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match text.as_bytes() {
        [b'T', rest @ ..] if rest.len() == 4 => digits(rest),
        [b'T', rest @ ..] if rest.len() == 8 => {
            rest.get(..4).is_some_and(digits)
                && rest.get(4) == Some(&b'.')
                && rest.get(5..).is_some_and(digits)
        }
        _ => false,
    }
}

/// `https://attack.mitre.org/techniques/T1059/001/` → `T1059.001`.
fn technique_from_link(link: &str) -> Option<String> {
    let (_, path) = link.split_once("/techniques/")?;
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let id = parts.next()?;
    let text = match parts.next() {
        Some(sub) if sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{id}.{sub}")
        }
        _ => id.to_string(),
    };
    is_technique_id(&text).then_some(text)
}

// ---------------------------------------------------------------------------------------------
// Activities.

fn activity<'v>(
    value: &'v Value,
    record: &[u8],
    mut common: Common<'v>,
    site: &Site,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let kind = match at(value, &["activityType"]) {
        None => return Err(missing("activityType")),
        Some(v) => as_i64(v).ok_or_else(|| {
            invalid(
                "activityType",
                as_text(v).as_deref().unwrap_or("(not a number)"),
            )
        })?,
    };
    let time = time_ms(value, &["createdAt"])
        .or_else(|| time_ms(value, &["updatedAt"]))
        .ok_or_else(|| missing("createdAt"))?;
    let code = kind.to_string();
    common.time = Some(time);
    // Activity ids are unique per activity; an export without them is hashed, so a redelivered
    // record keeps its uid.
    common.metadata_uid = Some(
        first_str(value, &[&["id"], &["activityUuid"]])
            .unwrap_or_else(|| Cow::Owned(content_uid("s1-activity", record))),
    );
    common.metadata_log_name = Some(Cow::Borrowed("activities"));
    common.message = str_at(value, &["primaryDescription"]);
    if LOGIN_TYPES.contains(&kind) {
        common.metadata_event_code = Some(Cow::Owned(code));
        let mut row = console_sign_in(value, common, kind, site);
        out.authentication.append(&mut row);
    } else if THREAT_TYPES.contains(&kind) {
        common.metadata_event_code = Some(Cow::Owned(code));
        let mut row = threat_activity(value, common, kind);
        out.detection_finding.append(&mut row);
    } else {
        let mut row = activity_base_event(value, common);
        out.append_base_event(&mut row, &code, record);
    }
    Ok(1)
}

const SIGN_IN_READ: Read = &[
    (
        "",
        &[
            "id",
            "activityType",
            "createdAt",
            "primaryDescription",
            "userId",
            "accountId",
            "comments",
        ],
    ),
    ("data", &["username", "ipAddress", "reason"]),
];

/// A management-console sign-in activity.
fn console_sign_in<'v>(
    value: &'v Value,
    mut common: Common<'v>,
    kind: i64,
    site: &Site,
) -> AuthenticationRow<'v> {
    let reason = first_str(value, &[&["comments"], &["data", "reason"]]);
    let decision: Option<&'static str> = match kind {
        27 | 3629 => Some("allow"),
        // A logoff decides nothing (Okta's `user.session.end` likewise).
        33 => None,
        133 => Some(sign_in_failure(reason.as_deref().unwrap_or(""))),
        134 => Some("deny_credentials"),
        // 139: the user failed to start an unrestricted session, for a reason not stated.
        _ => Some("other"),
    };
    let (activity_id, activity_name) = if kind == 33 {
        (2, "Logoff")
    } else {
        (1, "Logon")
    };
    common.activity_id = Some(activity_id);
    common.activity_name = Some(Cow::Borrowed(activity_name));
    common.status_id = Some(match decision {
        None => 1,
        // Every activity type mapped to `other` reports a failure.
        Some("other") => 2,
        Some(d) => decision_outcome(d).2,
    });
    common.status_detail = reason;
    common.unmapped = leftover(value, SIGN_IN_READ).map(Cow::Owned);
    let mut row = AuthenticationRow {
        common,
        ..Default::default()
    };
    let a = &mut row.own;
    let name = str_at(value, &["data", "username"]);
    a.user_uid = str_at(value, &["userId"]);
    a.user_email_addr = name.clone().filter(|n| n.contains('@'));
    a.user_type_id = Some(
        if name.as_deref().is_some_and(|n| site.is_service_account(n)) {
            4
        } else {
            1
        },
    );
    a.user_name = name;
    a.user_is_privileged =
        str_at(value, &["data", "role"]).map(|r| r.to_ascii_lowercase().contains("admin"));
    a.src_endpoint_ip = str_at(value, &["data", "ipAddress"])
        .and_then(ip_text)
        .or_else(|| described_ip(value));
    a.service_name = Some(Cow::Borrowed(CONSOLE));
    a.is_interactive = Some(true);
    a.is_remote = Some(true);
    if let Some(decision) = decision {
        let (action_id, disposition_id, _) = decision_outcome(decision);
        a.zt_decision = Some(Cow::Borrowed(decision));
        a.action_id = Some(action_id);
        a.disposition_id = Some(disposition_id);
    }
    a.is_mfa = Some(kind == 3629 || decision == Some("mfa_failed"));
    if kind == 3629 {
        a.auth_factor = Some(Cow::Borrowed("recovery_code"));
        a.auth_factor_type_id = Some(99);
        a.auth_factors = vec![Cow::Borrowed("recovery_code")];
        a.zt_mfa_satisfied = Some(true);
    }
    super::tag_auth_app(a, site);
    // The EDR console controls every protected host: privileged whatever the site lists (as
    // Falcon console sign-ins).
    a.zt_privileged_target = Some(true);
    row
}

/// The decision for a console sign-in failure reason (`comments`, as the ASIM parser lists
/// them): a lock → locked_out, a wrong 2FA code → mfa_failed, "IP/User mismatch" or "no active
/// site" → deny_policy, anything else ("invalid password", no reason) → deny_credentials.
fn sign_in_failure(reason: &str) -> &'static str {
    let reason = reason.to_ascii_lowercase();
    if reason.contains("lock") {
        "locked_out"
    } else if reason.contains("2fa") || reason.contains("two-factor") {
        "mfa_failed"
    } else if reason.contains("mismatch") || reason.contains("no active site") {
        "deny_policy"
    } else {
        "deny_credentials"
    }
}

/// The address in "… with IP Address 198.51.100.23." when `data.ipAddress` is missing.
fn described_ip(value: &Value) -> Option<Cow<'_, str>> {
    let text = str_at(value, &["primaryDescription"])?;
    let (_, rest) = text.split_once("IP Address ")?;
    let token = rest
        .split_whitespace()
        .next()?
        .trim_end_matches(['.', ',', ';']);
    token
        .parse::<IpAddr>()
        .ok()
        .map(|ip| Cow::Owned(ip.to_string()))
}

const THREAT_ACTIVITY_READ: Read = &[
    (
        "",
        &[
            "id",
            "activityType",
            "createdAt",
            "primaryDescription",
            "threatId",
            "agentId",
            "accountId",
        ],
    ),
    (
        "data",
        &[
            "computerName",
            "confidenceLevel",
            "fileDisplayName",
            "threatClassification",
            "alertId",
            "ruleId",
            "ruleName",
            "ruleDescription",
            "severity",
            "detectedAt",
        ],
    ),
];

/// A new-threat or custom-rule alert activity: the detection as the activity feed reports it.
/// Its `metadata_uid` is the activity's; its finding is the threat (or alert), so the same
/// threat read from `/threats` and from `/activities` shares `finding_info_uid` and
/// `zt_dedup_key`.
fn threat_activity<'v>(
    value: &'v Value,
    mut common: Common<'v>,
    kind: i64,
) -> DetectionFindingRow<'v> {
    let (by_confidence, confidence) =
        confidence_severity(str_at(value, &["data", "confidenceLevel"]).as_deref());
    let severity = str_at(value, &["data", "severity"])
        .map(|s| rule_severity(&s))
        .filter(|s| *s != 0)
        .unwrap_or(by_confidence);
    let finding = first_str(
        value,
        &[&["threatId"], &["data", "threatId"], &["data", "alertId"]],
    );
    let created = common.time;
    common.activity_id = Some(1);
    common.activity_name = Some(Cow::Borrowed("Create"));
    common.severity_id = Some(severity);
    common.status_id = Some(1);
    // What the activity type says of the mitigation, in `threatInfo.mitigationStatus` words.
    common.status_detail = match kind {
        18 | 20 => Some(Cow::Borrowed("mitigated")),
        19 | 4003 | 4108 | 4109 => Some(Cow::Borrowed("not_mitigated")),
        _ => None,
    };
    common.unmapped = leftover(value, THREAT_ACTIVITY_READ).map(Cow::Owned);
    let mut row = DetectionFindingRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.finding_info_uid = finding.clone();
    d.zt_dedup_key = finding;
    let rule = str_at(value, &["data", "ruleName"]);
    d.finding_info_title = str_at(value, &["data", "fileDisplayName"]).or_else(|| rule.clone());
    d.finding_info_desc = first_str(value, &[&["data", "ruleDescription"], &["description"]]);
    d.finding_info_analytic_uid = str_at(value, &["data", "ruleId"]);
    d.finding_info_analytic_type = rule.as_ref().map(|_| Cow::Borrowed("rule"));
    d.finding_info_analytic_name = rule;
    d.finding_info_types = str_at(value, &["data", "threatClassification"])
        .into_iter()
        .collect();
    d.finding_info_created_time = created;
    d.finding_info_first_seen_time = time_ms(value, &["data", "detectedAt"]);
    d.confidence_id = Some(confidence);
    d.is_alert = Some(true);
    d.device_uid = first_str(value, &[&["agentId"], &["data", "agentId"]]);
    d.device_hostname = str_at(value, &["data", "computerName"]).or_else(|| described_host(value));
    d.src_endpoint_ip = str_at(value, &["data", "agentIpv4"]).and_then(ip_text);
    row
}

/// The host a custom-rule alert activity names last: "… detected on SRV-FILE-02."
fn described_host(value: &Value) -> Option<Cow<'_, str>> {
    let text = str_at(value, &["primaryDescription"])?;
    let (_, host) = text.rsplit_once(" detected on ")?;
    let host = host.trim().trim_end_matches('.');
    (!host.is_empty() && !host.contains(char::is_whitespace)).then(|| Cow::Owned(host.to_string()))
}

/// An activity no class maps (scans, uninstalls, policy and user administration …): who acted,
/// on which agent, and what was acted on.
fn activity_base_event<'v>(value: &'v Value, common: Common<'v>) -> BaseEventRow<'v> {
    let mut row = BaseEventRow {
        common,
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    let by_user = str_at(value, &["data", "byUser"]);
    let username =
        str_at(value, &["data", "username"]).filter(|u| !u.eq_ignore_ascii_case("unknown"));
    // With `byUser`, `username` is the user acted on (activity 23: a user added by byUser).
    own.actor_user_name = by_user.clone().or_else(|| username.clone());
    own.actor_user_uid = str_at(value, &["userId"]);
    own.actor_user_email_addr = own.actor_user_name.clone().filter(|n| n.contains('@'));
    own.device_uid = first_str(value, &[&["agentId"], &["data", "agentId"]]);
    own.device_hostname = str_at(value, &["data", "computerName"]);
    // Never `data.externalIp`: that is the agent's own public address, not the actor's.
    own.src_endpoint_ip = str_at(value, &["data", "ipAddress"]).and_then(ip_text);
    let target = if let Some(threat) = str_at(value, &["threatId"]) {
        Some((
            "threat",
            Some(threat),
            str_at(value, &["data", "fileDisplayName"]),
        ))
    } else if let Some(rule) = str_at(value, &["data", "ruleName"]) {
        Some(("rule", str_at(value, &["data", "ruleId"]), Some(rule)))
    } else if let Some(policy) = str_at(value, &["data", "policyName"]) {
        Some(("policy", None, Some(policy)))
    } else if by_user.is_some() && username.is_some() {
        Some(("user", None, username))
    } else if own.device_uid.is_some() || own.device_hostname.is_some() {
        Some(("agent", own.device_uid.clone(), own.device_hostname.clone()))
    } else {
        None
    };
    if let Some((kind, uid, name)) = target {
        own.zt_target_type = Some(Cow::Borrowed(kind));
        own.zt_target_uid = uid;
        own.zt_target_name = name;
    }
    row
}

// ---------------------------------------------------------------------------------------------
// Agents.

const AGENT_READ: Read = &[(
    "",
    &[
        "id",
        "uuid",
        "computerName",
        "osName",
        "osRevision",
        "machineType",
        "agentVersion",
        "lastActiveDate",
        "accountId",
        "siteName",
        "groupName",
    ],
)];

fn agent<'v>(value: &'v Value, mut common: Common<'v>) -> Result<DeviceStateRow<'v>, ParseError> {
    let id = first_str(value, &[&["id"], &["uuid"]]).ok_or_else(|| missing("id"))?;
    let last_active = time_ms(value, &["lastActiveDate"]);
    let time = last_active
        .or_else(|| time_ms(value, &["updatedAt"]))
        .or_else(|| time_ms(value, &["createdAt"]))
        .ok_or_else(|| missing("lastActiveDate (or updatedAt)"))?;
    // A re-poll of an unchanged agent is the same snapshot; a state change moves `updatedAt`.
    let updated = str_at(value, &["updatedAt"]);
    common.metadata_uid = Some(Cow::Owned(content_uid(
        "s1-agent",
        format!("{id}|{time}|{}", updated.as_deref().unwrap_or("")).as_bytes(),
    )));
    common.time = Some(time);
    common.metadata_event_code = Some(Cow::Borrowed("agent"));
    common.metadata_log_name = Some(Cow::Borrowed("agents"));
    common.activity_id = Some(2);
    common.activity_name = Some(Cow::Borrowed("Collect"));
    common.status_id = Some(1);
    common.unmapped = leftover(value, AGENT_READ).map(Cow::Owned);
    let mut row = DeviceStateRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_uid_alt = str_at(value, &["uuid"]).filter(|u| *u != id);
    d.device_uid = Some(id);
    d.device_hostname = str_at(value, &["computerName"]);
    d.device_os_name = str_at(value, &["osName"]);
    d.device_os_version = str_at(value, &["osRevision"]);
    d.device_type = str_at(value, &["machineType"]);
    d.device_type_id = d.device_type.as_deref().map(device_type_id);
    let flag = |key: &str| bool_at(value, &[key]) == Some(true);
    d.device_is_managed = Some(!(flag("isDecommissioned") || flag("isUninstalled")));
    d.device_last_seen_time = last_active;
    d.agent_name = Some(Cow::Borrowed("SentinelOne"));
    d.agent_version = str_at(value, &["agentVersion"]);
    d.agent_health = Some(Cow::Borrowed(agent_health(value)));
    d.security_level_id = Some(security_level(value));
    let mut groups: Vec<Cow<'v, str>> = Vec::new();
    for key in ["siteName", "groupName"] {
        if let Some(group) = str_at(value, &[key])
            && !groups.contains(&group)
        {
            groups.push(group);
        }
    }
    for tag in array_at(value, &["tags", "sentinelone"]) {
        let Some(key) = str_at(tag, &["key"]) else {
            continue;
        };
        let tag = match str_at(tag, &["value"]) {
            Some(v) => Cow::Owned(format!("{key}={v}")),
            None => key,
        };
        if !groups.contains(&tag) {
            groups.push(tag);
        }
    }
    d.device_groups = groups;
    Ok(row)
}

/// SentinelOne `machineType` → OCSF device type id (1 Server, 2 Desktop, 3 Laptop, 6 Virtual,
/// 0 Unknown, 99 Other).
fn device_type_id(machine: &str) -> i32 {
    match machine.trim().to_ascii_lowercase().as_str() {
        "server" | "kubernetes node" => 1,
        "desktop" => 2,
        "laptop" => 3,
        "kubernetes pod" | "ecs task" => 6,
        "unknown" | "" => 0,
        _ => 99,
    }
}

/// The agent's health, the first that applies: decommissioned, uninstalled, pending_uninstall,
/// inactive (not in touch with the console), network_quarantined (`networkStatus`
/// disconnected or disconnecting), out_of_date, else active.
fn agent_health(value: &Value) -> &'static str {
    let flag = |key: &str| bool_at(value, &[key]);
    let network = str_at(value, &["networkStatus"]).map(|s| s.to_ascii_lowercase());
    if flag("isDecommissioned") == Some(true) {
        "decommissioned"
    } else if flag("isUninstalled") == Some(true) {
        "uninstalled"
    } else if flag("isPendingUninstall") == Some(true) {
        "pending_uninstall"
    } else if flag("isActive") == Some(false) {
        "inactive"
    } else if matches!(network.as_deref(), Some("disconnected" | "disconnecting")) {
        "network_quarantined"
    } else if flag("isUpToDate") == Some(false) {
        "out_of_date"
    } else {
        "active"
    }
}

/// OCSF security level: 3 Compromised when the agent is infected or has active threats, else 2
/// At Risk when it is out of date or out of touch, else 1 Secure.
fn security_level(value: &Value) -> i32 {
    let infected = bool_at(value, &["infected"]) == Some(true)
        || i64_at(value, &["activeThreats"]).is_some_and(|n| n > 0);
    if infected {
        3
    } else if bool_at(value, &["isUpToDate"]) == Some(false)
        || bool_at(value, &["isActive"]) == Some(false)
    {
        2
    } else {
        1
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// A time at `path` in epoch ms: `None` when absent, unreadable, beyond
/// [`super::jv::MAX_EPOCH_SECONDS`], or the epoch itself (SentinelOne writes
/// `1970-01-01T00:00:00Z` for "not set").
fn time_ms(value: &Value, path: &[&str]) -> Option<i64> {
    super::jv::time_at(value, path)
        .filter(|ms| *ms != 0 && (ms.unsigned_abs() as f64) < super::jv::MAX_EPOCH_SECONDS * 1000.0)
}

/// What a mapping did not read, as a JSON object text: the record's members minus those named
/// in `read`, pruned by [`prune`]; `None` when nothing is left.
fn leftover(value: &Value, read: Read) -> Option<String> {
    let map = value.as_object()?;
    let listed = |keys: &[&str], key: &str| keys.iter().any(|k| k.eq_ignore_ascii_case(key));
    let top: &[&str] = read
        .iter()
        .find(|(object, _)| object.is_empty())
        .map_or(&[] as &[&str], |&(_, keys)| keys);
    let mut rest = Map::new();
    for (key, member) in map {
        if listed(top, key.as_str()) {
            continue;
        }
        let inner = read
            .iter()
            .find(|(object, _)| !object.is_empty() && object.eq_ignore_ascii_case(key.as_str()))
            .map(|(_, keys)| *keys);
        let kept = match (inner, member) {
            (Some(keys), Value::Object(object)) => {
                let left: Map<String, Value> = object
                    .iter()
                    .filter(|(k, _)| !listed(keys, k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prune(&Value::Object(left))
            }
            _ => prune(member),
        };
        if let Some(kept) = kept {
            rest.insert(key.clone(), kept);
        }
    }
    (!rest.is_empty()).then(|| Value::Object(rest).to_string())
}

/// `value` without the nulls, empty strings and empty objects and lists it holds (they say
/// nothing); `None` when nothing is left. List items keep their positions (an emptied item
/// becomes null). Recursion is bounded by serde_json's nesting limit (128).
fn prune(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .map(|item| prune(item).unwrap_or(Value::Null))
                .collect();
            (!kept.iter().all(Value::is_null)).then_some(Value::Array(kept))
        }
        Value::Object(members) => {
            let kept: Map<String, Value> = members
                .iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// The uid of one state of a threat or alert: its id and when that state was written.
fn version_uid(id: &str, updated_ms: i64) -> String {
    format!("{id}@{updated_ms}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sniff_matches_each_shape_in_any_key_case() {
        assert!(looks_like_sentinelone(
            r#"{"agentDetectionInfo":{},"agentRealtimeInfo":{},"threatInfo":{}}"#
        ));
        assert!(looks_like_sentinelone(
            r#"{"activitytype":"19","primarydescription":"Threat detected"}"#
        ));
        assert!(looks_like_sentinelone(
            r#"{"data":[{"computerName":"LT-1","infected":false,"networkStatus":"connected"}]}"#
        ));
        // Okta events carry `eventType` too; SentinelOne's keys are absent.
        assert!(!looks_like_sentinelone(
            r#"{"eventType":"user.session.start","actor":{},"outcome":{}}"#
        ));
        // A value, not a key, and a longer key that starts with one.
        assert!(!has_key(r#"{"a":"activityTypes"}"#, "activityType"));
        assert!(has_key(r#"{"ACTIVITYTYPE":1}"#, "activityType"));
        assert!(!has_key("\"activityTyp", "activityType"));
    }

    #[test]
    fn severity_bands_and_edges() {
        assert_eq!(confidence_severity(Some("malicious")), (4, 3));
        assert_eq!(confidence_severity(Some("Suspicious")), (3, 2));
        assert_eq!(confidence_severity(Some("n/a")), (0, 0));
        assert_eq!(confidence_severity(None), (0, 0));
        assert_eq!(rule_severity("Critical"), 5);
        assert_eq!(rule_severity("E_CRITICAL"), 5);
        assert_eq!(rule_severity("E_MEDIUM"), 3);
        assert_eq!(rule_severity("Low"), 2);
        assert_eq!(rule_severity("High"), 4);
        assert_eq!(rule_severity("E_INFO"), 1);
        assert_eq!(rule_severity("E_"), 0);
        assert_eq!(rule_severity(""), 0);
        assert_eq!(rule_severity("UNDEFINED"), 0);
    }

    #[test]
    fn incident_statuses_in_both_spellings() {
        assert_eq!(incident_status("unresolved"), 1);
        assert_eq!(incident_status("Unresolved"), 1);
        assert_eq!(incident_status("in_progress"), 2);
        assert_eq!(incident_status("In Progress"), 2);
        assert_eq!(incident_status("RESOLVED"), 4);
        assert_eq!(incident_status("escalated"), 0);
    }

    #[test]
    fn technique_ids_from_names_and_links() {
        assert!(is_technique_id("T1059"));
        assert!(is_technique_id("T1059.001"));
        assert!(!is_technique_id("T105"));
        assert!(!is_technique_id("T1059.01"));
        assert!(!is_technique_id("T1059x001"));
        assert!(!is_technique_id("Execution"));
        assert_eq!(
            technique_from_link("https://attack.mitre.org/techniques/T1547/001/").as_deref(),
            Some("T1547.001")
        );
        assert_eq!(
            technique_from_link("https://attack.mitre.org/techniques/T1027/").as_deref(),
            Some("T1027")
        );
        assert_eq!(technique_from_link("https://example.com/x"), None);
        let threat = json!({"indicators": [
            {"tactics": [{"techniques": [{"name": "T1059.001"}, {"name": "PowerShell",
                "link": "https://attack.mitre.org/techniques/T1059/001/"}]}]},
            {"tactics": [{"techniques": [{"name": "T1027"}]}]},
            {"tactics": []}
        ]});
        assert_eq!(technique_ids(&threat), ["T1059.001", "T1027"]);
    }

    #[test]
    fn sign_in_failure_reasons() {
        assert_eq!(sign_in_failure("invalid password"), "deny_credentials");
        assert_eq!(sign_in_failure("invalid 2FA code"), "mfa_failed");
        assert_eq!(
            sign_in_failure("user temporarily locked 2FA attempt"),
            "locked_out"
        );
        assert_eq!(sign_in_failure("IP/User mismatch"), "deny_policy");
        assert_eq!(sign_in_failure("no active site"), "deny_policy");
        assert_eq!(sign_in_failure(""), "deny_credentials");
    }

    #[test]
    fn addresses_and_hosts_from_descriptions() {
        let v = json!({"primaryDescription": "The management user a@b.example logged in to the management console with IP Address 198.51.100.23."});
        assert_eq!(described_ip(&v).as_deref(), Some("198.51.100.23"));
        let v = json!({"primaryDescription": "with IP Address unknown."});
        assert_eq!(described_ip(&v), None);
        let v = json!({"primaryDescription": "Alert created for sshd from Custom Rule: r in Group G, detected on SRV-1."});
        assert_eq!(described_host(&v).as_deref(), Some("SRV-1"));
        let v = json!({"primaryDescription": "detected on two words."});
        assert_eq!(described_host(&v), None);
    }

    #[test]
    fn agent_health_and_security_level() {
        let healthy = json!({"isActive": true, "infected": false, "activeThreats": 0,
            "networkStatus": "connected", "isUpToDate": true});
        assert_eq!(agent_health(&healthy), "active");
        assert_eq!(security_level(&healthy), 1);
        let infected = json!({"isActive": true, "infected": false, "activeThreats": "2"});
        assert_eq!(security_level(&infected), 3);
        let isolated = json!({"isActive": true, "networkStatus": "Disconnected",
            "isUpToDate": false});
        assert_eq!(agent_health(&isolated), "network_quarantined");
        assert_eq!(security_level(&isolated), 2);
        let gone = json!({"isActive": false, "isDecommissioned": true});
        assert_eq!(agent_health(&gone), "decommissioned");
        assert_eq!(device_type_id("Kubernetes Pod"), 6);
        assert_eq!(device_type_id("storage"), 99);
    }

    #[test]
    fn times_skip_placeholders_and_absurd_values() {
        let v = json!({"a": "1970-01-01T00:00:00Z", "b": "2022-12-07 17:36:05.076",
            "c": "9999-12-31T23:59:59Z", "d": "never"});
        assert_eq!(time_ms(&v, &["a"]), None);
        assert_eq!(time_ms(&v, &["b"]), Some(1_670_434_565_076));
        assert_eq!(time_ms(&v, &["c"]), None);
        assert_eq!(time_ms(&v, &["d"]), None);
    }

    #[test]
    fn leftover_drops_what_was_read_and_what_says_nothing() {
        let v = json!({"id": "1", "threatInfo": {"threatName": "x", "sha1": "ab", "md5": null},
            "containerInfo": {"id": null, "name": null}, "whiteningOptions": ["hash"],
            "indicators": [], "note": ""});
        let read: Read = &[("", &["id"]), ("threatInfo", &["threatName"])];
        assert_eq!(
            leftover(&v, read).as_deref(),
            Some(r#"{"threatInfo":{"sha1":"ab"},"whiteningOptions":["hash"]}"#)
        );
        assert_eq!(leftover(&json!({"id": "1"}), read), None);
    }
}
