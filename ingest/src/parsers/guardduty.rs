//! AWS GuardDuty findings → `detection_finding`.
//!
//! Input, one finding per record, in each form GuardDuty publishes it:
//! - **EventBridge events** (Lambda, Firehose, CloudWatch Logs, Kafka): `source` `aws.guardduty`,
//!   `detail-type` `GuardDuty Finding`, the finding under `detail`;
//! - the **S3 export** (`AWSLogs/<account>/GuardDuty/<region>/…/*.jsonl.gz`, gunzipped by the
//!   file reader): one bare finding per line;
//! - **GetFindings** answers: the REST API's `{"findings": [...]}` (camelCase) and the CLI's
//!   `aws guardduty get-findings` output `{"Findings": [...]}` (PascalCase: the accessors match
//!   keys ignoring case, so one mapping reads both), or a bare array of findings.
//!
//! | finding field | column |
//! |---|---|
//! | `id` | `finding_info_uid`, `zt_dedup_key` |
//! | `updatedAt` (else `createdAt`) | `time`, `modified_time` |
//! | `createdAt` / `service.eventFirstSeen` / `service.eventLastSeen` | `finding_info_created_time` / `_first_seen_time` / `_last_seen_time` |
//! | `service.count` | `finding_info_related_events_count` |
//! | `severity` (1.0–10.0) | `severity_id` by GuardDuty's bands (Low < 4 ≤ Medium < 7 ≤ High < 9 ≤ Critical), `risk_score` = severity × 10 |
//! | `type` (`ThreatPurpose:ResourceType/ThreatFamily.Mechanism!Artifact`) | `metadata_event_code`, `finding_info_analytic_uid`, `finding_info_types` (with the threat purpose) |
//! | `title` / `description` | `finding_info_title`, `message` / `finding_info_desc` |
//! | `service.archived` | `status_id` 5 Archived (`ARCHIVED`), else 1 New (`ACTIVE`); activity 3 Close |
//! | `resource.instanceDetails` | `device_uid` (instance id), `device_hostname` (private DNS name) |
//! | `resource.accessKeyDetails` / Kubernetes user / RDS user | `user_uid`, `user_name` |
//! | the remote address of the action (or the attack sequence's first endpoint) | `src_endpoint_ip` |
//!
//! Invariants:
//! - GuardDuty re-publishes one finding id on every aggregation (count, last seen and the latest
//!   occurrence's details change). **Each version is a row**: `metadata_uid` hashes the id and
//!   `updatedAt` in epoch milliseconds, so a version redelivered (EventBridge at-least-once, the
//!   S3 export of the same detector, a re-read object, a `+00:00` spelling) counts once, and
//!   views that want one finding group by `finding_info_uid`.
//! - `is_alert` is false only for GuardDuty's sample findings (`additionalInfo.sample`, or the
//!   `[SAMPLE]` title prefix); archived versions are still alerts (status 5 says they are closed).
//! - The MITRE ATT&CK tactic of the threat purpose has no column: it is kept in `unmapped` as
//!   `attacks_tactic_uids`, next to what the row does not hold (`resource`, the rest of `service`,
//!   `arn`, `confidence`, the EventBridge envelope under `eventbridge`).
//!
//! GuardDuty's other EventBridge events (Malware Protection scan results, Runtime Protection
//! health, …) go to `base_event` with the detail-type as their event type. EventBridge events
//! about GuardDuty's API ("AWS API Call via CloudTrail") are CloudTrail records, and Security Hub
//! (ASFF) copies of findings are Security Hub's format: both are refused, not mapped.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::jv::{
    MAX_EPOCH_SECONDS, array_at, as_text, at, bool_at, f64_at, get, i64_at, invalid, missing,
    parse_object, str_at,
};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, ip_text, parse_timestamp_ms};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{BaseEventRow, Common, DetectionFindingRow, TableBuilders};

/// AWS GuardDuty findings (EventBridge events, S3 export lines, GetFindings answers).
pub static SPEC: VendorSpec = VendorSpec {
    name: "guardduty",
    aliases: &["aws_guardduty"],
    framing: Framing::Json,
    envelope_keys: &["Findings", "findings"],
    stateful: false,
    sniff: Sniff::Json(looks_like_guardduty),
    parser: |_site| Box::new(GuardDutyParser),
};

/// The guardduty format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

/// Parses GuardDuty findings; stateless, and no site tags apply to findings.
pub struct GuardDutyParser;

/// The EventBridge detail-type of a finding (also the log name of bare findings).
const FINDING_DETAIL_TYPE: &str = "GuardDuty Finding";

/// Whether a JSON record is a GuardDuty finding or one of GuardDuty's own EventBridge events.
///
/// An EventBridge event decides by its envelope: `detail-type` `GuardDuty …` from `source`
/// `aws.guardduty` (an "AWS API Call via CloudTrail" event about GuardDuty's API is CloudTrail's,
/// and a Security Hub event carrying a GuardDuty finding is Security Hub's). A bare finding (an
/// S3 export line, an API or CLI answer in any key case) names its own ARN,
/// `arn:<partition>:guardduty:<region>:<account>:detector/<d>/finding/<id>`, beside its
/// `schemaVersion`; a Security Hub (ASFF) copy names the same ARN but has a `ProductArn`, and a
/// CloudTrail record about GuardDuty has `eventSource` and `eventName`.
pub fn looks_like_guardduty(head: &str) -> bool {
    // Only an EventBridge envelope has a `detail-type`: the first one is the envelope's.
    if let Some(kind) = string_members(head, "detail-type").next() {
        return kind.starts_with("GuardDuty ")
            && string_members(head, "source").any(|s| s == "aws.guardduty");
    }
    let lower = head.to_ascii_lowercase();
    lower.contains("\"schemaversion\"")
        && lower.contains(":guardduty:")
        && lower.contains("/finding/")
        && !lower.contains("\"productarn\"")
        && !(lower.contains("\"eventsource\"") && lower.contains("\"eventname\""))
}

