//! Omnissa Workspace ONE UEM (formerly VMware, AirWatch) devices → `device_state`.
//!
//! Input, one device or event per record:
//! - **Device search** pages (`GET /API/mdm/devices/search`, `{"Devices": [...], "Page",
//!   "PageSize", "Total"}`, split by the framer): `Id{Value}`, `Uuid`, `Udid`,
//!   `SerialNumber`, `DeviceFriendlyName`, `DeviceReportedName`, `HostName` (macOS),
//!   `LocationGroupName`, `UserName`, `UserEmailAddress`, `Platform` (`WinRT`, `AppleOsX`,
//!   `Apple`, `Android` …), `Model`, `OperatingSystem`, `LastSeen`, `LastEnrolledOn`,
//!   `EnrollmentStatus`, `ComplianceStatus`, `CompromisedStatus`, `ComplianceSummary
//!   .DeviceCompliance[]{PolicyName, CompliantStatus}`, …;
//! - **Event notifications** (the JSON webhook UEM posts per device event): `EventId` (an event
//!   type code, not unique), `EventType` ("Compliance Status Changed", "MDM Enrollment
//!   Complete", older tenants `DeviceEnterpriseWipeRequested` …), `DeviceId` (= search
//!   `Id.Value`), `DeviceUUID`, `EventTime`, `EnrollmentStatus`, `ComplianceStatus`,
//!   `CompromisedStatus`, `EnrollmentEmailAddress`, `OrganizationGroupName`, `Platform`, ….
//!   XML notifications are not read (UEM offers JSON).
//!
//! Every search device and every event about a device becomes a `device_state` snapshot:
//! `ComplianceStatus` Compliant → `compliant`, NonCompliant → `noncompliant`, anything else
//! (PendingComplianceCheck, NotAvailable, absent) → `unknown`, the vendor's value kept in
//! `status_code`; `device_is_compliant` and `security_level_id` follow Intune's rule, except
//! that a compromised (jailbroken, rooted) device is security level 3 whatever its verdict.
//! The failing compliance policies of a search device are in `status_detail`.
//! `device_is_managed` is true while the device is `Enrolled` (or a wipe is pending), false for
//! any other enrollment state. An event that names no device (no `DeviceId`) is stored in
//! `base_event` with its event type.
//!
//! Times: UEM writes `LastSeen` without a zone (`2026-03-02T07:45:12.150`), which is UTC (the
//! console labels it "Last Seen (In UTC)"), newer APIs with an offset, event notifications with
//! `Z` and seven fraction digits, legacy tenants as .NET `/Date(ms)/`; all are read. The
//! `0001-01-01` ("never") and `9999-12-31` placeholders are no dates in any column. `time` is
//! `LastSeen` (a device never seen: its enrollment) or the event's `EventTime`;
//! `metadata_uid` hashes device, time and the state the row states (and the event type), since
//! `EventId` is not unique.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jv::{array_at, bool_at, first_str, get, invalid, missing, parse_object, str_at};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, parse_timestamp_ms};
use crate::record::{Framing, ParseError};
use crate::schema::{BaseEventRow, Common, DeviceStateRow, TableBuilders};
use crate::site::Site;

/// Omnissa Workspace ONE UEM device search pages and event notifications.
pub static SPEC: VendorSpec = VendorSpec {
    name: "workspace_one",
    aliases: &["ws1", "workspaceone", "airwatch"],
    framing: Framing::Json,
    envelope_keys: &["Devices"],
    stateful: false,
    sniff: Sniff::Json(looks_like_workspace_one),
    parser: |site| Box::new(WorkspaceOneParser::new(site)),
};

/// The workspace_one format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct WorkspaceOneParser {
    _site: Arc<Site>,
}

impl WorkspaceOneParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { _site: site }
    }
}

/// Whether a JSON record looks like a Workspace ONE UEM device or event notification. Key case
/// tells it from the others: Okta writes `eventType`, CloudTrail `eventTime`, Intune
/// `CompliantState` and `complianceState`.
pub fn looks_like_workspace_one(head: &str) -> bool {
    (head.contains("\"Udid\"")
        && (head.contains("\"ComplianceStatus\"") || head.contains("\"EnrollmentStatus\"")))
        || (head.contains("\"EventType\"")
            && head.contains("\"DeviceId\"")
            && (head.contains("\"EnrollmentStatus\"")
                || head.contains("\"ComplianceStatus\"")
                || head.contains("\"CompromisedTimeStamp\"")))
}

