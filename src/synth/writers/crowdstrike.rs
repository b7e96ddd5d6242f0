//! CrowdStrike Falcon Data Replicator events: workstation logons, detection summaries and the
//! SOC's host containments (audit events).

use serde_json::json;

use super::account_name;
use crate::synth::company::Person;
use crate::synth::rng::Rng;

/// Falcon's customer id of the company.
const CID: &str = "c1d0000000000000000000000000c0de";

/// A logon to `person`'s workstation at `t`, or a failed one.
pub fn logon(rng: &mut Rng, t: i64, person: &Person, failed: bool) -> String {
    json!({
        "event_simpleName": if failed { "UserLogonFailed2" } else { "UserLogon" },
        "aid": person.device_id, "cid": CID,
        "id": rng.uuid(), "timestamp": t.to_string(),
        "UserName": account_name(person), "LogonDomain": "CORP", "LogonType": "2",
        "UserIsAdmin": if person.admin { "1" } else { "0" },
        "ComputerName": person.device_name, "event_platform": "Win",
    })
    .to_string()
}

/// The `offset`-th detection summary, on `person`'s workstation at `t`.
pub fn detection(
    t: i64,
    offset: u64,
    (severity_id, severity): (u8, &str),
    person: &Person,
) -> String {
    json!({
        "metadata": {"customerIDString": CID,
            "offset": offset, "eventType": "DetectionSummaryEvent",
            "eventCreationTime": t, "version": "1.0"},
        "event": {"DetectId": format!("ldt:{}:{}", person.device_id, offset), "DetectName": "Suspicious Activity",
            "DetectDescription": "A process behaved like known malware.",
            "Severity": severity_id, "SeverityName": severity,
            "ComputerName": person.device_name, "SensorId": person.device_id,
            "UserName": account_name(person), "LocalIP": person.internal_ip,
            "Tactic": "Execution", "TechniqueId": "T1059"},
    })
    .to_string()
}

/// The containment of `person`'s workstation at `at` (whole seconds: Falcon's `UTCTimestamp`)
/// by the analyst `(login, ip)`, answering detection `offset`.
pub fn containment(at: i64, offset: u64, person: &Person, (login, ip): (&str, &str)) -> String {
    json!({
        "metadata": {"customerIDString": CID,
            "offset": offset, "eventType": "UserActivityAuditEvent",
            "eventCreationTime": at, "version": "1.0"},
        "event": {"UserId": login, "UserIp": ip,
            "OperationName": "containment_requested", "ServiceName": "hosts",
            "Success": true, "UTCTimestamp": at / 1000,
            "AuditKeyValues": [{"Key": "device_id", "ValueString": person.device_id},
                {"Key": "hostname", "ValueString": person.device_name}]},
    })
    .to_string()
}
