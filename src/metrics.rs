//! The Prometheus registry: ingest and lake counters, HTTP request metrics, and KPI gauges.
//!
//! KPI gauges are named `ztlens_kpi_<kpi>_<value>` (durations in seconds, see
//! [`Gauge`]) with the KPI's label columns as labels
//! (country, segment pair, source, decision …). Label values come from bounded sets — site
//! config, decision taxonomy, vendor country names — and each KPI value is capped at
//! `max_series_per_kpi` series; rows past the cap are dropped and counted in
//! `ztlens_kpi_series_dropped_total`, so no input can blow up the series count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use ztlens_analytics::kpi::Gauge;
use ztlens_analytics::{KpiDef, QueryOutput};
use ztlens_ingest::kafka::KafkaMetrics;
use ztlens_ingest::metrics::IngestMetrics;

pub struct Metrics {
    registry: Registry,
    pub ingest: Arc<IngestMetrics>,
    pub kafka: Arc<KafkaMetrics>,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    /// Connections closed at accept because `server.max_connections` were open.
    pub http_connections_refused: IntCounter,
    /// Requests refused because their token exceeded its rate limit.
    pub http_rate_limited: IntCounterVec,
    kpi_gauges: Mutex<HashMap<String, GaugeVec>>,
    pub kpi_series_dropped: IntCounterVec,
    pub kpi_evaluation_errors: IntCounterVec,
    pub kpi_last_evaluation: GaugeVec,
    pub kpi_evaluation_seconds: GaugeVec,
    pub detections: DetectionMetrics,
    pub syslog: crate::syslog::SyslogMetrics,
    max_series_per_kpi: usize,
}

/// Detection and alert metrics.
pub struct DetectionMetrics {
    /// Alerts opened, by rule and severity.
    pub fired: IntCounterVec,
    /// Alerts resolved, by rule and severity.
    pub resolved: IntCounterVec,
    /// Alerts firing now, by rule.
    pub firing: GaugeVec,
    pub evaluation_seconds: GaugeVec,
    pub evaluation_errors: IntCounterVec,
    pub last_success: GaugeVec,
    /// Notifications delivered, by sink (a webhook's name, or alertmanager).
    pub notifications_sent: IntCounterVec,
    /// Delivery attempts that failed (retried), by sink.
    pub notifications_failed: IntCounterVec,
    /// Notifications dropped because a webhook's outbox was full, by sink.
    pub notifications_dropped: IntCounterVec,
    /// Notifications waiting in a webhook's outbox.
    pub outbox_depth: GaugeVec,
}

