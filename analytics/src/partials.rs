//! Stored per-hour partial results of KPIs split in two ([`KpiPartial`](crate::kpi::KpiPartial)),
//! so a KPI over a day or a month re-reads only the hours that can still change.
//!
//! `<data_dir>/_kpi_cache/<kpi>/date=YYYY-MM-DD/<HH>-<definition>-<files>.arrow` holds the
//! partial query's rows for one hour (Arrow IPC), where `definition` hashes the partial query,
//! the derived views and the ztlens version, and `files` hashes the name, size and modification
//! time (a bucket's ETag) of every data file of every table in that hour.
//!
//! Invariants:
//! - an entry is found only under the fingerprint of the files it was computed from: a flush
//!   into an old hour, a compaction, a late `ztlens ingest` or retention changes the key, and
//!   the next evaluation recomputes that hour. The fingerprint is taken before the hour is
//!   computed and again after; an entry is stored only when both agree;
//! - an entry is written to a temporary name and renamed, so a reader sees a whole entry or
//!   none; an unreadable entry is a miss;
//! - the cache only saves work: failing to read or write it is logged (once per process for
//!   writes) and the KPI is computed from the lake, never failed;
//! - which hours may be served from here (sealed: ended `kpi_cache_seal_secs` ago, no rows in
//!   the hot tail) is the engine's decision.
//!
//! Imports: the lake's [`layout`] and [`ObjectLake`] from ztlens-ingest, and `kpi` for the
//! derived views.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use ztlens_ingest::Table;
use ztlens_ingest::lake::ObjectLake;
use ztlens_ingest::lake::layout;

/// An hour, in ms.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Hours of one day.
const HOURS: usize = 24;

/// What one stored entry is for: a KPI's hour, under its definition and the hour's files.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HourKey<'a> {
    pub kpi: &'a str,
    /// `YYYY-MM-DD` of the hour.
    pub date: &'a str,
    /// 0–23.
    pub hour: u32,
    /// [`definition_key`] of the KPI.
    pub definition: u64,
    /// The hour's fingerprint ([`date_fingerprints`]).
    pub files: u64,
}

/// The store of per-hour partial results.
#[derive(Debug)]
pub(crate) struct PartialCache {
    root: PathBuf,
}

/// Set once a write failed, so a read-only data directory warns once, not on every KPI.
static WRITE_WARNED: AtomicBool = AtomicBool::new(false);

/// Distinguishes temporary names of concurrent writers within one process.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Hash of everything an hour's partial rows depend on besides the hour's files: the partial
/// query, the KPI's lookback (the context each hour reads), the derived views it may read, the
/// tables' schema, and the version of ztlens that evaluates them.
pub(crate) fn definition_key(partial_sql: &str, lookback_ms: i64) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(&[0]);
    hasher.update(partial_sql.as_bytes());
    // Without a lookback the key is what it was before lookbacks could be split.
    if lookback_ms != 0 {
        hasher.update(&[0]);
        hasher.update(&lookback_ms.to_le_bytes());
    }
    for (name, sql) in crate::kpi::builtin_views() {
        hasher.update(&[0]);
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        hasher.update(sql.as_bytes());
    }
    // The tables' columns and types: a build with another schema never reads an entry whose
    // rows it could not merge.
    for table in Table::ALL {
        hasher.update(&[0]);
        hasher.update(format!("{:?}", table.schema()).as_bytes());
    }
    hasher.digest()
}

/// One data file as the fingerprint sees it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FileStamp {
    table: &'static str,
    name: String,
    size: u64,
    /// Modification time in ns (local) or the ETag (bucket).
    version: String,
    /// Modification time, epoch ms (for [`HourFiles::newest_ms`]).
    modified_ms: i64,
}

/// What the fingerprint saw of one hour's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HourFiles {
    /// Equal only while no file of the hour was added, replaced or removed.
    pub fingerprint: u64,
    /// When the hour's newest file was written (epoch ms; `None`: the hour has no file).
    pub newest_ms: Option<i64>,
}

impl HourFiles {
    /// The hour has no data file in any table: its partial result is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.newest_ms.is_none()
    }
}

