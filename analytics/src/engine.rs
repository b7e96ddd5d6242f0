//! The query engine: DataFusion over the lake plus the writer's hot tail.
//!
//! Every query gets a fresh `SessionContext` (so no query can change another's session) built
//! from one shared `RuntimeEnv` (so all queries share one memory pool). Queries run on a
//! dedicated Tokio runtime, bounded by a concurrency semaphore and a wall-clock timeout, so a
//! heavy query never stalls ingest, `/healthz` or `/metrics`.
//!
//! Tables visible to SQL are views:
//! - for a KPI over `[from, to)`: `<table>` = lake rows in the date partitions the range touches
//!   and with `time` in range, plus hot-tail rows in range, plus a `bucket` column
//!   (`date_bin(step, time, from)`);
//!   (a KPI with a `lookback` starts its tables that much before `from`; `kpi_range` holds the
//!   range itself; the derived views of `kpi::builtin_views()` are defined over these tables);
//! - for user SQL: `<table>` = every lake and hot-tail row, with `date` and `hour` columns so
//!   filters on them prune partitions;
//! - in both: the inventories (`service_account_inventory`, `policy_exception_inventory`, see
//!   [`crate::inventory`]), loaded once and shared by every session; and, for statements that
//!   name it, `dead_letters(time, source, origin, kind, reason, raw_len)`: the refused records
//!   by the time ztlens refused them (a refused record has no event time), read from the
//!   dead-letter store as a stream (a scan holds one batch, not the store) — in a KPI, those
//!   refused in the range (and lookback), with a `bucket`.
//!
//! A KPI session also has `kpi_range(range_from, range_to, last_bucket)` and
//! `kpi_buckets(bucket, bucket_end)`, one row per bucket of the range (at most
//! [`crate::time_range::MAX_BUCKETS`]), for KPIs that report a state at every bucket's end.
//!
//! The hot tail is snapshotted before the lake files are listed, so a row flushed between the two
//! is seen twice (and counted once: KPIs count distinct `metadata_uid`), never missed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::{Expr, LogicalPlan, cast, col, lit};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use ztlens_ingest::Table;
use ztlens_ingest::lake::layout;
use ztlens_ingest::lake::{LakeConfig, ObjectLake, TailReader, TailSnapshot};

use crate::AnalyticsError;
use crate::guard::check_read_only;
use crate::inventory::Inventory;
use crate::kpi::{ColumnMerge, KpiPartial};
use crate::kpi::{KpiCatalog, KpiDef};
use crate::output::QueryOutput;
use crate::partials::{HOUR_MS, HourKey, PartialCache};
use crate::time_range::TimeRange;

/// `[query]`: limits for KPI evaluation and user SQL.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Longest a query may run, in seconds.
    pub timeout_secs: u64,
    /// Memory all running queries may use together, in bytes.
    pub memory_limit_bytes: usize,
    /// Queries that may run at once; more get "busy" (HTTP 429).
    pub max_concurrent: usize,
    /// Most rows a query returns; longer results are cut and flagged `truncated`.
    pub max_rows: usize,
    /// Threads of the query runtime (0: one per core).
    pub threads: usize,
    /// Disk all running queries may spill to together, in bytes (0: no spilling; a query that
    /// needs more than the memory limit then fails).
    pub spill_limit_bytes: u64,
    /// Queries that group a long range by many keys (the access-path map) read it this many
    /// hours at a time and merge the chunks' results, so their memory follows a chunk's data
    /// and not the range's. 1 to 744.
    pub chunk_hours: u32,
    /// Keep the per-hour partial results of KPIs split in two (`-- partial` / `-- final`) for
    /// sealed hours in `<data_dir>/_kpi_cache`, so a KPI over a day or a month recomputes only
    /// the hours that can still change. Results are the same either way.
    pub kpi_cache: bool,
    /// An hour is sealed — its partial results may be stored — this many seconds after it ends
    /// and once the hot tail holds none of its rows. A file that still arrives in a sealed
    /// hour (a late batch, compaction) changes the hour's fingerprint and the hour is
    /// recomputed: this only avoids storing results that would be replaced soon. Up to 7 days.
    pub kpi_cache_seal_secs: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 30,
            memory_limit_bytes: 1024 * 1024 * 1024,
            max_concurrent: 8,
            max_rows: 100_000,
            threads: 0,
            spill_limit_bytes: 1024 * 1024 * 1024,
            chunk_hours: 24,
            kpi_cache: true,
            kpi_cache_seal_secs: 300,
        }
    }
}

impl QueryConfig {
    /// Check the section: a query needs time, memory and a row to answer with.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        if self.timeout_secs == 0 || self.memory_limit_bytes == 0 || self.max_rows == 0 {
            return Err(AnalyticsError::InvalidParameter(
                "timeout_secs, memory_limit_bytes and max_rows must be above 0".into(),
            ));
        }
        if !(1..=744).contains(&self.chunk_hours) {
            return Err(AnalyticsError::InvalidParameter(format!(
                "chunk_hours {} must be between 1 and 744 (31 days)",
                self.chunk_hours
            )));
        }
        if self.kpi_cache_seal_secs > 7 * 86_400 {
            return Err(AnalyticsError::InvalidParameter(format!(
                "kpi_cache_seal_secs {} must be at most 604800 (7 days)",
                self.kpi_cache_seal_secs
            )));
        }
        Ok(())
    }
}

/// Owns the dedicated query runtime; when dropped, waits a few seconds for its threads to stop.
struct Executor(Option<tokio::runtime::Runtime>);

/// How long dropping the engine waits for the query threads (a query that ignores
/// cancellation is left behind after it).
const EXECUTOR_SHUTDOWN: Duration = Duration::from_secs(5);

/// The name of the query runtime's threads.
const QUERY_THREAD_NAME: &str = "ztlens-query";

impl Drop for Executor {
    fn drop(&mut self) {
        let Some(rt) = self.0.take() else { return };
        // Joining the threads rather than detaching them: a CLI command that dropped its engine
        // with `shutdown_background` and exited at once crashed once in glibc's
        // `pthread_detach` (SIGSEGV on the main thread) while the detached threads were still
        // finishing.
        use tokio::runtime::{Handle, RuntimeFlavor};
        // The last handle on the engine can go away inside one of its own queries (an aborted
        // query task holds a clone): a runtime cannot wait for its own threads.
        if std::thread::current().name() == Some(QUERY_THREAD_NAME) {
            rt.shutdown_background();
            return;
        }
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Err(_) => rt.shutdown_timeout(EXECUTOR_SHUTDOWN),
            Ok(RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| rt.shutdown_timeout(EXECUTOR_SHUTDOWN))
            }
            // A current-thread runtime cannot block in place.
            Ok(_) => rt.shutdown_background(),
        }
    }
}

/// Shared state of the analytics layer; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    /// The node's own directory: dead letters.
    data_dir: PathBuf,
    /// The Parquet files of a local lake (`LakeConfig::parquet_dir`).
    parquet_dir: PathBuf,
    /// The bucket of an object-store lake (`[lake] url`); `None` reads `data_dir`.
    object: Option<ObjectLake>,
    catalog: KpiCatalog,
    config: QueryConfig,
    runtime_env: Arc<RuntimeEnv>,
    executor: Executor,
    /// Query slots; a running query holds one until its work has stopped.
    permits: Arc<Semaphore>,
    tail: Option<TailReader>,
    /// The inventories as record batches, built once.
    inventory: InventoryTables,
    /// Per-hour partial results of KPIs (`[query] kpi_cache`).
    partial_cache: Option<PartialCache>,
    /// How long bucket listings are kept (ms), when they are.
    list_cache_ms: Option<i64>,
}

/// The inventory tables every session sees.
struct InventoryTables {
    service_accounts: RecordBatch,
    policy_exceptions: RecordBatch,
}

impl Engine {
    /// An engine over the local lake in `data_dir`, answering `catalog`'s KPIs, with
    /// `inventory` as reference tables and the writer's hot tail when this process ingests.
    pub fn new(
        data_dir: &Path,
        catalog: KpiCatalog,
        config: QueryConfig,
        tail: Option<TailReader>,
        inventory: &Inventory,
    ) -> Result<Self, AnalyticsError> {
        let lake = LakeConfig {
            data_dir: data_dir.to_path_buf(),
            ..LakeConfig::default()
        };
        Self::over_lake(&lake, catalog, config, tail, inventory)
    }

