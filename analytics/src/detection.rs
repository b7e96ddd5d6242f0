//! Detection rules: SQL files with a comment header, in the style of the KPI files.
//!
//! ```sql
//! -- id: mfa_push_bombing
//! -- title: MFA fatigue (push bombing)
//! -- severity: high
//! -- mitre: T1621
//! -- window: 15m
//! -- schedule: 1m
//! -- entities: user
//! -- param min_denials: 4 | push denials or timeouts of one user within one window
//! -- allow_users: user
//! -- description: …
//! SELECT … FROM mfa_steps … GROUP BY …
//! ```
//!
//! Contract of a rule query (checked when its result is read):
//! - it reads the tables and views a KPI reads; the engine binds each to the rows of the
//!   evaluated range (lake + hot tail), started `lookback` earlier when the header has one;
//! - each output row is one *match*: the `entities` columns (the group key of the alert),
//!   `first_seen` and `last_seen` (timestamps of the first and last event behind it), `events`
//!   (how many) and `evidence` (a list of their `metadata_uid`s, cut to
//!   [`MAX_MATCH_EVIDENCE`]). Optional: `severity` (a severity name that raises the header's
//!   for this match; it never lowers it) and `summary` (one line for people). Every other column
//!   is kept as the match's details;
//! - windows are the rule's business: a threshold rule groups by
//!   `date_bin(${window}, time, TIMESTAMP '1970-01-01T00:00:00')` (tumbling windows aligned to
//!   the clock, as the KPIs count them), so a range evaluated twice gives the same matches.
//!
//! `${name}` in the SQL is replaced by the value of the parameter `name` (the header's
//! `param` default, or `[detections.<id>] name = …` in the config); numbers are written as
//! numbers in parentheses and text as a quoted SQL literal, so a value cannot change the
//! statement's shape.
//! `${window}` is the header's window as an interval. The rendered SQL passes the read-only
//! guard when the catalog loads (with the defaults) and again on every run.
//!
//! `allow_users`, `allow_cidrs`, `allow_asns` and `allow_apps` name the output columns the
//! rule's allow-lists are compared with: a match is dropped when any named column holds an
//! allowed value (an address inside an allowed network).
//!
//! The defaults in `queries/detections/` are compiled into the binary; `--queries DIR` adds the
//! rules in `DIR/detections/` and replaces defaults with the same id.
//!
//! Imports: `error`, `guard`, `time_range`, `output`; from ztlens-ingest only the CIDR type.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ztlens_ingest::site::Cidr;

use crate::AnalyticsError;
use crate::output::QueryOutput;
use crate::time_range::{parse_date_or_rfc3339, parse_duration_ms};

/// How urgent an alert is (OCSF severity names and ids).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// OCSF `severity_id`.
    pub fn ocsf_id(self) -> i32 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }
}

/// Most evidence ids one match carries (the engine cuts the rule's `evidence` list).
pub const MAX_MATCH_EVIDENCE: usize = 100;

/// A parameter value: a number or a short text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl ParamValue {
    /// The value as SQL: numbers in parentheses (so `x - ${n}` with a negative `n` cannot turn
    /// into a `--` comment), text as a quoted literal.
    fn sql(&self) -> String {
        match self {
            ParamValue::Int(n) => format!("({n})"),
            ParamValue::Float(x) => format!("({x:?})"),
            ParamValue::Text(s) => format!("'{}'", s.replace('\'', "''")),
        }
    }

    fn parse_default(text: &str) -> Option<Self> {
        let t = text.trim();
        if let Some(inner) = t.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            return Some(ParamValue::Text(inner.to_string()));
        }
        if let Ok(n) = t.parse::<i64>() {
            return Some(ParamValue::Int(n));
        }
        t.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(ParamValue::Float)
    }

    fn same_kind(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (ParamValue::Int(_), ParamValue::Int(_))
                | (
                    ParamValue::Float(_),
                    ParamValue::Float(_) | ParamValue::Int(_)
                )
                | (ParamValue::Text(_), ParamValue::Text(_))
        )
    }
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Int(n) => write!(f, "{n}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// One tunable threshold of a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    pub default: ParamValue,
    pub description: String,
}

/// The output columns each allow-list is compared with.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AllowColumns {
    pub users: Vec<String>,
    pub cidrs: Vec<String>,
    pub asns: Vec<String>,
    pub apps: Vec<String>,
}

