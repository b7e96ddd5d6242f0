//! Identity scenarios: people's sign-in sessions (Okta, or the person's other identity
//! provider: Entra ID, Google Workspace, PingOne or PingFederate — see
//! [`idp_of`](crate::synth::idp_of)), service accounts signing in and having their credential rotated, and the attacks
//! on sign-in — password spray and MFA push bombing.
//!
//! Every sign-in step goes through [`Generator::okta`], which writes it in the person's
//! identity provider's format and counts what it means for the KPIs — as that source reports
//! it: a step the source cannot express is neither written nor counted, a decision it words
//! differently is counted as it words it (a refused Google prompt is a failed challenge), and
//! the location and device posture are those the source carries (`unknown` where it has none).

use crate::synth::company::{ATTACK_ORIGINS, App, OFFICES, Person};
use crate::synth::rng::Rng;
use crate::synth::scenarios::story::in_business_hours;
use crate::synth::truth::{AppSignIn, ObservedSignIn, factor_class};
use crate::synth::writers::google_workspace::{self as gws, Step as GwsStep};
use crate::synth::writers::okta::{
    ACCOUNT_LOCK, AUTH_VIA_MFA, DENY_PUSH, EVALUATE_SIGN_ON, Kind, OktaAdmin, OktaEvent,
    SESSION_END, SESSION_START, SSO, UPDATE_PASSWORD, VERIFY, Who, challenge, event, mfa_ok,
    push_denied,
};
use crate::synth::writers::pingfederate::{self as pf, Line as PfLine};
use crate::synth::writers::pingone::{self, Activity as PingOneActivity};
use crate::synth::writers::{entra, okta};
use crate::synth::{Generator, Idp, idp_of, iso_country, uses_okta};

/// Rotates service-account credentials.
const IAM_ADMIN: OktaAdmin = OktaAdmin {
    id: "00uadm0000000000000",
    login: "iam-admin@corp.example",
    name: "IAM Admin",
    ip: "198.51.100.21",
};

/// How long a locked-out account stays locked.
const LOCKOUT_MS: i64 = 30 * 60_000;

/// The sensitive site application an identity-provider app is (the generator's own table of
/// the `[site.apps]` it writes).
fn sensitive_app_id(app_name: &str) -> Option<&'static str> {
    match app_name {
        "Workday" => Some("payroll"),
        "Salesforce" => Some("crm"),
        _ => None,
    }
}

/// The site application an identity-provider app is, sensitive or not.
fn site_app_id(app_name: &str) -> Option<&'static str> {
    match app_name {
        "Wiki" => Some("wiki"),
        other => sensitive_app_id(other),
    }
}

/// The login before the `@`, lower case: how web logs name a user.
fn local_part(login: &str) -> String {
    login.split('@').next().unwrap_or(login).to_lowercase()
}

/// The factor of an MFA step: the one the event names, the push for a refused push (a push
/// denial names no factor), else the person's enrolled factor.
fn step_factor(kind: Kind, factor: Option<&'static str>, person: &Person) -> &'static str {
    factor
        .or((kind.event_type == DENY_PUSH.event_type).then_some("OKTA_VERIFY_PUSH"))
        .unwrap_or(person.factor)
}

/// The factor class of a generated factor on PingOne and PingFederate: both check an SMS code
/// as a one-time passcode (PingOne's `OTP.CHECK_*`, an OTP adapter), so it is an `otp` step
/// there.
fn ping_factor_class(factor: &str) -> &'static str {
    match factor {
        "SMS" => "otp",
        other => factor_class(Some(other)),
    }
}

impl Generator {
    /// One sign-in step, written by the person's identity provider and counted.
    pub(super) fn okta(&mut self, t: i64, ev: OktaEvent<'_>) {
        let verified = ev.meaning.mfa_step && ev.meaning.decision == Some("allow");
        match idp_of(ev.who.person) {
            Idp::Okta => self.okta_step(t, ev),
            Idp::Entra => self.entra(t, ev),
            Idp::GoogleWorkspace => self.google_workspace(t, ev),
            Idp::PingOne => self.pingone(t, ev),
            Idp::PingFederate => self.pingfederate(t, ev),
        }
        if verified {
            self.session_mfa = true;
        }
    }

