//! The policy what-if story: a candidate policy and a baseline the generator writes beside the
//! logs, and what each rule would have refused, computed from the sign-ins and flows the
//! generator meant (never from SQL).
//!
//! The candidate requires MFA for payroll (Workday is not challenged today, so every payroll
//! sign-in without a factor earlier in its session breaks), forbids interactive service-account
//! sessions on the CRM (svc-reporting's hourly export through Okta is such a session: the
//! scheduled job that breaks), and lets the corp network reach Azure workloads on 443 only (the
//! administrators' SSH breaks). The baseline requires MFA for payroll and a managed device for
//! the wiki; the candidate drops the wiki rule, so its refusals are what it removes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::Truth;

/// The candidate policy file (`whatif-candidate.toml`).
pub const CANDIDATE: &str = r#"# A candidate policy for the synthetic company, written by `ztlens gen`.
# Evaluate it with: ztlens whatif whatif-candidate.toml --baseline whatif-baseline.toml
name = "Stricter payroll, CRM and Azure access"
description = "MFA for payroll, no interactive service-account sessions on the CRM, HTTPS only from corp to Azure"

[[app_rule]]
id = "payroll-mfa"
apps = ["payroll"]
require = ["mfa"]

[[app_rule]]
id = "crm-no-service-sessions"
apps = ["crm"]
deny_service_account_interactive = true

[[segment_rule]]
id = "corp-to-azure-https-only"
from = "corp"
to = "azure"
allow_ports = [443]
"#;

/// The baseline policy file (`whatif-baseline.toml`).
pub const BASELINE: &str = r#"# The policy in force today for the synthetic company, written by `ztlens gen`.
name = "Current"

[[app_rule]]
id = "payroll-mfa"
apps = ["payroll"]
require = ["mfa"]

[[app_rule]]
id = "wiki-managed-devices"
apps = ["wiki"]
require = ["managed_device"]
"#;

/// An allowed sign-in to a site application, as its source records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSignIn {
    /// The identity provider that recorded it (its format name).
    pub source: &'static str,
    /// The site application id (`[site.apps]`).
    pub app: &'static str,
    /// The login before the `@`, lower case (the `identity` of the views).
    pub identity: String,
    pub service_account: bool,
    /// A factor was verified in the session before the sign-in.
    pub mfa: bool,
    /// The device is managed, where the source states it.
    pub device_managed: Option<bool>,
    /// The source reports an interactive session.
    pub interactive: bool,
    pub time_ms: i64,
}

/// A flow between two segments that the enforcement point allowed, once per record that
/// states the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedFlow {
    pub segment_src: String,
    pub segment_dst: String,
    pub src: String,
    pub port: u16,
    pub time_ms: i64,
}

/// An allowed sign-in that an observe-mode policy evaluated, as its source records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSignIn {
    pub source: &'static str,
    /// The site application id, else the app as the source names it.
    pub app: String,
    pub identity: String,
    pub service_account: bool,
    /// The would-be decision (`allow` when the observe-mode policies let it through).
    pub would_be: &'static str,
    pub policy: &'static str,
}

