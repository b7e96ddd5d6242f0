//! Endpoint scenarios: workstation logons (CrowdStrike Falcon or Defender, by person), host
//! firewall blocks, EDR detections and the SOC's later containments, and Intune check-ins
//! with each device's compliance carried from one to the next.

use crate::synth::company::ADMIN_PORTS;
use crate::synth::truth::{
    AdminFlow, ComplianceInterval, Containment, ContainmentTarget, Detection,
};
use crate::synth::writers::okta::{CLEAR_SESSION, OktaAdmin};
use crate::synth::writers::{
    crowdstrike, defender, intune, kandji, okta, os_name, sentinelone, workspace_one,
};
use crate::synth::{Generator, uses_falcon, uses_okta};

/// Answers detections: contains the host in Falcon, or revokes the user's Okta sessions.
const SOC_ANALYST: OktaAdmin = OktaAdmin {
    id: "00usoc0000000000000",
    login: "soc@corp.example",
    name: "SOC Analyst",
    ip: "198.51.100.20",
};

/// How long Intune lets a drifted managed device stay in its grace period.
const GRACE_PERIOD_MS: i64 = 4 * 3_600_000;

/// A containment the SOC will perform once the clock reaches its time.
#[derive(Debug, Clone)]
pub(in crate::synth) struct PendingContainment {
    containment: Containment,
    source: &'static str,
    line: String,
}

/// A device's compliance as the generator keeps it between check-ins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::synth) enum DeviceCompliance {
    Compliant,
    /// Index of the open interval in [`Truth::compliance`](crate::synth::Truth::compliance).
    NonCompliant(usize),
}

impl Generator {
    /// A workstation logon, as the endpoint agent reports it (Falcon or Defender); one in ten
    /// is a mistyped password.
    pub(in crate::synth) fn endpoint_logon(&mut self) {
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        if person.service {
            return;
        }
        let t = self.clock_ms;
        let failed = self.rng.chance(0.1);
        let decision = if failed { "deny_credentials" } else { "allow" };
        let (source, line) = if uses_falcon(&person) {
            let line = crowdstrike::logon(&mut self.rng, t, &person, failed);
            ("crowdstrike", line)
        } else {
            let line = defender::logon(&mut self.rng, t, &person, failed);
            ("defender", line)
        };
        *self
            .truth
            .decisions
            .entry((source.into(), decision.into()))
            .or_default() += 1;
        if decision == "allow" {
            self.allowed_from(source, "unknown");
        }
        self.emit_once(source, line);
    }

    /// The security group lets a corp host reach a prod server's SMB or RDP port (the VPC flow
    /// log says ACCEPT), and the server's host firewall refuses it (Defender reports the block):
    /// one blocked lateral attempt, seen only by the endpoint.
    pub(in crate::synth) fn host_firewall_block(&mut self) {
        let t = self.clock_ms;
        let ((s, sn), (d, dn)) = (self.host(0), self.host(1));
        let port = *self.rng.pick(&[445u16, 3389]);
        let p = self.ephemeral();
        self.flow(
            t,
            (s.clone(), p),
            (d.clone(), port),
            6,
            "ACCEPT",
            (Some(sn), Some(dn)),
        );
        let line = defender::firewall_block(&mut self.rng, t, (&d, port), (&s, p));
        let entry = self
            .truth
            .lateral
            .entry((sn.to_string(), dn.to_string()))
            .or_default();
        entry[0] += 1;
        if ADMIN_PORTS.contains(&port) {
            entry[1] += 1;
            self.truth
                .lateral_attempts
                .entry((sn.to_string(), dn.to_string()))
                .or_default()[0] += 1;
            self.truth.admin_flows.push(AdminFlow {
                src: s.clone(),
                segment_src: sn.to_string(),
                dst: d.clone(),
                time_ms: t + defender::FIREWALL_BLOCK_DELAY_MS,
                allowed: false,
            });
        }
        self.emit("defender", line);
    }