    /// An allowed sign-in of `person` that `source` records as an authentication event:
    /// `app`, the target app when the source names it where site apps are matched (a sign-in
    /// to a sensitive app is MFA-protected when the session verified a factor first), and
    /// `service`, the app as the source names it (what a policy exception's app is compared
    /// with).
    fn allowed_sign_in(
        &mut self,
        t: i64,
        person: &Person,
        source: &'static str,
        app: Option<&App>,
        service: Option<&str>,
    ) {
        if let Some(site_app) = app.and_then(|a| site_app_id(a.name)) {
            // Okta's device object and Entra's deviceDetail say whether the device is
            // managed; the other identity providers report no device.
            let device_managed =
                matches!(source, "okta" | "entra").then_some(person.device_managed);
            self.truth.app_sign_ins.push(AppSignIn {
                source,
                app: site_app,
                identity: local_part(&person.login),
                service_account: person.service,
                mfa: self.session_mfa,
                device_managed,
                // Okta reports every SSO session as interactive (actor type User); only Okta
                // signs service accounts in.
                interactive: true,
                time_ms: t,
            });
        }
        if let Some(app) = app.and_then(|a| sensitive_app_id(a.name)) {
            let index = usize::from(!self.session_mfa);
            self.truth
                .sensitive_sign_ins
                .entry((source.into(), app.into()))
                .or_default()[index] += 1;
            let user = local_part(&person.login);
            self.truth.sign_ons.entry((user, app)).or_default().push(t);
        }
        let login = &person.login;
        if self
            .truth
            .inventory
            .exceptions
            .iter()
            .any(|e| &e.login == login)
        {
            self.truth
                .exception_uses
                .entry(login.clone())
                .or_default()
                .push((service.map(str::to_string), t));
        }
    }

    /// A failed sign-in to `app` that `source` reports as the app: a privileged app's failures
    /// are the high-privilege KPI's.
    fn privileged_sign_in_failure(&mut self, source: &str, app: Option<&App>) {
        if let Some(app) = app
            && app.privileged
        {
            *self
                .truth
                .high_priv
                .entry((source.into(), app.name.into()))
                .or_default() += 1;
        }
    }

    /// A sign-in step of a person on Okta (and every service account).
    fn okta_step(&mut self, t: i64, ev: OktaEvent<'_>) {
        if ev.meaning.decision == Some("allow") {
            self.allowed_sign_in(t, ev.who.person, "okta", ev.app, ev.app.map(|a| a.name));
        }
        let line = okta::line(&mut self.rng, t, &ev, &self.session_id);
        let OktaEvent {
            kind,
            who: Who { person, place, ip },
            result,
            app,
            factor,
            meaning,
            ..
        } = ev;

        // The truth: what this event means for every KPI.
        let failed = matches!(result, "FAILURE" | "DENY");
        if let Some(decision) = meaning.decision
            && person.service
        {
            let entry = self
                .truth
                .service_accounts
                .entry(person.login.clone())
                .or_default();
            if decision == "allow" {
                // Okta reports a service account signing in as actor type User: an
                // interactive session, which is the hygiene finding.
                let last = self
                    .truth
                    .service_last_sign_in
                    .entry(person.login.clone())
                    .or_insert(t);
                *last = (*last).max(t);
                entry.0[0] += 1;
                entry.0[2] += 1;
                entry
                    .1
                    .insert(ip.rsplit_once('.').map_or(ip, |(net, _)| net).to_string());
            } else {
                entry.0[1] += 1;
            }
        }
        if let Some(decision) = meaning.decision {
            // Okta's device object says managed or not; it has no compliance verdict.
            let posture = if person.device_managed {
                "managed"
            } else {
                "unmanaged"
            };
            // A push denial names no factor; the push is the factor.
            let factor =
                factor.or((kind.event_type == DENY_PUSH.event_type).then_some("OKTA_VERIFY_PUSH"));
            self.count_decision(
                "okta",
                decision,
                posture,
                meaning.mfa_step,
                (iso_country(place.country), place.city),
                factor_class(factor),
            );
        }
        if failed {
            self.privileged_sign_in_failure("okta", app);
        }
        self.emit("okta", line);
    }

