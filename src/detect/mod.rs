//! Detections and alerts: the rules' settings, the alert lifecycle, the durable alert store and
//! the evaluation loop of `ztlens serve`.
//!
//! - [`alerts`]: an [`Alert`](alerts::Alert) is one rule + group key per episode; the
//!   [`Tracker`](alerts::Tracker) turns rule matches into opened, updated and resolved alerts.
//!   Pure logic, no I/O.
//! - [`store`]: alerts and evaluation watermarks on disk under `<data_dir>/alerts/`, written
//!   before anything is reported, so a restart (also after SIGKILL) neither fires an alert twice
//!   nor forgets one.
//! - [`runner`]: evaluates each enabled rule on its schedule over fresh data (the engine reads
//!   the writer's hot tail, so rows not yet in Parquet count), and backtests over history.
//! - [`notify`]: the sinks — signed webhooks through a durable outbox, and Alertmanager.
//! - [`silences`]: time-bound silences that keep matching alerts from the sinks.
//!
//! Invariants: an alert's id and fingerprint never change; its evidence and event counts only
//! grow; a match whose events an earlier episode already covered never opens a new one, so
//! re-evaluating a range is harmless. Imports: `config` types only through [`DetectionsConfig`]
//! (defined here), `metrics`; never `api` or `commands`.

pub mod alerts;
pub mod notify;
pub mod runner;
pub mod silences;
pub mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ztlens_analytics::detection::{AllowLists, CompiledAllowLists, ParamValue, ParamValues};
use ztlens_analytics::{DetectionCatalog, DetectionDef, Severity};

/// `[detections]`: evaluation of the detection rules in `serve`, and per-rule settings in
/// `[detections.<rule id>]` tables.
///
/// ```toml
/// [detections]
/// lateness_secs = 300
/// [detections.mfa_push_bombing]
/// min_denials = 6
/// allow_users = ["helpdesk.test"]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "toml::Table", into = "toml::Table")]
pub struct DetectionsConfig {
    /// Evaluate the rules in `ztlens serve` and `ztlens demo`.
    pub enabled: bool,
    /// How late an event may arrive (event time behind the clock) and still be evaluated, in
    /// seconds: each evaluation re-reads this much before its window.
    pub lateness_secs: u64,
    /// A firing alert resolves when its condition has not held for this many seconds.
    pub resolve_after_secs: u64,
    /// After a restart (or on a first start), evaluate at most this far back to catch up on
    /// what was missed, in seconds.
    pub max_catch_up_secs: u64,
    /// A catch-up is evaluated in steps of this many seconds, each stored before the next.
    pub catch_up_step_secs: u64,
    /// Per-rule settings by rule id.
    pub rules: BTreeMap<String, RuleSettings>,
}

/// `[detections.<rule id>]`: `enabled`, `severity`, `schedule_secs`, the allow-lists, and the
/// rule's parameters
/// by name (each rule's parameters and defaults are in `docs/detections.md`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSettings {
    /// Evaluate this rule (default: true).
    pub enabled: Option<bool>,
    /// Replace the rule's severity.
    pub severity: Option<Severity>,
    /// Evaluate every this many seconds instead of the rule's schedule.
    pub schedule_secs: Option<u64>,
    /// Values whose matches are dropped.
    pub allow: AllowLists,
    /// Parameter values over the rule's defaults.
    pub params: ParamValues,
}

impl Default for DetectionsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            lateness_secs: 300,
            resolve_after_secs: 1800,
            max_catch_up_secs: 86_400,
            catch_up_step_secs: 21_600,
            rules: BTreeMap::new(),
        }
    }
}

const GLOBAL_KEYS: &[&str] = &[
    "enabled",
    "lateness_secs",
    "resolve_after_secs",
    "max_catch_up_secs",
    "catch_up_step_secs",
];

impl TryFrom<toml::Table> for DetectionsConfig {
    type Error = String;

