//! `ztlens ingest`: files, directories (every file under them) and standard input (`-`) into
//! the lake, with progress on stderr and the summary on stdout.
//!
//! Progress is a bar redrawn in place (bytes, rate, ETA) when stderr is a terminal, and a plain
//! line a second per file otherwise (logs and CI stay readable); `--quiet` keeps only the
//! summary and errors. Nothing read is dropped silently: a file cut short keeps what came
//! before the cut and makes the command fail naming it.
//!
//! May import `config`, `service` and the ingest crate; never `api`.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ztlens_ingest::lake::LakeWriter;
use ztlens_ingest::pipeline::{Detected, FileProgress, FilesReport, IngestError, Pipeline};
use ztlens_ingest::{Format, Site, SourceFormat};

use crate::config::Config;
use crate::service::BoxError;

/// What `-` stands for in reports and `raw_ref`s.
const STDIN_NAME: &str = "-";

/// Bytes of standard input read to recognize its format under `--source auto`.
const DETECT_BYTES: usize = 64 * 1024;

/// One input of the command, after directories are expanded.
enum Input {
    File(PathBuf),
    Stdin,
}

pub async fn ingest(
    config: Config,
    source: &str,
    paths: Vec<PathBuf>,
    quiet: bool,
) -> Result<(), BoxError> {
    let chosen: SourceFormat = source.parse()?;
    let inputs = expand_inputs(paths)?;
    let total_inputs = inputs.len();
    let progress = Progress::new(quiet, &inputs);
    // `--source auto`: recognize each input from its content; one no format matches is
    // reported and skipped, and the others are read.
    let mut files: Vec<(Format, Vec<PathBuf>)> = Vec::new();
    let mut stdin: Option<(Format, Box<dyn Read + Send>)> = None;
    let mut failed: Vec<String> = Vec::new();
    let mut empty = 0usize;
    for input in inputs {
        match input {
            Input::Stdin => {
                let (head, rest) = read_head(std::io::stdin())?;
                let format = match chosen {
                    SourceFormat::Named(f) => f,
                    SourceFormat::Auto => match ztlens_ingest::pipeline::detect_head(&head) {
                        Detected::Format(format) => {
                            progress.line(format!("standard input: detected {format}"));
                            format
                        }
                        Detected::Empty => {
                            progress.line("standard input: empty, no records".to_string());
                            empty += 1;
                            continue;
                        }
                        Detected::Unknown => {
                            return Err(format!(
                                "standard input: no known format matches its content; pass --source NAME (known: {})",
                                Format::known_names()
                            )
                            .into());
                        }
                    },
                };
                stdin = Some((format, Box::new(std::io::Cursor::new(head).chain(rest))));
            }
            Input::File(path) => {
                let format = match chosen {
                    SourceFormat::Named(f) => f,
                    SourceFormat::Auto => {
                        match ztlens_ingest::pipeline::detect_file_format(&path) {
                            Ok(Detected::Format(format)) => {
                                progress.line(format!("{}: detected {format}", path.display()));
                                format
                            }
                            // A source with nothing to report in the period writes an empty
                            // file: read whole, no record (as under a named format).
                            Ok(Detected::Empty) => {
                                progress.line(format!("{}: empty, no records", path.display()));
                                empty += 1;
                                continue;
                            }
                            Ok(Detected::Unknown) => {
                                let why = format!(
                                    "{}: not read: no known format matches its content; pass --source NAME (known: {})",
                                    path.display(),
                                    Format::known_names()
                                );
                                progress.line(why.clone());
                                failed.push(why);
                                continue;
                            }
                            Err(e) => {
                                let why = format!("{}: not read: {e}", path.display());
                                progress.line(why.clone());
                                failed.push(why);
                                continue;
                            }
                        }
                    }
                };
                match files.last_mut() {
                    Some((f, group)) if *f == format => group.push(path),
                    _ => files.push((format, vec![path])),
                }
            }
        }
    }
    let site = Arc::new(Site::new(&config.site)?);
    let mut lake = config.lake.clone();
    // A one-shot ingest gets its own writer id, so it can run beside a server on the same lake.
    lake.writer_id = Some(format!(
        "{}-ingest{}",
        lake.resolved_writer_id(),
        std::process::id()
    ));
    let writer = LakeWriter::open(&lake, None)?;
    let pipeline = Pipeline::new(site, writer.clone(), None, config.ingest);
    let started = Instant::now();
    let read_count = files.iter().map(|(_, g)| g.len()).sum::<usize>() + stdin.is_some() as usize;
    let format_names: Vec<&str> = {
        let mut names: Vec<&str> = files
            .iter()
            .map(|(f, _)| f.name())
            .chain(stdin.as_ref().map(|(f, _)| f.name()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    };
    let progress = Arc::new(progress);
    let report = {
        let progress = progress.clone();
        tokio::task::spawn_blocking(move || {
            let report_progress = |p: &FileProgress| progress.file(p);
            let mut report: Option<FilesReport> = None;
            let mut add = |part: FilesReport| match &mut report {
                Some(r) => {
                    r.stats.merge(&part.stats);
                    r.samples.extend(part.samples);
                    r.files.extend(part.files);
                }
                None => report = Some(part),
            };
            for (format, group) in &files {
                add(pipeline.ingest_files(*format, group, &report_progress)?);
            }
            if let Some((format, stream)) = stdin {
                add(pipeline.ingest_stream(
                    format,
                    Path::new(STDIN_NAME),
                    stream,
                    &report_progress,
                )?);
            }
            Ok::<_, IngestError>(report.unwrap_or_default())
        })
        .await?
    };
    progress.finish();
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            // Flush what the other inputs stored before reporting the failure.
            if let Err(flush) = writer.shutdown().await {
                tracing::warn!(error = %flush, "flushing the lake after a failed ingest failed too");
            }
            return Err(e.into());
        }
    };
    writer.shutdown().await?;
    let stats = &report.stats;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ingested {read_count} input(s){} in {seconds:.2} s: {} records{}, {:.1} MB ({:.0} records/s)",
        if format_names.is_empty() {
            String::new()
        } else {
            format!(" as {}", format_names.join(" + "))
        },
        stats.records,
        header_note(stats.header_lines),
        stats.bytes as f64 / 1e6,
        stats.records as f64 / seconds.max(1e-9)
    );
    for (table, rows) in &stats.rows {
        println!("  {:<20} {rows:>12} rows", table.name());
    }
    if empty > 0 {
        println!("empty input(s), no records: {empty}");
    }
    let dead = stats.total_dead_letters();
    if dead == 0 {
        println!("dead letters: 0");
    } else {
        println!(
            "dead letters: {dead} (stored under {}; list them with `ztlens dead-letters`)",
            ztlens_ingest::lake::layout::dead_letter_dir(&config.lake.data_dir).display()
        );
        for (kind, n) in &stats.dead_letters {
            println!("  {:<20} {n:>12}", kind.as_str());
        }
        for sample in &report.samples {
            println!(
                "  e.g. {}  {}: {}",
                sample.origin, sample.kind, sample.reason
            );
        }
    }
    failed.extend(report.files.iter().filter_map(|f| {
        f.error.as_ref().map(|e| {
            format!(
                "{}: {e} (after {} records)",
                f.path.display(),
                f.stats.records
            )
        })
    }));
    if !failed.is_empty() {
        return Err(format!(
            "{} of {} input(s) were not read whole (everything read is stored):\n  {}",
            failed.len(),
            total_inputs,
            failed.join("\n  ")
        )
        .into());
    }
    Ok(())
}

