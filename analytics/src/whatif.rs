//! Policy what-if: "what if we had enforced this policy over the last 30 days?"
//!
//! A candidate policy is a small TOML file a program owner writes in their own terms
//! ([`CandidatePolicy`]): app rules (require MFA, a phishing-resistant factor, a managed or
//! compliant device; allow only listed countries or networks; deny interactive use by service
//! accounts) and segment rules (allow only listed ports between two network segments). Each
//! rule compiles to one SQL statement over the normalized tables and views — app rules over
//! the view `app_sign_ins` (allowed sign-ins to site apps), segment rules over
//! `network_activity` rows a policy allowed — that labels every request the rule looks at
//! `refused` (a condition the data shows failing), `unknown` (the data does not say, e.g. a
//! source that reports no device state: never counted as refused) or `allowed`. The report
//! evaluates all the rules of a policy in one statement — one pass over the app sign-ins and
//! one over the flows, however many rules — and a comparison evaluates both policies in one
//! more; a rule alone is evaluated only for its evidence. The statements run through the
//! read-only guard with the engine's limits, like a KPI.
//!
//! Invariants: values from the file reach SQL only after validation (app ids and segments
//! from `[site]`, ISO country codes, parsed networks and ports) and are quoted; a rule's
//! report counts distinct events, so redelivered records count once; the evidence is paged
//! like KPI evidence.
//!
//! Imports: `error`, `engine`, `time_range`, `output`, and the site config from ztlens-ingest.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ztlens_ingest::SiteConfig;

use crate::AnalyticsError;
use crate::engine::Engine;
use crate::output::QueryOutput;
use crate::time_range::TimeRange;

/// Largest policy file accepted.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Most rules in one policy (the report evaluates them all in one statement that grows with
/// them).
pub const MAX_RULES: usize = 16;
/// Most workflows listed per rule.
pub const TOP_WORKFLOWS: usize = 10;
/// The columns of a workflow row (`RuleReport::top_workflows`), in order.
pub const WORKFLOW_COLUMNS: [&str; 11] = [
    "identity",
    "identity_kind",
    "target",
    "refused",
    "still_allowed",
    "unknown",
    "breaks",
    "active_hours",
    "first_seen",
    "last_seen",
    "refused_by",
];
/// How far before the range sign-in sessions are read, so an MFA verified before the range
/// still protects a sign-in in it (as the sensitive-app KPI reads them).
pub const SESSION_LOOKBACK_MS: i64 = 86_400_000;

/// A candidate policy: what a program owner would like to enforce.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CandidatePolicy {
    /// Name shown in reports.
    pub name: String,
    /// What the policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Rules about sign-ins to site applications.
    #[serde(default, rename = "app_rule", skip_serializing_if = "Vec::is_empty")]
    pub app_rules: Vec<AppRule>,
    /// Rules about traffic between network segments.
    #[serde(
        default,
        rename = "segment_rule",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub segment_rules: Vec<SegmentRule>,
}

/// Conditions every allowed sign-in to the listed apps must meet; a sign-in failing any of
/// them would have been refused.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppRule {
    /// Rule id (letters, digits, `-`, `_`), unique in the policy.
    pub id: String,
    /// Site application ids (`[[site.apps]] id`) the rule applies to.
    pub apps: Vec<String>,
    /// Controls the sign-in must have passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<Control>,
    /// Only sign-ins from these countries (ISO 3166-1 alpha-2 codes) are allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_countries: Vec<String>,
    /// Only sign-ins from these networks (CIDR) are allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_networks: Vec<String>,
    /// Service accounts may not sign in interactively (a session, as a person would).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deny_service_account_interactive: bool,
}

/// A control an app rule can require.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// A second factor verified in the sign-in or earlier in its session.
    Mfa,
    /// A phishing-resistant factor (FIDO2/WebAuthn, platform keys, certificates).
    PhishingResistantMfa,
    /// A device the organization manages.
    ManagedDevice,
    /// A device compliant with the organization's policy.
    CompliantDevice,
}

impl Control {
    fn name(self) -> &'static str {
        match self {
            Control::Mfa => "mfa",
            Control::PhishingResistantMfa => "phishing_resistant_mfa",
            Control::ManagedDevice => "managed_device",
            Control::CompliantDevice => "compliant_device",
        }
    }

    /// (fails, unknown) predicates over `app_sign_ins`.
    fn predicates(self) -> (&'static str, &'static str) {
        match self {
            Control::Mfa => ("mfa = 'without'", "mfa = 'unknown'"),
            Control::PhishingResistantMfa => (
                "mfa = 'without' OR mfa_strength = 'other'",
                "mfa = 'unknown' OR mfa_strength = 'unknown'",
            ),
            Control::ManagedDevice => ("device_is_managed = false", "device_is_managed IS NULL"),
            Control::CompliantDevice => {
                ("device_is_compliant = false", "device_is_compliant IS NULL")
            }
        }
    }
}

