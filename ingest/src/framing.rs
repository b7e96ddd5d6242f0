//! Cutting a byte stream into records, incrementally and with bounded memory.
//!
//! [`Framer::push`] takes chunks of any size (a file read, an HTTP body, a Kafka message) and
//! calls back once per record; [`Framer::finish`] flushes the tail. Two framings:
//!
//! - **Lines**: one record per `\n`-terminated line; `\r\n` is accepted; blank lines are not
//!   records.
//! - **Json**: detected from the first bytes. A leading `[` is one array of objects (what Okta's
//!   `/api/v1/logs` returns; several arrays back to back are accepted). Otherwise top-level values
//!   are read one after another; if the first value sits on one line the stream is NDJSON and
//!   the framer switches to line framing, so a broken line can never swallow the next one.
//!   Concatenated pretty-printed objects are split by bracket depth.
//!
//! - **Envelopes**: formats that arrive wrapped (`{"records": [...]}` from Azure diagnostic
//!   exports, `{"Records": [...]}` from CloudTrail, `{"value": [...]}` from Microsoft Graph) name
//!   their envelope keys ([`Framer::with_envelopes`]). When a top-level object's member with such
//!   a key holds an array, each element of the array is a record and the rest of the envelope
//!   is skipped, so a 500 MB `PT1H.json` blob is streamed item by item, never held whole.
//!
//! Invariants:
//! - memory per framer is bounded by `max_record_bytes` (+ one chunk): a longer record is cut off,
//!   counted to its end, and reported as [`ErrorKind::Oversized`] with its first
//!   [`DEAD_LETTER_PREFIX`] bytes;
//! - every byte of input belongs to exactly one record, one rejected frame, or inter-record
//!   whitespace/separators — nothing is skipped silently;
//! - bracket depth is a counter, never recursion, so hostile nesting cannot overflow the stack;
//! - a record that ends in the chunk it began in is handed out as a slice of that chunk, never
//!   copied; only a record cut by a chunk boundary or refused is copied (up to the limit).

use crate::record::{DEAD_LETTER_PREFIX, ErrorKind, Framing, ParseError};

/// One unit the framer hands out.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A complete record, and the 1-based line it starts on.
    Record { bytes: &'a [u8], line: u64 },
    /// Bytes that cannot be a record, with why; `bytes` may be a prefix of `total_len`.
    Rejected {
        bytes: &'a [u8],
        total_len: usize,
        line: u64,
        error: ParseError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Lines,
    JsonDetect,
    JsonArray,
    JsonValues,
}

/// Where the JSON scanner is relative to an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Envelope {
    /// Not inside an envelope.
    Off,
    /// Inside the envelope's array: between or inside item records.
    Items,
    /// After the array: skipping the rest of the envelope object, at this nesting depth.
    Tail(usize),
}

/// Longest envelope key the scanner remembers.
const MAX_KEY: usize = 16;

#[derive(Debug)]
pub struct Framer {
    mode: Mode,
    envelope_keys: &'static [&'static str],
    envelope: Envelope,
    /// The last string read at depth 1 of a top-level object (a candidate envelope key).
    key: Vec<u8>,
    capturing_key: bool,
    /// A `"<envelope key>":` was just read; an `[` next opens the envelope.
    envelope_pending: bool,
    tail_in_string: bool,
    tail_escape: bool,
    max_record: usize,
    buf: Vec<u8>,
    /// While a chunk is scanned by [`Framer::push_json`]: the current record began at this
    /// offset of the chunk and its bytes are not copied into `buf` (yet). A record that ends in
    /// the chunk it began in is handed out as a slice of the chunk, never copied; `buf` takes
    /// its bytes only when the chunk ends first or the record is rejected.
    span_start: Option<usize>,
    /// Length of the current record, including bytes not kept because it is oversized.
    record_len: usize,
    record_line: u64,
    /// Current line number (1-based) at the read position.
    line: u64,
    // JSON scanner state.
    depth: usize,
    in_string: bool,
    escape: bool,
    garbage: bool,
    in_array: bool,
    record_has_newline: bool,
    records_seen: u64,
}

