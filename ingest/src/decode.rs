//! Bytes → normalized rows and dead letters, for one stream of one format.
//!
//! [`Decoder`] couples a [`Framer`] with a vendor [`Parser`] and the table builders. Sources feed
//! it chunks and periodically [`Decoder::take`] what it produced; [`decode_bytes`] is the pure
//! one-shot form used by tests and small inputs.
//!
//! Every record ends as rows or as a [`DeadLetter`] — never both, never neither — and the
//! [`DecodeStats`] count both, per table and per error kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::framing::{Frame, Framer};
use crate::parsers::{ErrorKind, Format, Parser};
use crate::schema::{Table, TableBuilders};
use crate::site::Site;

/// A record that could not become rows, kept with everything needed to understand and replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When ztlens refused it (epoch ms).
    pub time: i64,
    /// Format the record was parsed as.
    pub source: String,
    /// Where it came from (`file:<path>:<line>`, `http:<request>:<line>`, `kafka:<t>/<p>/<o>`).
    pub origin: String,
    /// Error kind (bounded set).
    pub kind: String,
    /// Why it was refused.
    pub reason: String,
    /// The raw bytes (possibly only a prefix, see `raw_len`).
    #[serde(with = "raw_bytes")]
    pub raw: Vec<u8>,
    /// Length of the original record; larger than `raw.len()` when only a prefix is kept.
    pub raw_len: usize,
}

/// Raw bytes are stored as UTF-8 text when they are text, otherwise base64 in an object.
mod raw_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(String),
        Base64 { base64: String },
    }

    pub fn serialize<S: Serializer>(raw: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(raw) {
            Ok(text) => Stored::Text(text.to_string()).serialize(s),
            Err(_) => Stored::Base64 {
                base64: crate::base64::encode(raw),
            }
            .serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Stored::deserialize(d)? {
            Stored::Text(t) => Ok(t.into_bytes()),
            Stored::Base64 { base64 } => {
                crate::base64::decode(&base64).map_err(serde::de::Error::custom)
            }
        }
    }
}

/// Counts for one decode run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecodeStats {
    /// Records framed (rows + dead letters + header lines).
    pub records: u64,
    /// Rows produced per table.
    pub rows: BTreeMap<Table, u64>,
    /// Dead letters per error kind.
    pub dead_letters: BTreeMap<ErrorKind, u64>,
    /// Input bytes consumed.
    pub bytes: u64,
}

impl DecodeStats {
    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }

    pub fn total_dead_letters(&self) -> u64 {
        self.dead_letters.values().sum()
    }

    pub fn merge(&mut self, other: &DecodeStats) {
        self.records += other.records;
        self.bytes += other.bytes;
        for (t, n) in &other.rows {
            *self.rows.entry(*t).or_default() += n;
        }
        for (k, n) in &other.dead_letters {
            *self.dead_letters.entry(*k).or_default() += n;
        }
    }
}

/// What a decoder produced since the last take.
#[derive(Debug, Default)]
pub struct Decoded {
    pub batches: Vec<(Table, RecordBatch)>,
    pub dead_letters: Vec<DeadLetter>,
}

impl Decoded {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|(_, b)| b.num_rows()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty() && self.dead_letters.is_empty()
    }
}

/// Decodes one stream (a file, a request body, a message) of one format.
pub struct Decoder {
    format: Format,
    framer: Framer,
    parser: Box<dyn Parser>,
    builders: TableBuilders,
    dead_letters: Vec<DeadLetter>,
    /// `raw_ref` prefix; the record's line number is appended (`file:/x.log` → `file:/x.log:12`).
    origin: String,
    /// When set, every record's `raw_ref` is exactly this (a Kafka message is one origin).
    fixed_origin: bool,
    processed_time: i64,
    stats: DecodeStats,
}

impl Decoder {
    pub fn new(
        format: Format,
        site: Arc<Site>,
        origin: String,
        processed_time: i64,
        max_record_bytes: usize,
    ) -> Self {
        Self {
            format,
            framer: Framer::new(format.framing(), max_record_bytes),
            parser: format.parser(site),
            builders: TableBuilders::new(processed_time),
            dead_letters: Vec::new(),
            origin,
            fixed_origin: false,
            processed_time,
            stats: DecodeStats::default(),
        }
    }

