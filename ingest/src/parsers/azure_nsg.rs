//! Azure NSG flow logs (version 1 and 2) and VNet flow logs → `network_activity`.
//!
//! Input, one record per JSON object (the `{"records": [...]}` blob Network Watcher writes
//! each hour, `PT1H.json`, is split by the framer; Event Hubs deliver the same envelope):
//! - NSG flow logs, `category` `NetworkSecurityGroupFlowEvent`:
//!   `properties.{Version, flows[].{rule, flows[].{mac, flowTuples[]}}}`. A version 1 tuple has
//!   8 comma-separated fields (epoch seconds, source and destination address and port,
//!   protocol `T`/`U`, direction `I`/`O`, decision `A`/`D`); version 2 adds the flow state
//!   (`B` begin, `C` continuing, `E` end) and packets and bytes each way, empty on `B` tuples.
//! - VNet flow logs, `category` `FlowLogFlowEvent`: `macAddress`, `targetResourceID`,
//!   `flowRecords.flows[].{aclID, flowGroups[].{rule, flowTuples[]}}`. A tuple has 13 fields:
//!   epoch milliseconds, addresses, ports, the IANA protocol number, direction, the flow state
//!   (`B`, `C`, `E`, or `D` for a denied flow: VNet tuples carry no separate decision), the
//!   encryption state, and packets and bytes each way.
//!
//! One row per tuple; a record appends all its tuples or none, and a record without tuples (a
//! quiet minute) appends nothing. A denied tuple is activity 5 Refuse; an allowed one follows
//! the flow state (`B` → 1 Open, `C` → 6 Traffic, `E` → 2 Close; version 1 tuples, which carry
//! no state, are Open). The state is `status_code`, the rule that decided `status_detail`.
//! Begin and deny tuples carry no statistics (VNet writes zeros there, NSG nothing): null.
//! Tuple times are seconds in NSG logs and milliseconds in VNet logs, read by magnitude since
//! Microsoft's own VNet example uses seconds. A record without `Version` is read by each
//! tuple's field count.
//!
//! A flow's begin, continuation and end are rows of their own, and only the begin (or deny)
//! tuple carries the decision (`action_id`/`disposition_id`): the NSG decides once, when the
//! flow starts, so a long session is one allowed decision however many `C` tuples follow.
//! `metadata_uid` hashes the resource, interface, rule and tuple, so a redelivered blob is
//! counted once while the tuples of one flow stay rows of their own.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{array_at, as_text, at, get, i64_at, missing, parse_object, str_at};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, json_object};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{BaseEventRow, Common, NetworkActivityRow, TableBuilders};
use crate::site::Site;

/// Azure NSG and VNet flow logs.
pub static SPEC: VendorSpec = VendorSpec {
    name: "azure_nsg",
    aliases: &["nsg", "azure_nsg_flow", "azure_vnet_flow", "vnet_flow"],
    framing: Framing::Json,
    envelope_keys: &["records"],
    stateful: false,
    sniff: Sniff::Json(looks_like_azure_flow),
    parser: |site| Box::new(AzureFlowParser { site }),
};

/// The azure_nsg format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct AzureFlowParser {
    site: Arc<Site>,
}

/// Whether a JSON record (or blob) holds NSG or VNet flow log records.
pub fn looks_like_azure_flow(head: &str) -> bool {
    head.contains("\"NetworkSecurityGroupFlowEvent\"")
        || head.contains("\"FlowLogFlowEvent\"")
        || head.contains("\"flowTuples\"")
}

/// Which of the two record shapes a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// NSG flow log tuples of version 1 (8 fields) or 2 (13 fields); a record that states no
    /// version is read by each tuple's field count.
    Nsg { version: Option<u8> },
    /// VNet flow log tuples (13 fields, milliseconds, protocol numbers, state `D` for deny).
    Vnet,
}

/// What a record says about every tuple in it.
struct Context<'v> {
    shape: Shape,
    /// The NSG (NSG logs) or the virtual network (VNet logs) the flows passed.
    resource: Option<Cow<'v, str>>,
    subscription: Option<Cow<'v, str>>,
    /// The log format version the record states.
    version: Option<i64>,
    category: Option<Cow<'v, str>>,
    flow_log: Option<Cow<'v, str>>,
    /// The NSG's `systemId` or the VNet flow log's `flowLogGUID`.
    system_id: Option<Cow<'v, str>>,
    /// The record's own time (the minute it was written).
    record_time: Option<Cow<'v, str>>,
}

