//! Kandji library-item status of people's managed Macs (`GET /devices/{id}/library-items`):
//! the Blueprint items the Mac reports, one failing when it drifted out of compliance.

use serde_json::json;

use crate::synth::company::Person;
use crate::synth::fnv1a_64;

/// The device id Kandji gives a person's Mac.
pub fn device_id(person: &Person) -> String {
    let h = fnv1a_64(&person.device_id);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 20) & 0xfff,
        fnv1a_64(&person.login) & 0xffff_ffff_ffff
    )
}

/// The library-item status of `person`'s Mac reported at `t`: FileVault enforcement fails
/// when the Mac is not compliant.
pub fn library_items(t: i64, person: &Person, compliant: bool) -> String {
    let id = device_id(person);
    let at = ztlens_analytics::time_range::format_ms(t);
    let item = |name: &str, kind: &str, status: &str| {
        json!({
            "blueprint": {"id": "6391086e-85a1-4820-813c-f9c75025fff4", "name": "Corp Macs"},
            "computer": {"id": id, "name": person.device_name},
            "name": name,
            "type": kind,
            "status": status,
            "reported_at": at,
        })
    };
    json!({
        "device_id": id,
        "library_items": [
            item("Google Chrome", "automatic-app", "PASS"),
            item("Require FileVault", "custom-script", if compliant { "PASS" } else { "ERROR" }),
        ],
    })
    .to_string()
}
