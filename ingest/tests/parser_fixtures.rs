//! Fixture table: every file under `tests/fixtures/<format>/` is decoded and compared, whole row
//! by whole row and dead letter by dead letter, with `<file>.expected.json` beside it.
//!
//! Adding a sample adds a test case. After a deliberate mapping change, regenerate the expected
//! files with `ZTLENS_BLESS=1 cargo test -p ztlens-ingest --test parser_fixtures` and review the
//! diff like code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::json::writer::{JsonArray, WriterBuilder};
use serde_json::{Map, Value, json};
use ztlens_ingest::{Format, Site, SiteConfig, decode_bytes};

const PROCESSED_TIME: i64 = 1_700_000_000_000;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture_site() -> Arc<Site> {
    let text = std::fs::read_to_string(fixtures_dir().join("site.json")).unwrap();
    let config: SiteConfig = serde_json::from_str(&text).unwrap();
    Arc::new(Site::new(&config).unwrap())
}

fn batches_to_rows(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Vec<Value> {
    let mut buf = Vec::new();
    {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(false)
            .build::<_, JsonArray>(&mut buf);
        for b in batches {
            writer.write(b).unwrap();
        }
        writer.finish().unwrap();
    }
    if buf.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice::<Vec<Value>>(&buf).unwrap()
}

fn decode_fixture(format: Format, path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    let (decoded, stats) = decode_bytes(
        format,
        fixture_site(),
        &bytes,
        &format!("file:{name}"),
        PROCESSED_TIME,
        1 << 20,
    );
    let mut tables = Map::new();
    let mut by_table: std::collections::BTreeMap<&str, Vec<_>> = Default::default();
    for (table, batch) in &decoded.batches {
        by_table
            .entry(table.name())
            .or_default()
            .push(batch.clone());
    }
    for (table, batches) in by_table {
        tables.insert(table.to_string(), Value::Array(batches_to_rows(&batches)));
    }
    // The decision tally behind `ztlens_ingest_decisions_total` counts what the rows hold.
    let mut decisions: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        Default::default();
    for (table, rows) in &tables {
        for row in rows.as_array().unwrap() {
            if let Some(decision) = row.get("zt_decision").and_then(Value::as_str) {
                let label = if ztlens_ingest::record::DECISIONS.contains(&decision) {
                    decision
                } else {
                    "other"
                };
                *decisions
                    .entry(table.clone())
                    .or_default()
                    .entry(label.to_string())
                    .or_default() += 1;
            }
        }
    }
    let tallied: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        stats
            .decisions
            .iter()
            .map(|(t, tally)| {
                (
                    t.name().to_string(),
                    tally.iter().map(|(d, n)| (d.to_string(), *n)).collect(),
                )
            })
            .collect();
    assert_eq!(tallied, decisions, "{name}: decision tally");
    let dead: Vec<Value> = decoded
        .dead_letters
        .iter()
        .map(|d| json!({"origin": d.origin, "kind": d.kind, "reason": d.reason, "raw_len": d.raw_len}))
        .collect();
    assert_eq!(
        stats.total_dead_letters() as usize,
        decoded.dead_letters.len()
    );
    json!({"rows": tables, "dead_letters": dead})
}

fn first_difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for key in e.keys().chain(a.keys()) {
                let sub = format!("{path}.{key}");
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => {
                        if let Some(d) = first_difference(ev, av, &sub) {
                            return Some(d);
                        }
                    }
                    (ev, av) => return Some(format!("{sub}: expected {ev:?}, got {av:?}")),
                }
            }
            None
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let sub = format!("{path}[{i}]");
                match (e.get(i), a.get(i)) {
                    (Some(ev), Some(av)) => {
                        if let Some(d) = first_difference(ev, av, &sub) {
                            return Some(d);
                        }
                    }
                    (ev, av) => return Some(format!("{sub}: expected {ev:?}, got {av:?}")),
                }
            }
            None
        }
        _ if expected == actual => None,
        _ => Some(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// Compare every fixture of `format` (under `tests/fixtures/<name>/`) with its expectation;
/// returns the mismatches.
fn run_fixture_table(format: Format) -> Vec<String> {
    let bless = std::env::var_os("ZTLENS_BLESS").is_some();
    let dir = fixtures_dir().join(format.name());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![format!("{format}: no fixture folder {}", dir.display())];
    };
    let mut inputs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.to_string_lossy();
            !name.ends_with(".expected.json") && !name.ends_with(".md")
        })
        .collect();
    inputs.sort();
    if inputs.is_empty() {
        return vec![format!("{format}: no fixtures in {}", dir.display())];
    }
    let mut failures = Vec::new();
    for input in inputs {
        let actual = decode_fixture(format, &input);
        let expected_path = PathBuf::from(format!("{}.expected.json", input.display()));
        if bless {
            std::fs::write(
                &expected_path,
                serde_json::to_string_pretty(&actual).unwrap() + "\n",
            )
            .unwrap();
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&expected_path) else {
            failures.push(format!(
                "{}: no expected file (run with ZTLENS_BLESS=1 and review it)",
                input.display()
            ));
            continue;
        };
        let expected: Value = serde_json::from_str(&text).unwrap();
        if let Some(diff) = first_difference(&expected, &actual, "") {
            failures.push(format!("{}: {diff}", input.display()));
        }
    }
    failures
}

/// Every format in the registry has fixtures, and each matches its expectation.
#[test]
fn every_format_matches_its_fixtures() {
    let mut failures = Vec::new();
    for &format in Format::ALL {
        failures.extend(run_fixture_table(format));
    }
    assert!(
        failures.is_empty(),
        "fixture mismatches:\n{}",
        failures.join("\n")
    );
}

/// A fixture folder belongs to a registered format (by its one name, not an alias).
#[test]
fn every_fixture_folder_names_a_format() {
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            Format::ALL.iter().any(|f| f.name() == name),
            "tests/fixtures/{name} is not the name of a registered format"
        );
    }
}