impl Parser for AzureFlowParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "an Azure flow log")?;
        // Other diagnostic categories of the same resources (NSG events, rule counters) are
        // records of this source that no class maps.
        if let Some(category) = str_at(&value, &["category"])
            && !FLOW_CATEGORIES
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&category))
        {
            return append_base_event(&value, &category, record, raw_ref, out);
        }
        let (shape, groups) = if let Some(props) = get(&value, "properties") {
            if !at(props, &["flows"]).is_some_and(Value::is_array) {
                return Err(ParseError::new(
                    ErrorKind::InvalidField,
                    "properties.flows is missing or not a list",
                ));
            }
            let version = match i64_at(props, &["Version"]) {
                None => None,
                Some(1) => Some(1),
                Some(2) => Some(2),
                Some(other) => {
                    return Err(ParseError::new(
                        ErrorKind::InvalidField,
                        format!("NSG flow log version {other}: versions 1 and 2 are documented"),
                    ));
                }
            };
            (Shape::Nsg { version }, nsg_groups(props))
        } else if let Some(flows) = get(&value, "flowRecords") {
            if !at(flows, &["flows"]).is_some_and(Value::is_array) {
                return Err(ParseError::new(
                    ErrorKind::InvalidField,
                    "flowRecords.flows is missing or not a list",
                ));
            }
            (Shape::Vnet, vnet_groups(&value, flows))
        } else {
            return Err(missing("properties.flows (NSG) or flowRecords (VNet)"));
        };
        let resource = match shape {
            Shape::Nsg { .. } => str_at(&value, &["resourceId"]),
            Shape::Vnet => str_at(&value, &["targetResourceID"]),
        };
        let version = match shape {
            Shape::Nsg { version } => version.map(i64::from),
            Shape::Vnet => i64_at(&value, &["flowLogVersion"]),
        };
        let context = Context {
            shape,
            subscription: resource
                .as_deref()
                .and_then(subscription_of)
                .map(|s| Cow::Owned(s.to_string())),
            resource,
            version,
            category: str_at(&value, &["category"]),
            flow_log: str_at(&value, &["flowLogResourceID"]),
            system_id: str_at(&value, &["systemId"]).or_else(|| str_at(&value, &["flowLogGUID"])),
            record_time: str_at(&value, &["time"]),
        };
        let mut rows = Vec::new();
        for group in &groups {
            for tuple in group.tuples {
                let text = as_text(tuple).ok_or_else(|| {
                    ParseError::new(ErrorKind::InvalidField, "flowTuples holds a non-string")
                })?;
                rows.push(map_tuple(&context, group, text, &self.site, raw_ref)?);
            }
        }
        // A minute without flows holds no event; it is not an error either.
        let n = rows.len();
        for mut row in rows {
            out.network_activity.append(&mut row);
        }
        Ok(n)
    }
}

/// The categories of flow log records; other categories of the same resources go to
/// `base_event`.
const FLOW_CATEGORIES: [&str; 2] = ["NetworkSecurityGroupFlowEvent", "FlowLogFlowEvent"];

/// A record of another diagnostic category (NSG events, rule counters): the resource and the
/// record itself.
fn append_base_event(
    value: &Value,
    category: &str,
    record: &[u8],
    raw_ref: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let time = super::jv::time_at(value, &["time"]).ok_or_else(|| missing("time"))?;
    let resource = str_at(value, &["resourceId"]);
    let mut row = BaseEventRow {
        common: Common {
            time: Some(time),
            metadata_uid: Some(Cow::Owned(content_uid("azflow", record))),
            metadata_log_name: str_at(value, &["operationName"]),
            metadata_product_name: Some(Cow::Borrowed("azure_nsg")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Microsoft")),
            cloud_provider: Some(Cow::Borrowed("Azure")),
            cloud_account_uid: resource
                .as_deref()
                .and_then(subscription_of)
                .map(|s| Cow::Owned(s.to_string())),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            ..Common::default()
        },
        ..BaseEventRow::default()
    };
    row.own.zt_target_type = Some(Cow::Borrowed("resource"));
    row.own.zt_target_uid = resource;
    out.append_base_event(&mut row, category, record);
    Ok(1)
}

/// Tuples that share a rule and an interface.
struct Group<'v> {
    rule: Option<Cow<'v, str>>,
    mac: Option<Cow<'v, str>>,
    acl: Option<Cow<'v, str>>,
    tuples: &'v [Value],
}

fn nsg_groups(props: &Value) -> Vec<Group<'_>> {
    let mut out = Vec::new();
    for rule in array_at(props, &["flows"]) {
        for flow in array_at(rule, &["flows"]) {
            out.push(Group {
                rule: str_at(rule, &["rule"]),
                mac: str_at(flow, &["mac"]),
                acl: None,
                tuples: array_at(flow, &["flowTuples"]),
            });
        }
    }
    out
}

