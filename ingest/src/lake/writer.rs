//! The lake writer: one thread that owns the buffers, the WAL and the dead-letter file.
//!
//! Callers send appends through a bounded channel (a full channel is backpressure: async senders
//! wait, HTTP answers 503 when the buffer budget is exhausted). The thread takes every append
//! waiting in the channel as one group, writes the group's rows to the WAL and its dead letters
//! to the store, fsyncs once, and only then acknowledges each append (group commit).
//!
//! Rows stay in memory, partitioned by (table, hour), until a flush writes one Parquet file per
//! partition — when the buffered rows or bytes pass their limits (checked after every append,
//! also inside a group, so while flushes succeed the buffers stay within one append of
//! `flush_bytes`), when the oldest row's age does (after each group and on every tick), on
//! request, or at shutdown. A snapshot of the buffers (the hot tail) lets queries see rows before they are
//! flushed. After a successful flush the buffers are empty and the WAL segments are deleted.
//!
//! Failure story: a flush that fails keeps the rows buffered and the WAL intact and is retried on
//! the next tick; appends are refused (not queued without bound) once buffered bytes exceed twice
//! `flush_bytes`. On start-up the WAL is replayed into the buffers and flushed.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, TimestampMillisecondArray, UInt64Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use tokio::sync::{mpsc, oneshot};

use super::dead_letter::{DeadLetterBudget, DeadLetterStore};
use super::layout;
use super::wal::{WalSegment, recover};
use super::{LakeConfig, LakeError, next_seq, sync_dir};
use crate::metrics::IngestMetrics;
use crate::record::DeadLetter;
use crate::schema::Table;

const HOUR_MS: i64 = 3_600_000;

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge once the rows are in the fsynced WAL (HTTP, Kafka).
    Wal,
    /// Acknowledge once buffered; the caller can re-read its input and calls `flush` before it
    /// records progress (file ingest).
    Buffered,
}

/// What an acknowledged append stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendReceipt {
    pub rows: usize,
    pub dead_letters: usize,
}

/// Buffered rows per table, for queries that must see data before it is flushed.
#[derive(Debug, Clone, Default)]
pub struct TailSnapshot {
    pub tables: BTreeMap<Table, Vec<RecordBatch>>,
}

impl TailSnapshot {
    pub fn rows(&self) -> usize {
        self.tables
            .values()
            .flatten()
            .map(RecordBatch::num_rows)
            .sum()
    }
}

/// Counters readable without going through the writer thread (status pages).
#[derive(Debug, Default)]
pub struct WriterStats {
    pub buffered_rows: AtomicU64,
    pub rows_flushed: AtomicU64,
    pub files_written: AtomicU64,
    pub dead_letters: AtomicU64,
    /// Dead letters whose record was cut because the day's dead-letter budget was spent.
    pub dead_letters_truncated: AtomicU64,
    pub flush_errors: AtomicU64,
    pub last_flush_unix_ms: AtomicU64,
}

type Ack<T> = oneshot::Sender<Result<T, String>>;

enum Command {
    Append {
        batches: Vec<(Table, RecordBatch)>,
        dead_letters: Vec<DeadLetter>,
        durability: Durability,
        ack: Ack<AppendReceipt>,
    },
    Flush {
        ack: Ack<()>,
    },
    Snapshot {
        ack: oneshot::Sender<TailSnapshot>,
    },
    Tick,
    Shutdown {
        ack: Ack<()>,
    },
}

/// An append queued by [`LakeWriter::submit_blocking`], not yet acknowledged.
pub struct PendingAppend(oneshot::Receiver<Result<AppendReceipt, String>>);

impl PendingAppend {
    /// Block until the writer acknowledges the append (with the durability it was queued with).
    pub fn wait(self) -> Result<AppendReceipt, LakeError> {
        self.0
            .blocking_recv()
            .map_err(|_| LakeError::WriterStopped)?
            .map_err(LakeError::Failed)
    }
}