impl Parser for WorkspaceOneParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a Workspace ONE UEM")?;
        let common = Common {
            metadata_product_name: Some(Cow::Borrowed("workspace_one")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Omnissa")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            ..Common::default()
        };
        let is_event = get(&value, "EventType").is_some()
            || (get(&value, "EventId").is_some() && get(&value, "EventTime").is_some());
        let mut row = if is_event {
            if str_at(&value, &["DeviceId"]).is_none() {
                return append_base_event(&value, common, record, out);
            }
            from_event(&value, common)?
        } else {
            from_device(&value, common)?
        };
        let c = &mut row.common;
        c.activity_id = Some(2);
        c.activity_name = Some(Cow::Borrowed("Collect"));
        c.status_id = Some(1);
        row.own.agent_name = Some(Cow::Borrowed("Workspace ONE UEM"));
        out.device_state.append(&mut row);
        Ok(1)
    }
}

/// .NET JSON dates, `/Date(1391182403986)/` or `/Date(1391182403986+0100)/` (also with the
/// slashes still escaped): milliseconds since the epoch, UTC; the offset only names the zone
/// the date was written in.
fn dotnet_date(text: &str) -> Option<i64> {
    let inner = text
        .strip_prefix("\\/")
        .or_else(|| text.strip_prefix('/'))
        .unwrap_or(text)
        .strip_prefix("Date(")?;
    let inner = inner
        .strip_suffix(")\\/")
        .or_else(|| inner.strip_suffix(")/"))
        .or_else(|| inner.strip_suffix(')'))?;
    // A sign after the first character starts the offset (the first may be a minus).
    let split = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner.len(), |(i, _)| i);
    let (ms, offset) = inner.split_at(split);
    let offset_ok = offset.is_empty()
        || (offset.len() == 5 && offset.bytes().skip(1).all(|b| b.is_ascii_digit()));
    if !offset_ok {
        return None;
    }
    ms.parse::<i64>().ok()
}

/// A date at `key`: `None` when absent, empty or a placeholder (`0001-01-01` "never",
/// `9999-12-31`); an invalid-field error when it is no date or beyond the epoch bound.
/// Zone-less dates are UTC.
fn ws1_time(value: &Value, key: &str) -> Result<Option<i64>, ParseError> {
    let Some(text) = str_at(value, &[key]) else {
        return Ok(None);
    };
    let text = text.trim();
    if text.starts_with("0001-") || text.starts_with("9999-") {
        return Ok(None);
    }
    dotnet_date(text)
        .or_else(|| parse_timestamp_ms(text))
        .filter(|ms| (ms.unsigned_abs() as f64) < super::jv::MAX_EPOCH_SECONDS * 1000.0)
        .map(Some)
        .ok_or_else(|| invalid(key, text))
}

/// `ComplianceStatus` → the `zt_compliance_state` vocabulary (Intune's): only a stated verdict
/// is one; pending, not available, absent and unknown spellings are `unknown`.
fn compliance_state(status: Option<&str>) -> &'static str {
    match status
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace([' ', '_', '-'], "")
        .as_str()
    {
        "compliant" => "compliant",
        "noncompliant" | "notcompliant" => "noncompliant",
        _ => "unknown",
    }
}

fn is_compliant(state: &str) -> Option<bool> {
    match state {
        "compliant" => Some(true),
        "noncompliant" => Some(false),
        _ => None,
    }
}

/// OCSF security level: 3 Compromised when UEM found the device jailbroken or rooted, else 1
/// Secure when compliant, 2 At Risk when not, none without a verdict.
fn security_level(compliant: Option<bool>, compromised: Option<bool>) -> Option<i32> {
    if compromised == Some(true) {
        return Some(3);
    }
    compliant.map(|c| if c { 1 } else { 2 })
}

/// `EnrollmentStatus` → managed: an enrolled device is, and stays so while an enterprise or
/// device wipe is pending; unenrolled, registered, discovered, in progress … are not.
fn is_managed(status: &str) -> Option<bool> {
    let status = status.trim();
    if status.is_empty() || status.eq_ignore_ascii_case("unknown") {
        return None;
    }
    Some(
        status.eq_ignore_ascii_case("Enrolled")
            || status.to_ascii_lowercase().ends_with("wipepending"),
    )
}