/// The string values of the `"key": "…"` members in `head`, at any depth, in order. A value is
/// read up to its first quote: an escaped quote cuts it short, which the prefix and equality
/// checks above can afford.
fn string_members<'h>(head: &'h str, key: &'static str) -> impl Iterator<Item = &'h str> + 'h {
    let quoted = format!("\"{key}\"");
    let mut rest = head;
    std::iter::from_fn(move || {
        loop {
            let found = rest.find(quoted.as_str())?;
            rest = rest.get(found + quoted.len()..)?;
            // A key is followed by a colon; the same text as a value (in a list) is not.
            let Some(value) = rest
                .trim_start()
                .strip_prefix(':')
                .map(str::trim_start)
                .and_then(|v| v.strip_prefix('"'))
            else {
                continue;
            };
            let end = value.find('"')?;
            return value.get(..end);
        }
    })
}

impl Parser for GuardDutyParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a GuardDuty")?;
        let (finding, envelope, log_name) = match eventbridge(&value)? {
            Some((detail_type, detail)) if detail_type == FINDING_DETAIL_TYPE => {
                (detail, Some(&value), detail_type)
            }
            Some((detail_type, detail)) => {
                let mut row = service_event(&value, detail, &detail_type, record, raw_ref)?;
                out.append_base_event(&mut row, &detail_type, record);
                return Ok(1);
            }
            None => (&value, None, Cow::Borrowed(FINDING_DETAIL_TYPE)),
        };
        let mut row = map_finding(finding, envelope, log_name, raw_ref)?;
        out.detection_finding.append(&mut row);
        Ok(1)
    }
}

