//! AWS VPC Flow Logs → `network_activity`.
//!
//! Input: space-separated records. The field layout comes from, in order of preference:
//! 1. the most recent header line in the stream (custom formats delivered to S3 start with one;
//!    concatenated deliveries repeat it), which may name any v2–v8 field in any order;
//! 2. otherwise the field count: 14 = the v2 default format, 29 = all v2–v5 fields in AWS's
//!    documented order, 39 = those plus the v7 ECS fields, 40 = plus the v8 `reject-reason`,
//!    36 = the Transit Gateway flow log default format.
//!
//! `NODATA` / `SKIPDATA` records are kept (they measure coverage) with `status_code` set and no
//! endpoints. Lateral-movement tags come from the site config: `zt_is_lateral` when both ends
//! are internal, `zt_segment_src/dst`, and `zt_port_class` from the destination port.
//! When the record names the original packet addresses (`pkt-srcaddr`/`pkt-dstaddr`, behind a NAT
//! gateway or load balancer) those are the endpoints and the interface addresses go to
//! `src_endpoint_intermediate_ips`.
//!
//! Records carry no event id: `metadata_uid` is a hash of the record's v2 fields (account,
//! interface, addresses, ports, protocol, packets, bytes, window, action, status), so the same
//! flow record delivered twice — even once in the default and once in a custom layout — is
//! counted once.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use super::{Format, Parser, Sniff, VendorSpec, content_uid, json_object};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{NetworkActivityRow, TableBuilders};
use crate::site::Site;

/// Every field name AWS documents for flow log records (v2–v8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Version,
    AccountId,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    VpcId,
    SubnetId,
    InstanceId,
    TcpFlags,
    Type,
    PktSrcAddr,
    PktDstAddr,
    Region,
    AzId,
    SublocationType,
    SublocationId,
    PktSrcAwsService,
    PktDstAwsService,
    FlowDirection,
    TrafficPath,
    /// Any other documented field (ECS, transit gateway, reject-reason …), kept in `unmapped`.
    Other(&'static str),
}

const OTHER_FIELDS: &[&str] = &[
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
    "resource-type",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
];

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "version" => Field::Version,
            "account-id" => Field::AccountId,
            "interface-id" => Field::InterfaceId,
            "srcaddr" => Field::SrcAddr,
            "dstaddr" => Field::DstAddr,
            "srcport" => Field::SrcPort,
            "dstport" => Field::DstPort,
            "protocol" => Field::Protocol,
            "packets" => Field::Packets,
            "bytes" => Field::Bytes,
            "start" => Field::Start,
            "end" => Field::End,
            "action" => Field::Action,
            "log-status" => Field::LogStatus,
            "vpc-id" => Field::VpcId,
            "subnet-id" => Field::SubnetId,
            "instance-id" => Field::InstanceId,
            "tcp-flags" => Field::TcpFlags,
            "type" => Field::Type,
            "pkt-srcaddr" => Field::PktSrcAddr,
            "pkt-dstaddr" => Field::PktDstAddr,
            "region" => Field::Region,
            "az-id" => Field::AzId,
            "sublocation-type" => Field::SublocationType,
            "sublocation-id" => Field::SublocationId,
            "pkt-src-aws-service" => Field::PktSrcAwsService,
            "pkt-dst-aws-service" => Field::PktDstAwsService,
            "flow-direction" => Field::FlowDirection,
            "traffic-path" => Field::TrafficPath,
            other => {
                return OTHER_FIELDS
                    .iter()
                    .find(|f| **f == other)
                    .map(|f| Field::Other(f));
            }
        })
    }
}

const V2_DEFAULT: [Field; 14] = [
    Field::Version,
    Field::AccountId,
    Field::InterfaceId,
    Field::SrcAddr,
    Field::DstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::LogStatus,
];