/// Traffic from one segment to another may use only the listed ports; allowed flows on any
/// other port would have been refused.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    /// Rule id (letters, digits, `-`, `_`), unique in the policy.
    pub id: String,
    /// Source segment (`[[site.segments]] name`, or `external`).
    pub from: String,
    /// Destination segment.
    pub to: String,
    /// Destination ports allowed (empty: nothing may pass).
    pub allow_ports: Vec<u16>,
}

/// Why a policy file was refused.
fn invalid(reason: impl Into<String>) -> AnalyticsError {
    AnalyticsError::InvalidPolicy(reason.into())
}

impl CandidatePolicy {
    /// Parse and validate a policy file against the site.
    pub fn parse(text: &str, site: &SiteConfig) -> Result<Self, AnalyticsError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(invalid(format!(
                "the policy is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
                text.len()
            )));
        }
        let policy: CandidatePolicy =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        policy.validate(site)?;
        Ok(policy)
    }

    /// Check the policy against the site: known apps and segments, well-formed values, unique
    /// ids, no rule without a condition and no two rules that contradict each other.
    pub fn validate(&self, site: &SiteConfig) -> Result<(), AnalyticsError> {
        if self.name.trim().is_empty() {
            return Err(invalid("name must not be empty"));
        }
        let rules = self.app_rules.len() + self.segment_rules.len();
        if rules == 0 {
            return Err(invalid(
                "the policy has no rule ([[app_rule]] or [[segment_rule]])",
            ));
        }
        if rules > MAX_RULES {
            return Err(invalid(format!(
                "the policy has {rules} rules; at most {MAX_RULES} are evaluated at once"
            )));
        }
        let mut ids = BTreeSet::new();
        for id in self
            .app_rules
            .iter()
            .map(|r| &r.id)
            .chain(self.segment_rules.iter().map(|r| &r.id))
        {
            let well_formed = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !well_formed {
                return Err(invalid(format!(
                    "rule id {id:?}: use 1 to 64 letters, digits, '-' or '_'"
                )));
            }
            if !ids.insert(id.as_str()) {
                return Err(invalid(format!("rule id {id:?} is used twice")));
            }
        }
        let known_apps: Vec<&str> = site.apps.iter().map(|a| a.id.as_str()).collect();
        // app → (rule with allow_countries, rule with allow_networks)
        let mut lists: BTreeMap<&str, (Option<&str>, Option<&str>)> = BTreeMap::new();
        for rule in &self.app_rules {
            let id = &rule.id;
            if rule.apps.is_empty() {
                return Err(invalid(format!(
                    "rule {id}: apps must name at least one app"
                )));
            }
            for app in &rule.apps {
                if !known_apps.contains(&app.as_str()) {
                    return Err(invalid(format!(
                        "rule {id}: unknown app {app:?}; the site's apps are: {}",
                        known_apps.join(", ")
                    )));
                }
            }
            if rule.require.is_empty()
                && rule.allow_countries.is_empty()
                && rule.allow_networks.is_empty()
                && !rule.deny_service_account_interactive
            {
                return Err(invalid(format!(
                    "rule {id} has no condition: set require, allow_countries, allow_networks or deny_service_account_interactive"
                )));
            }
            for country in &rule.allow_countries {
                if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
                    return Err(invalid(format!(
                        "rule {id}: country {country:?} is not an ISO 3166-1 alpha-2 code in capitals (DE, US)"
                    )));
                }
            }
            if !rule.allow_networks.is_empty() {
                crate::functions::parse_networks(&rule.allow_networks.join(","))
                    .map_err(|e| invalid(format!("rule {id}: {e}")))?;
            }
            for app in &rule.apps {
                let entry = lists.entry(app.as_str()).or_default();
                for (set, slot, what) in [
                    (
                        !rule.allow_countries.is_empty(),
                        &mut entry.0,
                        "allow_countries",
                    ),
                    (
                        !rule.allow_networks.is_empty(),
                        &mut entry.1,
                        "allow_networks",
                    ),
                ] {
                    if !set {
                        continue;
                    }
                    if let Some(other) = slot {
                        return Err(invalid(format!(
                            "rules {other} and {id} conflict: both set {what} for app {app}; write one list"
                        )));
                    }
                    *slot = Some(id.as_str());
                }
            }
        }
        let mut segments: Vec<&str> = site.segments.iter().map(|s| s.name.as_str()).collect();
        segments.push("external");
        let mut pairs: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for rule in &self.segment_rules {
            let id = &rule.id;
            for segment in [&rule.from, &rule.to] {
                if !segments.contains(&segment.as_str()) {
                    return Err(invalid(format!(
                        "rule {id}: unknown segment {segment:?}; the site's segments are: {}",
                        segments.join(", ")
                    )));
                }
            }
            if let Some(other) = pairs.insert((&rule.from, &rule.to), id) {
                return Err(invalid(format!(
                    "rules {other} and {id} conflict: both set the ports from {} to {}; write one list",
                    rule.from, rule.to
                )));
            }
        }
        Ok(())
    }

    /// Each rule as the statement that labels the requests it looks at.
    pub fn compile(&self) -> Vec<CompiledRule> {
        let mut out: Vec<CompiledRule> = self.app_rules.iter().map(compile_app_rule).collect();
        out.extend(self.segment_rules.iter().map(compile_segment_rule));
        out
    }
}