/// UEM platform names → the operating system names the other sources write (`Windows`,
/// `macOS`, `iOS` …): the compliance KPIs are labelled by it. UEM says `Apple` for iPhones and
/// iPads alike; the model tells them apart.
fn os_name<'v>(platform: Cow<'v, str>, model: Option<&str>) -> Cow<'v, str> {
    let ipad = model.is_some_and(|m| m.to_ascii_lowercase().contains("ipad"));
    let name = match platform.to_ascii_lowercase().as_str() {
        "apple" | "appleios" if ipad => "iPadOS",
        "apple" | "appleios" => "iOS",
        "appleosx" | "applemacos" => "macOS",
        "appletv" => "tvOS",
        "winrt" | "windowspc" | "windowsdesktop" => "Windows",
        "android" => "Android",
        "chromeos" => "ChromeOS",
        "linux" => "Linux",
        _ => return platform,
    };
    Cow::Borrowed(name)
}

/// OCSF device type id where the platform and model tell it: 3 Laptop, 2 Desktop (Macs),
/// 4 Tablet, 5 Mobile (Apple devices). A Windows or Android model name does not say.
fn device_type_id(platform: &str, model: Option<&str>) -> Option<i32> {
    let model = model?;
    match platform.to_ascii_lowercase().as_str() {
        "apple" | "appleios" if model.contains("iPad") => Some(4),
        "apple" | "appleios" if model.contains("iPhone") => Some(5),
        "appleosx" | "applemacos" if model.contains("MacBook") => Some(3),
        "appleosx" | "applemacos" => Some(2),
        _ => None,
    }
}

/// The first non-empty member among `keys`, with the key it came from (so `unmapped` keeps
/// the ones not used).
fn first_of<'v>(value: &'v Value, keys: &[&'static str]) -> Option<(&'static str, Cow<'v, str>)> {
    keys.iter()
        .find_map(|&k| str_at(value, &[k]).map(|text| (k, text)))
}

/// The id of a snapshot: device, time and every state the row states; events add their type,
/// because two events of one device can share a time.
fn snapshot_uid(
    device: &str,
    time: i64,
    state: &str,
    enrollment: Option<&str>,
    compromised: Option<bool>,
    event_type: Option<&str>,
) -> String {
    let enrollment = enrollment.unwrap_or("");
    let compromised = compromised.map_or("", |c| if c { "true" } else { "false" });
    let mut key = format!("{device}|{time}|{state}|{enrollment}|{compromised}");
    if let Some(event_type) = event_type {
        key.push('|');
        key.push_str(event_type);
    }
    content_uid("workspace_one", key.as_bytes())
}

