//! KPI definitions: SQL files with a comment header.
//!
//! ```sql
//! -- id: mfa_outcomes_by_country
//! -- title: MFA outcomes by country
//! -- unit: count
//! -- labels: country
//! -- metrics: success, failure, challenge, failure_rate
//! -- totals: success, failure, challenge
//! -- description: MFA step results per client country; challenges are not failures.
//! SELECT bucket AS time, … FROM authentication GROUP BY …
//! ```
//!
//! Contract of a KPI query (checked by the golden tests):
//! - it reads the table names of the normalized schema; the engine binds each to the rows of the
//!   requested time range (lake + hot tail) and adds a `bucket` column (start of the row's time
//!   bucket), so one query serves a single value and a time series;
//! - its first output column is `time` (the bucket) and it groups by it;
//! - the `labels` columns identify a series; `metrics` (default: every other numeric column) are
//!   exported as Prometheus gauges;
//! - `gauge_labels` (default: all `labels`) are the labels those gauges keep. A KPI whose labels
//!   name an account or a person keeps only bounded ones on /metrics (`-- gauge_labels: owner`):
//!   rows are folded over the others, `totals` summed and any other metric its maximum (the worst
//!   case: the oldest credential, the most networks). The API still answers with every label;
//! - it counts events with `COUNT(DISTINCT uid_key(metadata_uid))` (a fixed-width hash of the
//!   id, `functions`), so a redelivered event is counted once.
//!
//! After the KPI query, a line `-- evidence` may start a second query: the rows behind the
//! numbers (`GET /api/v1/kpis/{id}/evidence`). It runs over the same tables and range, returns
//! the KPI's label columns (so the same drill-down filters apply), `time` and `metadata_uid`,
//! selects `DISTINCT` event-derived columns (so a redelivered event shows once) and orders by
//! `time, metadata_uid` (so pages are stable).
//!
//! A KPI about durations (time to remediate, time to contain) needs rows from before the range:
//! an interval that closes in the range may have opened days earlier. `-- lookback: 30d` makes
//! the tables start that much before `from` (the `bucket` origin stays `from`, so rows before
//! the range have buckets before it). Such a query reads the range itself from the one-row table
//! `kpi_range(range_from, range_to, last_bucket)` and reports only what closed or was still open
//! inside it. Every KPI query can read `kpi_range`, `kpi_buckets` (one row per bucket, for
//! states reported at each bucket's end), the inventories (`service_account_inventory`,
//! `policy_exception_inventory`) and the derived views of [`BUILTIN_VIEWS`]
//! (`device_compliance_intervals`, `edr_responses`, `sensitive_app_requests`,
//! `sensitive_app_sign_ins`).
//!
//! The defaults in `queries/kpis/` are compiled into the binary; a directory given with
//! `--queries` adds KPIs and replaces defaults with the same id.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::AnalyticsError;

/// How a KPI value column is exported to /metrics: Prometheus names a duration in its base
/// unit with a `_seconds` suffix, so the API's `mean_hours`, `median_minutes`, `credential_age_days`,
/// `days_since_sign_in` and `lag_max_s` become `mean_seconds`, `median_seconds`,
/// `credential_age_seconds`, `sign_in_age_seconds` and `lag_max_seconds`, their values scaled
/// to seconds. Other columns keep their name.
#[derive(Debug, PartialEq)]
pub struct Gauge {
    /// The full metric name, `ztlens_kpi_<kpi>_<value>`.
    pub name: String,
    /// Multiplier from the column's unit to the exported one.
    pub scale: f64,
    /// The unit named in the help text.
    pub unit: String,
}

impl Gauge {
    /// The gauge of `kpi`'s value column `column`.
    pub fn of(kpi: &KpiDef, column: &str) -> Self {
        Self::named(&kpi.id, column, &kpi.unit)
    }

    fn named(kpi: &str, column: &str, kpi_unit: &str) -> Self {
        let column: String = column
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let seconds = |value: String, scale: f64| Self {
            name: format!("ztlens_kpi_{kpi}_{value}"),
            scale,
            unit: "seconds".into(),
        };
        if let Some(what) = column.strip_prefix("days_since_") {
            return seconds(format!("{what}_age_seconds"), 86_400.0);
        }
        for (suffix, scale) in [
            ("_days", 86_400.0),
            ("_hours", 3_600.0),
            ("_minutes", 60.0),
            ("_s", 1.0),
        ] {
            if let Some(stem) = column.strip_suffix(suffix) {
                return seconds(format!("{stem}_seconds"), scale);
            }
        }
        let unit = if ["_ratio", "share", "_rate"]
            .iter()
            .any(|s| column.ends_with(s))
        {
            "ratio".to_string()
        } else if ["days", "hours", "minutes", "seconds"].contains(&kpi_unit) {
            // A count beside the KPI's durations (remediated devices, contained detections).
            "count".to_string()
        } else {
            kpi_unit.to_string()
        };
        Self {
            name: format!("ztlens_kpi_{kpi}_{column}"),
            scale: 1.0,
            unit,
        }
    }
}