/// A rule as SQL. `evaluated` selects, for every request the rule looks at in the range, the
/// common columns (time, source, event_table, metadata_uid, identity, identity_kind, target,
/// session_uid, device, network, refused_by, unknown_for, outcome) and the rule's own: the
/// rule alone, for its evidence. The report evaluates every rule of a policy in one statement
/// (see [`policy_statement`]) from `scope`, `refused_by` and `unknown_for`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompiledRule {
    pub id: String,
    /// `app` or `segment`.
    pub kind: &'static str,
    /// The rule in words.
    pub description: String,
    #[serde(skip)]
    pub evaluated: String,
    /// Which rows of the rule's source (`APP_ROWS` or `FLOW_ROWS`) the rule looks at.
    #[serde(skip)]
    scope: String,
    /// The conditions a row fails, comma-separated; NULL when it passes them all.
    #[serde(skip)]
    refused_by: String,
    /// The conditions the data cannot decide for a row; NULL when it can decide them all.
    #[serde(skip)]
    unknown_for: String,
}

/// The sign-ins app rules look at: allowed sign-ins to site apps in the range, with the
/// common columns and the ones app-rule conditions read.
const APP_ROWS: &str = "SELECT time, source, 'authentication' AS event_table, metadata_uid, identity, \
     CASE WHEN is_service_account THEN 'service_account' ELSE 'user' END AS identity_kind, \
     app AS target, session_uid, device_uid AS device, network, \
     user_name, service_name, src_endpoint_ip, country, mfa, mfa_strength, device_is_managed, \
     device_is_compliant, is_interactive, is_service_account, app \
     FROM app_sign_ins CROSS JOIN kpi_range WHERE time >= range_from";

/// The flows segment rules look at: flows a policy allowed in the range, with the common
/// columns and the ones segment-rule conditions read.
const FLOW_ROWS: &str = "SELECT time, metadata_product_name AS source, 'network_activity' AS event_table, metadata_uid, \
     src_endpoint_ip AS identity, 'workload' AS identity_kind, \
     concat(zt_segment_dst, ':', CAST(dst_endpoint_port AS VARCHAR)) AS target, \
     CAST(NULL AS VARCHAR) AS session_uid, src_endpoint_ip AS device, \
     CASE WHEN src_endpoint_ip LIKE '%.%.%.%' THEN regexp_replace(src_endpoint_ip, '\\.[0-9]+$', '.0/24') ELSE src_endpoint_ip END AS network, \
     dst_endpoint_ip, dst_endpoint_port, connection_info_protocol_name AS protocol, zt_segment_src, zt_segment_dst \
     FROM network_activity CROSS JOIN kpi_range WHERE time >= range_from AND action_id = 1";

/// The columns every evaluated row has, in order.
const COMMON_COLUMNS: &str = "time, source, event_table, metadata_uid, identity, identity_kind, target, \
     session_uid, device, network";

const OUTCOME: &str = "CASE WHEN refused_by IS NOT NULL THEN 'refused' WHEN unknown_for IS NOT NULL THEN 'unknown' ELSE 'allowed' END AS outcome";

impl CompiledRule {
    fn new(
        id: &str,
        kind: &'static str,
        description: String,
        scope: String,
        refused_by: String,
        unknown_for: String,
    ) -> Self {
        let (rows, own_columns) = if kind == "app" {
            (
                APP_ROWS,
                "user_name, service_name, src_endpoint_ip, country, mfa, mfa_strength, \
                 device_is_managed, device_is_compliant, is_interactive",
            )
        } else {
            (FLOW_ROWS, "dst_endpoint_ip, dst_endpoint_port, protocol")
        };
        let evaluated = format!(
            "SELECT *, {OUTCOME} FROM (SELECT {COMMON_COLUMNS}, {refused_by} AS refused_by, \
             {unknown_for} AS unknown_for, {own_columns} FROM ({rows}) WHERE {scope})"
        );
        CompiledRule {
            id: id.to_string(),
            kind,
            description,
            evaluated,
            scope,
            refused_by,
            unknown_for,
        }
    }
}

