//! Kandji (Iru Endpoint) device inventory and Blueprint status → `device_state`.
//!
//! Input, one JSON object per record (Kandji API responses as a collector saves them: a page, an
//! NDJSON file of responses, or one response per message):
//! - **List Devices** items (`GET /api/v1/devices`, a bare JSON array the framer splits):
//!   `device_id`, `device_name`, `platform` (`Mac`, `iPad`, `iPhone`, `AppleTV`), `os_version`,
//!   `model`, `serial_number`, `last_check_in`, `last_enrollment`, `user{email, name, id}` (or
//!   `""` when unassigned), `blueprint_name`, `tags[]`, `mdm_enabled`, `agent_installed`,
//!   `agent_version`, `is_missing`, `is_removed`;
//! - **Get Device Details** (`GET /api/v1/devices/{id}/details`): `general{device_id,
//!   device_name, platform, …}`, `kandji_agent{agent_installed: "True", agent_version,
//!   last_check_in}`, `mdm{mdm_enabled: "True", last_check_in}`, `hardware_overview`,
//!   `filevault`, … (booleans written as the strings `True`/`False`);
//! - **Device library items / status / parameters** (`GET /api/v1/devices/{id}/library-items`,
//!   `…/status`, `…/parameters`): `{"device_id", "library_items": [{name, type, status,
//!   reported_at, …}], "parameters": [{name, category, subcategory, status}]}`, one device per
//!   record;
//! - **Audit log events** (`GET /api/v1/audit/events`, `{"results": [...]}` split by the
//!   framer) and **device activity** (`GET /api/v1/devices/{id}/activity`): stored in
//!   `base_event`.
//!
//! Kandji states no device-level compliance verdict: list items and details become
//! `device_state` rows without one (as Jamf), carrying management (`mdm_enabled`, not removed)
//! and agent hygiene in `agent_health` (`missing` when Kandji lists the device as missing,
//! else `installed` / `not_installed` for Macs, the only platform with an agent). The verdict
//! comes from the Blueprint audit results of the library-items/status records: any item or
//! parameter in `ERROR` ("Audit failure") or `failed` (a profile that failed to install) →
//! `noncompliant`, the failing items in `status_detail`; else any `PASS`, `success` or
//! `REMEDIATED` → `compliant`; else (only pending, available, excluded … items) `unknown`.
//! `device_is_compliant` and `security_level_id` follow Intune's rule (true / 1 only for
//! compliant, false / 2 for noncompliant, empty for unknown).
//!
//! `time` is the device's last check-in (agent, else MDM; else its enrollment), and for a status
//! record the latest time an item reported. `metadata_uid` hashes the record kind, device, time
//! and the state the row states (management and agent health, or the verdict), so a re-polled
//! unchanged device is one row and a device that turned missing without checking in is a new
//! one. Audit events keep Kandji's event `id`. A status record whose items never reported
//! (all pending) has no time and is refused like any record without one.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jv::{array_at, as_text, at, bool_at, first_str, get, missing, parse_object, str_at};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, parse_timestamp_ms};
use crate::record::{Framing, ParseError};
use crate::schema::{BaseEventRow, Common, DeviceStateRow, TableBuilders};
use crate::site::Site;

/// Kandji (Iru Endpoint) devices, device details, Blueprint status and audit events.
pub static SPEC: VendorSpec = VendorSpec {
    name: "kandji",
    aliases: &["iru"],
    framing: Framing::Json,
    // Audit event pages. Not `library_items`: a status record must stay whole, its items are
    // one device's verdict and the device id sits beside them.
    envelope_keys: &["results"],
    stateful: false,
    sniff: Sniff::Json(looks_like_kandji),
    parser: |site| Box::new(KandjiParser::new(site)),
};

/// The kandji format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct KandjiParser {
    _site: Arc<Site>,
}

impl KandjiParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { _site: site }
    }
}

