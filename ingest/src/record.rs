//! The vocabulary every ingest stage shares: what a record's stream looks like ([`Framing`]),
//! why a record was refused ([`ErrorKind`], [`ParseError`]), the [`DeadLetter`] that keeps a
//! refused record, and the [`DecodeStats`] that count rows and refusals.
//!
//! This module sits at the bottom of the crate: it imports only [`crate::schema`] (for the
//! table a row count belongs to) and the crate's base64 helper. Framing, parsers, decode, the lake
//! and every source speak these types, so none of them needs to import another for them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::{MAX_TALLIED_EVENT_TYPES, Table};

/// How much of a refused record's bytes a dead letter keeps.
pub const DEAD_LETTER_PREFIX: usize = 64 * 1024;

/// Why a record was refused. Bounded: used as a metric label and in dead letters. Every kind is
/// a broken record: an event of a known source that no class maps is a `base_event` row, not a
/// refusal (dead letters written before that change may still say `unsupported_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The record is not valid UTF-8 text.
    InvalidUtf8,
    /// The record is not valid JSON, or not the JSON shape of the format.
    InvalidJson,
    /// A delimited record has a field count the format does not allow.
    FieldCount,
    /// A field has a value the format does not allow.
    InvalidField,
    /// A required field is missing.
    MissingField,
    /// The record is larger than `max_record_bytes`.
    Oversized,
    /// The record ended before its structure was complete.
    Truncated,
    /// A message or line holds no record at all.
    Empty,
    /// No known format matches the record (format detection).
    UnknownFormat,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidUtf8,
        ErrorKind::InvalidJson,
        ErrorKind::FieldCount,
        ErrorKind::InvalidField,
        ErrorKind::MissingField,
        ErrorKind::Oversized,
        ErrorKind::Truncated,
        ErrorKind::Empty,
        ErrorKind::UnknownFormat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::FieldCount => "field_count",
            ErrorKind::InvalidField => "invalid_field",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::Oversized => "oversized",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Empty => "empty",
            ErrorKind::UnknownFormat => "unknown_format",
        }
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record the parser refused, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ParseError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl ParseError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// How a format's byte stream is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One record per line.
    Lines,
    /// JSON values: NDJSON, one array of objects, or concatenated (pretty-printed) objects.
    Json,
}

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

impl DeadLetter {
    /// A dead letter keeping at most the first [`DEAD_LETTER_PREFIX`]
    /// bytes of `raw`; `raw_len` records the full length.
    pub fn new(
        source: &str,
        origin: String,
        kind: ErrorKind,
        reason: String,
        raw: &[u8],
        time: i64,
    ) -> Self {
        let keep = raw.len().min(DEAD_LETTER_PREFIX);
        Self {
            time,
            source: source.to_string(),
            origin,
            kind: kind.as_str().to_string(),
            reason,
            raw: raw[..keep].to_vec(),
            raw_len: raw.len(),
        }
    }
}

/// Raw bytes are stored as UTF-8 text when they are text, otherwise base64 in an object.
mod raw_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
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
                base64: STANDARD.encode(raw),
            }
            .serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Stored::deserialize(d)? {
            Stored::Text(t) => Ok(t.into_bytes()),
            Stored::Base64 { base64 } => {
                // Hand-edited files may wrap the text; whitespace is not part of it.
                let text: String = base64.split_ascii_whitespace().collect();
                STANDARD.decode(text).map_err(serde::de::Error::custom)
            }
        }
    }
}

/// Counts for one decode run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecodeStats {
    /// Records framed that hold an event: each became rows or a dead letter.
    pub records: u64,
    /// Lines framed that hold no event (a VPC flow header line, Zeek `#` directives): they set how
    /// the lines after them are read, and are neither rows nor dead letters.
    pub header_lines: u64,
    /// Rows produced per table.
    pub rows: BTreeMap<Table, u64>,
    /// Dead letters per error kind.
    pub dead_letters: BTreeMap<ErrorKind, u64>,
    /// Input bytes consumed.
    pub bytes: u64,
    /// Rows stored in `base_event` (a known source's events no class maps), per vendor event
    /// type; at most [`MAX_TALLIED_EVENT_TYPES`] types, the rest as `other`.
    pub base_events: BTreeMap<String, u64>,
    /// Rows per table and `zt_decision` (a value of [`DECISIONS`], anything else as `other`),
    /// for the tables that carry one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub decisions: BTreeMap<Table, BTreeMap<&'static str, u64>>,
}

