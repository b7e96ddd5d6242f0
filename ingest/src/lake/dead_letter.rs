//! The dead-letter store: refused records, kept with raw bytes, reason, source and origin.
//!
//! Files are NDJSON (`_dead_letter/date=YYYY-MM-DD/<writer>-<seq>.ndjson`), one
//! [`DeadLetter`] per line, so `jq`, `grep` and `ztlens dead-letters` can read them and a record
//! can be replayed by piping its `raw` field back into `ztlens ingest`. A record's bytes are
//! UTF-8 text when they are text, otherwise `{"base64": "…"}`.
//!
//! The writer appends and fsyncs at the same group-commit point as the WAL, so a dead letter is
//! durable before the append that produced it is acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::layout;
use super::{LakeError, next_seq};
use crate::record::DeadLetter;

pub struct DeadLetterStore {
    data_dir: PathBuf,
    writer_id: String,
    current: Option<OpenFile>,
}

struct OpenFile {
    date: String,
    path: PathBuf,
    out: BufWriter<File>,
    dirty: bool,
}

impl DeadLetterStore {
    pub fn new(data_dir: &Path, writer_id: &str) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            writer_id: writer_id.to_string(),
            current: None,
        }
    }

    pub fn append(&mut self, letter: &DeadLetter) -> Result<(), LakeError> {
        let date = layout::date_of_ms(letter.time)
            .unwrap_or_else(|| layout::date_of_ms(0).expect("the epoch is a date"));
        if self.current.as_ref().is_none_or(|c| c.date != date) {
            self.commit(true)?;
            let dir = layout::dead_letter_date_dir(&self.data_dir, &date);
            std::fs::create_dir_all(&dir).map_err(LakeError::io(&dir))?;
            let path = dir.join(layout::dead_letter_file_name(&self.writer_id, next_seq()));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(LakeError::io(&path))?;
            super::sync_dir(&dir)?;
            self.current = Some(OpenFile {
                date,
                path,
                out: BufWriter::new(file),
                dirty: false,
            });
        }
        let current = self.current.as_mut().expect("opened above");
        let mut line = serde_json::to_vec(letter).expect("dead letters serialize");
        line.push(b'\n');
        current
            .out
            .write_all(&line)
            .map_err(LakeError::io(&current.path))?;
        current.dirty = true;
        Ok(())
    }

    /// Flush and (when `sync`) fsync what was appended.
    pub fn commit(&mut self, sync: bool) -> Result<(), LakeError> {
        if let Some(current) = self.current.as_mut().filter(|c| c.dirty) {
            current.out.flush().map_err(LakeError::io(&current.path))?;
            if sync {
                current
                    .out
                    .get_ref()
                    .sync_data()
                    .map_err(LakeError::io(&current.path))?;
            }
            current.dirty = false;
        }
        Ok(())
    }
}

/// The dead-letter files under a data directory, oldest first, from the date partitions
/// between `first_date` and `last_date` (`YYYY-MM-DD`, inclusive) when given.
fn dead_letter_files(
    data_dir: &Path,
    dates: Option<(&str, &str)>,
) -> Result<Vec<PathBuf>, LakeError> {
    let root = layout::dead_letter_dir(data_dir);
    let mut files = Vec::new();
    if root.exists() {
        for day in std::fs::read_dir(&root).map_err(LakeError::io(&root))? {
            let day = day.map_err(LakeError::io(&root))?.path();
            if !day.is_dir() {
                continue;
            }
            let date = layout::date_of_dir(&day).unwrap_or_default();
            if dates.is_some_and(|(first, last)| date < first || date > last) {
                continue;
            }
            for f in std::fs::read_dir(&day).map_err(LakeError::io(&day))? {
                let f = f.map_err(LakeError::io(&day))?.path();
                if layout::is_dead_letter_file(&f) {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// What a dead letter says about itself, without its bytes: the part queries read.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct DeadLetterSummary {
    /// When ztlens refused it (epoch ms).
    pub time: i64,
    pub source: String,
    pub origin: String,
    pub kind: String,
    pub reason: String,
    pub raw_len: usize,
}

/// Summaries of the dead letters refused in `[from_ms, to_ms)`, reading only the date
/// partitions the range touches. Lines that cannot be read (a line torn by a crash) are
/// counted in the second value instead of failing the read.
pub fn read_dead_letter_summaries(
    data_dir: &Path,
    from_ms: i64,
    to_ms: i64,
) -> Result<(Vec<DeadLetterSummary>, usize), LakeError> {
    // Instants outside chrono's range (an open bound) read every partition on that side.
    let date = |ms: i64, open: &str| layout::date_of_ms(ms).unwrap_or_else(|| open.to_string());
    let first = date(from_ms, "");
    let last = date(to_ms.saturating_sub(1), "~");
    let mut letters = Vec::new();
    let mut unreadable = 0;
    for path in dead_letter_files(data_dir, Some((&first, &last)))? {
        let file = File::open(&path).map_err(LakeError::io(&path))?;
        for line in BufReader::new(file).lines() {
            match line
                .ok()
                .and_then(|l| serde_json::from_str::<DeadLetterSummary>(&l).ok())
            {
                Some(letter) if letter.time >= from_ms && letter.time < to_ms => {
                    letters.push(letter)
                }
                Some(_) => {}
                None => unreadable += 1,
            }
        }
    }
    Ok((letters, unreadable))
}

/// Read every dead letter under a data directory, oldest file first. Lines that cannot be read
/// are reported in the second list (path:line) instead of stopping the read.
pub fn read_dead_letters(data_dir: &Path) -> Result<(Vec<DeadLetter>, Vec<String>), LakeError> {
    let files = dead_letter_files(data_dir, None)?;
    let mut letters = Vec::new();
    let mut unreadable = Vec::new();
    for path in files {
        let file = File::open(&path).map_err(LakeError::io(&path))?;
        for (i, line) in BufReader::new(file).lines().enumerate() {
            match line
                .ok()
                .and_then(|l| serde_json::from_str::<DeadLetter>(&l).ok())
            {
                Some(letter) => letters.push(letter),
                None => unreadable.push(format!("{}:{}", path.display(), i + 1)),
            }
        }
    }
    Ok((letters, unreadable))
}