/// The detail-type and `detail` of an EventBridge event; `None` for a bare finding (which has
/// neither `source` nor `detail-type`).
fn eventbridge(value: &Value) -> Result<Option<(Cow<'_, str>, &Value)>, ParseError> {
    let detail_type = str_at(value, &["detail-type"]);
    let source = str_at(value, &["source"]);
    if detail_type.is_none() && source.is_none() {
        return Ok(None);
    }
    if source.as_deref() != Some("aws.guardduty") {
        return Err(ParseError::new(
            ErrorKind::InvalidJson,
            format!(
                "an EventBridge event from source {:?}, not aws.guardduty",
                source.as_deref().unwrap_or("")
            ),
        ));
    }
    // Without a detail-type (a pipeline dropped it), the detail is read as a finding.
    let detail_type = detail_type.unwrap_or(Cow::Borrowed(FINDING_DETAIL_TYPE));
    if !detail_type.starts_with("GuardDuty ") {
        // "AWS API Call via CloudTrail" and the like: CloudTrail's record of a GuardDuty call.
        return Err(ParseError::new(
            ErrorKind::InvalidJson,
            format!(
                "EventBridge detail-type {:?} is not a GuardDuty event (CloudTrail records of \
                 GuardDuty API calls are read as cloudtrail)",
                detail_type.chars().take(80).collect::<String>()
            ),
        ));
    }
    let detail = get(value, "detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| missing("detail"))?;
    Ok(Some((detail_type, detail)))
}

/// Top-level finding members a row holds; the others go to `unmapped`. `service` is listed
/// because its unread members are added to `unmapped` on their own.
const FINDING_READ: &[&str] = &[
    "id",
    "accountId",
    "region",
    "type",
    "severity",
    "createdAt",
    "updatedAt",
    "title",
    "description",
    "associatedAttackSequenceArn",
    "service",
];

/// One finding version → one `detection_finding` row.
fn map_finding<'v>(
    finding: &'v Value,
    envelope: Option<&'v Value>,
    log_name: Cow<'v, str>,
    raw_ref: &'v str,
) -> Result<DetectionFindingRow<'v>, ParseError> {
    if get(finding, "ProductArn").is_some() {
        return Err(ParseError::new(
            ErrorKind::InvalidJson,
            "a Security Hub (ASFF) finding (it has a ProductArn), not GuardDuty's own format",
        ));
    }
    let id = str_at(finding, &["id"]).ok_or_else(|| missing("id"))?;
    let created = timestamp(finding, "createdAt")?;
    let updated = timestamp(finding, "updatedAt")?;
    let time = updated
        .or(created)
        .ok_or_else(|| missing("updatedAt (or createdAt)"))?;
    let service = get(finding, "service");
    let service_str = |key: &str| service.and_then(|s| str_at(s, &[key]));
    let service_time = |key: &str| {
        service
            .and_then(|s| str_at(s, &[key]))
            .and_then(|t| parse_timestamp_ms(&t))
            .filter(|ms| within_calendar(*ms))
    };
    let kind = str_at(finding, &["type"]);
    let purpose = kind.as_deref().and_then(threat_purpose);
    let severity = f64_at(finding, &["severity"]);
    let archived = service.and_then(|s| bool_at(s, &["archived"]));
    let count = service
        .and_then(|s| i64_at(s, &["count"]))
        .filter(|n| *n >= 0);
    let first_seen = service_time("eventFirstSeen");
    let last_seen = service_time("eventLastSeen");
    let feature = service_str("featureName");
    let feedback = service_str("userFeedback");

    let (activity_id, activity_name) = if archived == Some(true) {
        (3, "Close")
    } else if updated.is_none() || updated == created {
        (1, "Create")
    } else {
        (2, "Update")
    };
    let (status_id, status_code) = match archived {
        Some(true) => (5, Some("ARCHIVED")),
        Some(false) => (1, Some("ACTIVE")),
        None => (0, None),
    };
    // A sequence groups its member findings: they name it, it names itself.
    let correlation = str_at(finding, &["associatedAttackSequenceArn"]).or_else(|| {
        purpose
            .filter(|p| p.eq_ignore_ascii_case("AttackSequence"))
            .and_then(|_| str_at(finding, &["arn"]))
    });
    let title = str_at(finding, &["title"]).or_else(|| kind.clone());

    // What the row does not hold: the finding's other members, the rest of `service`, the
    // EventBridge envelope, and the ATT&CK tactics that have no column. Members the mapping
    // could not read (a severity that is no number) stay here too.
    let mut read: Vec<&str> = FINDING_READ.to_vec();
    if severity.is_none() {
        read.retain(|k| *k != "severity");
    }
    let mut rest = rest_of(finding, &read);
    if let Some((key, value)) = member(finding, "service") {
        let mut service_read: Vec<&str> = Vec::new();
        for (name, mapped) in [
            ("archived", archived.is_some()),
            ("count", count.is_some()),
            ("eventFirstSeen", first_seen.is_some()),
            ("eventLastSeen", last_seen.is_some()),
            ("featureName", feature.is_some()),
            ("userFeedback", feedback.is_some()),
        ] {
            if mapped {
                service_read.push(name);
            }
        }
        match value {
            Value::Object(_) => {
                let service_rest = rest_of(value, &service_read);
                if !service_rest.is_empty() {
                    rest.insert(key.clone(), Value::Object(service_rest));
                }
            }
            Value::Null => {}
            other => {
                rest.insert(key.clone(), other.clone());
            }
        }
    }
    if let Some(envelope) = envelope {
        let wrapper = rest_of(envelope, &["detail"]);
        if !wrapper.is_empty() {
            rest.insert("eventbridge".to_string(), Value::Object(wrapper));
        }
    }
    let tactics = tactic_uids(kind.as_deref(), service);
    if !tactics.is_empty() {
        rest.insert(
            "attacks_tactic_uids".to_string(),
            Value::Array(tactics.into_iter().map(Value::String).collect()),
        );
    }

    let common = Common {
        time: Some(time),
        activity_id: Some(activity_id),
        activity_name: Some(Cow::Borrowed(activity_name)),
        severity_id: Some(severity_id(severity)),
        status_id: Some(status_id),
        status_code: status_code.map(Cow::Borrowed),
        status_detail: feedback,
        message: title.clone(),
        metadata_uid: Some(Cow::Owned(version_uid(&id, time))),
        metadata_correlation_uid: correlation,
        metadata_event_code: kind.clone(),
        metadata_log_name: Some(log_name),
        metadata_product_name: Some(Cow::Borrowed("guardduty")),
        metadata_product_vendor_name: Some(Cow::Borrowed("AWS")),
        cloud_provider: Some(Cow::Borrowed("AWS")),
        // The member account the finding is about, not the account the event was routed to.
        cloud_account_uid: str_at(finding, &["accountId"])
            .or_else(|| envelope.and_then(|e| str_at(e, &["account"]))),
        cloud_region: str_at(finding, &["region"])
            .or_else(|| envelope.and_then(|e| str_at(e, &["region"]))),
        raw_ref: Some(Cow::Borrowed(raw_ref)),
        unmapped: (!rest.is_empty()).then(|| Cow::Owned(Value::Object(rest).to_string())),
        ..Common::default()
    };
    let mut row = DetectionFindingRow {
        common,
        ..DetectionFindingRow::default()
    };
    let d = &mut row.own;
    d.finding_info_uid = Some(id.clone());
    d.zt_dedup_key = Some(id);
    d.finding_info_title = title;
    d.finding_info_desc = str_at(finding, &["description"]);
    d.finding_info_analytic_uid = kind.clone();
    d.finding_info_analytic_name = feature.or(Some(Cow::Borrowed("GuardDuty")));
    d.finding_info_analytic_type = Some(Cow::Borrowed(analytic_type(kind.as_deref())));
    if let Some(kind) = &kind {
        d.finding_info_types.push(kind.clone());
    }
    if let Some(purpose) = purpose {
        d.finding_info_types.push(Cow::Owned(purpose.to_string()));
    }
    d.finding_info_created_time = created;
    d.finding_info_first_seen_time = first_seen;
    d.finding_info_last_seen_time = last_seen;
    d.finding_info_related_events_count = count;
    d.modified_time = updated;
    d.attacks_technique_uids = technique_uids(kind.as_deref(), service);
    d.risk_score = risk_score(severity);
    d.is_alert = Some(!is_sample(service, d.finding_info_title.as_deref()));
    let resource = get(finding, "resource");
    let instance = resource.and_then(|r| get(r, "instanceDetails"));
    d.device_uid = instance.and_then(|i| str_at(i, &["instanceId"]));
    d.device_hostname = instance
        .and_then(|i| array_at(i, &["networkInterfaces"]).first())
        .and_then(|n| str_at(n, &["privateDnsName"]));
    if let Some((uid, name)) = resource.and_then(resource_user) {
        d.user_uid = uid;
        d.user_name = name;
    }
    d.src_endpoint_ip = service.and_then(remote_ip);
    Ok(row)
}