/// One statement evaluating every rule in `rules` (each under its tag): one pass over the
/// app sign-ins for all app rules and one over the flows for all segment rules, whatever the
/// number of rules. Columns: rule (the tag), the common columns, refused_by, unknown_for,
/// outcome. A request appears once per app rule that looks at it; segment rules never share
/// a request (validation refuses two rules for one segment pair).
fn policy_statement(rules: &[(String, &CompiledRule)]) -> String {
    let case = |rules: &[&(String, &CompiledRule)], pick: fn(&CompiledRule) -> &str| {
        let arms: Vec<String> = rules
            .iter()
            .map(|(tag, r)| format!("WHEN {} THEN {}", quote(tag), pick(r)))
            .collect();
        format!("CASE rule {} END", arms.join(" "))
    };
    let mut branches = Vec::new();
    let app: Vec<&(String, &CompiledRule)> =
        rules.iter().filter(|(_, r)| r.kind == "app").collect();
    if !app.is_empty() {
        // The tags of the rules looking at a sign-in, one row per tag: tags are rule ids
        // (letters, digits, `-`, `_`) with a prefix ending in `:`, so never a comma.
        let tags: Vec<String> = app
            .iter()
            .map(|(tag, r)| format!("CASE WHEN {} THEN {} END", r.scope, quote(tag)))
            .collect();
        branches.push(format!(
            "SELECT rule, {COMMON_COLUMNS}, {refused} AS refused_by, {unknown} AS unknown_for \
             FROM (SELECT unnest(string_to_array(concat_ws(',', {tags}), ',')) AS rule, * \
             FROM ({APP_ROWS}) WHERE {any})",
            refused = case(&app, |r| &r.refused_by),
            unknown = case(&app, |r| &r.unknown_for),
            tags = tags.join(", "),
            any = any_scope(&app),
        ));
    }
    let segment: Vec<&(String, &CompiledRule)> =
        rules.iter().filter(|(_, r)| r.kind == "segment").collect();
    if !segment.is_empty() {
        let which: Vec<String> = segment
            .iter()
            .map(|(tag, r)| format!("WHEN {} THEN {}", r.scope, quote(tag)))
            .collect();
        branches.push(format!(
            "SELECT rule, {COMMON_COLUMNS}, {refused} AS refused_by, {unknown} AS unknown_for \
             FROM (SELECT *, CASE {which} END AS rule FROM ({FLOW_ROWS}) WHERE {any})",
            any = any_scope(&segment),
            which = which.join(" "),
            refused = case(&segment, |r| &r.refused_by),
            unknown = case(&segment, |r| &r.unknown_for),
        ));
    }
    format!(
        "SELECT *, {OUTCOME} FROM ({})",
        branches.join(" UNION ALL ")
    )
}

/// Rows any of `rules` looks at: a filter the scan can use (partition and row-group pruning).
fn any_scope(rules: &[&(String, &CompiledRule)]) -> String {
    rules
        .iter()
        .map(|(_, r)| format!("({})", r.scope))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// A SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn quoted_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items
        .into_iter()
        .map(|s| quote(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn compile_app_rule(rule: &AppRule) -> CompiledRule {
    // (label, fails, unknown) per condition.
    let mut conditions: Vec<(String, String, String)> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut controls = rule.require.clone();
    controls.sort();
    controls.dedup();
    for control in controls {
        let (fails, unknown) = control.predicates();
        conditions.push((control.name().into(), fails.into(), unknown.into()));
        words.push(format!("require {}", control.name().replace('_', " ")));
    }
    if !rule.allow_countries.is_empty() {
        let list = quoted_list(&rule.allow_countries);
        conditions.push((
            "country".into(),
            format!("country NOT IN ({list})"),
            "country IS NULL".into(),
        ));
        words.push(format!(
            "allow only from {}",
            rule.allow_countries.join(", ")
        ));
    }
    if !rule.allow_networks.is_empty() {
        let networks = quote(&rule.allow_networks.join(","));
        conditions.push((
            "network".into(),
            format!("NOT ip_in_cidr(src_endpoint_ip, {networks})"),
            format!("ip_in_cidr(src_endpoint_ip, {networks}) IS NULL"),
        ));
        words.push(format!(
            "allow only from {}",
            rule.allow_networks.join(", ")
        ));
    }
    if rule.deny_service_account_interactive {
        conditions.push((
            "service_account_interactive".into(),
            "is_service_account AND is_interactive".into(),
            "is_service_account AND is_interactive IS NULL".into(),
        ));
        words.push("deny interactive sign-ins of service accounts".into());
    }
    let labels = |which: usize| {
        let parts: Vec<String> = conditions
            .iter()
            .map(|c| {
                let predicate = if which == 0 { &c.1 } else { &c.2 };
                format!("CASE WHEN {predicate} THEN '{}' END", c.0)
            })
            .collect();
        format!("NULLIF(concat_ws(',', {}), '')", parts.join(", "))
    };
    CompiledRule::new(
        &rule.id,
        "app",
        format!("{}: {}", rule.apps.join(", "), words.join("; ")),
        format!("app IN ({})", quoted_list(&rule.apps)),
        labels(0),
        labels(1),
    )
}

fn compile_segment_rule(rule: &SegmentRule) -> CompiledRule {
    let ports: Vec<String> = rule.allow_ports.iter().map(u16::to_string).collect();
    let fails = if ports.is_empty() {
        "true".to_string()
    } else {
        format!(
            "dst_endpoint_port IS NOT NULL AND dst_endpoint_port NOT IN ({})",
            ports.join(", ")
        )
    };
    let unknown = if ports.is_empty() {
        "false"
    } else {
        "dst_endpoint_port IS NULL"
    };
    let allowed = if ports.is_empty() {
        "nothing".to_string()
    } else {
        format!("only port(s) {}", ports.join(", "))
    };
    CompiledRule::new(
        &rule.id,
        "segment",
        format!("{} → {}: allow {allowed}", rule.from, rule.to),
        format!(
            "zt_segment_src = {} AND zt_segment_dst = {}",
            quote(&rule.from),
            quote(&rule.to)
        ),
        format!("CASE WHEN {fails} THEN 'port' END"),
        format!("CASE WHEN {unknown} THEN 'port' END"),
    )
}

/// What one rule would have refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleReport {
    pub id: String,
    pub kind: &'static str,
    pub description: String,
    /// Requests (sign-ins or flows) the rule looked at.
    pub evaluated: i64,
    /// Requests it would have refused.
    pub refused: i64,
    /// Requests the data cannot decide (the source does not state what the rule needs).
    pub unknown: i64,
    /// Distinct sessions with a refused sign-in.
    pub sessions: i64,
    /// Distinct people, service accounts, workloads (flow sources), devices and source
    /// networks with a refused request.
    pub users: i64,
    pub service_accounts: i64,
    pub workloads: i64,
    pub devices: i64,
    pub networks: i64,
    /// (identity, target) pairs whose every request in the range would have been refused:
    /// the workflows that break outright.
    pub broken_workflows: i64,
    /// The workflows with the most refused requests.
    pub top_workflows: Vec<serde_json::Map<String, Value>>,
}

/// A policy's what-if over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfReport {
    pub policy: String,
    pub from: String,
    pub to: String,
    pub rules: Vec<RuleReport>,
    /// Against a baseline policy: what the candidate refuses that the baseline does not
    /// (`added`) and the other way round (`removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

/// The difference between a candidate and a baseline policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub added: ChangeCounts,
    pub removed: ChangeCounts,
}

/// Requests and identities one policy refuses and the other does not.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChangeCounts {
    pub requests: i64,
    pub users: i64,
    pub service_accounts: i64,
    pub workloads: i64,
}