    /// A Falcon detection on a workstation, answered later (minutes for critical ones, hours
    /// for low ones) by a host containment in Falcon or an Okta session revoke of the user —
    /// or not at all. The answer is written when the clock reaches it, so data that ends first
    /// leaves the detection uncontained, as it would be.
    pub(in crate::synth) fn endpoint_detection(&mut self) {
        let falcon: Vec<usize> = (0..self.company.people.len())
            .filter(|&i| !self.company.people[i].service && uses_falcon(&self.company.people[i]))
            .collect();
        if falcon.is_empty() {
            return;
        }
        let person = self.company.people[*self.rng.pick(&falcon)].clone();
        let t = self.clock_ms;
        let (severity_id, severity, mean_minutes) = [
            (2, "low", 480.0),
            (3, "medium", 120.0),
            (4, "high", 30.0),
            (5, "critical", 10.0),
        ][self.rng.weighted(&[3, 4, 2, 1])];
        self.detection_counter += 1;
        let line =
            crowdstrike::detection(t, self.detection_counter, (severity_id, severity), &person);
        self.emit_once("crowdstrike", line);
        self.truth.detections.push(Detection {
            source: "crowdstrike",
            severity,
            detected_ms: t,
            device: person.device_id.clone(),
            login: person.login.clone(),
        });
        let roll = self.rng.weighted(&[5, 3, 2]);
        if roll == 2 {
            return;
        }
        // Containment is logged with second precision (Falcon's UTCTimestamp).
        let delay = (-(1.0 - self.rng.unit()).ln() * mean_minutes * 60_000.0) as i64 + 1_000;
        let at = (t + delay).div_euclid(1000) * 1000 + 1000;
        // The SOC revokes Okta sessions; people on another identity provider are contained on
        // their host.
        let host = roll == 0 || !uses_okta(&person);
        let (source, line, target) = if host {
            let line = crowdstrike::containment(
                at,
                self.detection_counter,
                &person,
                (SOC_ANALYST.login, SOC_ANALYST.ip),
            );
            let target = ContainmentTarget::Device(person.device_id.clone());
            ("crowdstrike", line, target)
        } else {
            let line = okta::admin_action(&mut self.rng, at, CLEAR_SESSION, &SOC_ANALYST, &person);
            ("okta", line, ContainmentTarget::User(person.login.clone()))
        };
        self.pending.push(PendingContainment {
            containment: Containment {
                time_ms: at,
                target,
            },
            source,
            line,
        });
    }

    /// Write the containments whose time has come.
    pub(in crate::synth) fn due_containments(&mut self) {
        let now = self.clock_ms;
        // Called before every scenario: most of the time nothing is due.
        if self.pending.iter().all(|p| p.containment.time_ms > now) {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.containment.time_ms <= now);
        self.pending = later;
        for p in due {
            self.truth.containments.push(p.containment);
            self.emit_once(p.source, p.line);
        }
    }

    /// A check-in of a person's laptop: managed Macs through Kandji (its Blueprint's library
    /// items), every other device through Intune. Compliance carries over between check-ins:
    /// a compliant managed device sometimes drifts (Intune starts a grace period), a drifted
    /// one is sometimes fixed by the next check-in, and an unmanaged device (enrolled in Intune
    /// for mail only) stays non-compliant with no grace. Each change opens or closes a
    /// [`ComplianceInterval`] in the truth.
    pub(in crate::synth) fn device_sync(&mut self) {
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        if person.service {
            return;
        }
        let t = self.clock_ms;
        let kandji = person.device_managed && person.device_os == "MACOS";
        // Kandji's verdict records name no platform.
        let (source, platform) = if kandji {
            ("kandji", None)
        } else {
            ("intune", Some(os_name(&person)))
        };
        let previous = self.devices.get(&person.login).copied();
        let compliant_now = match previous {
            _ if !person.device_managed => false,
            None => self.rng.chance(0.85),
            Some(DeviceCompliance::Compliant) => !self.rng.chance(0.25),
            Some(DeviceCompliance::NonCompliant(_)) => self.rng.chance(0.45),
        };
        let grace = (person.device_managed && !kandji).then_some(t + GRACE_PERIOD_MS);
        let current = self.track_compliance(previous, compliant_now, t, source, platform, grace);
        self.devices.insert(person.login.clone(), current);
        if kandji {
            let line = kandji::library_items(t, &person, compliant_now);
            self.emit_once("kandji", line);
            return;
        }
        let (state, grace) = match current {
            DeviceCompliance::Compliant => ("compliant", None),
            DeviceCompliance::NonCompliant(i) => {
                let grace = self.truth.compliance[i].grace_until_ms;
                match grace {
                    Some(g) if t < g => ("inGracePeriod", grace),
                    _ => ("noncompliant", grace),
                }
            }
        };
        let line = intune::managed_device(t, &person, state, grace);
        self.emit_once("intune", line);
    }

