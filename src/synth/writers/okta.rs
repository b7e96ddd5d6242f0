//! Okta System Log events: the event types the generator uses, one sign-in step as a scenario
//! describes it ([`OktaEvent`], with builders for the common steps), its System Log line, and
//! administrator actions on a user's account.
//!
//! The Entra ID writer records the same [`OktaEvent`] in its own format.

use serde_json::{Value, json};

use super::{os_name, user_agent};
use crate::synth::company::{App, Person, Place};
use crate::synth::rng::Rng;

/// An Okta event type and the message Okta shows with it.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub event_type: &'static str,
    pub display: &'static str,
}

pub const SESSION_START: Kind = Kind {
    event_type: "user.session.start",
    display: "User login to Okta",
};
pub const SESSION_END: Kind = Kind {
    event_type: "user.session.end",
    display: "User logout from Okta",
};
pub const SSO: Kind = Kind {
    event_type: "user.authentication.sso",
    display: "User single sign on to app",
};
pub const AUTH_VIA_MFA: Kind = Kind {
    event_type: "user.authentication.auth_via_mfa",
    display: "Authentication of user via MFA",
};
pub const VERIFY: Kind = Kind {
    event_type: "user.authentication.verify",
    display: "Verify user identity",
};
pub const DENY_PUSH: Kind = Kind {
    event_type: "user.mfa.okta_verify.deny_push",
    display: "User rejected Okta push verify",
};
pub const EVALUATE_SIGN_ON: Kind = Kind {
    event_type: "policy.evaluate_sign_on",
    display: "Evaluation of sign-on policy",
};
pub const ACCOUNT_LOCK: Kind = Kind {
    event_type: "user.account.lock",
    display: "Max sign in attempts exceeded",
};
/// An administrator sets a user's password.
pub const UPDATE_PASSWORD: Kind = Kind {
    event_type: "user.account.update_password",
    display: "User update password for Okta",
};
/// An administrator revokes a user's sessions.
pub const CLEAR_SESSION: Kind = Kind {
    event_type: "user.session.clear",
    display: "Clear user session",
};

/// Who signs in, from where.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub person: &'a Person,
    pub place: &'a Place,
    pub ip: &'a str,
}

/// What an Okta event means, as the generator intends it.
pub struct Meaning {
    pub decision: Option<&'static str>,
    pub mfa_step: bool,
}

/// Everything needed to write one Okta event.
pub struct OktaEvent<'a> {
    pub kind: Kind,
    pub who: Who<'a>,
    pub result: &'static str,
    pub reason: Option<&'static str>,
    pub app: Option<&'a App>,
    pub rule: Option<&'static str>,
    pub factor: Option<&'static str>,
    pub meaning: Meaning,
}

/// An event with no target app, rule or factor; the methods below add them.
pub fn event<'a>(
    kind: Kind,
    who: Who<'a>,
    result: &'static str,
    reason: Option<&'static str>,
    decision: Option<&'static str>,
) -> OktaEvent<'a> {
    OktaEvent {
        kind,
        who,
        result,
        reason,
        app: None,
        rule: None,
        factor: None,
        meaning: Meaning {
            decision,
            mfa_step: false,
        },
    }
}

impl<'a> OktaEvent<'a> {
    pub fn app(mut self, app: &'a App) -> Self {
        self.app = Some(app);
        self
    }

    pub fn rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    /// The event verified or refused a factor.
    pub fn mfa_step(mut self, factor: Option<&'static str>) -> Self {
        self.factor = factor;
        self.meaning.mfa_step = true;
        self
    }
}

/// The sign-on policy asks for MFA before `app`.
pub fn challenge<'a>(who: Who<'a>, app: &'a App) -> OktaEvent<'a> {
    let reason = Some("Sign-on policy evaluation resulted in CHALLENGE");
    event(
        EVALUATE_SIGN_ON,
        who,
        "CHALLENGE",
        reason,
        Some("challenge_mfa"),
    )
    .app(app)
    .rule("Require MFA")
}