    /// The sign-in step of a person on the Entra ID tenant, counted as [`Generator::okta`]
    /// counts Okta's (by ISO country; Entra's device detail says compliant where Okta says
    /// managed).
    fn entra(&mut self, t: i64, ev: OktaEvent<'_>) {
        // Entra has no logoff event: a step without a decision is not written.
        let Some(decision) = ev.meaning.decision else {
            return;
        };
        let Some(line) = entra::sign_in(&mut self.rng, t, &ev, self.session_mfa) else {
            return;
        };
        let OktaEvent {
            who: Who { person, place, .. },
            app,
            factor,
            meaning,
            ..
        } = ev;
        if decision == "allow" {
            // Entra names a portal where Okta names no app.
            self.allowed_sign_in(t, person, "entra", app, Some(entra::app_name(app)));
            // Every allowed sign-in meets the report-only pilots.
            let (would_be, policy) = entra::would_be(person);
            let named = entra::app_name(app);
            self.truth.observed.push(ObservedSignIn {
                source: "entra",
                app: site_app_id(named).unwrap_or(named).to_string(),
                identity: local_part(&person.login),
                service_account: person.service,
                would_be,
                policy,
            });
        }
        // deviceDetail: a managed device of this company is compliant, others are neither.
        let posture = if person.device_managed {
            "compliant"
        } else {
            "unmanaged"
        };
        self.count_decision(
            "entra",
            decision,
            posture,
            meaning.mfa_step,
            (iso_country(place.country), place.city),
            factor_class(Some(factor.unwrap_or(person.factor))),
        );
        if !matches!(decision, "allow" | "challenge_mfa") {
            self.privileged_sign_in_failure("entra", app);
        }
        self.emit("entra", line);
    }

    /// The sign-in step of a person on Google Workspace. The login audit records the password
    /// step, 2-Step Verification and logouts (neither the prompt a policy asks for nor a
    /// lock-out: those steps are not written); single sign-on to an app is a SAML audit event,
    /// which ztlens keeps in `base_event` (no access decision, counted as an unmapped type).
    /// Google locates the client by country only and reports no device.
    fn google_workspace(&mut self, t: i64, ev: OktaEvent<'_>) {
        const SOURCE: &str = "google_workspace";
        let OktaEvent {
            kind,
            who,
            reason,
            app,
            factor,
            meaning,
            ..
        } = ev;
        let person = who.person;
        let Some(decision) = meaning.decision else {
            let line = gws::activity(&mut self.rng, t, who, GwsStep::Logout);
            return self.emit(SOURCE, line);
        };
        let country = iso_country(who.place.country);
        if meaning.mfa_step {
            let factor = step_factor(kind, factor, person);
            let passed = decision == "allow";
            let step = GwsStep::Verification {
                method: gws::method(factor),
                passed,
            };
            let line = gws::activity(&mut self.rng, t, who, step);
            // A refused prompt is a failed challenge to Google.
            let reported = if passed { "allow" } else { "mfa_failed" };
            self.count_decision(
                SOURCE,
                reported,
                "unknown",
                true,
                (country, "unknown"),
                factor_class(Some(factor)),
            );
            if passed {
                self.allowed_sign_in(t, person, SOURCE, None, Some(gws::SERVICE_NAME));
            }
            return self.emit(SOURCE, line);
        }
        if let Some(app) = app {
            let failure = match decision {
                "allow" => None,
                "deny_policy" if reason.is_some_and(|r| r.contains("not assigned")) => {
                    Some("failure_app_not_configured_for_user")
                }
                "deny_policy" | "deny_device_posture" => Some("failure_request_denied"),
                // The policy's MFA prompt: Google logs the verification that follows.
                _ => return,
            };
            let line = gws::activity(&mut self.rng, t, who, GwsStep::Saml { app, failure });
            let name = if failure.is_none() {
                "saml:login_success"
            } else {
                "saml:login_failure"
            };
            *self
                .truth
                .unmapped
                .entry((SOURCE.into(), name.into()))
                .or_default() += 1;
            return self.emit(SOURCE, line);
        }
        let ok = match (kind.event_type, decision) {
            (e, "allow") if e == SESSION_START.event_type => true,
            (e, "deny_credentials") if e == SESSION_START.event_type => false,
            _ => return,
        };
        let line = gws::activity(&mut self.rng, t, who, GwsStep::Login { ok });
        self.count_decision(
            SOURCE,
            decision,
            "unknown",
            false,
            (country, "unknown"),
            "unknown",
        );
        if ok {
            self.allowed_sign_in(t, person, SOURCE, None, Some(gws::SERVICE_NAME));
        }
        self.emit(SOURCE, line);
    }