    /// An engine over the lake `lake` describes: its `data_dir`, or its bucket (`url`).
    pub fn over_lake(
        lake: &LakeConfig,
        catalog: KpiCatalog,
        config: QueryConfig,
        tail: Option<TailReader>,
        inventory: &Inventory,
    ) -> Result<Self, AnalyticsError> {
        let data_dir = std::path::absolute(&lake.data_dir)
            .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
        let parquet_dir = lake
            .parquet_dir()
            .map_err(|e| AnalyticsError::Internal(e.to_string()))
            .and_then(|dir| {
                std::path::absolute(dir).map_err(|e| AnalyticsError::Internal(e.to_string()))
            })?;
        let object =
            ObjectLake::from_config(lake).map_err(|e| AnalyticsError::Internal(e.to_string()))?;
        // DataFusion caches directory listings for the life of the runtime by default. The
        // lake changes under a running server — the writer flushes new files into the
        // current hour, compaction replaces files — so a cached listing hid every file
        // flushed after a partition was first read (rows vanished from queries once they
        // left the hot tail) and would name files compaction had deleted. A local listing is
        // cheap and never cached; a bucket listing is a request, kept `list_cache_secs` — on a
        // query node only: a node with a hot tail must see a file as soon as its rows leave the
        // tail (a cached listing from before the flush would hide them).
        let list_cache_ms = match (&object, lake.list_cache_secs) {
            (Some(_), secs) if secs > 0 && tail.is_none() => Some(
                i64::try_from(secs)
                    .unwrap_or(i64::MAX / 2)
                    .saturating_mul(1000),
            ),
            _ => None,
        };
        let list_cache = match (&object, lake.list_cache_secs) {
            (Some(_), secs) if secs > 0 && tail.is_none() => {
                datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
                    .with_list_files_cache_ttl(Some(std::time::Duration::from_secs(secs)))
                    .with_list_files_cache_limit(64 * 1024 * 1024)
            }
            _ => datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
                .with_list_files_cache_limit(0),
        };
        let runtime_env = RuntimeEnvBuilder::new()
            .with_memory_limit(config.memory_limit_bytes, 1.0)
            .with_cache_manager(list_cache)
            .with_disk_manager_builder(
                datafusion::execution::disk_manager::DiskManagerBuilder::default()
                    .with_max_temp_directory_size(config.spill_limit_bytes),
            )
            .build_arc()
            .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
        if let Some(object) = &object {
            runtime_env.register_object_store(object.bucket_url(), object.store());
        }
        let threads = if config.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            config.threads
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(QUERY_THREAD_NAME)
            .enable_all()
            .build()
            .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
        let partial_cache = config.kpi_cache.then(|| PartialCache::new(&data_dir));
        Ok(Self {
            inner: Arc::new(EngineInner {
                data_dir,
                parquet_dir,
                object,
                catalog,
                permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
                config,
                runtime_env,
                executor: Executor(Some(rt)),
                tail,
                inventory: InventoryTables {
                    service_accounts: inventory.service_accounts_batch(),
                    policy_exceptions: inventory.policy_exceptions_batch(),
                },
                partial_cache,
                list_cache_ms,
            }),
        })
    }

    pub fn catalog(&self) -> &KpiCatalog {
        &self.inner.catalog
    }

    pub fn config(&self) -> &QueryConfig {
        &self.inner.config
    }

    /// Evaluate a KPI over a time range.
    pub async fn run_kpi(
        &self,
        id: &str,
        range: TimeRange,
    ) -> Result<(KpiDef, QueryOutput), AnalyticsError> {
        self.run_kpi_filtered(id, range, &[]).await
    }

    /// A KPI's rows whose label columns have one of the given values (drill-down). A filter
    /// with no values is ignored (Grafana's "All"); a label the KPI does not have is an error.
    pub async fn run_kpi_filtered(
        &self,
        id: &str,
        range: TimeRange,
        filters: &[LabelFilter],
    ) -> Result<(KpiDef, QueryOutput), AnalyticsError> {
        let def = self.inner.catalog.get(id)?.clone();
        let output = self.run_kpi_shaped(&def, range, filters, Ok, None).await?;
        Ok((def, output))
    }

    /// The distinct values one label of a KPI takes over `range` (filtered by the other
    /// labels' `filters`), sorted, nulls left out, at most [`MAX_LABEL_VALUES`]: what a Grafana
    /// variable lists. `truncated` on the output means more values exist.
    pub async fn run_label_values(
        &self,
        id: &str,
        range: TimeRange,
        filters: &[LabelFilter],
        label: &str,
    ) -> Result<(KpiDef, QueryOutput), AnalyticsError> {
        let def = self.inner.catalog.get(id)?.clone();
        // The same check as a filter on the label, so an unknown label is a 400 naming the
        // KPI's labels.
        label_predicates(&def, &[(label.to_string(), Vec::new())])?;
        let value = cast(
            Expr::Column(datafusion::common::Column::from_name(label)),
            DataType::Utf8,
        );
        let distinct_values = move |df: DataFrame| {
            df.filter(value.clone().is_not_null())?
                .select(vec![value.alias("value")])?
                .distinct()?
                .sort(vec![col("value").sort(true, false)])
        };
        let output = self
            .run_kpi_shaped(
                &def,
                range.whole(),
                filters,
                distinct_values,
                Some(MAX_LABEL_VALUES),
            )
            .await?;
        Ok((def, output))
    }

    /// A KPI's rows over `range`, narrowed by label `filters`, then `shape`d.
    async fn run_kpi_shaped<F>(
        &self,
        def: &KpiDef,
        range: TimeRange,
        filters: &[LabelFilter],
        shape: F,
        max_rows: Option<usize>,
    ) -> Result<QueryOutput, AnalyticsError>
    where
        F: FnOnce(DataFrame) -> datafusion::error::Result<DataFrame> + Send + 'static,
    {
        let predicates = label_predicates(def, filters)?;
        if let Some(partial) = &def.partial
            && let Some(plan) = self.partial_plan(range, def.lookback_ms).await?
        {
            // One time limit for gathering the partial rows, as for a single statement (each of
            // its statements has the same limit too); the final query has its own.
            let timeout = Duration::from_secs(self.inner.config.timeout_secs.max(1));
            let gathered = match tokio::time::timeout(
                timeout,
                self.gather_partials(def, partial, range, plan),
            )
            .await
            {
                Ok(result) => result?,
                Err(_) => return Err(AnalyticsError::Timeout(timeout)),
            };
            // `None`: the partial rows cannot be merged (too many, or columns the final query
            // cannot sum) — the KPI runs as one statement instead.
            if let Some((schema, rows)) = gathered {
                return self
                    .final_from_partials(
                        def, partial, range, schema, rows, predicates, shape, max_rows,
                    )
                    .await;
            }
        }
        let sql = def.sql.clone();
        let scope = KpiScope {
            range,
            lookback_ms: def.lookback_ms,
            dead_letters: names_dead_letters(&sql),
            views: ViewSet::read_by(&sql),
            buckets: None,
        };
        self.run(
            move |ctx| async move {
                let mut df = check_read_only(&ctx, &sql).await?;
                for predicate in predicates {
                    df = df.filter(predicate)?;
                }
                Ok(shape(df)?)
            },
            scope.into(),
            max_rows,
        )
        .await
    }

    /// Which hours of `range` a KPI split in two takes from stored partial results (sealed:
    /// whole hours inside the range and inside one bucket, ended `kpi_cache_seal_secs` ago,
    /// none of their rows in the hot tail), and the pieces of the range it computes. `None`
    /// when no hour qualifies (or the pieces would be many): the KPI runs as one statement.
    /// With a lookback, an hour is sealed only when none of the hours it reads back holds rows
    /// in the hot tail either.
    async fn partial_plan(
        &self,
        range: TimeRange,
        lookback_ms: i64,
    ) -> Result<Option<PartialPlan>, AnalyticsError> {
        if self.inner.partial_cache.is_none() {
            return Ok(None);
        }
        let (from, to, step) = (range.from_ms(), range.to_ms(), range.bucket_ms());
        let first = from.div_euclid(HOUR_MS) * HOUR_MS
            + if from.rem_euclid(HOUR_MS) == 0 {
                0
            } else {
                HOUR_MS
            };
        let hours = (to - first).div_euclid(HOUR_MS);
        if !(1..=MAX_CACHED_HOURS).contains(&hours) {
            return Ok(None);
        }
        let sealed_before = chrono::Utc::now()
            .timestamp_millis()
            .saturating_sub((self.inner.config.kpi_cache_seal_secs as i64).saturating_mul(1000));
        let open_in_tail = self.tail_hours().await?;
        let bucket = |t: i64| (t - from).div_euclid(step);
        let read_back = lookback_hours(lookback_ms).saturating_mul(HOUR_MS);
        let sealed: Vec<i64> = (0..hours)
            .map(|i| first + i * HOUR_MS)
            .filter(|h| {
                h + HOUR_MS <= sealed_before
                    && bucket(*h) == bucket(h + HOUR_MS - 1)
                    && open_in_tail
                        .range(h.saturating_sub(read_back)..=*h)
                        .next()
                        .is_none()
            })
            .collect();
        if sealed.is_empty() {
            return Ok(None);
        }
        let mut live = Vec::new();
        let mut cursor = from;
        for &hour in &sealed {
            if hour > cursor {
                live.push(TimeRange::new(cursor, hour, None)?);
            }
            cursor = hour + HOUR_MS;
        }
        if cursor < to {
            live.push(TimeRange::new(cursor, to, None)?);
        }
        if live.len() > MAX_LIVE_PIECES {
            return Ok(None);
        }
        Ok(Some(PartialPlan { sealed, live }))
    }

    /// The start of every hour the hot tail holds rows of.
    async fn tail_hours(&self) -> Result<std::collections::BTreeSet<i64>, AnalyticsError> {
        use datafusion::arrow::array::{Array, TimestampMillisecondArray};
        let mut hours = std::collections::BTreeSet::new();
        let Some(reader) = &self.inner.tail else {
            return Ok(hours);
        };
        let snapshot = reader
            .snapshot()
            .await
            .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
        for batch in snapshot.tables.values().flatten() {
            let time = batch
                .column_by_name("time")
                .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
                .ok_or_else(|| {
                    AnalyticsError::Internal("the hot tail's `time` is not in ms".into())
                })?;
            let mut last = None;
            for t in time.iter().flatten() {
                let hour = t.div_euclid(HOUR_MS) * HOUR_MS;
                if last != Some(hour) {
                    hours.insert(hour);
                    last = Some(hour);
                }
            }
        }
        Ok(hours)
    }