impl DetectionMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let fired = IntCounterVec::new(
            Opts::new(
                "ztlens_alerts_fired_total",
                "Alerts opened by the detection rules, by rule and severity.",
            ),
            &["rule", "severity"],
        )?;
        let resolved = IntCounterVec::new(
            Opts::new(
                "ztlens_alerts_resolved_total",
                "Alerts resolved (their condition stopped holding), by rule and severity.",
            ),
            &["rule", "severity"],
        )?;
        let firing = GaugeVec::new(
            Opts::new("ztlens_alerts_firing", "Alerts firing now, by rule."),
            &["rule"],
        )?;
        let evaluation_seconds = GaugeVec::new(
            Opts::new(
                "ztlens_detection_evaluation_seconds",
                "How long the last evaluation of each detection rule took.",
            ),
            &["rule"],
        )?;
        let evaluation_errors = IntCounterVec::new(
            Opts::new(
                "ztlens_detection_evaluation_errors_total",
                "Detection rule evaluations that failed (retried at the next schedule).",
            ),
            &["rule"],
        )?;
        let last_success = GaugeVec::new(
            Opts::new(
                "ztlens_detection_last_success_timestamp_seconds",
                "When each detection rule last evaluated successfully.",
            ),
            &["rule"],
        )?;
        registry.register(Box::new(fired.clone()))?;
        registry.register(Box::new(resolved.clone()))?;
        registry.register(Box::new(firing.clone()))?;
        registry.register(Box::new(evaluation_seconds.clone()))?;
        registry.register(Box::new(evaluation_errors.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        let by_sink = |name: &str, help: &str| -> Result<IntCounterVec, prometheus::Error> {
            let counter = IntCounterVec::new(Opts::new(name, help), &["sink"])?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let notifications_sent = by_sink(
            "ztlens_notifications_sent_total",
            "Alert notifications delivered, by sink (webhook name or alertmanager).",
        )?;
        let notifications_failed = by_sink(
            "ztlens_notifications_failed_total",
            "Alert notification attempts that failed and will be retried, by sink.",
        )?;
        let notifications_dropped = by_sink(
            "ztlens_notifications_dropped_total",
            "Alert notifications dropped because the webhook's outbox was full (notifications.max_outbox).",
        )?;
        let outbox_depth = GaugeVec::new(
            Opts::new(
                "ztlens_notification_outbox_depth",
                "Notifications waiting in a webhook's outbox.",
            ),
            &["sink"],
        )?;
        registry.register(Box::new(outbox_depth.clone()))?;
        Ok(Self {
            fired,
            resolved,
            firing,
            evaluation_seconds,
            evaluation_errors,
            last_success,
            notifications_sent,
            notifications_failed,
            notifications_dropped,
            outbox_depth,
        })
    }

    /// Create a sink's series at 0.
    pub fn touch_sink(&self, sink: &str) {
        self.notifications_sent.with_label_values(&[sink]);
        self.notifications_failed.with_label_values(&[sink]);
        self.notifications_dropped.with_label_values(&[sink]);
    }

    /// Create a rule's series at 0, so `increase()` works from the first scrape.
    pub fn touch(&self, rule: &str, severity: &str) {
        self.fired.with_label_values(&[rule, severity]);
        self.resolved.with_label_values(&[rule, severity]);
        self.evaluation_errors.with_label_values(&[rule]);
    }
}

impl Metrics {
    pub fn new(max_series_per_kpi: usize) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let ingest = Arc::new(IngestMetrics::new(&registry)?);
        let kafka = Arc::new(KafkaMetrics::new(&registry)?);
        let http_requests = IntCounterVec::new(
            Opts::new(
                "ztlens_http_requests_total",
                "HTTP requests, by route template, method and status.",
            ),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "ztlens_http_request_duration_seconds",
                "HTTP request latency, by route template.",
            ),
            &["route"],
        )?;
        let http_connections_refused = IntCounter::new(
            "ztlens_http_connections_refused_total",
            "Connections closed at accept because server.max_connections were open.",
        )?;
        let http_rate_limited = IntCounterVec::new(
            Opts::new(
                "ztlens_http_requests_rate_limited_total",
                "Requests refused (429) because their API token exceeded its rate limit, by token name (anonymous without tokens).",
            ),
            &["token"],
        )?;
        let kpi_series_dropped = IntCounterVec::new(
            Opts::new(
                "ztlens_kpi_series_dropped_total",
                "KPI series not exported because the per-KPI cap was reached.",
            ),
            &["kpi"],
        )?;
        let kpi_evaluation_errors = IntCounterVec::new(
            Opts::new(
                "ztlens_kpi_evaluation_errors_total",
                "KPI evaluations for /metrics that failed.",
            ),
            &["kpi"],
        )?;
        let kpi_last_evaluation = GaugeVec::new(
            Opts::new(
                "ztlens_kpi_last_evaluation_timestamp_seconds",
                "When each KPI was last evaluated for /metrics.",
            ),
            &["kpi"],
        )?;
        let kpi_evaluation_seconds = GaugeVec::new(
            Opts::new(
                "ztlens_kpi_evaluation_seconds",
                "How long the last evaluation of each KPI for /metrics took.",
            ),
            &["kpi"],
        )?;
        for c in [&http_requests, &kpi_series_dropped, &kpi_evaluation_errors] {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(http_connections_refused.clone()))?;
        registry.register(Box::new(http_rate_limited.clone()))?;
        registry.register(Box::new(kpi_last_evaluation.clone()))?;
        registry.register(Box::new(kpi_evaluation_seconds.clone()))?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "ztlens_build_info",
                "Always 1; the running ztlens version as a label.",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info))?;
        // process_cpu_seconds_total, process_resident_memory_bytes, open file descriptors …
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let detections = DetectionMetrics::new(&registry)?;
        let syslog = crate::syslog::SyslogMetrics::new(&registry)?;
        Ok(Self {
            registry,
            ingest,
            kafka,
            http_requests,
            http_duration,
            http_connections_refused,
            http_rate_limited,
            kpi_gauges: Mutex::new(HashMap::new()),
            kpi_series_dropped,
            kpi_evaluation_errors,
            kpi_last_evaluation,
            kpi_evaluation_seconds,
            detections,
            syslog,
            max_series_per_kpi,
        })
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Replace the exported series of one KPI with the rows of a fresh evaluation.
    pub fn update_kpi(&self, def: &KpiDef, output: &QueryOutput) -> Result<(), String> {
        let rows = output.json_rows().map_err(|e| e.to_string())?;
        let value_columns: Vec<String> = if def.metrics.is_empty() {
            let first = rows.first();
            output
                .columns
                .iter()
                .filter(|c| *c != "time" && !def.labels.contains(c))
                .filter(|c| first.and_then(|r| r.get(*c)).is_some_and(|v| v.is_number()))
                .cloned()
                .collect()
        } else {
            def.metrics.clone()
        };
        let labels: Vec<&str> = def.gauge_labels.iter().map(String::as_str).collect();
        let mut gauges = self.kpi_gauges.lock().expect("not poisoned");
        for column in &value_columns {
            let exported_as = Gauge::of(def, column);
            let name = exported_as.name;
            let gauge = match gauges.get(&name) {
                Some(g) => g.clone(),
                None => {
                    let help = format!(
                        "{} — {} ({}), over the last metrics window.",
                        def.title, column, exported_as.unit
                    );
                    let g = GaugeVec::new(Opts::new(name.clone(), help), &labels)
                        .map_err(|e| e.to_string())?;
                    self.registry
                        .register(Box::new(g.clone()))
                        .map_err(|e| e.to_string())?;
                    gauges.insert(name.clone(), g.clone());
                    g
                }
            };
            gauge.reset();
            let additive = def.totals.contains(column);
            let mut exported = 0usize;
            for (values, value) in fold_rows(&rows, &def.gauge_labels, column, additive) {
                if exported >= self.max_series_per_kpi {
                    self.kpi_series_dropped
                        .with_label_values(&[def.id.as_str()])
                        .inc();
                    continue;
                }
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                gauge
                    .with_label_values(&refs)
                    .set(value * exported_as.scale);
                exported += 1;
            }
        }
        self.kpi_last_evaluation
            .with_label_values(&[def.id.as_str()])
            .set(chrono::Utc::now().timestamp() as f64);
        Ok(())
    }
}