/// Whether a JSON record looks like a Kandji device, device details, status, audit or device
/// activity record.
pub fn looks_like_kandji(head: &str) -> bool {
    (head.contains("\"device_id\"")
        && head.contains("\"blueprint_id\"")
        && (head.contains("\"mdm_enabled\"") || head.contains("\"agent_installed\"")))
        || (head.contains("\"kandji_agent\"") && head.contains("\"general\""))
        || (head.contains("\"device_id\"")
            && (head.contains("\"library_items\"")
                || (head.contains("\"parameters\"") && head.contains("\"subcategory\""))))
        || (head.contains("\"target_component\"") && head.contains("\"occurred_at\""))
        || (head.contains("\"activity\"")
            && head.contains("\"action_type\"")
            && (head.contains("\"device_id\"") || head.contains("\"computer\"")))
}

/// The kinds of Kandji record, told apart by their shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A List Devices item.
    Device,
    /// Get Device Details.
    Details,
    /// Library items, status or parameters of one device: the verdict.
    Status,
    /// An audit log event.
    Audit,
    /// A device's activity list.
    Activity,
}

fn kind(value: &Value) -> Kind {
    let is_array = |key: &str| get(value, key).is_some_and(Value::is_array);
    let is_object = |key: &str| get(value, key).is_some_and(Value::is_object);
    if is_array("library_items") || is_array("parameters") {
        Kind::Status
    } else if is_object("general") {
        Kind::Details
    } else if get(value, "occurred_at").is_some()
        && (get(value, "action").is_some() || get(value, "target_type").is_some())
    {
        Kind::Audit
    } else if is_object("activity") {
        Kind::Activity
    } else {
        Kind::Device
    }
}

impl Parser for KandjiParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a Kandji")?;
        let common = Common {
            metadata_product_name: Some(Cow::Borrowed("kandji")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Kandji")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            ..Common::default()
        };
        let mut row = match kind(&value) {
            Kind::Device => from_device(&value, common)?,
            Kind::Details => from_details(&value, common)?,
            Kind::Status => from_status(&value, common)?,
            Kind::Audit => return append_audit_event(&value, common, record, out),
            Kind::Activity => return append_activity(&value, common, record, out),
        };
        let c = &mut row.common;
        c.activity_id = Some(2);
        c.activity_name = Some(Cow::Borrowed("Collect"));
        c.status_id = Some(1);
        row.own.agent_name = Some(Cow::Borrowed("Kandji"));
        out.device_state.append(&mut row);
        Ok(1)
    }
}

/// A date at `path` as epoch milliseconds: `None` when absent or empty (Kandji writes `""` for
/// a device that never checked in), an invalid-field error naming `field` when it is no date
/// or beyond the epoch bound. Kandji writes RFC 3339 with `Z` (`2023-01-18T21:46:26.879113Z`)
/// and `2022-12-13 19:14:20.455640+00:00`; both parse.
fn kandji_time(value: &Value, path: &[&str], field: &str) -> Result<Option<i64>, ParseError> {
    let Some(text) = str_at(value, path) else {
        return Ok(None);
    };
    // Placeholders some exports write for "never" are no dates (Intune's rule).
    if text.starts_with("0001-") || text.starts_with("9999-") {
        return Ok(None);
    }
    parse_timestamp_ms(&text)
        .filter(|ms| (ms.unsigned_abs() as f64) < super::jv::MAX_EPOCH_SECONDS * 1000.0)
        .map(Some)
        .ok_or_else(|| super::jv::invalid(field, &text))
}