    /// The sign-in step of a person on PingOne: a password check, a factor check (FIDO2
    /// assertion, one-time passcode — SMS codes included — or push), access allowed or denied
    /// to an app, a lock-out, a session ended. PingOne logs no pending MFA prompt (the policy's
    /// challenge is not written). Every activity names its client (the app, else the
    /// Application Portal) and the session; there is no location and no device.
    fn pingone(&mut self, t: i64, ev: OktaEvent<'_>) {
        const SOURCE: &str = "pingone";
        let OktaEvent {
            kind,
            who,
            reason,
            app,
            factor,
            meaning,
            ..
        } = ev;
        let person = who.person;
        let app_name = pingone::client_name(app);
        let Some(decision) = meaning.decision else {
            let a = PingOneActivity {
                action: "SESSION.DELETED",
                ok: true,
                result: None,
                app,
            };
            let line = pingone::activity(&mut self.rng, t, who, &self.session_id, a);
            return self.emit(SOURCE, line);
        };
        let factor = step_factor(kind, factor, person);
        let access = |verdict: &str| format!("Access to application '{app_name}' {verdict}");
        let (action, ok, result) = if meaning.mfa_step {
            let (family, passed, failed) = match factor {
                "FIDO_WEBAUTHN" | "SIGNED_NONCE" => (
                    "ASSERTION",
                    "FIDO2 assertion verified",
                    "FIDO2 assertion failed",
                ),
                "GOOGLE_AUTHENTICATOR" | "SMS" => (
                    "OTP",
                    "One-time passcode verified",
                    "Invalid one-time passcode",
                ),
                _ => (
                    "DEVICE_PAYLOAD",
                    "Push notification approved",
                    "Push notification could not be verified",
                ),
            };
            match (decision, family) {
                ("allow", "ASSERTION") => ("ASSERTION.CHECK_SUCCESS", true, passed.to_string()),
                ("allow", "OTP") => ("OTP.CHECK_SUCCESS", true, passed.to_string()),
                ("allow", _) => ("DEVICE_PAYLOAD.CHECK_SUCCESS", true, passed.to_string()),
                ("mfa_denied", _) => (
                    "DEVICE.FRAUD_REPORTED",
                    true,
                    "User reported the push notification as fraud".to_string(),
                ),
                (_, "ASSERTION") => ("ASSERTION.CHECK_FAILED", false, failed.to_string()),
                (_, "OTP") => ("OTP.CHECK_FAILED", false, failed.to_string()),
                _ => ("DEVICE_PAYLOAD.CHECK_FAILED", false, failed.to_string()),
            }
        } else {
            match decision {
                "allow" if app.is_some() => (
                    "USER.ACCESS_ALLOWED",
                    true,
                    access(&format!("allowed for user {}", person.login)),
                ),
                "allow" => ("PASSWORD.CHECK_SUCCEEDED", true, "Password verified".into()),
                "deny_credentials" => {
                    ("PASSWORD.CHECK_FAILED", false, "Invalid credentials".into())
                }
                "locked_out" => (
                    "USER.LOCKED",
                    true,
                    "User locked after too many failed password attempts".into(),
                ),
                "deny_policy" if reason.is_some_and(|r| r.contains("not assigned")) => (
                    "USER.ACCESS_DENIED",
                    false,
                    access("denied: user is not assigned to the application"),
                ),
                "deny_policy" => (
                    "USER.ACCESS_DENIED",
                    false,
                    access(
                        "denied: user is not a member of a group required by the application access policy",
                    ),
                ),
                "deny_device_posture" => (
                    "USER.ACCESS_DENIED",
                    false,
                    access(
                        "denied: the device does not meet the requirements of the authentication policy",
                    ),
                ),
                // The policy's MFA prompt: PingOne logs the factor check that follows.
                _ => return,
            }
        };
        let a = PingOneActivity {
            action,
            ok,
            result: Some(&result),
            app,
        };
        let line = pingone::activity(&mut self.rng, t, who, &self.session_id, a);
        self.count_decision(
            SOURCE,
            decision,
            "unknown",
            meaning.mfa_step,
            ("unknown", "unknown"),
            ping_factor_class(factor),
        );
        if decision == "allow" {
            self.allowed_sign_in(t, person, SOURCE, app, Some(app_name));
        } else {
            self.privileged_sign_in_failure(SOURCE, app);
        }
        self.emit(SOURCE, line);
    }