    fn try_from(table: toml::Table) -> Result<Self, String> {
        let mut config = DetectionsConfig::default();
        for (key, value) in table {
            let seconds = |value: &toml::Value| {
                value
                    .as_integer()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| format!("detections.{key} must be a whole number of seconds"))
            };
            match key.as_str() {
                "enabled" => {
                    config.enabled = value
                        .as_bool()
                        .ok_or("detections.enabled must be true or false")?
                }
                "lateness_secs" => config.lateness_secs = seconds(&value)?,
                "resolve_after_secs" => config.resolve_after_secs = seconds(&value)?,
                "max_catch_up_secs" => config.max_catch_up_secs = seconds(&value)?,
                "catch_up_step_secs" => config.catch_up_step_secs = seconds(&value)?,
                rule => {
                    let toml::Value::Table(settings) = value else {
                        return Err(format!(
                            "unknown field `detections.{rule}`: expected one of {} or a [detections.<rule id>] table",
                            GLOBAL_KEYS.join(", ")
                        ));
                    };
                    config
                        .rules
                        .insert(rule.to_string(), RuleSettings::from_table(rule, settings)?);
                }
            }
        }
        Ok(config)
    }
}

impl From<DetectionsConfig> for toml::Table {
    fn from(config: DetectionsConfig) -> Self {
        let mut table = toml::Table::new();
        table.insert("enabled".into(), config.enabled.into());
        for (key, value) in [
            ("lateness_secs", config.lateness_secs),
            ("resolve_after_secs", config.resolve_after_secs),
            ("max_catch_up_secs", config.max_catch_up_secs),
            ("catch_up_step_secs", config.catch_up_step_secs),
        ] {
            table.insert(key.into(), (value.min(i64::MAX as u64) as i64).into());
        }
        for (id, settings) in config.rules {
            table.insert(id, toml::Value::Table(settings.to_table()));
        }
        table
    }
}

impl RuleSettings {
    fn from_table(rule: &str, table: toml::Table) -> Result<Self, String> {
        let mut settings = RuleSettings::default();
        let mut allow = toml::Table::new();
        for (key, value) in table {
            let at = format!("detections.{rule}.{key}");
            match key.as_str() {
                "enabled" => {
                    settings.enabled = Some(
                        value
                            .as_bool()
                            .ok_or(format!("{at} must be true or false"))?,
                    )
                }
                "severity" => {
                    settings.severity = Some(value.as_str().and_then(Severity::parse).ok_or(
                        format!("{at} must be informational, low, medium, high or critical"),
                    )?)
                }
                "schedule_secs" => {
                    settings.schedule_secs = Some(
                        value
                            .as_integer()
                            .and_then(|n| u64::try_from(n).ok())
                            .filter(|n| *n > 0)
                            .ok_or(format!("{at} must be a whole number of seconds above 0"))?,
                    )
                }
                k if k.starts_with("allow_") => {
                    allow.insert(key, value);
                }
                _ => {
                    let param = match value {
                        toml::Value::Integer(n) => ParamValue::Int(n),
                        toml::Value::Float(x) if x.is_finite() => ParamValue::Float(x),
                        toml::Value::String(s) => ParamValue::Text(s),
                        _ => return Err(format!("{at} must be a number or a text")),
                    };
                    settings.params.insert(key, param);
                }
            }
        }
        settings.allow = AllowLists::deserialize(toml::Value::Table(allow))
            .map_err(|e| format!("detections.{rule}: {e}"))?;
        Ok(settings)
    }

    fn to_table(&self) -> toml::Table {
        let mut table = toml::Table::new();
        if let Some(enabled) = self.enabled {
            table.insert("enabled".into(), enabled.into());
        }
        if let Some(severity) = self.severity {
            table.insert("severity".into(), severity.as_str().into());
        }
        if let Some(secs) = self.schedule_secs {
            table.insert(
                "schedule_secs".into(),
                (secs.min(i64::MAX as u64) as i64).into(),
            );
        }
        if let Ok(toml::Value::Table(allow)) = toml::Value::try_from(&self.allow) {
            for (key, value) in allow {
                if value.as_array().is_some_and(|a| !a.is_empty()) {
                    table.insert(key, value);
                }
            }
        }
        for (name, value) in &self.params {
            let value = match value {
                ParamValue::Int(n) => toml::Value::Integer(*n),
                ParamValue::Float(x) => toml::Value::Float(*x),
                ParamValue::Text(s) => toml::Value::String(s.clone()),
            };
            table.insert(name.clone(), value);
        }
        table
    }
}

