//! PingOne audit activities, one per line, as single webhook deliveries with the client's
//! address and user agent exposed (`source`). Every activity of a sign-in flow names the
//! application signing in (`actors.client`: the target app, or the PingOne Application Portal
//! for steps without one) and the user's session (a `SESSION` resource).
//!
//! PingOne reports no client location and no device.

use serde_json::json;

use super::okta::Who;
use super::user_agent;
use crate::synth::company::App;
use crate::synth::fnv1a_64;
use crate::synth::rng::Rng;

/// The PingOne environment of the support team.
const ENVIRONMENT: &str = "7d2a0c31-5b1e-4c8a-9f20-0000000c0de1";
/// The population the support team's users belong to.
const POPULATION: &str = "e41f6a20-93c7-4d15-8b0e-00000000a11a";

/// The client a sign-in step without a target app names.
pub const PORTAL: &str = "PingOne Application Portal";

/// The client an activity names: the target app, or the portal.
pub fn client_name(app: Option<&App>) -> &'static str {
    app.map_or(PORTAL, |a| a.name)
}

/// One activity, as the scenario decided it.
#[derive(Debug, Clone, Copy)]
pub struct Activity<'a> {
    /// `action.type`, e.g. `PASSWORD.CHECK_FAILED`.
    pub action: &'static str,
    /// `result.status` SUCCESS (else FAILED).
    pub ok: bool,
    /// `result.description` (free text; `None`: none).
    pub result: Option<&'a str>,
    /// The target app (`actors.client`), if any.
    pub app: Option<&'a App>,
}

/// The display name PingOne gives an action type.
fn display(action: &str) -> &'static str {
    match action {
        "PASSWORD.CHECK_SUCCEEDED" => "Password Check Succeeded",
        "PASSWORD.CHECK_FAILED" => "Password Check Failed",
        "USER.LOCKED" => "User Locked",
        "OTP.CHECK_SUCCESS" => "OTP Check Succeeded",
        "OTP.CHECK_FAILED" => "OTP Check Failed",
        "ASSERTION.CHECK_SUCCESS" => "Assertion Check Succeeded",
        "ASSERTION.CHECK_FAILED" => "Assertion Check Failed",
        "DEVICE_PAYLOAD.CHECK_SUCCESS" => "Device Payload Check Succeeded",
        "DEVICE_PAYLOAD.CHECK_FAILED" => "Device Payload Check Failed",
        "DEVICE.FRAUD_REPORTED" => "Device Fraud Reported",
        "USER.ACCESS_ALLOWED" => "User Access Allowed",
        "USER.ACCESS_DENIED" => "User Access Denied",
        "SESSION.DELETED" => "Session Deleted",
        _ => "Activity",
    }
}

/// A UUID-shaped id derived from `text` (stable: the same user, app or session always gets the
/// same id).
fn derived_id(text: &str) -> String {
    let a = fnv1a_64(text);
    let b = fnv1a_64(&format!("{text}#"));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// The activity `a` of `who` at `t`, in the identity-provider session `session_id`.
pub fn activity(rng: &mut Rng, t: i64, who: Who<'_>, session_id: &str, a: Activity<'_>) -> String {
    let person = who.person;
    let id = rng.uuid();
    let env = json!({"id": ENVIRONMENT});
    let user = json!({"id": derived_id(&person.okta_id), "name": person.login,
        "environment": env, "population": {"id": POPULATION}});
    let client = client_name(a.app);
    let client_id = derived_id(a.app.map_or(PORTAL, |app| app.okta_id.as_str()));
    // One sign-in session per user and scenario (an attacker's tries are sessions of their own).
    let session = derived_id(&format!("{session_id}/{}", person.login));
    let mut user_actor = user.clone();
    user_actor["type"] = json!("USER");
    let mut result = json!({"status": if a.ok { "SUCCESS" } else { "FAILED" }});
    if let Some(description) = a.result {
        result["description"] = json!(description);
    }
    let created = t + 17 + rng.below(40) as i64;
    json!({
        "_links": {"self": {"href": format!("https://api.pingone.eu/v1/environments/{ENVIRONMENT}/activities/{id}")}},
        "id": id,
        "recordedAt": ztlens_analytics::time_range::format_ms(t),
        "createdAt": ztlens_analytics::time_range::format_ms(created),
        "correlationId": derived_id(&format!("{session}/flow")),
        "actors": {
            "client": {"id": client_id, "name": client, "environment": env, "type": "CLIENT"},
            "user": user_actor,
        },
        "action": {"type": a.action, "description": display(a.action)},
        "resources": [
            {"type": "USER", "id": user["id"], "name": person.login, "environment": env, "population": {"id": POPULATION}},
            {"type": "SESSION", "id": session, "environment": env},
        ],
        "result": result,
        "source": {"ipAddress": who.ip, "userAgent": user_agent(person)},
    })
    .to_string()
}
