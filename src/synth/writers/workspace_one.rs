//! Workspace ONE UEM device search records of people's phones: one check-in with the
//! compliance status.

use serde_json::json;

use crate::synth::company::Person;
use crate::synth::fnv1a_64;

/// The device id Workspace ONE gives a person's phone.
pub fn phone_id(person: &Person) -> u64 {
    10_000 + fnv1a_64(&person.login) % 90_000
}

/// Whether a person's phone is an iPhone (else Android).
pub fn is_iphone(person: &Person) -> bool {
    !fnv1a_64(&person.device_name).is_multiple_of(3)
}

/// The phone of `person` checking in at `t`, compliant or not.
pub fn phone(t: i64, person: &Person, compliant: bool) -> String {
    let id = phone_id(person);
    let iphone = is_iphone(person);
    let local = person.login.split('@').next().unwrap_or("user");
    // Workspace ONE writes times without a zone, in UTC.
    let seen = chrono::DateTime::from_timestamp_millis(t)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3f")
        .to_string();
    json!({
        "Udid": format!("{:016X}{:016X}", fnv1a_64(&person.device_id), id),
        "SerialNumber": format!("F{:010X}", id * 7919),
        "DeviceFriendlyName": format!("{local} {}", if iphone { "iPhone" } else { "Pixel" }),
        "LocationGroupName": "Corp",
        "UserName": local,
        "UserEmailAddress": person.login,
        "Ownership": "C",
        "Platform": if iphone { "Apple" } else { "Android" },
        "Model": if iphone { "iPhone 15" } else { "Pixel 8" },
        "OperatingSystem": if iphone { "17.5.1" } else { "14" },
        "LastSeen": seen,
        "EnrollmentStatus": "Enrolled",
        "ComplianceStatus": if compliant { "Compliant" } else { "NonCompliant" },
        "CompromisedStatus": false,
        "Id": {"Value": id},
        "Uuid": format!("{:08x}-0000-4000-8000-{:012x}", id, fnv1a_64(&person.login) >> 16),
    })
    .to_string()
}