/// An append command and the receiver of its acknowledgement.
fn append_command(
    batches: Vec<(Table, RecordBatch)>,
    dead_letters: Vec<DeadLetter>,
    durability: Durability,
) -> (Command, oneshot::Receiver<Result<AppendReceipt, String>>) {
    let (ack, done) = oneshot::channel();
    let command = Command::Append {
        batches,
        dead_letters,
        durability,
        ack,
    };
    (command, done)
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct LakeWriter {
    tx: mpsc::Sender<Command>,
    stats: Arc<WriterStats>,
    data_dir: PathBuf,
    writer_id: String,
    dead_letter_budget: Arc<DeadLetterBudget>,
}

impl LakeWriter {
    /// Open the lake (creating the directory), replay the WAL, and start the writer thread.
    pub fn open(
        config: &LakeConfig,
        metrics: Option<Arc<IngestMetrics>>,
    ) -> Result<Self, LakeError> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(LakeError::io(&data_dir))?;
        let writer_id = config.resolved_writer_id();
        let wal_dir = layout::wal_dir(&data_dir, &writer_id);
        std::fs::create_dir_all(&wal_dir).map_err(LakeError::io(&wal_dir))?;
        // One process per writer id: a second one would replay and delete the first one's WAL.
        let lock_path = layout::wal_lock_file(&wal_dir);
        let lock = File::create(&lock_path).map_err(LakeError::io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LakeError::Failed(format!(
                    "another ztlens process is writing with writer id {writer_id:?} (lock {}); give each instance its own lake.writer_id",
                    lock_path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(LakeError::Io {
                    path: lock_path,
                    source: e,
                });
            }
        }
        let stats = Arc::new(WriterStats::default());
        let dead_letter_budget =
            DeadLetterBudget::new(&data_dir, config.max_dead_letter_bytes_per_day);
        let object = match super::object::ObjectLake::from_config(config)? {
            Some(lake) => Some(super::object::ObjectIo::new(lake)?),
            None => None,
        };
        let mut state = WriterState {
            object,
            parquet_dir: config.parquet_dir()?,
            config: config.clone(),
            writer_id: writer_id.clone(),
            wal_dir,
            buffers: BTreeMap::new(),
            buffered_rows: 0,
            buffered_bytes: 0,
            oldest: None,
            flush_failed: false,
            wal: None,
            old_segments: Vec::new(),
            dead_letters: DeadLetterStore::new(&data_dir, &writer_id, dead_letter_budget.clone()),
            metrics,
            stats: stats.clone(),
            _lock: lock,
        };
        state.replay_wal()?;
        let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
        let ticker = tx.downgrade();
        std::thread::Builder::new()
            .name("ztlens-lake-writer".into())
            .spawn(move || state.run(rx))
            .map_err(LakeError::io(&data_dir))?;
        std::thread::Builder::new()
            .name("ztlens-lake-ticker".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(500));
                    let Some(tx) = ticker.upgrade() else { return };
                    // A full queue means the writer is busy and will look at the clock anyway.
                    if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Command::Tick) {
                        return;
                    }
                }
            })
            .map_err(LakeError::io(&data_dir))?;
        Ok(Self {
            tx,
            stats,
            data_dir,
            writer_id,
            dead_letter_budget,
        })
    }

    /// Whether today's dead-letter budget (`lake.max_dead_letter_bytes_per_day`) is spent.
    pub fn dead_letter_budget_spent(&self) -> bool {
        self.dead_letter_budget.spent_today()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn writer_id(&self) -> &str {
        &self.writer_id
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Append rows and dead letters; resolves when they are durable per `durability`.
    pub async fn append(
        &self,
        batches: Vec<(Table, RecordBatch)>,
        dead_letters: Vec<DeadLetter>,
        durability: Durability,
    ) -> Result<AppendReceipt, LakeError> {
        let (command, done) = append_command(batches, dead_letters, durability);
        self.tx
            .send(command)
            .await
            .map_err(|_| LakeError::WriterStopped)?;
        done.await
            .map_err(|_| LakeError::WriterStopped)?
            .map_err(LakeError::Failed)
    }

    /// Blocking form of [`append`](Self::append), for threads outside the async runtime.
    pub fn append_blocking(
        &self,
        batches: Vec<(Table, RecordBatch)>,
        dead_letters: Vec<DeadLetter>,
        durability: Durability,
    ) -> Result<AppendReceipt, LakeError> {
        self.submit_blocking(batches, dead_letters, durability)?
            .wait()
    }

    /// Queue an append without waiting for its acknowledgement (blocking only while the
    /// writer's queue is full), so the caller can work while the writer writes and fsyncs;
    /// [`PendingAppend::wait`] takes the acknowledgement.
    pub fn submit_blocking(
        &self,
        batches: Vec<(Table, RecordBatch)>,
        dead_letters: Vec<DeadLetter>,
        durability: Durability,
    ) -> Result<PendingAppend, LakeError> {
        let (command, done) = append_command(batches, dead_letters, durability);
        self.tx
            .blocking_send(command)
            .map_err(|_| LakeError::WriterStopped)?;
        Ok(PendingAppend(done))
    }

    /// Write every buffered row to Parquet now.
    pub async fn flush(&self) -> Result<(), LakeError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Command::Flush { ack })
            .await
            .map_err(|_| LakeError::WriterStopped)?;
        done.await
            .map_err(|_| LakeError::WriterStopped)?
            .map_err(LakeError::Failed)
    }

    pub fn flush_blocking(&self) -> Result<(), LakeError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .blocking_send(Command::Flush { ack })
            .map_err(|_| LakeError::WriterStopped)?;
        done.blocking_recv()
            .map_err(|_| LakeError::WriterStopped)?
            .map_err(LakeError::Failed)
    }

    /// The rows not yet flushed (the hot tail).
    pub async fn snapshot(&self) -> Result<TailSnapshot, LakeError> {
        self.tail_reader().snapshot().await
    }

    /// A handle that can read the hot tail and do nothing else, for readers of the lake.
    pub fn tail_reader(&self) -> TailReader {
        TailReader {
            tx: self.tx.clone(),
        }
    }

    /// Flush everything and stop the writer thread.
    pub async fn shutdown(&self) -> Result<(), LakeError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Command::Shutdown { ack })
            .await
            .map_err(|_| LakeError::WriterStopped)?;
        done.await
            .map_err(|_| LakeError::WriterStopped)?
            .map_err(LakeError::Failed)
    }

    pub fn shutdown_blocking(&self) -> Result<(), LakeError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .blocking_send(Command::Shutdown { ack })
            .map_err(|_| LakeError::WriterStopped)?;
        done.blocking_recv()
            .map_err(|_| LakeError::WriterStopped)?
            .map_err(LakeError::Failed)
    }
}