const V5_ALL: [Field; 29] = [
    Field::Version,
    Field::AccountId,
    Field::InterfaceId,
    Field::SrcAddr,
    Field::DstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::LogStatus,
    Field::VpcId,
    Field::SubnetId,
    Field::InstanceId,
    Field::TcpFlags,
    Field::Type,
    Field::PktSrcAddr,
    Field::PktDstAddr,
    Field::Region,
    Field::AzId,
    Field::SublocationType,
    Field::SublocationId,
    Field::PktSrcAwsService,
    Field::PktDstAwsService,
    Field::FlowDirection,
    Field::TrafficPath,
];

/// v7: all v2–v5 fields, then the ECS fields.
fn v7_all() -> Vec<Field> {
    let mut layout = V5_ALL.to_vec();
    layout.extend(OTHER_FIELDS[..10].iter().map(|f| Field::Other(f)));
    layout
}

/// v8: v7 plus `reject-reason`.
fn v8_all() -> Vec<Field> {
    let mut layout = v7_all();
    layout.push(Field::Other("reject-reason"));
    layout
}

/// The Transit Gateway flow log default format.
fn transit_gateway_default() -> Vec<Field> {
    let names = [
        "version",
        "resource-type",
        "account-id",
        "tgw-id",
        "tgw-attachment-id",
        "tgw-src-vpc-account-id",
        "tgw-dst-vpc-account-id",
        "tgw-src-vpc-id",
        "tgw-dst-vpc-id",
        "tgw-src-subnet-id",
        "tgw-dst-subnet-id",
        "tgw-src-eni",
        "tgw-dst-eni",
        "tgw-src-az-id",
        "tgw-dst-az-id",
        "tgw-pair-attachment-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "log-status",
        "type",
        "packets-lost-no-route",
        "packets-lost-blackhole",
        "packets-lost-mtu-exceeded",
        "packets-lost-ttl-expired",
        "tcp-flags",
        "region",
        "flow-direction",
        "pkt-src-aws-service",
        "pkt-dst-aws-service",
    ];
    names
        .iter()
        .map(|n| Field::from_name(n).expect("documented field"))
        .collect()
}

/// AWS VPC Flow Logs (default v2 lines, or custom formats with the S3 header line).
pub static SPEC: VendorSpec = VendorSpec {
    name: "vpcflow",
    aliases: &["vpc_flow", "aws_vpcflow"],
    framing: Framing::Lines,
    envelope_keys: &[],
    stateful: true,
    sniff: Sniff::Line(looks_like_vpc_flow),
    parser: |site| Box::new(VpcFlowParser::new(site)),
};

/// The vpcflow format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct VpcFlowParser {
    site: Arc<Site>,
    /// Layout from the last header line, if the stream had one.
    header: Option<Vec<Field>>,
    /// Scratch space for the text a record's `metadata_uid` hashes.
    identity_text: String,
}

impl VpcFlowParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self {
            site,
            header: None,
            identity_text: String::with_capacity(256),
        }
    }
}

pub(crate) fn protocol_name(num: i32) -> Option<&'static str> {
    Some(match num {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        58 => "icmpv6",
        132 => "sctp",
        _ => return None,
    })
}

fn field_err(name: &str, value: &str) -> ParseError {
    ParseError::new(
        ErrorKind::InvalidField,
        format!("{name} {value:?} is not valid"),
    )
}

fn opt_num<T: std::str::FromStr>(name: &str, value: &str) -> Result<Option<T>, ParseError> {
    if value == "-" {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| field_err(name, value))
}

/// A port: `-` and 0 (ICMP records, which have no ports) are none; beyond 65535 is invalid.
fn opt_port(name: &str, value: &str) -> Result<Option<i32>, ParseError> {
    Ok(opt_num::<u16>(name, value)?.and_then(|p| super::port_number(i64::from(p))))
}

/// Epoch seconds as milliseconds; a value beyond [`super::jv::MAX_EPOCH_SECONDS`] is invalid.
fn opt_epoch_secs(name: &str, value: &str) -> Result<Option<i64>, ParseError> {
    match opt_num::<i64>(name, value)? {
        None => Ok(None),
        Some(secs) if (secs.unsigned_abs() as f64) < super::jv::MAX_EPOCH_SECONDS => {
            Ok(Some(secs * 1000))
        }
        Some(_) => Err(field_err(name, value)),
    }
}

