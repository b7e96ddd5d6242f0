//! The answers the service gives about itself, as types: `GET /api/v1/status` serializes
//! [`ServiceStatus`] and `ztlens status` reads it back; `GET /api/v1/maturity` and
//! `ztlens maturity --format json` both print a [`MaturityReport`].
//!
//! Imports only the library crates; the API, the CLI and the generator's truth build on it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ztlens_analytics::TimeRange;
use ztlens_analytics::maturity::Scorecard;
use ztlens_analytics::time_range::format_ms;
use ztlens_ingest::kafka::KafkaStatus;

/// `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub uptime_secs: u64,
    pub data_dir: PathBuf,
    pub writer_id: String,
    pub lake: LakeStatus,
    pub sources: SourcesStatus,
    /// KPIs in the catalog.
    pub kpis: usize,
}

/// The lake writer's counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LakeStatus {
    pub buffered_rows: u64,
    pub rows_flushed: u64,
    pub files_written: u64,
    pub dead_letters: u64,
    pub flush_errors: u64,
    /// RFC 3339; `None` before the first flush.
    pub last_flush: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourcesStatus {
    pub http: HttpSourceStatus,
    pub kafka: KafkaSourceStatus,
}

/// The push source: always listening while the server runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpSourceStatus {
    pub state: HttpState,
    /// The formats `/api/v1/ingest/{source}` accepts (besides `auto`).
    pub formats: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpState {
    Listening,
}

/// The Kafka source's status, or `{"state": "disabled"}` when `[kafka]` is off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KafkaSourceStatus {
    Enabled(KafkaStatus),
    Disabled { state: Disabled },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Disabled {
    Disabled,
}

/// The maturity scorecard over a range.
#[derive(Debug, Clone, Serialize)]
pub struct MaturityReport {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub scorecard: Scorecard,
}

impl MaturityReport {
    pub fn new(range: TimeRange, scorecard: Scorecard) -> Self {
        Self {
            from: format_ms(range.from_ms()),
            to: format_ms(range.to_ms()),
            scorecard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_status_reads_back_enabled_and_disabled() {
        let disabled = KafkaSourceStatus::Disabled {
            state: Disabled::Disabled,
        };
        let text = serde_json::to_string(&disabled).unwrap();
        assert_eq!(text, r#"{"state":"disabled"}"#);
        assert!(matches!(
            serde_json::from_str::<KafkaSourceStatus>(&text).unwrap(),
            KafkaSourceStatus::Disabled { .. }
        ));
        let enabled = KafkaSourceStatus::Enabled(KafkaStatus::default());
        let text = serde_json::to_string(&enabled).unwrap();
        assert!(text.contains(r#""state":"starting""#), "{text}");
        assert!(matches!(
            serde_json::from_str::<KafkaSourceStatus>(&text).unwrap(),
            KafkaSourceStatus::Enabled(_)
        ));
    }
}
