//! Jamf Pro computer inventory → `device_state`.
//!
//! Input, one computer per record:
//! - Jamf Pro API `GET /api/v1/computers-inventory` items (the `{"results": [...]}` page is
//!   split by the framer): `id`, `udid`, `general.{name, lastContactTime, reportDate,
//!   remoteManagement.managed}`, `operatingSystem.{name, version, fileVault2Status}`,
//!   `userAndLocation.{email, username}`, `hardware.model`;
//! - Jamf Pro webhooks `ComputerCheckIn`, `ComputerInventoryCompleted`, `ComputerAdded`:
//!   `{"webhook": {"webhookEvent", "eventTimestamp"}, "event": {"computer": {...}}}`.
//!
//! Other webhooks (policy runs, patch events, REST API operations …) are stored in `base_event`.
//!
//! Jamf manages Macs but states no compliance verdict of its own (compliance is decided where
//! Jamf reports to, e.g. Intune's partner compliance), so `zt_compliance_state` stays empty and
//! `device_is_managed` carries what Jamf knows. A FileVault status other than all-encrypted is
//! kept in `unmapped` for posture checks. `time` is the check-in (or webhook) time;
//! `metadata_uid` hashes device and time.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{at, bool_at, first_str, missing, parse_object, str_at, time_at};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, json_object};
use crate::record::{Framing, ParseError};
use crate::schema::{BaseEventRow, Common, DeviceStateRow, TableBuilders};
use crate::site::Site;

/// Jamf Pro computer inventory and check-in webhooks.
pub static SPEC: VendorSpec = VendorSpec {
    name: "jamf",
    aliases: &["jamf_pro"],
    framing: Framing::Json,
    envelope_keys: &["results"],
    stateful: false,
    sniff: Sniff::Json(looks_like_jamf),
    parser: |site| Box::new(JamfParser::new(site)),
};

/// The jamf format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct JamfParser {
    _site: Arc<Site>,
}

impl JamfParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { _site: site }
    }
}

/// Whether a JSON record looks like Jamf Pro inventory or a Jamf webhook.
pub fn looks_like_jamf(head: &str) -> bool {
    (head.contains("\"remoteManagement\"") && head.contains("\"general\""))
        || (head.contains("\"webhookEvent\"") && head.contains("\"Computer"))
}

impl Parser for JamfParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a Jamf Pro")?;
        if let Some(webhook) = at(&value, &["webhook"]) {
            let event = str_at(webhook, &["webhookEvent"])
                .ok_or_else(|| missing("webhook.webhookEvent"))?;
            if !MAPPED_WEBHOOKS.contains(&event.as_ref()) {
                return append_base_event(&value, webhook, &event, record, raw_ref, out);
            }
        }
        let mut row = if let Some(webhook) = at(&value, &["webhook"]) {
            from_webhook(&value, webhook)?
        } else {
            from_inventory(&value)?
        };
        let c = &mut row.common;
        let device = row.own.device_uid.as_deref().unwrap_or("");
        c.metadata_uid = Some(Cow::Owned(content_uid(
            "jamf",
            format!("{device}|{}", c.time.unwrap_or(0)).as_bytes(),
        )));
        c.metadata_product_name = Some(Cow::Borrowed("jamf"));
        c.metadata_product_vendor_name = Some(Cow::Borrowed("Jamf"));
        c.activity_id = Some(2);
        c.activity_name = Some(Cow::Borrowed("Collect"));
        c.status_id = Some(1);
        c.severity_id = Some(1);
        c.raw_ref = Some(Cow::Borrowed(raw_ref));
        row.own.agent_name = Some(Cow::Borrowed("Jamf Pro"));
        out.device_state.append(&mut row);
        Ok(1)
    }
}

fn from_inventory(value: &Value) -> Result<DeviceStateRow<'_>, ParseError> {
    let id = first_str(value, &[&["id"], &["udid"]]).ok_or_else(|| missing("id"))?;
    let time = time_at(value, &["general", "lastContactTime"])
        .or_else(|| time_at(value, &["general", "reportDate"]))
        .ok_or_else(|| missing("general.lastContactTime (or reportDate)"))?;
    let mut row = DeviceStateRow {
        common: Common {
            time: Some(time),
            metadata_event_code: Some(Cow::Borrowed("computers-inventory")),
            metadata_log_name: Some(Cow::Borrowed("Jamf Pro inventory")),
            ..Common::default()
        },
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_uid = Some(id);
    d.device_uid_alt = str_at(value, &["udid"]);
    d.device_hostname = str_at(value, &["general", "name"]);
    d.device_os_name = str_at(value, &["operatingSystem", "name"]).or(Some(Cow::Borrowed("macOS")));
    d.device_os_version = str_at(value, &["operatingSystem", "version"]);
    d.device_type = str_at(value, &["hardware", "model"]);
    d.device_is_managed = bool_at(value, &["general", "remoteManagement", "managed"]);
    d.device_owner_uid = first_str(
        value,
        &[
            &["userAndLocation", "email"],
            &["userAndLocation", "username"],
        ],
    );
    d.device_last_seen_time = Some(time);
    if let Some(filevault) = str_at(value, &["operatingSystem", "fileVault2Status"]) {
        let text = serde_json::to_string(filevault.as_ref()).unwrap_or_default();
        row.common.unmapped = json_object(&[("fileVault2Status", &text)]).map(Cow::Owned);
    }
    Ok(row)
}