    /// The sign-in step of a person on PingFederate: `AUTHN_ATTEMPT` lines of the password
    /// form and of the factor's adapter (in progress while the prompt is out: the policy's
    /// challenge), `SSO` to an app (refused by an authorization policy, whatever the policy
    /// checked: a device rule is a policy denial here), `SLO` at logout. The app is named on
    /// `SSO` lines only; there is no location and no device.
    fn pingfederate(&mut self, t: i64, ev: OktaEvent<'_>) {
        const SOURCE: &str = "pingfederate";
        let OktaEvent {
            kind,
            who,
            reason,
            app,
            factor,
            meaning,
            ..
        } = ev;
        let person = who.person;
        let line = |event, status, adapter, description| PfLine {
            event,
            status,
            adapter,
            description,
            app,
        };
        let Some(decision) = meaning.decision else {
            let slo = line("SLO", "success", "", "");
            let text = pf::line(&mut self.rng, t, who, &self.session_id, slo);
            return self.emit(SOURCE, text);
        };
        let factor = step_factor(kind, factor, person);
        let (step, reported) = if meaning.mfa_step {
            let adapter = pf::mfa_adapter(factor);
            match decision {
                "allow" => (line("AUTHN_ATTEMPT", "success", adapter, ""), "allow"),
                "mfa_denied" => (
                    line(
                        "AUTHN_ATTEMPT",
                        "failure",
                        adapter,
                        "Authentication was denied by the user",
                    ),
                    "mfa_denied",
                ),
                _ => (
                    line(
                        "AUTHN_ATTEMPT",
                        "failure",
                        adapter,
                        "Authentication failed: the response did not verify",
                    ),
                    "mfa_failed",
                ),
            }
        } else {
            let form = pf::FORM_ADAPTER;
            match (decision, app) {
                ("challenge_mfa", _) => (
                    line(
                        "AUTHN_ATTEMPT",
                        "inprogress",
                        pf::mfa_adapter(person.factor),
                        "",
                    ),
                    "challenge_mfa",
                ),
                ("allow", Some(_)) => (line("SSO", "success", form, ""), "allow"),
                ("allow", None) => (line("AUTHN_ATTEMPT", "success", form, ""), "allow"),
                ("deny_credentials", _) => (
                    line(
                        "AUTHN_ATTEMPT",
                        "failure",
                        form,
                        "Invalid username or password",
                    ),
                    "deny_credentials",
                ),
                ("locked_out", _) => (
                    line(
                        "AUTHN_ATTEMPT",
                        "failure",
                        form,
                        "Account locked after 3 failed attempts",
                    ),
                    "locked_out",
                ),
                ("deny_policy", Some(_)) if reason.is_some_and(|r| r.contains("not assigned")) => (
                    line(
                        "SSO",
                        "failure",
                        form,
                        "User is not authorized for this connection",
                    ),
                    "deny_policy",
                ),
                ("deny_policy", Some(_)) => (
                    line(
                        "SSO",
                        "failure",
                        form,
                        "Access denied by authorization policy",
                    ),
                    "deny_policy",
                ),
                ("deny_device_posture", Some(_)) => (
                    line(
                        "SSO",
                        "failure",
                        form,
                        "Access denied by authorization policy: device is not managed",
                    ),
                    "deny_policy",
                ),
                _ => return,
            }
        };
        let text = pf::line(&mut self.rng, t, who, &self.session_id, step);
        self.count_decision(
            SOURCE,
            reported,
            "unknown",
            meaning.mfa_step,
            ("unknown", "unknown"),
            ping_factor_class(factor),
        );
        // Only SSO lines name the app where site apps are matched.
        let named_app = app.filter(|_| step.event == "SSO");
        if reported == "allow" {
            let service = pf::service_name(&step);
            self.allowed_sign_in(t, person, SOURCE, named_app, Some(&service));
        } else if step.status == "failure" {
            self.privileged_sign_in_failure(SOURCE, named_app);
        }
        self.emit(SOURCE, text);
    }

