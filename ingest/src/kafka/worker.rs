//! Parse workers: a batch of messages in, durable rows and dead letters out, a completion back.
//!
//! A worker reports a batch complete only after the lake writer acknowledged its append with
//! WAL durability. A failed append is retried (the writer refuses appends while it is over its
//! buffer budget, which is transient); only a stop request ends the retries, and the batch is
//! then reported failed so its offsets are never committed.
//!
//! A worker parses its next batch while the writer writes and fsyncs the previous one: at most
//! one append per worker is in flight, and its completion is reported before the next append
//! is queued. With no next batch queued, the worker waits for the acknowledgement at once, so
//! an idle stream's last batch is completed (and its offsets committed) without delay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};

use super::KafkaMetrics;
use super::offsets::BatchId;
use crate::decode::RecordProcessor;
use crate::lake::{Durability, PendingAppend};
use crate::parsers::{Format, SourceFormat};
use crate::pipeline::Pipeline;
use crate::record::{DeadLetter, DecodeStats, ErrorKind};
use crate::schema::Table;
use datafusion::arrow::record_batch::RecordBatch;

/// One consumed message, copied out of librdkafka's buffers.
pub(crate) struct Message {
    pub topic: u32,
    pub partition: i32,
    pub offset: i64,
    pub payload: Option<Vec<u8>>,
}

impl Message {
    pub fn len(&self) -> usize {
        self.payload.as_ref().map_or(0, Vec::len)
    }
}

pub(crate) struct WorkBatch {
    pub id: BatchId,
    pub messages: Vec<Message>,
    pub bytes: usize,
}

pub(crate) struct Completion {
    pub id: BatchId,
    pub bytes: usize,
    /// False when the batch never became durable (stop requested while the lake refused it).
    pub durable: bool,
    pub messages: u64,
    pub dead_letters: u64,
}

pub(crate) struct WorkerShared {
    pub pipeline: Pipeline,
    pub topics: Arc<Vec<(String, SourceFormat)>>,
    pub metrics: Option<Arc<KafkaMetrics>>,
    pub dead_letter_topic: Option<(ThreadedProducer<DefaultProducerContext>, String)>,
    pub stop: Arc<AtomicBool>,
}

pub(crate) fn run_worker(
    shared: Arc<WorkerShared>,
    batches: Arc<Mutex<Receiver<WorkBatch>>>,
    done: Sender<Completion>,
) {
    let mut in_flight: Option<InFlight> = None;
    loop {
        let next = if in_flight.is_some() {
            // Only a batch ready now; when another worker holds the queue (waiting for one) or
            // the queue is empty, the append in flight is finished first.
            match batches.try_lock() {
                Ok(queue) => queue.try_recv().ok(),
                Err(_) => None,
            }
        } else {
            match batches.lock().expect("not poisoned").recv() {
                Ok(batch) => Some(batch),
                Err(_) => return,
            }
        };
        let decoded = next.map(|batch| decode(&shared, batch));
        if let Some(previous) = in_flight.take()
            && done.send(finish(&shared, previous)).is_err()
        {
            return;
        }
        in_flight = decoded.map(|decoded| submit(&shared, decoded));
    }
}

/// A batch's rows, dead letters and counts, ready for the lake.
struct DecodedBatch {
    id: BatchId,
    bytes: usize,
    messages: u64,
    batches: Vec<(Table, RecordBatch)>,
    dead_letters: Vec<DeadLetter>,
    stats: Vec<(Format, DecodeStats)>,
    unrecognized_kinds: HashMap<String, u64>,
}

/// A decoded batch whose append is queued; `pending` is `None` when queueing failed (it is
/// then retried by [`finish`]).
struct InFlight {
    decoded: DecodedBatch,
    pending: Option<PendingAppend>,
}

fn submit(shared: &WorkerShared, decoded: DecodedBatch) -> InFlight {
    let pending = shared
        .pipeline
        .writer
        .submit_blocking(
            decoded.batches.clone(),
            decoded.dead_letters.clone(),
            Durability::Wal,
        )
        .ok();
    InFlight { decoded, pending }
}

#[derive(Clone, Default)]
struct TopicCounts {
    messages: u64,
    bytes: u64,
    parse_failures: u64,
    dead_letters: u64,
}

