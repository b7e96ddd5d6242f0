//! Kafka consumer metrics. Labels are topic names from the configuration and partition numbers,
//! both bounded by what the operator configured, never by message content.

use prometheus::Registry;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

pub struct KafkaMetrics {
    pub messages: IntCounterVec,
    pub bytes: IntCounterVec,
    pub parse_failures: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub dead_letter_topic_errors: IntCounter,
    pub commit_seconds: Histogram,
    pub commits: IntCounterVec,
    pub lag: IntGaugeVec,
    pub committed_offset: IntGaugeVec,
    pub rebalances: IntCounterVec,
    pub paused: IntGauge,
    pub in_flight_bytes: IntGauge,
    pub discarded_after_revoke: IntCounter,
}

impl KafkaMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        fn reg<T: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            c: T,
        ) -> Result<T, prometheus::Error> {
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
        };
        Ok(Self {
            messages: counter_vec(
                "ztlens_kafka_messages_total",
                "Messages consumed, per topic.",
                &["topic"],
            )?,
            bytes: counter_vec(
                "ztlens_kafka_bytes_total",
                "Message payload bytes consumed, per topic.",
                &["topic"],
            )?,
            parse_failures: counter_vec(
                "ztlens_kafka_parse_failures_total",
                "Messages with at least one record refused, per topic.",
                &["topic"],
            )?,
            dead_letters: counter_vec(
                "ztlens_kafka_dead_letters_total",
                "Records from Kafka stored as dead letters, per topic.",
                &["topic"],
            )?,
            dead_letter_topic_errors: reg(
                registry,
                IntCounter::new(
                    "ztlens_kafka_dead_letter_topic_errors_total",
                    "Dead letters that could not be produced to the dead-letter topic (they are in the local store).",
                )?,
            )?,
            commit_seconds: reg(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new("ztlens_kafka_commit_seconds", "Latency of offset commits.")
                        .buckets(vec![
                            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                        ]),
                )?,
            )?,
            commits: counter_vec(
                "ztlens_kafka_commits_total",
                "Offset commits, by result (ok, error).",
                &["result"],
            )?,
            lag: gauge_vec(
                "ztlens_kafka_consumer_lag",
                "High watermark minus committed offset, per assigned partition.",
                &["topic", "partition"],
            )?,
            committed_offset: gauge_vec(
                "ztlens_kafka_committed_offset",
                "Committed offset per assigned partition.",
                &["topic", "partition"],
            )?,
            rebalances: counter_vec(
                "ztlens_kafka_rebalances_total",
                "Rebalance events, by kind (assign, revoke, error).",
                &["kind"],
            )?,
            paused: reg(
                registry,
                IntGauge::new(
                    "ztlens_kafka_paused",
                    "1 while partitions are paused because the lake writer is behind.",
                )?,
            )?,
            in_flight_bytes: reg(
                registry,
                IntGauge::new(
                    "ztlens_kafka_in_flight_bytes",
                    "Message bytes received and not yet durable.",
                )?,
            )?,
            discarded_after_revoke: reg(
                registry,
                IntCounter::new(
                    "ztlens_kafka_discarded_after_revoke_total",
                    "Messages received but not processed because their partition was revoked (the new owner re-reads them).",
                )?,
            )?,
        })
    }

    /// Make the per-topic series exist at zero.
    pub fn touch(&self, topics: &[String]) {
        for t in topics {
            self.messages.with_label_values(&[t]);
            self.bytes.with_label_values(&[t]);
            self.parse_failures.with_label_values(&[t]);
            self.dead_letters.with_label_values(&[t]);
        }
        for r in ["ok", "error"] {
            self.commits.with_label_values(&[r]);
        }
        for k in ["assign", "revoke", "error"] {
            self.rebalances.with_label_values(&[k]);
        }
    }
}
