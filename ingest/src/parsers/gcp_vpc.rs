//! GCP VPC Flow Logs and Firewall Rules Logging → `network_activity`.
//!
//! Input, one Cloud Logging `LogEntry` per record, as sinks export them (NDJSON files in Cloud
//! Storage, Pub/Sub message bodies, a `gcloud logging read --format=json` array, or the API's
//! `{"entries": [...]}` page): `logName`, `insertId`, `timestamp`, `resource`, and the record in
//! `jsonPayload`. The log id at the end of `logName` says which:
//! - `…/vpc_flows` (Compute Engine or Network Management API): a sampled, one-directional
//!   flow record: `connection.{src_ip, src_port, dest_ip, dest_port, protocol}`, `reporter`
//!   (`SRC`/`DEST`: which end observed it), `bytes_sent`, `packets_sent` (int64, so JSON
//!   strings), `start_time`/`end_time`, and the VM, VPC and location of each end.
//! - `…/firewall`: a connection a logged firewall rule matched: `connection`, `disposition`
//!   (`ALLOWED`/`DENIED`), `rule_details.{reference, priority, action, direction, …}`,
//!   `instance` and `vpc` (where the rule applied), `remote_*`.
//!
//! Decisions come from the firewall log only: it is where GCP states that a rule allowed or
//! denied a connection. A flow record is an observation of packets that moved (no
//! `action_id`/`disposition_id`), so the same connection reported by both VMs, and again by the
//! firewall, is not two decisions. A flow drop record (`disposition` `DROPPED`, `drop_reason`)
//! is status 99 with the reason in `status_code`: a firewall denial it reports is counted from
//! the firewall log that states it.
//!
//! Other log ids of the same export (audit logs …) are entries of a known source that no class
//! maps: `base_event`, with the log id as the event type. `metadata_uid` hashes `logName`,
//! `timestamp` and `insertId`, Cloud Logging's own duplicate rule, so a re-exported entry counts
//! once.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{as_i64, at, get, invalid, missing, parse_object, str_at, time_at};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, json_object};
use crate::record::{Framing, ParseError};
use crate::schema::{BaseEventRow, Common, NetworkActivityRow, TableBuilders};
use crate::site::Site;

/// GCP VPC Flow Logs and Firewall Rules Logging (Cloud Logging entries).
pub static SPEC: VendorSpec = VendorSpec {
    name: "gcp_vpc",
    aliases: &["gcp_vpc_flows", "gcp_firewall", "gce_firewall"],
    framing: Framing::Json,
    envelope_keys: &["entries"],
    stateful: false,
    sniff: Sniff::Json(looks_like_gcp_vpc),
    parser: |site| Box::new(GcpVpcParser { site }),
};

/// The gcp_vpc format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct GcpVpcParser {
    site: Arc<Site>,
}

/// Whether a JSON record is a Cloud Logging entry of the flow or firewall log.
pub fn looks_like_gcp_vpc(head: &str) -> bool {
    head.contains("\"logName\"")
        && [
            "googleapis.com%2Fvpc_flows",
            "googleapis.com%2Ffirewall",
            "googleapis.com/vpc_flows",
            "googleapis.com/firewall",
        ]
        .iter()
        .any(|log| head.contains(log))
}

/// The two logs this format maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Log {
    Flows,
    Firewall,
}

/// The log id of a `logName` (`projects/P/logs/compute.googleapis.com%2Ffirewall`), decoded.
fn log_id(log_name: &str) -> String {
    let id = log_name
        .rsplit_once("/logs/")
        .map_or(log_name, |(_, id)| id);
    id.replace("%2F", "/").replace("%2f", "/")
}

/// The project of a `logName`.
fn project_of(log_name: &str) -> Option<&str> {
    log_name
        .strip_prefix("projects/")?
        .split('/')
        .next()
        .filter(|p| !p.is_empty())
}