/// Files as given, every regular file under a directory (recursively, in name order, hidden
/// names skipped), and `-` for standard input (once).
fn expand_inputs(paths: Vec<PathBuf>) -> Result<Vec<Input>, BoxError> {
    let mut inputs = Vec::new();
    let mut problems = Vec::new();
    let mut stdin_seen = false;
    for path in paths {
        if path.as_os_str() == STDIN_NAME {
            if std::mem::replace(&mut stdin_seen, true) {
                return Err("standard input (-) can be read only once".into());
            }
            inputs.push(Input::Stdin);
        } else if path.is_dir() {
            let before = inputs.len();
            walk(&path, &mut inputs).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
            if inputs.len() == before {
                problems.push(format!("{}: no files in this directory", path.display()));
            }
        } else if path.is_file() {
            inputs.push(Input::File(path));
        } else {
            problems.push(format!(
                "{}: not a readable file or directory",
                path.display()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; ").into());
    }
    Ok(inputs)
}

fn walk(dir: &Path, inputs: &mut Vec<Input>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links, as a shell glob would.
        if path.is_dir() {
            walk(&path, inputs)?;
        } else if path.is_file() {
            inputs.push(Input::File(path));
        }
    }
    Ok(())
}

/// The first [`DETECT_BYTES`] of a stream (fewer if it ends sooner) and the stream after them.
fn read_head<R: Read>(mut stream: R) -> Result<(Vec<u8>, R), BoxError> {
    let mut head = Vec::with_capacity(DETECT_BYTES);
    (&mut stream)
        .take(DETECT_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok((head, stream))
}

fn header_note(header_lines: u64) -> String {
    if header_lines == 0 {
        String::new()
    } else {
        format!(", {header_lines} header line(s)")
    }
}

/// Progress on stderr: a bar on a terminal, plain lines elsewhere, nothing with `--quiet`.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    /// Bytes of the inputs already finished, and when the last plain line was printed.
    state: Mutex<(u64, Instant)>,
}

impl Progress {
    fn new(quiet: bool, inputs: &[Input]) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let sizes: Option<u64> = inputs
                .iter()
                .map(|i| match i {
                    Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
                    Input::Stdin => None,
                })
                .sum();
            let bar = match sizes {
                Some(total) => ProgressBar::new(total).with_style(
                    ProgressStyle::with_template(
                        "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                ),
                // Standard input: no size, so no ETA.
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template(
                        "{spinner} {elapsed_precise} {bytes} {bytes_per_sec} {msg}",
                    )
                    .expect("a valid template"),
                ),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            bar
        });
        Self {
            bar,
            quiet,
            state: Mutex::new((0, Instant::now() - Duration::from_secs(10))),
        }
    }

    /// A line that stays (above the bar on a terminal).
    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if !self.quiet => eprintln!("{text}"),
            None => {}
        }
    }

    fn file(&self, p: &FileProgress) {
        if self.quiet {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (finished_bytes, last_line) = &mut *state;
        if let Some(bar) = &self.bar {
            bar.set_position(*finished_bytes + p.bytes_read);
            bar.set_message(p.path.display().to_string());
        }
        if let Some(stats) = &p.stats {
            *finished_bytes += p.bytes_read;
            let ended = match &p.error {
                None => "done".to_string(),
                Some(e) => format!("cut short ({e}); stored what came before"),
            };
            drop(state);
            self.line(format!(
                "{}: {ended}, {} records, {} rows, {} dead letters{}",
                p.path.display(),
                stats.records,
                stats.total_rows(),
                stats.total_dead_letters(),
                header_note(stats.header_lines)
            ));
        } else if self.bar.is_none() && last_line.elapsed() >= Duration::from_secs(1) {
            *last_line = Instant::now();
            let done = if p.bytes_total == 0 {
                format!("{:.1} MB", p.bytes_read as f64 / 1e6)
            } else {
                format!(
                    "{:5.1}%",
                    p.bytes_read as f64 * 100.0 / p.bytes_total as f64
                )
            };
            eprintln!("{}: {done}  {} records read", p.path.display(), p.records);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
