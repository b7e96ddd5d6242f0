//! Azure NSG flow log records (version 2), as Network Watcher writes them: one record per
//! flow here, with the flow's begin tuple and, for an allowed flow, its end tuple with the
//! counters (a denied flow has only its begin).

use super::vpcflow::VpcRecord;

/// The subscription of the company's Azure workloads.
pub const SUBSCRIPTION: &str = "5b0d7c2e-3f41-4a8e-9c6d-2e7f81a4b903";

/// The NSG in front of the Azure segment.
pub fn nsg_resource_id() -> String {
    format!(
        "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/ZT-AZURE-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/AZURE-APP-NSG",
        SUBSCRIPTION.to_ascii_uppercase()
    )
}

/// The rule that decides a flow to `port` with `allowed`, as the NSG names it.
fn rule(port: u16, allowed: bool, from_internet: bool) -> &'static str {
    match (allowed, from_internet) {
        (true, _) if port == 443 => "UserRule_allow-https-from-corp",
        (true, _) => "UserRule_allow-from-corp",
        (false, true) => "DefaultRule_DenyAllInBound",
        (false, false) => "UserRule_deny-admin-east-west",
    }
}

/// The record of `flow` (its struct shared with the VPC writer): the begin tuple at
/// `flow.start_s`, and for an allowed flow the end tuple `duration_s` later. Returns the
/// record and the times of its tuples in milliseconds.
pub fn record(flow: &VpcRecord, duration_s: i64, from_internet: bool) -> (String, Vec<i64>) {
    let (Some(src), Some(dst)) = (&flow.src, &flow.dst) else {
        unreachable!("an NSG record describes a flow with endpoints");
    };
    let allowed = flow.action == Some("ACCEPT");
    let protocol = if flow.protocol == 17 { "U" } else { "T" };
    let decision = if allowed { "A" } else { "D" };
    let head = format!(
        "{},{},{},{},{},{protocol},I,{decision}",
        flow.start_s, src.0, dst.0, src.1, dst.1
    );
    let mut tuples = vec![format!("\"{head},B,,,,\"")];
    let mut times = vec![flow.start_s * 1000];
    if allowed {
        let end_s = flow.start_s + duration_s;
        let sent = flow.packets.div_ceil(2);
        let received = flow.packets - sent;
        let bytes_sent = flow.bytes.div_ceil(2);
        tuples.push(format!(
            "\"{},{},{},{},{},{protocol},I,A,E,{sent},{bytes_sent},{received},{}\"",
            end_s,
            src.0,
            dst.0,
            src.1,
            dst.1,
            flow.bytes - bytes_sent
        ));
        times.push(end_s * 1000);
    }
    let minute = (flow.start_s.div_euclid(60) + 1) * 60;
    // Azure writes seven fractional digits (100-ns ticks), which chrono has no format for.
    let time = format!(
        "{}.{:07}Z",
        chrono::DateTime::from_timestamp(minute, 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S"),
        crate::synth::fnv1a_64(&src.0) % 10_000_000
    );
    let mac = format!("000D3A{:06X}", crate::synth::fnv1a_64(&dst.0) & 0xFF_FFFF);
    let line = format!(
        r#"{{"time":"{time}","systemId":"0c3a9e51-7d2b-4f68-a1e4-6b5d8c2f9a07","macAddress":"{mac}","category":"NetworkSecurityGroupFlowEvent","resourceId":"{}","operationName":"NetworkSecurityGroupFlowEvents","properties":{{"Version":2,"flows":[{{"rule":"{}","flows":[{{"mac":"{mac}","flowTuples":[{}]}}]}}]}}}}"#,
        nsg_resource_id(),
        rule(dst.1, allowed, from_internet),
        tuples.join(",")
    );
    (line, times)
}
