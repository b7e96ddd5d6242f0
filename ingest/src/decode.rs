//! Bytes → normalized rows and dead letters, for one stream of one format.
//!
//! [`Decoder`] couples a [`Framer`] with a vendor [`Parser`] and the table builders. Sources feed
//! it chunks and periodically [`Decoder::take`] what it produced; [`decode_bytes`] is the pure
//! one-shot form used by tests and small inputs.
//!
//! Every record ends as rows or as a [`DeadLetter`] — never both, never neither — and the
//! [`DecodeStats`] count both, per table and per error kind. A line that holds no event (a header
//! line the parser reads for its layout) is neither, and is counted apart.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;

use crate::framing::{Frame, Framer};
use crate::parsers::{Format, Parser};
use crate::record::{DeadLetter, DecodeStats, ErrorKind, Framing, ParseError};
use crate::schema::{Table, TableBuilders};
use crate::site::Site;

/// The framer a format's streams need: its framing and its envelope keys.
pub fn framer_for(format: Format, max_record_bytes: usize) -> Framer {
    Framer::new(format.framing(), max_record_bytes).with_envelopes(format.envelope_keys())
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

/// Turns framed records of one stream into rows and dead letters.
///
/// The sequential [`Decoder`] feeds it straight from a [`Framer`]; parallel file ingest feeds it
/// [`FrameBatch`]es cut by a reader thread.
pub struct RecordProcessor {
    format: Format,
    site: Arc<Site>,
    parser: Box<dyn Parser>,
    builders: TableBuilders,
    dead_letters: Vec<DeadLetter>,
    /// `raw_ref` prefix; the record's line number is appended (`file:/x.log` → `file:/x.log:12`).
    origin: String,
    /// When set, every record's `raw_ref` is exactly `origin` (a Kafka message is one origin).
    fixed_origin: bool,
    processed_time: i64,
    stats: DecodeStats,
    raw_ref: String,
    /// Most dead letters kept between two takes; refusals beyond it are only counted, so a body
    /// of millions of broken one-byte lines cannot fill memory with dead letters.
    dead_letter_limit: usize,
    /// Refusals not kept as dead letters because of the limit.
    dead_letters_dropped: u64,
}

impl RecordProcessor {
    pub fn new(format: Format, site: Arc<Site>, origin: String, processed_time: i64) -> Self {
        Self {
            format,
            parser: format.parser(site.clone()),
            site,
            builders: TableBuilders::new(processed_time),
            dead_letters: Vec::new(),
            origin,
            fixed_origin: false,
            processed_time,
            stats: DecodeStats::default(),
            raw_ref: String::new(),
            dead_letter_limit: usize::MAX,
            dead_letters_dropped: 0,
        }
    }

    /// Whether more records were refused than dead letters were kept (see
    /// [`Decoder::with_dead_letter_limit`]).
    pub fn dead_letters_overflowed(&self) -> bool {
        self.dead_letters_dropped > 0
    }

    /// One frame: a record becomes rows or a dead letter; a rejected frame a dead letter.
    pub fn handle(&mut self, frame: Frame<'_>) {
        if let Frame::Record { bytes, line } = &frame
            && is_envelope(self.format, bytes)
        {
            self.split_envelope(bytes, *line);
            return;
        }
        self.handle_record(frame);
    }

    /// A whole envelope arrived as one record (a line of NDJSON after line framing took over):
    /// its items are framed again and handled one by one; an empty envelope holds no record.
    fn split_envelope(&mut self, bytes: &[u8], line: u64) {
        let mut framer = framer_for(self.format, bytes.len().max(1));
        let mut frames: Vec<(Vec<u8>, u64, Option<ParseError>, usize)> = Vec::new();
        let mut collect = |frame: Frame<'_>| match frame {
            Frame::Record { bytes, line: l } => frames.push((bytes.to_vec(), l, None, 0)),
            Frame::Rejected {
                bytes,
                total_len,
                line: l,
                error,
            } => frames.push((bytes.to_vec(), l, Some(error), total_len)),
        };
        framer.push(bytes, &mut collect);
        framer.finish(&mut collect);
        for (item, item_line, error, total_len) in frames {
            let line = line + item_line.saturating_sub(1);
            // Items are handled as plain records: an envelope inside an item is data.
            self.handle_record(match &error {
                None => Frame::Record { bytes: &item, line },
                Some(error) => Frame::Rejected {
                    bytes: &item,
                    total_len,
                    line,
                    error: error.clone(),
                },
            });
        }
    }

    fn handle_record(&mut self, frame: Frame<'_>) {
        use std::fmt::Write;
        self.raw_ref.clear();
        let line = match &frame {
            Frame::Record { line, .. } | Frame::Rejected { line, .. } => *line,
        };
        if self.fixed_origin {
            self.raw_ref.push_str(&self.origin);
        } else {
            let _ = write!(self.raw_ref, "{}:{line}", self.origin);
        }
        let (bytes, total_len, error) = match frame {
            Frame::Record { bytes, .. } => match self.parse_record(bytes) {
                Ok(()) => return,
                Err(error) => (bytes, bytes.len(), error),
            },
            Frame::Rejected {
                bytes,
                total_len,
                error,
                ..
            } => (bytes, total_len, error),
        };
        self.stats.records += 1;
        self.refuse(error.kind, error.detail, bytes, total_len);
    }

    /// Parse one record under the current `raw_ref` and count it; on an error nothing is
    /// counted or stored (parsers append rows only for a record they accept).
    fn parse_record(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        let before = TableCounts::of(&self.builders);
        // A line that holds no event (a VPC flow header, a Zeek directive) only sets how later
        // lines are read: a header line, not a record.
        let rows = self
            .parser
            .parse(bytes, &self.raw_ref, &mut self.builders)?;
        if rows == 0 {
            self.stats.header_lines += 1;
            return Ok(());
        }
        self.stats.records += 1;
        let after = TableCounts::of(&self.builders);
        after.add_delta(&before, &mut self.stats);
        if after.0 != before.0 {
            let types = self.builders.take_base_event_types();
            self.stats.add_base_event_types(&types);
        }
        Ok(())
    }

    /// A payload that is one JSON object, parsed as it stands: the framer's byte-by-byte scan
    /// of it cost a third of a Kafka parse worker's time on Okta messages. The parsers of JSON
    /// formats accept exactly one JSON value (`serde_json::from_slice`), so a payload they
    /// accept is the one record the framer would have cut from it. Returns false, having
    /// stored and counted nothing, for anything else (several values, an array, a broken
    /// record), which then takes the framer's path to exactly the records and dead letters it
    /// always produced. Formats with envelopes always take the framer: telling an envelope from
    /// a record would scan the message once more.
    fn parse_whole_object(&mut self, payload: &[u8], max_record_bytes: usize) -> bool {
        if self.format.framing() != Framing::Json || !self.format.envelope_keys().is_empty() {
            return false;
        }
        // The whitespace the framer skips between records (not `trim_ascii`'s form feed).
        let json_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let (Some(start), Some(end)) = (
            payload.iter().position(|b| !json_space(b)),
            payload.iter().rposition(|b| !json_space(b)),
        ) else {
            return false;
        };
        let body = &payload[start..=end];
        if body[0] != b'{' || body.len() > max_record_bytes {
            return false;
        }
        self.raw_ref.clear();
        self.raw_ref.push_str(&self.origin);
        self.parse_record(body).is_ok()
    }

    /// Record a refused record (`raw` may be a prefix of `total_len` bytes) under `raw_ref`.
    fn refuse(&mut self, kind: ErrorKind, reason: String, raw: &[u8], total_len: usize) {
        *self.stats.dead_letters.entry(kind).or_default() += 1;
        if self.dead_letters.len() >= self.dead_letter_limit {
            self.dead_letters_dropped += 1;
            return;
        }
        let mut letter = DeadLetter::new(
            self.format.name(),
            self.raw_ref.clone(),
            kind,
            reason,
            raw,
            self.processed_time,
        );
        letter.raw_len = total_len;
        self.dead_letters.push(letter);
    }

    /// Decode one self-contained payload (a Kafka message): its records are framed with the
    /// format's framing and parsed by a fresh parser (no stream state crosses payloads), and
    /// every row's `raw_ref` and every dead letter's origin is `origin`. A payload that holds no
    /// record at all becomes a dead letter of kind `empty`, so nothing vanishes silently.
    pub fn process_payload(&mut self, payload: &[u8], origin: &str, max_record_bytes: usize) {
        self.decode_payload(payload, origin, max_record_bytes, true);
    }

    /// [`Self::process_payload`]; `whole_object_first: false` always frames (the reference the
    /// whole-object path is tested against).
    fn decode_payload(
        &mut self,
        payload: &[u8],
        origin: &str,
        max_record_bytes: usize,
        whole_object_first: bool,
    ) {
        if self.format.is_stateful() {
            self.parser = self.format.parser(self.site.clone());
        }
        self.origin.clear();
        self.origin.push_str(origin);
        self.fixed_origin = true;
        self.stats.bytes += payload.len() as u64;
        // A message of header lines only (a VPC flow header) is not empty.
        let read_before = self.stats.records + self.stats.header_lines;
        if whole_object_first && self.parse_whole_object(payload, max_record_bytes) {
            return;
        }
        let mut framer = framer_for(self.format, max_record_bytes);
        framer.push(payload, &mut |frame| self.handle(frame));
        framer.finish(&mut |frame| self.handle(frame));
        if self.stats.records + self.stats.header_lines == read_before {
            self.stats.records += 1;
            self.raw_ref.clear();
            self.raw_ref.push_str(origin);
            self.refuse(
                ErrorKind::Empty,
                "the message holds no record".into(),
                payload,
                payload.len(),
            );
        }
    }

    /// Decode a batch cut from the middle of a stream: a fresh parser first sees the batch's
    /// prelude (the stream state before it, e.g. a VPC header line), then every frame in order.
    pub fn process_batch(&mut self, batch: &FrameBatch) {
        self.parser = self.format.parser(self.site.clone());
        let mut scratch = TableBuilders::new(self.processed_time);
        for state in &batch.prelude {
            let _ = self.parser.parse(state, "", &mut scratch);
        }
        for frame in &batch.frames {
            self.handle(batch.frame(frame));
        }
    }

    /// Rows buffered in the builders (not yet taken).
    pub fn pending_rows(&self) -> usize {
        self.builders.len()
    }

    /// Take the batches and dead letters produced so far.
    pub fn take(&mut self) -> Decoded {
        let batches = self.builders.finish();
        self.stats.add_decisions(&batches);
        Decoded {
            batches,
            dead_letters: std::mem::take(&mut self.dead_letters),
        }
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }
}

