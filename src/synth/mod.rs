//! The synthetic company generator behind `ztlens gen` and `ztlens demo`.
//!
//! A [`Generator`] advances a clock through sign-in sessions, network flows and web requests of
//! a [`company::Company`], with an attack story woven in (password spray, MFA push bombing, a
//! lateral scan, probing of admin paths). It writes each event in its vendor's real format —
//! Okta System Log JSON (or Entra ID sign-in records for the quarter of the workforce on the
//! subsidiary's tenant), AWS VPC flow log lines, and nginx, Envoy or ALB access log lines for
//! the portal's three front ends — and, as it goes,
//! counts what every KPI must report in a [`Truth`]. The truth comes from what the generator
//! *meant* each event to be, never from the SQL, so comparing the two tests the whole pipeline.
//!
//! Determinism: everything derives from the seed and the start time, so the same arguments give
//! the same bytes. A small share of records is written twice (a redelivery); the truth counts
//! them once. Two distinct records never have the same bytes (content-hashed formats would
//! merge them), which [`SecondDedup`] enforces.

pub mod company;
pub mod files;
pub mod rng;

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use company::{
    ADMIN_PORTS, ATTACK_ORIGINS, App, Company, CompanyInventory, MAX_CREDENTIAL_AGE_DAYS, OFFICES,
    Person, Place,
};
use rng::Rng;

/// What every KPI must report for the generated events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    /// (country, city) → [success, failure, challenge]
    pub mfa: BTreeMap<(String, String), [u64; 3]>,
    /// (segment_src, segment_dst) → [blocked, blocked_admin_port]
    pub lateral: BTreeMap<(String, String), [u64; 2]>,
    /// (source, target) → failures
    pub high_priv: BTreeMap<(String, String), u64>,
    /// (source, decision) → events
    pub decisions: BTreeMap<(String, String), u64>,
    /// (segment_src, segment_dst) → [blocked, allowed, failed] admin-port lateral attempts
    pub lateral_attempts: BTreeMap<(String, String), [u64; 3]>,
    /// (sensitive app, front end) → [behind the IdP, unauthenticated, unknown] requests whose
    /// path the front end itself shows (ALB authenticate, Envoy ext_authz) or cannot show
    /// (anonymous lines).
    pub coverage: BTreeMap<(String, String), [u64; 3]>,
    /// Requests to a sensitive app by a named user with no gate signal (nginx): user, app,
    /// front end, time as logged; classified by `sign_ons` when the truth is written.
    pub named_requests: Vec<(String, &'static str, &'static str, i64)>,
    /// (user, sensitive app) → times of allowed sign-ons to the app through the IdP.
    pub sign_ons: BTreeMap<(String, &'static str), Vec<i64>>,
    /// (source, device posture) → allowed authentication events
    pub allowed_posture: BTreeMap<(String, String), u64>,
    /// (source, factor class) → [verified, failed] MFA steps
    pub mfa_factors: BTreeMap<(String, String), [u64; 2]>,
    /// Every admin-port lateral flow record any sensor reports, for the scan truth.
    pub admin_flows: Vec<AdminFlow>,
    /// Service-account login → [allowed, refused, interactive] sign-in events and the /24
    /// networks of the allowed ones.
    pub service_accounts: BTreeMap<String, ([u64; 3], std::collections::BTreeSet<String>)>,
    /// Latest allowed sign-in of each service account.
    pub service_last_sign_in: BTreeMap<String, i64>,
    /// Latest credential rotation logged for each account.
    pub rotations: BTreeMap<String, i64>,
    /// The company's inventory (service-account owners, policy exceptions).
    pub inventory: CompanyInventory,
    /// Allowed sign-ins of users holding a policy exception: the app as the source names it
    /// (`None`: no app) and the time.
    pub exception_uses: BTreeMap<String, Vec<(Option<String>, i64)>>,
    /// (source, sensitive app id) → [with MFA, without MFA] allowed sign-ins.
    pub sensitive_sign_ins: BTreeMap<(String, String), [u64; 2]>,
    /// Every EDR detection.
    pub detections: Vec<Detection>,
    /// Every containment the SOC performed.
    pub containments: Vec<Containment>,
    /// Every non-compliance interval of a device as Intune reports it.
    pub compliance: Vec<ComplianceInterval>,
    /// Distinct events generated, per format.
    pub events: BTreeMap<String, u64>,
    /// Records written a second time (redeliveries), per format.
    pub duplicates: BTreeMap<String, u64>,
}

/// The strength class of a generated factor (the generator's own names, independent of the
/// parsers' factor tables): FIDO2/WebAuthn resists phishing; push, OTP and SMS do not.
fn factor_class(factor: Option<&str>) -> &'static str {
    match factor {
        Some("FIDO_WEBAUTHN" | "SIGNED_NONCE") => "phishing_resistant",
        Some("OKTA_VERIFY_PUSH") => "push",
        Some("GOOGLE_AUTHENTICATOR") => "otp",
        Some("SMS") => "sms_voice",
        Some(_) => "other",
        None => "unknown",
    }
}

/// A device's stretch of non-compliance: from the first check-in that reported it to the first
/// check-in that reported the device compliant again (`None`: still open).
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceInterval {
    pub platform: &'static str,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// End of the grace period Intune granted (`None`: no grace, e.g. unmanaged devices).
    pub grace_until_ms: Option<i64>,
}

/// An EDR detection on a person's workstation.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// OCSF severity name.
    pub severity: &'static str,
    pub detected_ms: i64,
    pub device: String,
    pub login: String,
}

/// What a containment isolates: a host, or every session of a user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContainmentTarget {
    Device(String),
    User(String),
}

/// Sorted values per OCSF severity name.
type PerSeverity = BTreeMap<&'static str, Vec<f64>>;

/// A containment action as written to the logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Containment {
    pub time_ms: i64,
    pub target: ContainmentTarget,
}

impl Truth {
    /// The response-speed definition over the generator's own records: a detection is
    /// contained by the first containment at or after it that isolates its host or its user.
    /// Returns each detection with the time of that containment, if any.
    fn responses(&self) -> Vec<(&Detection, Option<i64>)> {
        // Containment times per target, sorted, so each detection finds its answer by binary
        // search (a dataset of 10 M events has tens of thousands of each).
        let mut times: BTreeMap<&ContainmentTarget, Vec<i64>> = BTreeMap::new();
        for c in &self.containments {
            times.entry(&c.target).or_default().push(c.time_ms);
        }
        for t in times.values_mut() {
            t.sort_unstable();
        }
        let first_at_or_after = |target: ContainmentTarget, detected: i64| {
            let t = times.get(&target)?;
            t.get(t.partition_point(|&c| c < detected)).copied()
        };
        self.detections
            .iter()
            .map(|d| {
                let host =
                    first_at_or_after(ContainmentTarget::Device(d.device.clone()), d.detected_ms);
                let user =
                    first_at_or_after(ContainmentTarget::User(d.login.clone()), d.detected_ms);
                (d, host.into_iter().chain(user).min())
            })
            .collect()
    }

    /// Minutes to containment of the contained detections, and hours waited (up to `to_ms`)
    /// by the others, per severity, each sorted.
    fn response_minutes_and_open_ages(&self, to_ms: i64) -> (PerSeverity, PerSeverity) {
        let mut contained = PerSeverity::new();
        let mut open = PerSeverity::new();
        for (d, answer) in self.responses() {
            match answer {
                Some(at) => contained
                    .entry(d.severity)
                    .or_default()
                    .push((at - d.detected_ms) as f64 / 60_000.0),
                None => open
                    .entry(d.severity)
                    .or_default()
                    .push(hours(d.detected_ms, to_ms)),
            }
        }
        for values in contained.values_mut().chain(open.values_mut()) {
            values.sort_by(f64::total_cmp);
        }
        (contained, open)
    }
}

/// An administrator account that acts on users in the Okta System Log.
struct OktaAdmin {
    id: &'static str,
    login: &'static str,
    name: &'static str,
    ip: &'static str,
}

/// Rotates service-account credentials.
const IAM_ADMIN: OktaAdmin = OktaAdmin {
    id: "00uadm0000000000000",
    login: "iam-admin@corp.example",
    name: "IAM Admin",
    ip: "198.51.100.21",
};

/// Answers detections by revoking sessions.
const SOC_ANALYST: OktaAdmin = OktaAdmin {
    id: "00usoc0000000000000",
    login: "soc@corp.example",
    name: "SOC Analyst",
    ip: "198.51.100.20",
};

const DAY_MS: i64 = 86_400_000;

/// How long a sign-on through the IdP vouches for a user's later requests to the same app.
const SIGN_ON_WINDOW_MS: i64 = 12 * 3_600_000;

