//! Microsoft Intune device compliance → `device_state`.
//!
//! Input, one device snapshot per record:
//! - Intune diagnostic-setting **`Devices`** records (Event Hubs / storage; `{"records": [...]}`
//!   split by the framer): `properties.{DeviceId, DeviceName, UPN, LastContact, OS, OSVersion,
//!   CompliantState, ManagedBy, DeviceState, JoinType, InGracePeriodUntil, …}`;
//! - Microsoft Graph **`managedDevice`** objects (`/deviceManagement/managedDevices`, `value`
//!   envelope): `id, deviceName, azureADDeviceId, operatingSystem, osVersion, complianceState,
//!   complianceGracePeriodExpirationDateTime, lastSyncDateTime, userPrincipalName, …`;
//! - Intune **`OperationalLogs`** "Compliance" alerts (a device found not compliant): a snapshot
//!   with state `noncompliant` and the failing policy settings in `status_detail`.
//!
//! Other Intune diagnostic records (audit logs, enrollment and other operational logs) are stored
//! in `base_event` with the actor, the object acted on and the record.
//!
//! `zt_compliance_state` keeps Graph's vocabulary (compliant, noncompliant, inGracePeriod,
//! conflict, error, unknown, configManager); the diagnostic export's PascalCase values are mapped
//! to it, and a record that states no compliance at all is `unknown`. `device_is_compliant` is
//! true only for compliant, false for noncompliant, inGracePeriod, conflict and error, empty for
//! unknown. Every date drops Intune's placeholders (`9999-12-31` "never", `0001-01-01` "not
//! set"). `time` is the snapshot's time (export time, else last sync); `metadata_uid`
//! hashes device, time and state, so the same snapshot delivered twice is one row. Compliance
//! transitions (and remediation times) are derived from consecutive snapshots by the KPI layer.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{bool_at, first_str, missing, parse_object, str_at, unmapped};
use super::{Format, Parser, Sniff, VendorSpec, content_uid};
use crate::record::{Framing, ParseError};
use crate::schema::{BaseEventRow, Common, DeviceStateRow, TableBuilders};
use crate::site::Site;

/// Microsoft Intune device compliance (diagnostic Devices export, Graph managedDevice).
pub static SPEC: VendorSpec = VendorSpec {
    name: "intune",
    aliases: &["managed_devices"],
    framing: Framing::Json,
    envelope_keys: &["records", "value"],
    stateful: false,
    sniff: Sniff::Json(looks_like_intune),
    parser: |site| Box::new(IntuneParser::new(site)),
};

/// The intune format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct IntuneParser {
    _site: Arc<Site>,
}

impl IntuneParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { _site: site }
    }
}

/// Whether a JSON record looks like an Intune device record.
pub fn looks_like_intune(head: &str) -> bool {
    (head.contains("\"CompliantState\"") && head.contains("\"DeviceId\""))
        || head.contains("\"complianceState\"")
        || (head.contains("\"OperationalLogs\"") && head.contains("\"IntuneDeviceId\""))
        // Entra ID audit records share the category; `AuditEventId` is Intune's own key.
        || (head.contains("\"AuditLogs\"") && head.contains("\"AuditEventId\""))
}

/// Any spelling of a compliance state → Graph's `complianceState` value.
pub fn compliance_state(text: &str) -> Option<&'static str> {
    Some(
        match text
            .to_ascii_lowercase()
            .replace([' ', '_', '-'], "")
            .as_str()
        {
            "compliant" => "compliant",
            "noncompliant" | "notcompliant" => "noncompliant",
            "ingraceperiod" => "inGracePeriod",
            "conflict" => "conflict",
            "error" => "error",
            "unknown" | "none" => "unknown",
            "configmanager" => "configManager",
            _ => return None,
        },
    )
}

fn is_compliant(state: &str) -> Option<bool> {
    match state {
        "compliant" => Some(true),
        "noncompliant" | "inGracePeriod" | "conflict" | "error" => Some(false),
        _ => None,
    }
}

/// A date at `path`, or `None` for Intune's placeholders: `9999-12-31` ("no grace period",
/// "never") and `0001-01-01` (a device that never synced). Every Intune device date goes
/// through here, so a placeholder never becomes a time in any column.
fn intune_time(value: &Value, path: &[&str]) -> Option<i64> {
    let text = str_at(value, path)?;
    if text.starts_with("9999") || text.starts_with("0001") {
        return None;
    }
    super::parse_timestamp_ms(&text)
}