fn int(row: &serde_json::Map<String, Value>, column: &str) -> i64 {
    row.get(column).and_then(Value::as_i64).unwrap_or(0)
}

fn first_row(output: &QueryOutput) -> Result<serde_json::Map<String, Value>, AnalyticsError> {
    Ok(output.json_rows()?.into_iter().next().unwrap_or_default())
}

/// The request and identity counts of one side (`added` or `removed`) of a comparison: the
/// rows where `condition` holds, counted once per event.
fn change_counts(side: &str, condition: &str) -> String {
    format!(
        "COUNT(DISTINCT CASE WHEN {condition} THEN concat(event_table, '/', metadata_uid) END) AS {side}_requests, \
         COUNT(DISTINCT CASE WHEN {condition} AND identity_kind = 'user' THEN identity END) AS {side}_users, \
         COUNT(DISTINCT CASE WHEN {condition} AND identity_kind = 'service_account' THEN identity END) AS {side}_service_accounts, \
         COUNT(DISTINCT CASE WHEN {condition} AND identity_kind = 'workload' THEN identity END) AS {side}_workloads"
    )
}

/// Per request any rule of either policy looks at: whether the candidate (`by_candidate`) and
/// the baseline (`by_baseline`) would refuse it — one statement per source the rules read (the
/// sign-ins, the flows), one row per stored record. Columns: event_table, metadata_uid,
/// identity, identity_kind, by_candidate, by_baseline.
fn refusal_flags(candidate: &[CompiledRule], baseline: &[CompiledRule]) -> Vec<String> {
    let refuses = |rules: &[CompiledRule], kind: &str| {
        let arms: Vec<String> = rules
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| format!("(({}) AND ({}) IS NOT NULL)", r.scope, r.refused_by))
            .collect();
        if arms.is_empty() {
            "false".to_string()
        } else {
            format!("COALESCE({}, false)", arms.join(" OR "))
        }
    };
    let mut branches = Vec::new();
    for (kind, rows) in [("app", APP_ROWS), ("segment", FLOW_ROWS)] {
        let scopes: Vec<String> = candidate
            .iter()
            .chain(baseline)
            .filter(|r| r.kind == kind)
            .map(|r| format!("({})", r.scope))
            .collect();
        if scopes.is_empty() {
            continue;
        }
        branches.push(format!(
            "SELECT event_table, metadata_uid, identity, identity_kind, \
             {c} AS by_candidate, {b} AS by_baseline FROM ({rows}) WHERE {any}",
            c = refuses(candidate, kind),
            b = refuses(baseline, kind),
            any = scopes.join(" OR "),
        ));
    }
    branches
}

impl Engine {
    /// What `policy` would have refused over `range`, rule by rule, and — with a baseline —
    /// what it adds and removes compared with it.
    pub async fn what_if(
        &self,
        policy: &CandidatePolicy,
        baseline: Option<&CandidatePolicy>,
        range: TimeRange,
    ) -> Result<WhatIfReport, AnalyticsError> {
        let rules = self.rule_reports(policy.compile(), range).await?;
        let comparison = match baseline {
            Some(base) => Some(self.compare(policy, base, range).await?),
            None => None,
        };
        Ok(WhatIfReport {
            policy: policy.name.clone(),
            from: crate::time_range::format_ms(range.from_ms()),
            to: crate::time_range::format_ms(range.to_ms()),
            rules,
            comparison,
        })
    }

