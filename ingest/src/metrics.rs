//! Ingest and lake metrics, registered into the caller's Prometheus registry.
//!
//! Labels come only from fixed sets (source format, table, error kind), never from record
//! content, so the series count is bounded whatever the input. The one exception,
//! `ztlens_ingest_base_events_total{event_type}`, takes the vendor event type of unmapped
//! events: at most [`MAX_EVENT_TYPES_PER_SOURCE`] values per source are admitted (first come),
//! and only short names of plain characters; the rest are counted as `other`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::record::{DecodeStats, ErrorKind};
use crate::schema::Table;

pub struct IngestMetrics {
    pub records: IntCounterVec,
    pub bytes: IntCounterVec,
    pub rows: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub lake_rows_written: IntCounterVec,
    pub lake_files_written: IntCounterVec,
    pub lake_flush_seconds: Histogram,
    pub lake_flush_errors: IntCounter,
    pub lake_buffered_rows: IntGauge,
    pub lake_wal_bytes: IntGauge,
    pub lake_appends_rejected: IntCounter,
    pub wal_recovered_rows: IntCounter,
    pub wal_skipped_bytes: IntCounter,
    /// Pushed bodies refused whole for holding too many broken records.
    pub requests_refused: IntCounter,
    pub requests_refused_dead_letter_budget: IntCounter,
    pub dead_letters_truncated: IntCounter,
    pub base_events: IntCounterVec,
    /// Rows stored per source, table and `zt_decision` (the taxonomy's fixed values).
    pub decisions: IntCounterVec,
    /// Event-type labels admitted per source (see the module docs).
    admitted_event_types: Mutex<HashMap<String, HashSet<String>>>,
}

/// Vendor event types with their own `ztlens_ingest_base_events_total` series, per source.
/// CloudTrail alone names a hundred API calls in a small sample.
pub const MAX_EVENT_TYPES_PER_SOURCE: usize = 100;

/// Whether an event type may be a label value: short, plain characters.
fn plain_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/- ".contains(&b))
}