/// The files an hour's partial rows depend on, from the [`HourFiles`] of each hour it reads,
/// oldest first (an hour not listed: `None`). One hour alone is its own `HourFiles`, so the
/// keys of KPIs without a lookback do not change; several are combined in order: equal only
/// while no file of any of them changed, the newest file of all of them.
pub(crate) fn window_files(hours: impl Iterator<Item = Option<HourFiles>>) -> HourFiles {
    let hours: Vec<Option<HourFiles>> = hours.collect();
    if let [Some(one)] = hours.as_slice() {
        return *one;
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut newest_ms = None;
    for hour in &hours {
        match hour {
            Some(files) => {
                hasher.update(&[1]);
                hasher.update(&files.fingerprint.to_le_bytes());
                newest_ms = newest_ms.max(files.newest_ms);
            }
            None => hasher.update(&[0]),
        }
    }
    HourFiles {
        fingerprint: hasher.digest(),
        newest_ms,
    }
}

/// The files of each hour (0–23) of `date` over every table: their fingerprint and the newest.
pub(crate) async fn date_fingerprints(
    parquet_dir: &Path,
    object: Option<&ObjectLake>,
    date: &str,
) -> Result<[HourFiles; HOURS], String> {
    let mut per_hour: Vec<Vec<FileStamp>> = (0..HOURS).map(|_| Vec::new()).collect();
    match object {
        Some(lake) => {
            for table in Table::ALL {
                let prefix = lake.key(&format!("{}/{}={date}/", table.name(), layout::DATE_COLUMN));
                let objects: Vec<_> = lake
                    .store()
                    .list(Some(&prefix))
                    .try_collect()
                    .await
                    .map_err(|e| format!("listing {prefix}: {e}"))?;
                for meta in objects {
                    let key = meta.location.as_ref();
                    let Some(hour) = hour_of_key(key) else {
                        continue;
                    };
                    if !layout::is_data_file(Path::new(key)) {
                        continue;
                    }
                    per_hour[hour].push(FileStamp {
                        table: table.name(),
                        name: key.to_string(),
                        size: meta.size,
                        modified_ms: meta.last_modified.timestamp_millis(),
                        version: meta
                            .e_tag
                            .unwrap_or_else(|| meta.last_modified.to_rfc3339()),
                    });
                }
            }
        }
        None => {
            let parquet_dir = parquet_dir.to_path_buf();
            let date = date.to_string();
            per_hour = tokio::task::spawn_blocking(move || local_stamps(&parquet_dir, &date))
                .await
                .map_err(|e| e.to_string())??;
        }
    }
    let mut out = [HourFiles {
        fingerprint: 0,
        newest_ms: None,
    }; HOURS];
    for (hour, mut stamps) in per_hour.into_iter().enumerate() {
        stamps.sort();
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for s in &stamps {
            for part in [s.table, s.name.as_str(), s.version.as_str()] {
                hasher.update(part.as_bytes());
                hasher.update(&[0]);
            }
            hasher.update(&s.size.to_le_bytes());
        }
        out[hour] = HourFiles {
            fingerprint: hasher.digest(),
            newest_ms: stamps.iter().map(|s| s.modified_ms).max(),
        };
    }
    Ok(out)
}

/// The hour (0–23) of a `…/hour=HH/<file>` key.
fn hour_of_key(key: &str) -> Option<usize> {
    let prefix = format!("{}=", layout::HOUR_COLUMN);
    key.split('/')
        .find_map(|segment| segment.strip_prefix(prefix.as_str()))
        .and_then(|hh| hh.parse::<usize>().ok())
        .filter(|h| *h < HOURS)
}

fn local_stamps(parquet_dir: &Path, date: &str) -> Result<Vec<Vec<FileStamp>>, String> {
    let mut per_hour: Vec<Vec<FileStamp>> = (0..HOURS).map(|_| Vec::new()).collect();
    let read_dir = |dir: &Path| -> Result<Vec<std::fs::DirEntry>, String> {
        match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("{}: {e}", dir.display())),
        }
    };
    for table in Table::ALL {
        let date_dir =
            layout::table_dir(parquet_dir, table).join(format!("{}={date}", layout::DATE_COLUMN));
        for hour_dir in read_dir(&date_dir)? {
            let Some(hour) = hour_of_key(&format!("{}/", hour_dir.file_name().to_string_lossy()))
            else {
                continue;
            };
            for file in read_dir(&hour_dir.path())? {
                let path = file.path();
                if !layout::is_data_file(&path) {
                    continue;
                }
                // A file compaction removed between the listing and here is a change the
                // fingerprint after the computation will see.
                let Ok(meta) = file.metadata() else { continue };
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                per_hour[hour].push(FileStamp {
                    table: table.name(),
                    name: file.file_name().to_string_lossy().into_owned(),
                    size: meta.len(),
                    version: modified.to_string(),
                    modified_ms: i64::try_from(modified / 1_000_000).unwrap_or(i64::MAX),
                });
            }
        }
    }
    Ok(per_hour)
}

