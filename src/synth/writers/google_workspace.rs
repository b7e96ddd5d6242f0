//! Google Workspace audit activities, as the Admin SDK Reports API returns them (one activity
//! per line): the login audit (`applicationName` `login`) for sign-ins to Google and their
//! 2-Step Verification, and the SAML audit (`applicationName` `saml`) for single sign-on to the
//! apps Google is the identity provider of.
//!
//! Google geolocates the client to a country only (`networkInfo.regionCode`) and reports no
//! device.

use serde_json::{Value, json};

use super::okta::Who;
use crate::synth::company::App;
use crate::synth::rng::Rng;
use crate::synth::{fnv1a_64, iso_country};

/// The service every login audit event is a sign-in to (ztlens names it so: the login audit
/// does not name the app the user was after).
pub const SERVICE_NAME: &str = "Google Workspace";

/// The Workspace customer of the company's Google accounts.
const CUSTOMER_ID: &str = "C03corp7x";

/// One audit event, as the scenario decided it.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// `login_success`, or `login_failure` with a wrong password: the password step.
    Login { ok: bool },
    /// `login_verification` of a second factor (`method`, a `login_challenge_method` value),
    /// passed or failed.
    Verification { method: &'static str, passed: bool },
    /// `logout`.
    Logout,
    /// SAML `login_success` to `app`, or `login_failure` with `failure` (a `failure_type`).
    Saml {
        app: &'a App,
        failure: Option<&'static str>,
    },
}

/// The `login_challenge_method` of a generated factor.
pub fn method(factor: &str) -> &'static str {
    match factor {
        "FIDO_WEBAUTHN" => "security_key",
        "SIGNED_NONCE" => "passkey",
        "GOOGLE_AUTHENTICATOR" => "google_authenticator",
        "SMS" => "idv_preregistered_phone",
        _ => "google_prompt",
    }
}

/// A numeric Google profile id for a person (21 digits, stable).
fn profile_id(okta_id: &str) -> String {
    format!("1{:020}", fnv1a_64(okta_id) % 10_000_000_000_000_000_000)
}

fn param(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// The activity of `step` by `who` at `t`.
pub fn activity(rng: &mut Rng, t: i64, who: Who<'_>, step: Step<'_>) -> String {
    let Who { person, place, ip } = who;
    let (application, event) = match step {
        Step::Login { ok } => {
            let mut params = vec![
                param("login_type", "google_password"),
                json!({"name": "login_challenge_method", "multiValue": ["password"]}),
            ];
            if !ok {
                params.push(param(
                    "login_failure_type",
                    "login_failure_invalid_password",
                ));
            }
            params.push(json!({"name": "is_suspicious", "boolValue": place.is_proxy}));
            let name = if ok { "login_success" } else { "login_failure" };
            (
                "login",
                json!({"type": "login", "name": name, "parameters": params}),
            )
        }
        Step::Verification { method, passed } => (
            "login",
            json!({"type": "login", "name": "login_verification", "parameters": [
                param("login_type", "google_password"),
                {"name": "login_challenge_method", "multiValue": [method]},
                param("login_challenge_status", if passed { "Challenge Passed." } else { "Challenge Failed." }),
                {"name": "is_second_factor", "boolValue": true},
            ]}),
        ),
        Step::Logout => (
            "login",
            json!({"type": "logout", "name": "logout", "parameters": [param("login_type", "google_password")]}),
        ),
        Step::Saml { app, failure } => {
            let mut params = vec![
                param("application_name", app.name),
                param("initiated_by", "sp"),
                param("orgunit_path", "/Design"),
            ];
            match failure {
                None => params.push(param(
                    "saml_status_code",
                    "urn:oasis:names:tc:SAML:2.0:status:Success",
                )),
                Some(failure) => {
                    params.push(param("failure_type", failure));
                    params.push(param(
                        "saml_status_code",
                        "urn:oasis:names:tc:SAML:2.0:status:Responder",
                    ));
                    params.push(param(
                        "saml_second_level_status_code",
                        "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
                    ));
                }
            }
            let name = if failure.is_none() {
                "login_success"
            } else {
                "login_failure"
            };
            (
                "saml",
                json!({"type": "login", "name": name, "parameters": params}),
            )
        }
    };
    let time = chrono::DateTime::from_timestamp_millis(t)
        .expect("generated times are in range")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    json!({
        "kind": "admin#reports#activity",
        "id": {"time": time, "uniqueQualifier": (rng.next_u64() as i64).to_string(),
            "applicationName": application, "customerId": CUSTOMER_ID},
        "etag": format!("\"{:016x}\"", rng.next_u64()),
        "actor": {"callerType": "USER", "email": person.login, "profileId": profile_id(&person.okta_id)},
        "ownerDomain": "corp.example",
        "ipAddress": ip,
        "networkInfo": {"ipAsn": [place.asn], "regionCode": iso_country(place.country)},
        "events": [event],
    })
    .to_string()
}