impl Framer {
    pub fn new(framing: Framing, max_record_bytes: usize) -> Self {
        Self {
            mode: match framing {
                Framing::Lines => Mode::Lines,
                Framing::Json => Mode::JsonDetect,
            },
            max_record: max_record_bytes.max(1),
            envelope_keys: &[],
            envelope: Envelope::Off,
            key: Vec::new(),
            capturing_key: false,
            envelope_pending: false,
            tail_in_string: false,
            tail_escape: false,
            buf: Vec::new(),
            span_start: None,
            record_len: 0,
            record_line: 1,
            line: 1,
            depth: 0,
            in_string: false,
            escape: false,
            garbage: false,
            in_array: false,
            record_has_newline: false,
            records_seen: 0,
        }
    }

    /// Top-level object keys whose array value holds the records (JSON framing only).
    pub fn with_envelopes(mut self, keys: &'static [&'static str]) -> Self {
        self.envelope_keys = keys;
        self
    }

    /// Feed the next chunk; `emit` is called for every complete frame.
    pub fn push(&mut self, chunk: &[u8], emit: &mut dyn FnMut(Frame<'_>)) {
        let mut pos = 0;
        while pos < chunk.len() {
            pos += match self.mode {
                Mode::Lines => self.push_lines(&chunk[pos..], emit),
                _ => self.push_json(&chunk[pos..], emit),
            };
        }
    }

    /// End of input: flush a final unterminated line, or report a record cut short.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Frame<'_>)) {
        match self.mode {
            Mode::Lines => {
                if self.record_len > 0 {
                    self.emit_line(emit);
                }
            }
            _ => {
                if self.garbage {
                    self.reject(ErrorKind::InvalidJson, "not a JSON object".into(), emit);
                } else if self.depth == 0 && self.envelope != Envelope::Off {
                    self.reject(
                        ErrorKind::Truncated,
                        "input ended inside a records envelope".into(),
                        emit,
                    );
                    self.envelope = Envelope::Off;
                } else if self.depth > 0 || self.in_string {
                    self.reject(
                        ErrorKind::Truncated,
                        "input ended inside a JSON record".into(),
                        emit,
                    );
                }
            }
        }
        self.reset_record();
    }

    fn reset_record(&mut self) {
        self.buf.clear();
        self.span_start = None;
        self.record_len = 0;
        self.depth = 0;
        self.in_string = false;
        self.escape = false;
        self.garbage = false;
        self.record_has_newline = false;
        self.capturing_key = false;
        self.envelope_pending = false;
    }

    /// A record (or garbage) begins at offset `at` of the chunk being scanned, on this line.
    fn begin_record(&mut self, at: usize) {
        self.reset_record();
        self.record_line = self.line;
        self.span_start = Some(at);
    }

    fn keep(&mut self, bytes: &[u8]) {
        if self.span_start.is_some() {
            // The bytes stay in the chunk (see `span_start`); only their count moves on.
            self.record_len += bytes.len();
            return;
        }
        let room = self.max_record.saturating_sub(self.buf.len());
        let take = room.min(bytes.len());
        self.buf.extend_from_slice(&bytes[..take]);
        self.record_len += bytes.len();
    }

    /// Copy the current record's bytes still in the chunk, up to offset `end`, into `buf`
    /// (at most `max_record` of them; `record_len` already counts them all).
    fn materialize(&mut self, chunk: &[u8], end: usize) {
        if let Some(start) = self.span_start.take() {
            let bytes = &chunk[start..end];
            let take = self
                .max_record
                .saturating_sub(self.buf.len())
                .min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
        }
    }

    fn oversized(&self) -> bool {
        self.record_len > self.max_record
    }

    fn reject(&mut self, kind: ErrorKind, detail: String, emit: &mut dyn FnMut(Frame<'_>)) {
        let keep = self.buf.len().min(DEAD_LETTER_PREFIX);
        emit(Frame::Rejected {
            bytes: &self.buf[..keep],
            total_len: self.record_len,
            line: self.record_line,
            error: ParseError::new(kind, detail),
        });
    }

    fn oversized_error(&self) -> String {
        format!(
            "record of {} bytes exceeds max_record_bytes ({})",
            self.record_len, self.max_record
        )
    }

    // --- line framing -------------------------------------------------------------------------

    fn push_lines(&mut self, chunk: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> usize {
        let mut pos = 0;
        while pos < chunk.len() {
            match memchr::memchr(b'\n', &chunk[pos..]) {
                Some(offset) => {
                    let line = &chunk[pos..pos + offset];
                    if self.record_len == 0 {
                        // Whole line inside this chunk: hand it out without copying.
                        self.record_line = self.line;
                        if line.len() > self.max_record {
                            self.keep(line);
                            self.reject(ErrorKind::Oversized, self.oversized_error(), emit);
                        } else {
                            let line = strip_cr(line);
                            if !is_blank(line) {
                                emit(Frame::Record {
                                    bytes: line,
                                    line: self.record_line,
                                });
                            }
                        }
                        self.reset_record();
                    } else {
                        self.keep(line);
                        self.emit_line(emit);
                        self.reset_record();
                    }
                    self.line += 1;
                    pos += offset + 1;
                }
                None => {
                    if self.record_len == 0 {
                        self.record_line = self.line;
                    }
                    self.keep(&chunk[pos..]);
                    pos = chunk.len();
                }
            }
        }
        chunk.len()
    }

    fn emit_line(&mut self, emit: &mut dyn FnMut(Frame<'_>)) {
        if self.oversized() {
            self.reject(ErrorKind::Oversized, self.oversized_error(), emit);
        } else {
            let line = strip_cr(&self.buf);
            if !is_blank(line) {
                emit(Frame::Record {
                    bytes: line,
                    line: self.record_line,
                });
            }
        }
    }

    // --- JSON framing -------------------------------------------------------------------------

    /// Consumes bytes until the chunk ends or the mode switches to lines; returns bytes used.
    fn push_json(&mut self, chunk: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> usize {
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            i += 1;
            if let Envelope::Tail(depth) = self.envelope {
                self.skip_envelope_tail(b, depth);
                continue;
            }
            let in_items = self.envelope == Envelope::Items;
            if self.depth == 0 && !self.garbage && in_items {
                // Between the records of an envelope's array.
                match b {
                    b'\n' => self.line += 1,
                    b' ' | b'\t' | b'\r' | b',' => {}
                    b']' => self.envelope = Envelope::Tail(1),
                    b'{' => {
                        self.begin_record(i - 1);
                        self.keep(&[b]);
                        self.depth = 1;
                    }
                    _ => {
                        self.begin_record(i - 1);
                        self.garbage = true;
                        self.keep(&[b]);
                    }
                }
                continue;
            }
            if self.depth == 0 && !self.garbage {
                // Between records.
                match b {
                    b'\n' => self.line += 1,
                    b' ' | b'\t' | b'\r' => {}
                    // UTF-8 byte order mark.
                    0xEF | 0xBB | 0xBF
                        if self.records_seen == 0 && self.mode == Mode::JsonDetect => {}
                    b'[' if self.mode == Mode::JsonDetect
                        || (self.mode == Mode::JsonArray && !self.in_array) =>
                    {
                        self.mode = Mode::JsonArray;
                        self.in_array = true;
                    }
                    b',' if self.in_array => {}
                    b']' if self.in_array => self.in_array = false,
                    b'{' | b'[' => {
                        if self.mode == Mode::JsonDetect {
                            self.mode = Mode::JsonValues;
                        }
                        self.begin_record(i - 1);
                        self.keep(&[b]);
                        self.depth = 1;
                    }
                    _ => {
                        self.begin_record(i - 1);
                        self.garbage = true;
                        self.keep(&[b]);
                    }
                }
                continue;
            }
            if self.garbage {
                let ends_line = b == b'\n';
                let ends_element = (self.in_array || in_items) && (b == b',' || b == b']');
                if ends_line || ends_element {
                    self.materialize(chunk, i - 1);
                    self.reject(ErrorKind::InvalidJson, "not a JSON object".into(), emit);
                    self.reset_record();
                    if ends_line {
                        self.line += 1;
                    }
                    if b == b']' {
                        if in_items {
                            self.envelope = Envelope::Tail(1);
                        } else {
                            self.in_array = false;
                        }
                    }
                } else {
                    self.keep(&[b]);
                }
                continue;
            }
            // Inside a record.
            let watch_keys = self.depth == 1
                && !self.envelope_keys.is_empty()
                && self.envelope == Envelope::Off
                && !self.in_array;
            // Fast path: the bytes up to the next one the state machine acts on are kept in one
            // copy (a string's text, or the numbers and punctuation between strings).
            if !self.escape && !self.capturing_key && !watch_keys {
                let rest = &chunk[i - 1..];
                let plain = if self.in_string {
                    memchr::memchr3(b'"', b'\\', b'\n', rest)
                } else {
                    rest.iter()
                        .position(|&c| matches!(c, b'"' | b'{' | b'}' | b'[' | b']' | b'\n'))
                }
                .unwrap_or(rest.len());
                if plain > 0 {
                    self.keep(&rest[..plain]);
                    i += plain - 1;
                    continue;
                }
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    continue_key_capture(self, watch_keys);
                } else if b == b'\n' {
                    // JSON strings cannot hold a raw newline: the record was cut short here.
                    let detail = format!(
                        "record starting on line {} ends inside a string",
                        self.record_line
                    );
                    self.materialize(chunk, i - 1);
                    self.reject(ErrorKind::Truncated, detail, emit);
                    self.reset_record();
                    self.line += 1;
                    continue;
                }
                if self.capturing_key && self.key.len() <= MAX_KEY {
                    self.key.push(b);
                }
                self.keep(&[b]);
                continue;
            }
            if watch_keys && !b.is_ascii_whitespace() {
                let pending = std::mem::take(&mut self.envelope_pending);
                match b {
                    b'"' => {
                        self.key.clear();
                        self.capturing_key = true;
                    }
                    b':' => {
                        self.envelope_pending = self
                            .envelope_keys
                            .iter()
                            .any(|k| k.as_bytes() == self.key.as_slice());
                    }
                    b'[' if pending => {
                        // The envelope's array: its elements are the records; the envelope's
                        // own members are not kept.
                        self.reset_record();
                        self.envelope = Envelope::Items;
                        continue;
                    }
                    _ => {}
                }
            }
            self.keep(&[b]);
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.complete_json_record(chunk, i, emit);
                        if self.mode == Mode::Lines {
                            return i;
                        }
                    }
                }
                b'\n' => {
                    self.line += 1;
                    self.record_has_newline = true;
                }
                _ => {}
            }
        }
        // The chunk ends inside a record: its bytes so far move to `buf`.
        self.materialize(chunk, chunk.len());
        chunk.len()
    }

    /// Skip the members after an envelope's array, up to the envelope's closing brace.
    fn skip_envelope_tail(&mut self, b: u8, depth: usize) {
        if b == b'\n' {
            self.line += 1;
        }
        if self.tail_in_string {
            if self.tail_escape {
                self.tail_escape = false;
            } else if b == b'\\' {
                self.tail_escape = true;
            } else if b == b'"' {
                self.tail_in_string = false;
            }
            return;
        }
        self.envelope = match b {
            b'"' => {
                self.tail_in_string = true;
                Envelope::Tail(depth)
            }
            b'{' | b'[' => Envelope::Tail(depth + 1),
            b'}' | b']' if depth == 1 => {
                self.records_seen += 1;
                Envelope::Off
            }
            b'}' | b']' => Envelope::Tail(depth - 1),
            _ => Envelope::Tail(depth),
        };
    }

    /// The record ends at offset `end` of `chunk` (exclusive).
    fn complete_json_record(&mut self, chunk: &[u8], end: usize, emit: &mut dyn FnMut(Frame<'_>)) {
        if self.oversized() {
            self.materialize(chunk, end);
            self.reject(ErrorKind::Oversized, self.oversized_error(), emit);
        } else {
            let bytes = match self.span_start {
                Some(start) => &chunk[start..end],
                None => &self.buf[..],
            };
            emit(Frame::Record {
                bytes,
                line: self.record_line,
            });
        }
        let single_line = !self.record_has_newline && self.envelope == Envelope::Off;
        self.records_seen += 1;
        self.reset_record();
        // The first value sat on one line: NDJSON. Line framing from here on.
        if self.mode == Mode::JsonValues && self.records_seen == 1 && single_line {
            self.mode = Mode::Lines;
        }
    }
}