/// The compliance state a record states under `key` (a spelling Intune does not use is an
/// invalid field); a record that states none is `unknown`, as Graph writes a device not yet
/// evaluated, rather than refused whole.
fn stated_state(value: &Value, key: &str) -> Result<&'static str, ParseError> {
    match str_at(value, &[key]) {
        None => Ok("unknown"),
        Some(text) => compliance_state(&text).ok_or_else(|| super::jv::invalid(key, &text)),
    }
}

const DIAG_MAPPED: &[&str] = &[
    "DeviceId",
    "DeviceName",
    "UPN",
    "LastContact",
    "OS",
    "OSVersion",
    "CompliantState",
    "ManagedBy",
    "DeviceState",
    "JoinType",
    "InGracePeriodUntil",
    "ReferenceId",
    "Model",
];

const GRAPH_MAPPED: &[&str] = &[
    "id",
    "deviceName",
    "azureADDeviceId",
    "operatingSystem",
    "osVersion",
    "complianceState",
    "complianceGracePeriodExpirationDateTime",
    "lastSyncDateTime",
    "userPrincipalName",
    "managementAgent",
    "managementState",
    "deviceType",
    "model",
    "azureADRegistered",
];

/// An Intune diagnostic record no class maps (audit logs, enrollment and other operational
/// logs): who did what to which object.
fn append_base_event<'v>(
    value: &'v Value,
    mut common: Common<'v>,
    record: &[u8],
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let time = intune_time(value, &["time"])
        .or_else(|| intune_time(value, &["properties", "StartTimeUtc"]))
        .ok_or_else(|| missing("time"))?;
    let category = str_at(value, &["category"]).unwrap_or_default();
    let event_type = str_at(value, &["operationName"])
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| category.clone());
    common.time = Some(time);
    // Not `correlationId`: one correlation groups several operations at different times, which
    // would count as one event and be merged away by compaction. Without an audit id, a
    // redelivered record is recognised by its content.
    common.metadata_uid = Some(
        first_str(value, &[&["properties", "AuditEventId"]])
            .unwrap_or_else(|| Cow::Owned(content_uid("intune-event", record))),
    );
    common.metadata_log_name = Some(Cow::Owned(format!("Intune {category}")));
    common.status_code = str_at(value, &["resultType"]);
    common.status_id = Some(match common.status_code.as_deref() {
        Some(r) if r.eq_ignore_ascii_case("success") => 1,
        Some(r) if r.eq_ignore_ascii_case("failure") => 2,
        _ => 0,
    });
    let mut row = BaseEventRow {
        common,
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    let actor_upn = first_str(value, &[&["properties", "Actor", "UPN"], &["identity"]]);
    own.actor_user_email_addr = actor_upn.clone().filter(|u| u.contains('@'));
    own.actor_user_name = actor_upn;
    own.actor_user_uid = first_str(
        value,
        &[
            &["properties", "Actor", "ObjectId"],
            &["properties", "IntuneUserId"],
        ],
    );
    own.device_uid = str_at(value, &["properties", "IntuneDeviceId"]);
    let first = |key: &str| {
        super::jv::array_at(value, &["properties", key])
            .iter()
            .find_map(|v| super::jv::as_text(v).filter(|t| t != "<null>" && !t.is_empty()))
    };
    own.zt_target_uid = first("TargetObjectIds");
    own.zt_target_name = first("TargetDisplayNames");
    if own.zt_target_uid.is_some() || own.zt_target_name.is_some() {
        // "Create MobileApp" acts on a MobileApp.
        own.zt_target_type = event_type
            .rsplit(' ')
            .next()
            .filter(|w| !w.is_empty())
            .map(|w| Cow::Owned(w.to_string()));
    }
    out.append_base_event(&mut row, &event_type, record);
    Ok(1)
}