/// Decodes one stream (a file, a request body, a message) of one format, sequentially.
pub struct Decoder {
    framer: Framer,
    processor: RecordProcessor,
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
            framer: framer_for(format, max_record_bytes),
            processor: RecordProcessor::new(format, site, origin, processed_time),
        }
    }

    /// Keep at most `limit` dead letters between takes; refusals beyond are counted in the stats
    /// only, and [`Decoder::dead_letters_overflowed`] tells. For sources that refuse a whole
    /// input with too many broken records rather than store them.
    pub fn with_dead_letter_limit(mut self, limit: usize) -> Self {
        self.processor.dead_letter_limit = limit;
        self
    }

    /// Whether more records were refused than the dead-letter limit kept.
    pub fn dead_letters_overflowed(&self) -> bool {
        self.processor.dead_letters_overflowed()
    }

    /// Use `origin` verbatim as every record's `raw_ref` instead of appending line numbers.
    pub fn with_fixed_origin(mut self) -> Self {
        self.processor.fixed_origin = true;
        self
    }

    pub fn format(&self) -> Format {
        self.processor.format
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.processor.stats.bytes += chunk.len() as u64;
        let processor = &mut self.processor;
        self.framer
            .push(chunk, &mut |frame| processor.handle(frame));
    }

    pub fn finish(&mut self) {
        let processor = &mut self.processor;
        self.framer.finish(&mut |frame| processor.handle(frame));
    }

    /// Rows buffered in the builders (not yet taken).
    pub fn pending_rows(&self) -> usize {
        self.processor.pending_rows()
    }

    /// Take the batches and dead letters produced so far.
    pub fn take(&mut self) -> Decoded {
        self.processor.take()
    }

    pub fn stats(&self) -> &DecodeStats {
        self.processor.stats()
    }
}