impl IngestMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter_vec =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let flush = Histogram::with_opts(
            HistogramOpts::new(
                "ztlens_lake_flush_seconds",
                "Time to write buffered rows to Parquet, per flush.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )?;
        registry.register(Box::new(flush.clone()))?;
        Ok(Self {
            records: counter_vec(
                "ztlens_ingest_records_total",
                "Records received, per source format.",
                &["source"],
            )?,
            bytes: counter_vec(
                "ztlens_ingest_bytes_total",
                "Input bytes received, per source format.",
                &["source"],
            )?,
            rows: counter_vec(
                "ztlens_ingest_rows_total",
                "Normalized rows produced, per source format and table.",
                &["source", "table"],
            )?,
            dead_letters: counter_vec(
                "ztlens_ingest_dead_letters_total",
                "Records refused and stored in the dead-letter store, per source format and reason.",
                &["source", "reason"],
            )?,
            lake_rows_written: counter_vec(
                "ztlens_lake_rows_written_total",
                "Rows written to Parquet, per table.",
                &["table"],
            )?,
            lake_files_written: counter_vec(
                "ztlens_lake_files_written_total",
                "Parquet files written, per table.",
                &["table"],
            )?,
            lake_flush_seconds: flush,
            lake_flush_errors: counter(
                "ztlens_lake_flush_errors_total",
                "Flushes that failed (rows kept and retried).",
            )?,
            lake_buffered_rows: gauge(
                "ztlens_lake_buffered_rows",
                "Rows acknowledged but not yet in Parquet.",
            )?,
            lake_wal_bytes: gauge("ztlens_lake_wal_bytes", "Bytes in the write-ahead log.")?,
            lake_appends_rejected: counter(
                "ztlens_lake_appends_rejected_total",
                "Appends refused because the writer's buffer budget was exhausted (callers get 503).",
            )?,
            wal_recovered_rows: counter(
                "ztlens_wal_recovered_rows_total",
                "Rows recovered from the WAL at start-up.",
            )?,
            wal_skipped_bytes: counter(
                "ztlens_wal_skipped_bytes_total",
                "Bytes of damaged WAL tails skipped at start-up.",
            )?,
            requests_refused: counter(
                "ztlens_ingest_requests_refused_total",
                "Pushed bodies refused whole because more of their records were broken than ingest.max_dead_letters_per_request.",
            )?,
            requests_refused_dead_letter_budget: counter(
                "ztlens_ingest_requests_refused_dead_letter_budget_total",
                "Pushed bodies with broken records refused whole because the day's dead-letter budget (lake.max_dead_letter_bytes_per_day) was spent.",
            )?,
            base_events: counter_vec(
                "ztlens_ingest_base_events_total",
                "Events of a known source that no class maps, stored in base_event, per source and vendor event type (at most 100 types per source; the rest are `other`).",
                &["source", "event_type"],
            )?,
            decisions: counter_vec(
                "ztlens_ingest_decisions_total",
                "Events stored with an access decision, per source, table and zt_decision (allow, challenge_mfa, deny_policy … other).",
                &["source", "table", "decision"],
            )?,
            admitted_event_types: Mutex::new(HashMap::new()),
            dead_letters_truncated: counter(
                "ztlens_dead_letters_truncated_total",
                "Dead letters stored with only the start of their record because the day's dead-letter budget was spent.",
            )?,
        })
    }

    /// Count one decode run.
    pub fn observe_decode(&self, source: &str, stats: &DecodeStats) {
        self.records
            .with_label_values(&[source])
            .inc_by(stats.records);
        self.bytes.with_label_values(&[source]).inc_by(stats.bytes);
        for (table, n) in &stats.rows {
            self.rows
                .with_label_values(&[source, table.name()])
                .inc_by(*n);
        }
        for (table, tally) in &stats.decisions {
            for (decision, n) in tally {
                self.decisions
                    .with_label_values(&[source, table.name(), decision])
                    .inc_by(*n);
            }
        }
        for (kind, n) in &stats.dead_letters {
            self.dead_letters
                .with_label_values(&[source, kind.as_str()])
                .inc_by(*n);
        }
        if !stats.base_events.is_empty() {
            let mut admitted = self
                .admitted_event_types
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let admitted = admitted.entry(source.to_string()).or_default();
            for (event_type, n) in &stats.base_events {
                let label = if admitted.contains(event_type) {
                    event_type.as_str()
                } else if plain_label(event_type)
                    && event_type != "other"
                    && admitted.len() < MAX_EVENT_TYPES_PER_SOURCE
                {
                    admitted.insert(event_type.clone());
                    event_type.as_str()
                } else {
                    "other"
                };
                self.base_events
                    .with_label_values(&[source, label])
                    .inc_by(*n);
            }
        }
    }

    /// Make every series exist at zero, so dashboards show 0 rather than "no data".
    pub fn touch(&self, sources: &[&str]) {
        for source in sources {
            self.records.with_label_values(&[source]);
            self.bytes.with_label_values(&[source]);
            for kind in ErrorKind::ALL {
                self.dead_letters
                    .with_label_values(&[source, kind.as_str()]);
            }
        }
        for table in Table::ALL {
            self.lake_rows_written.with_label_values(&[table.name()]);
            self.lake_files_written.with_label_values(&[table.name()]);
        }
    }
}

#[cfg(test)]
mod base_event_tests {
    use super::*;

    #[test]
    fn event_type_labels_are_capped_per_source_and_odd_names_are_other() {
        let registry = Registry::new();
        let metrics = IngestMetrics::new(&registry).unwrap();
        let mut stats = DecodeStats::default();
        let mut types = std::collections::BTreeMap::new();
        for i in 0..MAX_EVENT_TYPES_PER_SOURCE + 20 {
            types.insert(format!("type.{i:03}"), 1);
        }
        types.insert("x\"}\n{evil".into(), 3);
        types.insert("a".repeat(65), 2);
        stats.add_base_event_types(&types);
        metrics.observe_decode("okta", &stats);
        let count = |label: &str| {
            metrics
                .base_events
                .with_label_values(&["okta", label])
                .get()
        };
        assert_eq!(count("type.000"), 1);
        // 20 over the cap, plus the two names that are not plain.
        assert_eq!(count("other"), 20 + 3 + 2);
        let series = registry
            .gather()
            .into_iter()
            .find(|f| f.name() == "ztlens_ingest_base_events_total")
            .unwrap()
            .get_metric()
            .len();
        assert_eq!(series, MAX_EVENT_TYPES_PER_SOURCE + 1);
        // Another source has its own allowance.
        metrics.observe_decode("cloudtrail", &stats);
        assert_eq!(
            metrics
                .base_events
                .with_label_values(&["cloudtrail", "type.050"])
                .get(),
            1
        );
    }
}