    /// The fingerprint of every hour of `dates` (see [`crate::partials`]), by hour start.
    async fn fingerprints(
        &self,
        dates: std::collections::BTreeSet<String>,
    ) -> Result<std::collections::HashMap<i64, crate::partials::HourFiles>, AnalyticsError> {
        let inner = self.inner.clone();
        // On the query runtime: a bucket's client lives there.
        let task = async move {
            let mut out = std::collections::HashMap::new();
            for date in dates {
                let midnight = chrono::NaiveDate::parse_from_str(&date, layout::DATE_FORMAT)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc().timestamp_millis())
                    .ok_or_else(|| AnalyticsError::Internal(format!("bad date {date}")))?;
                let hours = crate::partials::date_fingerprints(
                    &inner.parquet_dir,
                    inner.object.as_ref(),
                    &date,
                )
                .await
                .map_err(|e| AnalyticsError::Internal(format!("listing the lake: {e}")))?;
                for (i, files) in hours.into_iter().enumerate() {
                    out.insert(midnight + i as i64 * HOUR_MS, files);
                }
            }
            Ok::<_, AnalyticsError>(out)
        };
        self.inner
            .executor
            .0
            .as_ref()
            .expect("runtime lives as long as the engine")
            .spawn(task)
            .await
            .map_err(|e| AnalyticsError::Internal(format!("listing task failed: {e}")))?
    }

    /// The partial rows of a KPI split in two over `range`: the sealed hours of `plan` from
    /// stored partial results (computed and stored where missing), the live pieces computed.
    /// Summed per bucket and label values they equal the one statement's partial rows (the
    /// counts add up across hours, see [`KpiPartial`]). `None` when they cannot be merged: more
    /// rows than `[query] max_rows` in one statement, or a column that is neither `time`, a
    /// label nor a count.
    async fn gather_partials(
        &self,
        def: &KpiDef,
        partial: &KpiPartial,
        range: TimeRange,
        plan: PartialPlan,
    ) -> Result<Option<(SchemaRef, Vec<RecordBatch>)>, AnalyticsError> {
        let cache = self
            .inner
            .partial_cache
            .as_ref()
            .expect("a plan is made only with a cache");
        let definition = crate::partials::definition_key(&partial.partial_sql, def.lookback_ms);
        let date_hour = |hour: i64| {
            (
                date_string(hour),
                hour.div_euclid(HOUR_MS).rem_euclid(24) as u32,
            )
        };
        // What an hour's partial rows depend on: its own files and, with a lookback, those of
        // the hours it reads back.
        let read_back = lookback_hours(def.lookback_ms);
        // The dates of the hours `hours` read (ascending): each day of every run of hours, its
        // lookback included, once.
        let dates_read = |hours: &[i64]| -> std::collections::BTreeSet<String> {
            let mut dates = std::collections::BTreeSet::new();
            let mut covered_to = i64::MIN;
            let mut hours = hours.to_vec();
            hours.sort_unstable();
            for hour in hours {
                let mut day = (hour - read_back * HOUR_MS).max(covered_to);
                while day <= hour {
                    dates.insert(date_string(day));
                    day = (day.div_euclid(DAY_MS) + 1) * DAY_MS;
                }
                covered_to = hour + HOUR_MS;
            }
            dates
        };
        let window = |files: &std::collections::HashMap<i64, crate::partials::HourFiles>,
                      hour: i64| {
            crate::partials::window_files(
                (0..=read_back)
                    .rev()
                    .map(|back| files.get(&(hour - back * HOUR_MS)).copied()),
            )
        };
        let before = self.fingerprints(dates_read(&plan.sealed)).await?;
        // Each sealed hour's files, its lookback included: the key it is stored under.
        let read_before: std::collections::HashMap<i64, crate::partials::HourFiles> = plan
            .sealed
            .iter()
            .map(|&hour| (hour, window(&before, hour)))
            .collect();
        let mut rows = Vec::new();
        let mut schema: Option<SchemaRef> = None;
        let mut missed = Vec::new();
        for &hour in &plan.sealed {
            // No file in any table: nothing to read, compute or store.
            if before[&hour].is_empty() {
                continue;
            }
            let (date, hh) = date_hour(hour);
            let key = HourKey {
                kpi: &def.id,
                date: &date,
                hour: hh,
                definition,
                files: read_before[&hour].fingerprint,
            };
            match cache.load(&key) {
                Some((stored_schema, batches)) => {
                    schema.get_or_insert(stored_schema);
                    rows.extend(batches);
                }
                None => missed.push(hour),
            }
        }
        // Missing hours in runs of consecutive hours, one statement per run, bucketed by hour.
        // Each run's hours are stored as soon as it is done, so an evaluation stopped by the
        // timeout keeps its progress and the next one goes on from there.
        let longest = usize::try_from(self.inner.config.chunk_hours).unwrap_or(24);
        for run in missed
            .chunk_by(|a, b| b - a == HOUR_MS)
            .flat_map(|run| run.chunks(longest))
        {
            let hourly = TimeRange::new(run[0], run[run.len() - 1] + HOUR_MS, Some(HOUR_MS))?;
            let Some(out) = self.run_partial(def, partial, hourly, None).await? else {
                return Ok(None);
            };
            let run_schema = out.schema.clone().ok_or_else(|| {
                AnalyticsError::Internal(format!("KPI {}: a partial result has no schema", def.id))
            })?;
            let by_hour = crate::partials::split_by_hour(&out.batches, run)
                .map_err(|e| AnalyticsError::Internal(format!("KPI {}: {e}", def.id)))?;
            schema.get_or_insert_with(|| run_schema.clone());
            rows.extend(out.batches);
            // Stored only for hours whose files did not change while they were computed (and
            // that a cached bucket listing cannot have shown incompletely): no second listing
            // when no hour of the run can be stored.
            let storable: Vec<i64> = by_hour
                .keys()
                .copied()
                .filter(|hour| self.listed_for_sure(&read_before[hour]))
                .collect();
            if storable.is_empty() {
                continue;
            }
            let after = self.fingerprints(dates_read(&storable)).await?;
            for (hour, batches) in &by_hour {
                if storable.contains(hour) && window(&after, *hour) == read_before[hour] {
                    let (date, hh) = date_hour(*hour);
                    let key = HourKey {
                        kpi: &def.id,
                        date: &date,
                        hour: hh,
                        definition,
                        files: read_before[hour].fingerprint,
                    };
                    cache.store(&key, &run_schema, batches);
                }
            }
        }
        for piece in plan.live {
            let Some(out) = self.run_partial(def, partial, piece, Some(range)).await? else {
                return Ok(None);
            };
            if let Some(piece_schema) = out.schema.clone() {
                schema.get_or_insert(piece_schema);
            }
            rows.extend(out.batches);
        }
        let schema = schema.ok_or_else(|| {
            AnalyticsError::Internal(format!("KPI {}: no partial result has a schema", def.id))
        })?;
        if let Some(column) = schema
            .fields()
            .iter()
            .find(|f| merge_role(def, partial, f).is_none())
        {
            tracing::warn!(
                kpi = %def.id,
                column = %column.name(),
                "the partial query's column is neither `time`, a label nor a count; the KPI \
                 runs as one statement"
            );
            return Ok(None);
        }
        if schema.column_with_name("time").is_none() {
            tracing::warn!(kpi = %def.id, "the partial query has no `time`; the KPI runs as one statement");
            return Ok(None);
        }
        Ok(Some((schema, rows)))
    }

    /// Whether a listing taken now saw every file of an hour whose files `files` describes: on
    /// a node that keeps bucket listings `list_cache_secs`, a file written less than that ago
    /// may be missing from the listing a statement reads, so the hour is computed but not
    /// stored (its entry would be keyed by files it did not read).
    fn listed_for_sure(&self, files: &crate::partials::HourFiles) -> bool {
        match self.inner.list_cache_ms {
            None => true,
            Some(ttl) => files.newest_ms.is_some_and(|newest| {
                // 5 s of margin for the clocks of the store and of this node.
                newest < chrono::Utc::now().timestamp_millis() - ttl - 5_000
            }),
        }
    }

    /// The partial query of `def` over `range`, its rows bucketed by `buckets` (default: the
    /// range's own buckets).
    async fn run_partial(
        &self,
        def: &KpiDef,
        partial: &KpiPartial,
        range: TimeRange,
        buckets: Option<TimeRange>,
    ) -> Result<Option<QueryOutput>, AnalyticsError> {
        let sql = partial.partial_sql.clone();
        // A KPI with a lookback reads that much before each piece; its partial query keeps
        // the piece's own rows (`time >= range_from`: `kpi_range` is the piece).
        let scope = KpiScope {
            range,
            lookback_ms: def.lookback_ms,
            dead_letters: false,
            views: ViewSet::read_by(&sql),
            buckets,
        };
        let out = self
            .run(
                move |ctx| async move { guarded_page(&ctx, &sql, None).await },
                scope.into(),
                None,
            )
            .await?;
        if out.truncated {
            tracing::debug!(
                kpi = %def.id,
                "partial rows past [query] max_rows; the KPI runs as one statement"
            );
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// The final query of `def` over partial rows: summed per bucket of `range` and label
    /// values, read as `partials`, then filtered and shaped like any KPI result.
    #[allow(clippy::too_many_arguments)]
    async fn final_from_partials<F>(
        &self,
        def: &KpiDef,
        partial: &KpiPartial,
        range: TimeRange,
        schema: SchemaRef,
        rows: Vec<RecordBatch>,
        predicates: Vec<Expr>,
        shape: F,
        max_rows: Option<usize>,
    ) -> Result<QueryOutput, AnalyticsError>
    where
        F: FnOnce(DataFrame) -> datafusion::error::Result<DataFrame> + Send + 'static,
    {
        let invalid = |reason: String| AnalyticsError::InvalidDefinition {
            file: def.source.clone(),
            reason,
        };
        // Stored, computed hourly and computed live, the rows differ at most in nullability.
        let (schema, rows) = all_nullable(&schema, rows)
            .map_err(|e| invalid(format!("partial results do not share one schema: {e}")))?;
        let named = |name: &str| Expr::Column(datafusion::common::Column::from_name(name));
        let mut group = Vec::new();
        let mut merged_columns = Vec::new();
        for field in schema.fields() {
            let name = field.name().as_str();
            match merge_role(def, partial, field) {
                Some(MergeRole::Time) => group.push(bucket_expr(range).alias("time")),
                Some(MergeRole::Group) => group.push(named(name)),
                Some(MergeRole::Max) => merged_columns
                    .push(datafusion::functions_aggregate::expr_fn::max(named(name)).alias(name)),
                Some(MergeRole::Min) => merged_columns
                    .push(datafusion::functions_aggregate::expr_fn::min(named(name)).alias(name)),
                Some(MergeRole::Sum) => merged_columns
                    .push(datafusion::functions_aggregate::expr_fn::sum(named(name)).alias(name)),
                None => {
                    return Err(invalid(format!(
                        "partial column {name:?} is neither `time`, a label, a partial key, a \
                         partial maximum or minimum nor a count"
                    )));
                }
            }
        }
        if schema.column_with_name("time").is_none() {
            return Err(invalid("the partial query has no `time` column".into()));
        }
        let order: Vec<Expr> = schema.fields().iter().map(|f| named(f.name())).collect();
        let final_sql = partial.final_sql.clone();
        // The final query may read the range's dead letters, bucketed like the partial rows.
        let dead_letters = names_dead_letters(&final_sql);
        self.run(
            move |ctx| async move {
                ctx.register_table(
                    "kpi_partial_rows",
                    Arc::new(MemTable::try_new(schema, vec![rows])?),
                )?;
                let merged = ctx
                    .table("kpi_partial_rows")
                    .await?
                    .aggregate(group, merged_columns)?
                    .select(order)?;
                ctx.register_table("partials", merged.into_view())?;
                let mut df = check_read_only(&ctx, &final_sql).await?;
                for predicate in predicates {
                    df = df.filter(predicate)?;
                }
                Ok(shape(df)?)
            },
            Tables {
                kpi: Some(KpiScope {
                    range,
                    // As the one statement reads them: from the lookback's start.
                    lookback_ms: def.lookback_ms,
                    dead_letters,
                    // The final query reads the merged partial rows, not the lake's tables.
                    views: ViewSet::NONE,
                    buckets: None,
                }),
                dead_letters,
                lake: false,
            },
            max_rows,
        )
        .await
    }

    /// One page of the rows behind a KPI (its `-- evidence` query), with the same range and
    /// label filters as the KPI. `truncated` on the output means another page follows.
    pub async fn run_evidence(
        &self,
        id: &str,
        range: TimeRange,
        filters: &[LabelFilter],
        offset: usize,
        limit: usize,
    ) -> Result<(KpiDef, QueryOutput), AnalyticsError> {
        let def = self.inner.catalog.get(id)?.clone();
        let sql = def.evidence_sql.clone().ok_or_else(|| {
            AnalyticsError::InvalidParameter(format!("KPI {id} has no evidence query"))
        })?;
        check_page(offset, limit)?;
        let predicates = label_predicates(&def, filters)?;
        let scope = KpiScope {
            range,
            lookback_ms: def.lookback_ms,
            dead_letters: names_dead_letters(&sql),
            views: ViewSet::read_by(&sql),
            buckets: None,
        };
        let output = self
            .run(
                move |ctx| async move {
                    let mut df = check_read_only(&ctx, &sql).await?;
                    for predicate in predicates {
                        df = df.filter(predicate)?;
                    }
                    Ok(df.limit(offset, Some(limit + 1))?)
                },
                scope.into(),
                Some(limit),
            )
            .await?;
        Ok((def, output))
    }

    /// Evaluate a detection rule over `[from_ms, to_ms)`: its SQL rendered with `params`, over
    /// tables bound to that range (started the rule's lookback earlier), as a KPI is. Returns
    /// the matches the allow-lists leave, each with at most
    /// [`crate::detection::MAX_MATCH_EVIDENCE`] evidence ids. A result longer than
    /// `query.max_rows` is an error, never a silent cut: the caller retries the range.
    pub async fn run_detection(
        &self,
        def: &crate::DetectionDef,
        params: &crate::detection::ParamValues,
        allow: &crate::detection::CompiledAllowLists,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<crate::RuleMatch>, AnalyticsError> {
        let sql = def.render(params)?;
        let scope = KpiScope {
            range: TimeRange::new(from_ms, to_ms, None)?,
            lookback_ms: def.lookback_ms,
            dead_letters: names_dead_letters(&sql),
            views: ViewSet::read_by(&sql),
            buckets: None,
        };
        let output = self
            .run(
                move |ctx| async move {
                    let df = check_read_only(&ctx, &sql).await?;
                    // The evidence a match carries is bounded whatever the data: an attack on a
                    // /16 does not become a million ids in memory.
                    if df.schema().has_column_with_unqualified_name("evidence") {
                        let evidence = datafusion::functions_nested::expr_fn::array_slice(
                            col("evidence"),
                            lit(1i64),
                            lit(crate::detection::MAX_MATCH_EVIDENCE as i64),
                            None,
                        );
                        return Ok(df.with_column("evidence", evidence)?);
                    }
                    Ok(df)
                },
                scope.into(),
                None,
            )
            .await?;
        if output.truncated {
            return Err(AnalyticsError::QueryTooLarge(format!(
                "detection {} found more than query.max_rows ({}) matches in one evaluation; \
                 raise its thresholds or query.max_rows",
                def.id, self.inner.config.max_rows
            )));
        }
        def.matches(&output, allow)
    }

    /// The rows of every table whose `metadata_uid` is one of `uids`, with `time` in
    /// `[from_ms, to_ms]`: the evidence behind an alert. The ids are values in an expression,
    /// never SQL text. Returns (table name, rows) for the tables that hold any.
    pub async fn events_by_uid(
        &self,
        uids: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(&'static str, QueryOutput)>, AnalyticsError> {
        let mut out = Vec::new();
        if uids.is_empty() {
            return Ok(out);
        }
        let to = to_ms.saturating_add(1);
        for table in Table::ALL {
            let values: Vec<Expr> = uids.iter().map(|u| lit(u.as_str())).collect();
            let (from_date, to_date) = (date_string(from_ms), date_string(to));
            let output = self
                .run(
                    move |ctx| async move {
                        let df = ctx
                            .table(table.name())
                            .await?
                            .filter(
                                col("date")
                                    .gt_eq(lit(from_date))
                                    .and(col("date").lt_eq(lit(to_date)))
                                    .and(col("time").gt_eq(ts_literal(from_ms)))
                                    .and(col("time").lt(ts_literal(to)))
                                    .and(col("metadata_uid").in_list(values, false)),
                            )?
                            .select(
                                table
                                    .columns()
                                    .iter()
                                    .filter(|c| !matches!(c.name, "unmapped" | "raw_data"))
                                    .map(|c| col(format!("\"{}\"", c.name)))
                                    .collect::<Vec<_>>(),
                            )?
                            .distinct()?
                            .sort(vec![
                                col("time").sort(true, false),
                                col("metadata_uid").sort(true, false),
                            ])?;
                        Ok(df)
                    },
                    Tables {
                        kpi: None,
                        dead_letters: false,
                        lake: true,
                    },
                    None,
                )
                .await?;
            if output.num_rows() > 0 {
                out.push((table.name(), output));
            }
        }
        Ok(out)
    }

    /// Run a statement built by ztlens (a what-if rule, an access-path map) over `range` as a
    /// KPI runs: through the read-only guard, over tables bound to the range started
    /// `lookback_ms` earlier, with `kpi_range` and the derived views. `page` = (offset, limit)
    /// returns one page; `truncated` then means another page follows.
    pub async fn run_in_range(
        &self,
        sql: String,
        range: TimeRange,
        lookback_ms: i64,
        page: Option<(usize, usize)>,
    ) -> Result<QueryOutput, AnalyticsError> {
        let scope = KpiScope {
            range,
            lookback_ms,
            dead_letters: names_dead_letters(&sql),
            views: ViewSet::read_by(&sql),
            buckets: None,
        };
        self.run(
            move |ctx| async move { guarded_page(&ctx, &sql, page).await },
            scope.into(),
            page.map(|(_, limit)| limit),
        )
        .await
    }

    /// A grouping query over `range` answered [`QueryConfig::chunk_hours`] at a time, so its
    /// memory follows a chunk's data and not the range's (a month of a busy lake grouped by
    /// eight keys and a distinct count outgrew the pool and the spill limit in one statement).
    ///
    /// `query.chunk` runs over each chunk as a KPI statement does (its tables hold the chunk
    /// plus `lookback_ms` before it); `query.merge` folds the rows gathered so far, which it
    /// reads as the table `partials`, into one row per group, after every chunk; `query.answer`
    /// reads the merged `partials` and is paged by `page`. The merged rows are held in memory
    /// between chunks, within a quarter of the query memory limit (more fails with "query too
    /// large"); the whole run is bounded by the query timeout.
    ///
    /// The merge must be exact: a statement whose per-chunk results add up to the whole range's
    /// (sums, minimums, maximums; distinct counts only of values that cannot appear in two
    /// chunks, such as a record's `metadata_uid`, whose copies share their time).
    pub async fn run_chunked(
        &self,
        query: ChunkedQuery,
        range: TimeRange,
        lookback_ms: i64,
        page: Option<(usize, usize)>,
    ) -> Result<QueryOutput, AnalyticsError> {
        let timeout = Duration::from_secs(self.inner.config.timeout_secs.max(1));
        match tokio::time::timeout(timeout, self.chunked(query, range, lookback_ms, page)).await {
            Ok(result) => result,
            Err(_) => Err(AnalyticsError::Timeout(timeout)),
        }
    }

    async fn chunked(
        &self,
        query: ChunkedQuery,
        range: TimeRange,
        lookback_ms: i64,
        page: Option<(usize, usize)>,
    ) -> Result<QueryOutput, AnalyticsError> {
        let budget = self.inner.config.memory_limit_bytes / 4;
        // A chunk's result is collected before its bytes can be counted, so its rows are capped:
        // a row of partials holds at least five text keys (16-byte views each) and its counts,
        // about 128 bytes, so a full chunk stays within a small multiple of the budget. The
        // budget itself is then checked on the bytes.
        let chunk_rows = (budget / 128).max(1);
        let too_large = |what: &str| {
            AnalyticsError::QueryTooLarge(format!(
                "{what} outgrew a quarter of the query memory limit ({budget} bytes); \
                 narrow the request (fewer apps, a shorter range) or raise \
                 [query] memory_limit_bytes"
            ))
        };
        let mut merged: Option<QueryOutput> = None;
        for chunk in range
            .whole()
            .chunks(i64::from(self.inner.config.chunk_hours) * 3_600_000)
        {
            let sql = query.chunk.clone();
            let scope = KpiScope {
                range: chunk,
                lookback_ms,
                dead_letters: false,
                views: ViewSet::read_by(&sql),
                buckets: None,
            };
            let rows = self
                .run(
                    move |ctx| async move { guarded_page(&ctx, &sql, None).await },
                    scope.into(),
                    Some(chunk_rows),
                )
                .await?;
            if rows.truncated {
                return Err(too_large("one chunk's result"));
            }
            merged = Some(match merged {
                None => rows,
                Some(so_far) => {
                    let mut batches = so_far.batches;
                    batches.extend(rows.batches);
                    let schema = rows.schema.clone();
                    self.over_partials(query.merge.clone(), schema, batches, Some(chunk_rows), None)
                        .await?
                }
            });
            let merged = merged.as_ref().expect("set above");
            let bytes: usize = merged
                .batches
                .iter()
                .map(RecordBatch::get_array_memory_size)
                .sum();
            if merged.truncated || bytes > budget {
                return Err(too_large("the merged result"));
            }
        }
        let merged = merged.expect("a range has at least one chunk");
        self.over_partials(
            query.answer,
            merged.schema,
            merged.batches,
            page.map(|(_, limit)| limit),
            page,
        )
        .await
    }

    /// `sql` over `batches` registered as `partials`, and nothing else.
    async fn over_partials(
        &self,
        sql: String,
        schema: Option<SchemaRef>,
        batches: Vec<RecordBatch>,
        max_rows: Option<usize>,
        page: Option<(usize, usize)>,
    ) -> Result<QueryOutput, AnalyticsError> {
        let schema = schema
            .ok_or_else(|| AnalyticsError::Internal("a chunk's result has no schema".into()))?;
        // A chunk's counts are never null and the merge's sums may be: one schema with every
        // column nullable holds both (the types are the same).
        let (schema, batches) = all_nullable(&schema, batches)
            .map_err(|e| AnalyticsError::Internal(format!("merging chunks: {e}")))?;
        self.run(
            move |ctx| async move {
                ctx.register_table(
                    "partials",
                    Arc::new(MemTable::try_new(schema, vec![batches])?),
                )?;
                guarded_page(&ctx, &sql, page).await
            },
            Tables {
                kpi: None,
                dead_letters: false,
                lake: false,
            },
            max_rows,
        )
        .await
    }

    /// Run user SQL through the read-only guard.
    pub async fn run_sql(&self, sql: &str) -> Result<QueryOutput, AnalyticsError> {
        let sql = sql.to_string();
        let dead_letters = names_dead_letters(&sql);
        self.run(
            move |ctx| async move { check_read_only(&ctx, &sql).await },
            Tables {
                kpi: None,
                dead_letters,
                lake: true,
            },
            None,
        )
        .await
    }

    async fn run<F, Fut>(
        &self,
        plan: F,
        tables: Tables,
        max_rows: Option<usize>,
    ) -> Result<QueryOutput, AnalyticsError>
    where
        F: FnOnce(SessionContext) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<DataFrame, AnalyticsError>> + Send,
    {
        // The slot moves into the query task: it is released when the work stops, not when the
        // caller stops waiting (a client that disconnects cannot make room for more queries).
        let permit = self
            .inner
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                AnalyticsError::ResourcesExhausted(
                    "too many queries are running; retry shortly".into(),
                )
            })?;
        // Snapshot the tail before anything lists lake files (see the module docs).
        let tail = match &self.inner.tail {
            Some(reader) if tables.lake => Some(
                reader
                    .snapshot()
                    .await
                    .map_err(|e| AnalyticsError::Internal(e.to_string()))?,
            ),
            _ => None,
        };
        let inner = self.inner.clone();
        let max_rows = max_rows.unwrap_or(inner.config.max_rows);
        let cancelled = Arc::new(AtomicBool::new(false));
        let session_cancelled = Arc::clone(&cancelled);
        let task = async move {
            let _permit = permit;
            let ctx = inner.session(session_cancelled);
            if tables.lake {
                // Inventories first, so the derived views registered with the tables may read
                // them.
                for (name, batch) in [
                    (
                        "service_account_inventory",
                        &inner.inventory.service_accounts,
                    ),
                    (
                        "policy_exception_inventory",
                        &inner.inventory.policy_exceptions,
                    ),
                ] {
                    let table = MemTable::try_new(batch.schema(), vec![vec![batch.clone()]])?;
                    ctx.register_table(name, Arc::new(table))?;
                }
                register_tables(
                    &ctx,
                    &inner.parquet_dir,
                    inner.object.as_ref(),
                    tail.as_ref(),
                    tables.kpi,
                )
                .await?;
            }
            if tables.dead_letters {
                register_dead_letters(&ctx, &inner.data_dir, tables.kpi).await?;
            }
            let df = plan(ctx).await?;
            // EXPLAIN and DESCRIBE must stay the root of their plan; their output is small.
            let capped = match df.logical_plan() {
                LogicalPlan::Explain(_) | LogicalPlan::DescribeTable(_) => df,
                _ => df.limit(0, Some(max_rows + 1))?,
            };
            let columns = capped
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            // Analysis, optimization and physical planning of the statement: a failure here
            // (a function called with the wrong types, which DataFusion reports as an internal
            // error of its type coercion) is the statement's fault, unless reading the lake's
            // listing failed.
            let task_ctx = Arc::new(capped.task_ctx());
            let physical = capped
                .create_physical_plan()
                .await
                .map_err(AnalyticsError::from_planning)?;
            let schema = physical.schema();
            let batches = datafusion::physical_plan::collect(physical, task_ctx).await?;
            Ok::<_, AnalyticsError>(
                QueryOutput::new(columns, batches, max_rows).with_schema(schema),
            )
        };
        let timeout = Duration::from_secs(self.inner.config.timeout_secs.max(1));
        let handle = self
            .inner
            .executor
            .0
            .as_ref()
            .expect("runtime lives as long as the engine")
            .spawn(task);
        // Dropping this future — the client went away, or the timeout below — aborts the
        // query task at its next await, and with it the streams and tasks DataFusion spawned.
        let _abort_on_drop = AbortOnDrop(handle.abort_handle(), cancelled);
        match tokio::time::timeout(timeout, handle).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(AnalyticsError::Internal(format!(
                "query task failed: {join}"
            ))),
            Err(_) => Err(AnalyticsError::Timeout(timeout)),
        }
    }
}