/// Whether `record` is a whole envelope of `format` (`{"records": [...]}` …): a quick look for
/// an envelope key, then the framer's own reading decides.
fn is_envelope(format: Format, record: &[u8]) -> bool {
    let keys = format.envelope_keys();
    if keys.is_empty() || record.first() != Some(&b'{') {
        return false;
    }
    let head = &record[..record.len().min(4096)];
    let mentions_key = keys.iter().any(|k| {
        let quoted = format!("\"{k}\"");
        memchr::memmem::find(head, quoted.as_bytes()).is_some()
    });
    if !mentions_key {
        return false;
    }
    let mut whole_record = false;
    let mut frames = 0;
    let mut framer = framer_for(format, record.len().max(1));
    let mut look = |frame: Frame<'_>| {
        frames += 1;
        if let Frame::Record { bytes, .. } = frame {
            whole_record = bytes.len() == record.len();
        }
    };
    framer.push(record, &mut look);
    framer.finish(&mut look);
    !(frames == 1 && whole_record)
}

/// Framed records copied out of a stream so another thread can decode them.
#[derive(Debug, Default)]
pub struct FrameBatch {
    data: Vec<u8>,
    frames: Vec<BatchFrame>,
    /// Stream state a parser starting at this batch must see first (see [`crate::parsers::Parser::is_stream_state`]), oldest first.
    pub prelude: Vec<Vec<u8>>,
}

