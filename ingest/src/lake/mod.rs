//! The Parquet lake: configuration, the writer that makes rows durable, the dead-letter store,
//! and maintenance. [`layout`] is the one place that knows the lake's paths.
//!
//! The lake is storage: it imports the vocabulary ([`crate::record`]), the schema and the
//! metrics, and nothing from framing, parsers, decode or the sources that feed it.
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

pub mod dead_letter;
pub mod layout;
mod maintenance;
pub mod object;
mod wal;
mod writer;

pub use maintenance::{CompactionReport, compact_partitions, enforce_retention};
pub use object::{LakeUrl, ObjectLake};
pub use writer::{
    AppendReceipt, Durability, LakeWriter, PendingAppend, TailReader, TailSnapshot, WriterStats,
};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// `[lake]`: where rows are stored and when they are flushed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Root directory of the lake: its Parquet files unless `url` names a bucket, and always
    /// the node's write-ahead log, dead letters and alert state.
    pub data_dir: PathBuf,
    /// Where Parquet files are stored: unset for `data_dir`, `file:///path` for another local
    /// directory (the WAL and dead letters stay in `data_dir`), `s3://bucket/prefix`
    /// for an S3 or S3-compatible bucket shared by several nodes (see docs/operations.md,
    /// "Scale out"). Credentials come from the standard AWS environment.
    pub url: Option<String>,
    /// Endpoint of an S3-compatible store (`http://minio:9000`); default: AWS, or `AWS_ENDPOINT`.
    pub s3_endpoint: Option<String>,
    /// Region of the bucket; default: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub s3_region: Option<String>,
    /// Allow a plain-HTTP `s3_endpoint` (a store on a private network or loopback).
    pub s3_allow_http: bool,
    /// Seconds a query reuses a bucket listing (object-store lakes only; local listings are
    /// never cached). A file uploaded by any node is visible within this plus its flush interval.
    pub list_cache_secs: u64,
    /// Seconds compaction on an object-store lake keeps the files a merged file replaces (the
    /// first maintenance run after deletes them), so queries that listed the partition before
    /// (listing cache included) still find their files; make it longer than `list_cache_secs`
    /// plus the longest query. Meanwhile both are visible; their rows share `metadata_uid` and
    /// KPIs count each once.
    pub compaction_grace_secs: u64,
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
    /// Dead-letter bytes written per day (all writers of the lake together). Past it a dead
    /// letter keeps only the first 256 bytes of its record and pushed bodies with broken
    /// records are refused (HTTP 429) until the next day (UTC).
    pub max_dead_letter_bytes_per_day: u64,
}

impl Default for LakeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            url: None,
            s3_endpoint: None,
            s3_region: None,
            s3_allow_http: false,
            list_cache_secs: 5,
            compaction_grace_secs: 60,
            writer_id: None,
            flush_rows: 500_000,
            // 64 MiB: peak RSS of a 10 M-event day's ingest fell by ~80 MiB against 128 MiB at the
            // same speed (docs/performance.md); the allocator keeps more of larger flushes.
            flush_bytes: 64 * 1024 * 1024,
            flush_interval_secs: 30,
            compact_min_files: 4,
            compact_max_bytes: 512 * 1024 * 1024,
            retention_days: 30,
            sync: true,
            queue_depth: 64,
            max_dead_letter_bytes_per_day: 1024 * 1024 * 1024,
        }
    }
}

impl LakeConfig {
    /// Check the section: flushes need a positive threshold.
    pub fn validate(&self) -> Result<(), LakeError> {
        if self.flush_rows == 0 || self.flush_bytes == 0 {
            return Err(LakeError::Failed(
                "flush_rows and flush_bytes must be above 0".into(),
            ));
        }
        if self.max_dead_letter_bytes_per_day == 0 {
            return Err(LakeError::Failed(
                "max_dead_letter_bytes_per_day must be above 0".into(),
            ));
        }
        let object_lake = matches!(
            object::LakeUrl::parse(self.url.as_deref())?,
            object::LakeUrl::S3 { .. }
        );
        if !object_lake
            && (self.s3_endpoint.is_some() || self.s3_region.is_some() || self.s3_allow_http)
        {
            return Err(LakeError::Failed(
                "s3_endpoint, s3_region and s3_allow_http need lake.url = \"s3://bucket/prefix\""
                    .into(),
            ));
        }
        if let Some(endpoint) = &self.s3_endpoint {
            let parsed = url::Url::parse(endpoint)
                .map_err(|e| LakeError::Failed(format!("lake.s3_endpoint {endpoint:?}: {e}")))?;
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(LakeError::Failed(
                    "lake.s3_endpoint holds credentials: they come from the AWS environment".into(),
                ));
            }
            match parsed.scheme() {
                "https" => {}
                "http" if self.s3_allow_http => {}
                "http" => {
                    return Err(LakeError::Failed(format!(
                        "lake.s3_endpoint {endpoint:?} is plain HTTP: set s3_allow_http = true to allow it"
                    )));
                }
                other => {
                    return Err(LakeError::Failed(format!(
                        "lake.s3_endpoint {endpoint:?}: scheme {other} is not http or https"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The directory of the Parquet files of a local lake: `url`'s path for `file:///path`,
    /// else `data_dir` (for a bucket: `data_dir`, which then holds no Parquet files).
    pub fn parquet_dir(&self) -> Result<PathBuf, LakeError> {
        Ok(match object::LakeUrl::parse(self.url.as_deref())? {
            object::LakeUrl::Directory(dir) => dir,
            object::LakeUrl::Local | object::LakeUrl::S3 { .. } => self.data_dir.clone(),
        })
    }

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