/// One KPI.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KpiDef {
    pub id: String,
    pub title: String,
    pub unit: String,
    pub labels: Vec<String>,
    /// The labels the /metrics gauges keep (a subset of `labels`; rows are folded over the
    /// others: totals summed, other metrics their maximum). Equal to `labels` unless the header
    /// narrows it, so no account or person name becomes a Prometheus label.
    pub gauge_labels: Vec<String>,
    /// Value columns exported as gauges (empty: every numeric non-label column).
    pub metrics: Vec<String>,
    /// The Prometheus names of the `metrics` gauges, in their order ([`Gauge`]).
    pub gauges: Vec<String>,
    /// Metrics that add up across label values (counts, not ratios); their sums are the KPI's
    /// headline `value`.
    pub totals: Vec<String>,
    pub description: String,
    /// How far before `from` the query's tables start (0: they start at `from`).
    pub lookback_ms: i64,
    /// The KPI's query: with a `-- partial` section, `WITH partials AS (<partial>) <final>`.
    #[serde(skip)]
    pub sql: String,
    /// The KPI split in two, so sealed hours can be answered from stored partial results.
    #[serde(skip)]
    pub partial: Option<KpiPartial>,
    /// The query listing the rows behind the KPI, when the file has one.
    #[serde(skip)]
    pub evidence_sql: Option<String>,
    /// Whether `/evidence` is available for this KPI.
    pub evidence: bool,
    /// Where the definition came from (`builtin:<file>` or a path).
    pub source: String,
}

/// The longest lookback of a KPI split in two: each stored hour is keyed by the files of the
/// hours it reads back, listed and hashed on every evaluation.
pub const MAX_SPLIT_LOOKBACK_MS: i64 = 7 * 86_400_000;

/// A KPI split in two (`-- partial`, `-- final`), so the hours that can no longer change are
/// answered from stored results (`crate::partials`).
///
/// Contract, checked at load where the text allows and on every run for the columns:
/// - the partial query returns `time` (the row's `bucket`), label columns of the KPI, and
///   counts that add up across hours — sums of events counted with
///   `COUNT(DISTINCT uid_key(metadata_uid))`, exact because every copy of an event has the same time and
///   so lies in one hour;
/// - it reads only the lake's tables and the derived views over them — not `kpi_range`,
///   `kpi_buckets`, the dead letters or an inventory, which are not a function of one hour's
///   rows. A KPI with a lookback reads that much before each hour for context (an hour's rows
///   then depend on the files of the hours read back too) and keeps the hour's own rows with
///   `time >= range_from` from `kpi_range` (the piece computed), nothing else of it; its views
///   must look back no further than the lookback from each row's own time, so a row's
///   answer does not depend on where the range starts;
/// - columns named in `-- partial_keys:` are grouped on like labels but are not the KPI's
///   labels (the values of a distribution, a set of users): the final query folds them;
///   columns named in `-- partial_max:` / `-- partial_min:` merge by their maximum / minimum;
///   every other column is a count and merges by its sum;
/// - the final query reads those rows, one per bucket, label and key values, as `partials`,
///   and may read the dead letters of the range — never the lake's tables.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiPartial {
    pub partial_sql: String,
    pub final_sql: String,
    /// How the partial columns named in the header merge across hours; any other column is
    /// `time`, a label (grouped on) or a count (summed).
    pub merges: BTreeMap<String, ColumnMerge>,
}

/// How a partial column named in a split KPI's header merges across hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnMerge {
    /// `-- partial_keys:` grouped on, like a label.
    Key,
    /// `-- partial_max:` the largest value.
    Max,
    /// `-- partial_min:` the smallest value.
    Min,
}

