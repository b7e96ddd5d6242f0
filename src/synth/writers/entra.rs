//! Entra ID sign-in records (diagnostic-setting format): the same sign-in step as
//! [`okta::line`](super::okta::line) would write, as Entra ID records it. The decision becomes
//! an AADSTS error code, MFA steps carry `authenticationDetails`, and the country is an ISO
//! code.

use serde_json::json;

use super::okta::{OktaEvent, Who};
use super::{os_name, user_agent};
use crate::synth::company::App;
use crate::synth::iso_country;
use crate::synth::rng::Rng;

/// The app an Entra sign-in names: the target app, or the portal a plain sign-in lands on.
pub fn app_name(app: Option<&App>) -> &'static str {
    app.map_or("Microsoft 365 portal", |a| a.name)
}

/// The Entra authentication method for an Okta factor name.
fn method(factor: &str) -> &'static str {
    match factor {
        "FIDO_WEBAUTHN" => "FIDO2 security key",
        "SIGNED_NONCE" => "Windows Hello for Business",
        "GOOGLE_AUTHENTICATOR" => "OATH verification code",
        "SMS" => "Text message",
        _ => "Mobile app notification",
    }
}

/// The pilot policy that would block devices the company does not manage.
pub const PILOT_COMPLIANT_DEVICE: &str = "CA201 Require compliant device (pilot)";
/// The pilot policy that would ask administrators for a phishing-resistant factor.
pub const PILOT_ADMIN_STRENGTH: &str = "CA202 Phishing-resistant MFA for admins (pilot)";

/// The conditional-access policies in report-only mode on every allowed sign-in: the compliant
/// device pilot (a failure on an unmanaged device) and, for administrators, the
/// phishing-resistant MFA pilot (user action required unless their factor is one).
pub fn report_only_policies(person: &crate::synth::company::Person) -> Vec<serde_json::Value> {
    let mut out = vec![
        json!({"id": "ca-pilot-device", "displayName": PILOT_COMPLIANT_DEVICE,
        "result": if person.device_managed { "reportOnlySuccess" } else { "reportOnlyFailure" },
        "enforcedGrantControls": ["RequireCompliantDevice"], "enforcedSessionControls": []}),
    ];
    if person.admin {
        let strong = matches!(person.factor, "FIDO_WEBAUTHN" | "SIGNED_NONCE");
        out.push(
            json!({"id": "ca-pilot-strength", "displayName": PILOT_ADMIN_STRENGTH,
            "result": if strong { "reportOnlySuccess" } else { "reportOnlyInterrupted" },
            "enforcedGrantControls": ["AuthenticationStrength"], "enforcedSessionControls": []}),
        );
    }
    out
}

/// The would-be decision of the report-only policies on an allowed sign-in of `person` and
/// the policy that decides it (the most restrictive), as ztlens must read them.
pub fn would_be(person: &crate::synth::company::Person) -> (&'static str, &'static str) {
    if !person.device_managed {
        ("deny_device_posture", PILOT_COMPLIANT_DEVICE)
    } else if person.admin && !matches!(person.factor, "FIDO_WEBAUTHN" | "SIGNED_NONCE") {
        ("challenge_mfa", PILOT_ADMIN_STRENGTH)
    } else {
        ("allow", PILOT_COMPLIANT_DEVICE)
    }
}

