//! Sources wired to the decoder and the lake writer: [`files`] (local files, plain or gzip) and
//! [`push`] (request bodies pushed over HTTP). The Kafka source (module `kafka`) uses the same
//! [`Pipeline`].
//!
//! Sources know the [`Format`](crate::Format) handle and nothing else of vendors; they hand bytes
//! to [`crate::decode`] and rows to [`crate::lake`].

pub mod files;
pub mod messages;
pub mod push;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use files::{Detected, FileProgress, detect_file_format, detect_head, open_maybe_gzip};
pub use messages::{Message, MessagesReceipt, Refusal, WhenBroken};
pub use push::{PushError, gunzip_limited};

use crate::decode::decode_bytes;
use crate::lake::{Durability, LakeError, LakeWriter};
use crate::metrics::IngestMetrics;
use crate::parsers::Format;
use crate::record::{DeadLetter, DecodeStats};
use crate::site::Site;

/// `[ingest]`: limits every source applies to incoming records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Longest record accepted (bytes); longer records go to the dead-letter store with their
    /// first 64 KiB.
    pub max_record_bytes: usize,
    /// Rows decoded before they are handed to the lake writer (0 is read as 1).
    pub batch_rows: usize,
    /// Threads parsing one file (0: one per core).
    pub parse_threads: usize,
    /// Refused records a pushed body may hold; a body with more is refused whole (nothing is
    /// stored) instead of writing a dead letter per broken line.
    pub max_dead_letters_per_request: usize,
    /// Pushed bodies decoded at once; more are answered "busy" (HTTP 429).
    pub max_concurrent_pushes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_record_bytes: 1024 * 1024,
            // 32 Ki: a row of a short-line format (VPC flow) is ~100 bytes of text but ~700 of
            // Arrow (62 columns), so 64 Ki rows were ~45 MiB per parse worker.
            batch_rows: 32 * 1024,
            parse_threads: 0,
            max_dead_letters_per_request: 10_000,
            max_concurrent_pushes: 4,
        }
    }
}

/// An `[ingest]` section that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IngestConfigError(String);

impl IngestConfig {
    pub fn validate(&self) -> Result<(), IngestConfigError> {
        if self.max_record_bytes < 1024 {
            return Err(IngestConfigError(
                "max_record_bytes must be at least 1024".into(),
            ));
        }
        if self.max_concurrent_pushes == 0 {
            return Err(IngestConfigError(
                "max_concurrent_pushes must be above 0".into(),
            ));
        }
        Ok(())
    }

    /// Rows decoded before a hand-over to the writer.
    pub fn batch_rows(&self) -> usize {
        self.batch_rows.max(1)
    }
}

/// A failure of a source.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// What a file ingest produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilesReport {
    pub stats: DecodeStats,
    /// The first refused records (at most [`SAMPLE_DEAD_LETTERS`]), with where and why.
    pub samples: Vec<DeadLetterSummary>,
    /// Each file's outcome, in the order given.
    pub files: Vec<FileOutcome>,
}

/// What became of one file: its counts, and why it was not read to its end, if it was not.
#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub stats: DecodeStats,
    /// Why the file was not read whole (unreadable, or cut short: a truncated gzip stream, an
    /// I/O error). The records read before the cut are stored.
    pub error: Option<String>,
}

/// How many refused records a report quotes.
pub const SAMPLE_DEAD_LETTERS: usize = 10;

/// What one request body produced.
#[derive(Debug, Clone, Serialize)]
pub struct BodyReceipt {
    pub records: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// The first refused records, with where they were and why.
    pub dead_letters: Vec<DeadLetterSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterSummary {
    pub origin: String,
    pub kind: String,
    pub reason: String,
}

impl From<&DeadLetter> for DeadLetterSummary {
    fn from(d: &DeadLetter) -> Self {
        Self {
            origin: d.origin.clone(),
            kind: d.kind.clone(),
            reason: d.reason.clone(),
        }
    }
}

/// Everything a source needs to turn bytes into durable rows.
#[derive(Clone)]
pub struct Pipeline {
    pub site: Arc<Site>,
    pub writer: LakeWriter,
    pub metrics: Option<Arc<IngestMetrics>>,
    pub config: IngestConfig,
    /// Pushed bodies being decoded (`config.max_concurrent_pushes`).
    push_slots: Arc<tokio::sync::Semaphore>,
}

impl Pipeline {
    pub fn new(
        site: Arc<Site>,
        writer: LakeWriter,
        metrics: Option<Arc<IngestMetrics>>,
        config: IngestConfig,
    ) -> Self {
        Self {
            push_slots: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_pushes.max(1),
            )),
            site,
            writer,
            metrics,
            config,
        }
    }

    /// Ingest one request body of `format` (already decompressed and size-checked), decoded off
    /// the async runtime and appended with WAL durability: when it returns `Ok`, the rows
    /// survive a crash.
    pub async fn ingest_body(
        &self,
        format: Format,
        body: Vec<u8>,
        origin: String,
    ) -> Result<BodyReceipt, LakeError> {
        let site = self.site.clone();
        let max_record_bytes = self.config.max_record_bytes;
        let processed = chrono::Utc::now().timestamp_millis();
        let (decoded, stats) = tokio::task::spawn_blocking(move || {
            decode_bytes(format, site, &body, &origin, processed, max_record_bytes)
        })
        .await
        .map_err(|e| LakeError::Failed(format!("decode task failed: {e}")))?;
        self.store_decoded(format, decoded, stats).await
    }

    /// Append what a body decoded to with WAL durability, count it, and say what was stored.
    async fn store_decoded(
        &self,
        format: Format,
        decoded: crate::decode::Decoded,
        stats: DecodeStats,
    ) -> Result<BodyReceipt, LakeError> {
        let summaries: Vec<DeadLetterSummary> = decoded
            .dead_letters
            .iter()
            .take(20)
            .map(Into::into)
            .collect();
        self.writer
            .append(decoded.batches, decoded.dead_letters, Durability::Wal)
            .await?;
        if let Some(m) = &self.metrics {
            m.observe_decode(format.name(), &stats);
        }
        Ok(BodyReceipt {
            records: stats.records,
            accepted: stats.total_rows(),
            rejected: stats.total_dead_letters(),
            dead_letters: summaries,
        })
    }
}