/// The `zt_decision` taxonomy (docs/schema.md): the only values a decision label takes.
pub const DECISIONS: &[&str] = &[
    "allow",
    "challenge_mfa",
    "mfa_failed",
    "mfa_denied",
    "deny_policy",
    "deny_device_posture",
    "deny_app_not_approved",
    "deny_credentials",
    "deny_risk",
    "locked_out",
    "account_disabled",
    "reauth_required",
    "other",
];

impl DecodeStats {
    /// Tally the `zt_decision` of every row of `batches` (tables without the column add
    /// nothing).
    pub fn add_decisions(
        &mut self,
        batches: &[(Table, datafusion::arrow::record_batch::RecordBatch)],
    ) {
        use datafusion::arrow::array::{Array, StringArray};
        for (table, batch) in batches {
            let Some(column) = batch
                .column_by_name("zt_decision")
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            else {
                continue;
            };
            if column.null_count() == column.len() {
                continue;
            }
            let tally = self.decisions.entry(*table).or_default();
            for value in column.iter().flatten() {
                let label = DECISIONS
                    .iter()
                    .find(|d| **d == value)
                    .copied()
                    .unwrap_or("other");
                *tally.entry(label).or_default() += 1;
            }
        }
    }

    /// What `self` counted beyond `before` (an earlier copy of the same stats).
    pub fn decisions_since(
        &self,
        before: &DecodeStats,
    ) -> BTreeMap<Table, BTreeMap<&'static str, u64>> {
        let mut delta: BTreeMap<Table, BTreeMap<&'static str, u64>> = BTreeMap::new();
        for (table, tally) in &self.decisions {
            for (decision, n) in tally {
                let was = before
                    .decisions
                    .get(table)
                    .and_then(|t| t.get(decision))
                    .copied()
                    .unwrap_or(0);
                if *n > was {
                    delta.entry(*table).or_default().insert(decision, n - was);
                }
            }
        }
        delta
    }

    /// Count base events per type, keeping the number of types bounded.
    pub fn add_base_event_types(&mut self, types: &BTreeMap<String, u64>) {
        for (event_type, n) in types {
            let tallied = self.base_events.len();
            match self.base_events.get_mut(event_type) {
                Some(count) => *count += n,
                None if tallied < MAX_TALLIED_EVENT_TYPES => {
                    self.base_events.insert(event_type.clone(), *n);
                }
                None => *self.base_events.entry("other".into()).or_default() += n,
            }
        }
    }

    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }

    pub fn total_dead_letters(&self) -> u64 {
        self.dead_letters.values().sum()
    }

    pub fn merge(&mut self, other: &DecodeStats) {
        self.records += other.records;
        self.header_lines += other.header_lines;
        self.bytes += other.bytes;
        for (t, n) in &other.rows {
            *self.rows.entry(*t).or_default() += n;
        }
        for (k, n) in &other.dead_letters {
            *self.dead_letters.entry(*k).or_default() += n;
        }
        self.add_base_event_types(&other.base_events);
        for (table, tally) in &other.decisions {
            let mine = self.decisions.entry(*table).or_default();
            for (decision, n) in tally {
                *mine.entry(decision).or_default() += n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DeadLetter;

    fn letter(raw: &[u8]) -> DeadLetter {
        DeadLetter {
            time: 1,
            source: "okta".into(),
            origin: "file:x:1".into(),
            kind: "parse".into(),
            reason: "bad".into(),
            raw: raw.to_vec(),
            raw_len: raw.len(),
        }
    }

    #[test]
    fn text_is_stored_as_text_and_binary_as_standard_base64() {
        let text = serde_json::to_value(letter(b"foobar")).unwrap();
        assert_eq!(text["raw"], "foobar");
        let binary = letter(b"\xfffoobar");
        let stored = serde_json::to_value(&binary).unwrap();
        assert_eq!(stored["raw"], serde_json::json!({"base64": "/2Zvb2Jhcg=="}));
        assert_eq!(
            serde_json::from_value::<DeadLetter>(stored).unwrap(),
            binary
        );
        // A hand-edited file may wrap the base64 text.
        let mut wrapped = serde_json::to_value(&binary).unwrap();
        wrapped["raw"]["base64"] = "/2Zv\n b2Jhcg==".into();
        assert_eq!(
            serde_json::from_value::<DeadLetter>(wrapped).unwrap(),
            binary
        );
        let mut broken = serde_json::to_value(&binary).unwrap();
        broken["raw"]["base64"] = "not base64!".into();
        assert!(serde_json::from_value::<DeadLetter>(broken).is_err());
    }
}