/// A JSON object with the members of `object` not in `known`, without nulls and without the
/// `System.Byte[]` placeholders legacy notifications write for binary fields (a .NET type
/// name, not a value); `None` when nothing is left.
fn unmapped(object: &Value, known: &[&str]) -> Option<String> {
    let map = object.as_object()?;
    let rest: Map<String, Value> = map
        .iter()
        .filter(|(k, v)| {
            !v.is_null()
                && v.as_str() != Some("System.Byte[]")
                && !known.iter().any(|n| n.eq_ignore_ascii_case(k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!rest.is_empty()).then(|| Value::Object(rest).to_string())
}

/// The all-zero GUID UEM writes where there is none is no id.
fn guid(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (text != "00000000-0000-0000-0000-000000000000").then_some(text)
}

/// Search-device members whose value a column holds in full. `Platform` is translated, so it
/// stays in `unmapped`; `CompromisedStatus` and `ComplianceSummary` too (the columns hold only
/// a true verdict and the failing policy names).
const DEVICE_MAPPED: &[&str] = &[
    "Id",
    "Uuid",
    "Model",
    "OperatingSystem",
    "LocationGroupName",
    "EnrollmentStatus",
    "ComplianceStatus",
    "LastSeen",
];

fn from_device<'v>(
    value: &'v Value,
    mut common: Common<'v>,
) -> Result<DeviceStateRow<'v>, ParseError> {
    // `Id` is `{"Value": 5614}` in search results; a bare number or string is read too.
    let device = first_str(value, &[&["Id", "Value"], &["Id"]]).ok_or_else(|| missing("Id"))?;
    let last_seen = ws1_time(value, "LastSeen")?;
    let time = match last_seen {
        Some(t) => t,
        None => ws1_time(value, "LastEnrolledOn")?
            .ok_or_else(|| missing("LastSeen (or LastEnrolledOn)"))?,
    };
    let status = str_at(value, &["ComplianceStatus"]);
    let state = compliance_state(status.as_deref());
    let enrollment = str_at(value, &["EnrollmentStatus"]);
    let compromised = bool_at(value, &["CompromisedStatus"]);
    let platform = str_at(value, &["Platform"]);
    let model = str_at(value, &["Model"]);
    let host = first_of(
        value,
        &["HostName", "DeviceReportedName", "DeviceFriendlyName"],
    );
    let owner = first_of(value, &["UserEmailAddress", "UserName"]);
    let mut known: Vec<&str> = DEVICE_MAPPED.to_vec();
    known.extend(host.iter().map(|(k, _)| *k));
    known.extend(owner.iter().map(|(k, _)| *k));
    // The policies the device fails, by name; the whole summary stays in `unmapped`.
    let failing: Vec<Cow<'v, str>> = array_at(value, &["ComplianceSummary", "DeviceCompliance"])
        .iter()
        .filter(|p| bool_at(p, &["CompliantStatus"]) == Some(false))
        .filter_map(|p| str_at(p, &["PolicyName"]))
        .collect();
    common.time = Some(time);
    common.metadata_event_code = Some(Cow::Borrowed("devices/search"));
    common.metadata_log_name = Some(Cow::Borrowed("Workspace ONE devices"));
    common.metadata_uid = Some(Cow::Owned(snapshot_uid(
        &device,
        time,
        state,
        enrollment.as_deref(),
        compromised,
        None,
    )));
    common.status_code = status;
    common.status_detail = (!failing.is_empty()).then(|| Cow::Owned(failing.join("; ")));
    common.unmapped = unmapped(value, &known).map(Cow::Owned);
    let mut row = DeviceStateRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_type_id = platform
        .as_deref()
        .and_then(|p| device_type_id(p, model.as_deref()));
    d.device_os_name = platform.map(|p| os_name(p, model.as_deref()));
    d.device_uid = Some(device);
    d.device_uid_alt = str_at(value, &["Uuid"]).and_then(guid);
    d.device_hostname = host.map(|(_, h)| h);
    d.device_os_version = str_at(value, &["OperatingSystem"]);
    d.device_type = model;
    d.device_owner_uid = owner.map(|(_, o)| o);
    d.device_is_managed = enrollment.as_deref().and_then(is_managed);
    d.device_last_seen_time = last_seen;
    d.device_groups = first_str(
        value,
        &[&["LocationGroupName"], &["LocationGroupId", "Name"]],
    )
    .into_iter()
    .collect();
    verdict_columns(d, state, compromised);
    Ok(row)
}

/// The verdict columns every snapshot fills the same way.
fn verdict_columns(
    d: &mut crate::schema::DeviceStateColumns<'_>,
    state: &'static str,
    compromised: Option<bool>,
) {
    d.zt_compliance_state = Some(Cow::Borrowed(state));
    d.device_is_compliant = is_compliant(state);
    d.security_level_id = security_level(d.device_is_compliant, compromised);
}

/// Event members whose value a column holds in full (`EventId` is a type code: it stays).
const EVENT_MAPPED: &[&str] = &[
    "DeviceId",
    "DeviceUUID",
    "DeviceFriendlyName",
    "EventTime",
    "EventType",
    "EnrollmentStatus",
    "ComplianceStatus",
    "OperatingSystem",
    "OrganizationGroupName",
];

fn event_time(value: &Value) -> Result<i64, ParseError> {
    ws1_time(value, "EventTime")?.ok_or_else(|| missing("EventTime"))
}

fn event_type(value: &Value) -> Result<Cow<'_, str>, ParseError> {
    first_str(value, &[&["EventType"], &["EventId"]]).ok_or_else(|| missing("EventType"))
}