    /// Every rule's counts and top workflows from one statement. Each evaluated row is
    /// aggregated at three levels: the rule (distinct sessions, devices, networks), the identity
    /// (did it lose anything) and the workflow (identity, identity kind, target: distinct
    /// requests per outcome). Request ids are held once, at the workflow level — a request has
    /// one workflow and one outcome, so the rule's totals are sums over its workflows — which
    /// keeps a month of refused flows inside the memory pool.
    async fn rule_reports(
        &self,
        rules: Vec<CompiledRule>,
        range: TimeRange,
    ) -> Result<Vec<RuleReport>, AnalyticsError> {
        let tagged: Vec<(String, &CompiledRule)> =
            rules.iter().map(|r| (r.id.clone(), r)).collect();
        let per_rule = "OVER (PARTITION BY rule)";
        let identities = |kind: &str| {
            format!(
                "SUM(CASE WHEN level = 1 AND identity IS NOT NULL AND identity_refused = 1 AND identity_kind = '{kind}' THEN 1 ELSE 0 END) {per_rule}"
            )
        };
        let sql = format!(
            "WITH r AS ({evaluated}), levels AS (SELECT *, unnest(make_array(0, 1, 2)) AS level FROM r), \
             g AS (SELECT rule, level, \
             CASE WHEN level > 0 THEN identity END AS identity, \
             CASE WHEN level > 0 THEN identity_kind END AS identity_kind, \
             CASE WHEN level = 2 THEN target END AS target, \
             COUNT(DISTINCT CASE WHEN level = 2 AND outcome = 'refused' THEN metadata_uid END) AS refused, \
             COUNT(DISTINCT CASE WHEN level = 2 AND outcome = 'allowed' THEN metadata_uid END) AS still_allowed, \
             COUNT(DISTINCT CASE WHEN level = 2 AND outcome = 'unknown' THEN metadata_uid END) AS unknown, \
             MAX(CASE WHEN level = 1 AND outcome = 'refused' THEN 1 ELSE 0 END) AS identity_refused, \
             COUNT(DISTINCT CASE WHEN level = 0 AND outcome = 'refused' THEN session_uid END) AS sessions, \
             COUNT(DISTINCT CASE WHEN level = 0 AND outcome = 'refused' THEN device END) AS devices, \
             COUNT(DISTINCT CASE WHEN level = 0 AND outcome = 'refused' THEN network END) AS networks, \
             COUNT(DISTINCT CASE WHEN level = 2 AND outcome = 'refused' THEN date_trunc('hour', time) END) AS active_hours, \
             MIN(CASE WHEN level = 2 AND outcome = 'refused' THEN time END) AS first_seen, \
             MAX(CASE WHEN level = 2 AND outcome = 'refused' THEN time END) AS last_seen, \
             array_to_string(array_sort(array_agg(DISTINCT refused_by) FILTER (WHERE level = 2 AND outcome = 'refused')), ';') AS refused_by \
             FROM levels GROUP BY 1, 2, 3, 4, 5), \
             listed AS (SELECT *, still_allowed = 0 AND unknown = 0 AS breaks, \
             SUM(refused) {per_rule} AS rule_refused, \
             SUM(unknown) {per_rule} AS rule_unknown, \
             SUM(still_allowed) {per_rule} AS rule_allowed, \
             MAX(sessions) {per_rule} AS rule_sessions, \
             MAX(devices) {per_rule} AS rule_devices, \
             MAX(networks) {per_rule} AS rule_networks, \
             {users} AS rule_users, {service_accounts} AS rule_service_accounts, {workloads} AS rule_workloads, \
             SUM(CASE WHEN level = 2 AND identity IS NOT NULL AND refused > 0 AND still_allowed = 0 AND unknown = 0 THEN 1 ELSE 0 END) {per_rule} AS broken_total, \
             ROW_NUMBER() OVER (PARTITION BY rule ORDER BY CASE WHEN level = 0 THEN 0 WHEN level = 2 AND identity IS NOT NULL AND refused > 0 THEN 1 ELSE 2 END, \
             refused DESC, identity, target) AS place \
             FROM g) \
             SELECT * FROM listed WHERE place <= {limit} AND (level = 0 OR (level = 2 AND identity IS NOT NULL AND refused > 0)) \
             ORDER BY rule, place",
            evaluated = policy_statement(&tagged),
            users = identities("user"),
            service_accounts = identities("service_account"),
            workloads = identities("workload"),
            limit = TOP_WORKFLOWS + 1,
        );
        let output = self
            .run_in_range(sql, range, SESSION_LOOKBACK_MS, None)
            .await?;
        // Per rule: the whole-rule row first, then its top workflows.
        let mut by_rule: BTreeMap<String, Vec<serde_json::Map<String, Value>>> = BTreeMap::new();
        for row in output.json_rows()? {
            let rule = row.get("rule").and_then(Value::as_str).unwrap_or_default();
            by_rule.entry(rule.to_string()).or_default().push(row);
        }
        Ok(rules
            .into_iter()
            .map(|rule| {
                let mut rows = by_rule.remove(&rule.id).unwrap_or_default().into_iter();
                // A rule that looked at nothing has no whole-rule row: every count is 0.
                let whole = rows.next().unwrap_or_default();
                let top_workflows = rows
                    .map(|mut row| {
                        WORKFLOW_COLUMNS
                            .iter()
                            .map(|c| (c.to_string(), row.remove(*c).unwrap_or(Value::Null)))
                            .collect()
                    })
                    .collect();
                RuleReport {
                    evaluated: int(&whole, "rule_refused")
                        + int(&whole, "rule_unknown")
                        + int(&whole, "rule_allowed"),
                    refused: int(&whole, "rule_refused"),
                    unknown: int(&whole, "rule_unknown"),
                    sessions: int(&whole, "rule_sessions"),
                    users: int(&whole, "rule_users"),
                    service_accounts: int(&whole, "rule_service_accounts"),
                    workloads: int(&whole, "rule_workloads"),
                    devices: int(&whole, "rule_devices"),
                    networks: int(&whole, "rule_networks"),
                    broken_workflows: int(&whole, "broken_total"),
                    top_workflows,
                    id: rule.id,
                    kind: rule.kind,
                    description: rule.description,
                }
            })
            .collect())
    }

