//! Lake maintenance: compaction of small files per closed hour, and retention by days.
//!
//! Compaction merges the files of one `(table, date, hour)` partition into one, keeping one row
//! per `metadata_uid`: its earliest delivery (smallest `metadata_processed_time`), so the
//! duplicates a crash or a redelivery leaves behind go without changing when the event first
//! arrived (file names order writers, not deliveries: a one-shot ingest's writer id carries its
//! process id). The merged file is written atomically before the inputs are deleted, so a
//! crash in between leaves duplicates for the next run, never a loss. Only hours before
//! `before_hour` are touched, so partitions still being written are left alone.
//!
//! On a local lake, run it on one instance per lake: it merges every writer's files. On an
//! object-store lake several nodes run it at once, so each compacts only the files it wrote
//! (its writer id, and its one-shot `ztlens ingest` runs, `<writer>_ingest<pid>`): no two nodes
//! ever merge or delete the same file, with no lease to hold. Duplicates across writers (a
//! Kafka redelivery after a rebalance) stay as files and are counted once by KPIs. The merged
//! object is uploaded before its inputs are deleted, and the inputs are deleted by the first run
//! at least `compaction_grace_secs` later (the node remembers them in its `data_dir`), so a
//! query that listed a partition before (or from its listing cache) still finds every file it
//! names; a query in between sees both, whose rows share `metadata_uid` and are counted once
//! by KPIs. Retention deletes whole date prefixes, which any number of
//! nodes may do at once.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, BooleanArray, StringArray, TimestampMillisecondArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::layout::{self, partition_hour, table_dir};
use super::object::{ObjectIo, ObjectLake};
use super::writer::write_parquet_file;
use super::{LakeConfig, LakeError, next_seq, sync_dir};
use crate::schema::Table;

/// What a compaction run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CompactionReport {
    pub partitions: usize,
    pub files_in: usize,
    pub files_out: usize,
    pub rows_in: u64,
    pub rows_out: u64,
}

