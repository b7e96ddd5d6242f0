//! The synthetic company generator behind `ztlens gen` and `ztlens demo`.
//!
//! A [`Generator`] advances a clock through sign-in sessions, network flows and web requests of
//! a [`company::Company`], with an attack story woven in (password spray, MFA push bombing, a
//! lateral scan, probing of admin paths). It writes each event in its vendor's real format —
//! Okta System Log JSON (or, for the people on another identity provider, Entra ID sign-in
//! records, Google Workspace login audit activities, PingOne audit activities or PingFederate
//! audit log lines: see [`idp_of`]), AWS VPC flow log lines, and nginx, Envoy or ALB access log lines for
//! the portal's three front ends — and, as it goes,
//! counts what every KPI must report in a [`Truth`]. The truth comes from what the generator
//! *meant* each event to be, never from the SQL, so comparing the two tests the whole pipeline.
//!
//! Layout: [`scenarios`] tell the stories (one file per theme) and count the truth;
//! [`writers`] turn a scenario's decision into one vendor's bytes (one file per format);
//! [`truth`] holds the counts and computes each KPI's expected rows from them. This file keeps
//! the clock, the choice of the next scenario and redelivery.
//!
//! Determinism: everything derives from the seed and the start time, so the same arguments give
//! the same bytes. A small share of records is written twice (a redelivery); the truth counts
//! them once. Two distinct records never have the same bytes (content-hashed formats would
//! merge them), which [`SecondDedup`] enforces.

pub mod company;
pub mod files;
pub mod rng;
pub mod scenarios;
mod truth;
mod writers;

use std::collections::{BTreeMap, HashSet};

use company::{Company, Person};
use rng::Rng;
use scenarios::endpoint::{DeviceCompliance, PendingContainment};
pub use truth::Truth;
use writers::vpcflow::VpcRecord;

/// Records produced by one call to [`Generator::advance`].
#[derive(Debug, Default)]
pub struct Emitted {
    /// The records of each text format, by the format's registry name, in generation order:
    /// one log line or one JSON object each (the file writer wraps the JSON formats that
    /// arrive in envelopes, such as Entra's `{"records": [...]}`, in them).
    pub records: BTreeMap<&'static str, Vec<String>>,
    /// VPC flow records are structs: the dataset writes them in two layouts.
    pub vpc: Vec<VpcRecord>,
}

impl Emitted {
    /// The records of `format`, taken out (empty when it produced none).
    pub fn take(&mut self, format: &str) -> Vec<String> {
        self.records.remove(format).unwrap_or_default()
    }

    /// The records of a text format, to append to.
    fn lines(&mut self, format: &'static str) -> &mut Vec<String> {
        self.records.entry(format).or_default()
    }
}

pub struct Generator {
    rng: Rng,
    company: Company,
    clock_ms: i64,
    truth: Truth,
    out: Emitted,
    duplicate_rate: f64,
    port_counter: u64,
    vpc_seen: SecondDedup,
    nginx_seen: SecondDedup,
    /// Compliance per device (by owner login), carried from one check-in to the next.
    devices: BTreeMap<String, DeviceCompliance>,
    /// Compliance per phone (by owner login).
    phones: BTreeMap<String, DeviceCompliance>,
    /// Containments not yet due, in no particular order.
    pending: Vec<PendingContainment>,
    detection_counter: u64,
    /// svc-deploy's credential was rotated (once, before its first sign-in).
    deploy_credential_rotated: bool,
    /// The identity-provider session of the current scenario (Okta `externalSessionId`).
    session_id: String,
    /// A factor was verified in the current session.
    session_mfa: bool,
    /// Accounts locked out, until when (no sessions meanwhile).
    locked_until: BTreeMap<String, i64>,
    /// The scripted attack story, when one is told.
    story: Option<scenarios::story::Story>,
    /// Password sprays, MFA bombing, lateral scans, admin probes and leaked service tokens
    /// happen at random (the KPIs' attack mix); off, only the story attacks.
    random_attacks: bool,
    /// When svc-reporting's next hourly export is due (see `due_scheduled_jobs`).
    next_report_job_ms: i64,
}

/// Longest time between the first and the last event of one scenario (the MFA bombing story
/// is the longest, at under three minutes).
pub const SCENARIO_SPAN_MS: i64 = 5 * 60_000;

/// Average events per scenario (measured over large runs), used to turn an event target or rate
/// into a pace.
pub const EVENTS_PER_SCENARIO: f64 = 1.8;