impl Parser for IntuneParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "an Intune device")?;
        let mut common = Common {
            metadata_product_name: Some(Cow::Borrowed("intune")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Microsoft")),
            metadata_tenant_uid: first_str(
                &value,
                &[&["tenantId"], &["properties", "AADTenantId"]],
            ),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            activity_id: Some(2),
            activity_name: Some(Cow::Borrowed("Collect")),
            status_id: Some(1),
            ..Common::default()
        };
        let category = str_at(&value, &["category"]);
        let mut row = match category.as_deref() {
            Some("Devices") => {
                let p =
                    super::jv::at(&value, &["properties"]).ok_or_else(|| missing("properties"))?;
                let state = stated_state(p, "CompliantState")?;
                let last_contact = intune_time(p, &["LastContact"]);
                let time = intune_time(&value, &["time"])
                    .or(last_contact)
                    .ok_or_else(|| missing("time"))?;
                let device =
                    str_at(p, &["DeviceId"]).ok_or_else(|| missing("properties.DeviceId"))?;
                common.time = Some(time);
                common.metadata_event_code = Some(Cow::Borrowed("Devices"));
                common.metadata_log_name = Some(Cow::Borrowed("Intune Devices export"));
                common.metadata_uid = Some(Cow::Owned(content_uid(
                    "intune",
                    format!("{device}|{time}|{state}").as_bytes(),
                )));
                common.unmapped = unmapped(p, DIAG_MAPPED).map(Cow::Owned);
                let mut row = DeviceStateRow {
                    common,
                    ..Default::default()
                };
                let d = &mut row.own;
                d.device_uid = Some(device);
                d.device_uid_alt = str_at(p, &["ReferenceId"]);
                d.device_hostname = str_at(p, &["DeviceName"]);
                d.device_os_name = str_at(p, &["OS"]);
                d.device_os_version = str_at(p, &["OSVersion"]);
                d.device_type = str_at(p, &["Model"]);
                d.device_owner_uid = str_at(p, &["UPN"]);
                d.device_is_managed = str_at(p, &["DeviceState"])
                    .map(|s| s.eq_ignore_ascii_case("Managed"))
                    .or_else(|| bool_at(p, &["GraphDeviceIsManaged"]));
                d.device_is_trusted = str_at(p, &["JoinType"])
                    .map(|j| !j.is_empty() && !j.eq_ignore_ascii_case("unknown"));
                d.device_last_seen_time = last_contact;
                d.agent_name = str_at(p, &["ManagedBy"]);
                d.zt_compliance_state = Some(Cow::Borrowed(state));
                d.device_is_compliant = is_compliant(state);
                d.zt_grace_until = intune_time(p, &["InGracePeriodUntil"]);
                row
            }
            Some("OperationalLogs") => {
                let p =
                    super::jv::at(&value, &["properties"]).ok_or_else(|| missing("properties"))?;
                if str_at(p, &["OperationalLogCategory"]).as_deref() != Some("DeviceCompliance") {
                    return append_base_event(&value, common, record, out);
                }
                let time = intune_time(p, &["StartTimeUtc"])
                    .or_else(|| intune_time(&value, &["time"]))
                    .ok_or_else(|| missing("time"))?;
                let device = str_at(p, &["IntuneDeviceId"])
                    .ok_or_else(|| missing("properties.IntuneDeviceId"))?;
                common.time = Some(time);
                common.metadata_event_code = Some(Cow::Borrowed("Compliance"));
                common.metadata_log_name = Some(Cow::Borrowed("Intune operational logs"));
                common.metadata_uid = Some(Cow::Owned(content_uid("intune-op", record)));
                common.message = str_at(p, &["AlertDisplayName"]);
                common.status_detail = str_at(p, &["Description"]);
                let mut row = DeviceStateRow {
                    common,
                    ..Default::default()
                };
                let d = &mut row.own;
                d.device_uid = Some(device);
                d.device_uid_alt = str_at(p, &["AADDeviceId"]);
                d.device_hostname = first_str(p, &[&["DeviceHostName"], &["DeviceName"]]);
                d.device_os_name = str_at(p, &["DeviceOperatingSystem"]);
                d.device_owner_uid = str_at(p, &["UserName"]);
                d.device_is_managed = Some(true);
                d.zt_compliance_state = Some(Cow::Borrowed("noncompliant"));
                d.device_is_compliant = Some(false);
                row
            }
            // Audit logs and the other diagnostic categories.
            Some(_) => return append_base_event(&value, common, record, out),
            None => {
                // Graph managedDevice.
                let state = stated_state(&value, "complianceState")?;
                // A device that never synced (0001-01-01) is dated by its enrollment.
                let last_sync = intune_time(&value, &["lastSyncDateTime"]);
                let time = last_sync
                    .or_else(|| intune_time(&value, &["enrolledDateTime"]))
                    .ok_or_else(|| missing("lastSyncDateTime (or enrolledDateTime)"))?;
                let device = str_at(&value, &["id"]).ok_or_else(|| missing("id"))?;
                common.time = Some(time);
                common.metadata_event_code = Some(Cow::Borrowed("managedDevice"));
                common.metadata_log_name = Some(Cow::Borrowed("Graph managedDevices"));
                common.metadata_uid = Some(Cow::Owned(content_uid(
                    "intune",
                    format!("{device}|{time}|{state}").as_bytes(),
                )));
                common.unmapped = unmapped(&value, GRAPH_MAPPED).map(Cow::Owned);
                let mut row = DeviceStateRow {
                    common,
                    ..Default::default()
                };
                let d = &mut row.own;
                d.device_uid = Some(device);
                d.device_uid_alt = str_at(&value, &["azureADDeviceId"])
                    .filter(|id| id != "00000000-0000-0000-0000-000000000000");
                d.device_hostname = str_at(&value, &["deviceName"]);
                d.device_os_name = str_at(&value, &["operatingSystem"]);
                d.device_os_version = str_at(&value, &["osVersion"]);
                d.device_type = first_str(&value, &[&["deviceType"], &["model"]]);
                d.device_owner_uid = str_at(&value, &["userPrincipalName"]);
                d.device_is_managed = Some(
                    str_at(&value, &["managementState"])
                        .is_none_or(|s| s.eq_ignore_ascii_case("managed")),
                );
                d.device_is_trusted = bool_at(&value, &["azureADRegistered"]);
                d.device_last_seen_time = last_sync;
                d.agent_name = str_at(&value, &["managementAgent"]);
                d.zt_compliance_state = Some(Cow::Borrowed(state));
                d.device_is_compliant = is_compliant(state);
                d.zt_grace_until =
                    intune_time(&value, &["complianceGracePeriodExpirationDateTime"]);
                row
            }
        };
        row.own.security_level_id = row.own.device_is_compliant.map(|c| if c { 1 } else { 2 });
        out.device_state.append(&mut row);
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_in_every_spelling() {
        assert_eq!(compliance_state("Compliant"), Some("compliant"));
        assert_eq!(compliance_state("Noncompliant"), Some("noncompliant"));
        assert_eq!(compliance_state("Not Compliant"), Some("noncompliant"));
        assert_eq!(compliance_state("InGracePeriod"), Some("inGracePeriod"));
        assert_eq!(compliance_state("inGracePeriod"), Some("inGracePeriod"));
        assert_eq!(compliance_state("ConfigManager"), Some("configManager"));
        assert_eq!(compliance_state("weird"), None);
        assert_eq!(is_compliant("inGracePeriod"), Some(false));
        assert_eq!(is_compliant("unknown"), None);
    }

    #[test]
    fn placeholders_are_no_dates_and_no_state_is_unknown() {
        let v = serde_json::json!({"a": "9999-12-31 23:59:59.9999999",
            "b": "0001-01-01T00:00:00Z", "c": "2026-03-04 21:00:00.0000000"});
        assert_eq!(intune_time(&v, &["a"]), None);
        assert_eq!(intune_time(&v, &["b"]), None);
        assert_eq!(intune_time(&v, &["c"]), Some(1_772_658_000_000));
        assert_eq!(stated_state(&v, "CompliantState").unwrap(), "unknown");
    }

    #[test]
    fn operations_that_share_a_correlation_are_different_events() {
        let record = |time: &str, operation: &str| {
            format!(
                r#"{{"time": "{time}", "category": "OperationalLogs", "correlationId": "c-1", "operationName": "{operation}", "resultType": "Success", "properties": {{"IntuneDeviceId": "d-1"}}}}"#
            )
        };
        let input = [
            record("2026-03-02T08:59:00Z", "Enrollment"),
            record("2026-03-02T09:01:00Z", "Compliance"),
            record("2026-03-02T09:01:00Z", "Compliance"),
        ]
        .join("\n");
        let mut parser = FORMAT.parser(std::sync::Arc::new(crate::site::Site::default()));
        let mut out = crate::schema::TableBuilders::new(0);
        for line in input.lines() {
            parser.parse(line.as_bytes(), "test", &mut out).unwrap();
        }
        let mut uids = Vec::new();
        for (_, batch) in &out.finish() {
            let column = batch
                .column_by_name("metadata_uid")
                .unwrap()
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .unwrap();
            uids.extend(column.iter().map(|u| u.unwrap().to_string()));
        }
        assert_eq!(uids.len(), 3, "{uids:?}");
        assert_ne!(uids[0], uids[1], "two operations of one correlation");
        assert_eq!(uids[1], uids[2], "a redelivered record is the same event");
    }

    #[test]
    fn audit_logs_are_recognized_and_entra_audit_logs_are_not() {
        assert!(looks_like_intune(
            r#"{"category": "AuditLogs", "properties": {"AuditEventId": "a1", "Actor": {"UPN": "admin@corp.example"}}}"#
        ));
        assert!(!looks_like_intune(
            r#"{"category": "AuditLogs", "properties": {"activityDisplayName": "Add user"}}"#
        ));
    }
}
