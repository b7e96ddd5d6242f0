//! The attack story: one scripted episode per detection rule, with benign look-alikes, at known
//! times and entities, and the alerts it must raise written into the truth.
//!
//! The story starts at a given time and plays its steps at fixed offsets (`spacing` apart), each
//! by people picked from the company without randomness. Each episode is built so that it meets
//! its own rule and no other (an attacker's address in the victim's own provider, so neither
//! travel nor a new network shows), except where one act is two findings by nature: a sign-in
//! from another continent is both impossible travel and a new country and network for the
//! person. The benign look-alikes — a hop through the corporate VPN, a domestic flight at
//! 690 km/h — must raise nothing. Story people take part in nothing else once the story
//! starts, so their own sessions cannot add findings.
//!
//! An expected alert is the rule and the entity values the rule's result names; the detection
//! test compares them with what `ztlens detect` reports over the story's range.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::synth::Generator;
use crate::synth::company::{App, OFFICES, Person, Place};
use crate::synth::uses_okta;
use crate::synth::writers::okta::{SESSION_START, SSO, Who, challenge, event, mfa_ok, push_denied};

/// The corporate VPN's egress network (New York): on the travel and new-country allow-lists
/// the generator writes.
pub const VPN_EGRESS_CIDR: &str = "203.0.113.0/24";

/// Between the sign-ins in Berlin and in Singapore of the impossible-travel episode.
const TRAVEL_GAP_MS: i64 = 20 * 60_000;

/// Hours (UTC, every day) in which the company works; privileged access outside them is an
/// alert. The generator's people use privileged apps only inside them.
pub const BUSINESS_HOURS: (u32, u32) = (6, 22);

/// The `[detections]` settings that describe the company: its business hours, and its VPN
/// egress as a network that is neither travel nor a new country.
pub fn detections_config() -> crate::detect::DetectionsConfig {
    use ztlens_analytics::detection::ParamValue;
    let mut config = crate::detect::DetectionsConfig::default();
    let mut off_hours = crate::detect::RuleSettings::default();
    for (name, value) in [
        ("start_hour", ParamValue::Int(BUSINESS_HOURS.0 as i64)),
        ("end_hour", ParamValue::Int(BUSINESS_HOURS.1 as i64)),
        ("work_days", ParamValue::Text("0123456".into())),
    ] {
        off_hours.params.insert(name.into(), value);
    }
    config
        .rules
        .insert("privileged_off_hours".into(), off_hours);
    for rule in ["impossible_travel", "new_country_for_identity"] {
        let mut settings = crate::detect::RuleSettings::default();
        settings.allow.allow_cidrs = vec![VPN_EGRESS_CIDR.into()];
        config.rules.insert(rule.into(), settings);
    }
    config
}

/// Whether `t_ms` falls inside [`BUSINESS_HOURS`].
pub fn in_business_hours(t_ms: i64) -> bool {
    let hour = t_ms.div_euclid(3_600_000).rem_euclid(24) as u32;
    (BUSINESS_HOURS.0..BUSINESS_HOURS.1).contains(&hour)
}

const PRAGUE: Place = Place {
    country: "Czechia",
    city: "Prague",
    state: "Prague",
    lat: 50.0755,
    lon: 14.4378,
    asn: 5610,
    as_org: "o2 czech republic",
    prefix: [90, 176],
    is_proxy: false,
};

const LOS_ANGELES: Place = Place {
    country: "United States",
    city: "Los Angeles",
    state: "California",
    lat: 34.0522,
    lon: -118.2437,
    asn: 7922,
    as_org: "comcast cable communications",
    prefix: [73, 12],
    is_proxy: false,
};

const VPN_EGRESS: Place = Place {
    country: "United States",
    city: "New York",
    state: "New York",
    lat: 40.7128,
    lon: -74.006,
    asn: 64_496,
    as_org: "corp vpn",
    prefix: [203, 0],
    is_proxy: false,
};

/// One alert the story must raise.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedAlert {
    pub rule: &'static str,
    pub entity: BTreeMap<String, String>,
    /// When the episode's first event happened (epoch ms).
    pub time_ms: i64,
}

/// A step of the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    PasswordSpray,
    MfaBombing,
    BruteForce,
    LateralScan,
    UnmanagedSensitiveApp,
    NewCountry,
    ServiceAccountNewNetwork,
    TravelDeparture,
    TravelArrival,
    VpnHome,
    VpnHop,
    FlightDeparture,
    FlightArrival,
    OffHoursAdmin,
}

