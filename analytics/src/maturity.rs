//! The maturity scorecard: for the Identity, Devices, Network and Applications pillars, a level
//! 1 (basic), 2 (developing) or 3 (mature) derived from KPI values over a range, with the
//! numbers that decided it.
//!
//! Invariants: [`assess`] is a pure function of [`MaturityInputs`], so the thresholds are tested
//! without a lake; a pillar without evidence is level 1 and says so (missing telemetry never
//! reads as maturity); every level names what the next one needs. The thresholds are the
//! `*_L2`/`*_L3` constants below, documented in docs/kpis.md.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{AnalyticsError, Engine, KpiCatalog, TimeRange};

/// Identity: share of verified MFA steps that used a phishing-resistant factor.
pub const IDENTITY_PHISHING_RESISTANT_L2: f64 = 0.2;
pub const IDENTITY_PHISHING_RESISTANT_L3: f64 = 0.5;
/// Identity: share of allowed sign-ins to sensitive apps that MFA protected (sign-ins whose MFA
/// the source leaves unknown are not counted either way).
pub const IDENTITY_MFA_COVERAGE_L2: f64 = 0.9;
pub const IDENTITY_MFA_COVERAGE_L3: f64 = 1.0;
/// Devices: share of allowed access (with a known device state) from managed devices (L2), and
/// from compliant devices with little leakage (L3).
pub const DEVICES_MANAGED_L2: f64 = 0.8;
pub const DEVICES_COMPLIANT_L3: f64 = 0.9;
pub const DEVICES_LEAKAGE_MAX_L3: f64 = 0.02;
/// Network: share of policy decisions on lateral admin-port attempts that refused; L3 also
/// needs every lateral scan contained.
pub const NETWORK_BLOCKED_L2: f64 = 0.7;
pub const NETWORK_BLOCKED_L3: f64 = 0.95;
/// Applications: share of requests to sensitive apps that came through the identity provider,
/// among those whose path is known.
pub const APPS_AUTHENTICATED_L2: f64 = 0.8;
pub const APPS_AUTHENTICATED_L3: f64 = 1.0;

/// The KPI sums a scorecard is computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MaturityInputs {
    pub mfa_verified: u64,
    pub mfa_verified_phishing_resistant: u64,
    pub sensitive_sign_ins_with_mfa: u64,
    pub sensitive_sign_ins_without_mfa: u64,
    pub allowed_compliant: u64,
    pub allowed_non_compliant: u64,
    pub allowed_managed: u64,
    pub allowed_unmanaged: u64,
    pub lateral_blocked: u64,
    pub lateral_allowed: u64,
    pub lateral_scans: u64,
    pub lateral_scans_contained: u64,
    pub sensitive_requests_behind_idp: u64,
    pub sensitive_requests_unauthenticated: u64,
}

/// One pillar's level and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PillarScore {
    pub pillar: &'static str,
    pub level: u8,
    pub level_name: &'static str,
    pub evidence: Map<String, Value>,
    /// What the next level needs (empty at level 3).
    pub next: String,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn score(pillar: &'static str, level: u8, evidence: Value, next: &str) -> PillarScore {
    PillarScore {
        pillar,
        level,
        level_name: match level {
            3 => "mature",
            2 => "developing",
            _ => "basic",
        },
        evidence: evidence.as_object().cloned().unwrap_or_default(),
        next: if level == 3 {
            String::new()
        } else {
            next.to_string()
        },
    }
}