/// Wraps the operators that can emit a flood of batches from a little buffered input — nested
/// loop and cross joins, unnest — so each batch they emit spends Tokio task budget. Without it a
/// filter over a billion-row cross join loops inside one `poll` and never yields: a timed-out or
/// abandoned query cannot be cancelled and burns a core until it ends. DataFusion makes its data
/// sources cooperative already; these operators produce their rows without polling one.
///
/// A nested-loop join whose filter rejects every pair has no batch to emit: it loops over
/// (build side × probe batch) inside one `poll` until it has output. Its filter is wrapped in
/// [`CancellableExpr`], which fails the query at its next evaluation once `cancelled` is set
/// (the query was dropped or timed out).
#[derive(Debug)]
struct CooperativeGenerators {
    cancelled: Arc<AtomicBool>,
}

impl datafusion::physical_optimizer::PhysicalOptimizerRule for CooperativeGenerators {
    fn optimize(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        _config: &datafusion::config::ConfigOptions,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        use datafusion::physical_plan::coop::CooperativeExec;
        use datafusion::physical_plan::joins::utils::JoinFilter;
        use datafusion::physical_plan::joins::{
            CrossJoinExec, NestedLoopJoinExec, NestedLoopJoinExecBuilder,
        };
        use datafusion::physical_plan::unnest::UnnestExec;
        plan.transform_up(|node| {
            let node = match node.downcast_ref::<NestedLoopJoinExec>() {
                Some(join) if join.filter().is_some() => {
                    let filter = join.filter().expect("checked above");
                    let cancellable = JoinFilter::new(
                        Arc::new(CancellableExpr {
                            inner: Arc::clone(filter.expression()),
                            cancelled: Arc::clone(&self.cancelled),
                        }),
                        filter.column_indices().to_vec(),
                        Arc::clone(filter.schema()),
                    );
                    Arc::new(
                        NestedLoopJoinExecBuilder::from(join)
                            .with_filter(Some(cancellable))
                            .build()?,
                    ) as _
                }
                _ => node,
            };
            if node.is::<NestedLoopJoinExec>()
                || node.is::<CrossJoinExec>()
                || node.is::<UnnestExec>()
            {
                Ok(Transformed::yes(Arc::new(CooperativeExec::new(node)) as _))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "ztlens_cooperative_generators"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A join filter that fails once its query is cancelled (see [`CooperativeGenerators`]).
#[derive(Debug)]
struct CancellableExpr {
    inner: Arc<dyn datafusion::physical_expr::PhysicalExpr>,
    cancelled: Arc<AtomicBool>,
}

impl PartialEq for CancellableExpr {
    fn eq(&self, other: &Self) -> bool {
        self.inner.as_ref() == other.inner.as_ref()
    }
}

impl Eq for CancellableExpr {}

impl std::hash::Hash for CancellableExpr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

impl std::fmt::Display for CancellableExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl datafusion::physical_expr::PhysicalExpr for CancellableExpr {
    fn return_field(
        &self,
        input_schema: &Schema,
    ) -> datafusion::error::Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field(input_schema)
    }

    fn evaluate(
        &self,
        batch: &RecordBatch,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(datafusion::error::DataFusionError::Execution(
                "query cancelled".into(),
            ));
        }
        self.inner.evaluate(batch)
    }

    fn children(&self) -> Vec<&Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
        vec![&self.inner]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn datafusion::physical_expr::PhysicalExpr>>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
        match <[_; 1]>::try_from(children) {
            Ok([inner]) => Ok(Arc::new(CancellableExpr {
                inner,
                cancelled: Arc::clone(&self.cancelled),
            })),
            Err(_) => datafusion::common::internal_err!("CancellableExpr has one child"),
        }
    }

    fn fmt_sql(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt_sql(f)
    }
}

/// Cancels a spawned query when dropped: aborts its task (effective at its next await) and sets
/// the flag its nested-loop joins check (effective inside a poll).
struct AbortOnDrop(tokio::task::AbortHandle, Arc<AtomicBool>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.1.store(true, Ordering::Relaxed);
        self.0.abort();
    }
}

/// How a KPI split in two answers a range: the sealed hours from stored partial results, the
/// rest (`live`: the open hours and the parts of hours at the range's ends) computed.
#[derive(Debug)]
struct PartialPlan {
    /// Start of each sealed hour, ascending.
    sealed: Vec<i64>,
    live: Vec<TimeRange>,
}

/// A day, in ms.
const DAY_MS: i64 = 24 * HOUR_MS;

/// The whole hours before an hour that a KPI with `lookback_ms` reads (0 without a lookback; a
/// split KPI's lookback is at most [`crate::kpi::MAX_SPLIT_LOOKBACK_MS`]).
fn lookback_hours(lookback_ms: i64) -> i64 {
    (lookback_ms.max(0) as u64).div_ceil(HOUR_MS as u64) as i64
}

/// Most hours one evaluation takes from stored partial results (a year); a longer range runs as
/// one statement.
const MAX_CACHED_HOURS: i64 = 366 * 24;

/// Most computed pieces between sealed hours (each is a statement of its own); more — a step
/// that is not a whole number of hours, a tail spread over many hours — and the KPI runs as one
/// statement.
const MAX_LIVE_PIECES: usize = 8;

/// The rows a KPI query sees: its range, and how far before it the tables start.
#[derive(Debug, Clone, Copy)]
struct KpiScope {
    range: TimeRange,
    lookback_ms: i64,
    /// The query reads `dead_letters`.
    dead_letters: bool,
    /// The derived views the query reads: only these are registered.
    views: ViewSet,
    /// The range whose buckets (`bucket`, `kpi_range`, `kpi_buckets`) the rows take, when
    /// not `range` itself: a piece of a KPI's range evaluated apart (see
    /// [`Engine::gather_partials`]).
    buckets: Option<TimeRange>,
}

/// What a session registers: the KPI scope (none for user SQL) and whether the dead-letter
/// store is read (only for statements that name it: reading it costs I/O).
#[derive(Debug, Clone, Copy)]
struct Tables {
    kpi: Option<KpiScope>,
    dead_letters: bool,
    /// The lake's tables and the inventories (false: the statement reads only what its plan
    /// registers, as the merge of chunked results does).
    lake: bool,
}

/// The built-in views a statement reads, directly or through another view, as a set of indices
/// into [`crate::kpi::builtin_views`] (at most 64, checked at compile time in kpi.rs).
/// Only these are registered with a statement's tables: each registered view is planned, and
/// planning all of them cost every KPI evaluation — and every stored hour of a split KPI — the
/// same fixed time whether it read a view or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ViewSet(u64);

impl ViewSet {
    const NONE: ViewSet = ViewSet(0);