/// `metadata_uid` of one version of a finding: the id and the version's time in epoch
/// milliseconds (parsed, so `…Z` and `…+00:00` spellings of one version agree).
fn version_uid(id: &str, time_ms: i64) -> String {
    content_uid("guardduty", format!("{id}|{time_ms}").as_bytes())
}

/// An optional finding timestamp: absent is `None`; present but not a time (or beyond any
/// calendar) refuses the record, since the row's time and id depend on it.
fn timestamp(value: &Value, key: &str) -> Result<Option<i64>, ParseError> {
    match str_at(value, &[key]) {
        None => Ok(None),
        Some(text) => parse_timestamp_ms(&text)
            .filter(|ms| within_calendar(*ms))
            .map(Some)
            .ok_or_else(|| invalid(key, &text)),
    }
}

/// Epoch milliseconds within [`MAX_EPOCH_SECONDS`] of 1970.
fn within_calendar(ms: i64) -> bool {
    (ms as f64 / 1000.0).abs() < MAX_EPOCH_SECONDS
}

/// OCSF severity id of GuardDuty's severity (a float), by GuardDuty's documented bands: Low
/// 1.0–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0. The float is compared with the band
/// edges, never truncated (3.95 is Low, not Medium). 0 is reserved, so 0, negative and missing
/// are Unknown; GuardDuty has no Informational level.
fn severity_id(severity: Option<f64>) -> i32 {
    match severity {
        Some(s) if s > 0.0 && s < 4.0 => 2,
        Some(s) if (4.0..7.0).contains(&s) => 3,
        Some(s) if (7.0..9.0).contains(&s) => 4,
        Some(s) if s >= 9.0 => 5,
        // NaN, 0, negative or missing.
        _ => 0,
    }
}

/// GuardDuty's 1–10 severity on the 0–100 scale of `risk_score` (CrowdStrike's scale).
fn risk_score(severity: Option<f64>) -> Option<i32> {
    severity
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| (s * 10.0).round().clamp(0.0, 100.0) as i32)
}

/// The threat purpose of a finding type: `UnauthorizedAccess` in
/// `UnauthorizedAccess:EC2/SSHBruteForce`.
fn threat_purpose(kind: &str) -> Option<&str> {
    kind.split_once(':')
        .map(|(purpose, _)| purpose.trim())
        .filter(|p| !p.is_empty())
}

/// `behavioral` for GuardDuty's anomaly detection (the `Behavior` purpose, `AnomalousBehavior`
/// types), `rule` for its threat-intelligence and signature findings.
fn analytic_type(kind: Option<&str>) -> &'static str {
    match kind {
        Some(k)
            if threat_purpose(k).is_some_and(|p| p.eq_ignore_ascii_case("Behavior"))
                || k.contains("AnomalousBehavior") =>
        {
            "behavioral"
        }
        _ => "rule",
    }
}

/// MITRE ATT&CK enterprise tactics by name.
const TACTICS: &[(&str, &str)] = &[
    ("Reconnaissance", "TA0043"),
    ("Resource Development", "TA0042"),
    ("Initial Access", "TA0001"),
    ("Execution", "TA0002"),
    ("Persistence", "TA0003"),
    ("Privilege Escalation", "TA0004"),
    ("Defense Evasion", "TA0005"),
    ("Credential Access", "TA0006"),
    ("Discovery", "TA0007"),
    ("Lateral Movement", "TA0008"),
    ("Collection", "TA0009"),
    ("Command and Control", "TA0011"),
    ("Exfiltration", "TA0010"),
    ("Impact", "TA0040"),
];

/// The ATT&CK tactic a GuardDuty threat purpose stands for; `None` for purposes that are no
/// tactic (Behavior, Policy, PenTest, Object …). `Recon` against an IAM user is API
/// enumeration, i.e. Discovery; against a network, Reconnaissance.
fn purpose_tactic(kind: &str) -> Option<&'static str> {
    let purpose = threat_purpose(kind)?.to_ascii_lowercase();
    let resource = kind
        .split_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or("");
    Some(match purpose.as_str() {
        "backdoor" | "trojan" => "TA0011",
        "credentialaccess" => "TA0006",
        "cryptocurrency" | "impact" => "TA0040",
        "defenseevasion" | "stealth" => "TA0005",
        "discovery" => "TA0007",
        "execution" => "TA0002",
        "exfiltration" => "TA0010",
        "initialaccess" | "unauthorizedaccess" => "TA0001",
        "persistence" => "TA0003",
        "privilegeescalation" => "TA0004",
        "recon" if resource.eq_ignore_ascii_case("IAMUser") => "TA0007",
        "recon" => "TA0043",
        _ => return None,
    })
}

