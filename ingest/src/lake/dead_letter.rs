//! The dead-letter store: refused records, kept with raw bytes, reason, source and origin.
//!
//! Files are NDJSON (`_dead_letter/date=YYYY-MM-DD/<writer>-<seq>.ndjson`), one
//! [`DeadLetter`] per line, so `jq`, `grep` and `ztlens dead-letters` can read them and a record
//! can be replayed by piping its `raw` field back into `ztlens ingest`. A record's bytes are
//! UTF-8 text when they are text, otherwise `{"base64": "…"}`.
//!
//! The writer appends and fsyncs at the same group-commit point as the WAL, so a dead letter is
//! durable before the append that produced it is acknowledged.
//!
//! **Budget.** The bytes written per day are bounded by [`DeadLetterBudget`]
//! (`lake.max_dead_letter_bytes_per_day`, counted over every writer's files of that day). Past
//! it a dead letter is still written — time, source, origin, kind, reason and `raw_len` — but
//! with only the first [`RAW_KEPT_OVER_BUDGET`] bytes of its record, and
//! `ztlens_dead_letters_truncated_total` counts it; the push API refuses bodies with broken
//! records instead (the client can retry tomorrow or fix its feed). Disk use per broken record
//! past the budget is therefore a few hundred bytes, and nothing is dropped without a count.
//!
//! **Reads** stream: [`DeadLetterSummaries`] yields summaries file by file, line by line, so a
//! query over the dead-letter store holds one batch at a time, not the store.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::layout;
use super::{LakeError, next_seq};
use crate::record::DeadLetter;

/// Bytes of a record kept in a dead letter written after the day's budget is spent.
pub const RAW_KEPT_OVER_BUDGET: usize = 256;

/// The dead-letter bytes written per day, shared by the writer thread (which spends it) and the
/// push API (which refuses bodies with broken records once it is spent).
#[derive(Debug)]
pub struct DeadLetterBudget {
    data_dir: PathBuf,
    per_day: u64,
    /// The day being counted (`YYYY-MM-DD`) and the bytes its partition holds.
    spent: Mutex<(String, u64)>,
}

impl DeadLetterBudget {
    pub fn new(data_dir: &Path, per_day: u64) -> Arc<Self> {
        Arc::new(Self {
            data_dir: data_dir.to_path_buf(),
            per_day,
            spent: Mutex::new((String::new(), 0)),
        })
    }

    /// The counter, switched to `date` when the day changed: what the date's partition already
    /// holds counts (other writers' files and earlier runs too).
    fn counter_for(&self, date: &str) -> std::sync::MutexGuard<'_, (String, u64)> {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        if spent.0 != date {
            let held = partition_bytes(&layout::dead_letter_date_dir(&self.data_dir, date));
            *spent = (date.to_string(), held);
        }
        spent
    }

    /// Whether today's budget is spent.
    pub fn spent_today(&self) -> bool {
        let Some(today) = layout::date_of_ms(chrono::Utc::now().timestamp_millis()) else {
            return false;
        };
        self.counter_for(&today).1 >= self.per_day
    }

    /// Charge `bytes` to `date`. Returns whether the charge fits the budget; a charge that does
    /// not fit is not recorded.
    fn charge(&self, date: &str, bytes: u64) -> bool {
        let mut spent = self.counter_for(date);
        match spent.1.checked_add(bytes) {
            Some(total) if total <= self.per_day => {
                spent.1 = total;
                true
            }
            _ => false,
        }
    }

    /// Record bytes written past the budget (so `spent_today` stays true).
    fn charge_over_budget(&self, date: &str, bytes: u64) {
        let mut spent = self.counter_for(date);
        spent.1 = spent.1.saturating_add(bytes).max(self.per_day);
    }
}

/// Bytes of the dead-letter files in one date partition (0 when it does not exist).
fn partition_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| layout::is_dead_letter_file(&e.path()))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .fold(0u64, u64::saturating_add)
}

pub struct DeadLetterStore {
    data_dir: PathBuf,
    writer_id: String,
    current: Option<OpenFile>,
    budget: Arc<DeadLetterBudget>,
}

struct OpenFile {
    date: String,
    path: PathBuf,
    out: BufWriter<File>,
    dirty: bool,
}

impl DeadLetterStore {
    pub fn new(data_dir: &Path, writer_id: &str, budget: Arc<DeadLetterBudget>) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            writer_id: writer_id.to_string(),
            current: None,
            budget,
        }
    }

    /// Append one dead letter. Returns whether its record had to be cut to
    /// [`RAW_KEPT_OVER_BUDGET`] bytes because the day's budget is spent.
    pub fn append(&mut self, letter: &DeadLetter) -> Result<bool, LakeError> {
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
        let truncated = !self.budget.charge(&current.date, line.len() as u64);
        if truncated {
            let mut cut = letter.clone();
            cut.raw.truncate(RAW_KEPT_OVER_BUDGET);
            line = serde_json::to_vec(&cut).expect("dead letters serialize");
            line.push(b'\n');
            self.budget
                .charge_over_budget(&current.date, line.len() as u64);
        }
        current
            .out
            .write_all(&line)
            .map_err(LakeError::io(&current.path))?;
        current.dirty = true;
        Ok(truncated)
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

/// Summaries of the dead letters refused in `[from_ms, to_ms)`, read lazily: only the date
/// partitions the range touches, one line at a time. Lines that cannot be read (a line torn by
/// a crash) are skipped and counted in [`DeadLetterSummaries::unreadable`].
pub struct DeadLetterSummaries {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, std::io::Lines<BufReader<File>>)>,
    from_ms: i64,
    to_ms: i64,
    unreadable: usize,
}