impl ColumnMerge {
    /// The header field that declares columns of each merge.
    pub const FIELDS: [(&'static str, ColumnMerge); 3] = [
        ("partial_keys", ColumnMerge::Key),
        ("partial_max", ColumnMerge::Max),
        ("partial_min", ColumnMerge::Min),
    ];
}

impl KpiPartial {
    fn new(
        partial_sql: String,
        final_sql: String,
        lookback_ms: i64,
        merges: BTreeMap<String, ColumnMerge>,
    ) -> Result<Self, String> {
        if partial_sql.is_empty() || final_sql.is_empty() {
            return Err("no SQL after `-- partial` or `-- final`".into());
        }
        let lower = partial_sql.to_ascii_lowercase();
        if lookback_ms > MAX_SPLIT_LOOKBACK_MS {
            return Err(format!(
                "a KPI split in two reads back at most {} days (each stored hour is keyed by \
                 the files of every hour it reads back); keep a longer lookback in one query",
                MAX_SPLIT_LOOKBACK_MS / 86_400_000
            ));
        }
        // With a lookback, each piece's tables start that much before it and the partial
        // query keeps the piece's own rows with `kpi_range.range_from` (the piece's start);
        // the rest of `kpi_range` describes the piece, not the KPI's range.
        if lookback_ms > 0 {
            if !mentions(&lower, "range_from") {
                return Err(
                    "the partial query of a KPI with a lookback keeps its own rows with \
                     `time >= range_from` (from `kpi_range`); the lookback's rows are context"
                        .into(),
                );
            }
            if let Some(name) = ["range_to", "last_bucket"]
                .into_iter()
                .find(|name| mentions(&lower, name))
            {
                return Err(format!(
                    "the partial query reads kpi_range's {name}, which is not a function of \
                     one hour's rows; keep the KPI in one query"
                ));
            }
        }
        let forbidden_range = (lookback_ms <= 0).then_some("kpi_range");
        for name in forbidden_range.into_iter().chain([
            "kpi_buckets",
            "dead_letters",
            "service_account_inventory",
            "policy_exception_inventory",
        ]) {
            if mentions(&lower, name) {
                return Err(format!(
                    "the partial query reads {name}, which is not a function of one hour's \
                     rows; keep the KPI in one query"
                ));
            }
        }
        let final_lower = final_sql.to_ascii_lowercase();
        if !mentions(&final_lower, "partials") {
            return Err("the final query does not read `partials`".into());
        }
        // The final query runs over the merged partial rows and, at most, the range's dead
        // letters (a small store of their own, read in full either way).
        let tables = ztlens_ingest::Table::ALL.iter().map(|t| t.name());
        let views = builtin_views().iter().map(|(name, _)| *name);
        if let Some(name) = tables
            .chain(views)
            .chain([
                "kpi_range",
                "kpi_buckets",
                "service_account_inventory",
                "policy_exception_inventory",
            ])
            .find(|name| mentions(&final_lower, name))
        {
            return Err(format!(
                "the final query reads {name}; it may read only `partials` (the merged rows of \
                 the partial query) and `dead_letters`"
            ));
        }
        Ok(Self {
            partial_sql,
            final_sql,
            merges,
        })
    }

    /// The KPI as one statement: the partial query as the common table `partials`.
    pub fn composed(&self) -> String {
        let final_sql = without_leading_comments(&self.final_sql);
        let partials = format!("partials AS (\n{}\n)", self.partial_sql);
        // A final query with its own common tables continues the list.
        let own_with = final_sql
            .get(..4)
            .is_some_and(|w| w.eq_ignore_ascii_case("with"))
            && final_sql[4..].starts_with(char::is_whitespace);
        if own_with {
            format!("WITH {partials},\n{}", final_sql[4..].trim_start())
        } else {
            format!("WITH {partials}\n{final_sql}")
        }
    }
}

/// `sql` from its first token: leading blank lines and `--` comment lines skipped.
fn without_leading_comments(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    while let Some(comment) = rest.strip_prefix("--") {
        rest = comment
            .split_once('\n')
            .map_or("", |(_, after)| after)
            .trim_start();
    }
    rest
}

// `BUILTIN_KPIS`: the KPI files shipped with ztlens (`queries/kpis/*.sql`), and
// `BUILTIN_VIEWS`: the derived views every KPI query (and evidence query) can read
// (`queries/views/<name>.sql`) — state that several KPIs build from the same rows (intervals,
// detection → containment pairs, MFA steps) defined once. Views are over the KPI's tables, so
// they see the same range and lookback, and cost nothing unless a query reads them. Both lists
// are generated from the folders by `build.rs`, sorted by file name.
include!(concat!(env!("OUT_DIR"), "/builtin_queries.rs"));

// A set of built-in views is a bit set of their indices (`engine::ViewSet`).
const _: () = assert!(
    BUILTIN_VIEWS.len() <= 64,
    "more than 64 built-in views: widen engine::ViewSet"
);

/// The built-in views in registration order: a view that reads another comes after it
/// (ordered once).
pub fn builtin_views() -> &'static [(&'static str, &'static str)] {
    static ORDERED: std::sync::OnceLock<Vec<(&'static str, &'static str)>> =
        std::sync::OnceLock::new();
    ORDERED.get_or_init(order_views)
}