    /// Count an identity provider's decision on a sign-in step: the decision, the allowed
    /// device posture, and — for MFA steps and challenges — the outcome per (country, city) as
    /// the source locates the client (`unknown` where it does not) and the factor class,
    /// classified as the `mfa_steps` view classifies them.
    fn count_decision(
        &mut self,
        source: &str,
        decision: &str,
        posture: &str,
        mfa_step: bool,
        (country, city): (&str, &str),
        factor_class: &str,
    ) {
        *self
            .truth
            .decisions
            .entry((source.into(), decision.into()))
            .or_default() += 1;
        if decision == "allow" {
            self.allowed_from(source, posture);
        }
        let outcome = match (mfa_step, decision) {
            (true, "allow") => Some(0),
            (true, "mfa_failed" | "mfa_denied") => Some(1),
            (_, "challenge_mfa") => Some(2),
            _ => None,
        };
        if let Some(index) = outcome {
            self.truth
                .mfa
                .entry((country.into(), city.into()))
                .or_default()[index] += 1;
        }
        if let Some(index @ (0 | 1)) = outcome {
            self.truth
                .mfa_factors
                .entry((source.into(), factor_class.into()))
                .or_default()[index] += 1;
        }
    }

    pub(in crate::synth) fn sign_in_session(&mut self) {
        let people = self.company.people.clone();
        let apps = self.company.apps.clone();
        let person = self.rng.pick(&people).clone();
        if self.in_story(&person)
            || self
                .locked_until
                .get(&person.login)
                .is_some_and(|until| *until > self.clock_ms)
        {
            return;
        }
        if person.service {
            return self.service_sign_in(&person, &apps);
        }
        let place = OFFICES[person.home].clone();
        let ip = person.public_ip.clone();
        let mut app = self.rng.pick(&apps).clone();
        // Privileged work happens in business hours; outside them people read the wiki.
        if app.privileged && !in_business_hours(self.clock_ms) {
            app = apps
                .iter()
                .find(|a| a.name == "Wiki")
                .expect("company has the Wiki")
                .clone();
        }
        // Sensitive apps admit managed devices only: an unmanaged one meets the device rule.
        if sensitive_app_id(app.name).is_some() && !person.device_managed {
            let who = Who {
                person: &person,
                place: &place,
                ip: &ip,
            };
            let t = self.clock_ms;
            self.okta(t, event(SESSION_START, who, "SUCCESS", None, Some("allow")));
            let deny = event(
                EVALUATE_SIGN_ON,
                who,
                "DENY",
                Some("Device is not managed"),
                Some("deny_device_posture"),
            );
            self.okta(t + 2_000, deny.app(&app).rule("Managed devices only"));
            return;
        }
        let who = Who {
            person: &person,
            place: &place,
            ip: &ip,
        };
        let mut t = self.clock_ms;
        let step = |rng: &mut Rng, t: &mut i64| *t += 1000 + rng.below(4000) as i64;
        let login_ok = || event(SESSION_START, who, "SUCCESS", None, Some("allow"));
        let bad_password = || {
            event(
                SESSION_START,
                who,
                "FAILURE",
                Some("INVALID_CREDENTIALS"),
                Some("deny_credentials"),
            )
        };
        match self.rng.weighted(&[66, 8, 5, 4, 4, 5, 4, 2, 2]) {
            // Bad password, then the normal flow.
            1 => {
                self.okta(t, bad_password());
                step(&mut self.rng, &mut t);
                self.normal_flow(t, who, &app);
            }
            // MFA failure, then success.
            2 if app.mfa_required => {
                self.okta(t, login_ok());
                step(&mut self.rng, &mut t);
                self.okta(t, challenge(who, &app));
                step(&mut self.rng, &mut t);
                let failed = event(
                    AUTH_VIA_MFA,
                    who,
                    "FAILURE",
                    Some("INVALID_CREDENTIALS"),
                    Some("mfa_failed"),
                );
                self.okta(t, failed.mfa_step(Some(person.factor)));
                step(&mut self.rng, &mut t);
                self.okta(t, mfa_ok(who));
            }
            // The user refuses the push.
            3 if app.mfa_required => {
                self.okta(t, login_ok());
                step(&mut self.rng, &mut t);
                self.okta(t, challenge(who, &app));
                step(&mut self.rng, &mut t);
                self.okta(t, push_denied(who));
            }
            // The sign-on policy denies the app.
            4 => {
                self.okta(t, login_ok());
                step(&mut self.rng, &mut t);
                let reason = Some("Sign-on policy evaluation resulted in DENY");
                let deny = event(EVALUATE_SIGN_ON, who, "DENY", reason, Some("deny_policy"));
                self.okta(t, deny.app(&app).rule("Deny outside allowed networks"));
            }
            // An unmanaged device meets a device-assurance rule.
            5 if !person.device_managed => {
                self.okta(t, login_ok());
                step(&mut self.rng, &mut t);
                let deny = event(
                    EVALUATE_SIGN_ON,
                    who,
                    "DENY",
                    Some("Device is not managed"),
                    Some("deny_device_posture"),
                );
                self.okta(t, deny.app(&app).rule("Managed devices only"));
            }
            // Phishing-resistant verification.
            6 => {
                let verify = event(VERIFY, who, "SUCCESS", None, Some("allow"));
                self.okta(t, verify.mfa_step(Some("FIDO_WEBAUTHN")));
            }
            // Lock-out after repeated bad passwords.
            7 => {
                for _ in 0..3 {
                    self.okta(t, bad_password());
                    step(&mut self.rng, &mut t);
                }
                self.okta(
                    t,
                    event(
                        ACCOUNT_LOCK,
                        who,
                        "FAILURE",
                        Some("LOCKED_OUT"),
                        Some("locked_out"),
                    ),
                );
                // The account stays locked (no sessions) until the help desk unlocks it.
                self.locked_until
                    .insert(person.login.clone(), t + LOCKOUT_MS);
            }
            // App not assigned.
            8 => {
                self.okta(t, login_ok());
                step(&mut self.rng, &mut t);
                let reason = Some("User is not assigned to this application");
                self.okta(
                    t,
                    event(SSO, who, "FAILURE", reason, Some("deny_policy")).app(&app),
                );
            }
            _ => self.normal_flow(t, who, &app),
        }
    }