/// One value per distinct combination of `gauge_labels`, in first-seen order: rows that differ
/// only in labels the gauges do not keep (an account, a person) are folded — summed when the
/// metric is additive, else their maximum. Rows without a number in `column` are skipped.
fn fold_rows(
    rows: &[serde_json::Map<String, serde_json::Value>],
    gauge_labels: &[String],
    column: &str,
    additive: bool,
) -> Vec<(Vec<String>, f64)> {
    let mut folded: Vec<(Vec<String>, f64)> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    for row in rows {
        let Some(value) = row.get(column).and_then(|v| v.as_f64()) else {
            continue;
        };
        let key: Vec<String> = gauge_labels
            .iter()
            .map(|l| label_value(row.get(l)))
            .collect();
        match index.get(&key) {
            Some(&i) if additive => folded[i].1 += value,
            Some(&i) => folded[i].1 = folded[i].1.max(value),
            None => {
                index.insert(key.clone(), folded.len());
                folded.push((key, value));
            }
        }
    }
    folded
}

fn label_value(value: Option<&serde_json::Value>) -> String {
    let text = match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    // Long label values are a sign of unbounded content; keep them short.
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(values: serde_json::Value) -> Vec<serde_json::Map<String, serde_json::Value>> {
        values
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn rows_fold_over_labels_the_gauges_drop() {
        let rows = rows(json!([
            {"owner": "platform", "account": "svc-a@corp.example", "dormant": 1, "age": 40.0},
            {"owner": "storage", "account": "svc-b@corp.example", "dormant": 0, "age": 5.0},
            {"owner": "platform", "account": "svc-c@corp.example", "dormant": 1, "age": 90.0},
            {"owner": "platform", "account": "svc-d@corp.example", "dormant": 0, "age": null},
        ]));
        let owner = ["owner".to_string()];
        assert_eq!(
            fold_rows(&rows, &owner, "dormant", true),
            [
                (vec!["platform".to_string()], 2.0),
                (vec!["storage".to_string()], 0.0)
            ]
        );
        assert_eq!(
            fold_rows(&rows, &owner, "age", false),
            [
                (vec!["platform".to_string()], 90.0),
                (vec!["storage".to_string()], 5.0)
            ]
        );
        // Keeping every label folds nothing.
        let both = ["owner".to_string(), "account".to_string()];
        assert_eq!(fold_rows(&rows, &both, "dormant", true).len(), 4);
    }

    #[test]
    fn gauges_carry_only_the_gauge_labels() {
        let def = KpiDef::parse(
            "x.sql",
            "-- id: hygiene\n-- title: t\n-- unit: accounts\n-- labels: account, owner\n\
             -- gauge_labels: owner\n-- metrics: dormant\n-- totals: dormant\n-- description: d\nSELECT 1",
        )
        .unwrap();
        let schema = std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            datafusion::arrow::datatypes::Field::new(
                "account",
                datafusion::arrow::datatypes::DataType::Utf8,
                false,
            ),
            datafusion::arrow::datatypes::Field::new(
                "owner",
                datafusion::arrow::datatypes::DataType::Utf8,
                false,
            ),
            datafusion::arrow::datatypes::Field::new(
                "dormant",
                datafusion::arrow::datatypes::DataType::Int64,
                false,
            ),
        ]));
        let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
            schema,
            vec![
                std::sync::Arc::new(datafusion::arrow::array::StringArray::from(vec![
                    "svc-a@corp.example",
                    "svc-b@corp.example",
                ])),
                std::sync::Arc::new(datafusion::arrow::array::StringArray::from(vec![
                    "platform", "platform",
                ])),
                std::sync::Arc::new(datafusion::arrow::array::Int64Array::from(vec![1, 1])),
            ],
        )
        .unwrap();
        let output = QueryOutput::new(
            vec!["account".into(), "owner".into(), "dormant".into()],
            vec![batch],
            100,
        );
        let metrics = Metrics::new(10).unwrap();
        metrics.update_kpi(&def, &output).unwrap();
        let text = metrics.render();
        assert!(
            text.contains("ztlens_kpi_hygiene_dormant{owner=\"platform\"} 2"),
            "{text}"
        );
        assert!(!text.contains("svc-a"), "{text}");
    }
}
