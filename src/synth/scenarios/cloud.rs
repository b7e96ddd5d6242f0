//! Cloud scenarios: AWS console sign-ins and role assumptions, as CloudTrail records them.

use crate::synth::Generator;
use crate::synth::truth::Detection;
use crate::synth::writers::cloudtrail::Call;
use crate::synth::writers::guardduty;

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

    /// GuardDuty finds something about a production instance, and re-publishes the finding
    /// two minutes later with a higher count: one detection, two records. Nobody contains
    /// instances here: it stays open.
    pub(in crate::synth) fn cloud_finding(&mut self) {
        let t = self.clock_ms;
        let (ip, _) = self.host(1);
        let kind = self.rng.below(guardduty::FINDINGS.len() as u64) as usize;
        let id = format!("{:016x}{:016x}", self.rng.next_u64(), self.rng.next_u64());
        let remote = format!("203.0.113.{}", 1 + self.rng.below(250));
        let severity = match guardduty::FINDINGS[kind].1 {
            s if s < 4.0 => "low",
            s if s < 7.0 => "medium",
            s if s < 9.0 => "high",
            _ => "critical",
        };
        self.truth.detections.push(Detection {
            source: "guardduty",
            severity,
            detected_ms: t,
            device: guardduty::instance_id(&ip),
            login: String::new(),
        });
        let account = self.company.account_id.clone();
        for (version, (updated, count)) in [(t, 1), (t + 120_000, 3)].into_iter().enumerate() {
            let event_id = format!("{id}-{version}");
            let line = guardduty::finding(
                &account, &id, &event_id, kind, &ip, &remote, t, updated, count,
            );
            self.emit("guardduty", line);
        }
    }
}