    /// A check-in of a person's phone, managed by Workspace ONE (no grace period).
    pub(in crate::synth) fn phone_sync(&mut self) {
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        if person.service {
            return;
        }
        let t = self.clock_ms;
        let previous = self.phones.get(&person.login).copied();
        let compliant_now = match previous {
            None => self.rng.chance(0.9),
            Some(DeviceCompliance::Compliant) => !self.rng.chance(0.15),
            Some(DeviceCompliance::NonCompliant(_)) => self.rng.chance(0.5),
        };
        let platform = if workspace_one::is_iphone(&person) {
            "iOS"
        } else {
            "Android"
        };
        let current = self.track_compliance(
            previous,
            compliant_now,
            t,
            "workspace_one",
            Some(platform),
            None,
        );
        self.phones.insert(person.login.clone(), current);
        let line = workspace_one::phone(t, &person, compliant_now);
        self.emit_once("workspace_one", line);
    }

    /// Open or close a non-compliance interval for a check-in.
    fn track_compliance(
        &mut self,
        previous: Option<DeviceCompliance>,
        compliant_now: bool,
        t: i64,
        source: &'static str,
        platform: Option<&'static str>,
        grace_until_ms: Option<i64>,
    ) -> DeviceCompliance {
        match (previous, compliant_now) {
            (Some(DeviceCompliance::NonCompliant(i)), true) => {
                self.truth.compliance[i].end_ms = Some(t);
                DeviceCompliance::Compliant
            }
            (Some(DeviceCompliance::NonCompliant(i)), false) => DeviceCompliance::NonCompliant(i),
            (_, true) => DeviceCompliance::Compliant,
            (_, false) => {
                self.truth.compliance.push(ComplianceInterval {
                    source,
                    platform,
                    start_ms: t,
                    end_ms: None,
                    grace_until_ms,
                });
                DeviceCompliance::NonCompliant(self.truth.compliance.len() - 1)
            }
        }
    }

    /// SentinelOne on a production server detects a threat: the threat record and the
    /// activity that names it (one detection). Nobody contains servers here: it stays open.
    pub(in crate::synth) fn server_threat(&mut self) {
        let t = self.clock_ms;
        let (ip, _) = self.host(1);
        let host = format!("prod-app-{}", ip.rsplit('.').next().unwrap_or("0"));
        let malicious = self.rng.chance(0.6);
        let threat_id = format!("{}", 2_150_000_000_000_000_000u64 + self.rng.below(1 << 48));
        let activity_id = format!("{}", 2_160_000_000_000_000_000u64 + self.rng.below(1 << 48));
        self.truth.detections.push(Detection {
            source: "sentinelone",
            severity: if malicious { "high" } else { "medium" },
            detected_ms: t,
            device: sentinelone::agent_id(&host),
            login: String::new(),
        });
        let line = sentinelone::threat(t, &threat_id, &host, &ip, malicious);
        self.emit_once("sentinelone", line);
        let line =
            sentinelone::threat_activity(t + 200, &activity_id, &threat_id, &host, malicious);
        self.emit_once("sentinelone", line);
    }
}