    /// The views `sql` names as a whole word, in any case as SQL resolves unquoted names (a
    /// view named in a comment or a string is registered too, at no other cost than its
    /// planning), and those they read.
    fn read_by(sql: &str) -> Self {
        let views = crate::kpi::builtin_views();
        let sql = sql.to_ascii_lowercase();
        let mut set = 0u64;
        for (index, (name, _)) in views.iter().enumerate() {
            if crate::kpi::mentions(&sql, name) {
                set |= 1 << index;
            }
        }
        // A view comes after the views it reads: one pass from the last adds what each reads.
        for (index, (_, view_sql)) in views.iter().enumerate().rev() {
            if set & (1 << index) != 0 {
                for (earlier, (name, _)) in views[..index].iter().enumerate() {
                    if crate::kpi::mentions(view_sql, name) {
                        set |= 1 << earlier;
                    }
                }
            }
        }
        ViewSet(set)
    }

    fn contains(self, index: usize) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }
}

impl From<KpiScope> for Tables {
    fn from(scope: KpiScope) -> Self {
        Tables {
            kpi: Some(scope),
            dead_letters: scope.dead_letters,
            lake: true,
        }
    }
}

/// How the merge of a split KPI's partial rows treats one column ([`KpiPartial`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MergeRole {
    /// The row's bucket.
    Time,
    /// A label or a partial key: grouped on.
    Group,
    /// A partial maximum.
    Max,
    /// A partial minimum.
    Min,
    /// A count: summed.
    Sum,
}