impl PartialCache {
    /// The cache under `data_dir`.
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            root: layout::kpi_cache_dir(data_dir),
        }
    }

    fn date_dir(&self, kpi: &str, date: &str) -> PathBuf {
        self.root
            .join(kpi)
            .join(format!("{}={date}", layout::DATE_COLUMN))
    }

    fn file_name(key: &HourKey) -> String {
        format!(
            "{:02}-{:016x}-{:016x}.arrow",
            key.hour, key.definition, key.files
        )
    }

    /// The stored rows of `kpi`'s hour, if an entry for exactly these definition and files
    /// exists and reads back whole.
    pub(crate) fn load(&self, key: &HourKey) -> Option<(SchemaRef, Vec<RecordBatch>)> {
        let path = self.date_dir(key.kpi, key.date).join(Self::file_name(key));
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "KPI cache entry unreadable; computing the hour");
                return None;
            }
        };
        let read = || -> Result<(SchemaRef, Vec<RecordBatch>), String> {
            let reader = FileReader::try_new(std::io::BufReader::new(file), None)
                .map_err(|e| e.to_string())?;
            let schema = reader.schema();
            let batches = reader
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            Ok((schema, batches))
        };
        match read() {
            Ok(entry) => Some(entry),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "KPI cache entry unreadable; computing the hour");
                None
            }
        }
    }

    /// Store `kpi`'s rows for an hour, replacing the hour's entries for other files or
    /// definitions. Failures are logged, never returned.
    pub(crate) fn store(&self, key: &HourKey, schema: &SchemaRef, batches: &[RecordBatch]) {
        if let Err(e) = self.try_store(key, schema, batches)
            && !WRITE_WARNED.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                dir = %self.root.display(),
                error = %e,
                "cannot store KPI partial results; KPIs are computed from the lake (set \
                 [query] kpi_cache = false to stop trying)"
            );
        }
    }

    fn try_store(
        &self,
        key: &HourKey,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<(), String> {
        let dir = self.date_dir(key.kpi, key.date);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = Self::file_name(key);
        let temp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> Result<(), String> {
            let file = std::fs::File::create(&temp).map_err(|e| e.to_string())?;
            let mut writer = FileWriter::try_new(std::io::BufWriter::new(file), schema)
                .map_err(|e| e.to_string())?;
            for batch in batches {
                writer.write(batch).map_err(|e| e.to_string())?;
            }
            writer.finish().map_err(|e| e.to_string())?;
            std::fs::rename(&temp, dir.join(&name)).map_err(|e| e.to_string())
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&temp);
            return Err(format!("{}: {e}", temp.display()));
        }
        // Older entries of the hour can never be read again (their files are gone or their
        // definition changed).
        let hour_prefix = format!("{:02}-", key.hour);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let other = entry.file_name().to_string_lossy().into_owned();
                if other != name && other.starts_with(&hour_prefix) && other.ends_with(".arrow") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }
}