/// Kandji's platform names → the operating system names the other sources write (Jamf and
/// Intune write `macOS`, `iOS`): the compliance KPIs are labelled by it.
fn os_name(platform: Cow<'_, str>) -> Cow<'_, str> {
    let name = match platform.to_ascii_lowercase().as_str() {
        "mac" | "macos" => "macOS",
        "iphone" | "ipod" => "iOS",
        "ipad" => "iPadOS",
        "appletv" => "tvOS",
        "vision" | "applevision" => "visionOS",
        _ => return platform,
    };
    Cow::Borrowed(name)
}

/// OCSF device type id from the platform and model: 2 Desktop, 3 Laptop, 4 Tablet, 5 Mobile,
/// 99 Other; `None` where it cannot be told (a Mac of unknown model).
fn device_type_id(platform: &str, model: Option<&str>) -> Option<i32> {
    match platform.to_ascii_lowercase().as_str() {
        "mac" => model.map(|m| if m.contains("MacBook") { 3 } else { 2 }),
        "ipad" => Some(4),
        "iphone" | "ipod" => Some(5),
        "appletv" | "vision" | "applevision" => Some(99),
        _ => None,
    }
}

/// Agent hygiene: `missing` when Kandji lists the device as missing (whatever the platform),
/// else whether the Kandji agent is installed, for Macs only: the agent exists for macOS alone,
/// and Kandji's own examples show `agent_installed: true` on iPads.
fn agent_health(
    platform: Option<&str>,
    is_missing: Option<bool>,
    installed: Option<bool>,
) -> Option<&'static str> {
    if is_missing == Some(true) {
        return Some("missing");
    }
    if !platform.is_some_and(|p| p.eq_ignore_ascii_case("mac")) {
        return None;
    }
    installed.map(|i| if i { "installed" } else { "not_installed" })
}

/// Blueprint name first, then the tags, each once.
fn groups<'v>(blueprint: Option<Cow<'v, str>>, tags: &'v [Value]) -> Vec<Cow<'v, str>> {
    unique(blueprint.into_iter().chain(tags.iter().filter_map(as_text)))
}

/// Each name once, in first-seen order. A set, not `Vec::contains`: a record may hold a
/// hundred thousand tags, and a quadratic scan of them is a denial of service.
fn unique<'v>(names: impl Iterator<Item = Cow<'v, str>>) -> Vec<Cow<'v, str>> {
    let mut seen = HashSet::new();
    names.filter(|n| seen.insert(n.clone())).collect()
}

/// The id of an inventory row: kind, device, time and what it states, so a re-polled unchanged
/// device is one row and a device whose state changed without a new check-in is another.
fn inventory_uid(
    kind: &str,
    device: &str,
    time: i64,
    managed: Option<bool>,
    health: Option<&str>,
) -> String {
    let managed = managed.map_or("", |m| if m { "true" } else { "false" });
    let health = health.unwrap_or("");
    content_uid(
        "kandji",
        format!("{kind}|{device}|{time}|{managed}|{health}").as_bytes(),
    )
}

/// List Devices fields that have a column (the others, `is_missing`, `agent_installed`,
/// `mdm_enabled`, `user` … stay in `unmapped`: the columns hold what is derived from them).
const DEVICE_MAPPED: &[&str] = &[
    "device_id",
    "device_name",
    "platform",
    "os_version",
    "model",
    "serial_number",
    "last_check_in",
    "blueprint_name",
    "tags",
    "agent_version",
];

