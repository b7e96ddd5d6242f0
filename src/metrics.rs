//! The Prometheus registry: ingest and lake counters, HTTP request metrics, and KPI gauges.
//!
//! KPI gauges are named `ztlens_kpi_<kpi>_<value>` with the KPI's label columns as labels
//! (country, segment pair, source, decision …). Label values come from bounded sets — site
//! config, decision taxonomy, vendor country names — and each KPI value is capped at
//! `max_series_per_kpi` series; rows past the cap are dropped and counted in
//! `ztlens_kpi_series_dropped_total`, so no input can blow up the series count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use ztlens_analytics::{KpiDef, QueryOutput};
use ztlens_ingest::kafka::KafkaMetrics;
use ztlens_ingest::metrics::IngestMetrics;

pub struct Metrics {
    registry: Registry,
    pub ingest: Arc<IngestMetrics>,
    pub kafka: Arc<KafkaMetrics>,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    kpi_gauges: Mutex<HashMap<String, GaugeVec>>,
    pub kpi_series_dropped: IntCounterVec,
    pub kpi_evaluation_errors: IntCounterVec,
    pub kpi_last_evaluation: GaugeVec,
    max_series_per_kpi: usize,
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
        for c in [&http_requests, &kpi_series_dropped, &kpi_evaluation_errors] {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(kpi_last_evaluation.clone()))?;
        Ok(Self {
            registry,
            ingest,
            kafka,
            http_requests,
            http_duration,
            kpi_gauges: Mutex::new(HashMap::new()),
            kpi_series_dropped,
            kpi_evaluation_errors,
            kpi_last_evaluation,
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
        let labels: Vec<&str> = def.labels.iter().map(String::as_str).collect();
        let mut gauges = self.kpi_gauges.lock().expect("not poisoned");
        for column in &value_columns {
            let name = format!("ztlens_kpi_{}_{}", def.id, sanitize(column));
            let gauge = match gauges.get(&name) {
                Some(g) => g.clone(),
                None => {
                    let help = format!(
                        "{} — {} ({}), over the last metrics window.",
                        def.title, column, def.unit
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
            let mut exported = 0usize;
            for row in &rows {
                let Some(value) = row.get(column).and_then(|v| v.as_f64()) else {
                    continue;
                };
                if exported >= self.max_series_per_kpi {
                    self.kpi_series_dropped
                        .with_label_values(&[def.id.as_str()])
                        .inc();
                    continue;
                }
                let values: Vec<String> =
                    def.labels.iter().map(|l| label_value(row.get(l))).collect();
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                gauge.with_label_values(&refs).set(value);
                exported += 1;
            }
        }
        self.kpi_last_evaluation
            .with_label_values(&[def.id.as_str()])
            .set(chrono::Utc::now().timestamp() as f64);
        Ok(())
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
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