/// Webhooks that carry a computer's state; the others go to `base_event`.
const MAPPED_WEBHOOKS: &[&str] = &[
    "ComputerCheckIn",
    "ComputerInventoryCompleted",
    "ComputerAdded",
];

/// A webhook no class maps (policy runs, patch events, REST API operations …): the computer
/// or object it is about, the user who acted, and the record.
fn append_base_event(
    value: &Value,
    webhook: &Value,
    event: &str,
    record: &[u8],
    raw_ref: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let time = str_at(webhook, &["eventTimestamp"])
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|ms| (ms.unsigned_abs() as f64) < super::jv::MAX_EPOCH_SECONDS * 1000.0)
        .or_else(|| time_at(webhook, &["eventTimestamp"]))
        .ok_or_else(|| missing("webhook.eventTimestamp"))?;
    let mut row = BaseEventRow {
        common: Common {
            time: Some(time),
            metadata_uid: Some(Cow::Owned(content_uid("jamf", record))),
            metadata_log_name: Some(Cow::Borrowed("Jamf Pro webhook")),
            metadata_product_name: Some(Cow::Borrowed("jamf")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Jamf")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            ..Common::default()
        },
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    if let Some(computer) = at(value, &["event", "computer"]) {
        own.device_uid = first_str(computer, &[&["jssID"], &["udid"]]);
        own.device_hostname = str_at(computer, &["deviceName"]);
        own.src_endpoint_ip =
            str_at(computer, &["ipAddress"]).filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        own.zt_target_type = Some(Cow::Borrowed("Computer"));
        own.zt_target_uid = own.device_uid.clone();
        own.zt_target_name = own.device_hostname.clone();
    } else if let Some(object) = at(value, &["event"]) {
        own.zt_target_type = str_at(object, &["objectTypeName"]);
        own.zt_target_uid = str_at(object, &["objectID"]);
        own.zt_target_name = str_at(object, &["objectName"]);
        own.actor_user_name = str_at(object, &["authorizedUsername"]);
    }
    out.append_base_event(&mut row, event, record);
    Ok(1)
}

fn from_webhook<'v>(
    value: &'v Value,
    webhook: &'v Value,
) -> Result<DeviceStateRow<'v>, ParseError> {
    let event =
        str_at(webhook, &["webhookEvent"]).ok_or_else(|| missing("webhook.webhookEvent"))?;
    let computer = at(value, &["event", "computer"])
        .or_else(|| at(value, &["event"]))
        .ok_or_else(|| missing("event.computer"))?;
    let time = str_at(webhook, &["eventTimestamp"])
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|ms| (ms.unsigned_abs() as f64) < super::jv::MAX_EPOCH_SECONDS * 1000.0)
        .or_else(|| time_at(webhook, &["eventTimestamp"]))
        .ok_or_else(|| missing("webhook.eventTimestamp"))?;
    let id =
        first_str(computer, &[&["jssID"], &["udid"]]).ok_or_else(|| missing("computer.jssID"))?;
    let mut row = DeviceStateRow {
        common: Common {
            time: Some(time),
            metadata_event_code: Some(event),
            metadata_log_name: Some(Cow::Borrowed("Jamf Pro webhook")),
            ..Common::default()
        },
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_uid = Some(id);
    d.device_uid_alt = str_at(computer, &["udid"]);
    d.device_hostname = str_at(computer, &["deviceName"]);
    d.device_os_name = Some(Cow::Borrowed("macOS"));
    d.device_os_version = str_at(computer, &["osVersion"]);
    d.device_type = str_at(computer, &["model"]);
    d.device_is_managed = Some(true);
    d.device_owner_uid = first_str(computer, &[&["emailAddress"], &["username"]]);
    d.device_last_seen_time = Some(time);
    Ok(row)
}