/// The four pillar scores for `inputs`.
pub fn assess(i: &MaturityInputs) -> Vec<PillarScore> {
    let pr_share = ratio(i.mfa_verified_phishing_resistant, i.mfa_verified);
    let coverage = ratio(
        i.sensitive_sign_ins_with_mfa,
        i.sensitive_sign_ins_with_mfa + i.sensitive_sign_ins_without_mfa,
    );
    let pr_level = match pr_share {
        Some(s) if s >= IDENTITY_PHISHING_RESISTANT_L3 => 3,
        Some(s) if s >= IDENTITY_PHISHING_RESISTANT_L2 => 2,
        _ => 1,
    };
    let coverage_level = match coverage {
        Some(c) if c >= IDENTITY_MFA_COVERAGE_L3 => 3,
        Some(c) if c >= IDENTITY_MFA_COVERAGE_L2 => 2,
        _ => 1,
    };
    // Both must hold: strong factors do not help where sign-ins skip MFA, and the reverse.
    let identity_level = pr_level.min(coverage_level);
    let mut needs = Vec::new();
    if pr_level == identity_level {
        needs.push(if identity_level == 1 {
            "at least 20% of verified MFA steps phishing resistant (FIDO2/WebAuthn, platform keys, certificates)"
        } else {
            "at least 50% of verified MFA steps phishing resistant"
        });
    }
    if coverage_level == identity_level {
        needs.push(if identity_level == 1 {
            "MFA on at least 90% of sign-ins to sensitive apps (site.apps with idp_apps)"
        } else {
            "MFA on every sign-in to a sensitive app"
        });
    }
    let identity = score(
        "identity",
        identity_level,
        json!({"mfa_verified": i.mfa_verified,
            "mfa_verified_phishing_resistant": i.mfa_verified_phishing_resistant,
            "phishing_resistant_share": pr_share,
            "sensitive_sign_ins_with_mfa": i.sensitive_sign_ins_with_mfa,
            "sensitive_sign_ins_without_mfa": i.sensitive_sign_ins_without_mfa,
            "mfa_coverage": coverage}),
        &needs.join("; and "),
    );

    let known =
        i.allowed_compliant + i.allowed_non_compliant + i.allowed_managed + i.allowed_unmanaged;
    let managed = ratio(
        i.allowed_compliant + i.allowed_non_compliant + i.allowed_managed,
        known,
    );
    let compliant = ratio(i.allowed_compliant, known);
    let leakage = ratio(i.allowed_non_compliant + i.allowed_unmanaged, known);
    let devices_level = match (managed, compliant, leakage) {
        (_, Some(c), Some(l)) if c >= DEVICES_COMPLIANT_L3 && l <= DEVICES_LEAKAGE_MAX_L3 => 3,
        (Some(m), _, _) if m >= DEVICES_MANAGED_L2 => 2,
        _ => 1,
    };
    let devices = score(
        "devices",
        devices_level,
        json!({"allowed_with_device_state": known, "managed_share": managed,
            "compliant_share": compliant, "leakage_share": leakage}),
        if devices_level == 1 {
            "at least 80% of allowed access from managed devices"
        } else {
            "at least 90% of allowed access from compliant devices, at most 2% from unmanaged or non-compliant ones"
        },
    );

    let decisions = i.lateral_blocked + i.lateral_allowed;
    let blocked = ratio(i.lateral_blocked, decisions);
    let all_contained = i.lateral_scans_contained == i.lateral_scans;
    let network_level = match blocked {
        Some(b) if b >= NETWORK_BLOCKED_L3 && all_contained => 3,
        Some(b) if b >= NETWORK_BLOCKED_L2 => 2,
        _ => 1,
    };
    let network = score(
        "network",
        network_level,
        json!({"lateral_decisions": decisions, "lateral_blocked_ratio": blocked,
            "lateral_scans": i.lateral_scans, "lateral_scans_contained": i.lateral_scans_contained}),
        if network_level == 1 {
            "at least 70% of lateral admin-port attempts refused by policy"
        } else {
            "at least 95% refused and every lateral scan contained"
        },
    );

    let authenticated = ratio(
        i.sensitive_requests_behind_idp,
        i.sensitive_requests_behind_idp + i.sensitive_requests_unauthenticated,
    );
    let apps_level = match authenticated {
        Some(a) if a >= APPS_AUTHENTICATED_L3 => 3,
        Some(a) if a >= APPS_AUTHENTICATED_L2 => 2,
        _ => 1,
    };
    let applications = score(
        "applications",
        apps_level,
        json!({"sensitive_requests_behind_idp": i.sensitive_requests_behind_idp,
            "sensitive_requests_unauthenticated": i.sensitive_requests_unauthenticated,
            "behind_idp_share": authenticated}),
        if apps_level == 1 {
            "at least 80% of requests to sensitive apps through the identity provider"
        } else {
            "every request to a sensitive app through the identity provider (no dark apps)"
        },
    );
    vec![identity, devices, network, applications]
}

/// A scorecard: the pillar levels and the inputs that decided them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    pub pillars: Vec<PillarScore>,
    pub inputs: MaturityInputs,
}

impl Scorecard {
    pub fn assess(inputs: MaturityInputs) -> Self {
        Self {
            pillars: assess(&inputs),
            inputs,
        }
    }
}

