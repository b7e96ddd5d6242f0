//! The lake's path layout, in one place: every reader and writer of the lake (this crate's
//! writer, maintenance and dead-letter store, and the analytics catalog) builds and parses its
//! paths here, so a change of layout — or a lake on object storage — is a change of this module.
//!
//! ```text
//! <table>/date=YYYY-MM-DD/hour=HH/<writer>-<seq>.parquet   rows, partitioned by event time (UTC)
//! <table>/date=…/hour=…/.<writer>-<seq>.parquet.tmp        a file being written (never read)
//! _wal/<writer>/<seq>.wal                                  write-ahead log of rows not yet in Parquet
//! _wal/<writer>/LOCK                                       held by the one process writing as <writer>
//! _dead_letter/date=YYYY-MM-DD/<writer>-<seq>.ndjson       refused records with reason and origin
//! _kpi_cache/<kpi>/date=YYYY-MM-DD/<HH>-….arrow            KPI partial results of sealed hours
//!                                                          (written by analytics; always local)
//! ```
//!
//! Partition values are Hive-style (`name=value`), so Spark, Trino, DuckDB and pyarrow read them
//! as the columns [`DATE_COLUMN`] and [`HOUR_COLUMN`]. Imports only [`crate::schema`].

use std::path::{Path, PathBuf};

use crate::schema::Table;

/// Partition column of the day, `YYYY-MM-DD` (UTC).
pub const DATE_COLUMN: &str = "date";
/// Partition column of the hour, `HH` (UTC).
pub const HOUR_COLUMN: &str = "hour";
/// `chrono` format of a [`DATE_COLUMN`] value.
pub const DATE_FORMAT: &str = "%Y-%m-%d";
/// `chrono` format of an [`HOUR_COLUMN`] value.
pub const HOUR_FORMAT: &str = "%H";

const DEAD_LETTER_DIR: &str = "_dead_letter";
const WAL_DIR: &str = "_wal";
const KPI_CACHE_DIR: &str = "_kpi_cache";
const PARQUET_EXTENSION: &str = "parquet";
const DEAD_LETTER_EXTENSION: &str = "ndjson";
const WAL_EXTENSION: &str = "wal";

/// Directory of a table.
pub fn table_dir(root: &Path, table: Table) -> PathBuf {
    root.join(table.name())
}

/// Directory of one hour partition (hour index = epoch ms / 3,600,000).
pub fn partition_dir(root: &Path, table: Table, hour_index: i64) -> PathBuf {
    let (date, hour) = date_hour(hour_index);
    table_dir(root, table)
        .join(date_dir_name(&date))
        .join(format!("{HOUR_COLUMN}={hour:02}"))
}

/// `(YYYY-MM-DD, HH)` of an hour index.
pub fn date_hour(hour_index: i64) -> (String, u32) {
    let t =
        chrono::DateTime::from_timestamp(hour_index.saturating_mul(3600), 0).unwrap_or_default();
    (
        t.format(DATE_FORMAT).to_string(),
        chrono::Timelike::hour(&t),
    )
}

/// The [`DATE_COLUMN`] value of an instant (epoch ms); `None` outside chrono's range.
pub fn date_of_ms(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format(DATE_FORMAT).to_string())
}

/// `date=YYYY-MM-DD`.
fn date_dir_name(date: &str) -> String {
    format!("{DATE_COLUMN}={date}")
}

/// The `YYYY-MM-DD` of a `date=YYYY-MM-DD` directory, unchecked; `None` for any other name.
pub fn date_of_dir(dir: &Path) -> Option<&str> {
    dir.file_name()?
        .to_str()?
        .strip_prefix(DATE_COLUMN)?
        .strip_prefix('=')
}

/// The day of a `date=YYYY-MM-DD` directory; `None` for any other name or an invalid date.
pub fn day_of_dir(dir: &Path) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(date_of_dir(dir)?, DATE_FORMAT).ok()
}

