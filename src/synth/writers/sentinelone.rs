//! SentinelOne on the company's production servers: a threat as the Management API's
//! `/threats` lists it, and the "threat detected" activity (type 19) that names it.

use serde_json::json;

use super::super::fnv1a_64;

/// The agent id SentinelOne gives a server.
pub fn agent_id(host: &str) -> String {
    format!(
        "{}",
        2_098_800_000_000_000_000u64 + (fnv1a_64(host) % 100_000_000_000)
    )
}

fn iso(ms: i64) -> String {
    ztlens_analytics::time_range::format_ms(ms)
}

/// A threat on `host` detected at `t`: `malicious` or `suspicious` confidence.
pub fn threat(t: i64, threat_id: &str, host: &str, ip: &str, malicious: bool) -> String {
    let (name, classification) = if malicious {
        ("xmrig", "Miner")
    } else {
        ("ld.so.preload-loader", "Generic.Heuristic")
    };
    json!({
        "agentDetectionInfo": {
            "accountId": "1905519361226462310",
            "accountName": "Corp Example",
            "agentIpV4": ip,
            "agentOsName": "Linux",
            "agentVersion": "24.1.3.6",
            "siteName": "Production",
        },
        "agentRealtimeInfo": {
            "agentComputerName": host,
            "agentId": agent_id(host),
            "agentIsActive": true,
            "agentMachineType": "server",
            "agentNetworkStatus": "connected",
            "agentOsName": "Linux",
            "agentOsType": "linux",
            "siteName": "Production",
        },
        "id": threat_id,
        "indicators": [],
        "mitigationStatus": [],
        "threatInfo": {
            "analystVerdict": "undefined",
            "classification": classification,
            "confidenceLevel": if malicious { "malicious" } else { "suspicious" },
            "createdAt": iso(t),
            "identifiedAt": iso(t - 400),
            "incidentStatus": "unresolved",
            "mitigationStatus": "not_mitigated",
            "sha1": format!("{:016x}{:016x}{:08x}", fnv1a_64(threat_id), fnv1a_64(host), fnv1a_64(name) as u32),
            "threatId": threat_id,
            "threatName": name,
            "filePath": format!("/tmp/.cache/{name}"),
            "updatedAt": iso(t + 900),
        },
    })
    .to_string()
}

/// The activity SentinelOne logs for the same threat ("threat detected", type 19).
pub fn threat_activity(
    t: i64,
    activity_id: &str,
    threat_id: &str,
    host: &str,
    malicious: bool,
) -> String {
    json!({
        "accountId": "1905519361226462310",
        "activityType": 19,
        "agentId": agent_id(host),
        "createdAt": iso(t),
        "data": {
            "computerName": host,
            "confidenceLevel": if malicious { "malicious" } else { "suspicious" },
            "threatClassification": if malicious { "Miner" } else { "Generic.Heuristic" },
        },
        "id": activity_id,
        "primaryDescription": format!("Threat detected on {host}."),
        "siteName": "Production",
        "threatId": threat_id,
        "updatedAt": iso(t),
    })
    .to_string()
}
