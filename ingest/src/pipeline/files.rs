//! The file source: [`Pipeline::ingest_files`] reads files (plain or gzip, detected by content),
//! frames each on a reader thread and parses it on `parse_threads` workers, appends to the lake,
//! and flushes at the end. Memory is bounded per worker by one chunk plus the rows of fewer
//! than `batch_rows` records and `HAND_OVER_BYTES` of them (plus the chunk that crossed the
//! line), whatever the file size.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{
    DeadLetterSummary, FileOutcome, FilesReport, IngestError, Pipeline, SAMPLE_DEAD_LETTERS,
};
use crate::decode::{FrameBatch, RecordProcessor, framer_for};
use crate::framing::Frame;
use crate::lake::Durability;
use crate::parsers::Format;
use crate::record::DecodeStats;

/// Bytes of framed records a reader hands to a parse worker at a time.
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of records a parse worker decodes before it hands its rows to the lake writer, even
/// short of `batch_rows`: wide records (an Okta event is ~2.6 KB) made 64 Ki rows ~70 MiB of
/// Arrow data per worker, held beside the writer's buffers.
const HAND_OVER_BYTES: usize = 16 * 1024 * 1024;

/// Progress of a file ingest, reported after every chunk read and once at the end.
#[derive(Debug, Clone, Serialize)]
pub struct FileProgress {
    pub path: PathBuf,
    /// Bytes of the file read so far (compressed bytes for gzip files).
    pub bytes_read: u64,
    pub bytes_total: u64,
    /// Records framed so far (header lines included until the file's final counts).
    pub records: u64,
    /// The file's final counts; present once the file is done.
    pub stats: Option<DecodeStats>,
    /// Why the file ended early, once it is done (the records before the cut are stored).
    pub error: Option<String>,
}

/// Stream-state records kept for replay; enough for a Zeek header block.
const MAX_STATE_RECORDS: usize = 16;