fn from_device<'v>(
    value: &'v Value,
    mut common: Common<'v>,
) -> Result<DeviceStateRow<'v>, ParseError> {
    let device = str_at(value, &["device_id"]).ok_or_else(|| missing("device_id"))?;
    let last_check_in = kandji_time(value, &["last_check_in"], "last_check_in")?;
    let time = match last_check_in {
        Some(t) => t,
        // A device that never checked in is dated by its enrollment.
        None => kandji_time(value, &["last_enrollment"], "last_enrollment")?
            .ok_or_else(|| missing("last_check_in (or last_enrollment)"))?,
    };
    let platform = str_at(value, &["platform"]);
    let model = str_at(value, &["model"]);
    let removed = bool_at(value, &["is_removed"]) == Some(true);
    let managed = bool_at(value, &["mdm_enabled"]).map(|m| m && !removed);
    let health = agent_health(
        platform.as_deref(),
        bool_at(value, &["is_missing"]),
        bool_at(value, &["agent_installed"]),
    );
    common.time = Some(time);
    common.metadata_event_code = Some(Cow::Borrowed("devices"));
    common.metadata_log_name = Some(Cow::Borrowed("Kandji devices"));
    common.metadata_uid = Some(Cow::Owned(inventory_uid(
        "devices", &device, time, managed, health,
    )));
    common.unmapped = super::jv::unmapped(value, DEVICE_MAPPED).map(Cow::Owned);
    let mut row = DeviceStateRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_type_id = platform
        .as_deref()
        .and_then(|p| device_type_id(p, model.as_deref()));
    d.device_uid = Some(device);
    d.device_uid_alt = str_at(value, &["serial_number"]);
    d.device_hostname = str_at(value, &["device_name"]);
    d.device_os_name = platform.map(os_name);
    d.device_os_version = str_at(value, &["os_version"]);
    d.device_type = model;
    // `user` is an object, or `""` when the device is unassigned.
    d.device_owner_uid = first_str(value, &[&["user", "email"], &["user", "name"]])
        .or_else(|| str_at(value, &["user"]).filter(|u| u.contains('@')));
    d.device_is_managed = managed;
    d.device_last_seen_time = last_check_in;
    d.device_groups = groups(
        str_at(value, &["blueprint_name"]),
        array_at(value, &["tags"]),
    );
    d.agent_version = str_at(value, &["agent_version"]);
    d.agent_health = health.map(Cow::Borrowed);
    Ok(row)
}

/// Details members that have a column, per section; every other member (FileVault, activation
/// lock, recovery, volumes, users, profiles …) stays in `unmapped`.
const DETAILS_MAPPED: &[(&str, &[&str])] = &[
    (
        "general",
        &[
            "device_id",
            "device_name",
            "platform",
            "os_version",
            "model",
            "assigned_user",
            "blueprint_name",
        ],
    ),
    ("kandji_agent", &["agent_version", "last_check_in"]),
    ("hardware_overview", &["serial_number"]),
];

fn from_details<'v>(
    value: &'v Value,
    mut common: Common<'v>,
) -> Result<DeviceStateRow<'v>, ParseError> {
    let general = at(value, &["general"]).ok_or_else(|| missing("general"))?;
    let device = str_at(general, &["device_id"]).ok_or_else(|| missing("general.device_id"))?;
    let agent_seen = kandji_time(
        value,
        &["kandji_agent", "last_check_in"],
        "kandji_agent.last_check_in",
    )?;
    let mdm_seen = kandji_time(value, &["mdm", "last_check_in"], "mdm.last_check_in")?;
    let last_seen = agent_seen.or(mdm_seen);
    let time = match last_seen {
        Some(t) => t,
        None => kandji_time(
            value,
            &["general", "last_enrollment"],
            "general.last_enrollment",
        )?
        .ok_or_else(|| missing("kandji_agent.last_check_in (or mdm.last_check_in)"))?,
    };
    let platform = str_at(general, &["platform"]);
    let model = str_at(general, &["model"]);
    // Details write these booleans as the strings "True"/"False"; `bool_at` reads both.
    let managed = bool_at(value, &["mdm", "mdm_enabled"]);
    let health = agent_health(
        platform.as_deref(),
        None,
        bool_at(value, &["kandji_agent", "agent_installed"]),
    );
    common.time = Some(time);
    common.metadata_event_code = Some(Cow::Borrowed("device-details"));
    common.metadata_log_name = Some(Cow::Borrowed("Kandji device details"));
    common.metadata_uid = Some(Cow::Owned(inventory_uid(
        "details", &device, time, managed, health,
    )));
    common.unmapped = nested_unmapped(value, &["tags"], DETAILS_MAPPED).map(Cow::Owned);
    let mut row = DeviceStateRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_type_id = platform
        .as_deref()
        .and_then(|p| device_type_id(p, model.as_deref()));
    d.device_uid = Some(device);
    d.device_uid_alt = str_at(value, &["hardware_overview", "serial_number"]);
    d.device_hostname = str_at(general, &["device_name"]);
    d.device_os_name = platform.map(os_name);
    d.device_os_version = str_at(general, &["os_version"]);
    d.device_type = model;
    d.device_owner_uid = str_at(general, &["assigned_user"]);
    d.device_is_managed = managed;
    d.device_last_seen_time = last_seen;
    d.device_groups = groups(
        str_at(general, &["blueprint_name"]),
        array_at(value, &["tags"]),
    );
    d.agent_version = str_at(value, &["kandji_agent", "agent_version"]);
    d.agent_health = health.map(Cow::Borrowed);
    Ok(row)
}