/// A string at depth 1 just closed: it is the candidate envelope key if we were capturing one.
fn continue_key_capture(framer: &mut Framer, watch_keys: bool) {
    if !(watch_keys && framer.capturing_key) {
        framer.key.clear();
    }
    framer.capturing_key = false;
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Out {
        Rec(String, u64),
        Rej(ErrorKind, usize, u64),
    }

    fn frame_chunks(framing: Framing, max: usize, chunks: &[&[u8]]) -> Vec<Out> {
        envelope_chunks(framing, &[], max, chunks)
    }

    fn envelope_chunks(
        framing: Framing,
        keys: &'static [&'static str],
        max: usize,
        chunks: &[&[u8]],
    ) -> Vec<Out> {
        let mut framer = Framer::new(framing, max).with_envelopes(keys);
        let mut out = Vec::new();
        let mut emit = |f: Frame<'_>| match f {
            Frame::Record { bytes, line } => {
                out.push(Out::Rec(String::from_utf8_lossy(bytes).into(), line))
            }
            Frame::Rejected {
                total_len,
                line,
                error,
                ..
            } => out.push(Out::Rej(error.kind, total_len, line)),
        };
        for c in chunks {
            framer.push(c, &mut emit);
        }
        framer.finish(&mut emit);
        out
    }

    fn frame(framing: Framing, input: &str) -> Vec<Out> {
        frame_chunks(framing, 1 << 20, &[input.as_bytes()])
    }

    #[test]
    fn lines_skip_blanks_and_keep_line_numbers() {
        let out = frame(Framing::Lines, "a\r\n\n  \nb\nc");
        assert_eq!(
            out,
            vec![
                Out::Rec("a".into(), 1),
                Out::Rec("b".into(), 4),
                Out::Rec("c".into(), 5)
            ]
        );
    }

    #[test]
    fn lines_across_chunks() {
        let out = frame_chunks(Framing::Lines, 100, &[b"ab", b"c\nd", b"e\n"]);
        assert_eq!(
            out,
            vec![Out::Rec("abc".into(), 1), Out::Rec("de".into(), 2)]
        );
    }

    #[test]
    fn oversized_line_is_rejected_and_the_next_survives() {
        let long = "x".repeat(50);
        let input = format!("{long}\nok\n");
        let out = frame_chunks(
            Framing::Lines,
            10,
            &[&input.as_bytes()[..20], &input.as_bytes()[20..]],
        );
        assert_eq!(
            out,
            vec![
                Out::Rej(ErrorKind::Oversized, 50, 1),
                Out::Rec("ok".into(), 2)
            ]
        );
    }

    #[test]
    fn json_array() {
        let out = frame(Framing::Json, "[\n {\"a\":\"]\"},\n {\"b\":[1,2]}\n]\n");
        assert_eq!(
            out,
            vec![
                Out::Rec("{\"a\":\"]\"}".into(), 2),
                Out::Rec("{\"b\":[1,2]}".into(), 3)
            ]
        );
    }

    #[test]
    fn ndjson_switches_to_lines_so_a_broken_line_is_isolated() {
        let out = frame(Framing::Json, "{\"a\":1}\n{\"b\":\n{\"c\":3}\n");
        assert_eq!(
            out,
            vec![
                Out::Rec("{\"a\":1}".into(), 1),
                Out::Rec("{\"b\":".into(), 2),
                Out::Rec("{\"c\":3}".into(), 3)
            ]
        );
    }

    #[test]
    fn concatenated_pretty_objects() {
        let out = frame(Framing::Json, "{\n \"a\": {\"x\": 1}\n}\n{\n \"b\": 2\n}");
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[1], Out::Rec(s, 4) if s.contains("\"b\"")));
    }

    #[test]
    fn garbage_and_truncation_in_json() {
        let out = frame(Framing::Json, "{\n\"a\": \"unterminated\n}\n{\"b\":1}");
        assert!(matches!(out[0], Out::Rej(ErrorKind::Truncated, _, 1)));
        assert!(matches!(out[1], Out::Rej(ErrorKind::InvalidJson, _, 3)));
        assert_eq!(out[2], Out::Rec("{\"b\":1}".into(), 4));
        let out = frame(Framing::Json, "\u{1}\u{2}binary\n{\"a\":1}");
        assert_eq!(out[0], Out::Rej(ErrorKind::InvalidJson, 8, 1));
        assert_eq!(out[1], Out::Rec("{\"a\":1}".into(), 2));
        let out = frame(Framing::Json, "[{\"a\":1}, 42, {\"b\":2}]");
        assert_eq!(out[1], Out::Rej(ErrorKind::InvalidJson, 2, 1));
        assert_eq!(out.len(), 3);
        let out = frame(Framing::Json, "{\"a\": {\"b\": 1}");
        assert_eq!(out, vec![Out::Rej(ErrorKind::Truncated, 14, 1)]);
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let deep = "[".repeat(100_000);
        let out = frame(Framing::Json, &format!("{{\"a\":{deep}"));
        assert!(matches!(out[0], Out::Rej(ErrorKind::Truncated, ..)));
    }

    const KEYS: &[&str] = &["records", "value"];

    #[test]
    fn envelope_items_are_records_and_the_rest_is_skipped() {
        let input = "{\"@odata\": \"x\", \"value\": [\n {\"a\": \"]}\"},\n {\"b\": [1, {\"c\": 2}]}\n], \"next\": {\"d\": \"}\"}}\n{\"records\":[{\"e\":1}]}\n";
        let want = vec![
            Out::Rec("{\"a\": \"]}\"}".into(), 2),
            Out::Rec("{\"b\": [1, {\"c\": 2}]}".into(), 3),
            Out::Rec("{\"e\":1}".into(), 5),
        ];
        assert_eq!(
            envelope_chunks(Framing::Json, KEYS, 1 << 20, &[input.as_bytes()]),
            want
        );
        // Byte by byte: state survives every chunk boundary.
        let bytes: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
        assert_eq!(envelope_chunks(Framing::Json, KEYS, 1 << 20, &bytes), want);
    }

    #[test]
    fn envelope_keys_only_count_at_the_top_level() {
        // A nested "records" array and a string value "records" are ordinary data.
        let input = "{\"x\": {\"records\": [1]}, \"y\": \"records\"}\n{\"records\": 5}\n";
        let out = envelope_chunks(Framing::Json, KEYS, 1 << 20, &[input.as_bytes()]);
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], Out::Rec(r, 1) if r.starts_with("{\"x\"")));
        assert!(matches!(&out[1], Out::Rec(r, 2) if r == "{\"records\": 5}"));
    }

    #[test]
    fn envelope_garbage_oversize_and_truncation() {
        let big = format!("{{\"pad\":\"{}\"}}", "z".repeat(200));
        let input = format!("{{\"records\":[{{\"a\":1}}, 7, {big}, {{\"b\":2}}");
        let out = envelope_chunks(Framing::Json, KEYS, 100, &[input.as_bytes()]);
        assert_eq!(out[0], Out::Rec("{\"a\":1}".into(), 1));
        assert_eq!(out[1], Out::Rej(ErrorKind::InvalidJson, 1, 1));
        assert_eq!(out[2], Out::Rej(ErrorKind::Oversized, big.len(), 1));
        assert_eq!(out[3], Out::Rec("{\"b\":2}".into(), 1));
        assert!(
            matches!(out[4], Out::Rej(ErrorKind::Truncated, ..)),
            "{out:?}"
        );
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn an_envelope_larger_than_the_record_limit_streams() {
        let item = "{\"k\":\"0123456789\"}";
        let items: Vec<&str> = std::iter::repeat_n(item, 10_000).collect();
        let input = format!("{{\"records\": [{}]}}", items.join(","));
        let out = envelope_chunks(Framing::Json, KEYS, 64, &[input.as_bytes()]);
        assert_eq!(out.len(), 10_000);
        assert!(out.iter().all(|o| *o == Out::Rec(item.into(), 1)));
    }

    /// The fast path copies spans of plain bytes at once: every input must frame the same at
    /// every chunk size (and with and without envelopes).
    #[test]
    fn spans_frame_alike_at_every_chunk_size() {
        let inputs = [
            "{\"a\": \"x\\\"}{[\\\\\", \"b\": [1, 2.5e3, {\"c\": null}], \"d\": true}\n{\"e\":\"é ünïcode\"}\n",
            "[{\"a\":1},\n {\"b\":\"],[\"},\n 7, {\"c\": {\"d\": [\"}\"]}}]",
            "{\"records\": [{\"a\": \"x\"}, {\"b\": \"\\\\\"}], \"next\": \"}\"}\n{\"value\": 3}",
            "{\"pad\": \"0123456789012345678901234567890123456789\", \"k\": 1}\n{\"short\": 2}\n",
            "{\"a\": \"cut\n{\"b\": 1}\n{\"c\": [1, 2\n",
            "  \u{feff}{\"bom\": 1}  {\"x\": \"y\"}   garbage\n{\"z\": \"last\"}",
        ];
        for keys in [&[][..], KEYS] {
            for input in inputs {
                for max in [16, 1 << 20] {
                    let bytes = input.as_bytes();
                    let single: Vec<&[u8]> = bytes.chunks(1).collect();
                    let want = envelope_chunks(Framing::Json, keys, max, &single);
                    for size in [2, 3, 5, 8, 13, bytes.len()] {
                        let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
                        let got = envelope_chunks(Framing::Json, keys, max, &chunks);
                        assert_eq!(got, want, "input {input:?}, chunk size {size}, limit {max}");
                    }
                }
            }
        }
    }

    /// What the fast path must not swallow: a raw newline inside a string cuts the record, an
    /// escaped quote does not end the string, brackets inside strings do not nest.
    #[test]
    fn spans_stop_at_newlines_escapes_and_structure() {
        let input =
            "{\"a\": \"one \\\" [two}\",\n \"b\": {\"c\": [1]}}\n{\"d\": \"cut\n{\"e\": 2}\n";
        let out = frame(Framing::Json, input);
        assert_eq!(
            out,
            vec![
                Out::Rec(
                    "{\"a\": \"one \\\" [two}\",\n \"b\": {\"c\": [1]}}".into(),
                    1
                ),
                Out::Rej(ErrorKind::Truncated, 10, 3),
                Out::Rec("{\"e\": 2}".into(), 4),
            ]
        );
    }
}