impl Pipeline {
    /// Ingest files of one format; blocks the calling thread (run it off the async runtime).
    /// Each file is framed by one reader thread and parsed by `parse_threads` workers; rows are
    /// flushed to Parquet before this returns.
    ///
    /// A file that cannot be opened, or ends early (a truncated gzip stream, an I/O error), does
    /// not stop the others: what it held before the cut is stored, and its [`FileOutcome`] says
    /// why it ended. Only a failure of the lake ends the run.
    pub fn ingest_files(
        &self,
        format: Format,
        paths: &[PathBuf],
        progress: &(dyn Fn(&FileProgress) + Sync),
    ) -> Result<FilesReport, IngestError> {
        let samples: Mutex<Vec<DeadLetterSummary>> = Mutex::new(Vec::new());
        let mut total = DecodeStats::default();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let (stats, error) = match self.ingest_one_file(format, path, progress, &samples) {
                Ok(outcome) => outcome,
                Err(e @ IngestError::Read { .. }) => (DecodeStats::default(), Some(e.to_string())),
                Err(e) => return Err(e),
            };
            total.merge(&stats);
            files.push(FileOutcome {
                path: path.clone(),
                stats,
                error,
            });
        }
        self.writer.flush_blocking()?;
        Ok(FilesReport {
            stats: total,
            samples: samples.into_inner().expect("not poisoned"),
            files,
        })
    }

    /// Ingest one stream that is not a file (standard input): `name` stands for it in progress
    /// reports and `raw_ref`s (`stdin:3` for its third record), `bytes_total` is 0 when
    /// unknown. Like [`Self::ingest_files`], rows are flushed to Parquet before this returns
    /// and a cut stream keeps what came before the cut.
    pub fn ingest_stream(
        &self,
        format: Format,
        name: &Path,
        stream: Box<dyn Read + Send>,
        progress: &(dyn Fn(&FileProgress) + Sync),
    ) -> Result<FilesReport, IngestError> {
        let samples: Mutex<Vec<DeadLetterSummary>> = Mutex::new(Vec::new());
        let (stats, error) =
            self.ingest_one_stream(format, name, "stdin", stream, 0, progress, &samples)?;
        self.writer.flush_blocking()?;
        Ok(FilesReport {
            stats: stats.clone(),
            samples: samples.into_inner().expect("not poisoned"),
            files: vec![FileOutcome {
                path: name.to_path_buf(),
                stats,
                error,
            }],
        })
    }

    fn ingest_one_file(
        &self,
        format: Format,
        path: &Path,
        progress: &(dyn Fn(&FileProgress) + Sync),
        samples: &Mutex<Vec<DeadLetterSummary>>,
    ) -> Result<(DecodeStats, Option<String>), IngestError> {
        let read_err = |source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let bytes_total = file.metadata().map_err(read_err)?.len();
        let origin = format!("file:{}", path.display());
        self.ingest_one_stream(
            format,
            path,
            &origin,
            Box::new(file),
            bytes_total,
            progress,
            samples,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn ingest_one_stream(
        &self,
        format: Format,
        path: &Path,
        origin: &str,
        stream: Box<dyn Read + Send>,
        bytes_total: u64,
        progress: &(dyn Fn(&FileProgress) + Sync),
        samples: &Mutex<Vec<DeadLetterSummary>>,
    ) -> Result<(DecodeStats, Option<String>), IngestError> {
        let read_err = |source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        };
        let counted = CountingReader {
            inner: stream,
            count: Arc::new(AtomicUsize::new(0)),
        };
        let count = counted.count.clone();
        let mut reader = open_maybe_gzip(counted).map_err(read_err)?;
        let processed = chrono::Utc::now().timestamp_millis();
        let origin = origin.to_string();
        let workers = match self.config.parse_threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<FrameBatch>(workers * 2);
        let rx = Mutex::new(rx);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<IngestError>> = Mutex::new(None);
        let cut: Mutex<Option<String>> = Mutex::new(None);
        let total = Mutex::new(DecodeStats::default());
        let mut plain_bytes = 0u64;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    let mut processor =
                        RecordProcessor::new(format, self.site.clone(), origin.clone(), processed);
                    let mut reported = DecodeStats::default();
                    let mut pending_bytes = 0usize;
                    loop {
                        let next = rx.lock().expect("not poisoned").recv();
                        let Ok(batch) = next else { break };
                        // After a failure, keep draining so the reader never blocks on a full queue.
                        if failed.load(Ordering::Relaxed) {
                            continue;
                        }
                        processor.process_batch(&batch);
                        pending_bytes += batch.bytes();
                        if processor.pending_rows() < self.config.batch_rows()
                            && pending_bytes < HAND_OVER_BYTES
                        {
                            continue;
                        }
                        pending_bytes = 0;
                        if let Err(e) =
                            self.hand_over(&mut processor, format, &mut reported, samples)
                        {
                            failed.store(true, Ordering::Relaxed);
                            first_error.lock().expect("not poisoned").get_or_insert(e);
                        }
                    }
                    if !failed.load(Ordering::Relaxed)
                        && let Err(e) =
                            self.hand_over(&mut processor, format, &mut reported, samples)
                    {
                        failed.store(true, Ordering::Relaxed);
                        first_error.lock().expect("not poisoned").get_or_insert(e);
                    }
                    total.lock().expect("not poisoned").merge(processor.stats());
                });
            }
            // The reader: frame sequentially, cut batches, remember the stream state.
            let read = (|| -> Result<(), IngestError> {
                let probe = format.parser(self.site.clone());
                let mut framer = framer_for(format, self.config.max_record_bytes);
                // The latest stream-state records (a VPC header; Zeek's separator and fields
                // directives), replayed in order by whichever worker gets the next batch.
                let mut state: Vec<Vec<u8>> = Vec::new();
                let mut batch = FrameBatch::with_capacity(Vec::new(), BATCH_BYTES);
                let records = std::cell::Cell::new(0u64);
                let mut chunk = vec![0u8; 1 << 20];
                // A batch is handed on before a record would take it past `BATCH_BYTES`, so
                // its buffer is allocated once at that size, never doubled.
                let collect =
                    |frame: Frame<'_>, batch: &mut FrameBatch, state: &mut Vec<Vec<u8>>| {
                        if !batch.has_room_for(&frame, BATCH_BYTES) {
                            let next = FrameBatch::with_capacity(state.clone(), BATCH_BYTES);
                            // Workers drain the queue until it is dropped, so this fails only
                            // if they are all gone; the read then ends after this chunk.
                            if tx.send(std::mem::replace(batch, next)).is_err() {
                                failed.store(true, Ordering::Relaxed);
                            }
                        }
                        if let Frame::Record { bytes, .. } = &frame
                            && probe.is_stream_state(bytes)
                        {
                            if state.len() == MAX_STATE_RECORDS {
                                state.remove(0);
                            }
                            state.push(bytes.to_vec());
                        }
                        records.set(records.get() + 1);
                        batch.push(frame);
                    };
                loop {
                    if failed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let n = match reader.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            // Keep what was read before the cut; the outcome reports it.
                            *cut.lock().expect("not poisoned") = Some(e.to_string());
                            break;
                        }
                    };
                    plain_bytes += n as u64;
                    framer.push(&chunk[..n], &mut |frame| {
                        collect(frame, &mut batch, &mut state)
                    });
                    progress(&FileProgress {
                        path: path.to_path_buf(),
                        bytes_read: count.load(Ordering::Relaxed) as u64,
                        bytes_total,
                        records: records.get(),
                        stats: None,
                        error: None,
                    });
                }
                framer.finish(&mut |frame| collect(frame, &mut batch, &mut state));
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                Ok(())
            })();
            drop(tx);
            if let Err(e) = read {
                failed.store(true, Ordering::Relaxed);
                first_error.lock().expect("not poisoned").get_or_insert(e);
            }
        });
        if let Some(e) = first_error.into_inner().expect("not poisoned") {
            return Err(e);
        }
        let mut stats = total.into_inner().expect("not poisoned");
        stats.bytes = plain_bytes;
        if let Some(m) = &self.metrics {
            m.bytes
                .with_label_values(&[format.name()])
                .inc_by(plain_bytes);
        }
        let cut = cut.into_inner().expect("not poisoned");
        progress(&FileProgress {
            path: path.to_path_buf(),
            bytes_read: count.load(Ordering::Relaxed) as u64,
            bytes_total,
            records: stats.records,
            stats: Some(stats.clone()),
            error: cut.clone(),
        });
        Ok((stats, cut))
    }

    /// Move decoded rows and dead letters to the writer, and count what was not counted yet.
    fn hand_over(
        &self,
        processor: &mut RecordProcessor,
        format: Format,
        reported: &mut DecodeStats,
        samples: &Mutex<Vec<DeadLetterSummary>>,
    ) -> Result<(), IngestError> {
        let decoded = processor.take();
        if !decoded.dead_letters.is_empty() {
            let mut samples = samples.lock().expect("not poisoned");
            let room = SAMPLE_DEAD_LETTERS.saturating_sub(samples.len());
            samples.extend(
                decoded
                    .dead_letters
                    .iter()
                    .take(room)
                    .map(DeadLetterSummary::from),
            );
        }
        if !decoded.is_empty() {
            self.writer.append_blocking(
                decoded.batches,
                decoded.dead_letters,
                Durability::Buffered,
            )?;
        }
        if let Some(m) = &self.metrics {
            let mut delta = stats_delta(processor.stats(), reported);
            delta.bytes = 0;
            m.observe_decode(format.name(), &delta);
        }
        *reported = processor.stats().clone();
        Ok(())
    }
}

