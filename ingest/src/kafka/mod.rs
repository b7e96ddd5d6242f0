//! The Kafka source: a consumer group member that turns messages into durable rows.
//!
//! Threads: one consumer thread owns the `rdkafka` consumer (poll, rebalance callbacks,
//! commits, pause/resume); `workers` parse threads decode message batches and append them to
//! the lake writer with WAL durability; completions flow back to the consumer thread, which
//! feeds the [`offsets::OffsetTracker`] and commits only what is durable.
//!
//! Guarantees (see `docs/operations.md`):
//! - at-least-once: an offset is committed only after every message below it in its partition
//!   is in the WAL (rows) or the dead-letter store (refused records); a crash or rebalance
//!   re-delivers the rest, and `metadata_uid` de-duplication keeps KPIs exact;
//! - a poison message (undecodable, unknown format, oversized, empty) is a dead letter with its
//!   topic/partition/offset, and its offset advances like any other;
//! - memory is bounded: when undurable bytes pass `max_in_flight_bytes`, every assigned
//!   partition is paused until the writer catches up (librdkafka's own prefetch is bounded by
//!   `queued.max.messages.kbytes`);
//! - revoke: undispatched messages of the revoked partitions are dropped, their in-flight
//!   batches get up to `drain_timeout_ms` to become durable, what is durable is committed
//!   synchronously, and partitions that stay assigned are not touched;
//! - stop: dispatch what was received, drain within `drain_timeout_ms`, commit, leave the group.

mod consumer;
pub mod metrics;
pub mod offsets;
mod worker;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use consumer::KafkaSource;
pub use metrics::KafkaMetrics;
/// The Kafka client library, re-exported so the binary and tests use the same version.
pub use rdkafka;

use crate::parsers::SourceFormat;

/// `[kafka]`: consume topics as a member of a consumer group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Consume from Kafka in `ztlens serve`. Off by default: ztlens runs without a broker.
    pub enabled: bool,
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Consumer group id. Every instance in one group shares the partitions.
    pub group_id: String,
    /// Topics to consume, each with the format its messages carry.
    pub topics: Vec<TopicConfig>,
    /// Where a group with no committed offset starts: `earliest` or `latest`.
    pub start_from: StartFrom,
    /// Any librdkafka property, passed through verbatim (`security.protocol`, `sasl.mechanism`,
    /// `sasl.username`, `ssl.ca.location`, `session.timeout.ms`, ...). ztlens's delivery
    /// settings (`enable.auto.commit`, `enable.auto.offset.store`) cannot be overridden.
    pub properties: BTreeMap<String, String>,
    /// Also produce dead letters to this topic (JSON, keyed by origin). The local dead-letter
    /// store is always written.
    pub dead_letter_topic: Option<String>,
    /// Messages handed to a parse worker at most at once.
    pub batch_messages: usize,
    /// A partial batch is handed over after this many milliseconds.
    pub batch_wait_ms: u64,
    /// Bytes received but not yet durable above which all partitions are paused.
    pub max_in_flight_bytes: usize,
    /// Parse threads (0: one per core).
    pub workers: usize,
    /// How often durable offsets are committed, in milliseconds.
    pub commit_interval_ms: u64,
    /// Time allowed for in-flight batches to become durable on revoke and stop, in
    /// milliseconds. Must be shorter than `session.timeout.ms` (45 s by default).
    pub drain_timeout_ms: u64,
    /// How often librdkafka reports statistics (lag, watermarks), in milliseconds.
    pub statistics_interval_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bootstrap_servers: "localhost:9092".into(),
            group_id: "ztlens".into(),
            topics: Vec::new(),
            start_from: StartFrom::Earliest,
            properties: BTreeMap::new(),
            dead_letter_topic: None,
            batch_messages: 5_000,
            batch_wait_ms: 100,
            max_in_flight_bytes: 64 * 1024 * 1024,
            workers: 0,
            commit_interval_ms: 1_000,
            drain_timeout_ms: 10_000,
            statistics_interval_ms: 5_000,
        }
    }
}

/// One topic and what its messages are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// Topic name.
    pub name: String,
    /// Parser for every message (`okta`, `vpcflow`, `nginx`, ...), or `auto` to recognize each
    /// message from its content.
    pub format: String,
}

/// Where a consumer group with no committed offset starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    Earliest,
    Latest,
}

/// A configuration the Kafka source refuses.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("invalid [kafka] configuration: {0}")]
    Config(String),
    #[error("kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
}

impl KafkaConfig {
    /// Check the section. When the source is off only the listed topics' formats are checked,
    /// so a typo is reported before the day Kafka is turned on.
    pub fn validate(&self) -> Result<(), KafkaError> {
        if self.enabled {
            return self.resolve_topics().map(drop);
        }
        for topic in &self.topics {
            topic
                .format
                .parse::<SourceFormat>()
                .map_err(|e| KafkaError::Config(format!("topic {:?}: {e}", topic.name)))?;
        }
        Ok(())
    }