fn vnet_groups<'v>(value: &'v Value, records: &'v Value) -> Vec<Group<'v>> {
    let mut out = Vec::new();
    for flow in array_at(records, &["flows"]) {
        for group in array_at(flow, &["flowGroups"]) {
            out.push(Group {
                rule: str_at(group, &["rule"]),
                mac: str_at(value, &["macAddress"]),
                acl: str_at(flow, &["aclID"]),
                tuples: array_at(group, &["flowTuples"]),
            });
        }
    }
    out
}

/// The subscription id in an Azure resource id (`/subscriptions/<id>/…`, any case).
fn subscription_of(resource: &str) -> Option<&str> {
    let mut parts = resource.split('/').filter(|p| !p.is_empty());
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case("subscriptions") {
            return parts.next();
        }
    }
    None
}

fn tuple_err(field: &str, value: &str) -> ParseError {
    let shown: String = value.chars().take(64).collect();
    ParseError::new(
        ErrorKind::InvalidField,
        format!("flow tuple field {field}: {shown:?}"),
    )
}

/// An optional counter: empty (NSG `B` tuples) is none.
fn counter(field: &str, value: &str) -> Result<Option<i64>, ParseError> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<u64>()
        .ok()
        .and_then(|n| i64::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| tuple_err(field, value))
}

