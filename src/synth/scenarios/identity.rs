//! Identity scenarios: people's sign-in sessions (Okta, or Entra ID for the subsidiary's
//! tenant), service accounts signing in and having their credential rotated, and the attacks
//! on sign-in — password spray and MFA push bombing.
//!
//! Every sign-in step goes through [`Generator::okta`], which writes it in the person's
//! identity provider's format and counts what it means for the KPIs.

use crate::synth::company::{ATTACK_ORIGINS, App, OFFICES, Person, Place};
use crate::synth::rng::Rng;
use crate::synth::scenarios::story::in_business_hours;
use crate::synth::truth::factor_class;
use crate::synth::writers::okta::{
    ACCOUNT_LOCK, AUTH_VIA_MFA, DENY_PUSH, EVALUATE_SIGN_ON, OktaAdmin, OktaEvent, SESSION_END,
    SESSION_START, SSO, UPDATE_PASSWORD, VERIFY, Who, challenge, event, mfa_ok, push_denied,
};
use crate::synth::writers::{entra, okta};
use crate::synth::{Generator, iso_country, uses_entra};

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

/// The login before the `@`, lower case: how web logs name a user.
fn local_part(login: &str) -> String {
    login.split('@').next().unwrap_or(login).to_lowercase()
}

impl Generator {
    /// One sign-in step, written by the person's identity provider and counted.
    pub(super) fn okta(&mut self, t: i64, ev: OktaEvent<'_>) {
        // Sign-ins to a sensitive app: MFA-protected when the session verified a factor first.
        if ev.meaning.decision == Some("allow")
            && let Some(app) = ev.app.and_then(|a| sensitive_app_id(a.name))
        {
            let source = if uses_entra(ev.who.person) {
                "entra"
            } else {
                "okta"
            };
            let index = usize::from(!self.session_mfa);
            self.truth
                .sensitive_sign_ins
                .entry((source.into(), app.into()))
                .or_default()[index] += 1;
            let user = local_part(&ev.who.person.login);
            self.truth.sign_ons.entry((user, app)).or_default().push(t);
        }
        if ev.meaning.mfa_step && ev.meaning.decision == Some("allow") {
            self.session_mfa = true;
        }
        let login = &ev.who.person.login;
        if ev.meaning.decision == Some("allow")
            && self
                .truth
                .inventory
                .exceptions
                .iter()
                .any(|e| &e.login == login)
        {
            // The app as the source will name it: Entra names a portal where Okta names none.
            let app = if uses_entra(ev.who.person) {
                Some(entra::app_name(ev.app))
            } else {
                ev.app.map(|a| a.name)
            };
            self.truth
                .exception_uses
                .entry(login.clone())
                .or_default()
                .push((app.map(str::to_string), t));
        }
        if uses_entra(ev.who.person) {
            return self.entra(t, ev);
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
                place,
                factor_class(factor),
            );
        }
        if let Some(app) = app
            && app.privileged
            && failed
        {
            *self
                .truth
                .high_priv
                .entry(("okta".into(), app.name.into()))
                .or_default() += 1;
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
            place,
            factor_class(Some(factor.unwrap_or(person.factor))),
        );
        if let Some(app) = app
            && app.privileged
            && !matches!(decision, "allow" | "challenge_mfa")
        {
            *self
                .truth
                .high_priv
                .entry(("entra".into(), app.name.into()))
                .or_default() += 1;
        }
        self.emit("entra", line);
    }

    /// Count an identity provider's decision on a sign-in step: the decision, the allowed
    /// device posture, and — for MFA steps and challenges — the outcome per place and the
    /// factor class, classified as the `mfa_steps` view classifies them.
    fn count_decision(
        &mut self,
        source: &str,
        decision: &str,
        posture: &str,
        mfa_step: bool,
        place: &Place,
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
                .entry((iso_country(place.country).into(), place.city.into()))
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
        if !uses_entra(who.person) && self.rng.chance(0.05) {
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