    /// Check every setting and resolve each topic's format.
    pub fn resolve_topics(&self) -> Result<Vec<(String, SourceFormat)>, KafkaError> {
        fn bad<T>(m: String) -> Result<T, KafkaError> {
            Err(KafkaError::Config(m))
        }
        if self.bootstrap_servers.trim().is_empty() {
            return bad("bootstrap_servers is empty".into());
        }
        if self.group_id.trim().is_empty() {
            return bad("group_id is empty".into());
        }
        if self.topics.is_empty() {
            return bad("no topics: add [[kafka.topics]] entries with name and format".into());
        }
        if self.batch_messages == 0 || self.max_in_flight_bytes == 0 {
            return bad("batch_messages and max_in_flight_bytes must be positive".into());
        }
        for key in [
            "enable.auto.commit",
            "enable.auto.offset.store",
            "group.id",
            "bootstrap.servers",
        ] {
            if self.properties.contains_key(key) {
                return bad(format!(
                    "property {key:?} is set by ztlens (delivery guarantee) and cannot be overridden"
                ));
            }
        }
        let session_ms: u64 = match self.properties.get("session.timeout.ms") {
            Some(v) => v.parse().map_err(|_| {
                KafkaError::Config(format!("session.timeout.ms {v:?} is not a number"))
            })?,
            None => 45_000,
        };
        if self.drain_timeout_ms >= session_ms {
            return bad(format!(
                "drain_timeout_ms ({}) must be shorter than session.timeout.ms ({session_ms}), or the group evicts this member while it drains",
                self.drain_timeout_ms
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        self.topics
            .iter()
            .map(|t| {
                if !seen.insert(t.name.as_str()) {
                    return bad(format!("topic {:?} is listed twice", t.name));
                }
                let format: SourceFormat = t
                    .format
                    .parse()
                    .map_err(|e| KafkaError::Config(format!("topic {:?}: {e}", t.name)))?;
                Ok((t.name.clone(), format))
            })
            .collect()
    }
}

/// State of one assigned partition, for `/api/v1/status` and `ztlens status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartitionStatus {
    pub topic: String,
    pub partition: i32,
    /// Next offset the consumer will read (from librdkafka statistics).
    pub next_offset: Option<i64>,
    /// Committed offset: everything below is durable in the lake.
    pub committed: Option<i64>,
    /// High watermark: the offset the next produced message gets.
    pub high_watermark: Option<i64>,
    /// `high_watermark - committed`.
    pub lag: Option<i64>,
    /// Batches dispatched and not yet durable.
    pub in_flight_batches: usize,
}

/// What the Kafka source is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KafkaState {
    /// Joining the group.
    #[default]
    Starting,
    /// Consuming.
    Running,
    /// Every partition paused: undurable bytes passed `max_in_flight_bytes` (backpressure).
    Paused,
    /// Waiting for in-flight batches to become durable (revoke or stop).
    Draining,
    /// Left the group.
    Stopped,
}

impl std::fmt::Display for KafkaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KafkaState::Starting => "starting",
            KafkaState::Running => "running",
            KafkaState::Paused => "paused",
            KafkaState::Draining => "draining",
            KafkaState::Stopped => "stopped",
        })
    }
}

/// State of the Kafka source.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KafkaStatus {
    pub state: KafkaState,
    pub group_id: String,
    pub topics: Vec<String>,
    pub partitions: Vec<PartitionStatus>,
    pub messages: u64,
    pub dead_letters: u64,
    pub rebalances: u64,
    pub in_flight_bytes: usize,
    pub last_error: Option<String>,
}

/// Shared, cheap-to-read status of a running source.
pub type SharedStatus = Arc<Mutex<KafkaStatus>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(topics: &[(&str, &str)]) -> KafkaConfig {
        KafkaConfig {
            topics: topics
                .iter()
                .map(|(n, f)| TopicConfig {
                    name: n.to_string(),
                    format: f.to_string(),
                })
                .collect(),
            ..KafkaConfig::default()
        }
    }

    #[test]
    fn resolves_topic_formats() {
        let topics = config(&[("a", "okta"), ("b", "VPC_FLOW"), ("c", "auto")])
            .resolve_topics()
            .unwrap();
        assert_eq!(
            topics,
            vec![
                (
                    "a".to_string(),
                    SourceFormat::Named(crate::parsers::okta::FORMAT)
                ),
                (
                    "b".to_string(),
                    SourceFormat::Named(crate::parsers::vpcflow::FORMAT)
                ),
                ("c".to_string(), SourceFormat::Auto),
            ]
        );
    }

    #[test]
    fn refuses_what_would_break_the_guarantee_or_cannot_work() {
        let message = |c: KafkaConfig| c.resolve_topics().unwrap_err().to_string();
        assert!(message(config(&[])).contains("no topics"));
        assert!(message(config(&[("a", "syslog")])).contains("unknown source \"syslog\""));
        assert!(message(config(&[("a", "okta"), ("a", "nginx")])).contains("listed twice"));
        let mut c = config(&[("a", "okta")]);
        c.properties
            .insert("enable.auto.commit".into(), "true".into());
        assert!(message(c).contains("cannot be overridden"));
        let mut c = config(&[("a", "okta")]);
        c.properties
            .insert("session.timeout.ms".into(), "6000".into());
        assert!(message(c).contains("shorter than session.timeout.ms"));
    }

    #[test]
    fn a_disabled_source_still_checks_topic_formats() {
        let mut c = config(&[("a", "okta")]);
        assert!(c.validate().is_ok());
        c.topics.push(TopicConfig {
            name: "b".into(),
            format: "oktaa".into(),
        });
        let error = c.validate().unwrap_err().to_string();
        assert!(
            error.contains("topic \"b\": unknown source \"oktaa\""),
            "{error}"
        );
        assert!(KafkaConfig::default().validate().is_ok());
    }
}