/// A read-only handle on a writer's hot tail: the rows appended but not yet flushed to Parquet.
#[derive(Clone)]
pub struct TailReader {
    tx: mpsc::Sender<Command>,
}

impl TailReader {
    /// The rows not yet flushed, per table.
    pub async fn snapshot(&self) -> Result<TailSnapshot, LakeError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Command::Snapshot { ack })
            .await
            .map_err(|_| LakeError::WriterStopped)?;
        done.await.map_err(|_| LakeError::WriterStopped)
    }
}

// ---------------------------------------------------------------------------------------------

struct WriterState {
    /// The bucket Parquet files are uploaded to, for an object-store lake.
    object: Option<super::object::ObjectIo>,
    /// Where Parquet files are written otherwise (`LakeConfig::parquet_dir`).
    parquet_dir: PathBuf,
    config: LakeConfig,
    writer_id: String,
    wal_dir: PathBuf,
    buffers: BTreeMap<(Table, i64), Partition>,
    buffered_rows: usize,
    buffered_bytes: usize,
    oldest: Option<Instant>,
    /// The last flush failed: flushes inside a group of appends wait for the next tick or group
    /// (a lake that cannot write would otherwise be retried after every append).
    flush_failed: bool,
    wal: Option<WalSegment>,
    /// Closed segments whose rows are still (partly) in the buffers.
    old_segments: Vec<PathBuf>,
    dead_letters: DeadLetterStore,
    metrics: Option<Arc<IngestMetrics>>,
    stats: Arc<WriterStats>,
    /// Held for the writer's lifetime (see `open`).
    _lock: File,
}

/// The rows buffered for one (table, hour) partition.
#[derive(Default)]
struct Partition {
    batches: Vec<RecordBatch>,
    /// Arrow memory of these rows.
    bytes: usize,
}

/// Where a flush writes partitions; shared by the flush threads.
struct PartitionSink<'a> {
    object: Option<&'a super::object::ObjectIo>,
    parquet_dir: &'a Path,
    writer_id: &'a str,
}

/// What became of one partition in a flush.
enum Written {
    /// In its file; its rows are freed.
    Done { rows: usize, bytes: usize },
    /// Not written: the rows go back to the buffers.
    Failed {
        error: LakeError,
        partition: Partition,
    },
}

impl PartitionSink<'_> {
    fn write(&self, (table, hour): (Table, i64), partition: Partition) -> Written {
        match self.write_file(table, hour, &partition.batches) {
            Ok(rows) => Written::Done {
                rows,
                bytes: partition.bytes,
            },
            Err(error) => Written::Failed { error, partition },
        }
    }

    fn write_file(
        &self,
        table: Table,
        hour: i64,
        batches: &[RecordBatch],
    ) -> Result<usize, LakeError> {
        let name = layout::data_file_name(self.writer_id, next_seq());
        if let Some(io) = self.object {
            let key = io.lake().data_file_key(table, hour, &name);
            let batches = batches.to_vec();
            return io.run(move |lake| async move {
                lake.put_parquet(&key, &table.schema(), &batches).await
            });
        }
        let dir = layout::partition_dir(self.parquet_dir, table, hour);
        write_parquet_file(&dir, &name, &table.schema(), batches)
    }
}