fn opt_ip(name: &str, value: &str) -> Result<Option<IpAddr>, ParseError> {
    if value == "-" {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| field_err(name, value))
}

/// Whether a line looks like VPC flow data: a header line, or a record of one of the default
/// layouts (a small version number, then account id and interface id or addresses).
pub fn looks_like_vpc_flow(line: &str) -> bool {
    if is_header(line) {
        return line.contains("srcaddr") || line.contains("interface-id");
    }
    let tokens: Vec<&str> = line.split_ascii_whitespace().take(6).collect();
    let version_ok = tokens
        .first()
        .is_some_and(|v| matches!(*v, "2" | "3" | "4" | "5" | "6" | "7" | "8"));
    let count = line.split_ascii_whitespace().count();
    let ip_or_dash = |t: &&str| *t == "-" || t.parse::<IpAddr>().is_ok();
    version_ok
        && matches!(count, 14 | 29 | 36 | 39 | 40)
        && tokens.get(3).is_some_and(ip_or_dash)
        && tokens.get(4).is_some_and(ip_or_dash)
}

/// A header line names fields; a record starts with a version number or a `-`.
fn is_header(line: &str) -> bool {
    let first = line.split_ascii_whitespace().next().unwrap_or("");
    first.starts_with(|c: char| c.is_ascii_alphabetic()) && Field::from_name(first).is_some()
}

impl Parser for VpcFlowParser {
    fn is_stream_state(&self, record: &[u8]) -> bool {
        std::str::from_utf8(record).is_ok_and(is_header)
    }

    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let line = super::as_utf8(record)?.trim();
        if line.is_empty() {
            return Ok(0);
        }
        if is_header(line) {
            // A header line: every token must be a known field name.
            let layout: Option<Vec<Field>> = line
                .split_ascii_whitespace()
                .map(Field::from_name)
                .collect();
            return match layout {
                Some(layout) => {
                    self.header = Some(layout);
                    Ok(0)
                }
                None => Err(ParseError::new(
                    ErrorKind::InvalidField,
                    "header line names a field that is not a VPC flow log field",
                )),
            };
        }
        let count = line.split_ascii_whitespace().count();
        let inferred;
        let layout: &[Field] = match &self.header {
            Some(h) => h,
            None if count == V2_DEFAULT.len() => &V2_DEFAULT,
            None if count == V5_ALL.len() => &V5_ALL,
            None if count == 36 => {
                inferred = transit_gateway_default();
                &inferred
            }
            None if count == 39 => {
                inferred = v7_all();
                &inferred
            }
            None if count == 40 => {
                inferred = v8_all();
                &inferred
            }
            None => {
                return Err(ParseError::new(
                    ErrorKind::FieldCount,
                    format!(
                        "{count} fields and no header line: the default layouts have 14 (v2), 29 (v2-v5), 39 (v7), 40 (v8) or 36 (transit gateway) fields"
                    ),
                ));
            }
        };
        if count != layout.len() {
            return Err(ParseError::new(
                ErrorKind::FieldCount,
                format!("{count} fields where the header names {}", layout.len()),
            ));
        }
        let mut row = map_record(line, layout, &self.site, raw_ref, &mut self.identity_text)?;
        out.network_activity.append(&mut row);
        Ok(1)
    }
}

/// Position of a v2 field in the record identity.
fn identity_slot(field: Field) -> Option<usize> {
    Some(match field {
        Field::AccountId => 0,
        Field::InterfaceId => 1,
        Field::SrcAddr => 2,
        Field::DstAddr => 3,
        Field::SrcPort => 4,
        Field::DstPort => 5,
        Field::Protocol => 6,
        Field::Packets => 7,
        Field::Bytes => 8,
        Field::Start => 9,
        Field::End => 10,
        Field::Action => 11,
        Field::LogStatus => 12,
        _ => return None,
    })
}

/// An address and the text it was read from.
type Address<'a> = Option<(IpAddr, &'a str)>;