/// The person's enrolled factor succeeds.
pub fn mfa_ok(who: Who<'_>) -> OktaEvent<'_> {
    event(AUTH_VIA_MFA, who, "SUCCESS", None, Some("allow")).mfa_step(Some(who.person.factor))
}

/// The person refuses an Okta Verify push.
pub fn push_denied(who: Who<'_>) -> OktaEvent<'_> {
    event(
        DENY_PUSH,
        who,
        "FAILURE",
        Some("User rejected Okta push verify"),
        Some("mfa_denied"),
    )
    .mfa_step(None)
}

/// The System Log line of `ev` at `t`, in the identity-provider session `session_id`.
pub fn line(rng: &mut Rng, t: i64, ev: &OktaEvent<'_>, session_id: &str) -> String {
    let OktaEvent {
        kind,
        who: Who { person, place, ip },
        result,
        reason,
        app,
        rule,
        factor,
        ..
    } = *ev;
    let uuid = rng.uuid();
    let txn = format!("{:x}", rng.next_u64());
    let mut event = json!({
        "uuid": uuid,
        "published": ztlens_analytics::time_range::format_ms(t),
        "eventType": kind.event_type,
        "version": "0",
        "severity": if result == "SUCCESS" || result == "ALLOW" { "INFO" } else { "WARN" },
        "displayMessage": kind.display,
        "actor": {"id": person.okta_id, "type": "User", "alternateId": person.login, "displayName": person.display_name, "detailEntry": null},
        "client": {
            "userAgent": {"rawUserAgent": user_agent(person), "os": os_name(person), "browser": if person.service { "UNKNOWN" } else { "CHROME" }},
            "zone": "null",
            "device": "Computer",
            "id": null,
            "ipAddress": ip,
            "geographicalContext": {"city": place.city, "state": place.state, "country": place.country, "postalCode": null,
                "geolocation": {"lat": place.lat, "lon": place.lon}}
        },
        "device": {"id": person.device_id, "name": person.device_name, "os_platform": person.device_os, "managed": person.device_managed, "registered": true},
        "authenticationContext": {"authenticationProvider": null, "credentialProvider": null, "credentialType": null, "issuer": null,
            "interface": null, "authenticationStep": 0, "externalSessionId": session_id},
        "outcome": {"result": result, "reason": reason},
        "securityContext": {"asNumber": place.asn, "asOrg": place.as_org, "isp": place.as_org, "domain": null, "isProxy": place.is_proxy},
        "debugContext": {"debugData": {"requestId": format!("{:x}", rng.next_u64()), "requestUri": "/idp/idx/identify"}},
        "transaction": {"type": "WEB", "id": txn, "detail": {}},
        "request": {"ipChain": [{"ip": ip, "geographicalContext": {"country": place.country}, "version": "V4", "source": null}]},
        "target": null,
    });
    if let Some(factor) = factor {
        event["debugContext"]["debugData"]["factor"] = json!(factor);
    }
    let mut targets = Vec::new();
    if let Some(app) = app {
        targets.push(json!({"id": app.okta_id, "type": "AppInstance", "alternateId": app.name, "displayName": app.name, "detailEntry": null}));
    }
    if let Some(rule) = rule {
        targets.push(json!({"id": format!("rul{:x}", rule.len()), "type": "PolicyRule", "alternateId": "unknown", "displayName": rule, "detailEntry": null}));
    }
    if !targets.is_empty() {
        event["target"] = Value::Array(targets);
    }
    event.to_string()
}

/// The Okta event type of [`profile_update`].
pub const PROFILE_UPDATE: &str = "user.account.update_profile";

/// The System Log line of a person updating their own profile: an event type ztlens maps to no
/// class (it is stored in `base_event`), as most of the hundreds an Okta org emits are.
pub fn profile_update(rng: &mut Rng, t: i64, who: Who<'_>) -> String {
    let person = who.person;
    json!({
        "uuid": rng.uuid(),
        "published": ztlens_analytics::time_range::format_ms(t),
        "eventType": PROFILE_UPDATE,
        "version": "0",
        "severity": "INFO",
        "displayMessage": "Update user profile for Okta",
        "actor": {"id": person.okta_id, "type": "User", "alternateId": person.login, "displayName": person.display_name},
        "client": {"ipAddress": who.ip},
        "outcome": {"result": "SUCCESS"},
        "target": [{"id": person.okta_id, "type": "User", "alternateId": person.login, "displayName": person.display_name}],
    })
    .to_string()
}

/// An administrator account that acts on users in the Okta System Log.
pub struct OktaAdmin {
    pub id: &'static str,
    pub login: &'static str,
    pub name: &'static str,
    pub ip: &'static str,
}

/// The System Log line of a successful administrator action of `kind` on `person`'s account.
pub fn admin_action(
    rng: &mut Rng,
    t: i64,
    kind: Kind,
    actor: &OktaAdmin,
    person: &Person,
) -> String {
    json!({
        "uuid": rng.uuid(),
        "published": ztlens_analytics::time_range::format_ms(t),
        "eventType": kind.event_type,
        "version": "0",
        "severity": "INFO",
        "displayMessage": kind.display,
        "actor": {"id": actor.id, "type": "User", "alternateId": actor.login, "displayName": actor.name},
        "client": {"ipAddress": actor.ip},
        "outcome": {"result": "SUCCESS"},
        "target": [{"id": person.okta_id, "type": "User", "alternateId": person.login, "displayName": person.display_name}],
    })
    .to_string()
}