impl Generator {
    pub fn new(seed: u64, start_ms: i64) -> Self {
        let mut rng = Rng::new(seed);
        let company = Company::new(&mut rng);
        let truth = Truth {
            inventory: company.inventory(start_ms),
            ..Truth::default()
        };
        Self {
            rng,
            company,
            clock_ms: start_ms,
            truth,
            out: Emitted::default(),
            duplicate_rate: 0.005,
            port_counter: 0,
            vpc_seen: SecondDedup::default(),
            nginx_seen: SecondDedup::default(),
            devices: BTreeMap::new(),
            phones: BTreeMap::new(),
            pending: Vec::new(),
            detection_counter: 0,
            deploy_credential_rotated: false,
            session_id: String::new(),
            session_mfa: false,
            locked_until: BTreeMap::new(),
            story: None,
            random_attacks: true,
            // Two minutes past the first hour that starts at or after the start.
            next_report_job_ms: start_ms
                + (3_600_000 - start_ms.rem_euclid(3_600_000)) % 3_600_000
                + 120_000,
        }
    }

    /// Tell the attack story from `from_ms`, its steps `spacing_ms` apart (see
    /// [`scenarios::story`]); the alerts it must raise go into the truth.
    pub fn with_story(mut self, from_ms: i64, spacing_ms: i64) -> Self {
        self.story = Some(scenarios::story::Story::new(from_ms, spacing_ms));
        self.truth.story_from_ms = Some(from_ms);
        self
    }

    /// Turn the random attacks off: every attack in the data is then the story's.
    pub fn without_random_attacks(mut self) -> Self {
        self.random_attacks = false;
        self
    }

    pub fn company(&self) -> &Company {
        &self.company
    }

    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    pub fn clock_ms(&self) -> i64 {
        self.clock_ms
    }

    /// Generate scenarios starting before `until_ms`, `mean_gap_ms` apart on average; returns
    /// the lines produced. A scenario's events span at most [`SCENARIO_SPAN_MS`] from its start,
    /// so callers that need every event before some end pass `end - SCENARIO_SPAN_MS`.
    pub fn advance(&mut self, until_ms: i64, mean_gap_ms: f64) -> Emitted {
        while self.clock_ms < until_ms {
            self.due_containments();
            self.due_story();
            self.due_scheduled_jobs();
            self.scenario();
            let gap = (-(1.0 - self.rng.unit()).ln() * mean_gap_ms).clamp(1.0, mean_gap_ms * 20.0);
            self.clock_ms += gap as i64;
        }
        std::mem::take(&mut self.out)
    }

    fn scenario(&mut self) {
        // Each scenario is one identity-provider session.
        self.session_id = format!("102{:x}", self.rng.next_u64());
        self.session_mfa = false;
        let attack = if self.random_attacks { 1 } else { 0 };
        match self.rng.weighted(&[
            250,
            550,
            200,
            6 * attack,
            6 * attack,
            4 * attack,
            4 * attack,
            60,
            20,
            25,
            30,
            6,
            45,
            12,
            3,
            3,
        ]) {
            0 => self.sign_in_session(),
            1 => self.network_flow(),
            2 => self.web_request(),
            3 => self.password_spray(),
            4 => self.mfa_bombing(),
            5 => self.lateral_scan(),
            6 => self.admin_probe(),
            7 => self.endpoint_logon(),
            8 => self.host_firewall_block(),
            9 => self.aws_console(),
            10 => self.device_sync(),
            11 => self.endpoint_detection(),
            12 => self.cluster_traffic(),
            13 => self.phone_sync(),
            14 => self.server_threat(),
            _ => self.cloud_finding(),
        }
    }

    fn count_event(&mut self, format: &str) {
        *self.truth.events.entry(format.to_string()).or_default() += 1;
    }

    fn maybe_duplicate(&mut self, format: &str) -> bool {
        if self.rng.chance(self.duplicate_rate) {
            *self.truth.duplicates.entry(format.to_string()).or_default() += 1;
            true
        } else {
            false
        }
    }

    /// Count a distinct record of `format` and write it, sometimes twice (a redelivery).
    fn emit(&mut self, format: &'static str, line: String) {
        self.count_event(format);
        if self.maybe_duplicate(format) {
            self.out.lines(format).push(line.clone());
        }
        self.out.lines(format).push(line);
    }