fn decode(shared: &WorkerShared, batch: WorkBatch) -> DecodedBatch {
    let processed = chrono::Utc::now().timestamp_millis();
    let max_record = shared.pipeline.config.max_record_bytes;
    let mut processors: HashMap<Format, RecordProcessor> = HashMap::new();
    let mut unrecognized: Vec<DeadLetter> = Vec::new();
    let mut origin = String::new();
    // Per-topic counts, added to the metrics once per batch rather than once per message.
    let mut counts = vec![TopicCounts::default(); shared.topics.len()];
    for message in &batch.messages {
        let count = &mut counts[message.topic as usize];
        count.messages += 1;
        count.bytes += message.len() as u64;
        let (topic, topic_format) = &shared.topics[message.topic as usize];
        origin.clear();
        use std::fmt::Write;
        let _ = write!(
            origin,
            "kafka:{topic}/{}/{}",
            message.partition, message.offset
        );
        let payload = message.payload.as_deref().unwrap_or_default();
        let format = match topic_format {
            SourceFormat::Named(f) => Some(*f),
            SourceFormat::Auto => Format::detect(payload),
        };
        let Some(format) = format else {
            let (kind, reason) = if payload.iter().all(u8::is_ascii_whitespace) {
                (ErrorKind::Empty, "the message holds no record".to_string())
            } else {
                (
                    ErrorKind::UnknownFormat,
                    format!(
                        "topic {topic:?} is format auto and no known format ({}) matches the message",
                        Format::known_names()
                    ),
                )
            };
            unrecognized.push(DeadLetter::new(
                "auto",
                origin.clone(),
                kind,
                reason,
                payload,
                processed,
            ));
            count.parse_failures += 1;
            count.dead_letters += 1;
            continue;
        };
        let processor = processors.entry(format).or_insert_with(|| {
            RecordProcessor::new(
                format,
                shared.pipeline.site.clone(),
                String::new(),
                processed,
            )
        });
        let refused_before = processor.stats().total_dead_letters();
        processor.process_payload(payload, &origin, max_record);
        let refused = processor.stats().total_dead_letters() - refused_before;
        if refused > 0 {
            count.parse_failures += 1;
            count.dead_letters += refused;
        }
    }
    if let Some(m) = &shared.metrics {
        for ((topic, _), c) in shared.topics.iter().zip(&counts) {
            if c.messages > 0 {
                m.messages.with_label_values(&[topic]).inc_by(c.messages);
                m.bytes.with_label_values(&[topic]).inc_by(c.bytes);
                m.parse_failures
                    .with_label_values(&[topic])
                    .inc_by(c.parse_failures);
                m.dead_letters
                    .with_label_values(&[topic])
                    .inc_by(c.dead_letters);
            }
        }
    }

    let mut unrecognized_kinds: HashMap<String, u64> = HashMap::new();
    for letter in &unrecognized {
        *unrecognized_kinds.entry(letter.kind.clone()).or_default() += 1;
    }
    let mut batches = Vec::new();
    let mut dead_letters = unrecognized;
    let mut stats: Vec<(Format, DecodeStats)> = Vec::new();
    for (format, mut processor) in processors {
        let decoded = processor.take();
        batches.extend(decoded.batches);
        dead_letters.extend(decoded.dead_letters);
        stats.push((format, processor.stats().clone()));
    }
    DecodedBatch {
        id: batch.id,
        bytes: batch.bytes,
        messages: batch.messages.len() as u64,
        batches,
        dead_letters,
        stats,
        unrecognized_kinds,
    }
}

/// Wait for the batch's append (retrying a refused one), then count it and report it.
fn finish(shared: &WorkerShared, in_flight: InFlight) -> Completion {
    let InFlight { decoded, pending } = in_flight;
    let DecodedBatch {
        id,
        bytes,
        messages,
        batches,
        dead_letters,
        stats,
        unrecognized_kinds,
    } = decoded;
    let dead_letter_count = dead_letters.len() as u64;
    let mut backoff = Duration::from_millis(10);
    let mut attempt = pending.map(PendingAppend::wait);
    let durable = loop {
        let result = match attempt.take() {
            Some(result) => result,
            None => shared.pipeline.writer.append_blocking(
                batches.clone(),
                dead_letters.clone(),
                Durability::Wal,
            ),
        };
        match result {
            Ok(_) => break true,
            Err(e) => {
                if shared.stop.load(Ordering::Relaxed) {
                    tracing::warn!(error = %e, "lake refused a Kafka batch while stopping; its offsets stay uncommitted");
                    break false;
                }
                tracing::warn!(error = %e, retry_in = ?backoff, "lake refused a Kafka batch; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    };
    if durable {
        if let Some(m) = &shared.pipeline.metrics {
            for (format, s) in &stats {
                m.observe_decode(format.name(), s);
            }
            // Messages of `auto` topics no format recognized are counted under source `auto`.
            for (kind, n) in &unrecognized_kinds {
                m.dead_letters.with_label_values(&["auto", kind]).inc_by(*n);
            }
        }
        if let Some((producer, topic)) = &shared.dead_letter_topic {
            for letter in dead_letters {
                let body = serde_json::to_vec(&letter).expect("dead letters serialize");
                let record = BaseRecord::to(topic).key(&letter.origin).payload(&body);
                if producer.send(record).is_err()
                    && let Some(m) = &shared.metrics
                {
                    m.dead_letter_topic_errors.inc();
                }
            }
        }
    }
    Completion {
        id,
        bytes,
        durable,
        messages,
        dead_letters: dead_letter_count,
    }
}