/// The KPI columns the scorecard reads, per KPI. A KPI file given with `--queries` that
/// replaces one of these must keep them: [`check_catalog`] refuses the catalog otherwise, so a
/// missing column is an error at start-up, never a silent 0.
pub const REQUIRED_COLUMNS: &[(&str, &[&str])] = &[
    ("mfa_factor_strength", &["factor_class", "verified"]),
    (
        "sensitive_app_sign_ins_without_mfa",
        &["with_mfa", "without_mfa"],
    ),
    (
        "allowed_access_by_device_posture",
        &["device_posture", "allowed"],
    ),
    ("lateral_movement_attempts", &["blocked", "allowed"]),
    ("lateral_scans", &["scans", "contained"]),
    ("sensitive_app_coverage", &["behind_idp", "unauthenticated"]),
];

/// Check that every KPI the scorecard reads is in `catalog` and declares the columns it reads
/// (as labels or metrics).
pub fn check_catalog(catalog: &KpiCatalog) -> Result<(), AnalyticsError> {
    for (id, columns) in REQUIRED_COLUMNS {
        let def = catalog
            .get(id)
            .map_err(|_| AnalyticsError::InvalidDefinition {
                file: format!("{id}.sql"),
                reason: "the maturity scorecard reads this KPI and the catalog has none".into(),
            })?;
        for column in *columns {
            let declared = def.labels.iter().chain(&def.metrics).any(|c| c == column);
            // A file without a `metrics:` header exports every numeric column: the columns
            // are then checked against each result instead.
            if !declared && !def.metrics.is_empty() {
                return Err(AnalyticsError::InvalidDefinition {
                    file: def.source.clone(),
                    reason: format!(
                        "the maturity scorecard reads column {column:?} of KPI {id}, which its labels and metrics do not name"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The rows of one KPI result, with the columns the scorecard reads checked to be there.
struct KpiRows {
    rows: Vec<Map<String, Value>>,
}

impl KpiRows {
    /// Sum `metric` over the rows whose `label` equals `value` (all rows when `label` is
    /// `None`).
    fn sum(&self, metric: &str, label: Option<(&str, &str)>) -> u64 {
        self.rows
            .iter()
            .filter(|r| label.is_none_or(|(l, v)| r.get(l).and_then(Value::as_str) == Some(v)))
            .filter_map(|r| r.get(metric).and_then(Value::as_u64))
            .sum()
    }
}

impl Engine {
    /// Evaluate KPI `id` over `range` and check that its result has the columns the scorecard
    /// reads.
    async fn scorecard_rows(
        &self,
        id: &'static str,
        range: TimeRange,
    ) -> Result<KpiRows, AnalyticsError> {
        let (def, out) = self.run_kpi(id, range).await?;
        let required = REQUIRED_COLUMNS
            .iter()
            .find(|(kpi, _)| *kpi == id)
            .map_or(&[][..], |(_, columns)| *columns);
        if let Some(missing) = required
            .iter()
            .find(|c| !out.columns.iter().any(|o| o == *c))
        {
            return Err(AnalyticsError::InvalidDefinition {
                file: def.source.clone(),
                reason: format!(
                    "the maturity scorecard reads column {missing:?} of KPI {id}, which its result lacks"
                ),
            });
        }
        Ok(KpiRows {
            rows: out.json_rows()?,
        })
    }

    /// The inputs of the scorecard over `range` (evaluated as one bucket).
    pub async fn maturity_inputs(
        &self,
        range: TimeRange,
    ) -> Result<MaturityInputs, AnalyticsError> {
        let whole = range.whole();
        let mfa = self.scorecard_rows("mfa_factor_strength", whole).await?;
        let sensitive = self
            .scorecard_rows("sensitive_app_sign_ins_without_mfa", whole)
            .await?;
        let posture = self
            .scorecard_rows("allowed_access_by_device_posture", whole)
            .await?;
        let lateral = self
            .scorecard_rows("lateral_movement_attempts", whole)
            .await?;
        let scans = self.scorecard_rows("lateral_scans", whole).await?;
        let coverage = self.scorecard_rows("sensitive_app_coverage", whole).await?;
        let posture_sum = |p: &str| posture.sum("allowed", Some(("device_posture", p)));
        Ok(MaturityInputs {
            mfa_verified: mfa.sum("verified", None),
            mfa_verified_phishing_resistant: mfa
                .sum("verified", Some(("factor_class", "phishing_resistant"))),
            sensitive_sign_ins_with_mfa: sensitive.sum("with_mfa", None),
            sensitive_sign_ins_without_mfa: sensitive.sum("without_mfa", None),
            allowed_compliant: posture_sum("compliant"),
            allowed_non_compliant: posture_sum("non_compliant"),
            allowed_managed: posture_sum("managed"),
            allowed_unmanaged: posture_sum("unmanaged"),
            lateral_blocked: lateral.sum("blocked", None),
            lateral_allowed: lateral.sum("allowed", None),
            lateral_scans: scans.sum("scans", None),
            lateral_scans_contained: scans.sum("contained", None),
            sensitive_requests_behind_idp: coverage.sum("behind_idp", None),
            sensitive_requests_unauthenticated: coverage.sum("unauthenticated", None),
        })
    }

    /// The scorecard over `range`.
    pub async fn maturity(&self, range: TimeRange) -> Result<Scorecard, AnalyticsError> {
        Ok(Scorecard::assess(self.maturity_inputs(range).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_kpi_without_the_columns_the_scorecard_reads_is_refused() {
        check_catalog(&KpiCatalog::builtin()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mfa_factor_strength.sql"),
            "-- id: mfa_factor_strength\n-- title: MFA\n-- unit: events\n-- labels: source\n\
             -- metrics: ok\n-- description: replaced\nSELECT bucket AS time, 'x' AS source, 1 AS ok FROM authentication GROUP BY 1",
        )
        .unwrap();
        let catalog = KpiCatalog::with_directory(dir.path()).unwrap();
        let error = check_catalog(&catalog).unwrap_err().to_string();
        assert!(
            error.contains("factor_class") && error.contains("mfa_factor_strength"),
            "{error}"
        );
    }

    fn levels(i: &MaturityInputs) -> Vec<u8> {
        assess(i).iter().map(|p| p.level).collect()
    }

    #[test]
    fn no_evidence_is_basic_everywhere() {
        let scores = assess(&MaturityInputs::default());
        assert_eq!(
            scores.iter().map(|p| p.level).collect::<Vec<_>>(),
            [1, 1, 1, 1]
        );
        assert!(scores.iter().all(|p| !p.next.is_empty()));
        assert_eq!(scores[0].evidence["phishing_resistant_share"], Value::Null);
    }

    #[test]
    fn thresholds_decide_each_level_at_their_edges() {
        let mut i = MaturityInputs {
            mfa_verified: 100,
            mfa_verified_phishing_resistant: 19,
            sensitive_sign_ins_with_mfa: 90,
            sensitive_sign_ins_without_mfa: 10,
            allowed_compliant: 10,
            allowed_managed: 69,
            allowed_unmanaged: 21,
            lateral_blocked: 69,
            lateral_allowed: 31,
            lateral_scans: 4,
            lateral_scans_contained: 4,
            sensitive_requests_behind_idp: 79,
            sensitive_requests_unauthenticated: 21,
            ..Default::default()
        };
        assert_eq!(levels(&i), [1, 1, 1, 1]);
        i.mfa_verified_phishing_resistant = 20;
        i.allowed_managed = 70;
        i.allowed_unmanaged = 20;
        i.lateral_blocked = 70;
        i.lateral_allowed = 30;
        i.sensitive_requests_behind_idp = 80;
        i.sensitive_requests_unauthenticated = 20;
        assert_eq!(levels(&i), [2, 2, 2, 2]);
        i.mfa_verified_phishing_resistant = 50;
        // Phishing-resistant enough for level 3, but one sign-in in ten skips MFA: level 2.
        assert_eq!(levels(&i)[0], 2);
        i.sensitive_sign_ins_without_mfa = 0;
        i.allowed_compliant = 98;
        i.allowed_managed = 0;
        i.allowed_unmanaged = 2;
        i.lateral_blocked = 95;
        i.lateral_allowed = 5;
        i.sensitive_requests_behind_idp = 100;
        i.sensitive_requests_unauthenticated = 0;
        assert_eq!(levels(&i), [3, 3, 3, 3]);
        let mature = assess(&i);
        assert!(
            mature
                .iter()
                .all(|p| p.next.is_empty() && p.level_name == "mature")
        );
        // One uncontained scan keeps the network pillar from level 3; leakage above 2% keeps
        // devices at 2.
        i.lateral_scans_contained = 3;
        i.allowed_compliant = 97;
        i.allowed_unmanaged = 3;
        assert_eq!(levels(&i), [3, 2, 2, 3]);
        // MFA coverage below 90% keeps identity basic however strong the factors, and says so.
        i.sensitive_sign_ins_without_mfa = 11;
        i.sensitive_sign_ins_with_mfa = 89;
        let identity = &assess(&i)[0];
        assert_eq!(identity.level, 1);
        assert!(
            identity.next.contains("90% of sign-ins"),
            "{}",
            identity.next
        );
        assert!(!identity.next.contains("phishing"), "{}", identity.next);
    }
}