/// The merge role of a partial column; `None` for a column that is none of them (a non-integer
/// column not declared a key, a maximum or a minimum).
fn merge_role(def: &KpiDef, partial: &KpiPartial, field: &Field) -> Option<MergeRole> {
    let name = field.name();
    if name == "time" {
        Some(MergeRole::Time)
    } else if def.labels.contains(name) {
        Some(MergeRole::Group)
    } else if let Some(merge) = partial.merges.get(name) {
        Some(match merge {
            ColumnMerge::Key => MergeRole::Group,
            ColumnMerge::Max => MergeRole::Max,
            ColumnMerge::Min => MergeRole::Min,
        })
    } else if field.data_type().is_integer() {
        Some(MergeRole::Sum)
    } else {
        None
    }
}

/// Whether a statement names the `dead_letters` table.
fn names_dead_letters(sql: &str) -> bool {
    sql.to_ascii_lowercase().contains("dead_letters")
}

/// `sql` through the read-only guard; with `page` = (offset, limit), that page plus one row
/// that tells whether another page follows.
async fn guarded_page(
    ctx: &SessionContext,
    sql: &str,
    page: Option<(usize, usize)>,
) -> Result<DataFrame, AnalyticsError> {
    let df = check_read_only(ctx, sql).await?;
    Ok(match page {
        Some((offset, limit)) => df.limit(offset, Some(limit + 1))?,
        None => df,
    })
}

/// A grouping statement answered a chunk of its range at a time: see
/// [`Engine::run_chunked`].
#[derive(Debug, Clone)]
pub struct ChunkedQuery {
    /// Rows per group over one chunk (a KPI statement: tables, `kpi_range`).
    pub chunk: String,
    /// The rows gathered so far (`partials`) folded into one row per group, same columns.
    pub merge: String,
    /// The answer over the merged rows (`partials`).
    pub answer: String,
}

/// A drill-down filter: the KPI label and the values to keep (any of them).
pub type LabelFilter = (String, Vec<String>);

