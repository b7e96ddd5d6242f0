//! The ground truth: what every KPI must report for the generated events, counted by the
//! scenarios as they write each record, and turned into the API's rows by [`Truth::to_json`].
//!
//! Each KPI's rows come from one function, grouped by theme: [`identity`] (sign-ins, MFA,
//! service accounts, exceptions), [`network`] (lateral movement and scans), [`web`] (coverage
//! of sensitive apps by the IdP), [`endpoint`] (device remediation, response to detections) and
//! [`maturity`] (the scorecard). The truth never writes log lines and knows no vendor format:
//! sources appear only by the name the KPIs report.

mod endpoint;
mod identity;
mod maturity;
mod network;
mod web;
pub mod whatif;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::company::CompanyInventory;
pub use endpoint::{ComplianceInterval, Containment, ContainmentTarget, Detection};
pub use network::AdminFlow;
pub use whatif::{AllowedFlow, AppSignIn, ObservedSignIn};

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
    /// Every detection (EDR, cloud and policy findings), each once.
    pub detections: Vec<Detection>,
    /// (source, app) → [mutually authenticated, plaintext] east-west requests a mesh proxy
    /// logged.
    pub mtls: BTreeMap<(String, String), [u64; 2]>,
    /// Every containment the SOC performed.
    pub containments: Vec<Containment>,
    /// Every non-compliance interval of a device as Intune reports it.
    pub compliance: Vec<ComplianceInterval>,
    /// Distinct events generated, per format.
    pub events: BTreeMap<String, u64>,
    /// Of those, events of a type no class maps (stored in `base_event`), per (format,
    /// vendor event type).
    pub unmapped: BTreeMap<(String, String), u64>,
    /// Records written a second time (redeliveries), per format.
    pub duplicates: BTreeMap<String, u64>,
    /// Every allowed sign-in to a site application, for the policy what-if.
    pub app_sign_ins: Vec<AppSignIn>,
    /// Every allowed flow between two segments (once per record stating the decision), for
    /// the policy what-if.
    pub allowed_flows: Vec<AllowedFlow>,
    /// Every allowed sign-in an observe-mode (report-only) policy evaluated.
    pub observed: Vec<ObservedSignIn>,
    /// When the attack story starts, when one is told.
    pub story_from_ms: Option<i64>,
    /// The alerts the story must raise.
    pub expected_alerts: Vec<crate::synth::scenarios::story::ExpectedAlert>,
}

/// The strength class of a generated factor (the generator's own names, independent of the
/// parsers' factor tables): FIDO2/WebAuthn resists phishing; push, OTP and SMS do not.
pub fn factor_class(factor: Option<&str>) -> &'static str {
    match factor {
        Some("FIDO_WEBAUTHN" | "SIGNED_NONCE") => "phishing_resistant",
        Some("OKTA_VERIFY_PUSH") => "push",
        Some("GOOGLE_AUTHENTICATOR") => "otp",
        Some("SMS") => "sms_voice",
        Some(_) => "other",
        None => "unknown",
    }
}

const DAY_MS: i64 = 86_400_000;

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

impl Truth {
    /// KPI rows as the API returns them (without the time column), for `[from, to)`.
    pub fn to_json(&self, from_ms: i64, to_ms: i64) -> Value {
        json!({
            "from": ztlens_analytics::time_range::format_ms(from_ms),
            "to": ztlens_analytics::time_range::format_ms(to_ms),
            "events": self.events,
            "duplicates": self.duplicates,
            "maturity": self.maturity(),
            "alerts": self.story_alerts(to_ms),
            "whatif": self.whatif(),
            "access_paths": self.access_paths(),
            "kpis": {
                "mfa_outcomes_by_country": self.mfa_outcomes_by_country(),
                "mfa_outcomes_by_city": self.mfa_outcomes_by_city(),
                "service_account_activity": self.service_account_activity(),
                "service_account_hygiene": self.service_account_hygiene(to_ms),
                "policy_exceptions": self.policy_exceptions(from_ms, to_ms),
                "sensitive_app_sign_ins_without_mfa": self.sensitive_app_sign_ins_without_mfa(),
                "blocked_lateral_movement": self.blocked_lateral_movement(),
                "high_privilege_access_failures": self.high_privilege_access_failures(),
                "access_decisions": self.access_decisions(),
                "lateral_movement_attempts": self.lateral_movement_attempts(),
                "lateral_scans": self.lateral_scans(),
                "mfa_factor_strength": self.mfa_factor_strength(),
                "allowed_access_by_device_posture": self.allowed_access_by_device_posture(),
                "telemetry_health": self.telemetry_health(),
                "unmapped_event_types": self.unmapped_event_types(),
                "sensitive_app_coverage": self.sensitive_app_coverage(),
                "device_remediation_time": self.device_remediation_time(to_ms),
                "noncompliant_devices_open": self.noncompliant_devices_open(to_ms),
                "response_time": self.response_time(),
                "detections_uncontained": self.detections_uncontained(to_ms),
                "mtls_coverage": self.mtls_coverage(),
                "would_be_denials": self.would_be_denials(),
            }
        })
    }

    /// The story's start and the alerts it must raise by `to_ms` (rule, entity, time of the
    /// episode's first event).
    fn story_alerts(&self, to_ms: i64) -> Value {
        let mut expected: Vec<_> = self
            .expected_alerts
            .iter()
            .filter(|a| a.time_ms < to_ms)
            .collect();
        expected.sort();
        json!({
            "story_from": self.story_from_ms.map(ztlens_analytics::time_range::format_ms),
            "expected": expected
                .iter()
                .map(|a| json!({
                    "rule": a.rule,
                    "entity": a.entity,
                    "time": ztlens_analytics::time_range::format_ms(a.time_ms),
                }))
                .collect::<Vec<_>>(),
        })
    }

    /// Events stored in `base_event`, per source and vendor event type.
    fn unmapped_event_types(&self) -> Vec<Value> {
        self.unmapped
            .iter()
            .map(|((source, event_type), n)| {
                json!({"source": source, "event_type": event_type, "events": n})
            })
            .collect()
    }

    /// Events per source; generated records all parse, so no source has dead letters, and the
    /// events no class maps are rows too.
    fn telemetry_health(&self) -> Vec<Value> {
        self.events
            .iter()
            .map(|(source, n)| {
                let unmapped: u64 = self
                    .unmapped
                    .iter()
                    .filter(|((format, _), _)| format == source)
                    .map(|(_, n)| n)
                    .sum();
                json!({"source": source, "events": n, "dead_letters": 0, "dead_letter_rate": 0.0,
                       "unmapped_events": unmapped})
            })
            .collect()
    }
}