/// Hour index of a `date=YYYY-MM-DD/hour=HH` partition directory.
pub fn partition_hour(date_dir: &Path, hour_dir: &Path) -> Option<i64> {
    let day = day_of_dir(date_dir)?;
    let hour: i64 = hour_dir
        .file_name()?
        .to_str()?
        .strip_prefix(HOUR_COLUMN)?
        .strip_prefix('=')?
        .parse()
        .ok()?;
    let midnight = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some(midnight / 3600 + hour)
}

/// Name of a data file: `<writer>-<seq>.parquet`, ordered by `seq` within one writer.
pub fn data_file_name(writer_id: &str, seq: u64) -> String {
    format!("{writer_id}-{seq:020}.{PARQUET_EXTENSION}")
}

/// The name a file is written under before the rename that makes it visible.
pub fn temp_file_name(name: &str) -> String {
    format!(".{name}.tmp")
}

/// Whether `path` is a complete data file (a `.parquet` that is not being written).
pub fn is_data_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == PARQUET_EXTENSION)
        && !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
}

/// Directory of the KPI partial results (`ztlens_analytics::partials`) under the node's
/// `data_dir`: one directory per KPI, then `date=YYYY-MM-DD` like the tables, so retention
/// removes old days the same way.
pub fn kpi_cache_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(KPI_CACHE_DIR)
}

/// Directory of the dead-letter store.
pub fn dead_letter_dir(root: &Path) -> PathBuf {
    root.join(DEAD_LETTER_DIR)
}

/// Directory of one day of dead letters (`date` is `YYYY-MM-DD`).
pub fn dead_letter_date_dir(root: &Path, date: &str) -> PathBuf {
    dead_letter_dir(root).join(date_dir_name(date))
}

/// Name of a dead-letter file: `<writer>-<seq>.ndjson`.
pub fn dead_letter_file_name(writer_id: &str, seq: u64) -> String {
    format!("{writer_id}-{seq:020}.{DEAD_LETTER_EXTENSION}")
}

/// Whether `path` is a dead-letter file.
pub fn is_dead_letter_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == DEAD_LETTER_EXTENSION)
}

/// Directory of one writer's write-ahead log.
pub fn wal_dir(root: &Path, writer_id: &str) -> PathBuf {
    root.join(WAL_DIR).join(writer_id)
}

/// The lock file a writer holds in its WAL directory.
pub fn wal_lock_file(wal_dir: &Path) -> PathBuf {
    wal_dir.join("LOCK")
}

/// Name of a WAL segment: `<seq>.wal`.
pub fn wal_segment_name(seq: u64) -> String {
    format!("{seq:020}.{WAL_EXTENSION}")
}

/// Whether `path` is a WAL segment.
pub fn is_wal_segment(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == WAL_EXTENSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_paths_round_trip() {
        let root = Path::new("/lake");
        // 2026-03-02T08:00Z
        let hour = 1_772_438_400_000 / 3_600_000;
        let dir = partition_dir(root, Table::Authentication, hour);
        assert_eq!(
            dir,
            Path::new("/lake/authentication/date=2026-03-02/hour=08")
        );
        let date_dir = dir.parent().unwrap();
        assert_eq!(date_of_dir(date_dir), Some("2026-03-02"));
        assert_eq!(partition_hour(date_dir, &dir), Some(hour));
        assert_eq!(partition_hour(Path::new("date=x"), &dir), None);
        assert_eq!(date_of_ms(1_772_438_400_000).as_deref(), Some("2026-03-02"));
        assert_eq!(
            dead_letter_date_dir(root, "2026-03-02"),
            Path::new("/lake/_dead_letter/date=2026-03-02")
        );
    }

    #[test]
    fn file_kinds() {
        let name = data_file_name("w1", 7);
        assert_eq!(name, "w1-00000000000000000007.parquet");
        assert!(is_data_file(Path::new(&name)));
        assert!(!is_data_file(Path::new(&temp_file_name(&name))));
        assert!(is_dead_letter_file(Path::new(&dead_letter_file_name(
            "w1", 7
        ))));
        assert!(is_wal_segment(Path::new(&wal_segment_name(7))));
    }
}