/// A tactic id from an indicator value: `TA0006` as it is, a tactic name (`Credential Access`,
/// `CredentialAccess`) by [`TACTICS`].
fn tactic_uid(text: &str) -> Option<&'static str> {
    let squeezed: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    TACTICS.iter().find_map(|(name, uid)| {
        let name: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        (squeezed == name || squeezed == uid.to_ascii_lowercase()).then_some(*uid)
    })
}

/// The values of an attack sequence's indicator (`ATTACK_TACTIC`, `ATTACK_TECHNIQUE`, …).
fn sequence_indicator<'v>(service: Option<&'v Value>, key: &str) -> Vec<Cow<'v, str>> {
    let Some(service) = service else {
        return Vec::new();
    };
    array_at(service, &["detection", "sequence", "sequenceIndicators"])
        .iter()
        .filter(|i| str_at(i, &["key"]).is_some_and(|k| k.eq_ignore_ascii_case(key)))
        .flat_map(|i| array_at(i, &["values"]).iter().filter_map(as_text))
        .collect()
}

/// Tactic ids of a finding: the threat purpose's, and an attack sequence's `ATTACK_TACTIC`
/// indicators.
fn tactic_uids(kind: Option<&str>, service: Option<&Value>) -> Vec<String> {
    let mut uids: Vec<String> = Vec::new();
    let from_purpose = kind.and_then(purpose_tactic);
    let from_sequence = sequence_indicator(service, "ATTACK_TACTIC");
    for uid in from_purpose
        .into_iter()
        .chain(from_sequence.iter().filter_map(|t| tactic_uid(t)))
    {
        if !uids.iter().any(|u| u == uid) {
            uids.push(uid.to_string());
        }
    }
    uids
}

/// `T1046` or `T1078.004`.
fn is_technique_uid(text: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let (main, sub) = match text.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (text, None),
    };
    main.strip_prefix('T').is_some_and(|m| digits(m, 4)) && sub.is_none_or(|s| digits(s, 3))
}

/// Types whose ATT&CK technique the CTID mapping of GuardDuty lists (network service
/// discovery for port probes and scans).
const TYPE_TECHNIQUES: &[(&str, &str)] = &[
    ("Recon:EC2/PortProbeUnprotectedPort", "T1046"),
    ("Recon:EC2/PortProbeEMRUnprotectedPort", "T1046"),
    ("Recon:EC2/Portscan", "T1046"),
];

/// Technique ids of a finding: an attack sequence's `ATTACK_TECHNIQUE` indicators (values that
/// are technique ids), else the type's listed technique.
fn technique_uids<'v>(kind: Option<&str>, service: Option<&'v Value>) -> Vec<Cow<'v, str>> {
    let mut uids: Vec<Cow<'v, str>> = Vec::new();
    for t in sequence_indicator(service, "ATTACK_TECHNIQUE") {
        if is_technique_uid(&t) && !uids.contains(&t) {
            uids.push(t);
        }
    }
    if let Some((_, t)) = kind.and_then(|k| TYPE_TECHNIQUES.iter().find(|(ty, _)| *ty == k))
        && !uids.iter().any(|u| u == t)
    {
        uids.push(Cow::Borrowed(*t));
    }
    uids
}

/// Whether GuardDuty generated the finding as a sample (`CreateSampleFindings`, the console's
/// "Generate sample findings"): its `additionalInfo` says `"sample": true`, free-form
/// (EventBridge, S3) or inside the API's `{"type": "default", "value": "<JSON text>"}`; or its
/// title carries the `[SAMPLE]` prefix GuardDuty marks samples with.
fn is_sample(service: Option<&Value>, title: Option<&str>) -> bool {
    if title.is_some_and(|t| t.starts_with("[SAMPLE]")) {
        return true;
    }
    let Some(info) = service.and_then(|s| get(s, "additionalInfo")) else {
        return false;
    };
    if bool_at(info, &["sample"]) == Some(true) {
        return true;
    }
    str_at(info, &["value"])
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .is_some_and(|v| bool_at(&v, &["sample"]) == Some(true))
}

/// A user's (id, name).
type UserIds<'v> = (Option<Cow<'v, str>>, Option<Cow<'v, str>>);

/// (id, name) of the user a finding's resource names: an IAM access key's principal, else a
/// Kubernetes user, else an RDS database user (a name only). Id and name come from one entity.
fn resource_user(resource: &Value) -> Option<UserIds<'_>> {
    [
        get(resource, "accessKeyDetails")
            .map(|k| (str_at(k, &["principalId"]), str_at(k, &["userName"]))),
        at(resource, &["kubernetesDetails", "kubernetesUserDetails"])
            .map(|k| (str_at(k, &["uid"]), str_at(k, &["username"]))),
        get(resource, "rdsDbUserDetails").map(|r| (None, str_at(r, &["user"]))),
    ]
    .into_iter()
    .flatten()
    .find(|(uid, name)| uid.is_some() || name.is_some())
}

/// `ipAddressV4`, else `ipAddressV6`, of a `remoteIpDetails` object, when it is an address.
fn ip_of(details: Option<&Value>) -> Option<Cow<'_, str>> {
    let details = details?;
    str_at(details, &["ipAddressV4"])
        .and_then(ip_text)
        .or_else(|| str_at(details, &["ipAddressV6"]).and_then(ip_text))
}