fn map_tuple<'v>(
    context: &Context<'v>,
    group: &Group<'v>,
    text: Cow<'v, str>,
    site: &'v Site,
    raw_ref: &'v str,
) -> Result<NetworkActivityRow<'v>, ParseError> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let version = match context.shape {
        Shape::Nsg { version: Some(v) } => Some(v),
        Shape::Nsg { version: None } => Some(if fields.len() == 8 { 1 } else { 2 }),
        Shape::Vnet => None,
    };
    let expected = if version == Some(1) { 8 } else { 13 };
    if fields.len() != expected {
        return Err(ParseError::new(
            ErrorKind::FieldCount,
            format!(
                "flow tuple has {} fields where {} are documented for {}",
                fields.len(),
                expected,
                match version {
                    Some(version) => format!("NSG flow logs version {version}"),
                    None => "VNet flow logs".to_string(),
                }
            ),
        ));
    }
    let stamp: i64 = fields[0]
        .parse()
        .map_err(|_| tuple_err("timestamp", fields[0]))?;
    // Seconds in NSG logs, milliseconds in VNet logs, though Microsoft's own VNet example uses
    // seconds: the magnitude tells (1e11 seconds is the year 5138).
    let time = if stamp.unsigned_abs() >= 100_000_000_000 {
        Some(stamp)
    } else {
        stamp.checked_mul(1000)
    }
    .filter(|ms| (ms.unsigned_abs() as f64) < super::jv::MAX_EPOCH_SECONDS * 1000.0)
    .ok_or_else(|| tuple_err("timestamp", fields[0]))?;
    let src: IpAddr = fields[1]
        .parse()
        .map_err(|_| tuple_err("source address", fields[1]))?;
    let dst: IpAddr = fields[2]
        .parse()
        .map_err(|_| tuple_err("destination address", fields[2]))?;
    let port = |name: &str, value: &str| -> Result<Option<i32>, ParseError> {
        if value.is_empty() {
            return Ok(None);
        }
        value
            .parse::<u16>()
            .map(|p| super::port_number(i64::from(p)))
            .map_err(|_| tuple_err(name, value))
    };
    let src_port = port("source port", fields[3])?;
    let dst_port = port("destination port", fields[4])?;
    let protocol: i32 = match fields[5] {
        "T" | "t" => 6,
        "U" | "u" => 17,
        number => number
            .parse::<u8>()
            .map(i32::from)
            .map_err(|_| tuple_err("protocol", number))?,
    };
    let direction = match fields[6] {
        "I" | "i" => 1,
        "O" | "o" => 2,
        other => return Err(tuple_err("direction", other)),
    };
    // NSG tuples state the decision, VNet tuples a deny as the flow state `D`.
    let (allowed, state) = match version {
        Some(version) => {
            let allowed = match fields[7] {
                "A" | "a" => true,
                "D" | "d" => false,
                other => return Err(tuple_err("decision", other)),
            };
            (allowed, (version == 2).then(|| fields[8]))
        }
        None => (fields[7] != "D", Some(fields[7])),
    };
    let (activity_id, activity_name) = match state {
        _ if !allowed => (5, "Refuse"),
        None | Some("B") => (1, "Open"),
        Some("C") => (6, "Traffic"),
        Some("E") => (2, "Close"),
        Some(other) => return Err(tuple_err("flow state", other)),
    };
    if !matches!(state, None | Some("B" | "C" | "E" | "D")) {
        return Err(tuple_err("flow state", state.unwrap_or_default()));
    }
    // A begin or a deny carries no statistics (VNet writes zeros, NSG nothing).
    let begins = matches!(state, None | Some("B" | "D"));

    let mut row = NetworkActivityRow::default();
    let n = &mut row.own;
    n.src_endpoint_ip = Some(Cow::Owned(src.to_string()));
    n.dst_endpoint_ip = Some(Cow::Owned(dst.to_string()));
    n.src_endpoint_port = src_port;
    n.dst_endpoint_port = dst_port;
    n.connection_info_protocol_num = Some(protocol);
    match state {
        Some("E") => n.end_time = Some(time),
        Some("C") => {}
        _ => n.start_time = Some(time),
    }
    if fields.len() == 13 && !begins {
        let (packets_out, bytes_out) = (
            counter("packets sent", fields[9])?,
            counter("bytes sent", fields[10])?,
        );
        let (packets_in, bytes_in) = (
            counter("packets received", fields[11])?,
            counter("bytes received", fields[12])?,
        );
        n.traffic_packets_out = packets_out;
        n.traffic_bytes_out = bytes_out;
        n.traffic_packets_in = packets_in;
        n.traffic_bytes_in = bytes_in;
        n.traffic_packets = sum(packets_out, packets_in);
        n.traffic_bytes = sum(bytes_out, bytes_in);
    }
    // The NSG decides a flow once, when it begins: the decision is on the begin (or deny)
    // tuple; continuation and end tuples report traffic of an allowed flow, not a new decision.
    if begins || !allowed {
        let (action, disposition) = if allowed { (1, 1) } else { (2, 2) };
        n.action_id = Some(action);
        n.disposition_id = Some(disposition);
    }
    n.device_interface_uid = group.mac.clone();
    match context.shape {
        Shape::Nsg { .. } => n.device_uid = context.resource.clone(),
        Shape::Vnet => n.device_vpc_uid = context.resource.clone(),
    }
    super::tag_network(n, site, Some(src), Some(dst), Some(direction));

    let mut unmapped: Vec<(&str, String)> = Vec::new();
    if let Some(version) = context.version {
        unmapped.push(("version", version.to_string()));
    }
    if version.is_none() {
        unmapped.push(("encryption", quoted(fields[8])));
    }
    if let Some(time) = &context.record_time {
        unmapped.push(("time", quoted(time)));
    }
    if let Some(acl) = &group.acl {
        unmapped.push(("aclID", quoted(acl)));
    }
    if let Some(id) = &context.system_id {
        let key = match context.shape {
            Shape::Nsg { .. } => "systemId",
            Shape::Vnet => "flowLogGUID",
        };
        unmapped.push((key, quoted(id)));
    }
    if let Some(flow_log) = &context.flow_log {
        unmapped.push(("flowLogResourceID", quoted(flow_log)));
    }
    let pairs: Vec<(&str, &str)> = unmapped.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let c = &mut row.common;
    c.time = Some(time);
    c.activity_id = Some(activity_id);
    c.activity_name = Some(Cow::Borrowed(activity_name));
    c.severity_id = Some(1);
    c.status_id = Some(1);
    c.status_code = state.map(|s| Cow::Owned(s.to_string()));
    c.status_detail = group.rule.clone();
    c.metadata_uid = Some(Cow::Owned(content_uid(
        "azflow",
        format!(
            "{}|{}|{}|{}",
            context.resource.as_deref().unwrap_or(""),
            group.mac.as_deref().unwrap_or(""),
            group.rule.as_deref().unwrap_or(""),
            text
        )
        .as_bytes(),
    )));
    c.metadata_event_code = context.category.clone();
    c.metadata_log_name = Some(Cow::Borrowed(match context.shape {
        Shape::Nsg { .. } => "NSG flow logs",
        Shape::Vnet => "VNet flow logs",
    }));
    c.metadata_product_name = Some(Cow::Borrowed("azure_nsg"));
    c.metadata_product_vendor_name = Some(Cow::Borrowed("Microsoft"));
    c.cloud_provider = Some(Cow::Borrowed("Azure"));
    c.cloud_account_uid = context.subscription.clone();
    c.raw_ref = Some(Cow::Borrowed(raw_ref));
    c.unmapped = json_object(&pairs).map(Cow::Owned);
    Ok(row)
}

fn sum(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => a.checked_add(b),
        (a, b) => a.or(b),
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::subscription_of;

    #[test]
    fn subscription_from_resource_ids_in_either_case() {
        assert_eq!(
            subscription_of("/SUBSCRIPTIONS/abc/RESOURCEGROUPS/rg/PROVIDERS/x"),
            Some("abc")
        );
        assert_eq!(
            subscription_of("/subscriptions/def/resourceGroups/rg"),
            Some("def")
        );
        assert_eq!(subscription_of("/providers/x"), None);
    }
}