/// One detection rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionDef {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// MITRE ATT&CK technique ids (`T1110.003`).
    pub mitre: Vec<String>,
    /// Width of the rule's windows, in milliseconds.
    pub window_ms: i64,
    /// How often `serve` evaluates the rule, in milliseconds.
    pub schedule_ms: i64,
    /// History the query reads before the evaluated range (baselines), in milliseconds.
    pub lookback_ms: i64,
    /// The output columns that identify an alert (its group key).
    pub entities: Vec<String>,
    pub params: Vec<ParamSpec>,
    pub allow: AllowColumns,
    pub description: String,
    #[serde(skip)]
    pub sql: String,
    /// Where the definition came from (`builtin:<file>` or a path).
    pub source: String,
}

/// Parameter values by name, as the config gives them (the rest take their defaults).
pub type ParamValues = BTreeMap<String, ParamValue>;

/// Allowed values per list of a rule (`[detections.<id>] allow_users = […]` …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowLists {
    /// Users (compared case-insensitively) whose matches are dropped.
    pub allow_users: Vec<String>,
    /// Networks (CIDR) whose addresses never match.
    pub allow_cidrs: Vec<String>,
    /// Autonomous system numbers that never match.
    pub allow_asns: Vec<i64>,
    /// Applications (compared case-insensitively) that never match.
    pub allow_apps: Vec<String>,
}

impl AllowLists {
    pub fn is_empty(&self) -> bool {
        self.allow_users.is_empty()
            && self.allow_cidrs.is_empty()
            && self.allow_asns.is_empty()
            && self.allow_apps.is_empty()
    }

