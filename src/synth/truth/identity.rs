//! Identity KPIs: MFA outcomes and factor strength, access decisions, privileged failures,
//! device posture of allowed access, sensitive sign-ins without MFA, service accounts and
//! policy exceptions.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{DAY_MS, Truth};
use crate::synth::company::MAX_CREDENTIAL_AGE_DAYS;

/// One row of MFA outcome counts; the failure rate is over decided steps (`null`: none).
fn outcome_row([s, f, c]: [u64; 3]) -> Value {
    let rate = if s + f == 0 {
        Value::Null
    } else {
        json!(f as f64 / (s + f) as f64)
    };
    json!({"success": s, "failure": f, "challenge": c, "failure_rate": rate})
}

impl Truth {
    pub(super) fn mfa_outcomes_by_country(&self) -> Vec<Value> {
        let mut by_country: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
        for ((country, _), counts) in &self.mfa {
            let e = by_country.entry(country).or_default();
            for i in 0..3 {
                e[i] += counts[i];
            }
        }
        by_country
            .iter()
            .map(|(country, counts)| {
                let mut row = outcome_row(*counts);
                row["country"] = json!(country);
                row
            })
            .collect()
    }

    pub(super) fn mfa_outcomes_by_city(&self) -> Vec<Value> {
        self.mfa
            .iter()
            .map(|((country, city), counts)| {
                let mut row = outcome_row(*counts);
                row["country"] = json!(country);
                row["city"] = json!(city);
                row
            })
            .collect()
    }

    pub(super) fn mfa_factor_strength(&self) -> Vec<Value> {
        let total_verified: u64 = self.mfa_factors.values().map(|[v, _]| v).sum();
        self.mfa_factors
            .iter()
            .map(|((source, class), [v, f])| {
                json!({"source": source, "factor_class": class, "verified": v, "failed": f,
                    "share": *v as f64 / total_verified as f64})
            })
            .collect()
    }

    pub(super) fn access_decisions(&self) -> Vec<Value> {
        let total: u64 = self.decisions.values().sum();
        self.decisions
            .iter()
            .map(|((source, decision), n)| {
                json!({"source": source, "decision": decision, "events": n, "share": *n as f64 / total as f64})
            })
            .collect()
    }

    pub(super) fn high_privilege_access_failures(&self) -> Vec<Value> {
        self.high_priv
            .iter()
            .map(|((source, target), n)| json!({"source": source, "target": target, "failures": n}))
            .collect()
    }

    pub(super) fn allowed_access_by_device_posture(&self) -> Vec<Value> {
        let total_allowed: u64 = self.allowed_posture.values().sum();
        self.allowed_posture
            .iter()
            .map(|((source, posture), n)| {
                json!({"source": source, "device_posture": posture, "allowed": n,
                    "share": *n as f64 / total_allowed as f64})
            })
            .collect()
    }

    pub(super) fn sensitive_app_sign_ins_without_mfa(&self) -> Vec<Value> {
        self.sensitive_sign_ins
            .iter()
            .map(|((source, app), [with, without])| {
                json!({"source": source, "app": app, "sign_ins": with + without, "with_mfa": with,
                    "without_mfa": without, "unknown": 0,
                    "without_mfa_share": *without as f64 / (with + without) as f64})
            })
            .collect()
    }

    pub(super) fn service_account_activity(&self) -> Vec<Value> {
        self.service_accounts
            .iter()
            .map(|(login, ([allowed, refused, interactive], networks))| {
                json!({"source": "okta", "account": login, "allowed": allowed, "refused": refused,
                    "interactive": interactive, "networks": networks.len()})
            })
            .collect()
    }

    /// Service-account hygiene at `to_ms`, from the inventory and the generator's own sign-in
    /// and rotation records: dormant after 30 days without an allowed sign-in; overdue when the
    /// latest rotation (declared or logged) is older than the account's limit, unknown, or the
    /// account is not inventoried.
    pub(super) fn service_account_hygiene(&self, to_ms: i64) -> Vec<Value> {
        let mut logins: BTreeSet<String> = self
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
    pub(super) fn policy_exceptions(&self, from_ms: i64, to_ms: i64) -> Vec<Value> {
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