impl Truth {
    /// Coverage counts with the named requests classified: behind the IdP when the user signed
    /// on to the app through the IdP at most 12 hours before (at or before the logged time).
    fn coverage_counts(&self) -> BTreeMap<(String, String), [u64; 3]> {
        let mut counts = self.coverage.clone();
        let mut sign_ons = self.sign_ons.clone();
        for times in sign_ons.values_mut() {
            times.sort_unstable();
        }
        for (user, app, source, t) in &self.named_requests {
            let signed_on = sign_ons.get(&(user.clone(), *app)).is_some_and(|times| {
                // The latest sign-on at or before the request.
                let at_or_before = times.partition_point(|s| s <= t);
                at_or_before > 0 && times[at_or_before - 1] >= t - SIGN_ON_WINDOW_MS
            });
            let row = counts
                .entry((app.to_string(), source.to_string()))
                .or_default();
            row[usize::from(!signed_on)] += 1;
        }
        counts
    }

    /// Service-account hygiene at `to_ms`, from the inventory and the generator's own sign-in
    /// and rotation records: dormant after 30 days without an allowed sign-in; overdue when the
    /// latest rotation (declared or logged) is older than the account's limit, unknown, or the
    /// account is not inventoried.
    fn service_account_hygiene(&self, to_ms: i64) -> Vec<Value> {
        let mut logins: std::collections::BTreeSet<String> = self
            .inventory
            .accounts
            .iter()
            .map(|a| a.login.to_lowercase())
            .collect();
        logins.extend(self.service_last_sign_in.keys().map(|l| l.to_lowercase()));
        let days = |ms: i64| ms as f64 / DAY_MS as f64;
        logins
            .iter()
            .map(|login| {
                let listed = self
                    .inventory
                    .accounts
                    .iter()
                    .find(|a| a.login.to_lowercase() == *login);
                let last = self.service_last_sign_in.get(login).copied();
                let rotated = listed
                    .and_then(|a| a.rotated_ms)
                    .max(self.rotations.get(login).copied());
                let limit_ms = i64::from(
                    listed
                        .and_then(|a| a.max_credential_age_days)
                        .unwrap_or(MAX_CREDENTIAL_AGE_DAYS),
                ) * DAY_MS;
                let overdue = listed.is_none() || rotated.is_none_or(|r| to_ms - r > limit_ms);
                json!({
                    "account": listed.map_or(login.as_str(), |a| a.login.as_str()),
                    "owner": listed.map_or("unowned", |a| a.owner),
                    "sign_ins": self.service_accounts.get(login).map_or(0, |(counts, _)| counts[0]),
                    "days_since_sign_in": last.map(|l| days(to_ms - l)),
                    "dormant": u64::from(last.is_none_or(|l| l < to_ms - 30 * DAY_MS)),
                    "credential_age_days": rotated.map(|r| days(to_ms - r)),
                    "rotation_overdue": u64::from(overdue),
                    "inventoried": u64::from(listed.is_some()),
                })
            })
            .collect()
    }

    /// Policy-exception load over `[from_ms, to_ms)` as one bucket: per owner, exceptions open
    /// at the end, used while in effect, used after expiry, and those uses.
    fn policy_exceptions(&self, from_ms: i64, to_ms: i64) -> Vec<Value> {
        let mut owners: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
        for e in &self.inventory.exceptions {
            if e.created_ms >= to_ms {
                continue;
            }
            let row = owners.entry(e.owner).or_default();
            row[0] += u64::from(e.expires_ms >= to_ms);
            let uses: Vec<i64> = self
                .exception_uses
                .get(&e.login)
                .into_iter()
                .flatten()
                .filter(|(app, t)| {
                    *t >= e.created_ms.max(from_ms)
                        && *t < to_ms
                        && e.app.is_none_or(|want| {
                            app.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(want))
                        })
                })
                .map(|(_, t)| *t)
                .collect();
            let after = uses.iter().filter(|t| **t >= e.expires_ms).count() as u64;
            row[1] += u64::from(uses.iter().any(|t| *t < e.expires_ms));
            row[2] += u64::from(after > 0);
            row[3] += after;
        }
        owners
            .iter()
            .map(|(owner, [open, in_use, expired_in_use, after])| {
                json!({"owner": owner, "open": open, "in_use": in_use,
                    "expired_in_use": expired_in_use, "uses_after_expiry": after})
            })
            .collect()
    }
}

/// A containment the SOC will perform once the clock reaches its time.
#[derive(Debug, Clone)]
struct PendingContainment {
    containment: Containment,
    source: &'static str,
    line: String,
}

/// A device's compliance as the generator keeps it between check-ins.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DeviceCompliance {
    Compliant,
    /// Index of the open interval in [`Truth::compliance`].
    NonCompliant(usize),
}

/// How long Intune lets a drifted managed device stay in its grace period.
const GRACE_PERIOD_MS: i64 = 4 * 3_600_000;

/// Hours between two instants.
fn hours(from_ms: i64, to_ms: i64) -> f64 {
    (to_ms - from_ms) as f64 / 3_600_000.0
}

/// Median as DataFusion computes it (mean of the middle two of an even count) and the
/// nearest-rank 90th percentile, of sorted values.
fn median_p90(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let rank = (0.9 * n as f64).ceil() as usize;
    (median, sorted[rank.max(1) - 1])
}

/// One sensor's record of a lateral flow to an admin port.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminFlow {
    pub src: String,
    pub segment_src: String,
    pub dst: String,
    /// The record's event time, as its parser will read it.
    pub time_ms: i64,
    /// A policy let it through (VPC ACCEPT).
    pub allowed: bool,
}

/// The lateral-scan definition, computed from the generator's own records: per source address
/// and clock-aligned 10-minute window, at least 5 distinct destinations; contained when no
/// record of the window was allowed. segment → [scans, contained]
fn scans(flows: &[AdminFlow]) -> BTreeMap<String, [u64; 2]> {
    let mut windows: BTreeMap<(&str, &str, i64), (HashSet<&str>, bool)> = BTreeMap::new();
    for f in flows {
        let entry = windows
            .entry((&f.src, &f.segment_src, f.time_ms.div_euclid(600_000)))
            .or_default();
        entry.0.insert(&f.dst);
        entry.1 |= f.allowed;
    }
    let mut out: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    for ((_, segment, _), (targets, allowed)) in windows {
        if targets.len() >= 5 {
            let e = out.entry(segment.to_string()).or_default();
            e[0] += 1;
            if !allowed {
                e[1] += 1;
            }
        }
    }
    out
}