/// A label filter value that filters nothing: what a Grafana variable's "All" sends.
pub const ALL_VALUES: &str = "*";

/// Most values [`Engine::run_label_values`] lists: a dropdown longer than this is a search box.
pub const MAX_LABEL_VALUES: usize = 1000;

/// Largest page of evidence rows.
pub const MAX_EVIDENCE_PAGE: usize = 1000;

/// Largest evidence `offset`: far past any page a person reads, and small enough that no
/// `offset + limit` can overflow.
pub const MAX_EVIDENCE_OFFSET: usize = 1_000_000_000;

/// Check an evidence page's `offset` and `limit`.
pub fn check_page(offset: usize, limit: usize) -> Result<(), AnalyticsError> {
    if limit == 0 || limit > MAX_EVIDENCE_PAGE {
        return Err(AnalyticsError::InvalidParameter(format!(
            "limit must be between 1 and {MAX_EVIDENCE_PAGE}"
        )));
    }
    if offset > MAX_EVIDENCE_OFFSET {
        return Err(AnalyticsError::InvalidParameter(format!(
            "offset must be at most {MAX_EVIDENCE_OFFSET}; narrow the range or filter instead"
        )));
    }
    Ok(())
}

/// `label IN (values)` over the label's text form, for each filter with values. Filters are
/// expressions, never SQL text, so a value cannot inject SQL.
fn label_predicates(def: &KpiDef, filters: &[LabelFilter]) -> Result<Vec<Expr>, AnalyticsError> {
    let mut predicates = Vec::new();
    for (label, values) in filters {
        if !def.labels.iter().any(|l| l == label) {
            return Err(AnalyticsError::InvalidParameter(format!(
                "KPI {} has no label {label:?}; its labels: {}",
                def.id,
                if def.labels.is_empty() {
                    "none".to_string()
                } else {
                    def.labels.join(", ")
                }
            )));
        }
        // An empty value or `*` (a Grafana variable's "All") filters nothing.
        let values: Vec<Expr> = values
            .iter()
            .filter(|v| !v.is_empty() && v.as_str() != ALL_VALUES)
            .map(|v| lit(v.as_str()))
            .collect();
        if values.is_empty() {
            continue;
        }
        let column = Expr::Column(datafusion::common::Column::from_name(label.as_str()));
        predicates.push(cast(column, DataType::Utf8).in_list(values, false));
    }
    Ok(predicates)
}

impl EngineInner {
    fn session(&self, cancelled: Arc<AtomicBool>) -> SessionContext {
        let config = SessionConfig::new()
            .with_information_schema(false)
            .with_target_partitions(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2),
            );
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(self.runtime_env.clone())
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(CooperativeGenerators { cancelled }))
            .build();
        let ctx = SessionContext::new_with_state(state);
        // Table functions that materialize rows outside the memory pool are not offered.
        ctx.deregister_udtf("generate_series");
        ctx.deregister_udtf("range");
        // Expressions that can build values larger than their inputs are size-checked.
        crate::bounded::install(&ctx).expect("registering functions cannot fail");
        crate::functions::install(&ctx);
        ctx
    }
}

/// `batches` under `schema` with every column nullable: results of one query gathered from
/// several statements (or stored) differ at most in nullability.
fn all_nullable(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), datafusion::arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let batches = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

fn columns(table: Table) -> Vec<Expr> {
    table
        .columns()
        .iter()
        .map(|c| col(format!("\"{}\"", c.name)))
        .collect()
}

fn ts_literal(ms: i64) -> Expr {
    lit(ScalarValue::TimestampMillisecond(
        Some(ms),
        Some("UTC".into()),
    ))
}

fn date_string(ms: i64) -> String {
    layout::date_of_ms(ms)
        .or_else(|| layout::date_of_ms(0))
        .unwrap_or_default()
}

/// The `YYYY-MM-DD` days from `first` to `last`, both included; `None` past 366 days (a scan
/// per day stops paying off) or for unreadable dates.
fn dates_between(first: &str, last: &str) -> Option<Vec<String>> {
    let parse = |d: &str| chrono::NaiveDate::parse_from_str(d, layout::DATE_FORMAT).ok();
    let (mut day, last) = (parse(first)?, parse(last)?);
    let mut out = Vec::new();
    while day <= last {
        if out.len() >= 366 {
            return None;
        }
        out.push(day.format(layout::DATE_FORMAT).to_string());
        day = day.succ_opt()?;
    }
    (!out.is_empty()).then_some(out)
}

/// Register `<table>__lake`, `<table>__tail` and the `<table>` view for every table.
async fn register_tables(
    ctx: &SessionContext,
    parquet_dir: &Path,
    object: Option<&ObjectLake>,
    tail: Option<&TailSnapshot>,
    scope: Option<KpiScope>,
) -> Result<(), AnalyticsError> {
    if let Some(scope) = scope {
        // `kpi_range` is the range read: a piece of a KPI split in two has its own (its
        // partial query may keep `time >= range_from`), bucketed like the whole range.
        ctx.register_table("kpi_range", Arc::new(range_table(scope.range)?))?;
        let buckets = scope.buckets.unwrap_or(scope.range);
        ctx.register_table("kpi_buckets", Arc::new(buckets_table(buckets)?))?;
    }
    for table in Table::ALL {
        let lake_name = format!("{}__lake", table.name());
        let tail_name = format!("{}__tail", table.name());
        ctx.register_table(&lake_name, lake_provider(parquet_dir, object, table)?)?;
        let tail_batches: Vec<RecordBatch> = tail
            .and_then(|t| t.tables.get(&table))
            .cloned()
            .unwrap_or_default();
        ctx.register_table(
            &tail_name,
            Arc::new(MemTable::try_new(table.schema(), vec![tail_batches])?),
        )?;

        let lake = ctx.table(&lake_name).await?;
        let tail_df = ctx.table(&tail_name).await?;
        let view = match scope {
            Some(KpiScope {
                range,
                lookback_ms,
                buckets,
                ..
            }) => {
                let first_ms = range.from_ms().saturating_sub(lookback_ms);
                let in_range = col("time")
                    .gt_eq(ts_literal(first_ms))
                    .and(col("time").lt(ts_literal(range.to_ms())));
                let (first_date, last_date) =
                    (date_string(first_ms), date_string(range.to_ms() - 1));
                // Within one day, the hour partitions too: the open hours of a KPI answered
                // from partials read only their own files.
                let in_hours = (first_date == last_date).then(|| {
                    let hour = |ms: i64| format!("{:02}", ms.div_euclid(3_600_000).rem_euclid(24));
                    col(layout::HOUR_COLUMN)
                        .gt_eq(lit(hour(first_ms)))
                        .and(col(layout::HOUR_COLUMN).lt_eq(lit(hour(range.to_ms() - 1))))
                });
                let lake_in_range = match in_hours {
                    Some(hours) => in_range.clone().and(hours),
                    None => in_range.clone(),
                };
                let lake = match (object, dates_between(&first_date, &last_date)) {
                    // On a bucket, one scan per day: DataFusion narrows a listing to a prefix
                    // only for `date = …`, and a range filter would list the whole table.
                    (Some(_), Some(dates)) => {
                        let mut days = dates.into_iter().map(|date| {
                            lake.clone()
                                .filter(
                                    col(layout::DATE_COLUMN)
                                        .eq(lit(date))
                                        .and(lake_in_range.clone()),
                                )?
                                .select(columns(table))
                        });
                        let first = days.next().expect("at least one day")?;
                        days.try_fold(first, |all, day| all.union(day?))?
                    }
                    _ => {
                        let partitions = col(layout::DATE_COLUMN)
                            .gt_eq(lit(first_date))
                            .and(col(layout::DATE_COLUMN).lt_eq(lit(last_date)));
                        lake.filter(partitions.and(lake_in_range))?
                            .select(columns(table))?
                    }
                };
                let tail_df = tail_df.filter(in_range)?.select(columns(table))?;
                lake.union(tail_df)?
                    .with_column("bucket", bucket_expr(buckets.unwrap_or(range)))?
            }
            None => {
                let mut lake_cols = columns(table);
                lake_cols.extend([col(layout::DATE_COLUMN), col(layout::HOUR_COLUMN)]);
                let mut tail_cols = columns(table);
                let to_char = |fmt: &str| {
                    datafusion::functions::datetime::to_char()
                        .call(vec![col("time"), lit(fmt.to_string())])
                };
                tail_cols.extend([
                    to_char(layout::DATE_FORMAT).alias(layout::DATE_COLUMN),
                    to_char(layout::HOUR_FORMAT).alias(layout::HOUR_COLUMN),
                ]);
                lake.select(lake_cols)?.union(tail_df.select(tail_cols)?)?
            }
        };
        ctx.register_table(table.name(), view.into_view())?;
    }
    if let Some(scope) = scope {
        for (index, (name, sql)) in crate::kpi::builtin_views().iter().enumerate() {
            if scope.views.contains(index) {
                let view = check_read_only(ctx, sql).await?;
                ctx.register_table(*name, view.into_view())?;
            }
        }
    }
    Ok(())
}

/// The start of a row's bucket: `date_bin(step, time, from)`.
fn bucket_expr(range: TimeRange) -> Expr {
    let stride = ScalarValue::new_interval_mdn(0, 0, range.bucket_ms() * 1_000_000);
    datafusion::functions::datetime::date_bin().call(vec![
        lit(stride),
        col("time"),
        ts_literal(range.from_ms()),
    ])
}