/// 32 bytes a record: a batch of short lines (VPC flow, ~100 bytes) holds tens of thousands,
/// so the rare refused frame keeps its details behind a box (unboxed, every frame was as large
/// as a refused one).
#[derive(Debug)]
enum BatchFrame {
    Record {
        range: std::ops::Range<usize>,
        line: u64,
    },
    Rejected(Box<RejectedFrame>),
}

#[derive(Debug)]
struct RejectedFrame {
    range: std::ops::Range<usize>,
    total_len: usize,
    line: u64,
    error: ParseError,
}

impl FrameBatch {
    pub fn new(prelude: Vec<Vec<u8>>) -> Self {
        Self {
            prelude,
            ..Self::default()
        }
    }

    /// An empty batch with room for `bytes` of records, so a batch cut at that size (see
    /// [`FrameBatch::has_room_for`]) never grows its byte buffer by doubling (the list of
    /// frames still grows as records come).
    pub fn with_capacity(prelude: Vec<Vec<u8>>, bytes: usize) -> Self {
        Self {
            data: Vec::with_capacity(bytes),
            frames: Vec::new(),
            prelude,
        }
    }

    /// Whether `frame` fits in `limit` bytes beside what the batch holds; an empty batch takes
    /// any frame (a record longer than `limit` travels alone).
    pub fn has_room_for(&self, frame: &Frame<'_>, limit: usize) -> bool {
        let len = match frame {
            Frame::Record { bytes, .. } | Frame::Rejected { bytes, .. } => bytes.len(),
        };
        self.data.is_empty() || self.data.len().saturating_add(len) <= limit
    }