impl Truth {
    /// KPI rows as the API returns them (without the time column), for `[from, to)`.
    pub fn to_json(&self, from_ms: i64, to_ms: i64) -> Value {
        let outcome_row = |[s, f, c]: [u64; 3]| {
            let rate = if s + f == 0 {
                Value::Null
            } else {
                json!(f as f64 / (s + f) as f64)
            };
            json!({"success": s, "failure": f, "challenge": c, "failure_rate": rate})
        };
        let mut by_country: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
        for ((country, _), counts) in &self.mfa {
            let e = by_country.entry(country).or_default();
            for i in 0..3 {
                e[i] += counts[i];
            }
        }
        let mfa_city: Vec<Value> = self
            .mfa
            .iter()
            .map(|((country, city), counts)| {
                let mut row = outcome_row(*counts);
                row["country"] = json!(country);
                row["city"] = json!(city);
                row
            })
            .collect();
        let mfa: Vec<Value> = by_country
            .iter()
            .map(|(country, [s, f, c])| {
                let rate = if s + f == 0 { Value::Null } else { json!(*f as f64 / (s + f) as f64) };
                json!({"country": country, "success": s, "failure": f, "challenge": c, "failure_rate": rate})
            })
            .collect();
        let lateral: Vec<Value> = self
            .lateral
            .iter()
            .map(|((src, dst), [b, a])| json!({"segment_src": src, "segment_dst": dst, "blocked": b, "blocked_admin_port": a}))
            .collect();
        let high: Vec<Value> = self
            .high_priv
            .iter()
            .map(|((source, target), n)| json!({"source": source, "target": target, "failures": n}))
            .collect();
        let total: u64 = self.decisions.values().sum();
        let decisions: Vec<Value> = self
            .decisions
            .iter()
            .map(|((source, decision), n)| {
                json!({"source": source, "decision": decision, "events": n, "share": *n as f64 / total as f64})
            })
            .collect();
        let attempts: Vec<Value> = self
            .lateral_attempts
            .iter()
            .map(|((src, dst), [b, a, f])| {
                let ratio = if b + a == 0 { Value::Null } else { json!(*b as f64 / (b + a) as f64) };
                json!({"segment_src": src, "segment_dst": dst, "blocked": b, "allowed": a, "failed": f, "blocked_ratio": ratio})
            })
            .collect();
        let total_verified: u64 = self.mfa_factors.values().map(|[v, _]| v).sum();
        let factors: Vec<Value> = self
            .mfa_factors
            .iter()
            .map(|((source, class), [v, f])| {
                json!({"source": source, "factor_class": class, "verified": v, "failed": f,
                    "share": *v as f64 / total_verified as f64})
            })
            .collect();
        let total_allowed: u64 = self.allowed_posture.values().sum();
        let posture: Vec<Value> = self
            .allowed_posture
            .iter()
            .map(|((source, posture), n)| {
                json!({"source": source, "device_posture": posture, "allowed": n,
                    "share": *n as f64 / total_allowed as f64})
            })
            .collect();
        let coverage_counts = self.coverage_counts();
        let coverage: Vec<Value> = coverage_counts
            .iter()
            .map(|((app, source), [behind, unauth, unknown])| {
                let share = if behind + unauth == 0 {
                    Value::Null
                } else {
                    json!(*behind as f64 / (behind + unauth) as f64)
                };
                json!({"app": app, "source": source, "requests": behind + unauth + unknown,
                    "behind_idp": behind, "unauthenticated": unauth, "unknown": unknown,
                    "behind_idp_share": share})
            })
            .collect();
        let health: Vec<Value> = self
            .events
            .iter()
            // Generated records all parse: no dead letters for any source.
            .map(|(source, n)| {
                json!({"source": source, "events": n, "dead_letters": 0, "dead_letter_rate": 0.0})
            })
            .collect();
        // The scorecard's inputs from the generator's own counts; the levels follow from the
        // documented thresholds (unit-tested at their edges in ztlens-analytics).
        let scan_counts = scans(&self.admin_flows);
        let posture_of = |p: &str| -> u64 {
            self.allowed_posture
                .iter()
                .filter(|((_, posture), _)| posture == p)
                .map(|(_, n)| n)
                .sum()
        };
        let inputs = ztlens_analytics::maturity::MaturityInputs {
            mfa_verified: self.mfa_factors.values().map(|[v, _]| v).sum(),
            mfa_verified_phishing_resistant: self
                .mfa_factors
                .iter()
                .filter(|((_, class), _)| class == "phishing_resistant")
                .map(|(_, [v, _])| v)
                .sum(),
            sensitive_sign_ins_with_mfa: self.sensitive_sign_ins.values().map(|[w, _]| w).sum(),
            sensitive_sign_ins_without_mfa: self
                .sensitive_sign_ins
                .values()
                .map(|[_, wo]| wo)
                .sum(),
            allowed_compliant: posture_of("compliant"),
            allowed_non_compliant: posture_of("non_compliant"),
            allowed_managed: posture_of("managed"),
            allowed_unmanaged: posture_of("unmanaged"),
            lateral_blocked: self.lateral_attempts.values().map(|[b, _, _]| b).sum(),
            lateral_allowed: self.lateral_attempts.values().map(|[_, a, _]| a).sum(),
            lateral_scans: scan_counts.values().map(|[n, _]| n).sum(),
            lateral_scans_contained: scan_counts.values().map(|[_, c]| c).sum(),
            sensitive_requests_behind_idp: coverage_counts.values().map(|[b, _, _]| b).sum(),
            sensitive_requests_unauthenticated: coverage_counts.values().map(|[_, u, _]| u).sum(),
        };
        let maturity = ztlens_analytics::maturity::Scorecard::assess(inputs);
        let scans: Vec<Value> = scan_counts
            .iter()
            .map(|(segment, [n, c])| {
                json!({"segment_src": segment, "scans": n, "contained": c, "contained_ratio": *c as f64 / *n as f64})
            })
            .collect();
        // Time to remediate: closed intervals per platform; open ones with their age at `to`.
        let mut closed: BTreeMap<&str, (Vec<f64>, u64)> = BTreeMap::new();
        let mut open: BTreeMap<&str, (Vec<f64>, u64)> = BTreeMap::new();
        for interval in &self.compliance {
            match interval.end_ms {
                Some(end) => {
                    let e = closed.entry(interval.platform).or_default();
                    e.0.push(hours(interval.start_ms, end));
                    e.1 += u64::from(interval.grace_until_ms.is_none_or(|g| end > g));
                }
                None => {
                    let e = open.entry(interval.platform).or_default();
                    e.0.push(hours(interval.start_ms, to_ms));
                    e.1 += u64::from(interval.grace_until_ms.is_none_or(|g| g < to_ms));
                }
            }
        }
        let remediation: Vec<Value> = closed
            .iter_mut()
            .map(|(platform, (hours, after_grace))| {
                hours.sort_by(f64::total_cmp);
                let (median, p90) = median_p90(hours);
                json!({"source": "intune", "platform": platform, "remediated": hours.len(),
                    "mean_hours": hours.iter().sum::<f64>() / hours.len() as f64,
                    "median_hours": median, "p90_hours": p90, "closed_after_grace": after_grace})
            })
            .collect();
        let still_open: Vec<Value> = open
            .iter_mut()
            .map(|(platform, (ages, past_grace))| {
                ages.sort_by(f64::total_cmp);
                let (median, _) = median_p90(ages);
                json!({"source": "intune", "platform": platform, "open": ages.len(),
                    "past_grace": past_grace, "median_age_hours": median,
                    "max_age_hours": ages[ages.len() - 1]})
            })
            .collect();
        // Response speed: contained detections per severity (minutes to containment), and
        // the uncontained ones with their age at `to`.
        let (contained, uncontained) = self.response_minutes_and_open_ages(to_ms);
        let open_detections: Vec<Value> = uncontained
            .iter()
            .map(|(severity, ages)| {
                let (median, _) = median_p90(ages);
                json!({"source": "crowdstrike", "severity": severity, "open": ages.len(),
                    "median_age_hours": median, "max_age_hours": ages[ages.len() - 1]})
            })
            .collect();
        let response: Vec<Value> = contained
            .iter()
            .map(|(severity, minutes)| {
                let (median, p90) = median_p90(minutes);
                json!({"source": "crowdstrike", "severity": severity, "contained": minutes.len(),
                    "mean_minutes": minutes.iter().sum::<f64>() / minutes.len() as f64,
                    "median_minutes": median, "p90_minutes": p90})
            })
            .collect();
        let service_accounts: Vec<Value> = self
            .service_accounts
            .iter()
            .map(|(login, ([allowed, refused, interactive], networks))| {
                json!({"source": "okta", "account": login, "allowed": allowed, "refused": refused,
                    "interactive": interactive, "networks": networks.len()})
            })
            .collect();
        let hygiene = self.service_account_hygiene(to_ms);
        let without_mfa: Vec<Value> = self
            .sensitive_sign_ins
            .iter()
            .map(|((source, app), [with, without])| {
                json!({"source": source, "app": app, "sign_ins": with + without, "with_mfa": with,
                    "without_mfa": without, "unknown": 0,
                    "without_mfa_share": *without as f64 / (with + without) as f64})
            })
            .collect();
        let exceptions = self.policy_exceptions(from_ms, to_ms);
        json!({
            "from": ztlens_analytics::time_range::format_ms(from_ms),
            "to": ztlens_analytics::time_range::format_ms(to_ms),
            "events": self.events,
            "duplicates": self.duplicates,
            "maturity": maturity,
            "kpis": {
                "mfa_outcomes_by_country": mfa,
                "mfa_outcomes_by_city": mfa_city,
                "service_account_activity": service_accounts,
                "service_account_hygiene": hygiene,
                "policy_exceptions": exceptions,
                "sensitive_app_sign_ins_without_mfa": without_mfa,
                "blocked_lateral_movement": lateral,
                "high_privilege_access_failures": high,
                "access_decisions": decisions,
                "lateral_movement_attempts": attempts,
                "lateral_scans": scans,
                "mfa_factor_strength": factors,
                "allowed_access_by_device_posture": posture,
                "telemetry_health": health,
                "sensitive_app_coverage": coverage,
                "device_remediation_time": remediation,
                "noncompliant_devices_open": still_open,
                "response_time": response,
                "detections_uncontained": open_detections,
            }
        })
    }
}

/// One VPC flow log record, written in either the v2 default layout or a custom v5 layout.
#[derive(Debug, Clone)]
pub struct VpcRecord {
    pub interface: String,
    pub src: Option<(String, u16)>,
    pub dst: Option<(String, u16)>,
    pub protocol: u8,
    pub packets: u64,
    pub bytes: u64,
    pub start_s: i64,
    pub action: Option<&'static str>,
    pub status: &'static str,
    pub account: String,
}

/// The custom layout used for the v5 file (as delivered to S3, with its header line).
pub const V5_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id tcp-flags type flow-direction traffic-path";