impl Parser for GcpVpcParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let entry = parse_object(record, "a Cloud Logging")?;
        let log_name = str_at(&entry, &["logName"]).ok_or_else(|| missing("logName"))?;
        let id = log_id(&log_name);
        let log = if id.ends_with("/vpc_flows") {
            Log::Flows
        } else if id.ends_with("/firewall") {
            Log::Firewall
        } else {
            return append_base_event(&entry, &log_name, &id, record, raw_ref, out);
        };
        let payload = get(&entry, "jsonPayload").ok_or_else(|| missing("jsonPayload"))?;
        let mut row = map_entry(&entry, payload, log, &log_name, &id, &self.site)?;
        row.common.raw_ref = Some(Cow::Borrowed(raw_ref));
        out.network_activity.append(&mut row);
        Ok(1)
    }
}

/// Read an integer that Cloud Logging writes as a string (int64) or a number.
fn count_at(value: &Value, path: &[&str]) -> Result<Option<i64>, ParseError> {
    match at(value, path) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_i64(v)
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| invalid(&path.join("."), &v.to_string())),
    }
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

/// IANA protocol number from a number, a numeric string, or a name.
fn protocol_at(connection: &Value) -> Result<Option<i32>, ParseError> {
    let Some(value) = get(connection, "protocol") else {
        return Ok(None);
    };
    if let Some(n) = as_i64(value) {
        return u8::try_from(n)
            .map(|p| Some(i32::from(p)))
            .map_err(|_| invalid("connection.protocol", &n.to_string()));
    }
    let name = value.as_str().unwrap_or_default();
    match name.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "tcp" => Ok(Some(6)),
        "udp" => Ok(Some(17)),
        "icmp" => Ok(Some(1)),
        "icmpv6" | "ipv6-icmp" => Ok(Some(58)),
        "sctp" => Ok(Some(132)),
        _ => Err(invalid("connection.protocol", name)),
    }
}

/// `projects/P/zones/Z/instances/VM` from an `InstanceDetails` object.
fn instance_uid(instance: &Value) -> Option<String> {
    let vm = str_at(instance, &["vm_name"])?;
    match (
        str_at(instance, &["project_id"]),
        str_at(instance, &["zone"]),
    ) {
        (Some(project), Some(zone)) => {
            Some(format!("projects/{project}/zones/{zone}/instances/{vm}"))
        }
        _ => Some(vm.into_owned()),
    }
}

/// `projects/P/global/networks/N` from a `VpcDetails` object.
fn vpc_uid(vpc: &Value) -> Option<String> {
    let name = str_at(vpc, &["vpc_name"])?;
    Some(match str_at(vpc, &["project_id"]) {
        Some(project) => format!("projects/{project}/global/networks/{name}"),
        None => name.into_owned(),
    })
}

/// `projects/P/regions/R/subnetworks/S` from a `VpcDetails` object (with the region from the
/// instance when the VPC details omit it).
fn subnet_uid(vpc: &Value, region: Option<&str>) -> Option<String> {
    let name = str_at(vpc, &["subnetwork_name"])?;
    let region = str_at(vpc, &["subnetwork_region"])
        .map(Cow::into_owned)
        .or(region.map(str::to_string));
    Some(match (str_at(vpc, &["project_id"]), region) {
        (Some(project), Some(region)) => {
            format!("projects/{project}/regions/{region}/subnetworks/{name}")
        }
        _ => name.into_owned(),
    })
}