    /// Copy a frame into the batch.
    pub fn push(&mut self, frame: Frame<'_>) {
        let start = self.data.len();
        match frame {
            Frame::Record { bytes, line } => {
                self.data.extend_from_slice(bytes);
                self.frames.push(BatchFrame::Record {
                    range: start..self.data.len(),
                    line,
                });
            }
            Frame::Rejected {
                bytes,
                total_len,
                line,
                error,
            } => {
                self.data.extend_from_slice(bytes);
                self.frames
                    .push(BatchFrame::Rejected(Box::new(RejectedFrame {
                        range: start..self.data.len(),
                        total_len,
                        line,
                        error,
                    })));
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    fn frame(&self, frame: &BatchFrame) -> Frame<'_> {
        match frame {
            BatchFrame::Record { range, line } => Frame::Record {
                bytes: &self.data[range.clone()],
                line: *line,
            },
            BatchFrame::Rejected(rejected) => Frame::Rejected {
                bytes: &self.data[rejected.range.clone()],
                total_len: rejected.total_len,
                line: rejected.line,
                error: rejected.error.clone(),
            },
        }
    }
}

/// Row counts per table, to attribute a parse's rows.
struct TableCounts([usize; Table::ALL.len()]);

impl TableCounts {
    fn of(b: &TableBuilders) -> Self {
        TableCounts(Table::ALL.map(|t| b.len_of(t)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The file reader cuts a batch before a record would take it past its size, so a batch
    /// allocated at that size never grows: a batch that crossed the limit used to double its
    /// buffer (8 MiB held for 4), seven of them in flight.
    #[test]
    fn a_batch_cut_at_its_limit_keeps_the_buffer_it_was_given() {
        let limit = 1000;
        let record = [b'x'; 90];
        let mut batch = FrameBatch::with_capacity(Vec::new(), limit);
        let capacity = batch.data.capacity();
        let mut line = 1;
        loop {
            let frame = Frame::Record {
                bytes: &record,
                line,
            };
            if !batch.has_room_for(&frame, limit) {
                break;
            }
            batch.push(frame);
            line += 1;
        }
        assert_eq!(batch.len(), 11, "11 records of 90 bytes fit in 1000");
        assert_eq!(batch.bytes(), 990);
        assert_eq!(batch.data.capacity(), capacity, "the buffer never grew");

        // An empty batch takes any record, however long: it travels alone.
        let long = vec![b'y'; limit * 3];
        let empty = FrameBatch::with_capacity(Vec::new(), limit);
        assert!(empty.has_room_for(
            &Frame::Record {
                bytes: &long,
                line: 1
            },
            limit
        ));
    }

    /// A message parsed whole (no framing) gives exactly what framing it gives: the same rows,
    /// dead letters and counts, for one object and for everything that is not one object.
    #[test]
    fn a_message_parsed_whole_equals_the_message_framed() {
        let okta = include_str!("../tests/fixtures/okta/system_log.ndjson");
        let mut lines = okta.lines();
        let (first, second) = (lines.next().unwrap(), lines.next().unwrap());
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(first).unwrap(),
        )
        .unwrap();
        let envelope = include_str!("../tests/fixtures/cloudtrail/records.json");
        let okta_payloads = [
            first.to_string(),
            format!("  {first}\r\n"),
            pretty.clone(),
            format!("{first}{second}"),
            format!("{first} {second}\n"),
            format!("{first}\n{second}\n"),
            format!("{first} trailing"),
            format!("[{first},{second}]"),
            "{\"uuid\":".to_string(),
            "{\"uuid\":\"a\nb\"}".to_string(),
            "{}".to_string(),
            "   ".to_string(),
            format!("\u{feff}{first}"),
            format!("\u{c}{first}"),
            format!("{pretty}\u{c}"),
        ];
        let cases = okta_payloads
            .iter()
            .map(|p| (Format::from_name("okta"), p.as_str()))
            .chain([(Format::from_name("cloudtrail"), envelope)]);
        let site = Arc::new(Site::default());
        for (format, payload) in cases {
            let format = format.unwrap();
            let decode = |whole_object_first| {
                let mut processor = RecordProcessor::new(format, site.clone(), String::new(), 7);
                processor.decode_payload(
                    payload.as_bytes(),
                    "kafka:t/0/1",
                    1 << 20,
                    whole_object_first,
                );
                let decoded = processor.take();
                (
                    decoded.batches,
                    decoded.dead_letters,
                    processor.stats().clone(),
                )
            };
            let (whole, framed) = (decode(true), decode(false));
            assert_eq!(whole, framed, "payload {payload:?}");
            assert!(
                !framed.0.is_empty() || !framed.1.is_empty(),
                "payload {payload:?}"
            );
        }
        // An object larger than max_record_bytes is framed, and refused as oversized.
        let mut processor =
            RecordProcessor::new(Format::from_name("okta").unwrap(), site, String::new(), 7);
        processor.process_payload(first.as_bytes(), "kafka:t/0/2", 100);
        assert_eq!(processor.take().dead_letters[0].kind, "oversized");
    }

    #[test]
    fn a_refused_frame_comes_back_with_its_details() {
        let mut batch = FrameBatch::new(Vec::new());
        batch.push(Frame::Record {
            bytes: b"first",
            line: 1,
        });
        batch.push(Frame::Rejected {
            bytes: b"partial",
            total_len: 70_000,
            line: 2,
            error: ParseError::new(ErrorKind::Oversized, "70000 bytes, past 65536"),
        });
        let frames: Vec<Frame<'_>> = batch.frames.iter().map(|f| batch.frame(f)).collect();
        assert!(matches!(
            frames[0],
            Frame::Record {
                bytes: b"first",
                line: 1
            }
        ));
        match &frames[1] {
            Frame::Rejected {
                bytes,
                total_len,
                line,
                error,
            } => {
                assert_eq!(*bytes, b"partial");
                assert_eq!((*total_len, *line), (70_000, 2));
                assert_eq!(
                    error,
                    &ParseError::new(ErrorKind::Oversized, "70000 bytes, past 65536")
                );
            }
            other => panic!("expected the refused frame, got {other:?}"),
        }
        assert!(std::mem::size_of::<BatchFrame>() <= 32);
    }
}
