//! PingFederate security audit log (`audit.log`) lines, in the default pattern of PingFederate
//! 11.3 and later (with `transactionid` after `trackingid`):
//! `%d| %X{trackingid}| %X{transactionid}| %X{event}| %X{subject}| %X{ip} | %X{app}|
//! %X{connectionid}| %X{protocol}| %X{host}| %X{role}| %X{status}| %X{adapterid}|
//! %X{description}| %X{responsetime}`, the time in UTC.
//!
//! The plant signs in on an HTML form (password) and a second-factor adapter per factor;
//! single sign-on to an app is an `SSO` line naming the app and its SP connection. Lines carry
//! no location and no device.

use super::okta::Who;
use crate::synth::company::App;
use crate::synth::fnv1a_64;
use crate::synth::rng::Rng;

/// The password adapter.
pub const FORM_ADAPTER: &str = "HTMLFormPCV";

/// The OAuth client of the plant's launchpad: the connection a sign-in without a target app is
/// for (PingFederate names it where the line has no app).
pub const LAUNCHPAD: &str = "plant_launchpad";

/// The second-factor adapter instance of a generated factor.
pub fn mfa_adapter(factor: &str) -> &'static str {
    match factor {
        "FIDO_WEBAUTHN" => "FIDO2Adapter",
        "SIGNED_NONCE" => "WindowsHelloWebAuthnAdapter",
        "GOOGLE_AUTHENTICATOR" => "TOTPAdapter",
        "SMS" => "SMSOTPAdapter",
        _ => "PingIDAdapter",
    }
}

/// The SP connection id of an app.
fn connection(app: &App) -> String {
    format!(
        "https://{}.corp.example/saml/sp",
        app.name.to_lowercase().replace(' ', "-")
    )
}

/// One audit line, as the scenario decided it.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// `AUTHN_ATTEMPT`, `SSO` or `SLO`.
    pub event: &'static str,
    /// `success`, `failure` or `inprogress`.
    pub status: &'static str,
    pub adapter: &'static str,
    pub description: &'static str,
    /// The app: named on `SSO` and `SLO` lines; on `AUTHN_ATTEMPT` lines only its connection
    /// is.
    pub app: Option<&'a App>,
}

/// The app name (`app` field) and connection id of a line.
fn app_fields(line: &Line<'_>) -> (&'static str, String) {
    match line.app {
        Some(app) if line.event != "AUTHN_ATTEMPT" => (app.name, connection(app)),
        Some(app) => ("", connection(app)),
        None => ("", LAUNCHPAD.to_string()),
    }
}

/// The service a line signs in to, as PingFederate names it: the app, else the connection.
pub fn service_name(line: &Line<'_>) -> String {
    let (app, connection) = app_fields(line);
    if app.is_empty() {
        connection
    } else {
        app.to_string()
    }
}

/// The tracking id of a user's session: one per user and scenario (27 characters, as
/// PingFederate's).
fn tracking_id(session_id: &str, login: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Nine characters from each of three hashes (62^9 < 2^64).
    (0..3)
        .flat_map(|part| {
            let mut h = fnv1a_64(&format!("{session_id}/{login}/{part}"));
            (0..9).map(move |_| {
                let c = ALPHABET[(h % 62) as usize] as char;
                h /= 62;
                c
            })
        })
        .collect()
}

/// The audit line `line` of `who` at `t`, in the identity-provider session `session_id`.
pub fn line(rng: &mut Rng, t: i64, who: Who<'_>, session_id: &str, line: Line<'_>) -> String {
    let (app, connection) = app_fields(&line);
    let protocol = if line.event == "AUTHN_ATTEMPT" {
        ""
    } else {
        "SAML20"
    };
    let time = chrono::DateTime::from_timestamp_millis(t)
        .expect("generated times are in range")
        .format("%Y-%m-%d %H:%M:%S,%3f");
    let response_ms = match (line.event, line.adapter) {
        ("AUTHN_ATTEMPT", FORM_ADAPTER) => 80 + rng.below(300),
        ("AUTHN_ATTEMPT", _) if line.status != "inprogress" => 2_000 + rng.below(12_000),
        _ => 5 + rng.below(60),
    };
    format!(
        "{time}| tid:{}| txn-{:08x}| {}| {}| {} | {app}| {connection}| {protocol}| pf.plant.corp.example| IdP| {}| {}| {}| {response_ms} ",
        tracking_id(session_id, &who.person.login),
        rng.next_u64() >> 32,
        line.event,
        who.person.login,
        who.ip,
        line.status,
        line.adapter,
        line.description,
    )
}