/// The story's schedule and cast.
#[derive(Debug, Clone, Default)]
pub struct Story {
    pub from_ms: i64,
    /// Steps not played yet, by due time.
    steps: Vec<(i64, Step)>,
    /// Logins that take part in the story.
    pub cast: BTreeSet<String>,
    /// Who plays each role.
    roles: BTreeMap<&'static str, Person>,
}

/// The login before the `@`, lower case: the identity the detections group by.
fn identity(person: &Person) -> String {
    person
        .login
        .split('@')
        .next()
        .unwrap_or(&person.login)
        .to_lowercase()
}

impl Story {
    pub fn new(from_ms: i64, spacing_ms: i64) -> Self {
        use Step::*;
        let at = |n: i64| from_ms + n * spacing_ms;
        // The first 03:00 UTC at or after the start: outside business hours.
        let day = from_ms.div_euclid(86_400_000) * 86_400_000;
        let mut off_hours = day + 3 * 3_600_000 + 30 * 60_000;
        if off_hours < from_ms {
            off_hours += 86_400_000;
        }
        let mut steps = vec![
            (at(0), PasswordSpray),
            (at(1), MfaBombing),
            (at(2), BruteForce),
            (at(3), LateralScan),
            (at(4), UnmanagedSensitiveApp),
            (at(5), NewCountry),
            (at(6), ServiceAccountNewNetwork),
            (at(7), TravelDeparture),
            // 20 minutes from Berlin to Singapore.
            (at(7) + TRAVEL_GAP_MS, TravelArrival),
            (at(8), VpnHome),
            (at(8) + 15 * 60_000, VpnHop),
            (at(9), FlightDeparture),
            // New York to Los Angeles, 3,936 km in 5 h 42 min: 690 km/h.
            (at(9) + 342 * 60_000, FlightArrival),
            (off_hours, OffHoursAdmin),
        ];
        steps.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        Self {
            from_ms,
            steps,
            cast: BTreeSet::new(),
            roles: BTreeMap::new(),
        }
    }
}

impl Generator {
    /// Play the story steps due by the clock.
    pub(in crate::synth) fn due_story(&mut self) {
        while let Some(&(due, step)) = self.story.as_ref().and_then(|s| s.steps.last()) {
            if due > self.clock_ms {
                return;
            }
            if let Some(story) = self.story.as_mut() {
                story.steps.pop();
            }
            self.session_id = format!("102story{due:x}");
            self.session_mfa = false;
            self.play(due, step);
        }
    }

    /// Whether `person` belongs to a story that has started: they do nothing else from then.
    pub(in crate::synth) fn in_story(&self, person: &Person) -> bool {
        self.story
            .as_ref()
            .is_some_and(|s| self.clock_ms >= s.from_ms && s.cast.contains(&person.login))
    }

    /// The person playing `role`: the first person of the Okta tenant (not a service account)
    /// that `filter` accepts and plays no other role (any such person when none fits).
    fn role(&mut self, role: &'static str, filter: impl Fn(&Person) -> bool) -> Person {
        if let Some(person) = self.story.as_ref().and_then(|s| s.roles.get(role)) {
            return person.clone();
        }
        let cast = self
            .story
            .as_ref()
            .map(|s| s.cast.clone())
            .unwrap_or_default();
        let free = |p: &&Person| !p.service && uses_okta(p) && !cast.contains(&p.login);
        let person = self
            .company
            .people
            .iter()
            .filter(free)
            .find(|p| filter(p))
            .or_else(|| self.company.people.iter().find(free))
            .cloned()
            .expect("the company has more people than the story has roles");
        if let Some(story) = self.story.as_mut() {
            story.cast.insert(person.login.clone());
            story.roles.insert(role, person.clone());
        }
        person
    }

    fn expect(&mut self, rule: &'static str, entity: &[(&str, String)], time_ms: i64) {
        self.truth.expected_alerts.push(ExpectedAlert {
            rule,
            entity: entity
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            time_ms,
        });
    }

    fn app_named(&self, name: &str) -> App {
        self.company
            .apps
            .iter()
            .find(|a| a.name == name)
            .cloned()
            .expect("the company has the app")
    }

    /// A successful sign-in with single sign-on to `app` (MFA first when the app asks).
    fn story_sign_in(&mut self, t: i64, who: Who<'_>, app: &App) {
        let mut t = t;
        self.okta(t, event(SESSION_START, who, "SUCCESS", None, Some("allow")));
        if app.mfa_required {
            t += 2_000;
            self.okta(t, challenge(who, app));
            t += 3_000;
            self.okta(t, mfa_ok(who));
        }
        t += 2_000;
        self.okta(t, event(SSO, who, "SUCCESS", None, Some("allow")).app(app));
    }