fn stats_delta(now: &DecodeStats, before: &DecodeStats) -> DecodeStats {
    let mut delta = DecodeStats {
        records: now.records - before.records,
        header_lines: now.header_lines - before.header_lines,
        bytes: now.bytes - before.bytes,
        ..Default::default()
    };
    for (t, n) in &now.rows {
        let d = n - before.rows.get(t).copied().unwrap_or(0);
        if d > 0 {
            delta.rows.insert(*t, d);
        }
    }
    for (k, n) in &now.dead_letters {
        let d = n - before.dead_letters.get(k).copied().unwrap_or(0);
        if d > 0 {
            delta.dead_letters.insert(*k, d);
        }
    }
    delta.decisions = now.decisions_since(before);
    for (event_type, n) in &now.base_events {
        let d = n - before.base_events.get(event_type).copied().unwrap_or(0);
        if d > 0 {
            delta.base_events.insert(event_type.clone(), d);
        }
    }
    delta
}

struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicUsize>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}

/// Recognize the format of a file (plain or gzip) from its first 64 KB.
pub fn detect_file_format(path: &Path) -> Result<Detected, IngestError> {
    let read_err = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut reader = open_maybe_gzip(file).map_err(read_err)?.take(64 * 1024);
    let mut head = Vec::with_capacity(64 * 1024);
    reader.read_to_end(&mut head).map_err(read_err)?;
    Ok(Detected::of_plain(&head))
}

/// What the start of a file says about its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Format(Format),
    /// No record at all (no byte, or only white space): nothing to read, whatever the format.
    Empty,
    /// Records no known format matches.
    Unknown,
}

impl Detected {
    /// What the first (decompressed) bytes of an input say.
    fn of_plain(head: &[u8]) -> Self {
        if head.iter().all(u8::is_ascii_whitespace) {
            return Self::Empty;
        }
        Format::detect(head).map_or(Self::Unknown, Self::Format)
    }
}

/// Recognize the format of a stream from its first bytes (plain or the start of a gzip
/// stream).
pub fn detect_head(head: &[u8]) -> Detected {
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Detected::of_plain(head);
    }
    // The head of a gzip stream decompresses until it is cut; what came before is enough.
    let mut plain = Vec::with_capacity(64 * 1024);
    let mut decoder = flate2::read::MultiGzDecoder::new(head).take(64 * 1024);
    let mut chunk = [0u8; 8192];
    while let Ok(n) = decoder.read(&mut chunk) {
        if n == 0 {
            break;
        }
        plain.extend_from_slice(&chunk[..n]);
    }
    Detected::of_plain(&plain)
}

/// Wrap `reader` in a gzip decoder when it starts with the gzip magic bytes. Concatenated gzip
/// members (as S3 deliveries produce) are read as one stream.
pub fn open_maybe_gzip<R: Read + Send + 'static>(
    reader: R,
) -> std::io::Result<Box<dyn Read + Send>> {
    let mut buffered = std::io::BufReader::with_capacity(1 << 16, reader);
    let head = std::io::BufRead::fill_buf(&mut buffered)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}