/// Register `dead_letters` (see the module docs): all of them for user SQL, those refused in
/// the range and lookback (with `bucket`) for a KPI. The table streams: a scan reads the
/// dead-letter files line by line on a blocking thread and hands over one batch at a time, so
/// naming the table costs nothing and reading it holds a batch, not the store; a cancelled
/// query stops the reader at its next batch.
async fn register_dead_letters(
    ctx: &SessionContext,
    data_dir: &Path,
    scope: Option<KpiScope>,
) -> Result<(), AnalyticsError> {
    let (from_ms, to_ms) = scope.map_or((i64::MIN, i64::MAX), |s| {
        (
            s.range.from_ms().saturating_sub(s.lookback_ms),
            s.range.to_ms(),
        )
    });
    let partition = Arc::new(DeadLetterPartition {
        schema: dead_letter_schema(),
        data_dir: data_dir.to_path_buf(),
        from_ms,
        to_ms,
    });
    let table = StreamingTable::try_new(partition.schema.clone(), vec![partition])?;
    match scope {
        Some(scope) => {
            ctx.register_table("dead_letters__all", Arc::new(table))?;
            let view = ctx
                .table("dead_letters__all")
                .await?
                .with_column("bucket", bucket_expr(scope.range))?;
            ctx.register_table("dead_letters", view.into_view())?;
        }
        None => {
            ctx.register_table("dead_letters", Arc::new(table))?;
        }
    }
    Ok(())
}

fn dead_letter_schema() -> SchemaRef {
    use datafusion::arrow::datatypes::TimeUnit;
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("source", DataType::Utf8, false),
        Field::new("origin", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw_len", DataType::Int64, false),
    ]))
}

/// Rows per batch of the `dead_letters` table.
const DEAD_LETTER_BATCH_ROWS: usize = 8192;

/// The one partition of the `dead_letters` table: the summaries of the letters refused in
/// `[from_ms, to_ms)`.
#[derive(Debug)]
struct DeadLetterPartition {
    schema: SchemaRef,
    data_dir: PathBuf,
    from_ms: i64,
    to_ms: i64,
}

impl PartitionStream for DeadLetterPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        use ztlens_ingest::lake::dead_letter::DeadLetterSummaries;
        // Two batches in flight at most: the one being built and the one being read.
        let mut builder = RecordBatchReceiverStream::builder(self.schema.clone(), 1);
        let tx = builder.tx();
        let (schema, dir, from_ms, to_ms) = (
            self.schema.clone(),
            self.data_dir.clone(),
            self.from_ms,
            self.to_ms,
        );
        builder.spawn_blocking(move || {
            let external = |e: ztlens_ingest::lake::LakeError| {
                datafusion::error::DataFusionError::External(Box::new(e))
            };
            let mut letters = DeadLetterSummaries::open(&dir, from_ms, to_ms).map_err(external)?;
            let mut chunk = Vec::with_capacity(DEAD_LETTER_BATCH_ROWS);
            loop {
                let letter = letters.next().transpose().map_err(external)?;
                let end = letter.is_none();
                chunk.extend(letter);
                if chunk.len() == DEAD_LETTER_BATCH_ROWS || (end && !chunk.is_empty()) {
                    let batch = dead_letter_batch(&schema, &chunk)?;
                    chunk.clear();
                    if tx.blocking_send(Ok(batch)).is_err() {
                        // The query was cancelled or has what it needs (a LIMIT).
                        return Ok(());
                    }
                }
                if end {
                    break;
                }
            }
            if letters.unreadable() > 0 {
                tracing::warn!(
                    unreadable = letters.unreadable(),
                    "dead-letter lines that cannot be read were skipped"
                );
            }
            Ok(())
        });
        builder.build()
    }
}

fn dead_letter_batch(
    schema: &SchemaRef,
    letters: &[ztlens_ingest::lake::dead_letter::DeadLetterSummary],
) -> datafusion::error::Result<RecordBatch> {
    use datafusion::arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    type Summary = ztlens_ingest::lake::dead_letter::DeadLetterSummary;
    let text = |f: fn(&Summary) -> &str| {
        Arc::new(StringArray::from_iter_values(letters.iter().map(f)))
            as datafusion::arrow::array::ArrayRef
    };
    Ok(RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(
                TimestampMillisecondArray::from_iter_values(letters.iter().map(|l| l.time))
                    .with_timezone("UTC"),
            ),
            text(|l| &l.source),
            text(|l| &l.origin),
            text(|l| &l.kind),
            text(|l| &l.reason),
            Arc::new(Int64Array::from_iter_values(
                letters
                    .iter()
                    .map(|l| i64::try_from(l.raw_len).unwrap_or(i64::MAX)),
            )),
        ],
    )?)
}

/// `kpi_range(range_from, range_to, last_bucket)`: the requested range and the start of its
/// last bucket, for queries that report a state at the end of the range.
fn range_table(range: TimeRange) -> Result<MemTable, AnalyticsError> {
    use datafusion::arrow::array::TimestampMillisecondArray;
    use datafusion::arrow::datatypes::TimeUnit;
    let ts_type = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("range_from", ts_type.clone(), false),
        Field::new("range_to", ts_type.clone(), false),
        Field::new("last_bucket", ts_type, false),
    ]));
    let bucket = range.bucket_ms().max(1);
    let last_bucket =
        range.from_ms() + (range.to_ms() - 1 - range.from_ms()).div_euclid(bucket) * bucket;
    let column = |ms: i64| -> datafusion::arrow::array::ArrayRef {
        Arc::new(TimestampMillisecondArray::from(vec![ms]).with_timezone("UTC"))
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            column(range.from_ms()),
            column(range.to_ms()),
            column(last_bucket),
        ],
    )
    .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// `kpi_buckets(bucket, bucket_end)`: every bucket of the range, the last one ending at `to`.
fn buckets_table(range: TimeRange) -> Result<MemTable, AnalyticsError> {
    use datafusion::arrow::array::TimestampMillisecondArray;
    use datafusion::arrow::datatypes::TimeUnit;
    let ts_type = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("bucket", ts_type.clone(), false),
        Field::new("bucket_end", ts_type, false),
    ]));
    let step = range.bucket_ms().max(1);
    let starts: Vec<i64> = (0..)
        .map(|i| range.from_ms() + i * step)
        .take_while(|&start| start < range.to_ms())
        .collect();
    let ends: Vec<i64> = starts
        .iter()
        .map(|s| (s + step).min(range.to_ms()))
        .collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampMillisecondArray::from(starts).with_timezone("UTC")),
            Arc::new(TimestampMillisecondArray::from(ends).with_timezone("UTC")),
        ],
    )
    .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// The lake files of a table (on disk or in the bucket), or an empty table when nothing was
/// written yet.
fn lake_provider(
    data_dir: &Path,
    object: Option<&ObjectLake>,
    table: Table,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>, AnalyticsError> {
    let dir = layout::table_dir(data_dir, table);
    let partition_cols = vec![
        (layout::DATE_COLUMN.to_string(), DataType::Utf8),
        (layout::HOUR_COLUMN.to_string(), DataType::Utf8),
    ];
    if object.is_none() && !dir.is_dir() {
        let mut fields: Vec<Field> = table
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(
            partition_cols
                .iter()
                .map(|(n, t)| Field::new(n, t.clone(), true)),
        );
        let schema = Arc::new(Schema::new(fields));
        return Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?));
    }
    let url = match object {
        // Partition pruning lists `date=…/` prefixes level by level, never the whole bucket.
        Some(object) => ListingTableUrl::parse(object.table_url(table))?,
        None => ListingTableUrl::parse(format!("{}/", dir.display()))?,
    };
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(table.schema());
    Ok(Arc::new(ListingTable::try_new(config)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the views in `set`.
    fn names(set: ViewSet) -> Vec<&'static str> {
        crate::kpi::builtin_views()
            .iter()
            .enumerate()
            .filter(|(index, _)| set.contains(*index))
            .map(|(_, (name, _))| *name)
            .collect()
    }

    #[test]
    fn a_statement_registers_the_views_it_reads_and_the_views_they_read() {
        assert_eq!(
            names(ViewSet::read_by("SELECT count(*) FROM authentication")),
            Vec::<&str>::new()
        );
        // Whole words only: a column that contains a view's name is not the view.
        assert_eq!(
            names(ViewSet::read_by("SELECT mfa_steps_total FROM t")),
            Vec::<&str>::new()
        );
        // Unquoted names resolve in any case.
        assert!(names(ViewSet::read_by("SELECT * FROM MFA_Steps")).contains(&"mfa_steps"));
        let mut read = names(ViewSet::read_by("SELECT * FROM edr_responses"));
        read.sort_unstable();
        assert_eq!(
            read,
            [
                "edr_answers",
                "edr_containment_keys",
                "edr_containments",
                "edr_detection_keys",
                "edr_detections",
                "edr_responses"
            ]
        );
        // Every view reads only views registered with it, whatever the KPI names.
        for (name, sql) in crate::kpi::builtin_views() {
            let set = ViewSet::read_by(&format!("SELECT * FROM {name}"));
            for (other, _) in crate::kpi::builtin_views() {
                if other != name && crate::kpi::mentions(sql, other) {
                    assert!(names(set).contains(other), "{name} reads {other}");
                }
            }
        }
    }
}