    /// Login, MFA when the app requires it, single sign-on, sometimes logout.
    fn normal_flow(&mut self, mut t: i64, who: Who<'_>, app: &App) {
        let step = |rng: &mut Rng, t: &mut i64| *t += 1000 + rng.below(4000) as i64;
        self.okta(t, event(SESSION_START, who, "SUCCESS", None, Some("allow")));
        step(&mut self.rng, &mut t);
        if app.mfa_required {
            self.okta(t, challenge(who, app));
            step(&mut self.rng, &mut t);
            self.okta(t, mfa_ok(who));
            step(&mut self.rng, &mut t);
        }
        self.okta(t, event(SSO, who, "SUCCESS", None, Some("allow")).app(app));
        // Now and then an Okta user edits their profile: an event type no class maps.
        if uses_okta(who.person) && self.rng.chance(0.05) {
            step(&mut self.rng, &mut t);
            let line = okta::profile_update(&mut self.rng, t, who);
            *self
                .truth
                .unmapped
                .entry(("okta".into(), okta::PROFILE_UPDATE.into()))
                .or_default() += 1;
            self.emit("okta", line);
        }
        if self.rng.chance(0.1) {
            step(&mut self.rng, &mut t);
            self.okta(t, event(SESSION_END, who, "SUCCESS", None, None));
        }
    }