/// What a rule refuses: one key per refused event (its index in the fact lists), with the
/// identity, its kind and the target.
type Refusals = BTreeMap<(char, usize), (String, &'static str, String)>;

/// The rules of the two policies, evaluated over the facts. `None` for a rule the data does
/// not decide for every event (none of these rules meets such an event).
fn refusals(truth: &Truth, rule: &str) -> Refusals {
    let mut out = Refusals::new();
    for (i, s) in truth.app_sign_ins.iter().enumerate() {
        let refused = match rule {
            "payroll-mfa" => s.app == "payroll" && !s.mfa,
            "crm-no-service-sessions" => s.app == "crm" && s.service_account && s.interactive,
            "wiki-managed-devices" => s.app == "wiki" && s.device_managed == Some(false),
            _ => false,
        };
        if refused {
            let kind = if s.service_account {
                "service_account"
            } else {
                "user"
            };
            out.insert(('a', i), (s.identity.clone(), kind, s.app.to_string()));
        }
    }
    if rule == "corp-to-azure-https-only" {
        for (i, f) in truth.allowed_flows.iter().enumerate() {
            if f.segment_src == "corp" && f.segment_dst == "azure" && f.port != 443 {
                out.insert(
                    ('f', i),
                    (f.src.clone(), "workload", format!("azure:{}", f.port)),
                );
            }
        }
    }
    out
}

fn identities(refused: &Refusals, kind: &str) -> usize {
    refused
        .values()
        .filter(|(_, k, _)| *k == kind)
        .map(|(identity, _, _)| identity)
        .collect::<BTreeSet<_>>()
        .len()
}

impl Truth {
    /// The access-path map's identity-provider paths to the sensitive apps: per app, identity
    /// and `idp:<source>`, the allowed sign-ins; and the allowed flows between the company's
    /// segments per (source segment, destination segment, port).
    pub(super) fn access_paths(&self) -> Value {
        let mut paths: BTreeMap<(&str, &str, String), u64> = BTreeMap::new();
        for s in self
            .app_sign_ins
            .iter()
            .filter(|s| matches!(s.app, "payroll" | "crm"))
        {
            *paths
                .entry((s.app, s.identity.as_str(), format!("idp:{}", s.source)))
                .or_default() += 1;
        }
        let mut edges: BTreeMap<(&str, &str, u16), u64> = BTreeMap::new();
        for f in &self.allowed_flows {
            *edges
                .entry((f.segment_src.as_str(), f.segment_dst.as_str(), f.port))
                .or_default() += 1;
        }
        json!({
            "idp_paths": paths.into_iter().map(|((app, identity, front_end), n)| {
                json!({"app": app, "identity": identity, "front_end": front_end, "requests": n})
            }).collect::<Vec<_>>(),
            "service_edges": edges.into_iter().map(|((src, dst, port), n)| {
                // A segment with a talks_to list may reach itself and what it lists; one
                // without a list is not judged.
                let talks_to = crate::synth::company::TALKS_TO;
                let expected = talks_to.iter().any(|(from, _)| *from == src).then(|| {
                    src == dst || talks_to.contains(&(src, dst))
                });
                json!({"src": src, "dst": dst, "port": port, "flows": n, "expected": expected})
            }).collect::<Vec<_>>(),
        })
    }

    /// The `would_be_denials` KPI: per (source, policy, app, identity kind), the allowed
    /// requests an observe-mode policy would have refused or challenged, the identities it
    /// would have refused, and of those the ones left with no request to the app (in that
    /// source) that the observe-mode policies let through.
    pub(super) fn would_be_denials(&self) -> Vec<Value> {
        let denies = |d: &str| d.starts_with("deny_");
        // (source, identity, app) with a request the observe-mode policies let through.
        let paths: BTreeSet<(&str, &str, &str)> = self
            .observed
            .iter()
            .filter(|o| !denies(o.would_be))
            .map(|o| (o.source, o.identity.as_str(), o.app.as_str()))
            .collect();
        /// (source, policy, app, identity kind)
        type Key<'a> = (&'a str, &'a str, &'a str, &'static str);
        /// would-deny and would-challenge requests, identities refused, those without a path
        type Counts<'a> = (u64, u64, BTreeSet<&'a str>, BTreeSet<&'a str>);
        let mut groups: BTreeMap<Key<'_>, Counts<'_>> = BTreeMap::new();
        for o in self.observed.iter().filter(|o| o.would_be != "allow") {
            let kind = if o.service_account {
                "service_account"
            } else {
                "user"
            };
            let g = groups
                .entry((o.source, o.policy, o.app.as_str(), kind))
                .or_default();
            if denies(o.would_be) {
                g.0 += 1;
                g.2.insert(&o.identity);
                if !paths.contains(&(o.source, o.identity.as_str(), o.app.as_str())) {
                    g.3.insert(&o.identity);
                }
            } else {
                g.1 += 1;
            }
        }
        groups
            .into_iter()
            .map(
                |((source, policy, app, kind), (deny, challenge, ids, stranded))| {
                    json!({"source": source, "policy": policy, "app": app, "identity_kind": kind,
                    "would_deny": deny, "would_challenge": challenge,
                    "identities": ids.len(), "without_other_path": stranded.len()})
                },
            )
            .collect()
    }

    /// Per candidate rule: refused events, identities by kind, the workflows that break
    /// outright (identity and target with no request left) and the busiest workflow; and the
    /// comparison with the baseline.
    pub(super) fn whatif(&self) -> Value {
        let mut rules = serde_json::Map::new();
        for rule in [
            "payroll-mfa",
            "crm-no-service-sessions",
            "corp-to-azure-https-only",
        ] {
            let refused = refusals(self, rule);
            // Every request of an (identity, target) pair the rule looks at, to find the
            // pairs left with none.
            let mut looked_at: BTreeMap<(String, String), usize> = BTreeMap::new();
            for s in &self.app_sign_ins {
                let in_scope = match rule {
                    "payroll-mfa" => s.app == "payroll",
                    "crm-no-service-sessions" => s.app == "crm",
                    _ => false,
                };
                if in_scope {
                    *looked_at
                        .entry((s.identity.clone(), s.app.to_string()))
                        .or_default() += 1;
                }
            }
            for f in &self.allowed_flows {
                if rule == "corp-to-azure-https-only"
                    && f.segment_src == "corp"
                    && f.segment_dst == "azure"
                {
                    *looked_at
                        .entry((f.src.clone(), format!("azure:{}", f.port)))
                        .or_default() += 1;
                }
            }
            let mut per_workflow: BTreeMap<(String, String), (usize, BTreeSet<i64>)> =
                BTreeMap::new();
            for ((table, i), (identity, _, target)) in &refused {
                let time = if *table == 'a' {
                    self.app_sign_ins[*i].time_ms
                } else {
                    self.allowed_flows[*i].time_ms
                };
                let entry = per_workflow
                    .entry((identity.clone(), target.clone()))
                    .or_default();
                entry.0 += 1;
                entry.1.insert(time.div_euclid(3_600_000));
            }
            let broken = per_workflow
                .iter()
                .filter(|(key, (n, _))| looked_at.get(*key) == Some(n))
                .count();
            // The busiest workflow (ties: the first identity and target in order).
            let top = per_workflow
                .iter()
                .max_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.0.cmp(a.0)))
                .map(|((identity, target), (n, hours))| {
                    json!({"identity": identity, "target": target, "refused": n, "active_hours": hours.len()})
                });
            rules.insert(
                rule.to_string(),
                json!({
                    "refused": refused.len(),
                    "users": identities(&refused, "user"),
                    "service_accounts": identities(&refused, "service_account"),
                    "workloads": identities(&refused, "workload"),
                    "broken_workflows": broken,
                    "top_workflow": top,
                }),
            );
        }
        let candidate: Refusals = [
            "payroll-mfa",
            "crm-no-service-sessions",
            "corp-to-azure-https-only",
        ]
        .iter()
        .flat_map(|r| refusals(self, r))
        .collect();
        let baseline: Refusals = ["payroll-mfa", "wiki-managed-devices"]
            .iter()
            .flat_map(|r| refusals(self, r))
            .collect();
        let change = |left: &Refusals, right: &Refusals| {
            let only: Refusals = left
                .iter()
                .filter(|(k, _)| !right.contains_key(k))
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            json!({
                "requests": only.len(),
                "users": identities(&only, "user"),
                "service_accounts": identities(&only, "service_account"),
                "workloads": identities(&only, "workload"),
            })
        };
        json!({
            "rules": rules,
            "comparison": {
                "added": change(&candidate, &baseline),
                "removed": change(&baseline, &candidate),
            }
        })
    }
}