fn action_at<'v>(action: Option<&'v Value>, path: &[&str]) -> Option<&'v Value> {
    action.and_then(|a| at(a, path))
}

/// The remote party of a finding's action: the connection's remote end (either direction),
/// the first prober, the API or Kubernetes caller, the database client; for findings without
/// an action (attack sequences), the sequence's first network endpoint. A DNS request names no
/// remote address (the domain stays in `unmapped`).
fn remote_ip(service: &Value) -> Option<Cow<'_, str>> {
    let action = get(service, "action");
    let first_probe = action
        .and_then(|a| array_at(a, &["portProbeAction", "portProbeDetails"]).first())
        .and_then(|p| get(p, "remoteIpDetails"));
    ip_of(action_at(
        action,
        &["networkConnectionAction", "remoteIpDetails"],
    ))
    .or_else(|| ip_of(first_probe))
    .or_else(|| ip_of(action_at(action, &["awsApiCallAction", "remoteIpDetails"])))
    .or_else(|| {
        ip_of(action_at(
            action,
            &["kubernetesApiCallAction", "remoteIpDetails"],
        ))
    })
    .or_else(|| {
        action
            .and_then(|a| array_at(a, &["kubernetesApiCallAction", "sourceIps"]).first())
            .and_then(as_text)
            .and_then(ip_text)
    })
    .or_else(|| {
        ip_of(action_at(
            action,
            &["rdsLoginAttemptAction", "remoteIpDetails"],
        ))
    })
    .or_else(|| {
        array_at(service, &["detection", "sequence", "endpoints"])
            .first()
            .and_then(|e| str_at(e, &["ip"]))
            .and_then(ip_text)
    })
}

/// The member of an object named `key` in any case, with its key as written.
fn member<'v>(object: &'v Value, key: &str) -> Option<(&'v String, &'v Value)> {
    let map = object.as_object()?;
    map.get_key_value(key)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
}