fn map_entry<'v>(
    entry: &'v Value,
    payload: &'v Value,
    log: Log,
    log_name: &str,
    id: &str,
    site: &'v Site,
) -> Result<NetworkActivityRow<'v>, ParseError> {
    let connection = get(payload, "connection").ok_or_else(|| missing("jsonPayload.connection"))?;
    let src = ip_at(connection, &["src_ip"])?;
    let dst = ip_at(connection, &["dest_ip"])?;
    let port = |key: &str| -> Result<Option<i32>, ParseError> {
        match get(connection, key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_i64(v)
                .filter(|p| (0..=65_535).contains(p))
                .map(super::port_number)
                .ok_or_else(|| invalid(&format!("connection.{key}"), &v.to_string())),
        }
    };
    let mut row = NetworkActivityRow::default();
    let mut consumed: Vec<&str> = vec!["connection"];
    let n = &mut row.own;
    n.src_endpoint_ip = src.map(|ip| Cow::Owned(ip.to_string()));
    n.dst_endpoint_ip = dst.map(|ip| Cow::Owned(ip.to_string()));
    n.src_endpoint_port = port("src_port")?;
    n.dst_endpoint_port = port("dest_port")?;
    n.connection_info_protocol_num = protocol_at(connection)?;

    let timestamp = time_at(entry, &["timestamp"]);
    let (time, hint, device_side) = match log {
        Log::Flows => {
            consumed.extend([
                "start_time",
                "end_time",
                "bytes_sent",
                "packets_sent",
                "disposition",
                "drop_reason",
            ]);
            n.start_time = time_at(payload, &["start_time"]);
            n.end_time = time_at(payload, &["end_time"]);
            if let (Some(start), Some(end)) = (n.start_time, n.end_time) {
                n.duration = end.checked_sub(start);
            }
            // One direction per record: what the source sent is all of it.
            n.traffic_bytes_out = count_at(payload, &["bytes_sent"])?;
            n.traffic_bytes = n.traffic_bytes_out;
            n.traffic_packets_out = count_at(payload, &["packets_sent"])?;
            n.traffic_packets = n.traffic_packets_out;
            let time = n.start_time.or(n.end_time).or(timestamp).ok_or_else(|| {
                missing("jsonPayload.start_time (or end_time, or the entry's timestamp)")
            })?;
            // Only one end inside a VPC tells the direction; both or neither: the site decides.
            let hint = match (get(payload, "src_vpc"), get(payload, "dest_vpc")) {
                (Some(_), None) => Some(2),
                (None, Some(_)) => Some(1),
                _ => None,
            };
            let reporter = str_at(payload, &["reporter"]);
            let side = if reporter.as_deref().is_some_and(|r| r.starts_with("DEST")) {
                ("dest_instance", "dest_vpc")
            } else {
                ("src_instance", "src_vpc")
            };
            (time, hint, side)
        }
        Log::Firewall => {
            consumed.extend(["disposition", "instance", "vpc"]);
            let time = timestamp
                .or_else(|| time_at(entry, &["receiveTimestamp"]))
                .ok_or_else(|| missing("timestamp"))?;
            let hint = match str_at(payload, &["rule_details", "direction"])
                .map(|d| d.to_ascii_uppercase())
                .as_deref()
            {
                Some("INGRESS") => Some(1),
                Some("EGRESS") => Some(2),
                _ => None,
            };
            (time, hint, ("instance", "vpc"))
        }
    };
    let instance = get(payload, device_side.0);
    let vpc = get(payload, device_side.1);
    if log == Log::Flows {
        consumed.extend([device_side.0, device_side.1]);
    }
    n.device_instance_uid = instance.and_then(instance_uid).map(Cow::Owned);
    let region = instance.and_then(|i| str_at(i, &["region"]));
    n.device_vpc_uid = vpc.and_then(vpc_uid).map(Cow::Owned);
    n.device_subnet_uid = vpc
        .and_then(|v| subnet_uid(v, region.as_deref()))
        .map(Cow::Owned);
    n.cloud_zone = instance.and_then(|i| str_at(i, &["zone"]));

    let c = &mut row.common;
    c.time = Some(time);
    c.severity_id = Some(1);
    c.cloud_region = region.or_else(|| vpc.and_then(|v| str_at(v, &["subnetwork_region"])));
    match log {
        Log::Flows => {
            c.activity_id = Some(6);
            c.activity_name = Some(Cow::Borrowed("Traffic"));
            match str_at(payload, &["disposition"]).as_deref() {
                Some(d) if d.eq_ignore_ascii_case("DROPPED") => {
                    c.status_id = Some(99);
                    c.status_code =
                        str_at(payload, &["drop_reason"]).or(Some(Cow::Borrowed("DROPPED")));
                    c.status_detail = Some(Cow::Borrowed("DROPPED"));
                }
                _ => c.status_id = Some(1),
            }
        }
        Log::Firewall => {
            let disposition = str_at(payload, &["disposition"])
                .ok_or_else(|| missing("jsonPayload.disposition"))?;
            let (action, decided, activity) = match disposition.to_ascii_uppercase().as_str() {
                "ALLOWED" => (Some(1), Some(1), (1, "Open")),
                "DENIED" => (Some(2), Some(2), (5, "Refuse")),
                // Handed to Cloud NGFW's inspection: not decided here.
                "INTERCEPTED" => (None, None, (1, "Open")),
                _ => return Err(invalid("jsonPayload.disposition", &disposition)),
            };
            row.own.action_id = action;
            row.own.disposition_id = decided;
            c.activity_id = Some(activity.0);
            c.activity_name = Some(Cow::Borrowed(activity.1));
            c.status_id = Some(1);
            c.status_code = Some(disposition);
            c.status_detail = str_at(payload, &["rule_details", "reference"]);
        }
    }
    c.metadata_uid = Some(Cow::Owned(content_uid(
        "gcp",
        format!(
            "{log_name}\n{}\n{}",
            str_at(entry, &["timestamp"]).unwrap_or_default(),
            match str_at(entry, &["insertId"]) {
                Some(id) => id.into_owned(),
                // Never seen, but then the payload itself is the identity.
                None => payload.to_string(),
            }
        )
        .as_bytes(),
    )));
    c.metadata_log_name = Some(Cow::Owned(id.to_string()));
    c.metadata_product_name = Some(Cow::Borrowed("gcp_vpc"));
    c.metadata_product_vendor_name = Some(Cow::Borrowed("Google"));
    c.cloud_provider = Some(Cow::Borrowed("GCP"));
    c.cloud_account_uid = project_of(log_name)
        .map(|p| Cow::Owned(p.to_string()))
        .or_else(|| str_at(entry, &["resource", "labels", "project_id"]));

    // What the schema does not hold: the rest of the payload and the entry's envelope.
    let mut rest: Vec<(&str, String)> = Vec::new();
    if let Some(text) = super::jv::unmapped(payload, &consumed) {
        rest.push(("jsonPayload", text));
    }
    for key in [
        "insertId",
        "receiveTimestamp",
        "resource",
        "labels",
        "severity",
    ] {
        if let Some(v) = get(entry, key).filter(|v| !v.is_null()) {
            rest.push((key, v.to_string()));
        }
    }
    let pairs: Vec<(&str, &str)> = rest.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.unmapped = json_object(&pairs).map(Cow::Owned);

    super::tag_network(&mut row.own, site, src, dst, hint);
    Ok(row)
}

