//! Cloud scenarios: AWS console sign-ins and role assumptions, as CloudTrail records them.

use crate::synth::Generator;
use crate::synth::writers::cloudtrail::Call;

impl Generator {
    /// AWS: console sign-ins by admins (with MFA, sometimes a wrong password) and role
    /// assumptions, some of them refused.
    pub(in crate::synth) fn aws_console(&mut self) {
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        // The console is privileged: used in business hours, by people not in the story.
        if person.service
            || self.in_story(&person)
            || !crate::synth::scenarios::story::in_business_hours(self.clock_ms)
        {
            return;
        }
        let t = self.clock_ms;
        let account = self.company.account_id.clone();
        let call = Call::new(&mut self.rng, t, &person, &account);
        let roll = self.rng.weighted(&[70, 15, 10, 5]);
        let (decision, target, mfa, line) = match roll {
            0 | 1 => {
                let ok = roll == 0;
                let decision = if ok { "allow" } else { "deny_credentials" };
                (decision, "AWS Console", ok, call.console_login(ok))
            }
            2 => {
                let line = call.assume_role(&mut self.rng, "ReadOnly", false);
                ("allow", "ReadOnly", false, line)
            }
            _ => {
                let line = call.assume_role(&mut self.rng, "OrgAdmin", true);
                ("deny_policy", "OrgAdmin", false, line)
            }
        };
        // CloudTrail carries no location: MFA outcomes land under the unknown country.
        *self
            .truth
            .decisions
            .entry(("cloudtrail".into(), decision.into()))
            .or_default() += 1;
        if decision == "allow" {
            self.allowed_from("cloudtrail", "unknown");
        }
        if mfa {
            self.truth
                .mfa
                .entry(("unknown".into(), "unknown".into()))
                .or_default()[0] += 1;
            // ConsoleLogin says MFA was used, not which factor.
            self.truth
                .mfa_factors
                .entry(("cloudtrail".into(), "unknown".into()))
                .or_default()[0] += 1;
        }
        if decision != "allow" {
            *self
                .truth
                .high_priv
                .entry(("cloudtrail".into(), target.into()))
                .or_default() += 1;
        }
        self.emit("cloudtrail", line);
    }
}