impl DeadLetterSummaries {
    pub fn open(data_dir: &Path, from_ms: i64, to_ms: i64) -> Result<Self, LakeError> {
        // Instants outside chrono's range (an open bound) read every partition on that side.
        let date = |ms: i64, open: &str| layout::date_of_ms(ms).unwrap_or_else(|| open.to_string());
        let first = date(from_ms, "");
        let last = date(to_ms.saturating_sub(1), "~");
        Ok(Self {
            files: dead_letter_files(data_dir, Some((&first, &last)))?.into_iter(),
            current: None,
            from_ms,
            to_ms,
            unreadable: 0,
        })
    }

    /// Lines skipped so far because they cannot be read.
    pub fn unreadable(&self) -> usize {
        self.unreadable
    }
}

impl Iterator for DeadLetterSummaries {
    type Item = Result<DeadLetterSummary, LakeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none() {
                let path = self.files.next()?;
                match File::open(&path) {
                    Ok(file) => self.current = Some((path, BufReader::new(file).lines())),
                    // Retention may delete a file between listing and reading it.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Some(Err(LakeError::io(&path)(e))),
                }
            }
            let (_, lines) = self.current.as_mut().expect("opened above");
            match lines.next() {
                None => self.current = None,
                Some(line) => match line
                    .ok()
                    .and_then(|l| serde_json::from_str::<DeadLetterSummary>(&l).ok())
                {
                    Some(letter) if letter.time >= self.from_ms && letter.time < self.to_ms => {
                        return Some(Ok(letter));
                    }
                    Some(_) => {}
                    None => self.unreadable += 1,
                },
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorKind;

    fn letter(raw: &[u8]) -> DeadLetter {
        let now = chrono::Utc::now().timestamp_millis();
        DeadLetter::new(
            "nginx",
            "test:1".into(),
            ErrorKind::InvalidField,
            "broken".into(),
            raw,
            now,
        )
    }

    #[test]
    fn past_the_daily_budget_letters_keep_only_the_start_of_their_record() {
        let dir = tempfile::tempdir().unwrap();
        let budget = DeadLetterBudget::new(dir.path(), 10_000);
        let mut store = DeadLetterStore::new(dir.path(), "w1", budget.clone());
        let raw = vec![b'x'; 3_000];
        let cut: Vec<bool> = (0..5)
            .map(|_| store.append(&letter(&raw)).unwrap())
            .collect();
        store.commit(true).unwrap();
        assert_eq!(cut, [false, false, false, true, true]);
        assert!(budget.spent_today());
        let (letters, unreadable) = read_dead_letters(dir.path()).unwrap();
        assert!(unreadable.is_empty());
        let kept: Vec<(usize, usize)> = letters.iter().map(|l| (l.raw.len(), l.raw_len)).collect();
        assert_eq!(
            kept,
            [
                (3_000, 3_000),
                (3_000, 3_000),
                (3_000, 3_000),
                (RAW_KEPT_OVER_BUDGET, 3_000),
                (RAW_KEPT_OVER_BUDGET, 3_000)
            ]
        );
        // A second writer (or a restart) counts what the day already holds.
        let fresh = DeadLetterBudget::new(dir.path(), 10_000);
        assert!(fresh.spent_today());
        let roomy = DeadLetterBudget::new(dir.path(), 1_000_000);
        assert!(!roomy.spent_today());
        let mut store = DeadLetterStore::new(dir.path(), "w2", roomy);
        assert!(!store.append(&letter(&raw)).unwrap());
    }

    #[test]
    fn summaries_stream_in_range_and_skip_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let budget = DeadLetterBudget::new(dir.path(), u64::MAX);
        let mut store = DeadLetterStore::new(dir.path(), "w1", budget);
        let first = letter(b"one");
        store.append(&first).unwrap();
        store.append(&letter(b"two")).unwrap();
        store.commit(true).unwrap();
        let file = dead_letter_files(dir.path(), None).unwrap().remove(0);
        let mut torn = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        torn.write_all(b"{\"time\": 1, \"sou").unwrap();
        let mut all = DeadLetterSummaries::open(dir.path(), i64::MIN, i64::MAX).unwrap();
        assert_eq!(all.by_ref().filter_map(Result::ok).count(), 2);
        assert_eq!(all.unreadable(), 1);
        let none = DeadLetterSummaries::open(dir.path(), 0, first.time).unwrap();
        assert_eq!(none.count(), 0);
    }
}