impl WriterState {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut pending: Vec<(Ack<AppendReceipt>, AppendReceipt)> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            // Group commit: take everything already waiting.
            while let Some(cmd) = next.take().or_else(|| rx.try_recv().ok()) {
                match cmd {
                    Command::Append {
                        batches,
                        dead_letters,
                        durability,
                        ack,
                    } => {
                        // An append that would pass twice the budget (one larger than
                        // `flush_bytes`): flush what is buffered first rather than refuse it.
                        if self.buffered_bytes > 0
                            && self.buffered_bytes + appended_bytes(&batches)
                                > self.config.flush_bytes.saturating_mul(2)
                            && !self.flush_failed
                        {
                            self.commit_group(&mut pending);
                            if let Err(e) = self.flush() {
                                tracing::warn!(error = %e, "flush failed; rows stay buffered and in the WAL, retrying on the next tick");
                            }
                        }
                        match self.append(batches, dead_letters, durability) {
                            Ok(receipt) => pending.push((ack, receipt)),
                            Err(e) => {
                                let _ = ack.send(Err(e.to_string()));
                            }
                        }
                        if pending.len() >= 1024 {
                            self.commit_group(&mut pending);
                        }
                        // The buffers are the writer's memory budget: once spent, flush before
                        // taking the next append of the group, so while flushes succeed the
                        // buffers stay within one append of `flush_bytes` however many appends
                        // wait in the queue, and the refusal at twice the budget is left to
                        // failing flushes.
                        if self.buffers_full() && !self.flush_failed {
                            self.commit_group(&mut pending);
                            self.maybe_flush();
                        }
                    }
                    other => {
                        self.commit_group(&mut pending);
                        if self.handle_control(other) {
                            return;
                        }
                    }
                }
            }
            self.commit_group(&mut pending);
            self.maybe_flush();
        }
        // Every handle dropped: flush what is left.
        self.commit_group(&mut pending);
        if let Err(e) = self.flush() {
            tracing::error!(error = %e, "final flush failed; rows remain in the WAL for the next start");
        }
    }

    /// Returns true when the writer must stop.
    fn handle_control(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Append { .. } => unreachable!("appends are handled by run"),
            Command::Flush { ack } => {
                let _ = ack.send(self.flush().map_err(|e| e.to_string()));
            }
            Command::Snapshot { ack } => {
                let mut snapshot = TailSnapshot::default();
                for ((table, _), partition) in &self.buffers {
                    snapshot
                        .tables
                        .entry(*table)
                        .or_default()
                        .extend(partition.batches.iter().cloned());
                }
                let _ = ack.send(snapshot);
            }
            Command::Tick => self.maybe_flush(),
            Command::Shutdown { ack } => {
                let result = self.flush().map_err(|e| e.to_string());
                if result.is_ok() {
                    self.remove_wal_dir_if_unused();
                }
                let _ = ack.send(result);
                return true;
            }
        }
        false
    }

    fn append(
        &mut self,
        batches: Vec<(Table, RecordBatch)>,
        dead_letters: Vec<DeadLetter>,
        durability: Durability,
    ) -> Result<AppendReceipt, LakeError> {
        let incoming = appended_bytes(&batches);
        if self.buffered_bytes > 0
            && self.buffered_bytes + incoming > self.config.flush_bytes.saturating_mul(2)
        {
            if let Some(m) = &self.metrics {
                m.lake_appends_rejected.inc();
            }
            return Err(LakeError::Failed(format!(
                "the lake writer is behind: its buffer budget is exhausted ({} MiB buffered \
                 and {} MiB in this append, past twice lake.flush_bytes = {} MiB); retry later",
                self.buffered_bytes.div_ceil(1 << 20),
                incoming.div_ceil(1 << 20),
                self.config.flush_bytes.div_ceil(1 << 20)
            )));
        }
        let mut receipt = AppendReceipt {
            rows: 0,
            dead_letters: dead_letters.len(),
        };
        let mut truncated = 0u64;
        for letter in &dead_letters {
            truncated += u64::from(self.dead_letters.append(letter)?);
        }
        if truncated > 0 {
            self.stats
                .dead_letters_truncated
                .fetch_add(truncated, Ordering::Relaxed);
            if let Some(m) = &self.metrics {
                m.dead_letters_truncated.inc_by(truncated);
            }
            tracing::warn!(
                truncated,
                "the day's dead-letter budget (lake.max_dead_letter_bytes_per_day) is spent: dead letters keep only the start of their record"
            );
        }
        self.stats
            .dead_letters
            .fetch_add(dead_letters.len() as u64, Ordering::Relaxed);
        for (table, batch) in batches {
            if batch.num_rows() == 0 {
                continue;
            }
            if durability == Durability::Wal {
                self.wal_segment()?.append(table, &batch)?;
            }
            receipt.rows += batch.num_rows();
            self.buffer(table, batch)?;
        }
        Ok(receipt)
    }

    fn wal_segment(&mut self) -> Result<&mut WalSegment, LakeError> {
        if self.wal.is_none() {
            let path = self.wal_dir.join(layout::wal_segment_name(next_seq()));
            self.wal = Some(WalSegment::create(path)?);
            sync_dir(&self.wal_dir)?;
        }
        Ok(self.wal.as_mut().expect("created above"))
    }

    fn buffer(&mut self, table: Table, batch: RecordBatch) -> Result<(), LakeError> {
        for (hour, part) in split_by_hour(&batch)? {
            let part_bytes = part.get_array_memory_size();
            self.buffered_rows += part.num_rows();
            self.buffered_bytes += part_bytes;
            let partition = self.buffers.entry((table, hour)).or_default();
            partition.bytes += part_bytes;
            partition.batches.push(part);
        }
        self.oldest.get_or_insert_with(Instant::now);
        self.stats
            .buffered_rows
            .store(self.buffered_rows as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.lake_buffered_rows.set(self.buffered_rows as i64);
        }
        Ok(())
    }

    /// Make the group durable, then acknowledge it.
    fn commit_group(&mut self, pending: &mut Vec<(Ack<AppendReceipt>, AppendReceipt)>) {
        if pending.is_empty() {
            return;
        }
        let sync = self.config.sync;
        let mut result = self.dead_letters.commit(sync);
        if result.is_ok()
            && let Some(wal) = self.wal.as_mut()
        {
            result = wal.commit(sync);
            if let Some(m) = &self.metrics {
                m.lake_wal_bytes.set(wal.bytes() as i64);
            }
        }
        let outcome = result.map_err(|e| e.to_string());
        for (ack, receipt) in pending.drain(..) {
            let _ = ack.send(outcome.clone().map(|_| receipt));
        }
    }

    /// Buffered rows or bytes have reached `flush_rows` or `flush_bytes`.
    fn buffers_full(&self) -> bool {
        self.buffered_rows >= self.config.flush_rows
            || self.buffered_bytes >= self.config.flush_bytes
    }

    fn maybe_flush(&mut self) {
        if self.buffered_rows == 0 {
            return;
        }
        let age = self.oldest.map(|t| t.elapsed()).unwrap_or_default();
        let due =
            self.buffers_full() || age >= Duration::from_secs(self.config.flush_interval_secs);
        if due && let Err(e) = self.flush() {
            tracing::warn!(error = %e, "flush failed; rows stay buffered and in the WAL, retrying on the next tick");
        }
    }

    /// Write every buffer to Parquet; on full success delete the WAL segments.
    fn flush(&mut self) -> Result<(), LakeError> {
        if self.buffers.is_empty() {
            self.drop_wal()?;
            return Ok(());
        }
        let started = Instant::now();
        // Largest partitions first, so the parallel encoders finish together. The partitions
        // leave the buffers now and each one's rows are freed as soon as its file is written; a
        // partition that fails goes back.
        let mut work: Vec<((Table, i64), Partition)> =
            std::mem::take(&mut self.buffers).into_iter().collect();
        work.sort_by_key(|(_, partition)| std::cmp::Reverse(partition.bytes));
        let mut first_error = None;
        for (key, outcome) in self.write_partitions(work) {
            match outcome {
                Written::Done { rows, bytes } => {
                    self.buffered_rows -= rows;
                    self.buffered_bytes -= bytes;
                    self.stats
                        .rows_flushed
                        .fetch_add(rows as u64, Ordering::Relaxed);
                    self.stats.files_written.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = &self.metrics {
                        m.lake_rows_written
                            .with_label_values(&[key.0.name()])
                            .inc_by(rows as u64);
                        m.lake_files_written
                            .with_label_values(&[key.0.name()])
                            .inc();
                    }
                }
                Written::Failed { error, partition } => {
                    self.buffers.insert(key, partition);
                    first_error.get_or_insert(error);
                }
            }
        }
        self.stats
            .buffered_rows
            .store(self.buffered_rows as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.lake_buffered_rows.set(self.buffered_rows as i64);
            m.lake_flush_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        self.flush_failed = first_error.is_some();
        if let Some(e) = first_error {
            self.stats.flush_errors.fetch_add(1, Ordering::Relaxed);
            if let Some(m) = &self.metrics {
                m.lake_flush_errors.inc();
            }
            return Err(e);
        }
        self.oldest = None;
        self.stats.last_flush_unix_ms.store(
            chrono::Utc::now().timestamp_millis() as u64,
            Ordering::Relaxed,
        );
        self.drop_wal()
    }

    /// Every buffered row is in Parquet: the WAL is no longer needed.
    fn drop_wal(&mut self) -> Result<(), LakeError> {
        debug_assert!(self.buffers.is_empty());
        if let Some(wal) = self.wal.take() {
            self.old_segments.push(wal.path().to_path_buf());
        }
        for path in self.old_segments.drain(..) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LakeError::Io { path, source: e }),
            }
        }
        if let Some(m) = &self.metrics {
            m.lake_wal_bytes.set(0);
        }
        Ok(())
    }

    /// After a clean shutdown the writer's WAL directory holds only its lock file; remove it so
    /// one-shot writers (`ztlens ingest`) leave nothing behind.
    fn remove_wal_dir_if_unused(&self) {
        let only_lock = std::fs::read_dir(&self.wal_dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .all(|e| e.file_name() == "LOCK")
            })
            .unwrap_or(false);
        if only_lock {
            let _ = std::fs::remove_file(layout::wal_lock_file(&self.wal_dir));
            let _ = std::fs::remove_dir(&self.wal_dir);
        }
    }

    /// Write one Parquet file per partition, on up to one thread per core: encoding and
    /// compressing is the costly part of a flush, and partitions are independent. A written
    /// partition's rows are dropped at once, so memory falls as the flush goes.
    fn write_partitions(
        &self,
        work: Vec<((Table, i64), Partition)>,
    ) -> Vec<((Table, i64), Written)> {
        let sink = PartitionSink {
            object: self.object.as_ref(),
            parquet_dir: &self.parquet_dir,
            writer_id: &self.writer_id,
        };
        // A bucket's uploads encode inside the object store's one-thread runtime, so more
        // threads would only hold more uploads open at once; they stay one after another.
        let threads = if self.object.is_some() {
            1
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(work.len())
        };
        if threads <= 1 {
            return work
                .into_iter()
                .map(|(key, partition)| (key, sink.write(key, partition)))
                .collect();
        }
        let keys: Vec<(Table, i64)> = work.iter().map(|(key, _)| *key).collect();
        let slots: Vec<std::sync::Mutex<Option<Partition>>> = work
            .into_iter()
            .map(|(_, partition)| std::sync::Mutex::new(Some(partition)))
            .collect();
        let next = AtomicUsize::new(0);
        let outcomes: Vec<std::sync::Mutex<Option<Written>>> =
            keys.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(key) = keys.get(i) else { return };
                        let partition = slots[i].lock().expect("not poisoned").take();
                        let partition = partition.expect("each index is taken once");
                        let outcome = sink.write(*key, partition);
                        *outcomes[i].lock().expect("not poisoned") = Some(outcome);
                    }
                });
            }
        });
        keys.into_iter()
            .zip(outcomes)
            .map(|(key, outcome)| {
                let outcome = outcome.into_inner().expect("not poisoned").expect(
                    "every partition has an outcome: a flush thread that panicked re-raises at the end of the scope",
                );
                (key, outcome)
            })
            .collect()
    }

    fn replay_wal(&mut self) -> Result<(), LakeError> {
        let mut segments: Vec<PathBuf> = std::fs::read_dir(&self.wal_dir)
            .map_err(LakeError::io(&self.wal_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| layout::is_wal_segment(p))
            .collect();
        segments.sort();
        if segments.is_empty() {
            return Ok(());
        }
        let mut rows = 0usize;
        for path in &segments {
            let recovered = recover(path)?;
            if recovered.skipped_bytes > 0 {
                tracing::warn!(segment = %path.display(), skipped_bytes = recovered.skipped_bytes,
                    "WAL segment has a damaged tail; entries before it were recovered");
                if let Some(m) = &self.metrics {
                    m.wal_skipped_bytes.inc_by(recovered.skipped_bytes);
                }
            }
            for (table, batch) in recovered.batches {
                rows += batch.num_rows();
                self.buffer(table, batch)?;
            }
        }
        if let Some(m) = &self.metrics {
            m.wal_recovered_rows.inc_by(rows as u64);
        }
        tracing::info!(
            segments = segments.len(),
            rows,
            "replayed the write-ahead log"
        );
        self.old_segments = segments;
        // A store that is down at start-up (a bucket unreachable) must not stop the node: the
        // rows stay buffered and in the WAL and the flush is retried on the next tick.
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "flushing the replayed rows failed; they stay buffered and in the WAL, retrying on the next tick");
        }
        Ok(())
    }
}