fn opt_address<'a>(name: &str, value: &'a str) -> Result<Address<'a>, ParseError> {
    Ok(opt_ip(name, value)?.map(|ip| (ip, value)))
}

/// The canonical text of an address: the record's own text for IPv4 (std's parser accepts only
/// the canonical dotted quad, so it prints the same), formatted for IPv6.
fn address_text<'a>((ip, text): (IpAddr, &'a str)) -> Cow<'a, str> {
    if ip.is_ipv4() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(ip.to_string())
    }
}

fn map_record<'a>(
    line: &'a str,
    layout: &[Field],
    site: &'a Site,
    raw_ref: &'a str,
    identity_text: &mut String,
) -> Result<NetworkActivityRow<'a>, ParseError> {
    let mut row = NetworkActivityRow::default();
    let mut srcaddr: Address<'a> = None;
    let mut dstaddr: Address<'a> = None;
    let mut pkt_src: Address<'a> = None;
    let mut pkt_dst: Address<'a> = None;
    let mut action = None;
    let mut flow_direction = None;
    let mut unmapped: Vec<(&str, String)> = Vec::new();
    // The v2 fields identify a flow record whatever layout delivered it (see `metadata_uid`).
    let mut identity: [&str; 13] = ["-"; 13];
    {
        let c = &mut row.common;
        let n = &mut row.own;
        for (field, value) in layout.iter().zip(line.split_ascii_whitespace()) {
            if let Some(slot) = identity_slot(*field) {
                identity[slot] = value;
            }
            let text = super::non_empty(value);
            match field {
                Field::Version => {
                    if value != "-" && value.parse::<u8>().is_err() {
                        return Err(field_err("version", value));
                    }
                }
                Field::AccountId => c.cloud_account_uid = text,
                Field::InterfaceId => n.device_interface_uid = text,
                Field::SrcAddr => srcaddr = opt_address("srcaddr", value)?,
                Field::DstAddr => dstaddr = opt_address("dstaddr", value)?,
                Field::SrcPort => n.src_endpoint_port = opt_port("srcport", value)?,
                Field::DstPort => n.dst_endpoint_port = opt_port("dstport", value)?,
                Field::Protocol => n.connection_info_protocol_num = opt_num("protocol", value)?,
                Field::Packets => n.traffic_packets = opt_num("packets", value)?,
                Field::Bytes => n.traffic_bytes = opt_num("bytes", value)?,
                Field::Start => n.start_time = opt_epoch_secs("start", value)?,
                Field::End => n.end_time = opt_epoch_secs("end", value)?,
                Field::Action => action = text,
                Field::LogStatus => c.status_code = text,
                Field::VpcId => n.device_vpc_uid = text,
                Field::SubnetId => n.device_subnet_uid = text,
                Field::InstanceId => n.device_instance_uid = text,
                Field::TcpFlags => n.connection_info_tcp_flags = opt_num("tcp-flags", value)?,
                Field::Type => {
                    n.connection_info_protocol_ver_id = match value {
                        "IPv4" => Some(4),
                        "IPv6" => Some(6),
                        _ => None,
                    }
                }
                Field::PktSrcAddr => pkt_src = opt_address("pkt-srcaddr", value)?,
                Field::PktDstAddr => pkt_dst = opt_address("pkt-dstaddr", value)?,
                Field::Region => c.cloud_region = text,
                Field::AzId => n.cloud_zone = text,
                Field::SublocationType | Field::SublocationId => {
                    if let Some(t) = text {
                        let name = if *field == Field::SublocationType {
                            "sublocation-type"
                        } else {
                            "sublocation-id"
                        };
                        unmapped.push((name, t.into_owned()));
                    }
                }
                Field::PktSrcAwsService => n.src_endpoint_svc_name = text,
                Field::PktDstAwsService => n.dst_endpoint_svc_name = text,
                Field::FlowDirection => flow_direction = text,
                Field::TrafficPath => {
                    n.connection_info_boundary_id =
                        opt_num::<i32>("traffic-path", value)?.map(|p| p + 3)
                }
                Field::Other(name) => {
                    if let Some(t) = text {
                        unmapped.push((name, t.into_owned()));
                    }
                }
            }
        }
    }

    let time = row.own.start_time.or(row.own.end_time).ok_or_else(|| {
        ParseError::new(ErrorKind::MissingField, "record has no start or end time")
    })?;
    if let (Some(start), Some(end)) = (row.own.start_time, row.own.end_time) {
        row.own.duration = Some(end - start);
    }

    // Original packet addresses win; interface addresses become intermediate hops.
    let src = pkt_src.or(srcaddr);
    let dst = pkt_dst.or(dstaddr);
    for (interface_addr, packet_addr) in [(srcaddr, pkt_src), (dstaddr, pkt_dst)] {
        if let (Some(i), Some(p)) = (interface_addr, packet_addr)
            && i.0 != p.0
        {
            row.own.src_endpoint_intermediate_ips.push(address_text(i));
        }
    }
    row.own.src_endpoint_ip = src.map(address_text);
    row.own.dst_endpoint_ip = dst.map(address_text);
    let (src, dst) = (src.map(|a| a.0), dst.map(|a| a.0));
    if row.own.connection_info_protocol_ver_id.is_none() {
        row.own.connection_info_protocol_ver_id = src.map(|ip| if ip.is_ipv4() { 4 } else { 6 });
    }
    row.own.connection_info_protocol_name = row
        .own
        .connection_info_protocol_num
        .and_then(protocol_name)
        .map(Cow::Borrowed);

    let (action_id, disposition_id) = match action.as_deref() {
        Some("ACCEPT") => (Some(1), Some(1)),
        Some("REJECT") => (Some(2), Some(2)),
        Some(other) => return Err(field_err("action", other)),
        None => (None, None),
    };
    row.own.action_id = action_id;
    row.own.disposition_id = disposition_id;

    // Site enrichment.
    let hint = match flow_direction.as_deref() {
        Some("ingress") => Some(1),
        Some("egress") => Some(2),
        _ => None,
    };
    super::tag_network(&mut row.own, site, src, dst, hint);

    let c = &mut row.common;
    c.time = Some(time);
    c.activity_id = Some(6);
    c.activity_name = Some(Cow::Borrowed("Traffic"));
    c.severity_id = Some(1);
    c.status_id = Some(match c.status_code.as_deref() {
        Some("OK") | None => 1,
        _ => 99,
    });
    // `identity.join(" ")`, into a buffer the parser keeps (no allocation per record).
    identity_text.clear();
    for (i, part) in identity.iter().enumerate() {
        if i > 0 {
            identity_text.push(' ');
        }
        identity_text.push_str(part);
    }
    c.metadata_uid = Some(Cow::Owned(content_uid("vpc", identity_text.as_bytes())));
    c.metadata_product_name = Some(Cow::Borrowed("vpcflow"));
    c.metadata_product_vendor_name = Some(Cow::Borrowed("AWS"));
    c.metadata_log_name = Some(Cow::Borrowed("VPC Flow Logs"));
    c.cloud_provider = Some(Cow::Borrowed("AWS"));
    c.raw_ref = Some(Cow::Borrowed(raw_ref));
    if !unmapped.is_empty() {
        let pairs: Vec<(&str, String)> = unmapped
            .iter()
            .map(|(k, v)| (*k, serde_json::to_string(v).unwrap_or_default()))
            .collect();
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.unmapped = json_object(&borrowed).map(Cow::Owned);
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::opt_epoch_secs;

    #[test]
    fn epoch_times_beyond_any_calendar_are_invalid() {
        assert_eq!(
            opt_epoch_secs("start", "1772400000").unwrap(),
            Some(1_772_400_000_000)
        );
        assert_eq!(opt_epoch_secs("start", "-").unwrap(), None);
        for absurd in ["99999999999999", "9223372036854775807", "-99999999999999"] {
            assert!(opt_epoch_secs("start", absurd).is_err(), "{absurd}");
        }
    }
}
