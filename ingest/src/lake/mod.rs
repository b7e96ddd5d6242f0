//! The Parquet lake: layout, configuration, and the writer that makes rows durable.
//!
//! Layout under the data directory:
//!
//! ```text
//! <table>/date=YYYY-MM-DD/hour=HH/<writer>-<seq>.parquet   rows, partitioned by event time (UTC)
//! _wal/<writer>/<seq>.wal                                  write-ahead log of rows not yet in Parquet
//! _dead_letter/date=YYYY-MM-DD/<writer>-<seq>.ndjson       refused records with reason and origin
//! ```
//!
//! Invariants:
//! - a `.parquet` file is complete when it has its name: files are written as `.<name>.tmp`,
//!   fsynced, renamed, and the directory fsynced, so a reader never sees half a file;
//! - an acknowledged append is durable: its rows are in an fsynced WAL segment (or, for sources
//!   that can re-read their input, flushed to Parquet before the source records progress);
//! - a WAL segment is deleted only after every row in it is in a renamed Parquet file, so a
//!   crash can duplicate rows (replayed WAL + flushed file) but never lose them; duplicates share
//!   `metadata_uid` and KPIs count distinct ids; compaction removes them physically;
//! - `<writer>-<seq>` is unique per writer id across restarts (`seq` is time-based), so several
//!   writers with distinct ids can share one lake.

mod maintenance;
mod wal;
mod writer;

pub use maintenance::{CompactionReport, compact_partitions, enforce_retention};
pub use writer::{AppendReceipt, Durability, LakeWriter, TailSnapshot, WriterStats};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::schema::Table;

/// `[lake]`: where rows are stored and when they are flushed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Root directory of the lake.
    pub data_dir: PathBuf,
    /// Writer id used in file and WAL names; must differ between instances sharing one lake. Default: the host name.
    pub writer_id: Option<String>,
    /// Flush buffered rows to Parquet when this many rows are buffered (all tables together).
    pub flush_rows: usize,
    /// Flush when buffered Arrow data reaches this many bytes.
    pub flush_bytes: usize,
    /// Flush when the oldest buffered row has waited this many seconds.
    pub flush_interval_secs: u64,
    /// Compact an hour partition once it holds at least this many files.
    pub compact_min_files: usize,
    /// Do not merge files into outputs larger than this (bytes of Parquet input).
    pub compact_max_bytes: u64,
    /// Delete date partitions older than this many days (0 keeps everything).
    pub retention_days: u32,
    /// fsync the WAL and dead letters before acknowledging (turn off only for benchmarks).
    pub sync: bool,
    /// Appends that may wait for the writer before senders block (backpressure).
    pub queue_depth: usize,
}

impl Default for LakeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            writer_id: None,
            flush_rows: 500_000,
            flush_bytes: 256 * 1024 * 1024,
            flush_interval_secs: 30,
            compact_min_files: 4,
            compact_max_bytes: 512 * 1024 * 1024,
            retention_days: 30,
            sync: true,
            queue_depth: 64,
        }
    }
}

impl LakeConfig {
    /// The writer id: configured, else the host name, else `ztlens`; sanitized for file names.
    pub fn resolved_writer_id(&self) -> String {
        let raw = self
            .writer_id
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .unwrap_or_else(|| "ztlens".to_string());
        let clean: String = raw
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            "ztlens".to_string()
        } else {
            clean
        }
    }
}

/// A failure of the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parquet error: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("arrow error: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("the lake writer has stopped")]
    WriterStopped,
    #[error("{0}")]
    Failed(String),
}

impl LakeError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LakeError {
        let path = path.into();
        move |source| LakeError::Io { path, source }
    }
}

/// Directory of a table.
pub fn table_dir(root: &Path, table: Table) -> PathBuf {
    root.join(table.name())
}

/// Directory of one hour partition (hour index = epoch ms / 3,600,000).
pub fn partition_dir(root: &Path, table: Table, hour_index: i64) -> PathBuf {
    let (date, hour) = date_hour(hour_index);
    table_dir(root, table)
        .join(format!("date={date}"))
        .join(format!("hour={hour:02}"))
}

/// `(YYYY-MM-DD, HH)` of an hour index.
pub fn date_hour(hour_index: i64) -> (String, u32) {
    let t = chrono::DateTime::from_timestamp(hour_index * 3600, 0).unwrap_or_default();
    (t.format("%Y-%m-%d").to_string(), chrono::Timelike::hour(&t))
}

/// Directory of the dead-letter store.
pub fn dead_letter_dir(root: &Path) -> PathBuf {
    root.join("_dead_letter")
}

/// fsync a directory so a rename or create inside it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    let f = std::fs::File::open(dir).map_err(LakeError::io(dir))?;
    f.sync_all().map_err(LakeError::io(dir))
}

/// A time-based sequence number, unique within the process and growing across restarts.
pub(crate) fn next_seq() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = chrono::Utc::now().timestamp_micros().max(0) as u64;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = (prev + 1).max(now);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => prev = actual,
        }
    }
}