    /// The lists ready to compare, or the first invalid network.
    pub fn compile(&self) -> Result<CompiledAllowLists, AnalyticsError> {
        let cidrs = self
            .allow_cidrs
            .iter()
            .map(|c| {
                c.parse::<Cidr>().map_err(|_| {
                    AnalyticsError::InvalidParameter(format!("allow_cidrs: {c:?} is not a CIDR"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(CompiledAllowLists {
            users: self
                .allow_users
                .iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
            cidrs,
            asns: self.allow_asns.clone(),
            apps: self
                .allow_apps
                .iter()
                .map(|a| a.to_ascii_lowercase())
                .collect(),
        })
    }
}

/// Allow-lists parsed once.
#[derive(Debug, Clone, Default)]
pub struct CompiledAllowLists {
    users: Vec<String>,
    cidrs: Vec<Cidr>,
    asns: Vec<i64>,
    apps: Vec<String>,
}

/// One row of a rule's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMatch {
    /// The `entities` columns and their values (text; null as "").
    pub entity: BTreeMap<String, String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub events: u64,
    pub evidence: Vec<String>,
    /// The match's own severity, when the rule sets one.
    pub severity: Option<Severity>,
    pub summary: Option<String>,
    /// Every other column.
    pub details: serde_json::Map<String, Value>,
}

impl DetectionDef {
    /// Parse a rule file.
    pub fn parse(file: &str, text: &str) -> Result<Self, AnalyticsError> {
        let invalid = |reason: String| AnalyticsError::InvalidDefinition {
            file: file.to_string(),
            reason,
        };
        let (fields, sql) = crate::kpi::split_header(text);
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let required = |key: &str| {
            get(key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(format!("header field `{key}` is missing")))
        };
        let list = |key: &str| -> Vec<String> {
            get(key)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut params = Vec::new();
        for (key, value) in &fields {
            if let Some(name) = key.strip_prefix("param ") {
                let name = name.trim();
                if !is_identifier(name) || name == "window" {
                    return Err(invalid(format!("parameter name {name:?} is not allowed")));
                }
                let (default, description) = value.split_once('|').unwrap_or((value, ""));
                let default = ParamValue::parse_default(default).ok_or_else(|| {
                    invalid(format!(
                        "parameter {name}: default {default:?} is not a number or a quoted text"
                    ))
                })?;
                if params.iter().any(|p: &ParamSpec| p.name == name) {
                    return Err(invalid(format!("parameter {name} is declared twice")));
                }
                params.push(ParamSpec {
                    name: name.to_string(),
                    default,
                    description: description.trim().to_string(),
                });
                continue;
            }
            if !matches!(
                key.as_str(),
                "id" | "title"
                    | "severity"
                    | "mitre"
                    | "window"
                    | "schedule"
                    | "lookback"
                    | "entities"
                    | "description"
                    | "allow_users"
                    | "allow_cidrs"
                    | "allow_asns"
                    | "allow_apps"
            ) {
                return Err(invalid(format!("unknown header field `{key}`")));
            }
        }
        let id = required("id")?;
        if !is_identifier(&id) {
            return Err(invalid(format!(
                "id {id:?} must be lower-case letters, digits and `_`"
            )));
        }
        let severity_text = required("severity")?;
        let severity = Severity::parse(&severity_text).ok_or_else(|| {
            invalid(format!(
                "severity {severity_text:?} is not informational, low, medium, high or critical"
            ))
        })?;
        let mitre = list("mitre");
        if let Some(bad) = mitre.iter().find(|t| !is_technique(t)) {
            return Err(invalid(format!(
                "mitre {bad:?} is not an ATT&CK technique id (T1110 or T1110.003)"
            )));
        }
        let duration = |key: &str| -> Result<i64, AnalyticsError> {
            parse_duration_ms(&required(key)?).map_err(|e| invalid(format!("{key}: {e}")))
        };
        let window_ms = duration("window")?;
        let schedule_ms = duration("schedule")?;
        let lookback_ms = match get("lookback") {
            None => 0,
            Some(_) => duration("lookback")?,
        };
        let entities = list("entities");
        if entities.is_empty() {
            return Err(invalid("header field `entities` is missing".into()));
        }
        let allow = AllowColumns {
            users: list("allow_users"),
            cidrs: list("allow_cidrs"),
            asns: list("allow_asns"),
            apps: list("allow_apps"),
        };
        let sql = sql.trim().trim_end_matches(';').to_string();
        if sql.is_empty() {
            return Err(invalid("no SQL after the header".into()));
        }
        let def = DetectionDef {
            id,
            title: required("title")?,
            severity,
            mitre,
            window_ms,
            schedule_ms,
            lookback_ms,
            entities,
            params,
            allow,
            description: required("description")?,
            sql,
            source: file.to_string(),
        };
        // A rule runs with the server's rights: its SQL passes the read-only guard here, with
        // the default parameters, and again on every run.
        let rendered = def
            .render(&ParamValues::new())
            .map_err(|e| invalid(e.to_string()))?;
        crate::guard::check_query_text(&rendered).map_err(|e| invalid(format!("query: {e}")))?;
        Ok(def)
    }

    /// Check configured parameter values against the declared ones.
    pub fn check_params(&self, values: &ParamValues) -> Result<(), AnalyticsError> {
        for (name, value) in values {
            let spec = self
                .params
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| {
                    AnalyticsError::InvalidParameter(format!(
                        "detection {} has no parameter {name:?}; its parameters: {}",
                        self.id,
                        self.params
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            if !spec.default.same_kind(value) {
                return Err(AnalyticsError::InvalidParameter(format!(
                    "detection {}: {name} = {value} is not of the kind of its default {}",
                    self.id, spec.default
                )));
            }
        }
        Ok(())
    }

    /// The rule's SQL with its parameters filled in (`values` over the defaults).
    pub fn render(&self, values: &ParamValues) -> Result<String, AnalyticsError> {
        let mut out = String::with_capacity(self.sql.len());
        let mut rest = self.sql.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| {
                AnalyticsError::InvalidParameter(format!("detection {}: unclosed `${{`", self.id))
            })?;
            let name = &after[..end];
            if name == "window" {
                out.push_str(&format!("INTERVAL '{} milliseconds'", self.window_ms));
            } else {
                let spec = self.params.iter().find(|p| p.name == name).ok_or_else(|| {
                    AnalyticsError::InvalidParameter(format!(
                        "detection {}: `${{{name}}}` is not a declared parameter",
                        self.id
                    ))
                })?;
                out.push_str(&values.get(name).unwrap_or(&spec.default).sql());
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The matches in a rule's result, without those the allow-lists exempt.
    pub fn matches(
        &self,
        output: &QueryOutput,
        allow: &CompiledAllowLists,
    ) -> Result<Vec<RuleMatch>, AnalyticsError> {
        let contract =
            |what: String| AnalyticsError::InvalidQuery(format!("detection {}: {what}", self.id));
        for column in self.entities.iter().map(String::as_str).chain([
            "first_seen",
            "last_seen",
            "events",
            "evidence",
        ]) {
            if !output.columns.iter().any(|c| c == column) {
                return Err(contract(format!("the result has no column {column:?}")));
            }
        }
        let mut matches = Vec::new();
        for mut row in output.json_rows()? {
            let time = |row: &serde_json::Map<String, Value>, key: &str| {
                row.get(key)
                    .and_then(Value::as_str)
                    .and_then(parse_date_or_rfc3339)
                    .ok_or_else(|| contract(format!("{key} is not a timestamp")))
            };
            let first_seen_ms = time(&row, "first_seen")?;
            let last_seen_ms = time(&row, "last_seen")?;
            if self.allowed(&row, allow) {
                continue;
            }
            let entity = self
                .entities
                .iter()
                .map(|name| (name.clone(), text_of(row.get(name))))
                .collect();
            let events = row.get("events").and_then(Value::as_u64).unwrap_or(0);
            let evidence = match row.get("evidence") {
                Some(Value::Array(ids)) => ids
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            let severity = row
                .get("severity")
                .and_then(Value::as_str)
                .and_then(Severity::parse);
            let summary = row
                .get("summary")
                .and_then(Value::as_str)
                .map(str::to_string);
            for key in self.entities.iter().map(String::as_str).chain([
                "first_seen",
                "last_seen",
                "events",
                "evidence",
                "severity",
                "summary",
            ]) {
                row.remove(key);
            }
            matches.push(RuleMatch {
                entity,
                first_seen_ms,
                last_seen_ms,
                events,
                evidence,
                severity,
                summary,
                details: row,
            });
        }
        Ok(matches)
    }

    /// Whether an allow-list exempts this row.
    fn allowed(&self, row: &serde_json::Map<String, Value>, allow: &CompiledAllowLists) -> bool {
        let texts = |columns: &[String]| -> Vec<String> {
            columns
                .iter()
                .map(|c| text_of(row.get(c)))
                .filter(|t| !t.is_empty())
                .collect()
        };
        texts(&self.allow.users)
            .iter()
            .any(|u| allow.users.contains(&u.to_ascii_lowercase()))
            || texts(&self.allow.apps)
                .iter()
                .any(|a| allow.apps.contains(&a.to_ascii_lowercase()))
            || texts(&self.allow.asns)
                .iter()
                .any(|a| a.parse::<i64>().is_ok_and(|n| allow.asns.contains(&n)))
            || texts(&self.allow.cidrs).iter().any(|ip| {
                ip.parse::<IpAddr>()
                    .is_ok_and(|ip| allow.cidrs.iter().any(|c| c.contains(ip)))
            })
    }
}

/// A JSON value as the text an entity or allow-list compares (null → "").
fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_technique(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, ""));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())))
}

/// The rules a server evaluates.
#[derive(Debug, Clone, Default)]
pub struct DetectionCatalog {
    rules: Vec<DetectionDef>,
}

impl DetectionCatalog {
    /// The built-in rules.
    pub fn builtin() -> Self {
        let rules = crate::kpi::BUILTIN_DETECTIONS
            .iter()
            .map(|(file, text)| {
                DetectionDef::parse(&format!("builtin:{file}"), text)
                    .expect("built-in detection files are valid")
            })
            .collect();
        Self { rules }
    }

    /// Built-ins, then every `*.sql` in `dir/detections/` when that folder exists (replacing
    /// built-ins with the same id).
    pub fn with_directory(dir: &Path) -> Result<Self, AnalyticsError> {
        let mut catalog = Self::builtin();
        let folder = dir.join("detections");
        if !folder.is_dir() {
            return Ok(catalog);
        }
        for (file, text) in crate::kpi::read_sql_files(&folder)? {
            let def = DetectionDef::parse(&file, &text)?;
            catalog.rules.retain(|r| r.id != def.id);
            catalog.rules.push(def);
        }
        Ok(catalog)
    }

    pub fn list(&self) -> &[DetectionDef] {
        &self.rules
    }

    pub fn get(&self, id: &str) -> Option<&DetectionDef> {
        self.rules.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "-- id: x\n-- title: X\n-- severity: high\n-- mitre: T1110.003, T1078\n-- window: 15m\n-- schedule: 1m\n-- entities: user\n-- description: d\n";

    #[test]
    fn builtins_parse_and_pass_the_guard() {
        let catalog = DetectionCatalog::builtin();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/detections");
        let mut stems: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
            .collect();
        stems.sort();
        let ids: Vec<_> = catalog.list().iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids, stems);
        for rule in catalog.list() {
            assert!(!rule.mitre.is_empty(), "{} names its technique", rule.id);
            assert!(rule.schedule_ms <= rule.window_ms, "{}", rule.id);
        }
    }

    #[test]
    fn parameters_are_rendered_as_values_never_as_sql() {
        let def = DetectionDef::parse(
            "x.sql",
            &format!(
                "{HEADER}-- param min: 5 | at least\n-- param zone: \"UTC\"\n-- param ratio: 0.5\nSELECT ${{min}} AS a, ${{zone}} AS b, ${{ratio}} AS c, ${{window}} AS w"
            ),
        )
        .unwrap();
        assert_eq!(def.mitre, ["T1110.003", "T1078"]);
        assert_eq!(def.params[0].description, "at least");
        assert_eq!(
            def.render(&ParamValues::new()).unwrap(),
            "SELECT (5) AS a, 'UTC' AS b, (0.5) AS c, INTERVAL '900000 milliseconds' AS w"
        );
        let mut values = ParamValues::new();
        values.insert(
            "zone".into(),
            ParamValue::Text("x'; DROP TABLE t; --".into()),
        );
        values.insert("min".into(), ParamValue::Int(7));
        def.check_params(&values).unwrap();
        assert_eq!(
            def.render(&values).unwrap(),
            "SELECT (7) AS a, 'x''; DROP TABLE t; --' AS b, (0.5) AS c, INTERVAL '900000 milliseconds' AS w"
        );
        values.insert("min".into(), ParamValue::Int(-1));
        assert!(def.render(&values).unwrap().starts_with("SELECT (-1) AS a"));
        values.insert("min".into(), ParamValue::Text("7".into()));
        assert!(def.check_params(&values).is_err());
        let mut unknown = ParamValues::new();
        unknown.insert("nope".into(), ParamValue::Int(1));
        assert!(def.check_params(&unknown).is_err());
    }

    #[test]
    fn invalid_rules_are_refused_at_load() {
        for (text, expected) in [
            (format!("{HEADER}SELECT ${{missing}}"), "not a declared"),
            (
                format!("{HEADER}COPY (SELECT 1) TO '/tmp/ztlens-rule.csv'"),
                "query",
            ),
            (HEADER.replace("high", "urgent") + "SELECT 1", "severity"),
            (HEADER.replace("T1078", "X1") + "SELECT 1", "mitre"),
            (HEADER.replace("15m", "soon") + "SELECT 1", "window"),
            (
                format!("{HEADER}-- colour: red\nSELECT 1"),
                "unknown header",
            ),
            (
                format!("{HEADER}-- param window: 1\nSELECT 1"),
                "not allowed",
            ),
            (
                format!("{HEADER}-- param n: five\nSELECT 1"),
                "not a number",
            ),
            (
                HEADER.replace("-- entities: user\n", "") + "SELECT 1",
                "entities",
            ),
        ] {
            let error = DetectionDef::parse("x.sql", &text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        assert!(!Path::new("/tmp/ztlens-rule.csv").exists());
    }

    #[test]
    fn allow_lists_drop_matching_rows() {
        let def = DetectionDef::parse(
            "x.sql",
            &format!("{HEADER}-- allow_users: user\n-- allow_cidrs: from_ip, to_ip\n-- allow_asns: asn\nSELECT 1"),
        )
        .unwrap();
        let lists = AllowLists {
            allow_users: vec!["Alice@Corp.Example".into()],
            allow_cidrs: vec!["10.8.0.0/16".into()],
            allow_asns: vec![64500],
            allow_apps: vec![],
        }
        .compile()
        .unwrap();
        let row = |user: &str, to_ip: &str, asn: i64| {
            serde_json::json!({"user": user, "from_ip": "1.2.3.4", "to_ip": to_ip, "asn": asn})
                .as_object()
                .unwrap()
                .clone()
        };
        assert!(def.allowed(&row("alice@corp.example", "5.6.7.8", 1), &lists));
        assert!(def.allowed(&row("bob", "10.8.1.1", 1), &lists));
        assert!(def.allowed(&row("bob", "5.6.7.8", 64500), &lists));
        assert!(!def.allowed(&row("bob", "5.6.7.8", 1), &lists));
        assert!(
            AllowLists {
                allow_cidrs: vec!["10.0.0.0/33".into()],
                ..AllowLists::default()
            }
            .compile()
            .is_err()
        );
    }
}