    /// Count a record of `format` and write it once (formats whose records are never
    /// redelivered here).
    fn emit_once(&mut self, format: &'static str, line: String) {
        self.count_event(format);
        self.out.lines(format).push(line);
    }

    /// Count an allowed authentication event of `source` on a device of `posture`.
    fn allowed_from(&mut self, source: &str, posture: &str) {
        *self
            .truth
            .allowed_posture
            .entry((source.into(), posture.into()))
            .or_default() += 1;
    }
}

/// Workstations run CrowdStrike Falcon or Defender for Endpoint, by login.
fn uses_falcon(person: &Person) -> bool {
    fnv1a_64(&person.login) % 3 == 1
}

/// The identity provider a person signs in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idp {
    Okta,
    /// Entra ID: the subsidiary's tenant.
    Entra,
    /// Google Workspace: the design studio, on Google accounts.
    GoogleWorkspace,
    /// PingOne: the acquired support team's cloud tenant.
    PingOne,
    /// PingFederate: the plant's on-premises SSO.
    PingFederate,
}

/// The identity provider of `person`, chosen from the login so the choice costs no randomness:
/// a quarter of the workforce on Entra ID, about an eighth on PingFederate, a twelfth on
/// PingOne, a tenth on Google Workspace, the rest (and every service account) on Okta.
pub fn idp_of(person: &Person) -> Idp {
    let hash = fnv1a_64(&person.login);
    if person.service {
        return Idp::Okta;
    }
    if hash.is_multiple_of(4) {
        return Idp::Entra;
    }
    // Shares of the three quarters left: 1/6, 1/9 and 2/15 of them.
    match (hash >> 8) % 360 {
        0..60 => Idp::PingFederate,
        60..100 => Idp::PingOne,
        100..148 => Idp::GoogleWorkspace,
        _ => Idp::Okta,
    }
}

/// People (and service accounts) who sign in through Okta.
pub fn uses_okta(person: &Person) -> bool {
    idp_of(person) == Idp::Okta
}

/// ISO 3166 code of the generator's country names (Entra reports codes, Okta names; the truth
/// counts MFA outcomes by code).
pub fn iso_country(name: &str) -> &'static str {
    match name {
        "Germany" => "DE",
        "United States" => "US",
        "India" => "IN",
        "Brazil" => "BR",
        "Singapore" => "SG",
        "Nigeria" => "NG",
        "Russia" => "RU",
        "Netherlands" => "NL",
        _ => "ZZ",
    }
}

/// Keeps lines of content-hashed formats unique within their second (the only place two
/// distinct records could collide, since the time is part of the line).
#[derive(Debug, Default)]
struct SecondDedup {
    /// Line hashes per second, for the seconds a new line can still land in.
    seen: BTreeMap<i64, HashSet<u64>>,
}

impl SecondDedup {
    fn is_new(&mut self, second: i64, line: &str) -> bool {
        // Scenarios overlap: a scenario's events run up to SCENARIO_SPAN_MS past its start, so
        // a line can land in a second an earlier scenario already wrote to. Seconds more than
        // two spans before this one can no longer be written.
        let horizon = second - 2 * SCENARIO_SPAN_MS / 1000;
        while self
            .seen
            .first_key_value()
            .is_some_and(|(s, _)| *s < horizon)
        {
            self.seen.pop_first();
        }
        self.seen.entry(second).or_default().insert(fnv1a_64(line))
    }
}

/// The 64-bit FNV-1a hash of `text`: cheap and stable across runs and platforms (unlike
/// `std`'s hasher), so choices derived from it (each person's identity provider, device ids)
/// are part of the seed's output. Not collision-resistant: good enough to spot identical lines.
fn fnv1a_64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_new_once_even_after_a_later_second() {
        let mut seen = SecondDedup::default();
        assert!(seen.is_new(100, "a"));
        assert!(seen.is_new(160, "a"));
        // An overlapping scenario writes to second 100 again: the same bytes are refused.
        assert!(!seen.is_new(100, "a"));
        assert!(seen.is_new(100, "b"));
        // Far later, second 100 is forgotten (memory stays bounded).
        assert!(seen.is_new(100 + 3 * SCENARIO_SPAN_MS / 1000, "a"));
        assert!(seen.seen.len() <= 2, "{:?}", seen.seen.keys());
    }

    #[test]
    fn fnv1a_64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64("foobar"), 0x8594_4171_f739_67e8);
    }
}