/// The rows of `batches` split by their `time` value (the hour each row belongs to), for the
/// hours of `hours`; every listed hour gets an entry, empty when it has no rows.
pub(crate) fn split_by_hour(
    batches: &[RecordBatch],
    hours: &[i64],
) -> Result<BTreeMap<i64, Vec<RecordBatch>>, String> {
    use datafusion::arrow::array::{Array, TimestampMillisecondArray, UInt32Array};
    let mut out: BTreeMap<i64, Vec<RecordBatch>> = hours.iter().map(|h| (*h, Vec::new())).collect();
    for batch in batches {
        let column = batch
            .column_by_name("time")
            .ok_or("the partial query has no `time` column")?;
        // `date_bin` keeps or widens the timestamp unit; the hours are compared in ms.
        let time = datafusion::arrow::compute::cast(
            column,
            &datafusion::arrow::datatypes::DataType::Timestamp(
                datafusion::arrow::datatypes::TimeUnit::Millisecond,
                None,
            ),
        )
        .map_err(|e| format!("the partial query's `time` is not a timestamp: {e}"))?;
        let time = time
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or("the partial query's `time` is not a timestamp")?;
        let mut rows: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for i in 0..time.len() {
            if time.is_null(i) {
                return Err("the partial query returned a row without `time`".into());
            }
            rows.entry(time.value(i)).or_default().push(i as u32);
        }
        for (hour, indices) in rows {
            let Some(slot) = out.get_mut(&hour) else {
                return Err(format!(
                    "the partial query returned a row for {hour} ms, outside its hours"
                ));
            };
            let taken =
                datafusion::arrow::compute::take_record_batch(batch, &UInt32Array::from(indices))
                    .map_err(|e| e.to_string())?;
            slot.push(taken);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_read_from_keys_and_names() {
        assert_eq!(
            hour_of_key("zt/authentication/date=2026-03-02/hour=08/w-1.parquet"),
            Some(8)
        );
        assert_eq!(hour_of_key("hour=23/"), Some(23));
        assert_eq!(hour_of_key("hour=24/"), None);
        assert_eq!(
            hour_of_key("authentication/date=2026-03-02/x.parquet"),
            None
        );
    }

    #[test]
    fn a_changed_file_changes_its_hour_only() {
        let dir = tempfile::tempdir().unwrap();
        let date = "2026-03-02";
        let hour_dir = |table: Table, hour: u32| {
            let d = layout::table_dir(dir.path(), table)
                .join(format!("date={date}"))
                .join(format!("hour={hour:02}"));
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        std::fs::write(hour_dir(Table::Authentication, 8).join("w-1.parquet"), b"a").unwrap();
        std::fs::write(hour_dir(Table::HttpActivity, 9).join("w-2.parquet"), b"b").unwrap();
        // Files being written are not data yet.
        std::fs::write(
            hour_dir(Table::HttpActivity, 10).join(".w-3.parquet.tmp"),
            b"c",
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let fingerprints = || {
            rt.block_on(date_fingerprints(dir.path(), None, date))
                .unwrap()
                .map(|h| h.fingerprint)
        };
        let before = fingerprints();
        assert_eq!(before, fingerprints(), "stable while nothing changes");
        assert_ne!(before[8], before[9]);
        assert_eq!(
            before[10], before[11],
            "a temporary file is not a data file"
        );
        std::fs::write(hour_dir(Table::HttpActivity, 9).join("w-4.parquet"), b"dd").unwrap();
        let after = fingerprints();
        assert_ne!(before[9], after[9], "a new file in hour 9");
        assert_eq!(before[8], after[8]);
        std::fs::remove_file(hour_dir(Table::Authentication, 8).join("w-1.parquet")).unwrap();
        assert_eq!(
            fingerprints()[8],
            before[0],
            "an emptied hour is an empty hour"
        );
        let hours = rt
            .block_on(date_fingerprints(dir.path(), None, date))
            .unwrap();
        assert!(hours[8].is_empty() && hours[0].is_empty());
        assert!(!hours[9].is_empty(), "hour 9 has two files");
    }

    #[test]
    fn entries_round_trip_and_replace_older_ones() {
        use datafusion::arrow::array::{Int64Array, TimestampMillisecondArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        let dir = tempfile::tempdir().unwrap();
        let cache = PartialCache::new(dir.path());
        let schema: SchemaRef = std::sync::Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("events", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                std::sync::Arc::new(
                    TimestampMillisecondArray::from(vec![7_200_000]).with_timezone("UTC"),
                ),
                std::sync::Arc::new(Int64Array::from(vec![3])),
            ],
        )
        .unwrap();
        let key = |hour: u32, definition: u64, files: u64| HourKey {
            kpi: "k",
            date: "1970-01-01",
            hour,
            definition,
            files,
        };
        assert!(cache.load(&key(2, 1, 10)).is_none());
        cache.store(&key(2, 1, 10), &schema, std::slice::from_ref(&batch));
        let (read_schema, read) = cache.load(&key(2, 1, 10)).unwrap();
        assert_eq!(read_schema, schema);
        assert_eq!(read, vec![batch.clone()]);
        assert!(cache.load(&key(2, 1, 11)).is_none(), "other files");
        assert!(cache.load(&key(2, 2, 10)).is_none(), "other definition");
        cache.store(&key(2, 1, 11), &schema, &[]);
        assert!(cache.load(&key(2, 1, 10)).is_none(), "replaced");
        assert_eq!(cache.load(&key(2, 1, 11)).unwrap().1, vec![]);
        // A torn entry is a miss, not an error.
        let path = cache
            .date_dir("k", "1970-01-01")
            .join(PartialCache::file_name(&key(3, 1, 1)));
        std::fs::write(&path, b"ARROW1 torn").unwrap();
        assert!(cache.load(&key(3, 1, 1)).is_none());

        let split = split_by_hour(std::slice::from_ref(&batch), &[3_600_000, 7_200_000]).unwrap();
        assert_eq!(split[&3_600_000], vec![]);
        assert_eq!(
            split[&7_200_000]
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>(),
            1
        );
        assert!(
            split_by_hour(&[batch], &[0]).is_err(),
            "a row outside the hours"
        );
    }
}