    /// A service account signs in from the build network: an interactive login by a
    /// non-human identity, the kind hygiene KPIs look for.
    fn service_sign_in(&mut self, person: &Person, apps: &[App]) {
        let app = apps
            .iter()
            .find(|a| a.name == "AWS Console")
            .expect("company has the AWS Console");
        // Now and then the credential is used from outside: the token leaked.
        let (place, ip) = if self.random_attacks && self.rng.chance(0.05) {
            let origin = &ATTACK_ORIGINS[self.rng.below(2) as usize];
            let ip = self.address_in(origin);
            (origin, ip)
        } else {
            (&OFFICES[0], person.internal_ip.clone())
        };
        let who = Who {
            person,
            place,
            ip: &ip,
        };
        if person.login.starts_with("svc-deploy@") && !self.deploy_credential_rotated {
            self.rotate_credential(person);
        }
        self.okta(
            self.clock_ms,
            event(SSO, who, "SUCCESS", None, Some("allow")).app(app),
        );
    }

    /// svc-reporting's scheduled export: at two minutes past every hour it signs in to
    /// Salesforce (the CRM) from the build network through Okta — a session, as Okta reports
    /// it, so an interactive one: the scheduled job a policy denying interactive
    /// service-account use would break. Runs every job due by the clock.
    pub(in crate::synth) fn due_scheduled_jobs(&mut self) {
        const HOUR_MS: i64 = 3_600_000;
        while self.next_report_job_ms <= self.clock_ms {
            let t = self.next_report_job_ms;
            self.next_report_job_ms += HOUR_MS;
            let Some(person) = self
                .company
                .people
                .iter()
                .find(|p| p.login.starts_with("svc-reporting@"))
                .cloned()
            else {
                return;
            };
            let app = self
                .company
                .apps
                .iter()
                .find(|a| a.name == "Salesforce")
                .expect("company has Salesforce")
                .clone();
            self.session_id = format!("102{:x}", self.rng.next_u64());
            self.session_mfa = false;
            let who = Who {
                person: &person,
                place: &OFFICES[0],
                ip: &person.internal_ip,
            };
            self.okta(t, event(SSO, who, "SUCCESS", None, Some("allow")).app(&app));
        }
    }

    /// An administrator sets a new password for a service account (Okta
    /// `user.account.update_password`): the rotation the hygiene KPI looks for.
    fn rotate_credential(&mut self, person: &Person) {
        self.deploy_credential_rotated = true;
        let t = self.clock_ms;
        let line = okta::admin_action(&mut self.rng, t, UPDATE_PASSWORD, &IAM_ADMIN, person);
        self.truth.rotations.insert(person.login.clone(), t);
        self.emit("okta", line);
    }

    pub(in crate::synth) fn password_spray(&mut self) {
        let origin = ATTACK_ORIGINS[self.rng.below(2) as usize].clone();
        let ip = self.address_in(&origin);
        let people = self.company.people.clone();
        let mut t = self.clock_ms;
        for _ in 0..(10 + self.rng.below(10)) {
            let victim = self.rng.pick(&people).clone();
            let who = Who {
                person: &victim,
                place: &origin,
                ip: &ip,
            };
            self.okta(
                t,
                event(
                    SESSION_START,
                    who,
                    "FAILURE",
                    Some("INVALID_CREDENTIALS"),
                    Some("deny_credentials"),
                ),
            );
            t += 2000 + self.rng.below(3000) as i64;
        }
    }

    pub(in crate::synth) fn mfa_bombing(&mut self) {
        let origin = ATTACK_ORIGINS[1].clone();
        let ip = format!(
            "{}.{}.7.{}",
            origin.prefix[0],
            origin.prefix[1],
            self.rng.below(250) + 1
        );
        let admins: Vec<Person> = self
            .company
            .people
            .iter()
            .filter(|p| p.admin && !p.service)
            .cloned()
            .collect();
        let victim = self.rng.pick(&admins).clone();
        let app = self.company.apps[0].clone();
        let who = Who {
            person: &victim,
            place: &origin,
            ip: &ip,
        };
        let mut t = self.clock_ms;
        self.okta(t, event(SESSION_START, who, "SUCCESS", None, Some("allow")));
        for _ in 0..(5 + self.rng.below(4)) {
            t += 8000 + self.rng.below(5000) as i64;
            self.okta(t, challenge(who, &app));
            t += 3000;
            self.okta(t, push_denied(who));
        }
        // Worn down, the admin approves.
        t += 9000;
        self.okta(t, mfa_ok(who));
    }
}