/// An entry of another log in the same export (audit logs, …): stored as it is.
fn append_base_event(
    entry: &Value,
    log_name: &str,
    id: &str,
    record: &[u8],
    raw_ref: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let time = time_at(entry, &["timestamp"])
        .or_else(|| time_at(entry, &["receiveTimestamp"]))
        .ok_or_else(|| missing("timestamp"))?;
    let mut row = BaseEventRow {
        common: Common {
            time: Some(time),
            metadata_uid: Some(Cow::Owned(content_uid("gcp", record))),
            metadata_log_name: Some(Cow::Owned(id.to_string())),
            metadata_product_name: Some(Cow::Borrowed("gcp_vpc")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Google")),
            cloud_provider: Some(Cow::Borrowed("GCP")),
            cloud_account_uid: project_of(log_name).map(|p| Cow::Owned(p.to_string())),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            ..Common::default()
        },
        ..BaseEventRow::default()
    };
    row.own.zt_target_type = str_at(entry, &["resource", "type"]);
    out.append_base_event(&mut row, id, record);
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::{log_id, project_of};

    #[test]
    fn log_names() {
        let name = "projects/acme-prod/logs/compute.googleapis.com%2Fvpc_flows";
        assert_eq!(log_id(name), "compute.googleapis.com/vpc_flows");
        assert_eq!(project_of(name), Some("acme-prod"));
        assert_eq!(project_of("organizations/1/logs/x"), None);
    }
}