/// What one library item's or parameter's status says about the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `ERROR` ("Audit failure"), `failed` (a profile that failed to install).
    Fail,
    /// `PASS` ("Device meets requirements"), `success` (profile installed), `REMEDIATED`.
    Pass,
    /// Everything else: pending, installing, available in Self Service, excluded,
    /// incompatible, a muted alert (`WARNING`) … says nothing about compliance.
    Neutral,
}

fn outcome(status: &str) -> Outcome {
    match status.trim().to_ascii_lowercase().as_str() {
        "error" | "failed" => Outcome::Fail,
        "pass" | "success" | "remediated" => Outcome::Pass,
        _ => Outcome::Neutral,
    }
}

/// The verdict of a device's items and parameters, with the failing ones as
/// `name (type): STATUS`.
fn verdict<'v>(entries: impl Iterator<Item = &'v Value>) -> (&'static str, Vec<String>) {
    let mut failing = Vec::new();
    let mut passed = false;
    for entry in entries {
        let Some(status) = str_at(entry, &["status"]) else {
            continue;
        };
        match outcome(&status) {
            Outcome::Fail => {
                let name = first_str(entry, &[&["name"], &["item_id"], &["id"]])
                    .unwrap_or(Cow::Borrowed("?"));
                // Library items have a `type`, parameters a `category`.
                failing.push(match first_str(entry, &[&["type"], &["category"]]) {
                    Some(kind) => format!("{name} ({kind}): {status}"),
                    None => format!("{name}: {status}"),
                });
            }
            Outcome::Pass => passed = true,
            Outcome::Neutral => {}
        }
    }
    let state = if !failing.is_empty() {
        "noncompliant"
    } else if passed {
        "compliant"
    } else {
        "unknown"
    };
    (state, failing)
}

fn is_compliant(state: &str) -> Option<bool> {
    match state {
        "compliant" => Some(true),
        "noncompliant" => Some(false),
        _ => None,
    }
}

/// The item times a status record can carry (and how an error names them); the latest is when
/// the device last reported.
const ITEM_TIMES: &[(&str, &str)] = &[
    ("reported_at", "library_items[].reported_at"),
    ("control_reported_at", "library_items[].control_reported_at"),
    ("last_audit_run", "library_items[].last_audit_run"),
];