/// The members of `object` whose keys are not in `read` (compared ignoring case), nulls
/// dropped.
fn rest_of(object: &Value, read: &[&str]) -> Map<String, Value> {
    object
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| !v.is_null() && !read.iter().any(|r| r.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One of GuardDuty's other EventBridge events (a Malware Protection scan result, a Runtime
/// Protection health change …): the envelope's time, id, account and region, and what it is
/// about.
fn service_event<'v>(
    event: &'v Value,
    detail: &'v Value,
    detail_type: &str,
    record: &[u8],
    raw_ref: &'v str,
) -> Result<BaseEventRow<'v>, ParseError> {
    let time = timestamp(event, "time")?.ok_or_else(|| missing("time"))?;
    let mut row = BaseEventRow {
        common: Common {
            time: Some(time),
            severity_id: Some(1),
            // The scan's verdict (THREATS_FOUND …), else its state (COMPLETED, SKIPPED …).
            status_code: str_at(detail, &["scanResultDetails", "scanResultStatus"])
                .or_else(|| str_at(detail, &["scanStatus"])),
            // EventBridge's event id is unique per event.
            metadata_uid: Some(
                str_at(event, &["id"])
                    .unwrap_or_else(|| Cow::Owned(content_uid("guardduty", record))),
            ),
            metadata_log_name: Some(Cow::Owned(detail_type.to_string())),
            metadata_product_name: Some(Cow::Borrowed("guardduty")),
            metadata_product_vendor_name: Some(Cow::Borrowed("AWS")),
            cloud_provider: Some(Cow::Borrowed("AWS")),
            cloud_account_uid: str_at(event, &["account"]),
            cloud_region: str_at(event, &["region"]),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            ..Common::default()
        },
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    own.zt_target_type = str_at(detail, &["resourceType"]);
    if let Some(object) = get(detail, "s3ObjectDetails") {
        // The scanned object; the envelope's resource is the protection plan, not the target.
        own.zt_target_type = own
            .zt_target_type
            .take()
            .or(Some(Cow::Borrowed("S3_OBJECT")));
        own.zt_target_name = match (
            str_at(object, &["bucketName"]),
            str_at(object, &["objectKey"]),
        ) {
            (Some(bucket), Some(key)) => Some(Cow::Owned(format!("{bucket}/{key}"))),
            (bucket, key) => bucket.or(key),
        };
    } else {
        own.zt_target_uid = array_at(event, &["resources"]).first().and_then(as_text);
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn severity_bands_at_their_edges() {
        for (severity, want) in [
            (1.0, 2),
            (3.9, 2),
            (3.95, 2),
            (4.0, 3),
            (5.0, 3),
            (6.9, 3),
            (7.0, 4),
            (8.9, 4),
            (8.95, 4),
            (9.0, 5),
            (10.0, 5),
            (0.0, 0),
            (-1.0, 0),
        ] {
            assert_eq!(severity_id(Some(severity)), want, "{severity}");
        }
        assert_eq!(severity_id(None), 0);
        assert_eq!(severity_id(Some(f64::NAN)), 0);
        // Integers and re-typed strings read the same way.
        for (text, want) in [
            (json!(2), 2),
            (json!(8.0), 4),
            (json!("5.0"), 3),
            (json!("x"), 0),
        ] {
            let finding = json!({ "severity": text });
            assert_eq!(
                severity_id(f64_at(&finding, &["severity"])),
                want,
                "{finding}"
            );
        }
        assert_eq!(risk_score(Some(2.0)), Some(20));
        assert_eq!(risk_score(Some(8.9)), Some(89));
        assert_eq!(risk_score(Some(12.0)), Some(100));
        assert_eq!(risk_score(Some(0.0)), None);
    }

    #[test]
    fn sniff_tells_guardduty_from_cloudtrail_and_security_hub() {
        let arn = "arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1";
        let eventbridge = format!(
            r#"{{"version":"0","id":"e1","detail-type":"GuardDuty Finding","source":"aws.guardduty","detail":{{"schemaVersion":"2.0","arn":"{arn}"}}}}"#
        );
        assert!(looks_like_guardduty(&eventbridge));
        let scan = r#"{"detail-type": "GuardDuty Malware Protection Object Scan Result", "source": "aws.guardduty", "detail": {}}"#;
        assert!(looks_like_guardduty(scan));
        let api_call = r#"{"detail-type":"AWS API Call via CloudTrail","source":"aws.guardduty","detail":{"eventSource":"guardduty.amazonaws.com","eventName":"ArchiveFindings","eventTime":"2026-03-02T10:00:00Z"}}"#;
        assert!(!looks_like_guardduty(api_call));
        let cli = format!(
            "{{\n    \"Findings\": [\n        {{\n            \"SchemaVersion\": \"2.0\",\n            \"Arn\": \"{arn}\"\n"
        );
        assert!(looks_like_guardduty(&cli));
        let asff = format!(
            r#"{{"SchemaVersion":"2018-10-08","Id":"{arn}","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/guardduty"}}"#
        );
        assert!(!looks_like_guardduty(&asff));
        let hub = format!(
            r#"{{"detail-type":"Security Hub Findings - Imported","source":"aws.securityhub","detail":{{"findings":[{{"Id":"{arn}"}}]}}}}"#
        );
        assert!(!looks_like_guardduty(&hub));
        // A quoted key name as a value is no member.
        assert_eq!(
            string_members(r#"["detail-type", {"detail-type" : "x"}]"#, "detail-type")
                .collect::<Vec<_>>(),
            ["x"]
        );
    }

    fn finding(updated: &str) -> Value {
        json!({
            "schemaVersion": "2.0", "accountId": "111122223333", "region": "us-east-1",
            "id": "f1", "arn": "arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1",
            "type": "Recon:EC2/Portscan", "severity": 2,
            "createdAt": "2026-03-02T07:49:31.154Z", "updatedAt": updated,
            "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1",
                "networkInterfaces": [{"privateDnsName": "ip-10-0-1-12.ec2.internal"}]}},
            "service": {"archived": false, "count": 3, "featureName": "FlowLogs",
                "action": {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                    "connectionDirection": "OUTBOUND",
                    "remoteIpDetails": {"ipAddressV4": "198.51.100.23"}}}}
        })
    }

    #[test]
    fn each_version_is_a_row_and_a_redelivered_version_counts_once() {
        let z = finding("2026-03-02T09:05:12.617Z");
        let offset = finding("2026-03-02T09:05:12.617+00:00");
        let later = finding("2026-03-02T13:07:45.090Z");
        let uid = |f: &Value| {
            map_finding(f, None, Cow::Borrowed(FINDING_DETAIL_TYPE), "r")
                .unwrap()
                .common
                .metadata_uid
                .unwrap()
                .into_owned()
        };
        assert_eq!(uid(&z), uid(&offset));
        assert_ne!(uid(&z), uid(&later));
        assert_eq!(uid(&z), version_uid("f1", 1_772_442_312_617));
        // Wrapped by EventBridge, the same version has the same id.
        let wrapped = json!({"detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "id": "e1", "time": "2026-03-02T09:06:00Z", "detail": z.clone()});
        let (_, detail) = eventbridge(&wrapped).unwrap().unwrap();
        let row = map_finding(detail, Some(&wrapped), Cow::Borrowed("x"), "r").unwrap();
        assert_eq!(row.common.metadata_uid.unwrap(), uid(&z));
        let row = map_finding(&z, None, Cow::Borrowed("x"), "r").unwrap();
        assert_eq!(row.own.finding_info_uid.as_deref(), Some("f1"));
        assert_eq!(row.own.zt_dedup_key.as_deref(), Some("f1"));
        assert_eq!(row.common.time, Some(1_772_442_312_617));
        assert_eq!(row.common.activity_id, Some(2));
        assert_eq!(row.own.attacks_technique_uids, ["T1046"]);
        assert_eq!(row.own.src_endpoint_ip.as_deref(), Some("198.51.100.23"));
        assert_eq!(row.own.device_uid.as_deref(), Some("i-1"));
        assert!(
            row.common
                .unmapped
                .unwrap()
                .contains("\"attacks_tactic_uids\":[\"TA0043\"]")
        );
    }

    #[test]
    fn archived_sample_and_refused_findings() {
        let mut f = finding("2026-03-02T07:49:31.154Z");
        let row = map_finding(&f, None, Cow::Borrowed("x"), "r").unwrap();
        assert_eq!(
            (
                row.common.activity_id,
                row.common.status_id,
                row.own.is_alert
            ),
            (Some(1), Some(1), Some(true))
        );
        f["service"]["archived"] = json!(true);
        let row = map_finding(&f, None, Cow::Borrowed("x"), "r").unwrap();
        assert_eq!(
            (row.common.activity_id, row.common.status_id),
            (Some(3), Some(5))
        );
        assert_eq!(row.common.status_code.as_deref(), Some("ARCHIVED"));
        f["service"]["additionalInfo"] = json!({"sample": true});
        let row = map_finding(&f, None, Cow::Borrowed("x"), "r").unwrap();
        assert_eq!(row.own.is_alert, Some(false));
        f["service"]["additionalInfo"] = json!({"Type": "default", "Value": "{\"sample\":true}"});
        assert!(is_sample(get(&f, "service"), None));
        f["service"]["additionalInfo"] = json!({"type": "default", "value": "{}"});
        assert!(!is_sample(get(&f, "service"), None));
        assert!(is_sample(
            get(&f, "service"),
            Some("[SAMPLE] EC2 instance i-1 …")
        ));

        let mut no_id = finding("2026-03-02T07:49:31.154Z");
        no_id.as_object_mut().unwrap().remove("id");
        let err = map_finding(&no_id, None, Cow::Borrowed("x"), "r").unwrap_err();
        assert_eq!(err.kind, ErrorKind::MissingField);
        let bad_time = finding("yesterday");
        let err = map_finding(&bad_time, None, Cow::Borrowed("x"), "r").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidField);
        let asff = json!({"SchemaVersion": "2018-10-08", "Id": "x", "ProductArn": "p",
            "UpdatedAt": "2026-03-02T07:49:31.154Z"});
        let err = map_finding(&asff, None, Cow::Borrowed("x"), "r").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidJson);
        let api_call = json!({"detail-type": "AWS API Call via CloudTrail",
            "source": "aws.guardduty", "detail": {}});
        assert_eq!(
            eventbridge(&api_call).unwrap_err().kind,
            ErrorKind::InvalidJson
        );
    }

    #[test]
    fn tactics_and_techniques() {
        assert_eq!(
            purpose_tactic("UnauthorizedAccess:EC2/SSHBruteForce"),
            Some("TA0001")
        );
        assert_eq!(
            purpose_tactic("Recon:IAMUser/MaliciousIPCaller"),
            Some("TA0007")
        );
        assert_eq!(purpose_tactic("Recon:EC2/Portscan"), Some("TA0043"));
        assert_eq!(purpose_tactic("Policy:IAMUser/RootCredentialUsage"), None);
        assert_eq!(purpose_tactic("no purpose"), None);
        assert_eq!(tactic_uid("Credential Access"), Some("TA0006"));
        assert_eq!(tactic_uid("CredentialAccess"), Some("TA0006"));
        assert_eq!(tactic_uid("TA0010"), Some("TA0010"));
        assert_eq!(tactic_uid("Sneaking"), None);
        for (text, ok) in [
            ("T1046", true),
            ("T1078.004", true),
            ("T10", false),
            ("T1078.4", false),
            ("TA0001", false),
            ("Valid Accounts", false),
            ("T1078.", false),
        ] {
            assert_eq!(is_technique_uid(text), ok, "{text}");
        }
        let service = json!({"detection": {"sequence": {"sequenceIndicators": [
            {"key": "ATTACK_TACTIC", "values": ["Discovery", "Credential Access"]},
            {"key": "ATTACK_TECHNIQUE", "values": ["T1078.004", "Valid Accounts", "T1078.004"]}]}}});
        assert_eq!(
            tactic_uids(
                Some("AttackSequence:IAM/CompromisedCredentials"),
                Some(&service)
            ),
            ["TA0007", "TA0006"]
        );
        assert_eq!(
            technique_uids(
                Some("AttackSequence:IAM/CompromisedCredentials"),
                Some(&service)
            ),
            ["T1078.004"]
        );
    }

    #[test]
    fn users_and_remote_addresses_by_resource_and_action() {
        let k8s = json!({"kubernetesDetails": {"kubernetesUserDetails": {
            "username": "system:serviceaccount:ci:deployer", "uid": "u-1"}}});
        let (uid, name) = resource_user(&k8s).unwrap();
        assert_eq!(
            (uid.as_deref(), name.as_deref()),
            (Some("u-1"), Some("system:serviceaccount:ci:deployer"))
        );
        let rds = json!({"rdsDbUserDetails": {"user": "app_admin"}});
        assert_eq!(resource_user(&rds).unwrap().1.as_deref(), Some("app_admin"));
        assert!(resource_user(&json!({"accessKeyDetails": {}})).is_none());

        let probe = json!({"action": {"portProbeAction": {"portProbeDetails": [
            {"remoteIpDetails": {"ipAddressV4": "192.0.2.77"}},
            {"remoteIpDetails": {"ipAddressV4": "192.0.2.78"}}]}}});
        assert_eq!(remote_ip(&probe).as_deref(), Some("192.0.2.77"));
        let k8s_call =
            json!({"action": {"kubernetesApiCallAction": {"sourceIps": ["2001:db8::7"]}}});
        assert_eq!(remote_ip(&k8s_call).as_deref(), Some("2001:db8::7"));
        let placeholder = json!({"action": {"awsApiCallAction": {
            "remoteIpDetails": {"ipAddressV4": "unknown"}}}});
        assert_eq!(remote_ip(&placeholder), None);
        let dns = json!({"action": {"dnsRequestAction": {"domain": "example.test"}}});
        assert_eq!(remote_ip(&dns), None);
    }
}