fn sub_dirs(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(LakeError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

/// Parquet files of a partition (ignoring temporary files), sorted by name.
pub(crate) fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(LakeError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| layout::is_data_file(p))
        .collect();
    out.sort();
    Ok(out)
}

/// Compact every closed hour partition that has at least `compact_min_files` files.
pub fn compact_partitions(
    config: &LakeConfig,
    before_hour: i64,
) -> Result<CompactionReport, LakeError> {
    let writer_id = config.resolved_writer_id();
    if let Some(lake) = ObjectLake::from_config(config)? {
        return compact_object_partitions(&ObjectIo::new(lake)?, config, &writer_id, before_hour);
    }
    let parquet_dir = config.parquet_dir()?;
    let mut report = CompactionReport::default();
    for table in Table::ALL {
        for date_dir in sub_dirs(&table_dir(&parquet_dir, table))? {
            for hour_dir in sub_dirs(&date_dir)? {
                let Some(hour) = partition_hour(&date_dir, &hour_dir) else {
                    continue;
                };
                if hour >= before_hour {
                    continue;
                }
                let files = parquet_files(&hour_dir)?;
                if files.len() < config.compact_min_files.max(2) {
                    continue;
                }
                compact_partition(
                    table,
                    &hour_dir,
                    &files,
                    &writer_id,
                    config.compact_max_bytes,
                    &mut report,
                )?;
            }
        }
    }
    Ok(report)
}

fn compact_partition(
    table: Table,
    dir: &Path,
    files: &[PathBuf],
    writer_id: &str,
    max_bytes: u64,
    report: &mut CompactionReport,
) -> Result<(), LakeError> {
    // Bins of consecutive files up to max_bytes each.
    let mut bins: Vec<Vec<PathBuf>> = vec![Vec::new()];
    let mut bin_bytes = 0u64;
    for file in files {
        let size = std::fs::metadata(file).map_err(LakeError::io(file))?.len();
        if bin_bytes + size > max_bytes && !bins.last().is_some_and(Vec::is_empty) {
            bins.push(Vec::new());
            bin_bytes = 0;
        }
        bin_bytes += size;
        bins.last_mut().expect("one bin exists").push(file.clone());
    }
    let schema = table.schema();
    let mut compacted_any = false;
    for bin in bins.into_iter().filter(|b| b.len() >= 2) {
        let mut read = Vec::new();
        let mut inputs = Vec::new();
        for path in &bin {
            let file = File::open(path).map_err(LakeError::io(path))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
                .with_batch_size(64 * 1024)
                .build()?;
            let mut file_batches = Vec::new();
            let mut compatible = true;
            for batch in reader {
                let batch = batch?;
                if batch.schema().fields() != schema.fields() {
                    compatible = false;
                    break;
                }
                file_batches.push(batch);
            }
            if !compatible {
                // Written under another schema version: leave it as it is.
                continue;
            }
            read.extend(file_batches);
            inputs.push(path.clone());
        }
        if inputs.len() < 2 {
            continue;
        }
        let batches = merge_deduplicated(&read, report)?;
        let name = layout::data_file_name(writer_id, next_seq());
        write_parquet_file(dir, &name, &schema, &batches)?;
        for path in &inputs {
            std::fs::remove_file(path).map_err(LakeError::io(path))?;
        }
        report.files_in += inputs.len();
        report.files_out += 1;
        compacted_any = true;
    }
    if compacted_any {
        sync_dir(dir)?;
        report.partitions += 1;
    }
    Ok(())
}

/// The rows of `read` with one row per `metadata_uid`, its earliest delivery.
fn merge_deduplicated(
    read: &[RecordBatch],
    report: &mut CompactionReport,
) -> Result<Vec<RecordBatch>, LakeError> {
    let earliest = earliest_deliveries(read);
    let mut batches = Vec::new();
    for (index, batch) in read.iter().enumerate() {
        report.rows_in += batch.num_rows() as u64;
        let kept = keep_earliest(batch, index, &earliest)?;
        report.rows_out += kept.num_rows() as u64;
        if kept.num_rows() > 0 {
            batches.push(kept);
        }
    }
    Ok(batches)
}

/// Whether `writer_id` wrote the data file `name` (itself or as a one-shot ingest).
fn written_by(name: &str, writer_id: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(writer, _)| {
        writer == writer_id
            || writer
                .strip_prefix(writer_id)
                .and_then(|rest| rest.strip_prefix("_ingest"))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// What a compaction run on a bucket did, and the files it replaced.
#[derive(Default)]
struct ObjectCompactionRun {
    report: CompactionReport,
    replaced: Vec<object_store::path::Path>,
}

/// [`compact_partitions`] on an object-store lake: this writer's own files only.
fn compact_object_partitions(
    io: &ObjectIo,
    config: &LakeConfig,
    writer_id: &str,
    before_hour: i64,
) -> Result<CompactionReport, LakeError> {
    let pending = PendingDeletes::new(&config.data_dir, writer_id);
    let grace_ms =
        i64::try_from(config.compaction_grace_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    pending.delete_due(io, grace_ms)?;
    let mut run = ObjectCompactionRun::default();
    for table in Table::ALL {
        // One recursive listing per table (pages of 1,000 keys), grouped here by partition.
        let dir = table.name().to_string();
        let files = io.run(move |lake| async move { lake.list_data_files_under(&dir).await })?;
        let mut partitions: std::collections::BTreeMap<i64, Vec<object_store::ObjectMeta>> =
            std::collections::BTreeMap::new();
        for file in files {
            let parts: Vec<String> = file
                .location
                .parts()
                .map(|p| p.as_ref().to_string())
                .collect();
            let [.., date, hour, name] = parts.as_slice() else {
                continue;
            };
            if !written_by(name, writer_id) {
                continue;
            }
            let Some(hour_index) = partition_hour(Path::new(date), Path::new(hour)) else {
                continue;
            };
            if hour_index < before_hour {
                partitions.entry(hour_index).or_default().push(file);
            }
        }
        for (hour, mut files) in partitions {
            if files.len() < config.compact_min_files.max(2) {
                continue;
            }
            files.sort_by(|a, b| a.location.cmp(&b.location));
            compact_object_partition(io, table, hour, &files, writer_id, config, &mut run)?;
        }
    }
    let ObjectCompactionRun { report, replaced } = run;
    if !replaced.is_empty() {
        tracing::info!(
            files = replaced.len(),
            grace_secs = config.compaction_grace_secs,
            "merged files uploaded; the files they replace are deleted once the grace period is over"
        );
        pending.add(&replaced, chrono::Utc::now().timestamp_millis())?;
        pending.delete_due(io, grace_ms)?;
    }
    Ok(report)
}

/// Files a bucket compaction replaced, waiting for `compaction_grace_secs` before they are
/// deleted: `<data_dir>/_compaction/<writer>.pending`, one `<unix ms> <key>` per line. Kept on
/// the node's disk so no run sleeps through the grace period (a shutdown never waits for it);
/// a lost file only leaves duplicates, which the next compaction merges away.
struct PendingDeletes {
    path: PathBuf,
}

impl PendingDeletes {
    fn new(data_dir: &Path, writer_id: &str) -> Self {
        Self {
            path: data_dir
                .join("_compaction")
                .join(format!("{writer_id}.pending")),
        }
    }

    fn read(&self) -> Result<Vec<(i64, String)>, LakeError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LakeError::io(&self.path)(e)),
        };
        Ok(text
            .lines()
            .filter_map(|line| {
                let (at, key) = line.split_once(' ')?;
                Some((at.parse().ok()?, key.to_string()))
            })
            .collect())
    }

    fn write(&self, entries: &[(i64, String)]) -> Result<(), LakeError> {
        let dir = self.path.parent().expect("a file in a directory");
        std::fs::create_dir_all(dir).map_err(LakeError::io(dir))?;
        let tmp = self.path.with_extension("pending.tmp");
        let text: String = entries
            .iter()
            .map(|(at, key)| format!("{at} {key}\n"))
            .collect();
        std::fs::write(&tmp, text).map_err(LakeError::io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(LakeError::io(&self.path))
    }

    fn add(&self, keys: &[object_store::path::Path], at_ms: i64) -> Result<(), LakeError> {
        let mut entries = self.read()?;
        entries.extend(keys.iter().map(|k| (at_ms, k.to_string())));
        self.write(&entries)
    }

    /// Delete the files whose grace period is over; keep the others listed.
    fn delete_due(&self, io: &ObjectIo, grace_ms: i64) -> Result<(), LakeError> {
        let entries = self.read()?;
        if entries.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp_millis();
        let (due, waiting): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|(at, _)| now.saturating_sub(*at) >= grace_ms);
        let keys: Vec<object_store::path::Path> = due
            .iter()
            .map(|(_, key)| object_store::path::Path::from(key.as_str()))
            .collect();
        io.run(move |lake| async move {
            for key in &keys {
                lake.delete(key).await?;
            }
            Ok(())
        })?;
        self.write(&waiting)
    }
}

fn compact_object_partition(
    io: &ObjectIo,
    table: Table,
    hour: i64,
    files: &[object_store::ObjectMeta],
    writer_id: &str,
    config: &LakeConfig,
    run: &mut ObjectCompactionRun,
) -> Result<(), LakeError> {
    let max_bytes = config.compact_max_bytes;
    let report = &mut run.report;
    let mut bins: Vec<Vec<&object_store::ObjectMeta>> = vec![Vec::new()];
    let mut bin_bytes = 0u64;
    for file in files {
        if bin_bytes.saturating_add(file.size) > max_bytes
            && !bins.last().is_some_and(Vec::is_empty)
        {
            bins.push(Vec::new());
            bin_bytes = 0;
        }
        bin_bytes = bin_bytes.saturating_add(file.size);
        bins.last_mut().expect("one bin exists").push(file);
    }
    let schema = table.schema();
    let mut compacted_any = false;
    for bin in bins.into_iter().filter(|b| b.len() >= 2) {
        let mut read = Vec::new();
        let mut inputs = Vec::new();
        for file in bin {
            let key = file.location.clone();
            let batches = io.run(move |lake| async move { lake.read_parquet(&key).await })?;
            if batches
                .iter()
                .any(|b| b.schema().fields() != schema.fields())
            {
                // Written under another schema version: leave it as it is.
                continue;
            }
            read.extend(batches);
            inputs.push(file.location.clone());
        }
        if inputs.len() < 2 {
            continue;
        }
        let batches = merge_deduplicated(&read, report)?;
        let key =
            io.lake()
                .data_file_key(table, hour, &layout::data_file_name(writer_id, next_seq()));
        let put_schema = schema.clone();
        io.run(move |lake| async move { lake.put_parquet(&key, &put_schema, &batches).await })?;
        report.files_in += inputs.len();
        run.replaced.extend(inputs);
        report.files_out += 1;
        compacted_any = true;
    }
    if compacted_any {
        report.partitions += 1;
    }
    Ok(())
}

fn uids(batch: &RecordBatch) -> &StringArray {
    batch
        .column_by_name("metadata_uid")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .expect("every table has metadata_uid")
}

fn processed_times(batch: &RecordBatch) -> &TimestampMillisecondArray {
    batch
        .column_by_name("metadata_processed_time")
        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
        .expect("every table has metadata_processed_time")
}

/// Where each `metadata_uid` (by 128-bit hash) was first delivered: (processed time, batch,
/// row) of its smallest `metadata_processed_time`, the earliest position on a tie.
fn earliest_deliveries(batches: &[RecordBatch]) -> HashMap<u128, (i64, u32, u32)> {
    let mut earliest: HashMap<u128, (i64, u32, u32)> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        let (uids, processed) = (uids(batch), processed_times(batch));
        for row in 0..batch.num_rows() {
            if uids.is_null(row) {
                continue;
            }
            let at = if processed.is_null(row) {
                i64::MAX
            } else {
                processed.value(row)
            };
            let candidate = (at, b as u32, row as u32);
            earliest
                .entry(xxhash_rust::xxh3::xxh3_128(uids.value(row).as_bytes()))
                .and_modify(|e| {
                    if candidate.0 < e.0 {
                        *e = candidate;
                    }
                })
                .or_insert(candidate);
        }
    }
    earliest
}