fn from_status<'v>(
    value: &'v Value,
    mut common: Common<'v>,
) -> Result<DeviceStateRow<'v>, ParseError> {
    let device = str_at(value, &["device_id"]).ok_or_else(|| missing("device_id"))?;
    let items = array_at(value, &["library_items"]);
    let parameters = array_at(value, &["parameters"]);
    let mut time: Option<i64> = None;
    for entry in items.iter().chain(parameters) {
        for &(key, field) in ITEM_TIMES {
            if let Some(t) = kandji_time(entry, &[key], field)? {
                time = Some(time.map_or(t, |latest| latest.max(t)));
            }
        }
    }
    // Items that never reported (all pending) date nothing: a row needs a time.
    let time = time.ok_or_else(|| missing("library_items[].reported_at"))?;
    let (state, failing) = verdict(items.iter().chain(parameters));
    let has = |key: &str| get(value, key).is_some_and(Value::is_array);
    let code = match (has("library_items"), has("parameters")) {
        (true, true) => "status",
        (true, false) => "library-items",
        _ => "parameters",
    };
    common.time = Some(time);
    common.metadata_event_code = Some(Cow::Borrowed(code));
    common.metadata_log_name = Some(Cow::Borrowed("Kandji device status"));
    common.metadata_uid = Some(Cow::Owned(content_uid(
        "kandji",
        format!("{code}|{device}|{time}|{state}").as_bytes(),
    )));
    common.status_detail = (!failing.is_empty()).then(|| Cow::Owned(failing.join("; ")));
    // The first failing item's audit output says why, in Kandji's words.
    common.message = items
        .iter()
        .chain(parameters)
        .filter(|e| str_at(e, &["status"]).is_some_and(|s| outcome(&s) == Outcome::Fail))
        .find_map(|e| first_str(e, &[&["last_audit_log"], &["log"]]))
        .map(|log| match log {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
        });
    // The items and parameters whole: names, logs, EDR status …
    common.unmapped = super::jv::unmapped(value, &["device_id"]).map(Cow::Owned);
    let mut row = DeviceStateRow {
        common,
        ..Default::default()
    };
    let d = &mut row.own;
    d.device_uid = Some(device);
    d.device_hostname = items.iter().find_map(|i| str_at(i, &["computer", "name"]));
    d.device_groups = unique(
        items
            .iter()
            .filter_map(|i| str_at(i, &["blueprint", "name"])),
    );
    d.zt_compliance_state = Some(Cow::Borrowed(state));
    d.device_is_compliant = is_compliant(state);
    d.security_level_id = d.device_is_compliant.map(|c| if c { 1 } else { 2 });
    Ok(row)
}