fn from_event<'v>(
    value: &'v Value,
    mut common: Common<'v>,
) -> Result<DeviceStateRow<'v>, ParseError> {
    let device = str_at(value, &["DeviceId"]).ok_or_else(|| missing("DeviceId"))?;
    let time = event_time(value)?;
    let event_type = event_type(value)?;
    let status = str_at(value, &["ComplianceStatus"]);
    let state = compliance_state(status.as_deref());
    let enrollment = str_at(value, &["EnrollmentStatus"]);
    // Captured notifications write `""` here; a stated value is read.
    let compromised = bool_at(value, &["CompromisedStatus"]);
    let owner = first_of(value, &["EnrollmentEmailAddress", "EnrollmentUserName"]);
    let mut known: Vec<&str> = EVENT_MAPPED.to_vec();
    known.extend(owner.iter().map(|(k, _)| *k));
    common.time = Some(time);
    common.metadata_uid = Some(Cow::Owned(snapshot_uid(
        &device,
        time,
        state,
        enrollment.as_deref(),
        compromised,
        Some(event_type.as_ref()),
    )));
    common.metadata_event_code = Some(event_type);
    common.status_code = status;
    common.metadata_log_name = Some(Cow::Borrowed("Workspace ONE event notification"));
    common.unmapped = unmapped(value, &known).map(Cow::Owned);
    let mut row = DeviceStateRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_os_name = str_at(value, &["Platform"]).map(|p| os_name(p, None));
    d.device_uid = Some(device);
    d.device_uid_alt = str_at(value, &["DeviceUUID"]).and_then(guid);
    // Notifications carry no host name: the console's friendly name is all there is.
    d.device_hostname = str_at(value, &["DeviceFriendlyName"]);
    d.device_os_version = str_at(value, &["OperatingSystem"]);
    d.device_owner_uid = owner.map(|(_, o)| o);
    d.device_is_managed = enrollment.as_deref().and_then(is_managed);
    d.device_groups = str_at(value, &["OrganizationGroupName"])
        .into_iter()
        .collect();
    verdict_columns(d, state, compromised);
    Ok(row)
}