/// Rows of batch `index` that are their uid's earliest delivery (rows without a uid stay).
fn keep_earliest(
    batch: &RecordBatch,
    index: usize,
    earliest: &HashMap<u128, (i64, u32, u32)>,
) -> Result<RecordBatch, LakeError> {
    let uids = uids(batch);
    let mask: BooleanArray = (0..uids.len())
        .map(|row| {
            Some(
                uids.is_null(row)
                    || earliest
                        .get(&xxhash_rust::xxh3::xxh3_128(uids.value(row).as_bytes()))
                        .is_some_and(|&(_, b, r)| b as usize == index && r as usize == row),
            )
        })
        .collect();
    if mask.true_count() == batch.num_rows() {
        return Ok(batch.clone());
    }
    Ok(filter_record_batch(batch, &mask)?)
}

/// Delete date partitions (tables and dead letters) older than `retention_days` before `today`,
/// in the bucket too for an object-store lake. Returns the number of date partitions removed.
pub fn enforce_retention(
    config: &LakeConfig,
    today: chrono::NaiveDate,
) -> Result<usize, LakeError> {
    if config.retention_days == 0 {
        return Ok(0);
    }
    let cutoff = today - chrono::Days::new(config.retention_days as u64);
    let expired = |name: &str| layout::day_of_dir(Path::new(name)).is_some_and(|d| d < cutoff);
    let mut removed = 0;
    if let Some(lake) = ObjectLake::from_config(config)? {
        let io = ObjectIo::new(lake)?;
        for table in Table::ALL {
            let dir = table.name().to_string();
            let dates = io.run(move |lake| async move { lake.list_dirs(&dir).await })?;
            for date in dates.into_iter().filter(|d| expired(d)) {
                let prefix = format!("{}/{date}", table.name());
                io.run(move |lake| async move { lake.delete_prefix(&prefix).await })?;
                removed += 1;
            }
        }
    }
    let parquet_dir = config.parquet_dir()?;
    let mut roots: Vec<PathBuf> = Table::ALL
        .iter()
        .map(|t| table_dir(&parquet_dir, *t))
        .collect();
    roots.push(layout::dead_letter_dir(&config.data_dir));
    for root in roots {
        for date_dir in sub_dirs(&root)? {
            if layout::day_of_dir(&date_dir).is_some_and(|d| d < cutoff) {
                std::fs::remove_dir_all(&date_dir).map_err(LakeError::io(&date_dir))?;
                removed += 1;
            }
        }
    }
    // KPI partial results of expired days: never read again (their hours have no files), so
    // removed with them; not counted as partitions.
    // Derived data: a failure (a query writing into the directory meanwhile) is logged and left
    // for the next run, never a failed retention.
    let cache_dirs = sub_dirs(&layout::kpi_cache_dir(&config.data_dir)).unwrap_or_default();
    for kpi_dir in cache_dirs {
        for date_dir in sub_dirs(&kpi_dir).unwrap_or_default() {
            if layout::day_of_dir(&date_dir).is_some_and(|d| d < cutoff)
                && let Err(e) = std::fs::remove_dir_all(&date_dir)
            {
                tracing::warn!(dir = %date_dir.display(), error = %e, "cannot remove expired KPI partial results");
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::schema::{AuthenticationRow, TableBuilders};

    /// One sign-in with a fixed `metadata_uid`, delivered at `processed_ms`.
    fn authentication_batch(processed_ms: i64) -> RecordBatch {
        let mut builders = TableBuilders::new(processed_ms);
        let mut row = AuthenticationRow::default();
        row.common.time = Some(1_772_439_300_000);
        row.common.metadata_uid = Some(Cow::Borrowed("u-1"));
        builders.authentication.append(&mut row);
        let (table, batch) = builders.finish().into_iter().next().expect("one row");
        assert_eq!(table, Table::Authentication);
        batch
    }

    #[test]
    fn retention_removes_old_days_of_tables_and_kpi_partials() {
        let dir = tempfile::tempdir().unwrap();
        let config = LakeConfig {
            data_dir: dir.path().to_path_buf(),
            retention_days: 30,
            ..LakeConfig::default()
        };
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let make = |relative: &str| {
            let path = dir.path().join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
            path
        };
        let old_rows = make("authentication/date=2026-02-01/hour=00/w-1.parquet");
        let new_rows = make("authentication/date=2026-03-30/hour=00/w-1.parquet");
        let old_cache = make("_kpi_cache/access_decisions/date=2026-02-01/00-a-b.arrow");
        let new_cache = make("_kpi_cache/access_decisions/date=2026-03-30/00-a-b.arrow");
        assert_eq!(
            enforce_retention(&config, today).unwrap(),
            1,
            "one table partition"
        );
        assert!(!old_rows.exists() && !old_cache.exists());
        assert!(new_rows.exists() && new_cache.exists());
    }

    #[test]
    fn object_lake_compaction_takes_only_its_own_files() {
        assert!(written_by("node1-00000000000000000007.parquet", "node1"));
        assert!(written_by(
            "node1_ingest42-00000000000000000007.parquet",
            "node1"
        ));
        assert!(!written_by("node2-00000000000000000007.parquet", "node1"));
        assert!(!written_by("node10-00000000000000000007.parquet", "node1"));
        assert!(!written_by(
            "node1_ingest-00000000000000000007.parquet",
            "node1"
        ));
        assert!(!written_by(
            "node1_ingest4x-00000000000000000007.parquet",
            "node1"
        ));
    }

    #[test]
    fn compaction_keeps_the_earliest_delivery_whatever_the_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Table::Authentication.schema();
        // The later delivery sits in the file that sorts first (as a one-shot ingest whose
        // process id sorts lower would write it).
        write_parquet_file(
            dir.path(),
            "a-1.parquet",
            &schema,
            &[authentication_batch(2_000)],
        )
        .unwrap();
        write_parquet_file(
            dir.path(),
            "b-1.parquet",
            &schema,
            &[authentication_batch(1_000)],
        )
        .unwrap();
        let files = parquet_files(dir.path()).unwrap();
        let mut report = CompactionReport::default();
        compact_partition(
            Table::Authentication,
            dir.path(),
            &files,
            "test",
            u64::MAX,
            &mut report,
        )
        .unwrap();
        assert_eq!(
            (report.rows_in, report.rows_out, report.files_out),
            (2, 1, 1)
        );
        let merged = parquet_files(dir.path()).unwrap();
        assert_eq!(merged.len(), 1);
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&merged[0]).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        assert_eq!(processed_times(&batches[0]).value(0), 1_000);
    }
}