/// The sign-in record of `ev` at `t`; `session_mfa`: a factor was verified earlier in the
/// session. `None` for steps Entra does not log: those without a decision (Entra has no logoff
/// event) and decisions it has no code for.
pub fn sign_in(rng: &mut Rng, t: i64, ev: &OktaEvent<'_>, session_mfa: bool) -> Option<String> {
    let OktaEvent {
        who: Who { person, place, ip },
        reason,
        app,
        rule,
        factor,
        ref meaning,
        ..
    } = *ev;
    let decision = meaning.decision?;
    let (code, failure, details): (i64, &str, Option<&str>) = match decision {
        "allow" => (0, "", None),
        "challenge_mfa" => (50074, "Strong Authentication is required.", None),
        "deny_credentials" => (
            50126,
            "Error validating credentials due to invalid username or password.",
            None,
        ),
        "mfa_failed" => (
            500121,
            "Authentication failed during strong authentication request.",
            None,
        ),
        "mfa_denied" => (
            500121,
            "Authentication failed during strong authentication request.",
            Some("MFA denied; user declined the authentication"),
        ),
        "deny_policy" if reason.is_some_and(|r| r.contains("not assigned")) => (
            50105,
            "The signed in user is not assigned to a role for the application.",
            None,
        ),
        "deny_policy" => (
            53003,
            "Access has been blocked by Conditional Access policies.",
            None,
        ),
        "deny_device_posture" => (
            53000,
            "Device is not in required device state: compliant.",
            None,
        ),
        "locked_out" => (
            50053,
            "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
            None,
        ),
        _ => return None,
    };
    let country = iso_country(place.country);
    let app_name = app_name(app);
    let mut details_list = vec![
        json!({"authenticationMethod": "Password", "succeeded": code != 50126 && code != 50053}),
    ];
    // After a verified factor, the session's token carries the MFA claim: Entra records the
    // app sign-in as multi-factor, "Previously satisfied".
    let mfa_claim = session_mfa && !meaning.mfa_step && decision == "allow";
    if mfa_claim {
        details_list.push(json!({"authenticationMethod": "Previously satisfied", "succeeded": true,
            "authenticationStepResultDetail": "First factor requirement satisfied by claim in the token"}));
    }
    if meaning.mfa_step {
        let method = method(factor.unwrap_or(person.factor));
        details_list.push(json!({"authenticationMethod": method, "succeeded": decision == "allow",
            "authenticationStepResultDetail": details.unwrap_or(if decision == "allow" { "MFA successfully completed" } else { failure })}));
    }
    let mut status = json!({"errorCode": code});
    if code != 0 {
        status["failureReason"] = json!(failure);
    }
    if let Some(d) = details {
        status["additionalDetails"] = json!(d);
    }
    let policies = match (decision, rule) {
        ("challenge_mfa", _) => {
            json!([{"id": "ca-mfa", "displayName": "Require MFA", "result": "success", "enforcedGrantControls": ["Mfa"]}])
        }
        ("deny_device_posture", _) => {
            json!([{"id": "ca-device", "displayName": rule.unwrap_or("Managed devices only"), "result": "failure", "enforcedGrantControls": ["RequireCompliantDevice"]}])
        }
        ("deny_policy", Some(r)) if code == 53003 => {
            json!([{"id": "ca-block", "displayName": r, "result": "failure", "enforcedGrantControls": ["Block"]}])
        }
        _ => json!([]),
    };
    // Report-only policies never change the conditional-access status.
    let ca_status = if policies.as_array().is_some_and(|p| !p.is_empty()) {
        if code == 0 || code == 50074 {
            "success"
        } else {
            "failure"
        }
    } else {
        "notApplied"
    };
    let mut policies = policies;
    if decision == "allow"
        && let Some(list) = policies.as_array_mut()
    {
        list.extend(report_only_policies(person));
    }
    let id = rng.uuid();
    let record = json!({
        "time": ztlens_analytics::time_range::format_ms(t + 1500),
        "resourceId": "/tenants/5f1c0000-0000-4000-8000-00000000c0de/providers/Microsoft.aadiam",
        "operationName": "Sign-in activity",
        "operationVersion": "1.0",
        "category": "SignInLogs",
        "tenantId": "5f1c0000-0000-4000-8000-00000000c0de",
        "resultType": code.to_string(),
        "resultDescription": failure,
        "callerIpAddress": ip,
        "correlationId": rng.uuid(),
        "Level": 4,
        "properties": {
            "id": id,
            "createdDateTime": ztlens_analytics::time_range::format_ms(t),
            "userDisplayName": person.display_name,
            "userPrincipalName": person.login,
            "userId": person.okta_id,
            "appDisplayName": app_name,
            "appId": app.map_or_else(|| "00000006-0000-0ff1-ce00-000000000000".to_string(), |a| a.okta_id.clone()),
            "ipAddress": ip,
            "clientAppUsed": "Browser",
            "userAgent": user_agent(person),
            "isInteractive": true,
            "status": status,
            "conditionalAccessStatus": ca_status,
            "appliedConditionalAccessPolicies": policies,
            "authenticationRequirement": if meaning.mfa_step || code == 50074 || mfa_claim { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
            "authenticationDetails": details_list,
            "deviceDetail": {"deviceId": person.device_id, "displayName": person.device_name, "operatingSystem": os_name(person),
                "browser": "Chrome 126.0", "isCompliant": person.device_managed, "isManaged": person.device_managed,
                "trustType": if person.device_managed { "Azure AD joined" } else { "" }},
            "location": {"city": place.city, "state": place.state, "countryOrRegion": country,
                "geoCoordinates": {"latitude": place.lat, "longitude": place.lon}},
            "riskLevelDuringSignIn": if place.is_proxy { "medium" } else { "none" },
        }
    });
    Some(record.to_string())
}