fn order_views() -> Vec<(&'static str, &'static str)> {
    let mut pending: Vec<(&'static str, &'static str)> = BUILTIN_VIEWS
        .iter()
        .map(|(file, sql)| (file.strip_suffix(".sql").unwrap_or(file), *sql))
        .collect();
    let mut ordered: Vec<(&'static str, &'static str)> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(name, sql)| {
                pending
                    .iter()
                    .all(|(other, _)| other == name || !mentions(sql, other))
            })
            .expect("built-in views do not read each other in a cycle");
        ordered.push(pending.remove(ready));
    }
    ordered
}

/// Whether `sql` names `identifier` as a whole word.
pub(crate) fn mentions(sql: &str, identifier: &str) -> bool {
    sql.match_indices(identifier).any(|(at, _)| {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let before = sql[..at].chars().next_back().is_none_or(|c| !word(c));
        let after = sql[at + identifier.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        before && after
    })
}

/// Every `*.sql` file in `dir`, sorted by name, as (path, text): the query files a `--queries`
/// directory adds.
pub(crate) fn read_sql_files(dir: &Path) -> Result<Vec<(String, String)>, AnalyticsError> {
    let invalid = |file: &Path, reason: String| AnalyticsError::InvalidDefinition {
        file: file.display().to_string(),
        reason,
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| invalid(dir, format!("cannot read the directory: {e}")))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| invalid(&path, e.to_string()))?;
            Ok((path.display().to_string(), text))
        })
        .collect()
}

/// The sections a KPI file's body may hold, each started by a line `-- <name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Partial,
    Final,
    Evidence,
}

/// The section a line starts, if it is a marker (`-- partial`, `-- final`, `-- evidence`).
/// Exactly `-- <name>` (any case), so an indented comment line that happens to read `final`
/// continues a header field instead.
fn section_marker(line: &str) -> Option<Section> {
    let line = line.trim();
    [
        ("-- partial", Section::Partial),
        ("-- final", Section::Final),
        ("-- evidence", Section::Evidence),
    ]
    .into_iter()
    .find(|(marker, _)| line.eq_ignore_ascii_case(marker))
    .map(|(_, section)| section)
}

/// The `-- key: value` fields of a query file's header comment (keys lower-cased; an indented
/// comment line continues the last field) and the text after the header.
pub(crate) fn split_header(text: &str) -> (Vec<(String, String)>, &str) {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if section_marker(trimmed).is_some() {
            break;
        }
        if let Some(comment) = trimmed.strip_prefix("--") {
            let indented = comment.starts_with("  ") || comment.starts_with('\t');
            if !indented && let Some((key, value)) = comment.split_once(':') {
                fields.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
            } else if let Some(last) = fields.last_mut() {
                let more = comment.trim();
                if !more.is_empty() {
                    last.1.push(' ');
                    last.1.push_str(more);
                }
            }
        } else if !trimmed.is_empty() {
            break;
        }
        offset += line.len();
    }
    (fields, &text[offset..])
}

