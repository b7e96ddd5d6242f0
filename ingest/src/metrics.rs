//! Ingest and lake metrics, registered into the caller's Prometheus registry.
//!
//! Labels come only from fixed sets (source format, table, error kind), never from record
//! content, so the series count is bounded whatever the input.

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
        for (kind, n) in &stats.dead_letters {
            self.dead_letters
                .with_label_values(&[source, kind.as_str()])
                .inc_by(*n);
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
