//! Message transports: records that arrive one by one, each self-contained and each naming
//! (or leaving to `auto`) its own source — OpenTelemetry log records, syslog messages.
//!
//! [`Pipeline::ingest_messages`] decodes a group of them like Kafka messages (one payload each,
//! a fresh parser per payload, `raw_ref` = the message's origin) and appends everything in one
//! WAL append: when it returns `Ok`, every row and every kept dead letter survives a crash. A
//! message no format recognizes, an empty one, or one the transport refused (too long, an
//! unknown source name) is a dead letter, never dropped silently: once the day's dead-letter
//! budget is spent, dead letters are not kept but counted in the receipt for the caller to
//! report (OTLP's partial success, syslog's dropped counter).
//!
//! Admission (how many groups decode at once) is the caller's: an HTTP handler holds a
//! [`Pipeline::try_push_slot`] from before it decompresses a body; a syslog listener stores its
//! groups one at a time.

use std::collections::HashMap;
use std::sync::Arc;

use super::{DeadLetterSummary, Pipeline};
use crate::decode::RecordProcessor;
use crate::lake::{Durability, LakeError};
use crate::parsers::{Format, SourceFormat};
use crate::pipeline::push::PushError;
use crate::record::{DeadLetter, DecodeStats, ErrorKind};

/// One record of a message transport.
#[derive(Debug, Clone)]
pub struct Message {
    /// The source it is read as; `auto` recognizes the format from the payload.
    pub source: SourceFormat,
    pub payload: Vec<u8>,
    /// Names the message in its rows' `raw_ref` and its dead letter (e.g. `otlp:r12:3`).
    pub origin: String,
    /// Set when the transport already knows the message cannot be read: it is stored as a
    /// dead letter with this reason, not parsed.
    pub refusal: Option<Refusal>,
}

/// Why a transport refused a message before parsing.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub kind: ErrorKind,
    pub reason: String,
    /// The message's whole length, when `payload` holds only its start.
    pub raw_len: usize,
}

/// What to do with a group that holds more broken messages than a request may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenBroken {
    /// Refuse the whole group, storing nothing: the sender can fix and send it again (OTLP).
    Refuse,
    /// Store it anyway: the sender cannot send again (syslog).
    Store,
}

/// What a group of messages became.
#[derive(Debug, Clone, Default)]
pub struct MessagesReceipt {
    pub messages: u64,
    /// Rows stored.
    pub rows: u64,
    /// Messages that could not be read: kept as dead letters, or counted in
    /// `dead_letters_not_kept`.
    pub refused: u64,
    /// Refused messages not kept because the day's dead-letter budget is spent.
    pub dead_letters_not_kept: u64,
    /// The first dead letters, for the answer to the sender.
    pub dead_letters: Vec<DeadLetterSummary>,
}

impl Pipeline {
    /// One of the `max_concurrent_pushes` slots for decoding a pushed body, or
    /// [`PushError::Busy`]; hold it from before decompression to the end of the append.
    pub fn try_push_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, PushError> {
        self.push_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| PushError::Busy)
    }

    /// Decode `messages` and append their rows and dead letters durably, all or nothing.
    ///
    /// With [`WhenBroken::Refuse`], more than `max_dead_letters_per_request` broken messages
    /// (a wrong source, most likely) refuse the whole group, and decoding stops as soon as that
    /// is known.
    pub async fn ingest_messages(
        &self,
        messages: Arc<Vec<Message>>,
        when_broken: WhenBroken,
    ) -> Result<MessagesReceipt, PushError> {
        if messages.is_empty() {
            return Ok(MessagesReceipt::default());
        }
        let site = self.site.clone();
        let max_record_bytes = self.config.max_record_bytes;
        let limit = self.config.max_dead_letters_per_request;
        let refuse_after = (when_broken == WhenBroken::Refuse).then_some(limit);
        let processed = chrono::Utc::now().timestamp_millis();
        let decoded = tokio::task::spawn_blocking(move || {
            decode_messages(&messages, site, processed, max_record_bytes, refuse_after)
        })
        .await
        .map_err(|e| LakeError::Failed(format!("decode task failed: {e}")))?;
        let Some(mut decoded) = decoded else {
            if let Some(m) = &self.metrics {
                m.requests_refused.inc();
            }
            return Err(PushError::TooManyRefused {
                limit,
                read_as: "their sources".into(),
            });
        };
        let refused = decoded.refused;
        let mut not_kept = 0;
        if !decoded.dead_letters.is_empty() && self.writer.dead_letter_budget_spent() {
            not_kept = decoded.dead_letters.len() as u64;
            decoded.dead_letters.clear();
        }
        let summaries: Vec<DeadLetterSummary> = decoded
            .dead_letters
            .iter()
            .take(20)
            .map(Into::into)
            .collect();
        let rows = decoded
            .batches
            .iter()
            .map(|(_, b)| b.num_rows() as u64)
            .sum();
        self.writer
            .append(decoded.batches, decoded.dead_letters, Durability::Wal)
            .await?;
        if let Some(m) = &self.metrics {
            for (format, stats) in &decoded.stats {
                m.observe_decode(format.name(), stats);
            }
            for ((source, kind), n) in &decoded.refused_by_transport {
                m.dead_letters.with_label_values(&[source, kind]).inc_by(*n);
            }
        }
        Ok(MessagesReceipt {
            messages: decoded.messages,
            rows,
            refused,
            dead_letters_not_kept: not_kept,
            dead_letters: summaries,
        })
    }
}