/// Arrow bytes an append brings to the buffers.
fn appended_bytes(batches: &[(Table, RecordBatch)]) -> usize {
    batches.iter().map(|(_, b)| b.get_array_memory_size()).sum()
}

/// Write `batches` as `<dir>/<name>` atomically (temp file, fsync, rename, fsync dir).
pub(crate) fn write_parquet_file(
    dir: &Path,
    name: &str,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<usize, LakeError> {
    std::fs::create_dir_all(dir).map_err(LakeError::io(dir))?;
    let tmp = dir.join(layout::temp_file_name(name));
    let path = dir.join(name);
    let file = File::create(&tmp).map_err(LakeError::io(&tmp))?;
    let properties = parquet_properties(schema, batches)?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))?;
    let mut rows = 0;
    for batch in batches {
        rows += batch.num_rows();
        writer.write(batch)?;
    }
    let file = writer.into_inner()?;
    file.sync_all().map_err(LakeError::io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(LakeError::io(&path))?;
    sync_dir(dir)?;
    Ok(rows)
}

/// How every data file of the lake is encoded, on disk or in a bucket: zstd, and for the file
/// at hand two savings that leave the data identical:
/// - a column with no value in any of `batches` is stored uncompressed (its pages are a few
///   bytes of levels; creating a compressor for each such column chunk cost more than the rest
///   of the chunk);
/// - columns unique per row ([`UNIQUE_PER_ROW`]) are not dictionary-encoded, which would only
///   intern every value before falling back.
pub(crate) fn parquet_properties(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<WriterProperties, LakeError> {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(256 * 1024));
    for (i, field) in schema.fields().iter().enumerate() {
        if field.data_type().is_nested() {
            continue;
        }
        let path = ColumnPath::from(field.name().as_str());
        let empty = batches.iter().all(|batch| {
            batch
                .columns()
                .get(i)
                .is_some_and(|column| column.null_count() == batch.num_rows())
        });
        if empty {
            builder = builder.set_column_compression(path.clone(), Compression::UNCOMPRESSED);
        }
        if UNIQUE_PER_ROW.contains(&field.name().as_str()) {
            builder = builder.set_column_dictionary_enabled(path, false);
        }
    }
    Ok(builder.build())
}

