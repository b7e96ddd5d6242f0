//! GCP Cloud Logging entries of the firewall log (the decision on a connection) and the VPC
//! flow log (the packets of an allowed connection, as the destination VM reports them), as a
//! Cloud Storage sink writes them: one `LogEntry` JSON per line.

use super::vpcflow::VpcRecord;

/// The host project of the company's GCP network.
pub const PROJECT: &str = "zt-corp-network";

/// RFC 3339 with nanoseconds, as Cloud Logging writes times.
fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

/// The VM a destination address is, named from its last octets.
fn vm_name(ip: &str) -> String {
    format!(
        "vm-{}",
        ip.rsplit('.').take(2).collect::<Vec<_>>().join("-")
    )
}

fn instance(ip: &str) -> String {
    format!(
        r#"{{"project_id":"zt-corp-apps","vm_name":"{}","region":"europe-west1","zone":"europe-west1-b"}}"#,
        vm_name(ip)
    )
}

const VPC: &str = r#"{"project_id":"zt-corp-network","vpc_name":"corp-vpc","subnetwork_name":"apps-euw1","subnetwork_region":"europe-west1"}"#;
const RESOURCE: &str = r#"{"type":"gce_subnetwork","labels":{"project_id":"zt-corp-network","subnetwork_id":"5712093382281430117","subnetwork_name":"apps-euw1","location":"europe-west1"}}"#;

/// The firewall entry for `flow` at `time_ms`: ALLOWED or DENIED by the rule for its port.
pub fn firewall_entry(flow: &VpcRecord, time_ms: i64, insert_id: &str) -> String {
    let (Some(src), Some(dst)) = (&flow.src, &flow.dst) else {
        unreachable!("a firewall entry describes a connection with endpoints");
    };
    let allowed = flow.action == Some("ACCEPT");
    let internal = src.0.starts_with("10.");
    let (rule, priority) = match (allowed, internal) {
        (true, _) if dst.1 == 443 => ("allow-https-internal", 1000),
        (true, _) => ("allow-admin-from-corp", 1000),
        (false, true) => ("deny-admin-east-west", 900),
        (false, false) => ("deny-all-from-internet", 65534),
    };
    let protocol = if flow.protocol == 17 { "UDP" } else { "TCP" };
    let source_range = if internal {
        "10.10.0.0/16"
    } else {
        "0.0.0.0/0"
    };
    format!(
        r#"{{"insertId":"{insert_id}","jsonPayload":{{"connection":{{"src_ip":"{}","src_port":{},"dest_ip":"{}","dest_port":{},"protocol":{}}},"disposition":"{}","rule_details":{{"reference":"network:corp-vpc/firewall:{rule}","priority":{priority},"action":"{}","direction":"INGRESS","ip_port_info":[{{"ip_protocol":"{protocol}","port_range":["{}"]}}],"source_range":["{source_range}"]}},"instance":{},"vpc":{VPC}}},"logName":"projects/{PROJECT}/logs/compute.googleapis.com%2Ffirewall","receiveTimestamp":"{}","resource":{RESOURCE},"timestamp":"{}"}}"#,
        src.0,
        src.1,
        dst.0,
        dst.1,
        flow.protocol,
        if allowed { "ALLOWED" } else { "DENIED" },
        if allowed { "ALLOW" } else { "DENY" },
        dst.1,
        instance(&dst.0),
        timestamp(time_ms + 2_400),
        timestamp(time_ms),
    )
}

/// The flow log entry of an allowed `flow`, reported by the destination VM: packets from
/// `start_ms` for `duration_ms`.
pub fn flow_entry(flow: &VpcRecord, start_ms: i64, duration_ms: i64, insert_id: &str) -> String {
    let (Some(src), Some(dst)) = (&flow.src, &flow.dst) else {
        unreachable!("a flow entry describes a connection with endpoints");
    };
    let end_ms = start_ms + duration_ms;
    format!(
        r#"{{"insertId":"{insert_id}","jsonPayload":{{"connection":{{"src_ip":"{}","src_port":{},"dest_ip":"{}","dest_port":{},"protocol":{}}},"reporter":"DEST","bytes_sent":"{}","packets_sent":"{}","start_time":"{}","end_time":"{}","dest_instance":{},"dest_vpc":{VPC}}},"logName":"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows","receiveTimestamp":"{}","resource":{RESOURCE},"timestamp":"{}"}}"#,
        src.0,
        src.1,
        dst.0,
        dst.1,
        flow.protocol,
        flow.bytes,
        flow.packets,
        timestamp(start_ms),
        timestamp(end_ms),
        instance(&dst.0),
        timestamp(end_ms + 9_000),
        timestamp(end_ms + 5_000),
    )
}