    /// Use `origin` verbatim as every record's `raw_ref` instead of appending line numbers.
    pub fn with_fixed_origin(mut self) -> Self {
        self.fixed_origin = true;
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.stats.bytes += chunk.len() as u64;
        let Self {
            framer,
            parser,
            builders,
            dead_letters,
            origin,
            fixed_origin,
            processed_time,
            stats,
            format,
        } = self;
        let mut raw_ref = String::new();
        let mut emit = |frame: Frame<'_>| {
            handle_frame(
                frame,
                *format,
                origin,
                *fixed_origin,
                &mut raw_ref,
                parser.as_mut(),
                builders,
                dead_letters,
                *processed_time,
                stats,
            )
        };
        framer.push(chunk, &mut emit);
    }

    pub fn finish(&mut self) {
        let Self {
            framer,
            parser,
            builders,
            dead_letters,
            origin,
            fixed_origin,
            processed_time,
            stats,
            format,
        } = self;
        let mut raw_ref = String::new();
        let mut emit = |frame: Frame<'_>| {
            handle_frame(
                frame,
                *format,
                origin,
                *fixed_origin,
                &mut raw_ref,
                parser.as_mut(),
                builders,
                dead_letters,
                *processed_time,
                stats,
            )
        };
        framer.finish(&mut emit);
    }

    /// Rows buffered in the builders (not yet taken).
    pub fn pending_rows(&self) -> usize {
        self.builders.len()
    }

    /// Take the batches and dead letters produced so far.
    pub fn take(&mut self) -> Decoded {
        Decoded {
            batches: self.builders.finish(),
            dead_letters: std::mem::take(&mut self.dead_letters),
        }
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }
}

#[allow(clippy::too_many_arguments)]
fn handle_frame(
    frame: Frame<'_>,
    format: Format,
    origin: &str,
    fixed_origin: bool,
    raw_ref: &mut String,
    parser: &mut dyn Parser,
    builders: &mut TableBuilders,
    dead_letters: &mut Vec<DeadLetter>,
    processed_time: i64,
    stats: &mut DecodeStats,
) {
    use std::fmt::Write;
    stats.records += 1;
    raw_ref.clear();
    let line = match &frame {
        Frame::Record { line, .. } | Frame::Rejected { line, .. } => *line,
    };
    if fixed_origin {
        raw_ref.push_str(origin);
    } else {
        let _ = write!(raw_ref, "{origin}:{line}");
    }
    let (bytes, total_len, error) = match frame {
        Frame::Record { bytes, .. } => {
            let before = TableCounts::of(builders);
            match parser.parse(bytes, raw_ref, builders) {
                Ok(_) => {
                    TableCounts::of(builders).add_delta(&before, stats);
                    return;
                }
                Err(error) => (bytes, bytes.len(), error),
            }
        }
        Frame::Rejected {
            bytes,
            total_len,
            error,
            ..
        } => (bytes, total_len, error),
    };
    *stats.dead_letters.entry(error.kind).or_default() += 1;
    let keep = bytes.len().min(crate::framing::DEAD_LETTER_PREFIX);
    dead_letters.push(DeadLetter {
        time: processed_time,
        source: format.name().to_string(),
        origin: raw_ref.clone(),
        kind: error.kind.as_str().to_string(),
        reason: error.detail,
        raw: bytes[..keep].to_vec(),
        raw_len: total_len,
    });
}

/// Row counts per table, to attribute a parse's rows.
struct TableCounts([usize; 6]);

impl TableCounts {
    fn of(b: &TableBuilders) -> Self {
        TableCounts([
            b.authentication.len(),
            b.network_activity.len(),
            b.http_activity.len(),
            b.device_state.len(),
            b.detection_finding.len(),
            b.account_change.len(),
        ])
    }

    fn add_delta(&self, before: &TableCounts, stats: &mut DecodeStats) {
        for (i, table) in Table::ALL.iter().enumerate() {
            let delta = self.0[i] - before.0[i];
            if delta > 0 {
                *stats.rows.entry(*table).or_default() += delta as u64;
            }
        }
    }
}

/// One-shot decode of a whole input. Pure apart from reading the site config.
pub fn decode_bytes(
    format: Format,
    site: Arc<Site>,
    input: &[u8],
    origin: &str,
    processed_time: i64,
    max_record_bytes: usize,
) -> (Decoded, DecodeStats) {
    let mut decoder = Decoder::new(
        format,
        site,
        origin.to_string(),
        processed_time,
        max_record_bytes,
    );
    decoder.push(input);
    decoder.finish();
    let decoded = decoder.take();
    (decoded, decoder.stats().clone())
}