impl DetectionsConfig {
    /// Check the section against the rules it configures.
    pub fn validate(&self, catalog: &DetectionCatalog) -> Result<(), String> {
        if self.resolve_after_secs == 0 || self.catch_up_step_secs == 0 {
            return Err(
                "detections.resolve_after_secs and catch_up_step_secs must be above 0".into(),
            );
        }
        self.rules(catalog).map(drop)
    }

    /// Every rule of the catalog with its effective settings.
    pub fn rules(&self, catalog: &DetectionCatalog) -> Result<Vec<Rule>, String> {
        if let Some(unknown) = self.rules.keys().find(|id| catalog.get(id).is_none()) {
            return Err(format!(
                "[detections.{unknown}]: no detection rule has this id; the rules: {}",
                catalog
                    .list()
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        catalog
            .list()
            .iter()
            .map(|def| {
                let settings = self.rules.get(&def.id).cloned().unwrap_or_default();
                def.check_params(&settings.params)
                    .map_err(|e| e.to_string())?;
                let allow = settings
                    .allow
                    .compile()
                    .map_err(|e| format!("[detections.{}]: {e}", def.id))?;
                if let Some(ParamValue::Text(zone)) = settings.params.get("time_zone") {
                    zone.parse::<datafusion::arrow::array::timezone::Tz>()
                        .map_err(|_| {
                            format!(
                                "[detections.{}]: time_zone {zone:?} is not an IANA time zone",
                                def.id
                            )
                        })?;
                }
                let mut def = def.clone();
                if let Some(secs) = settings.schedule_secs {
                    def.schedule_ms = i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
                }
                Ok(Rule {
                    enabled: settings.enabled.unwrap_or(true),
                    severity: settings.severity.unwrap_or(def.severity),
                    params: settings.params,
                    allow,
                    def,
                })
            })
            .collect()
    }
}

/// Write `bytes` to `path` through a synced temporary file, a rename and a synced directory:
/// after a crash the file holds the old content or the new, never half of either.
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A rule with its effective settings.
#[derive(Debug, Clone)]
pub struct Rule {
    pub def: DetectionDef,
    pub enabled: bool,
    pub severity: Severity,
    pub params: ParamValues,
    pub allow: CompiledAllowLists,
}

impl Rule {
    /// The parameters with their effective values, for the catalog.
    pub fn effective_params(&self) -> BTreeMap<String, ParamValue> {
        self.def
            .params
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    self.params.get(&p.name).unwrap_or(&p.default).clone(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DetectionsConfig, String> {
        toml::from_str::<toml::Table>(text)
            .map_err(|e| e.to_string())
            .and_then(DetectionsConfig::try_from)
    }

    #[test]
    fn settings_round_trip_and_are_checked_against_the_rules() {
        let catalog = DetectionCatalog::builtin();
        let config = parse(
            "lateness_secs = 60\n[mfa_push_bombing]\nmin_denials = 6\nseverity = \"critical\"\nallow_users = [\"helpdesk.test\"]\n[lateral_scan]\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(config.lateness_secs, 60);
        let rules = config.rules(&catalog).unwrap();
        let bombing = rules
            .iter()
            .find(|r| r.def.id == "mfa_push_bombing")
            .unwrap();
        assert_eq!(bombing.severity, Severity::Critical);
        assert_eq!(
            bombing.effective_params()["min_denials"],
            ParamValue::Int(6)
        );
        assert!(
            !rules
                .iter()
                .find(|r| r.def.id == "lateral_scan")
                .unwrap()
                .enabled
        );
        let round_trip = DetectionsConfig::try_from(toml::Table::from(config.clone())).unwrap();
        assert_eq!(round_trip, config);

        for (text, expected) in [
            ("[no_such_rule]\nx = 1\n", "no detection rule"),
            ("[mfa_push_bombing]\nmin_denial = 6\n", "no parameter"),
            ("[mfa_push_bombing]\nmin_denials = \"six\"\n", "kind"),
            ("[mfa_push_bombing]\nallow_userz = []\n", "unknown field"),
            (
                "[password_spray]\nallow_cidrs = [\"10.0.0.0/99\"]\n",
                "CIDR",
            ),
            (
                "[privileged_off_hours]\ntime_zone = \"Mars/Base\"\n",
                "time zone",
            ),
            ("lateness = 5\n", "unknown field"),
        ] {
            let error = parse(text).and_then(|c| c.validate(&catalog)).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
