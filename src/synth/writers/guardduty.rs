//! AWS GuardDuty findings, as EventBridge delivers them (`detail-type` "GuardDuty Finding"):
//! a finding about one of the company's EC2 instances, and its later re-publications with a
//! higher count.

use serde_json::json;

use super::super::fnv1a_64;

/// The kinds of finding the generator raises: type, severity (GuardDuty's 1–10 scale), title.
pub const FINDINGS: [(&str, f64, &str); 3] = [
    (
        "UnauthorizedAccess:EC2/SSHBruteForce",
        2.0,
        "SSH brute force attacks against an instance.",
    ),
    (
        "Recon:EC2/PortProbeUnprotectedPort",
        5.0,
        "Unprotected port on an instance is being probed.",
    ),
    (
        "Backdoor:EC2/C&CActivity.B",
        8.0,
        "An instance is querying an IP address associated with a command and control server.",
    ),
];

/// The instance id of a host of the company's VPC.
pub fn instance_id(ip: &str) -> String {
    format!("i-0{:016x}", fnv1a_64(ip) >> 4)
}

fn iso(ms: i64) -> String {
    ztlens_analytics::time_range::format_ms(ms)
}

/// One publication of finding `id` (kind `kind` of [`FINDINGS`]) about the instance at `ip`:
/// created at `created_ms`, this version updated at `updated_ms` with `count` occurrences.
#[allow(clippy::too_many_arguments)]
pub fn finding(
    account: &str,
    id: &str,
    event_id: &str,
    kind: usize,
    ip: &str,
    remote_ip: &str,
    created_ms: i64,
    updated_ms: i64,
    count: u64,
) -> String {
    let (kind_type, severity, title) = FINDINGS[kind % FINDINGS.len()];
    let instance = instance_id(ip);
    let detector = "3cb2a0f6d9e14b7a8c5d2e1f0a9b8c7d";
    json!({
        "version": "0",
        "id": event_id,
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": account,
        "time": iso(updated_ms + 30_000),
        "region": "eu-central-1",
        "resources": [],
        "detail": {
            "schemaVersion": "2.0",
            "accountId": account,
            "region": "eu-central-1",
            "partition": "aws",
            "id": id,
            "arn": format!("arn:aws:guardduty:eu-central-1:{account}:detector/{detector}/finding/{id}"),
            "type": kind_type,
            "resource": {
                "resourceType": "Instance",
                "instanceDetails": {
                    "instanceId": instance,
                    "instanceType": "m6i.large",
                    "networkInterfaces": [{
                        "privateIpAddress": ip,
                        "privateDnsName": format!("ip-{}.eu-central-1.compute.internal", ip.replace('.', "-")),
                    }],
                },
            },
            "service": {
                "serviceName": "guardduty",
                "detectorId": detector,
                "action": {
                    "actionType": "NETWORK_CONNECTION",
                    "networkConnectionAction": {
                        "connectionDirection": "INBOUND",
                        "remoteIpDetails": {"ipAddressV4": remote_ip},
                        "protocol": "TCP",
                        "blocked": false,
                    },
                },
                "resourceRole": "TARGET",
                "additionalInfo": {"value": "{}", "type": "default"},
                "eventFirstSeen": iso(created_ms - 60_000),
                "eventLastSeen": iso(updated_ms - 1_000),
                "archived": false,
                "count": count,
            },
            "severity": severity,
            "createdAt": iso(created_ms),
            "updatedAt": iso(updated_ms),
            "title": title,
            "description": format!("{title} Instance {instance} is the target."),
        },
    })
    .to_string()
}
