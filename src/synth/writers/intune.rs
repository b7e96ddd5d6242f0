//! Intune Graph `managedDevice` snapshots: one check-in of a person's device with its
//! compliance state and grace period.

use serde_json::json;

use super::os_name;
use crate::synth::company::Person;
use crate::synth::fnv1a_64;

/// The snapshot of `person`'s device checking in at `t` in compliance `state`
/// (`compliant`, `inGracePeriod`, `noncompliant`), with the end of its grace period if any.
pub fn managed_device(t: i64, person: &Person, state: &str, grace_until_ms: Option<i64>) -> String {
    // Graph writes "no grace period" as the end of time.
    let grace = grace_until_ms.map_or_else(
        || "9999-12-31T23:59:59Z".to_string(),
        ztlens_analytics::time_range::format_ms,
    );
    json!({
        "id": format!("{:08x}-0000-4000-8000-{:012x}", fnv1a_64(&person.device_id) as u32, fnv1a_64(&person.login) >> 16),
        "deviceName": person.device_name,
        "userPrincipalName": person.login,
        "operatingSystem": os_name(person),
        "osVersion": "14.5",
        "complianceState": state,
        "complianceGracePeriodExpirationDateTime": grace,
        "lastSyncDateTime": ztlens_analytics::time_range::format_ms(t),
        "managementAgent": "mdm",
        "managementState": if person.device_managed { "managed" } else { "retirePending" },
        "azureADDeviceId": person.device_id,
    })
    .to_string()
}