struct DecodedMessages {
    messages: u64,
    batches: Vec<(
        crate::schema::Table,
        datafusion::arrow::record_batch::RecordBatch,
    )>,
    dead_letters: Vec<DeadLetter>,
    stats: Vec<(Format, DecodeStats)>,
    /// Dead letters made before parsing (unrecognized, refused by the transport), per source
    /// and error kind.
    refused_by_transport: HashMap<(&'static str, &'static str), u64>,
    /// Messages that became (or held) a dead letter.
    refused: u64,
}

/// Decode every message; `None` once more than `refuse_after` are broken.
fn decode_messages(
    messages: &[Message],
    site: Arc<crate::site::Site>,
    processed: i64,
    max_record_bytes: usize,
    refuse_after: Option<usize>,
) -> Option<DecodedMessages> {
    let mut processors: HashMap<Format, RecordProcessor> = HashMap::new();
    let mut early_letters = Vec::new();
    let mut refused_by_transport: HashMap<(&'static str, &'static str), u64> = HashMap::new();
    let mut refused = 0u64;
    for message in messages {
        if refuse_after.is_some_and(|limit| refused as usize > limit) {
            return None;
        }
        let payload = message.payload.as_slice();
        let source_name = match message.source {
            SourceFormat::Named(f) => f.name(),
            SourceFormat::Auto => "auto",
        };
        let format = match (&message.refusal, message.source) {
            (Some(_), _) => None,
            (None, SourceFormat::Named(f)) => Some(f),
            (None, SourceFormat::Auto) => Format::detect(payload),
        };
        let Some(format) = format else {
            let (kind, reason, raw_len) = match &message.refusal {
                Some(r) => (r.kind, r.reason.clone(), r.raw_len),
                None if payload.iter().all(u8::is_ascii_whitespace) => (
                    ErrorKind::Empty,
                    "the message holds no record".to_string(),
                    payload.len(),
                ),
                None => (
                    ErrorKind::UnknownFormat,
                    format!(
                        "no known format ({}) matches the message; name its source",
                        Format::known_names()
                    ),
                    payload.len(),
                ),
            };
            *refused_by_transport
                .entry((source_name, kind.as_str()))
                .or_default() += 1;
            let mut letter = DeadLetter::new(
                source_name,
                message.origin.clone(),
                kind,
                reason,
                payload,
                processed,
            );
            letter.raw_len = raw_len.max(payload.len());
            early_letters.push(letter);
            refused += 1;
            continue;
        };
        let processor = processors.entry(format).or_insert_with(|| {
            RecordProcessor::new(format, site.clone(), String::new(), processed)
        });
        let before = processor.stats().total_dead_letters();
        processor.process_payload(payload, &message.origin, max_record_bytes);
        if processor.stats().total_dead_letters() > before {
            refused += 1;
        }
    }
    if refuse_after.is_some_and(|limit| refused as usize > limit) {
        return None;
    }
    let mut batches = Vec::new();
    let mut dead_letters = early_letters;
    let mut stats = Vec::new();
    for (format, mut processor) in processors {
        let decoded = processor.take();
        batches.extend(decoded.batches);
        dead_letters.extend(decoded.dead_letters);
        stats.push((format, processor.stats().clone()));
    }
    Some(DecodedMessages {
        messages: messages.len() as u64,
        batches,
        dead_letters,
        stats,
        refused_by_transport,
        refused,
    })
}