impl KpiDef {
    /// Parse a definition file.
    pub fn parse(file: &str, text: &str) -> Result<Self, AnalyticsError> {
        let invalid = |reason: String| AnalyticsError::InvalidDefinition {
            file: file.to_string(),
            reason,
        };
        let (fields, body) = split_header(text);
        // The lines before any marker, and each section's lines.
        let mut sql_lines = Vec::new();
        let mut sections: Vec<(Section, Vec<&str>)> = Vec::new();
        for line in body.lines() {
            if let Some(section) = section_marker(line) {
                if sections.iter().any(|(s, _)| *s == section) {
                    return Err(invalid(format!(
                        "more than one `-- {}` section",
                        format!("{section:?}").to_ascii_lowercase()
                    )));
                }
                sections.push((section, Vec::new()));
                continue;
            }
            match sections.last_mut() {
                Some((_, lines)) => lines.push(line),
                None => sql_lines.push(line),
            }
        }
        let section_text = |section: Section| -> Option<String> {
            sections
                .iter()
                .find(|(s, _)| *s == section)
                .map(|(_, lines)| lines.join("\n").trim().trim_end_matches(';').to_string())
        };
        let evidence_lines = section_text(Section::Evidence);
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
        for (key, _) in &fields {
            if !matches!(
                key.as_str(),
                "id" | "title"
                    | "unit"
                    | "labels"
                    | "gauge_labels"
                    | "metrics"
                    | "totals"
                    | "description"
                    | "lookback"
            ) && !ColumnMerge::FIELDS.iter().any(|(field, _)| field == key)
            {
                return Err(invalid(format!("unknown header field `{key}`")));
            }
        }
        let id = required("id")?;
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(invalid(format!(
                "id {id:?} must be lower-case letters, digits and `_`"
            )));
        }
        let (metrics, totals) = (list("metrics"), list("totals"));
        if let Some(t) = totals
            .iter()
            .find(|t| !metrics.is_empty() && !metrics.contains(t))
        {
            return Err(invalid(format!("total {t:?} is not one of the metrics")));
        }
        let labels = list("labels");
        let gauge_labels = match get("gauge_labels") {
            None => labels.clone(),
            Some(_) => list("gauge_labels"),
        };
        if let Some(l) = gauge_labels.iter().find(|l| !labels.contains(l)) {
            return Err(invalid(format!(
                "gauge label {l:?} is not one of the labels"
            )));
        }
        let lookback_ms = match get("lookback") {
            None => 0,
            Some(text) => crate::time_range::parse_duration_ms(&text)
                .map_err(|e| invalid(format!("lookback: {e}")))?,
        };
        let before_sections = sql_lines
            .join("\n")
            .trim()
            .trim_end_matches(';')
            .to_string();
        let partial = match (section_text(Section::Partial), section_text(Section::Final)) {
            (None, None) => None,
            (Some(partial), Some(final_sql)) => {
                let order: Vec<Section> = sections.iter().map(|(s, _)| *s).collect();
                if !before_sections
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim().starts_with("--"))
                    || order.iter().position(|s| *s == Section::Partial)
                        > order.iter().position(|s| *s == Section::Final)
                {
                    return Err(invalid(
                        "a KPI split in two has its `-- partial` query first, then `-- final`, \
                         and no other query"
                            .into(),
                    ));
                }
                let mut merges = BTreeMap::new();
                for (field, merge) in ColumnMerge::FIELDS {
                    for column in list(field) {
                        if labels.contains(&column) || column == "time" {
                            return Err(invalid(format!(
                                "partial column {column:?} is `time` or a label; `partial_keys`, \
                                 `partial_max` and `partial_min` name the partial query's other \
                                 columns"
                            )));
                        }
                        if merges.insert(column.clone(), merge).is_some() {
                            return Err(invalid(format!(
                                "column {column:?} is named twice in `partial_keys`, \
                                 `partial_max` and `partial_min`"
                            )));
                        }
                    }
                }
                Some(KpiPartial::new(partial, final_sql, lookback_ms, merges).map_err(invalid)?)
            }
            _ => {
                return Err(invalid(
                    "`-- partial` and `-- final` come together: the partial query's rows are \
                     what the final query reads as `partials`"
                        .into(),
                ));
            }
        };
        if partial.is_none()
            && ColumnMerge::FIELDS
                .iter()
                .any(|(field, _)| get(field).is_some())
        {
            return Err(invalid(
                "`partial_keys`, `partial_max` and `partial_min` belong to a KPI split in two \
                 (`-- partial`)"
                    .into(),
            ));
        }
        let sql = match &partial {
            Some(partial) => partial.composed(),
            None => before_sections,
        };
        if sql.is_empty() {
            return Err(invalid("no SQL after the header".into()));
        }
        // A KPI file runs with the server's rights: it passes the same read-only guard as a
        // user's query, here once at load and again on every run.
        crate::guard::check_query_text(&sql).map_err(|e| invalid(format!("query: {e}")))?;
        let evidence_sql = match evidence_lines {
            None => None,
            Some(text) => {
                if text.is_empty() {
                    return Err(invalid("no SQL after `-- evidence`".into()));
                }
                crate::guard::check_query_text(&text)
                    .map_err(|e| invalid(format!("evidence query: {e}")))?;
                Some(text)
            }
        };
        let unit = required("unit")?;
        let gauges = metrics
            .iter()
            .map(|m| Gauge::named(&id, m, &unit).name)
            .collect();
        Ok(KpiDef {
            id,
            title: required("title")?,
            unit,
            labels,
            gauge_labels,
            metrics,
            gauges,
            totals,
            description: required("description")?,
            lookback_ms,
            sql,
            partial,
            evidence: evidence_sql.is_some(),
            evidence_sql,
            source: file.to_string(),
        })
    }
}

/// The KPIs a server answers for.
#[derive(Debug, Clone, Default)]
pub struct KpiCatalog {
    kpis: Vec<KpiDef>,
}

impl KpiCatalog {
    /// The built-in KPIs.
    pub fn builtin() -> Self {
        let kpis = BUILTIN_KPIS
            .iter()
            .map(|(file, text)| {
                KpiDef::parse(&format!("builtin:{file}"), text)
                    .expect("built-in KPI files are valid")
            })
            .collect();
        Self { kpis }
    }