/// Columns whose values differ on every row: the event id and where the raw record came from.
const UNIQUE_PER_ROW: &[&str] = &["metadata_uid", "raw_ref"];

/// Split a batch by the hour of its `time` column (column 0): the batch itself when it lies in
/// one hour, else one compact copy per hour, rows in their original order. (Zero-copy slices
/// per run of one hour were 5 % faster on a 10 M-event day but kept each batch's builder slack
/// alive: 160 MiB more peak RSS.)
fn split_by_hour(batch: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>, LakeError> {
    let times = batch
        .column(0)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("column 0 of every table is time");
    let hour_of = |i: usize| {
        if times.is_null(i) {
            0
        } else {
            times.value(i).div_euclid(HOUR_MS)
        }
    };
    let first = hour_of(0);
    if (0..times.len()).all(|i| hour_of(i) == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut rows_by_hour: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for i in 0..times.len() {
        rows_by_hour.entry(hour_of(i)).or_default().push(i as u64);
    }
    rows_by_hour
        .into_iter()
        .map(|(hour, rows)| {
            let indices = UInt64Array::from(rows);
            Ok((hour, take_record_batch(batch, &indices)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{NetworkActivityBuilder, NetworkActivityRow};

    /// A network batch whose row `i` is at `times[i]` (ms) with uid `id-<i>`.
    fn batch_at(times: &[Option<i64>]) -> RecordBatch {
        let mut builder = NetworkActivityBuilder::new(0);
        for (i, time) in times.iter().enumerate() {
            let mut row = NetworkActivityRow::default();
            row.common.time = *time;
            row.common.metadata_uid = Some(format!("id-{i}").into());
            builder.append(&mut row);
        }
        builder.finish()
    }

    /// Buffer network rows at `times` (file ingest's durability: no WAL).
    fn append_at(writer: &LakeWriter, times: &[Option<i64>]) {
        writer
            .append_blocking(
                vec![(Table::NetworkActivity, batch_at(times))],
                Vec::new(),
                Durability::Buffered,
            )
            .unwrap();
    }

    /// (hour, uids) per part, in the order `split_by_hour` returns them.
    fn parts(batch: &RecordBatch) -> Vec<(i64, Vec<String>)> {
        let uid = batch.schema().index_of("metadata_uid").unwrap();
        split_by_hour(batch)
            .unwrap()
            .into_iter()
            .map(|(hour, part)| {
                let uids = datafusion::arrow::compute::cast(
                    part.column(uid),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )
                .unwrap();
                let uids = uids
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::StringArray>()
                    .unwrap();
                (hour, uids.iter().map(|u| u.unwrap().to_string()).collect())
            })
            .collect()
    }

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("id-{i}")).collect()
    }

    #[test]
    fn a_batch_is_split_per_hour_keeping_row_order() {
        let h = HOUR_MS;
        let batch = batch_at(&[Some(1), Some(2), Some(h), Some(h + 5), Some(1), Some(-1)]);
        assert_eq!(
            parts(&batch),
            vec![
                (-1, vec!["id-5".into()]),
                (0, vec!["id-0".into(), "id-1".into(), "id-4".into()]),
                (1, ids(2..4)),
            ]
        );
        // One hour: the batch itself.
        let one = batch_at(&[Some(3 * h), Some(3 * h + 1)]);
        assert_eq!(parts(&one), vec![(3, ids(0..2))]);
    }

    #[test]
    fn a_flush_writes_every_partition_once_and_releases_its_memory() {
        let dir = tempfile::tempdir().unwrap();
        let config = LakeConfig {
            data_dir: dir.path().to_path_buf(),
            ..LakeConfig::default()
        };
        let writer = LakeWriter::open(&config, None).unwrap();
        // 30 hours, rows in order, then a second batch into the same hours.
        let times: Vec<Option<i64>> = (0..3000).map(|i| Some(i * HOUR_MS / 100)).collect();
        for _ in 0..2 {
            append_at(&writer, &times);
        }
        writer.flush_blocking().unwrap();
        assert_eq!(writer.stats().buffered_rows.load(Ordering::Relaxed), 0);
        assert_eq!(writer.stats().rows_flushed.load(Ordering::Relaxed), 6000);
        assert_eq!(writer.stats().files_written.load(Ordering::Relaxed), 30);
        let parquet_dir = config.parquet_dir().unwrap();
        for hour in 0..30 {
            let partition = layout::partition_dir(&parquet_dir, Table::NetworkActivity, hour);
            let files: Vec<_> = std::fs::read_dir(&partition)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(files.len(), 1, "{}", partition.display());
            use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
            let reader = SerializedFileReader::new(File::open(&files[0]).unwrap()).unwrap();
            let metadata = reader.metadata();
            assert_eq!(metadata.file_metadata().num_rows(), 200);
            // Per-file encoding: the event id is stored plain, a column without values
            // uncompressed, the others with zstd.
            let chunk = |name: &str| {
                let group = metadata.row_group(0);
                (0..group.num_columns())
                    .map(|i| group.column(i))
                    .find(|c| c.column_path().string() == name)
                    .unwrap()
                    .clone()
            };
            use datafusion::parquet::basic::{Compression, Encoding};
            let uid = chunk("metadata_uid");
            assert!(!uid.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
            assert!(matches!(uid.compression(), Compression::ZSTD(_)));
            assert_eq!(chunk("message").compression(), Compression::UNCOMPRESSED);
            assert!(matches!(
                chunk("class_uid").compression(),
                Compression::ZSTD(_)
            ));
        }
        writer.shutdown_blocking().unwrap();
    }

    /// Appends that pile up in the queue while the writer is busy arrive as one group; the
    /// writer flushes inside the group whenever the buffers reach `flush_bytes`, so none is
    /// refused for an exhausted buffer budget (they were, past twice `flush_bytes`). An append
    /// larger than the budget is taken after flushing what is buffered. With WAL durability, a
    /// reopened lake has nothing to replay: every acknowledged row is in Parquet.
    #[test]
    fn a_group_of_queued_appends_flushes_as_it_goes_instead_of_refusing() {
        let times: Vec<Option<i64>> = (0..500).map(|i| Some(i * 1000)).collect();
        let batch_bytes = batch_at(&times).get_array_memory_size();
        for durability in [Durability::Buffered, Durability::Wal] {
            let dir = tempfile::tempdir().unwrap();
            let config = LakeConfig {
                data_dir: dir.path().to_path_buf(),
                // Two appends spend the budget: a group of three or more went past twice of it.
                flush_bytes: batch_bytes * 2,
                sync: false,
                ..LakeConfig::default()
            };
            let writer = LakeWriter::open(&config, None).unwrap();
            let append = |rows: &[Option<i64>]| {
                writer
                    .append_blocking(
                        vec![(Table::NetworkActivity, batch_at(rows))],
                        Vec::new(),
                        durability,
                    )
                    .unwrap()
            };
            std::thread::scope(|scope| {
                for _ in 0..8 {
                    scope.spawn(|| {
                        for _ in 0..25 {
                            append(&times);
                        }
                    });
                }
            });
            let stats = writer.stats();
            // Flushed along the way (each flush writes this hour's one file), not at the end.
            assert!(stats.files_written.load(Ordering::Relaxed) >= 50);
            // One row buffered, then an append of three budgets' worth.
            append(&times[..1]);
            let big: Vec<Option<i64>> = (0..3000).map(|i| Some(i * 1000)).collect();
            assert!(batch_at(&big).get_array_memory_size() > 2 * config.flush_bytes);
            append(&big);
            writer.shutdown_blocking().unwrap();
            assert_eq!(
                stats.rows_flushed.load(Ordering::Relaxed),
                8 * 25 * 500 + 1 + 3000
            );
            let reopened = LakeWriter::open(&config, None).unwrap();
            assert_eq!(reopened.stats().rows_flushed.load(Ordering::Relaxed), 0);
            reopened.shutdown_blocking().unwrap();
        }
    }

    /// A flush that cannot write keeps every row buffered (none lost, none written twice) and
    /// the next flush writes them.
    #[test]
    fn a_failed_flush_keeps_the_rows_for_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = LakeConfig {
            data_dir: dir.path().to_path_buf(),
            ..LakeConfig::default()
        };
        let parquet_dir = config.parquet_dir().unwrap();
        std::fs::create_dir_all(&parquet_dir).unwrap();
        // A file where the table's directory should be: every partition fails.
        let blocker = parquet_dir.join(Table::NetworkActivity.name());
        std::fs::write(&blocker, b"in the way").unwrap();
        let writer = LakeWriter::open(&config, None).unwrap();
        let times: Vec<Option<i64>> = (0..300).map(|i| Some(i * HOUR_MS / 100)).collect();
        append_at(&writer, &times);
        assert!(writer.flush_blocking().is_err());
        let stats = writer.stats();
        assert_eq!(stats.buffered_rows.load(Ordering::Relaxed), 300);
        assert_eq!(stats.rows_flushed.load(Ordering::Relaxed), 0);
        assert_eq!(stats.flush_errors.load(Ordering::Relaxed), 1);
        std::fs::remove_file(&blocker).unwrap();
        writer.flush_blocking().unwrap();
        assert_eq!(stats.buffered_rows.load(Ordering::Relaxed), 0);
        assert_eq!(stats.rows_flushed.load(Ordering::Relaxed), 300);
        assert_eq!(stats.files_written.load(Ordering::Relaxed), 3);
        writer.shutdown_blocking().unwrap();
    }
}