impl VpcRecord {
    pub fn v2_line(&self) -> String {
        let dash = || "-".to_string();
        format!(
            "2 {} {} {} {} {} {} {} {} {} {} {} {} {}",
            self.account,
            self.interface,
            self.src.as_ref().map_or_else(dash, |s| s.0.clone()),
            self.dst.as_ref().map_or_else(dash, |d| d.0.clone()),
            self.src.as_ref().map_or_else(dash, |s| s.1.to_string()),
            self.dst.as_ref().map_or_else(dash, |d| d.1.to_string()),
            if self.src.is_some() {
                self.protocol.to_string()
            } else {
                dash()
            },
            if self.src.is_some() {
                self.packets.to_string()
            } else {
                dash()
            },
            if self.src.is_some() {
                self.bytes.to_string()
            } else {
                dash()
            },
            self.start_s,
            self.start_s + 60,
            self.action.unwrap_or("-"),
            self.status
        )
    }

    pub fn v5_line(&self) -> String {
        let v2 = self.v2_line();
        let rest = v2.split_once(' ').map(|(_, r)| r).unwrap_or_default();
        let flags = match (self.protocol, self.action) {
            (6, Some("REJECT")) => "2",
            (6, _) => "19",
            _ => "0",
        };
        format!("5 {rest} vpc-0a1b2c3d4e5f60718 subnet-0a1b2c3d4e5f60718 {flags} IPv4 ingress 1")
    }
}

/// Lines produced by one call to [`Generator::advance`].
#[derive(Debug, Default)]
pub struct Emitted {
    pub okta: Vec<String>,
    /// Entra ID sign-in records (diagnostic-setting format, one JSON object each; the file
    /// writer wraps them in `{"records": [...]}` envelopes).
    pub entra: Vec<String>,
    pub vpc: Vec<VpcRecord>,
    pub nginx: Vec<String>,
    pub envoy: Vec<String>,
    pub alb: Vec<String>,
    /// Zeek conn.log TSV lines from the sensor on the corp segment (header in [`ZEEK_HEADER`]).
    pub zeek: Vec<String>,
    /// Defender Advanced Hunting records (one JSON object each; written in envelopes).
    pub defender: Vec<String>,
    /// CrowdStrike Falcon Data Replicator events, one JSON object per line.
    pub crowdstrike: Vec<String>,
    /// CloudTrail records (one JSON object each; written in `{"Records": [...]}` files).
    pub cloudtrail: Vec<String>,
    /// Intune Graph `managedDevice` snapshots, one JSON object per line.
    pub intune: Vec<String>,
}

/// The header block of the Zeek conn.log file.
pub const ZEEK_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]";

/// Workstations run CrowdStrike Falcon or Defender for Endpoint, by login.
fn uses_falcon(person: &Person) -> bool {
    xxhash_rust_like(&person.login) % 3 == 1
}

/// People whose identity provider is Entra ID rather than Okta (a subsidiary's tenant): a
/// quarter of the workforce, chosen from the login so the choice costs no randomness.
pub fn uses_entra(person: &Person) -> bool {
    !person.service && xxhash_rust_like(&person.login).is_multiple_of(4)
}

/// ISO 3166 code of the generator's country names (Entra reports codes, Okta names).
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

/// The sensitive site application a request path belongs to, by the generator's own path table
/// of the `[site.apps]` it writes (a prefix is a whole path segment: /administrator is not
/// /admin).
fn sensitive_web_app(path: &str) -> Option<&'static str> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    };
    if under("/payroll") {
        Some("payroll")
    } else if under("/admin") || under("/api/admin") {
        Some("admin")
    } else {
        None
    }
}

/// The app an Entra sign-in names: the target app, or the portal a plain sign-in lands on.
fn entra_app_name(app: Option<&App>) -> &'static str {
    app.map_or("Microsoft 365 portal", |a| a.name)
}

/// The Entra authentication method for an Okta factor name.
fn entra_method(factor: &str) -> &'static str {
    match factor {
        "FIDO_WEBAUTHN" => "FIDO2 security key",
        "SIGNED_NONCE" => "Windows Hello for Business",
        "GOOGLE_AUTHENTICATOR" => "OATH verification code",
        "SMS" => "Text message",
        _ => "Mobile app notification",
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
        self.seen
            .entry(second)
            .or_default()
            .insert(xxhash_rust_like(line))
    }
}

/// FNV-1a; good enough to detect identical lines within one second.
fn xxhash_rust_like(line: &str) -> u64 {
    line.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// One web request, as the access log records it.
struct Hit<'a> {
    ip: &'a str,
    user: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    status: u16,
    ua: &'a str,
}

/// What an Okta event means, as the generator intends it.
struct Meaning {
    decision: Option<&'static str>,
    mfa_step: bool,
}

/// An Okta event type and the message Okta shows with it.
#[derive(Debug, Clone, Copy)]
struct Kind {
    event_type: &'static str,
    display: &'static str,
}

const SESSION_START: Kind = Kind {
    event_type: "user.session.start",
    display: "User login to Okta",
};
const SESSION_END: Kind = Kind {
    event_type: "user.session.end",
    display: "User logout from Okta",
};
const SSO: Kind = Kind {
    event_type: "user.authentication.sso",
    display: "User single sign on to app",
};
const AUTH_VIA_MFA: Kind = Kind {
    event_type: "user.authentication.auth_via_mfa",
    display: "Authentication of user via MFA",
};
const VERIFY: Kind = Kind {
    event_type: "user.authentication.verify",
    display: "Verify user identity",
};
const DENY_PUSH: Kind = Kind {
    event_type: "user.mfa.okta_verify.deny_push",
    display: "User rejected Okta push verify",
};
const EVALUATE_SIGN_ON: Kind = Kind {
    event_type: "policy.evaluate_sign_on",
    display: "Evaluation of sign-on policy",
};
const ACCOUNT_LOCK: Kind = Kind {
    event_type: "user.account.lock",
    display: "Max sign in attempts exceeded",
};

/// Who signs in, from where.
#[derive(Debug, Clone, Copy)]
struct Who<'a> {
    person: &'a Person,
    place: &'a Place,
    ip: &'a str,
}

/// Everything needed to write one Okta event.
struct OktaEvent<'a> {
    kind: Kind,
    who: Who<'a>,
    result: &'static str,
    reason: Option<&'static str>,
    app: Option<&'a App>,
    rule: Option<&'static str>,
    factor: Option<&'static str>,
    meaning: Meaning,
}

/// An event with no target app, rule or factor; the methods below add them.
fn event<'a>(
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
    fn app(mut self, app: &'a App) -> Self {
        self.app = Some(app);
        self
    }

    fn rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    /// The event verified or refused a factor.
    fn mfa_step(mut self, factor: Option<&'static str>) -> Self {
        self.factor = factor;
        self.meaning.mfa_step = true;
        self
    }
}