    /// Built-ins, then every `*.sql` in `dir` (replacing built-ins with the same id).
    pub fn with_directory(dir: &Path) -> Result<Self, AnalyticsError> {
        let mut catalog = Self::builtin();
        for (file, text) in read_sql_files(dir)? {
            let def = KpiDef::parse(&file, &text)?;
            catalog.kpis.retain(|k| k.id != def.id);
            catalog.kpis.push(def);
        }
        Ok(catalog)
    }

    pub fn list(&self) -> &[KpiDef] {
        &self.kpis
    }

    pub fn get(&self, id: &str) -> Result<&KpiDef, AnalyticsError> {
        self.kpis
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| AnalyticsError::UnknownKpi(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exported_in_seconds_and_other_columns_as_they_are() {
        let of = |c: &str, unit: &str| {
            let e = Gauge::named("k", c, unit);
            (e.name, e.scale, e.unit)
        };
        let secs =
            |n: &str, scale: f64| (format!("ztlens_kpi_k_{n}"), scale, "seconds".to_string());
        assert_eq!(of("p90_hours", "hours"), secs("p90_seconds", 3600.0));
        assert_eq!(
            of("median_minutes", "minutes"),
            secs("median_seconds", 60.0)
        );
        assert_eq!(
            of("credential_age_days", "accounts"),
            secs("credential_age_seconds", 86_400.0)
        );
        assert_eq!(
            of("days_since_sign_in", "accounts"),
            secs("sign_in_age_seconds", 86_400.0)
        );
        assert_eq!(of("lag_max_s", "events"), secs("lag_max_seconds", 1.0));
        let kept = |n: &str, unit: &str| (format!("ztlens_kpi_k_{n}"), 1.0, unit.to_string());
        assert_eq!(of("contained", "minutes"), kept("contained", "count"));
        assert_eq!(
            of("failure_rate", "sign-ins"),
            kept("failure_rate", "ratio")
        );
        assert_eq!(of("events", "events"), kept("events", "events"));
    }

    #[test]
    fn builtin_views_are_read_only_queries_in_dependency_order() {
        let views = builtin_views();
        assert_eq!(views.len(), BUILTIN_VIEWS.len());
        for (i, (name, sql)) in views.iter().enumerate() {
            crate::guard::check_query_text(sql).unwrap_or_else(|e| panic!("{name}: {e}"));
            for (later, _) in &views[i + 1..] {
                assert!(
                    !mentions(sql, later),
                    "{name} reads {later}, registered after it"
                );
            }
        }
    }

    #[test]
    fn a_kpi_split_in_two_is_checked_at_load_and_composes_into_one_statement() {
        let header = "-- id: x\n-- title: t\n-- unit: u\n-- labels: a\n-- description: d\n";
        let partial = "SELECT bucket AS time, a, COUNT(DISTINCT metadata_uid) AS n FROM authentication GROUP BY 1, 2";
        let ok = KpiDef::parse(
            "x.sql",
            &format!("{header}-- partial\n{partial}\n\n-- final\nSELECT * FROM partials ORDER BY time\n-- evidence\nSELECT 1\n"),
        )
        .unwrap();
        assert_eq!(ok.description, "d", "the marker ends the header");
        assert_eq!(
            ok.sql,
            format!("WITH partials AS (\n{partial}\n)\nSELECT * FROM partials ORDER BY time")
        );
        assert_eq!(ok.evidence_sql.as_deref(), Some("SELECT 1"));
        let with = KpiPartial::new(
            partial.into(),
            "-- the final query's own common table\nWITH\n  t AS (SELECT * FROM partials) SELECT * FROM t".into(),
            0,
            BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(
            with.composed(),
            format!(
                "WITH partials AS (\n{partial}\n),\nt AS (SELECT * FROM partials) SELECT * FROM t"
            )
        );
        for (body, expected) in [
            (format!("-- partial\n{partial}\n"), "come together"),
            ("-- final\nSELECT * FROM partials\n".to_string(), "come together"),
            (format!("SELECT 1\n-- partial\n{partial}\n-- final\nSELECT * FROM partials\n"), "no other query"),
            (format!("-- final\nSELECT * FROM partials\n-- partial\n{partial}\n"), "first"),
            ("-- partial\nSELECT bucket AS time, range_to FROM kpi_range\n-- final\nSELECT * FROM partials\n".into(), "kpi_range"),
            (format!("-- partial\n{partial}\n-- final\nSELECT * FROM partials JOIN authentication USING (a)\n"), "authentication"),
            (format!("-- partial\n{partial}\n-- final\nSELECT 1\n"), "does not read `partials`"),
            (format!("-- partial_keys: a\n-- partial\n{partial}\n-- final\nSELECT * FROM partials\n"), "is `time` or a label"),
            (format!("-- partial_max: n\n-- partial_keys: n\n-- partial\n{partial}\n-- final\nSELECT * FROM partials\n"), "named twice"),
            ("-- partial_max: n\nSELECT 1\n".to_string(), "belong to a KPI split in two"),
        ] {
            let error = KpiDef::parse("x.sql", &format!("{header}{body}")).unwrap_err().to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
        let error = KpiDef::parse(
            "x.sql",
            &format!(
                "{header}-- lookback: 1d\n-- partial\n{partial}\n-- final\nSELECT * FROM partials\n"
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("time >= range_from"), "{error}");
        // With a lookback the partial keeps its piece's rows with `range_from`, and nothing
        // else of kpi_range.
        let in_piece = "SELECT bucket AS time, a, COUNT(DISTINCT metadata_uid) AS n \
                        FROM authentication CROSS JOIN kpi_range WHERE time >= range_from GROUP BY 1, 2";
        let with_lookback = |partial: &str| {
            KpiDef::parse(
                "x.sql",
                &format!(
                    "{header}-- lookback: 1d\n-- partial\n{partial}\n-- final\nSELECT * FROM partials\n"
                ),
            )
        };
        assert!(with_lookback(in_piece).unwrap().partial.is_some());
        let error = with_lookback(&in_piece.replace(
            "time >= range_from",
            "time >= range_from AND time < range_to",
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("range_to"), "{error}");
        // A lookback past a week stays one query (and a huge one does not overflow).
        for lookback in ["8d", "9223372036854775807"] {
            let error = KpiDef::parse(
                "x.sql",
                &format!(
                    "{header}-- lookback: {lookback}\n-- partial\n{in_piece}\n-- final\nSELECT * FROM partials\n"
                ),
            )
            .unwrap_err()
            .to_string();
            assert!(error.contains("at most 7 days"), "{lookback}: {error}");
        }
        // Keys and maxima are kept; the final query may read the range's dead letters.
        let keyed = KpiDef::parse(
            "x.sql",
            &format!(
                "{header}-- partial_keys: user\n-- partial_max: newest\n-- partial_min: oldest\n\
                 -- partial\nSELECT bucket AS time, a, user_name AS user, COUNT(*) AS n, \
                 MAX(time) AS newest, MIN(time) AS oldest \
                 FROM authentication GROUP BY 1, 2, 3\n-- final\n\
                 SELECT time, a FROM partials UNION ALL SELECT bucket, source FROM dead_letters\n"
            ),
        )
        .unwrap();
        let split = keyed.partial.unwrap();
        assert_eq!(
            split.merges,
            BTreeMap::from([
                ("newest".to_string(), ColumnMerge::Max),
                ("oldest".to_string(), ColumnMerge::Min),
                ("user".to_string(), ColumnMerge::Key),
            ])
        );
    }

    /// Regression: a KPI file under `--queries` with `COPY … TO` wrote the file at start-up
    /// and on every request; `INSERT` added a Parquet file to the lake; a `COPY` in the
    /// evidence section ran too. Such files are refused when the catalog loads.
    #[test]
    fn kpi_files_that_write_are_refused_at_load() {
        let header = "-- id: x\n-- title: X\n-- unit: n\n-- labels: a\n-- description: d\n";
        for body in [
            "COPY (SELECT 1) TO '/tmp/ztlens-pwned.csv' STORED AS CSV",
            "INSERT INTO authentication__lake SELECT * FROM authentication__tail",
            "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'",
            "SET datafusion.execution.batch_size = 1",
            "SELECT bucket AS time, 'a' AS a FROM authentication GROUP BY 1; DROP TABLE authentication",
            "SELECT bucket AS time, 'a' AS a FROM authentication GROUP BY 1\n-- evidence\nCOPY (SELECT 1) TO '/tmp/ztlens-pwned.csv'",
        ] {
            let error = KpiDef::parse("test.sql", &format!("{header}{body}"))
                .expect_err(body)
                .to_string();
            assert!(error.contains("test.sql"), "{error}");
        }
        assert!(!Path::new("/tmp/ztlens-pwned.csv").exists());
        KpiDef::parse(
            "test.sql",
            &format!("{header}SELECT bucket AS time, 'a' AS a FROM authentication GROUP BY 1"),
        )
        .unwrap();
    }

    #[test]
    fn builtins_parse() {
        let catalog = KpiCatalog::builtin();
        let ids: Vec<_> = catalog.list().iter().map(|k| k.id.as_str()).collect();
        // Every file of queries/kpis/, in file-name order, each named for its id.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/kpis");
        let mut stems: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
            .collect();
        stems.sort();
        assert_eq!(ids, stems);
        assert_eq!(ids.len(), 22);
        for k in catalog.list() {
            // Prometheus labels come from bounded sets: never a person, an account or an address.
            for label in &k.gauge_labels {
                assert!(
                    ![
                        "account",
                        "user",
                        "user_name",
                        "email",
                        "ip",
                        "src_ip",
                        "hostname",
                        "event_type"
                    ]
                    .iter()
                    .any(|p| label.contains(p)),
                    "{}: gauge label {label} is unbounded",
                    k.id
                );
            }
            // The KPI's SQL with the views it reads (a view may do the distinct counting).
            let mut sql = k.sql.to_ascii_lowercase();
            for &(name, view) in builtin_views() {
                if mentions(&k.sql, name) {
                    sql.push('\n');
                    sql.push_str(&view.to_ascii_lowercase());
                }
            }
            // Distinct ids, either counted distinct or collapsed by a GROUP BY on the id first.
            assert!(
                (sql.contains("count(distinct") || sql.contains("group by 1, 2, 3"))
                    && sql.contains("metadata_uid")
                    && !sql.contains("count(*)"),
                "{} must count distinct ids",
                k.id
            );
            let evidence = k
                .evidence_sql
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            assert!(
                evidence.contains("distinct") && evidence.contains("order by time, metadata_uid"),
                "{} must list its evidence, once per event, in a stable order",
                k.id
            );
            assert!(
                !k.totals.is_empty(),
                "{} must name its additive metrics",
                k.id
            );
        }
    }

    #[test]
    fn header_errors_are_reported() {
        let err = KpiDef::parse("x.sql", "-- id: x\n-- title: t\nSELECT 1").unwrap_err();
        assert!(err.to_string().contains("`unit`"), "{err}");
        let err = KpiDef::parse(
            "x.sql",
            "-- id: Bad Id\n-- title: t\n-- unit: u\n-- description: d\nSELECT 1",
        )
        .unwrap_err();
        assert!(err.to_string().contains("lower-case"), "{err}");
        let err = KpiDef::parse(
            "x.sql",
            "-- id: x\n-- title: t\n-- unit: u\n-- description: d\n-- colour: red\nSELECT 1",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown header field"), "{err}");
        let ok = KpiDef::parse("x.sql", "-- id: x\n-- title: t\n-- unit: u\n-- labels: a, b\n-- description: first\n--   second\nSELECT 1;").unwrap();
        assert_eq!(ok.labels, ["a", "b"]);
        assert_eq!(ok.description, "first second");
        assert_eq!(ok.sql, "SELECT 1");
        assert_eq!(ok.evidence_sql, None);

        let with_evidence = KpiDef::parse(
            "x.sql",
            "-- id: x\n-- title: t\n-- unit: u\n-- description: d\nSELECT 1;\n-- evidence\nSELECT 2;\n",
        )
        .unwrap();
        assert_eq!(with_evidence.sql, "SELECT 1");
        assert_eq!(with_evidence.evidence_sql.as_deref(), Some("SELECT 2"));
        let err = KpiDef::parse(
            "x.sql",
            "-- id: x\n-- title: t\n-- unit: u\n-- description: d\nSELECT 1\n-- evidence\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("after `-- evidence`"), "{err}");

        let header = "-- id: x\n-- title: t\n-- unit: u\n-- description: d\n";
        let err =
            KpiDef::parse("x.sql", &format!("{header}-- lookback: a week\nSELECT 1")).unwrap_err();
        assert!(err.to_string().contains("lookback"), "{err}");
        let week = KpiDef::parse("x.sql", &format!("{header}-- lookback: 7d\nSELECT 1")).unwrap();
        assert_eq!(week.lookback_ms, 7 * 86_400_000);
        assert_eq!(
            KpiDef::parse("x.sql", &format!("{header}SELECT 1"))
                .unwrap()
                .lookback_ms,
            0
        );

        let labelled = format!("{header}-- labels: source, account\n");
        assert_eq!(
            KpiDef::parse("x.sql", &format!("{labelled}SELECT 1"))
                .unwrap()
                .gauge_labels,
            ["source", "account"]
        );
        let narrowed = KpiDef::parse(
            "x.sql",
            &format!("{labelled}-- gauge_labels: source\nSELECT 1"),
        )
        .unwrap();
        assert_eq!(narrowed.gauge_labels, ["source"]);
        assert_eq!(narrowed.labels, ["source", "account"]);
        let err = KpiDef::parse(
            "x.sql",
            &format!("{labelled}-- gauge_labels: user\nSELECT 1"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("gauge label \"user\""), "{err}");
    }
}