/// An event notification that names no device (`DeviceId` absent): its type, the device's
/// friendly name and UUID or serial as the target, and the record.
fn append_base_event<'v>(
    value: &'v Value,
    mut common: Common<'v>,
    record: &[u8],
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let time = event_time(value)?;
    let event_type = event_type(value)?;
    common.time = Some(time);
    common.metadata_uid = Some(Cow::Owned(content_uid("workspace_one-event", record)));
    common.metadata_log_name = Some(Cow::Borrowed("Workspace ONE event notification"));
    let mut row = BaseEventRow {
        common,
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    own.device_hostname = str_at(value, &["DeviceFriendlyName"]);
    own.zt_target_uid =
        first_str(value, &[&["DeviceUUID"], &["SerialNumber"]]).filter(|t| t != "System.Byte[]");
    own.zt_target_name = own.device_hostname.clone();
    if own.zt_target_uid.is_some() || own.zt_target_name.is_some() {
        own.zt_target_type = Some(Cow::Borrowed("Device"));
    }
    out.append_base_event(&mut row, &event_type, record);
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotnet_dates() {
        assert_eq!(
            dotnet_date("/Date(1391182403986)/"),
            Some(1_391_182_403_986)
        );
        assert_eq!(
            dotnet_date("\\/Date(1391182403986)\\/"),
            Some(1_391_182_403_986)
        );
        assert_eq!(
            dotnet_date("/Date(1391182403986+0100)/"),
            Some(1_391_182_403_986)
        );
        assert_eq!(dotnet_date("/Date(-1000)/"), Some(-1000));
        assert_eq!(dotnet_date("/Date(12+01)/"), None);
        assert_eq!(dotnet_date("/Date()/"), None);
        assert_eq!(dotnet_date("/Date(é)/"), None);
        assert_eq!(dotnet_date("2026-03-02T08:00:01Z"), None);
    }

    #[test]
    fn times_zoneless_utc_offsets_placeholders_and_bounds() {
        let v = json!({"a": "2026-03-02T07:45:12.150", "b": "2026-03-02T08:00:01.5720125Z",
            "c": "2022-06-03T03:01:26.8528889+01:00", "d": "0001-01-01T00:00:00.000",
            "e": "/Date(1772442003986)/", "f": "/Date(99999999999999999)/", "g": "16/01/2026",
            "h": ""});
        assert_eq!(ws1_time(&v, "a").unwrap(), Some(1_772_437_512_150));
        assert_eq!(ws1_time(&v, "b").unwrap(), Some(1_772_438_401_572));
        assert_eq!(ws1_time(&v, "c").unwrap(), Some(1_654_221_686_852));
        assert_eq!(ws1_time(&v, "d").unwrap(), None);
        assert_eq!(ws1_time(&v, "e").unwrap(), Some(1_772_442_003_986));
        assert!(ws1_time(&v, "f").is_err());
        assert!(ws1_time(&v, "g").is_err());
        assert_eq!(ws1_time(&v, "h").unwrap(), None);
        assert_eq!(ws1_time(&v, "absent").unwrap(), None);
    }

    #[test]
    fn verdicts_security_levels_and_management() {
        assert_eq!(compliance_state(Some("Compliant")), "compliant");
        assert_eq!(compliance_state(Some("NonCompliant")), "noncompliant");
        assert_eq!(compliance_state(Some("Non-Compliant")), "noncompliant");
        assert_eq!(compliance_state(Some("PendingComplianceCheck")), "unknown");
        assert_eq!(compliance_state(Some("NotAvailable")), "unknown");
        assert_eq!(compliance_state(None), "unknown");
        assert_eq!(security_level(Some(true), Some(false)), Some(1));
        assert_eq!(security_level(Some(false), None), Some(2));
        assert_eq!(security_level(Some(true), Some(true)), Some(3));
        assert_eq!(security_level(None, Some(true)), Some(3));
        assert_eq!(security_level(None, None), None);
        assert_eq!(is_managed("Enrolled"), Some(true));
        assert_eq!(is_managed("EnterpriseWipePending"), Some(true));
        assert_eq!(is_managed("Unenrolled"), Some(false));
        assert_eq!(is_managed("EnrollmentInProgress"), Some(false));
        assert_eq!(is_managed(""), None);
    }

    #[test]
    fn platforms() {
        assert_eq!(os_name("WinRT".into(), None), "Windows");
        assert_eq!(os_name("AppleOsX".into(), Some("MacBook Pro")), "macOS");
        assert_eq!(os_name("Apple".into(), Some("iPhone")), "iOS");
        assert_eq!(
            os_name("Apple".into(), Some("iPad Pro 11\" (3rd Gen)")),
            "iPadOS"
        );
        assert_eq!(os_name("Qnx".into(), None), "Qnx");
        assert_eq!(device_type_id("AppleOsX", Some("MacBook Pro")), Some(3));
        assert_eq!(device_type_id("AppleOsX", Some("iMac")), Some(2));
        assert_eq!(device_type_id("Apple", Some("iPhone")), Some(5));
        assert_eq!(device_type_id("WinRT", Some("Latitude 7440")), None);
        assert_eq!(device_type_id("Apple", None), None);
    }

    #[test]
    fn sniff_takes_devices_and_events_and_leaves_intune_and_okta() {
        assert!(looks_like_workspace_one(
            r#"{"Devices": [{"Udid": "7D58", "EnrollmentStatus": "Enrolled", "ComplianceStatus": "Compliant"}]}"#
        ));
        assert!(looks_like_workspace_one(
            r#"{"EventId":178,"EventType":"Compliance Status Changed","DeviceId":5615,"ComplianceStatus":"Compliant"}"#
        ));
        assert!(!looks_like_workspace_one(
            r#"{"category": "Devices", "properties": {"DeviceId": "d", "CompliantState": "Compliant"}}"#
        ));
        assert!(!looks_like_workspace_one(
            r#"{"eventType": "user.session.start", "actor": {}, "outcome": {}}"#
        ));
    }

    #[test]
    fn unmapped_drops_byte_array_placeholders() {
        let v = json!({"DeviceId": 1, "Udid": "System.Byte[]", "SIMMCC": "", "EventId": 229});
        let rest: Value = serde_json::from_str(&unmapped(&v, EVENT_MAPPED).unwrap()).unwrap();
        assert_eq!(rest, json!({"EventId": 229, "SIMMCC": ""}));
    }
}