    fn play(&mut self, t: i64, step: Step) {
        let wiki = self.app_named("Wiki");
        let berlin = &OFFICES[0];
        match step {
            Step::PasswordSpray => {
                let ip = "102.89.250.7".to_string();
                let origin = crate::synth::company::ATTACK_ORIGINS[0].clone();
                let victims: Vec<Person> = self
                    .company
                    .people
                    .iter()
                    .filter(|p| !p.service)
                    .step_by(5)
                    .take(12)
                    .cloned()
                    .collect();
                for (i, victim) in victims.iter().enumerate() {
                    let who = Who {
                        person: victim,
                        place: &origin,
                        ip: &ip,
                    };
                    self.okta(
                        t + i as i64 * 20_000,
                        event(
                            SESSION_START,
                            who,
                            "FAILURE",
                            Some("INVALID_CREDENTIALS"),
                            Some("deny_credentials"),
                        ),
                    );
                }
                self.expect("password_spray", &[("src_ip", ip)], t);
            }
            Step::MfaBombing => {
                let victim = self.role("bombing victim", |p| {
                    p.factor == "OKTA_VERIFY_PUSH" && p.home == 0
                });
                // The attacker has the password and signs in from the victim's own provider.
                let ip = format!("{}.{}.201.77", berlin.prefix[0], berlin.prefix[1]);
                let who = Who {
                    person: &victim,
                    place: berlin,
                    ip: &ip,
                };
                let app = self.app_named("Salesforce");
                self.okta(t, event(SESSION_START, who, "SUCCESS", None, Some("allow")));
                let mut at = t;
                for _ in 0..6 {
                    at += 10_000;
                    self.okta(at, challenge(who, &app));
                    at += 3_000;
                    self.okta(at, push_denied(who));
                }
                at += 9_000;
                self.okta(at, mfa_ok(who));
                self.expect("mfa_push_bombing", &[("identity", identity(&victim))], t);
            }
            Step::BruteForce => {
                let victim = self.role("brute-force victim", |p| p.home == 0);
                let ip = format!("{}.{}.202.19", berlin.prefix[0], berlin.prefix[1]);
                let who = Who {
                    person: &victim,
                    place: berlin,
                    ip: &ip,
                };
                let mut at = t;
                for _ in 0..6 {
                    self.okta(
                        at,
                        event(
                            SESSION_START,
                            who,
                            "FAILURE",
                            Some("INVALID_CREDENTIALS"),
                            Some("deny_credentials"),
                        ),
                    );
                    at += 15_000;
                }
                self.story_sign_in(at, who, &wiki);
                self.expect(
                    "brute_force_then_success",
                    &[("identity", identity(&victim))],
                    t,
                );
            }
            Step::LateralScan => {
                let src = self.company.segments[0].hosts[7].clone();
                let targets: Vec<String> = self.company.segments[1]
                    .hosts
                    .iter()
                    .take(8)
                    .cloned()
                    .collect();
                for (i, dst) in targets.iter().enumerate() {
                    let port = self.ephemeral();
                    self.flow(
                        t + i as i64 * 5_000,
                        (src.clone(), port),
                        (dst.clone(), 22),
                        6,
                        "REJECT",
                        (Some("corp"), Some("prod")),
                    );
                }
                self.expect("lateral_scan", &[("src_ip", src)], t);
            }
            Step::UnmanagedSensitiveApp => {
                // A policy gap: Workday (payroll) let an unmanaged laptop in.
                let person = self.role("unmanaged laptop", |p| !p.device_managed && p.home == 0);
                let ip = person.public_ip.clone();
                let who = Who {
                    person: &person,
                    place: berlin,
                    ip: &ip,
                };
                let app = self.app_named("Workday");
                self.story_sign_in(t, who, &app);
                self.expect(
                    "sensitive_app_unmanaged_device",
                    &[("identity", identity(&person)), ("app", "payroll".into())],
                    t,
                );
            }
            Step::NewCountry => {
                // Prague is 280 km from Berlin: new, but never impossible travel.
                let person = self.role("visitor to Prague", |p| p.home == 0);
                let ip = format!("{}.{}.31.40", PRAGUE.prefix[0], PRAGUE.prefix[1]);
                let who = Who {
                    person: &person,
                    place: &PRAGUE,
                    ip: &ip,
                };
                self.story_sign_in(t, who, &wiki);
                let id = identity(&person);
                self.expect(
                    "new_country_for_identity",
                    &[("identity", id.clone()), ("novelty", "country:CZ".into())],
                    t,
                );
                self.expect(
                    "new_country_for_identity",
                    &[("identity", id), ("novelty", format!("asn:{}", PRAGUE.asn))],
                    t,
                );
            }
            Step::ServiceAccountNewNetwork => {
                // A deploy token used from a home connection in Berlin: a network the account
                // never used, on the provider of the office.
                let account = self
                    .company
                    .people
                    .iter()
                    .find(|p| p.login.starts_with("svc-reporting@"))
                    .cloned()
                    .expect("the company has svc-reporting");
                if let Some(story) = self.story.as_mut() {
                    story.cast.insert(account.login.clone());
                }
                let ip = format!("{}.{}.203.5", berlin.prefix[0], berlin.prefix[1]);
                let who = Who {
                    person: &account,
                    place: berlin,
                    ip: &ip,
                };
                let app = self.app_named("AWS Console");
                self.okta(t, event(SSO, who, "SUCCESS", None, Some("allow")).app(&app));
                self.expect(
                    "service_account_anomaly",
                    &[
                        ("account", identity(&account)),
                        ("reason", "new_network".into()),
                    ],
                    t,
                );
            }
            Step::TravelDeparture | Step::TravelArrival => {
                let person = self.role("stolen session", |p| p.home == 0);
                let (place, ip) = if step == Step::TravelDeparture {
                    (berlin.clone(), person.public_ip.clone())
                } else {
                    let sg = &OFFICES[4];
                    (
                        sg.clone(),
                        format!("{}.{}.77.8", sg.prefix[0], sg.prefix[1]),
                    )
                };
                let who = Who {
                    person: &person,
                    place: &place,
                    ip: &ip,
                };
                self.story_sign_in(t, who, &wiki);
                if step == Step::TravelArrival {
                    let id = identity(&person);
                    // The episode starts with the departure sign-in.
                    self.expect(
                        "impossible_travel",
                        &[("identity", id.clone())],
                        t - TRAVEL_GAP_MS,
                    );
                    // The same sign-in is the person's first from Singapore and from its
                    // provider.
                    self.expect(
                        "new_country_for_identity",
                        &[("identity", id.clone()), ("novelty", "country:SG".into())],
                        t,
                    );
                    self.expect(
                        "new_country_for_identity",
                        &[
                            ("identity", id),
                            ("novelty", format!("asn:{}", OFFICES[4].asn)),
                        ],
                        t,
                    );
                }
            }
            Step::VpnHome | Step::VpnHop => {
                // Benign: home, then 15 minutes later through the VPN's New York egress.
                let person = self.role("VPN user", |p| p.home == 0);
                let (place, ip) = if step == Step::VpnHome {
                    (berlin.clone(), person.public_ip.clone())
                } else {
                    (VPN_EGRESS, "203.0.113.50".to_string())
                };
                let who = Who {
                    person: &person,
                    place: &place,
                    ip: &ip,
                };
                self.story_sign_in(t, who, &wiki);
            }
            Step::FlightDeparture | Step::FlightArrival => {
                // Benign: New York, then Los Angeles after a flight, on the same provider.
                let person = self.role("traveller", |p| p.home == 1);
                let (place, ip) = if step == Step::FlightDeparture {
                    (OFFICES[1].clone(), person.public_ip.clone())
                } else {
                    (
                        LOS_ANGELES,
                        format!("{}.{}.99.14", LOS_ANGELES.prefix[0], LOS_ANGELES.prefix[1]),
                    )
                };
                let who = Who {
                    person: &person,
                    place: &place,
                    ip: &ip,
                };
                self.story_sign_in(t, who, &wiki);
            }
            Step::OffHoursAdmin => {
                let admin = self.role("night admin", |p| p.admin);
                let ip = admin.public_ip.clone();
                let home = OFFICES[admin.home].clone();
                let who = Who {
                    person: &admin,
                    place: &home,
                    ip: &ip,
                };
                let app = self.app_named("AWS Console");
                self.story_sign_in(t, who, &app);
                self.expect(
                    "privileged_off_hours",
                    &[
                        ("identity", identity(&admin)),
                        ("app", "AWS Console".into()),
                    ],
                    t,
                );
            }
        }
    }
}