/// `object` without the members in `known` and, inside each listed section, without the
/// section's mapped members (a section left empty is dropped); `None` when nothing is left.
fn nested_unmapped(object: &Value, known: &[&str], sections: &[(&str, &[&str])]) -> Option<String> {
    let map = object.as_object()?;
    let mut rest = Map::new();
    for (key, value) in map {
        if value.is_null() || known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        let section = sections.iter().find(|(s, _)| s.eq_ignore_ascii_case(key));
        match (section, value) {
            (Some((_, mapped)), Value::Object(members)) => {
                let left: Map<String, Value> = members
                    .iter()
                    .filter(|(k, v)| {
                        !v.is_null() && !mapped.iter().any(|m| m.eq_ignore_ascii_case(k))
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !left.is_empty() {
                    rest.insert(key.clone(), Value::Object(left));
                }
            }
            _ => {
                rest.insert(key.clone(), value.clone());
            }
        }
    }
    (!rest.is_empty()).then(|| Value::Object(rest).to_string())
}

/// An audit log event (Blueprint and library item changes, API tokens, device lifecycle, admin
/// users …): `{target_type}.{action}` is the event type, `actor_id` the actor, `target_*` and
/// `new_state.name` the thing acted on.
fn append_audit_event<'v>(
    value: &'v Value,
    mut common: Common<'v>,
    record: &[u8],
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let time = kandji_time(value, &["occurred_at"], "occurred_at")?
        .ok_or_else(|| missing("occurred_at"))?;
    let action = str_at(value, &["action"]);
    let target_type = str_at(value, &["target_type"]);
    let event_type = match (&target_type, &action) {
        (Some(t), Some(a)) => format!("{t}.{a}"),
        (Some(only), None) | (None, Some(only)) => only.to_string(),
        (None, None) => "audit_event".to_string(),
    };
    common.time = Some(time);
    common.metadata_uid = Some(
        str_at(value, &["id"]).unwrap_or_else(|| Cow::Owned(content_uid("kandji-audit", record))),
    );
    common.metadata_log_name = Some(Cow::Borrowed("Kandji audit log"));
    let mut row = BaseEventRow {
        common,
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    own.actor_user_uid = str_at(value, &["actor_id"]);
    own.actor_user_type_id = str_at(value, &["actor_type"])
        .filter(|t| t.eq_ignore_ascii_case("user"))
        .map(|_| 1);
    own.zt_target_uid = str_at(value, &["target_id"]);
    own.zt_target_name = str_at(value, &["new_state", "name"]);
    if target_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("device"))
    {
        own.device_uid = own.zt_target_uid.clone();
    }
    own.zt_target_type = target_type;
    out.append_base_event(&mut row, &event_type, record);
    Ok(1)
}

/// A device's activity list (MDM commands, enrollments, Blueprint changes): one base event for
/// the device, dated by its latest entry; the entries are in `raw_data`.
fn append_activity<'v>(
    value: &'v Value,
    mut common: Common<'v>,
    record: &[u8],
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let entries = array_at(value, &["activity", "results"]);
    let mut time: Option<i64> = None;
    for entry in entries {
        if let Some(t) = kandji_time(entry, &["created_at"], "activity.results[].created_at")? {
            time = Some(time.map_or(t, |latest| latest.max(t)));
        }
    }
    let time = time.ok_or_else(|| missing("activity.results[].created_at"))?;
    common.time = Some(time);
    common.metadata_uid = Some(Cow::Owned(content_uid("kandji-activity", record)));
    common.metadata_log_name = Some(Cow::Borrowed("Kandji device activity"));
    let mut row = BaseEventRow {
        common,
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    own.device_uid = str_at(value, &["device_id"]);
    own.device_hostname = entries
        .iter()
        .find_map(|e| str_at(e, &["computer", "name"]));
    out.append_base_event(&mut row, "device.activity", record);
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verdict_failures_win_then_passes_else_unknown() {
        let items = json!([
            {"name": "Edge", "type": "automatic-app", "status": "PASS"},
            {"name": "Require FileVault", "type": "custom-script", "status": "ERROR"},
            {"name": "Avert", "type": "threat-security-policy", "status": "PENDING"}
        ]);
        let (state, failing) = verdict(items.as_array().unwrap().iter());
        assert_eq!(state, "noncompliant");
        assert_eq!(failing, ["Require FileVault (custom-script): ERROR"]);

        let profile = json!([{"name": "Wi-Fi", "type": "profile", "status": "failed"}]);
        assert_eq!(
            verdict(profile.as_array().unwrap().iter()).0,
            "noncompliant"
        );

        let passing = json!([{"status": "PASS"}, {"status": "AVAILABLE"}]);
        assert_eq!(verdict(passing.as_array().unwrap().iter()).0, "compliant");

        let parameters = json!([
            {"name": "Require a password", "category": "Security", "status": "REMEDIATED"},
            {"name": "Firewall", "category": "Security", "status": "WARNING"}
        ]);
        assert_eq!(
            verdict(parameters.as_array().unwrap().iter()).0,
            "compliant"
        );

        let pending = json!([{"status": "PENDING"}, {"status": "pending"}, {"status": "EXCLUDED"}]);
        assert_eq!(verdict(pending.as_array().unwrap().iter()).0, "unknown");
        assert_eq!(verdict(std::iter::empty()).0, "unknown");
        assert_eq!(
            unique(["a", "b", "a", "A"].into_iter().map(Cow::Borrowed)),
            ["a", "b", "A"]
        );

        let bad_parameter =
            json!([{"name": "Gatekeeper", "category": "Security", "status": "ERROR"}]);
        assert_eq!(
            verdict(bad_parameter.as_array().unwrap().iter()).1,
            ["Gatekeeper (Security): ERROR"]
        );
        assert_eq!(is_compliant("unknown"), None);
    }

    #[test]
    fn times_placeholders_and_bounds() {
        let v = json!({"a": "2023-01-18T21:46:26.879113Z", "b": "2022-12-13 19:14:20.455640+00:00",
            "c": "", "d": "yesterday", "e": "0001-01-01T00:00:00Z", "f": "9900-01-01T00:00:00Z"});
        assert_eq!(
            kandji_time(&v, &["a"], "a").unwrap(),
            Some(1_674_078_386_879)
        );
        assert_eq!(
            kandji_time(&v, &["b"], "b").unwrap(),
            Some(1_670_958_860_455)
        );
        assert_eq!(kandji_time(&v, &["c"], "c").unwrap(), None);
        assert_eq!(kandji_time(&v, &["e"], "e").unwrap(), None);
        assert_eq!(kandji_time(&v, &["absent"], "absent").unwrap(), None);
        assert!(kandji_time(&v, &["d"], "d").is_err());
        assert!(kandji_time(&v, &["f"], "f").is_err());
    }

    #[test]
    fn platforms_types_and_agent_health() {
        assert_eq!(os_name("Mac".into()), "macOS");
        assert_eq!(os_name("iPad".into()), "iPadOS");
        assert_eq!(os_name("iPhone".into()), "iOS");
        assert_eq!(os_name("AppleTV".into()), "tvOS");
        assert_eq!(os_name("Newton".into()), "Newton");
        assert_eq!(
            device_type_id("Mac", Some("MacBook Air (M2, 2022)")),
            Some(3)
        );
        assert_eq!(device_type_id("Mac", Some("Mac mini (2023)")), Some(2));
        assert_eq!(device_type_id("Mac", None), None);
        assert_eq!(device_type_id("iPad", None), Some(4));
        assert_eq!(
            agent_health(Some("iPad"), Some(true), Some(true)),
            Some("missing")
        );
        assert_eq!(agent_health(Some("iPad"), Some(false), Some(true)), None);
        assert_eq!(
            agent_health(Some("Mac"), Some(false), Some(false)),
            Some("not_installed")
        );
        assert_eq!(
            agent_health(Some("Mac"), None, Some(true)),
            Some("installed")
        );
        assert_eq!(agent_health(None, None, Some(true)), None);
    }

    #[test]
    fn records_are_told_apart_by_shape() {
        assert_eq!(
            kind(&json!({"device_id": "d", "last_check_in": ""})),
            Kind::Device
        );
        assert_eq!(kind(&json!({"general": {"device_id": "d"}})), Kind::Details);
        assert_eq!(
            kind(&json!({"device_id": "d", "library_items": []})),
            Kind::Status
        );
        assert_eq!(
            kind(&json!({"device_id": "d", "parameters": []})),
            Kind::Status
        );
        assert_eq!(
            kind(&json!({"id": "e", "action": "update", "occurred_at": "2025-03-04T16:29:55Z"})),
            Kind::Audit
        );
        assert_eq!(
            kind(&json!({"device_id": "d", "activity": {"results": []}})),
            Kind::Activity
        );
    }

    #[test]
    fn sniff_takes_kandji_and_leaves_jamf() {
        assert!(looks_like_kandji(
            r#"[{"agent_installed": true, "blueprint_id": "b", "device_id": "d", "mdm_enabled": true}]"#
        ));
        assert!(looks_like_kandji(
            r#"{"general": {"device_id": "d"}, "kandji_agent": {"agent_installed": "True"}}"#
        ));
        assert!(looks_like_kandji(
            r#"{"device_id": "d", "library_items": []}"#
        ));
        assert!(looks_like_kandji(
            r#"{"next": null, "results": [{"action": "update", "occurred_at": "x", "target_component": ""}]}"#
        ));
        assert!(!looks_like_kandji(
            r#"{"totalCount": 1, "results": [{"id": "1", "general": {"name": "mac-1", "remoteManagement": {"managed": true}}}]}"#
        ));
        assert!(!looks_like_kandji(r#"{"device_id": "d", "event": "x"}"#));
        assert!(looks_like_kandji(
            r#"{"activity": {"count": 1, "results": [{"action_type": "enrollment"}]}, "device_id": "d"}"#
        ));
    }

    #[test]
    fn nested_unmapped_drops_only_mapped_members() {
        let v = json!({"general": {"device_id": "d", "last_user": "frank"},
            "hardware_overview": {"serial_number": "S"}, "tags": ["a"], "filevault": {"filevault_enabled": false}});
        let text = nested_unmapped(&v, &["tags"], DETAILS_MAPPED).unwrap();
        let rest: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            rest,
            json!({"general": {"last_user": "frank"}, "filevault": {"filevault_enabled": false}})
        );
    }
}