/// The sign-on policy asks for MFA before `app`.
fn challenge<'a>(who: Who<'a>, app: &'a App) -> OktaEvent<'a> {
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
fn mfa_ok(who: Who<'_>) -> OktaEvent<'_> {
    event(AUTH_VIA_MFA, who, "SUCCESS", None, Some("allow")).mfa_step(Some(who.person.factor))
}

/// The person refuses an Okta Verify push.
fn push_denied(who: Who<'_>) -> OktaEvent<'_> {
    event(
        DENY_PUSH,
        who,
        "FAILURE",
        Some("User rejected Okta push verify"),
        Some("mfa_denied"),
    )
    .mfa_step(None)
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
    /// Containments not yet due, in no particular order.
    pending: Vec<PendingContainment>,
    detection_counter: u64,
    /// svc-deploy's credential was rotated (once, before its first sign-in).
    deploy_credential_rotated: bool,
    /// The identity-provider session of the current scenario (Okta `externalSessionId`).
    session_id: String,
    /// A factor was verified in the current session.
    session_mfa: bool,
}

const SERVER_TZ_OFFSET_MIN: i64 = 60;

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
            pending: Vec::new(),
            detection_counter: 0,
            deploy_credential_rotated: false,
            session_id: String::new(),
            session_mfa: false,
        }
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
        match self
            .rng
            .weighted(&[250, 550, 200, 6, 6, 4, 4, 60, 20, 25, 30, 6])
        {
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
            _ => self.endpoint_detection(),
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

    // --- Okta --------------------------------------------------------------------------------

    fn okta(&mut self, t: i64, ev: OktaEvent<'_>) {
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
                Some(entra_app_name(ev.app))
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
        let OktaEvent {
            kind,
            who: Who { person, place, ip },
            result,
            reason,
            app,
            rule,
            factor,
            meaning,
        } = ev;
        let uuid = self.rng.uuid();
        let txn = format!("{:x}", self.rng.next_u64());
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
                "interface": null, "authenticationStep": 0, "externalSessionId": self.session_id},
            "outcome": {"result": result, "reason": reason},
            "securityContext": {"asNumber": place.asn, "asOrg": place.as_org, "isp": place.as_org, "domain": null, "isProxy": place.is_proxy},
            "debugContext": {"debugData": {"requestId": format!("{:x}", self.rng.next_u64()), "requestUri": "/idp/idx/identify"}},
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
        let line = event.to_string();

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
            *self
                .truth
                .decisions
                .entry(("okta".into(), decision.into()))
                .or_default() += 1;
            if decision == "allow" {
                // Okta's device object says managed or not; it has no compliance verdict.
                let posture = if person.device_managed {
                    "managed"
                } else {
                    "unmanaged"
                };
                self.allowed_from("okta", posture);
            }
            let outcome = match (meaning.mfa_step, decision) {
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
                // A push denial names no factor; the push is the factor.
                let factor = factor
                    .or((kind.event_type == DENY_PUSH.event_type).then_some("OKTA_VERIFY_PUSH"));
                self.truth
                    .mfa_factors
                    .entry(("okta".into(), factor_class(factor).into()))
                    .or_default()[index] += 1;
            }
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
        self.count_event("okta");
        if self.maybe_duplicate("okta") {
            self.out.okta.push(line.clone());
        }
        self.out.okta.push(line);
    }

    // --- Entra ID ----------------------------------------------------------------------------

    /// The same sign-in step as [`Generator::okta`] would write, as Entra ID records it: the
    /// decision becomes an AADSTS error code, MFA steps carry `authenticationDetails`, and the
    /// country is an ISO code. Entra has no logoff event, so steps without a decision are not
    /// written.
    fn entra(&mut self, t: i64, ev: OktaEvent<'_>) {
        let OktaEvent {
            who: Who { person, place, ip },
            reason,
            app,
            rule,
            factor,
            meaning,
            ..
        } = ev;
        let Some(decision) = meaning.decision else {
            return;
        };
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
            _ => return,
        };
        let country = iso_country(place.country);
        let app_name = entra_app_name(app);
        let mut details_list = vec![
            json!({"authenticationMethod": "Password", "succeeded": code != 50126 && code != 50053}),
        ];
        // After a verified factor, the session's token carries the MFA claim: Entra records the
        // app sign-in as multi-factor, "Previously satisfied".
        let mfa_claim = self.session_mfa && !meaning.mfa_step && decision == "allow";
        if mfa_claim {
            details_list.push(json!({"authenticationMethod": "Previously satisfied", "succeeded": true,
                "authenticationStepResultDetail": "First factor requirement satisfied by claim in the token"}));
        }
        if meaning.mfa_step {
            let method = entra_method(factor.unwrap_or(person.factor));
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
        let id = self.rng.uuid();
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
            "correlationId": self.rng.uuid(),
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
                "conditionalAccessStatus": if policies.as_array().is_some_and(|p| !p.is_empty()) { if code == 0 || code == 50074 { "success" } else { "failure" } } else { "notApplied" },
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
        let line = record.to_string();

        // The truth, as for Okta: decisions, MFA outcomes by (ISO) country, privileged failures.
        *self
            .truth
            .decisions
            .entry(("entra".into(), decision.into()))
            .or_default() += 1;
        if decision == "allow" {
            // deviceDetail: a managed device of this company is compliant, others are neither.
            let posture = if person.device_managed {
                "compliant"
            } else {
                "unmanaged"
            };
            self.allowed_from("entra", posture);
        }
        let outcome = match (meaning.mfa_step, decision) {
            (true, "allow") => Some(0),
            (true, "mfa_failed" | "mfa_denied") => Some(1),
            (_, "challenge_mfa") => Some(2),
            _ => None,
        };
        if let Some(index) = outcome {
            self.truth
                .mfa
                .entry((country.to_string(), place.city.into()))
                .or_default()[index] += 1;
        }
        if let Some(index @ (0 | 1)) = outcome {
            self.truth
                .mfa_factors
                .entry((
                    "entra".into(),
                    factor_class(Some(factor.unwrap_or(person.factor))).into(),
                ))
                .or_default()[index] += 1;
        }
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
        self.count_event("entra");
        if self.maybe_duplicate("entra") {
            self.out.entra.push(line.clone());
        }
        self.out.entra.push(line);
    }

    fn sign_in_session(&mut self) {
        let people = self.company.people.clone();
        let apps = self.company.apps.clone();
        let person = self.rng.pick(&people).clone();
        if person.service {
            return self.service_sign_in(&person, &apps);
        }
        let place = OFFICES[person.home].clone();
        let ip = person.public_ip.clone();
        let app = self.rng.pick(&apps).clone();
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
        let (place, ip) = if self.rng.chance(0.05) {
            let origin = &ATTACK_ORIGINS[self.rng.below(2) as usize];
            let ip = format!(
                "{}.{}.{}.{}",
                origin.prefix[0],
                origin.prefix[1],
                self.rng.below(250) + 1,
                self.rng.below(250) + 1
            );
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

    /// An Okta System Log line of a successful administrator action on `person`'s account.
    fn okta_admin_action(
        &mut self,
        t: i64,
        (event_type, display): (&str, &str),
        actor: &OktaAdmin,
        person: &Person,
    ) -> String {
        json!({
            "uuid": self.rng.uuid(),
            "published": ztlens_analytics::time_range::format_ms(t),
            "eventType": event_type,
            "version": "0",
            "severity": "INFO",
            "displayMessage": display,
            "actor": {"id": actor.id, "type": "User", "alternateId": actor.login, "displayName": actor.name},
            "client": {"ipAddress": actor.ip},
            "outcome": {"result": "SUCCESS"},
            "target": [{"id": person.okta_id, "type": "User", "alternateId": person.login, "displayName": person.display_name}],
        })
        .to_string()
    }

    /// An administrator sets a new password for a service account (Okta
    /// `user.account.update_password`): the rotation the hygiene KPI looks for.
    fn rotate_credential(&mut self, person: &Person) {
        self.deploy_credential_rotated = true;
        let t = self.clock_ms;
        let line = self.okta_admin_action(
            t,
            (
                "user.account.update_password",
                "User update password for Okta",
            ),
            &IAM_ADMIN,
            person,
        );
        self.truth.rotations.insert(person.login.clone(), t);
        self.count_event("okta");
        if self.maybe_duplicate("okta") {
            self.out.okta.push(line.clone());
        }
        self.out.okta.push(line);
    }

    fn password_spray(&mut self) {
        let origin = ATTACK_ORIGINS[self.rng.below(2) as usize].clone();
        let ip = format!(
            "{}.{}.{}.{}",
            origin.prefix[0],
            origin.prefix[1],
            self.rng.below(250) + 1,
            self.rng.below(250) + 1
        );
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

    fn mfa_bombing(&mut self) {
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

    // --- VPC flow logs -----------------------------------------------------------------------

    fn flow(
        &mut self,
        t: i64,
        src: (String, u16),
        dst: (String, u16),
        protocol: u8,
        action: &'static str,
        segments: (Option<&str>, Option<&str>),
    ) {
        let start_s = t.div_euclid(1000);
        self.port_counter += 1;
        let mut record = VpcRecord {
            interface: format!("eni-{:017x}", xxhash_rust_like(&dst.0) >> 4),
            src: Some(src),
            dst: Some(dst),
            protocol,
            packets: 1 + self.rng.below(if action == "REJECT" { 3 } else { 200 }),
            bytes: 0,
            start_s,
            action: Some(action),
            status: "OK",
            account: self.company.account_id.clone(),
        };
        record.bytes = record.packets * (40 + self.rng.below(1400));
        while !self.vpc_seen.is_new(start_s, &record.v2_line()) {
            record.bytes += 1;
        }
        if action == "REJECT"
            && let (Some(s), Some(d)) = segments
        {
            let port = record.dst.as_ref().map(|d| d.1).unwrap_or(0);
            let entry = self
                .truth
                .lateral
                .entry((s.to_string(), d.to_string()))
                .or_default();
            entry[0] += 1;
            if protocol == 6 && ADMIN_PORTS.contains(&port) {
                entry[1] += 1;
            }
        }
        self.count_event("vpcflow");
        let port = record.dst.as_ref().map(|d| d.1).unwrap_or(0);
        let admin = match segments {
            (Some(s), Some(d)) if protocol == 6 && ADMIN_PORTS.contains(&port) => Some((s, d)),
            _ => None,
        };
        let refused = action == "REJECT";
        if let Some((s, d)) = admin {
            let entry = self
                .truth
                .lateral_attempts
                .entry((s.to_string(), d.to_string()))
                .or_default();
            entry[if refused { 0 } else { 1 }] += 1;
            self.admin_flow(&record, s, start_s * 1000, !refused);
        }
        // The Zeek sensor on the corp segment sees every flow that touches it: a refused TCP
        // connection is a REJ there, failed without a policy decision.
        if segments.0 == Some("corp") || segments.1 == Some("corp") {
            self.zeek(t, &record);
            if let Some((s, d)) = admin {
                if refused {
                    self.truth
                        .lateral_attempts
                        .entry((s.to_string(), d.to_string()))
                        .or_default()[2] += 1;
                }
                self.admin_flow(&record, s, t, false);
            }
        }
        if self.maybe_duplicate("vpcflow") {
            self.out.vpc.push(record.clone());
        }
        self.out.vpc.push(record);
    }

    fn allowed_from(&mut self, source: &str, posture: &str) {
        *self
            .truth
            .allowed_posture
            .entry((source.into(), posture.into()))
            .or_default() += 1;
    }

    fn admin_flow(&mut self, record: &VpcRecord, segment_src: &str, time_ms: i64, allowed: bool) {
        let (Some(src), Some(dst)) = (&record.src, &record.dst) else {
            return;
        };
        self.truth.admin_flows.push(AdminFlow {
            src: src.0.clone(),
            segment_src: segment_src.to_string(),
            dst: dst.0.clone(),
            time_ms,
            allowed,
        });
    }

    fn ephemeral(&self) -> u16 {
        32768 + (self.port_counter % 28000) as u16
    }

    fn host(&mut self, segment: usize) -> (String, &'static str) {
        let seg = &self.company.segments[segment];
        let host = seg.hosts[self.rng.below(seg.hosts.len() as u64) as usize].clone();
        (host, seg.name)
    }

    fn network_flow(&mut self) {
        let t = self.clock_ms;
        // segments: 0 corp, 1 prod, 2 pci, 3 dev
        match self.rng.weighted(&[30, 15, 10, 8, 8, 5, 4, 8, 6, 3, 3]) {
            0 => {
                let ((s, sn), (d, dn)) = (self.host(0), self.host(1));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 443), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            1 => {
                let ((s, sn), (d, dn)) = (self.host(1), self.host(2));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 5432), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            2 => {
                let ((s, sn), (d, dn)) = (self.host(0), self.host(3));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 22), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            3 => {
                let ((s, sn), (d, dn)) = (self.host(0), self.host(1));
                let port = *self.rng.pick(&[22u16, 3389]);
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, port), 6, "REJECT", (Some(sn), Some(dn)));
            }
            4 => {
                let ((s, sn), (d, dn)) = (self.host(3), self.host(2));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 445), 6, "REJECT", (Some(sn), Some(dn)));
            }
            5 => {
                let ((s, sn), (d, dn)) = (self.host(0), self.host(2));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 5432), 6, "REJECT", (Some(sn), Some(dn)));
            }
            6 => {
                // DNS between segments over UDP, refused: lateral but not an admin port.
                let ((s, sn), (d, dn)) = (self.host(3), self.host(1));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 53), 17, "REJECT", (Some(sn), Some(dn)));
            }
            7 => {
                // A scanner on the internet knocks on SSH: refused, but not lateral.
                let origin = ATTACK_ORIGINS[self.rng.below(3) as usize].clone();
                let src = format!(
                    "{}.{}.{}.{}",
                    origin.prefix[0],
                    origin.prefix[1],
                    self.rng.below(250) + 1,
                    self.rng.below(250) + 1
                );
                let (d, _) = self.host(1);
                let p = self.ephemeral();
                self.flow(t, (src, p), (d, 22), 6, "REJECT", (None, None));
            }
            8 => {
                let (s, _) = self.host(1);
                let p = self.ephemeral();
                let dst = format!(
                    "52.94.{}.{}",
                    self.rng.below(250) + 1,
                    self.rng.below(250) + 1
                );
                self.flow(t, (s, p), (dst, 443), 6, "ACCEPT", (None, None));
            }
            9 => {
                let ((s, sn), (d, dn)) = (self.host(2), self.host(2));
                self.flow(t, (s, 0), (d, 0), 1, "ACCEPT", (Some(sn), Some(dn)));
            }
            _ => {
                // An interface with nothing to report, or a capacity gap.
                let status = if self.rng.chance(0.7) {
                    "NODATA"
                } else {
                    "SKIPDATA"
                };
                let record = VpcRecord {
                    interface: format!("eni-{:017x}", self.rng.next_u64() >> 12),
                    src: None,
                    dst: None,
                    protocol: 0,
                    packets: 0,
                    bytes: 0,
                    start_s: t.div_euclid(1000),
                    action: None,
                    status,
                    account: self.company.account_id.clone(),
                };
                self.count_event("vpcflow");
                self.out.vpc.push(record);
            }
        }
    }

    fn lateral_scan(&mut self) {
        let (src, sn) = self.host(0);
        let mut t = self.clock_ms;
        for _ in 0..(8 + self.rng.below(12)) {
            let (d, dn) = self.host(1);
            for port in [22u16, 445, 3389] {
                let p = self.ephemeral();
                self.flow(
                    t,
                    (src.clone(), p),
                    (d.clone(), port),
                    6,
                    "REJECT",
                    (Some(sn), Some(dn)),
                );
            }
            t += 1000;
        }
    }

    // --- Zeek, EDR, CloudTrail, Intune -------------------------------------------------------

    /// The corp sensor's conn.log record of a flow. Zeek sees no policy: a refused flow is a
    /// REJ connection, which no KPI counts as blocked.
    fn zeek(&mut self, t: i64, flow: &VpcRecord) {
        let (Some(src), Some(dst)) = (&flow.src, &flow.dst) else {
            return;
        };
        let uid = format!("C{:016x}", self.rng.next_u64());
        let refused = flow.action == Some("REJECT");
        let (proto, state, history) = match (flow.protocol, refused) {
            (6, true) => ("tcp", "REJ", "Sr"),
            (6, false) => ("tcp", "SF", "ShADadFf"),
            (17, true) => ("udp", "S0", "D"),
            (17, false) => ("udp", "SF", "Dd"),
            _ => ("icmp", "OTH", "-"),
        };
        let (orig_bytes, resp_bytes) = if refused {
            (0, 0)
        } else {
            (flow.bytes / 3, flow.bytes - flow.bytes / 3)
        };
        let duration = if refused {
            "0.000412".to_string()
        } else {
            format!("{:.6}", 0.05 + self.rng.unit() * 30.0)
        };
        let line = format!(
            "{}.{:06}\t{uid}\t{}\t{}\t{}\t{}\t{proto}\t-\t{duration}\t{orig_bytes}\t{resp_bytes}\t{state}\tT\tT\t0\t{history}\t{}\t{}\t{}\t{}\t(empty)",
            t.div_euclid(1000),
            t.rem_euclid(1000) * 1000,
            src.0,
            src.1,
            dst.0,
            dst.1,
            flow.packets,
            flow.packets * 52 + orig_bytes,
            if refused { 1 } else { flow.packets },
            if refused {
                40
            } else {
                flow.packets * 52 + resp_bytes
            },
        );
        self.count_event("zeek");
        self.out.zeek.push(line);
    }

    /// A workstation logon, as the endpoint agent reports it (Falcon or Defender); one in ten
    /// is a mistyped password.
    fn endpoint_logon(&mut self) {
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        if person.service {
            return;
        }
        let t = self.clock_ms;
        let failed = self.rng.chance(0.1);
        let user = person.login.split('@').next().unwrap_or("user").to_string();
        let decision = if failed { "deny_credentials" } else { "allow" };
        let (source, line) = if uses_falcon(&person) {
            let event = json!({
                "event_simpleName": if failed { "UserLogonFailed2" } else { "UserLogon" },
                "aid": person.device_id, "cid": "c1d0000000000000000000000000c0de",
                "id": self.rng.uuid(), "timestamp": t.to_string(),
                "UserName": user, "LogonDomain": "CORP", "LogonType": "2",
                "UserIsAdmin": if person.admin { "1" } else { "0" },
                "ComputerName": person.device_name, "event_platform": "Win",
            });
            ("crowdstrike", event.to_string())
        } else {
            let record = json!({
                "time": ztlens_analytics::time_range::format_ms(t + 2000),
                "tenantId": "5f1c0000-0000-4000-8000-00000000c0de",
                "category": "AdvancedHunting-DeviceLogonEvents",
                "operationName": "Publish",
                "properties": {
                    "Timestamp": ztlens_analytics::time_range::format_ms(t),
                    "DeviceId": person.device_id, "DeviceName": person.device_name,
                    "ActionType": if failed { "LogonFailed" } else { "LogonSuccess" },
                    "AccountName": user, "AccountDomain": "corp", "LogonType": "Interactive",
                    "FailureReason": if failed { "InvalidUserNameOrPassword" } else { "" },
                    "IsLocalAdmin": person.admin, "ReportId": self.rng.next_u64() % 1_000_000,
                }
            });
            ("defender", record.to_string())
        };
        *self
            .truth
            .decisions
            .entry((source.into(), decision.into()))
            .or_default() += 1;
        if decision == "allow" {
            self.allowed_from(source, "unknown");
        }
        self.count_event(source);
        let out = if source == "crowdstrike" {
            &mut self.out.crowdstrike
        } else {
            &mut self.out.defender
        };
        out.push(line);
    }

    /// The security group lets a corp host reach a prod server's SMB or RDP port (the VPC flow
    /// log says ACCEPT), and the server's host firewall refuses it (Defender reports the block):
    /// one blocked lateral attempt, seen only by the endpoint.
    fn host_firewall_block(&mut self) {
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
        let record = json!({
            "time": ztlens_analytics::time_range::format_ms(t + 3000),
            "tenantId": "5f1c0000-0000-4000-8000-00000000c0de",
            "category": "AdvancedHunting-DeviceNetworkEvents",
            "operationName": "Publish",
            "properties": {
                "Timestamp": ztlens_analytics::time_range::format_ms(t + 10),
                "DeviceId": format!("mde{:013x}", xxhash_rust_like(&d) >> 12),
                "ActionType": "FirewallInboundConnectionBlocked",
                "LocalIP": d, "LocalPort": port, "RemoteIP": s, "RemotePort": p,
                "Protocol": "Tcp", "ReportId": self.rng.next_u64() % 1_000_000,
            }
        });
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
                time_ms: t + 10,
                allowed: false,
            });
        }
        self.count_event("defender");
        let line = record.to_string();
        if self.maybe_duplicate("defender") {
            self.out.defender.push(line.clone());
        }
        self.out.defender.push(line);
    }

    /// AWS: console sign-ins by admins (with MFA, sometimes a wrong password) and role
    /// assumptions, some of them refused.
    fn aws_console(&mut self) {
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        if person.service {
            return;
        }
        let t = self.clock_ms;
        let user = person.login.split('@').next().unwrap_or("user").to_string();
        let ip = person.public_ip.clone();
        let account = self.company.account_id.clone();
        let base = json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "principalId": format!("AIDA{:016X}", xxhash_rust_like(&user) >> 4),
                "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account, "userName": user},
            "eventTime": chrono::DateTime::from_timestamp_millis(t).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "awsRegion": "eu-central-1",
            "sourceIPAddress": ip,
            "userAgent": user_agent(&person),
            "eventID": self.rng.uuid(),
            "recipientAccountId": account,
        });
        let mut event = base;
        let roll = self.rng.weighted(&[70, 15, 10, 5]);
        let (decision, target, mfa) = match roll {
            0 | 1 => {
                let ok = roll == 0;
                event["eventSource"] = json!("signin.amazonaws.com");
                event["eventName"] = json!("ConsoleLogin");
                event["eventType"] = json!("AwsConsoleSignIn");
                event["responseElements"] =
                    json!({"ConsoleLogin": if ok { "Success" } else { "Failure" }});
                event["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": if ok { "Yes" } else { "No" }});
                if !ok {
                    event["errorMessage"] = json!("Failed authentication");
                }
                (
                    if ok { "allow" } else { "deny_credentials" },
                    "AWS Console",
                    ok,
                )
            }
            2 => {
                event["eventSource"] = json!("sts.amazonaws.com");
                event["eventName"] = json!("AssumeRole");
                event["requestParameters"] = json!({"roleArn": format!("arn:aws:iam::{account}:role/ReadOnly"), "roleSessionName": user});
                event["requestID"] = json!(self.rng.uuid());
                ("allow", "ReadOnly", false)
            }
            _ => {
                event["eventSource"] = json!("sts.amazonaws.com");
                event["eventName"] = json!("AssumeRole");
                event["requestParameters"] = json!({"roleArn": format!("arn:aws:iam::{account}:role/OrgAdmin"), "roleSessionName": user});
                event["errorCode"] = json!("AccessDenied");
                event["errorMessage"] = json!(format!(
                    "User: arn:aws:iam::{account}:user/{user} is not authorized to perform: sts:AssumeRole"
                ));
                event["requestID"] = json!(self.rng.uuid());
                ("deny_policy", "OrgAdmin", false)
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
        self.count_event("cloudtrail");
        let line = event.to_string();
        if self.maybe_duplicate("cloudtrail") {
            self.out.cloudtrail.push(line.clone());
        }
        self.out.cloudtrail.push(line);
    }

    /// An Intune check-in of a person's device. Compliance carries over between check-ins:
    /// a compliant managed device sometimes drifts (a grace period starts), a drifted one is
    /// sometimes fixed by the next check-in, and an unmanaged device (enrolled for mail only)
    /// stays non-compliant with no grace. Each change opens or closes a
    /// [`ComplianceInterval`] in the truth.
    fn device_sync(&mut self) {
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        if person.service {
            return;
        }
        let t = self.clock_ms;
        let platform = os_name(&person);
        let previous = self.devices.get(&person.login).copied();
        let compliant_now = match previous {
            _ if !person.device_managed => false,
            None => self.rng.chance(0.85),
            Some(DeviceCompliance::Compliant) => !self.rng.chance(0.25),
            Some(DeviceCompliance::NonCompliant(_)) => self.rng.chance(0.45),
        };
        let current = match (previous, compliant_now) {
            (Some(DeviceCompliance::NonCompliant(i)), true) => {
                self.truth.compliance[i].end_ms = Some(t);
                DeviceCompliance::Compliant
            }
            (Some(DeviceCompliance::NonCompliant(i)), false) => DeviceCompliance::NonCompliant(i),
            (_, true) => DeviceCompliance::Compliant,
            (_, false) => {
                self.truth.compliance.push(ComplianceInterval {
                    platform,
                    start_ms: t,
                    end_ms: None,
                    grace_until_ms: person.device_managed.then_some(t + GRACE_PERIOD_MS),
                });
                DeviceCompliance::NonCompliant(self.truth.compliance.len() - 1)
            }
        };
        self.devices.insert(person.login.clone(), current);
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
        let grace = grace.map_or_else(
            || "9999-12-31T23:59:59Z".to_string(),
            ztlens_analytics::time_range::format_ms,
        );
        let device = json!({
            "id": format!("{:08x}-0000-4000-8000-{:012x}", xxhash_rust_like(&person.device_id) as u32, xxhash_rust_like(&person.login) >> 16),
            "deviceName": person.device_name,
            "userPrincipalName": person.login,
            "operatingSystem": os_name(&person),
            "osVersion": "14.5",
            "complianceState": state,
            "complianceGracePeriodExpirationDateTime": grace,
            "lastSyncDateTime": ztlens_analytics::time_range::format_ms(t),
            "managementAgent": "mdm",
            "managementState": if person.device_managed { "managed" } else { "retirePending" },
            "azureADDeviceId": person.device_id,
        });
        self.count_event("intune");
        self.out.intune.push(device.to_string());
    }

    /// A Falcon detection on a workstation, answered later (minutes for critical ones, hours
    /// for low ones) by a host containment in Falcon or an Okta session revoke of the user —
    /// or not at all. The answer is written when the clock reaches it, so data that ends first
    /// leaves the detection uncontained, as it would be.
    fn endpoint_detection(&mut self) {
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
        let detect_id = format!("ldt:{}:{}", person.device_id, self.detection_counter);
        let user = person.login.split('@').next().unwrap_or("user").to_string();
        let detection = json!({
            "metadata": {"customerIDString": "c1d0000000000000000000000000c0de",
                "offset": self.detection_counter, "eventType": "DetectionSummaryEvent",
                "eventCreationTime": t, "version": "1.0"},
            "event": {"DetectId": detect_id, "DetectName": "Suspicious Activity",
                "DetectDescription": "A process behaved like known malware.",
                "Severity": severity_id, "SeverityName": severity,
                "ComputerName": person.device_name, "SensorId": person.device_id,
                "UserName": user, "LocalIP": person.internal_ip,
                "Tactic": "Execution", "TechniqueId": "T1059"},
        });
        self.count_event("crowdstrike");
        self.out.crowdstrike.push(detection.to_string());
        self.truth.detections.push(Detection {
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
        let host = roll == 0 || uses_entra(&person);
        let (source, line) = if host {
            let event = json!({
                "metadata": {"customerIDString": "c1d0000000000000000000000000c0de",
                    "offset": self.detection_counter, "eventType": "UserActivityAuditEvent",
                    "eventCreationTime": at, "version": "1.0"},
                "event": {"UserId": "soc@corp.example", "UserIp": "198.51.100.20",
                    "OperationName": "containment_requested", "ServiceName": "hosts",
                    "Success": true, "UTCTimestamp": at / 1000,
                    "AuditKeyValues": [{"Key": "device_id", "ValueString": person.device_id},
                        {"Key": "hostname", "ValueString": person.device_name}]},
            });
            ("crowdstrike", event.to_string())
        } else {
            let line = self.okta_admin_action(
                at,
                ("user.session.clear", "Clear user session"),
                &SOC_ANALYST,
                &person,
            );
            ("okta", line)
        };
        let target = if host {
            ContainmentTarget::Device(person.device_id.clone())
        } else {
            ContainmentTarget::User(person.login.clone())
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
    fn due_containments(&mut self) {
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
            self.count_event(p.source);
            if p.source == "okta" {
                self.out.okta.push(p.line);
            } else {
                self.out.crowdstrike.push(p.line);
            }
        }
    }

    // --- nginx -------------------------------------------------------------------------------

    fn access(&mut self, t: i64, hit: Hit<'_>) {
        let Hit {
            ip,
            user,
            method,
            path,
            status,
            ua,
        } = hit;
        // The portal sits behind three front ends: nginx, an Envoy mesh and an AWS ALB.
        match self.rng.weighted(&[60, 20, 20]) {
            1 => return self.envoy(t, hit),
            2 => return self.alb(t, hit),
            _ => {}
        }
        let local = chrono::DateTime::from_timestamp_millis(t + SERVER_TZ_OFFSET_MIN * 60_000)
            .unwrap_or_default();
        let time_local = format!("{} +0100", local.format("%d/%b/%Y:%H:%M:%S"));
        let mut bytes = if status == 304 {
            0
        } else {
            200 + self.rng.below(20_000)
        };
        let mut line;
        loop {
            line = format!(
                "{ip} - {} [{time_local}] \"{method} {path} HTTP/1.1\" {status} {bytes} \"https://portal.corp.example/\" \"{ua}\"",
                user.unwrap_or("-")
            );
            if self.nginx_seen.is_new(t.div_euclid(1000), &line) {
                break;
            }
            bytes += 1;
        }
        let privileged = company::PRIVILEGED_PATHS.iter().find(|p| {
            path == **p || path.starts_with(&format!("{p}/")) || path.starts_with(&format!("{p}?"))
        });
        if let Some(prefix) = privileged
            && (status == 401 || status == 403)
        {
            *self
                .truth
                .high_priv
                .entry(("nginx".into(), prefix.to_string()))
                .or_default() += 1;
        }
        if let Some(app) = sensitive_web_app(path) {
            match user {
                // nginx logs the second: the request's time as the parser reads it.
                Some(user) => self.truth.named_requests.push((
                    user.to_lowercase(),
                    app,
                    "nginx",
                    t.div_euclid(1000) * 1000,
                )),
                None => {
                    self.truth
                        .coverage
                        .entry((app.into(), "nginx".into()))
                        .or_default()[2] += 1
                }
            }
        }
        self.count_event("nginx");
        if self.maybe_duplicate("nginx") {
            self.out.nginx.push(line.clone());
        }
        self.out.nginx.push(line);
    }

    /// Count a web request on a privileged prefix answered 401/403, for `source`.
    fn web_truth(&mut self, source: &str, path: &str, status: u16) {
        let privileged = company::PRIVILEGED_PATHS.iter().find(|p| {
            path == **p || path.starts_with(&format!("{p}/")) || path.starts_with(&format!("{p}?"))
        });
        if let Some(prefix) = privileged
            && (status == 401 || status == 403)
        {
            *self
                .truth
                .high_priv
                .entry((source.into(), prefix.to_string()))
                .or_default() += 1;
        }
        self.count_event(source);
    }

    /// The request as Envoy's default access log writes it (the client in X-Forwarded-For; a
    /// 403 on an admin path is the external authorizer's refusal, flag UAEX).
    fn envoy(&mut self, t: i64, hit: Hit<'_>) {
        let Hit {
            ip,
            method,
            path,
            status,
            ua,
            ..
        } = hit;
        let flags = if status == 403 { "UAEX" } else { "-" };
        let bytes = if status == 304 {
            0
        } else {
            200 + self.rng.below(20_000)
        };
        let duration = 1 + self.rng.below(80);
        let request_id = self.rng.uuid();
        let line = format!(
            "[{}] \"{method} {path} HTTP/1.1\" {status} {flags} 0 {bytes} {duration} {} \"{ip}\" \"{ua}\" \"{request_id}\" \"portal.corp.example\" \"10.20.1.10:8080\"",
            ztlens_analytics::time_range::format_ms(t),
            duration.saturating_sub(1)
        );
        self.web_truth("envoy", path, status);
        if let Some(app) = sensitive_web_app(path) {
            // UAEX: the external authorizer decided (and refused); otherwise the default
            // format names no user and no gate: unknown.
            let index = if flags == "UAEX" { 0 } else { 2 };
            self.truth
                .coverage
                .entry((app.into(), "envoy".into()))
                .or_default()[index] += 1;
        }
        if self.maybe_duplicate("envoy") {
            self.out.envoy.push(line.clone());
        }
        self.out.envoy.push(line);
    }

    /// The request as an AWS ALB access log writes it; signed-in requests ran the
    /// `authenticate` action (the ALB's OIDC integration with the identity provider).
    fn alb(&mut self, t: i64, hit: Hit<'_>) {
        let Hit {
            ip,
            user,
            method,
            path,
            status,
            ua,
        } = hit;
        let port = 1024 + self.rng.below(60_000);
        let bytes = if status == 304 {
            0
        } else {
            200 + self.rng.below(20_000)
        };
        let trace = format!("Root=1-{:08x}-{:024x}", t / 1000, self.rng.next_u64());
        let actions = if user.is_some() {
            "authenticate,forward"
        } else {
            "forward"
        };
        let created = ztlens_analytics::time_range::format_ms(t - 3);
        let time = ztlens_analytics::time_range::format_ms(t);
        let line = format!(
            "https {time} app/corp-portal/50dc6c495c0c9188 {ip}:{port} 10.20.1.10:443 0.001 0.004 0.000 {status} {status} 320 {bytes} \"{method} https://portal.corp.example:443{path} HTTP/1.1\" \"{ua}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/portal/73e2d6bc24d8a067 \"{trace}\" \"portal.corp.example\" \"arn:aws:acm:eu-central-1:123456789012:certificate/portal\" 1 {created} \"{actions}\" \"-\" \"-\" \"10.20.1.10:443\" \"{status}\" \"-\" \"-\""
        );
        self.web_truth("alb", path, status);
        if let Some(app) = sensitive_web_app(path) {
            // The authenticate action ran, or the ALB says it did not.
            self.truth
                .coverage
                .entry((app.into(), "alb".into()))
                .or_default()[usize::from(user.is_none())] += 1;
        }
        if self.maybe_duplicate("alb") {
            self.out.alb.push(line.clone());
        }
        self.out.alb.push(line);
    }

    fn web_request(&mut self) {
        let t = self.clock_ms;
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        let user = person.login.split('@').next().unwrap_or("-").to_string();
        let ua = user_agent(&person);
        let ip = person.internal_ip.clone();
        let (signed_in, method, path, status) = match self.rng.weighted(&[40, 25, 10, 8, 8, 5, 4]) {
            0 => (
                true,
                "GET",
                format!("/wiki/page-{}", self.rng.below(500)),
                200,
            ),
            1 => (
                true,
                "GET",
                format!("/payroll/run?month=2026-{:02}", 1 + self.rng.below(12)),
                200,
            ),
            2 => (true, "GET", "/wiki/missing".to_string(), 404),
            3 => (
                true,
                "GET",
                "/admin/users".to_string(),
                if person.admin { 200 } else { 403 },
            ),
            4 => (false, "GET", "/payroll/export".to_string(), 401),
            5 => (true, "GET", "/static/app.js".to_string(), 304),
            _ => (
                true,
                "POST",
                "/api/admin/tokens".to_string(),
                if person.admin { 201 } else { 403 },
            ),
        };
        let user = signed_in.then_some(user.as_str());
        self.access(
            t,
            Hit {
                ip: &ip,
                user,
                method,
                path: &path,
                status,
                ua: &ua,
            },
        );
    }

    fn admin_probe(&mut self) {
        let origin = ATTACK_ORIGINS[2].clone();
        let ip = format!(
            "{}.{}.{}.{}",
            origin.prefix[0],
            origin.prefix[1],
            self.rng.below(250) + 1,
            self.rng.below(250) + 1
        );
        let mut t = self.clock_ms;
        for path in [
            "/admin",
            "/admin/login",
            "/api/admin/keys",
            "/api/admin/users",
            "/administrator",
            "/wp-admin",
        ] {
            let (method, status) = match path {
                "/administrator" | "/wp-admin" => ("GET", 404),
                "/admin/login" => ("POST", 401),
                _ => ("GET", 403),
            };
            self.access(
                t,
                Hit {
                    ip: &ip,
                    user: None,
                    method,
                    path,
                    status,
                    ua: "python-requests/2.31.0",
                },
            );
            t += 1000 + self.rng.below(2000) as i64;
        }
    }
}

fn os_name(person: &Person) -> &'static str {
    match person.device_os {
        "MACOS" => "Mac OS X",
        "WINDOWS" => "Windows 10",
        _ => "Linux",
    }
}

fn user_agent(person: &Person) -> String {
    if person.service {
        return "okta-sdk-python/2.9.2".to_string();
    }
    match person.device_os {
        "MACOS" => "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15".into(),
        "WINDOWS" => "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36".into(),
        _ => "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0".into(),
    }
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
}