    /// What the candidate refuses that the baseline does not and the other way round, from one
    /// pass over both policies' refused requests.
    async fn compare(
        &self,
        candidate: &CandidatePolicy,
        baseline: &CandidatePolicy,
        range: TimeRange,
    ) -> Result<Comparison, AnalyticsError> {
        // Per source, then summed: a request, a user or a service account is in one source only
        // (sign-ins), a workload in the other (flows).
        let per_source: Vec<String> = refusal_flags(&candidate.compile(), &baseline.compile())
            .into_iter()
            .map(|flags| {
                format!(
                    "SELECT {added}, {removed} FROM ({flags}) WHERE by_candidate <> by_baseline",
                    added = change_counts("added", "by_candidate AND NOT by_baseline"),
                    removed = change_counts("removed", "by_baseline AND NOT by_candidate"),
                )
            })
            .collect();
        let sums: Vec<String> = ["added", "removed"]
            .iter()
            .flat_map(|side| {
                ["requests", "users", "service_accounts", "workloads"]
                    .map(|what| format!("SUM({side}_{what}) AS {side}_{what}"))
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM ({})",
            sums.join(", "),
            per_source.join(" UNION ALL ")
        );
        let row = first_row(
            &self
                .run_in_range(sql, range, SESSION_LOOKBACK_MS, None)
                .await?,
        )?;
        let counts = |prefix: &str| ChangeCounts {
            requests: int(&row, &format!("{prefix}_requests")),
            users: int(&row, &format!("{prefix}_users")),
            service_accounts: int(&row, &format!("{prefix}_service_accounts")),
            workloads: int(&row, &format!("{prefix}_workloads")),
        };
        Ok(Comparison {
            baseline: baseline.name.clone(),
            added: counts("added"),
            removed: counts("removed"),
        })
    }

    /// One page of the requests `rule` of `policy` would have refused, oldest first.
    /// `truncated` on the output means another page follows.
    pub async fn what_if_evidence(
        &self,
        policy: &CandidatePolicy,
        rule: &str,
        range: TimeRange,
        offset: usize,
        limit: usize,
    ) -> Result<QueryOutput, AnalyticsError> {
        let compiled = policy
            .compile()
            .into_iter()
            .find(|r| r.id == rule)
            .ok_or_else(|| {
                AnalyticsError::InvalidParameter(format!("the policy has no rule {rule:?}"))
            })?;
        crate::engine::check_page(offset, limit)?;
        let sql = format!(
            "SELECT DISTINCT * FROM ({}) WHERE outcome = 'refused' ORDER BY time, metadata_uid",
            compiled.evaluated
        );
        self.run_in_range(sql, range, SESSION_LOOKBACK_MS, Some((offset, limit)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteConfig {
        toml::from_str(
            r#"
            internal_cidrs = ["10.0.0.0/8"]
            [[segments]]
            name = "corp"
            cidrs = ["10.10.0.0/16"]
            [[segments]]
            name = "prod"
            cidrs = ["10.20.0.0/16"]
            [[apps]]
            id = "payroll"
            idp_apps = ["Workday"]
            sensitivity = "high"
            [[apps]]
            id = "crm"
            idp_apps = ["Salesforce"]
            "#,
        )
        .unwrap()
    }

    fn error_of(text: &str) -> String {
        CandidatePolicy::parse(text, &site())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_rule_kind_parses_and_compiles() {
        let policy = CandidatePolicy::parse(
            r#"
            name = "Q3 hardening"
            description = "what we would enforce next quarter"
            [[app_rule]]
            id = "payroll-strong"
            apps = ["payroll"]
            require = ["phishing_resistant_mfa", "managed_device", "compliant_device", "mfa"]
            [[app_rule]]
            id = "crm-where"
            apps = ["crm", "payroll"]
            allow_countries = ["DE", "US"]
            allow_networks = ["203.0.113.0/24", "2001:db8::/32"]
            deny_service_account_interactive = true
            [[segment_rule]]
            id = "corp-prod"
            from = "corp"
            to = "prod"
            allow_ports = [443, 5432]
            [[segment_rule]]
            id = "internet-corp"
            from = "external"
            to = "corp"
            allow_ports = []
            "#,
            &site(),
        )
        .unwrap();
        let compiled = policy.compile();
        let described: Vec<(&str, &str, &str)> = compiled
            .iter()
            .map(|r| (r.id.as_str(), r.kind, r.description.as_str()))
            .collect();
        assert_eq!(
            described,
            vec![
                (
                    "payroll-strong",
                    "app",
                    "payroll: require mfa; require phishing resistant mfa; require managed device; require compliant device"
                ),
                (
                    "crm-where",
                    "app",
                    "crm, payroll: allow only from DE, US; allow only from 203.0.113.0/24, 2001:db8::/32; deny interactive sign-ins of service accounts"
                ),
                (
                    "corp-prod",
                    "segment",
                    "corp → prod: allow only port(s) 443, 5432"
                ),
                ("internet-corp", "segment", "external → corp: allow nothing"),
            ]
        );
        let crm = &compiled[1].evaluated;
        assert!(crm.contains("app IN ('crm', 'payroll')"), "{crm}");
        assert!(crm.contains("country NOT IN ('DE', 'US')"), "{crm}");
        assert!(
            crm.contains("NOT ip_in_cidr(src_endpoint_ip, '203.0.113.0/24,2001:db8::/32')"),
            "{crm}"
        );
        assert!(compiled[2].evaluated.contains("NOT IN (443, 5432)"));
        assert!(compiled[3].evaluated.contains("CASE WHEN true THEN 'port'"));
    }

    #[test]
    fn clear_errors_for_unknown_keys_apps_and_conflicts() {
        let cases: Vec<(&str, &str)> = vec![
            ("name = \"x\"\ncolour = 1\n", "unknown field `colour`"),
            (
                "name = \"x\"\n[[app_rule]]\nid = \"a\"\napps = [\"payroll\"]\nrequire = [\"retina_scan\"]\n",
                "unknown variant `retina_scan`",
            ),
            (
                "name = \"x\"\n[[app_rule]]\nid = \"a\"\napps = [\"hr\"]\nrequire = [\"mfa\"]\n",
                "rule a: unknown app \"hr\"; the site's apps are: payroll, crm",
            ),
            (
                "name = \"x\"\n[[app_rule]]\nid = \"a\"\napps = [\"crm\"]\nallow_countries = [\"DE\"]\n[[app_rule]]\nid = \"b\"\napps = [\"crm\"]\nallow_countries = [\"US\"]\n",
                "rules a and b conflict: both set allow_countries for app crm; write one list",
            ),
            (
                "name = \"x\"\n[[segment_rule]]\nid = \"a\"\nfrom = \"corp\"\nto = \"prod\"\nallow_ports = [443]\n[[segment_rule]]\nid = \"b\"\nfrom = \"corp\"\nto = \"prod\"\nallow_ports = [22]\n",
                "rules a and b conflict: both set the ports from corp to prod; write one list",
            ),
            (
                "name = \"x\"\n[[segment_rule]]\nid = \"a\"\nfrom = \"corp\"\nto = \"pci\"\nallow_ports = [443]\n",
                "rule a: unknown segment \"pci\"; the site's segments are: corp, prod, external",
            ),
            (
                "name = \"x\"\n[[app_rule]]\nid = \"a\"\napps = [\"crm\"]\n",
                "rule a has no condition",
            ),
            (
                "name = \"x\"\n[[app_rule]]\nid = \"a\"\napps = [\"crm\"]\nallow_countries = [\"Germany\"]\n",
                "country \"Germany\" is not an ISO 3166-1 alpha-2 code",
            ),
            (
                "name = \"x\"\n[[app_rule]]\nid = \"a\"\napps = [\"crm\"]\nallow_networks = [\"10.0.0.0/40\"]\n",
                "rule a: \"10.0.0.0/40\" is not a network",
            ),
            (
                "name = \"x\"\n[[app_rule]]\nid = \"a b\"\napps = [\"crm\"]\nrequire = [\"mfa\"]\n",
                "rule id \"a b\": use 1 to 64 letters",
            ),
            (
                "name = \"x\"\n[[app_rule]]\nid = \"a\"\napps = [\"crm\"]\nrequire = [\"mfa\"]\n[[segment_rule]]\nid = \"a\"\nfrom = \"corp\"\nto = \"prod\"\nallow_ports = [1]\n",
                "rule id \"a\" is used twice",
            ),
            ("name = \"x\"\n", "the policy has no rule"),
            (
                "name = \"x\"\n[[segment_rule]]\nid = \"a\"\nfrom = \"corp\"\nto = \"prod\"\nallow_ports = [70000]\n",
                "invalid value",
            ),
        ];
        for (text, want) in cases {
            let got = error_of(text);
            assert!(got.contains(want), "{text}\nwant {want:?}\ngot {got:?}");
        }
        let huge = format!("name = \"{}\"", "x".repeat(MAX_POLICY_BYTES));
        assert!(error_of(&huge).contains("at most"));
    }

    #[test]
    fn quotes_cannot_escape_a_literal() {
        assert_eq!(quote("it's"), "'it''s'");
    }
}
