//! File ingest in parallel: batches cut from the middle of a file still see the stream state
//! before them (the VPC header line), keep true line numbers, and lose nothing.

use std::io::Write;
use std::sync::Arc;

use ztlens_ingest::lake::{LakeConfig, LakeWriter};
use ztlens_ingest::parsers::{vpcflow, zeek};
use ztlens_ingest::pipeline::{IngestConfig, Pipeline};
use ztlens_ingest::{Site, Table};

#[test]
fn header_state_and_line_numbers_survive_parallel_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.log");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    // Layout A (custom order: start first) for 60,000 lines, then layout B (v2 order).
    writeln!(file, "start end srcaddr dstaddr srcport dstport protocol packets bytes action log-status account-id interface-id version").unwrap();
    let mut expected_rows = 0;
    for i in 0..60_000u64 {
        writeln!(
            file,
            "{} {} 10.0.{}.{} 10.1.0.1 {} 22 6 1 60 REJECT OK 123 eni-1 5",
            1_772_438_400 + i,
            1_772_438_460 + i,
            i / 250 % 250,
            i % 250,
            1024 + i % 60_000
        )
        .unwrap();
        expected_rows += 1;
    }
    writeln!(file, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status").unwrap();
    for i in 0..60_000u64 {
        writeln!(
            file,
            "2 123 eni-2 10.2.{}.{} 10.1.0.1 {} 3389 6 1 60 {} {} ACCEPT OK",
            i / 250 % 250,
            i % 250,
            1024 + i % 60_000,
            1_772_438_400 + i,
            1_772_438_460 + i
        )
        .unwrap();
        expected_rows += 1;
    }
    writeln!(
        file,
        "2 123 eni-2 not-an-ip 10.1.0.1 1 22 6 1 60 1772438400 1772438460 ACCEPT OK"
    )
    .unwrap();
    file.flush().unwrap();
    drop(file);
    assert!(
        std::fs::metadata(&path).unwrap().len() > 8 * 1024 * 1024,
        "the file must span several batches"
    );

    let lake = LakeConfig {
        data_dir: dir.path().join("lake"),
        writer_id: Some("t".into()),
        sync: false,
        ..LakeConfig::default()
    };
    let writer = LakeWriter::open(&lake, None).unwrap();
    let config = IngestConfig {
        parse_threads: 3,
        batch_rows: 10_000,
        ..IngestConfig::default()
    };
    let pipeline = Pipeline::new(Arc::new(Site::default()), writer.clone(), None, config);
    let report = pipeline
        .ingest_files(vpcflow::FORMAT, std::slice::from_ref(&path), &|_| {})
        .unwrap();
    writer.shutdown_blocking().unwrap();

    assert_eq!(
        report.stats.rows.get(&Table::NetworkActivity).copied(),
        Some(expected_rows)
    );
    assert_eq!(
        report.stats.records,
        expected_rows + 1,
        "the bad line is a record; the header lines are not"
    );
    assert_eq!(report.stats.header_lines, 2);
    assert_eq!(report.stats.total_dead_letters(), 1);
    let bad_line = 1 + 60_000 + 1 + 60_000 + 1;
    assert_eq!(
        report.samples[0].origin,
        format!("file:{}:{bad_line}", path.display())
    );
    assert!(report.samples[0].reason.contains("not-an-ip"));
}

/// Zeek's state is a block of header lines (separator, unset marker, fields): a worker that
/// starts mid-file replays all of them, so a comma-separated log with a custom unset marker
/// and its own column order parses the same in every batch.
#[test]
fn zeek_header_block_survives_parallel_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "#separator ,").unwrap();
    writeln!(file, "#set_separator,;").unwrap();
    writeln!(file, "#empty_field,(empty)").unwrap();
    writeln!(file, "#unset_field,?").unwrap();
    writeln!(file, "#path,conn").unwrap();
    writeln!(
        file,
        "#fields,uid,ts,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,conn_state,service"
    )
    .unwrap();
    let lines = 150_000u64;
    for i in 0..lines {
        writeln!(
            file,
            "C{i:017},{}.250000,10.0.{}.{},{},10.1.0.1,445,tcp,REJ,?",
            1_772_438_400 + i,
            i / 250 % 250,
            i % 250,
            1024 + i % 60_000
        )
        .unwrap();
    }
    writeln!(file, "#close,2026-03-02-09-00-00").unwrap();
    file.flush().unwrap();
    drop(file);
    assert!(
        std::fs::metadata(&path).unwrap().len() > 8 * 1024 * 1024,
        "the file must span several batches"
    );

    let lake = LakeConfig {
        data_dir: dir.path().join("lake"),
        writer_id: Some("t".into()),
        sync: false,
        ..LakeConfig::default()
    };
    let writer = LakeWriter::open(&lake, None).unwrap();
    let pipeline = Pipeline::new(
        Arc::new(Site::default()),
        writer.clone(),
        None,
        IngestConfig {
            parse_threads: 3,
            batch_rows: 10_000,
            ..IngestConfig::default()
        },
    );
    let report = pipeline
        .ingest_files(zeek::FORMAT, std::slice::from_ref(&path), &|_| {})
        .unwrap();
    writer.shutdown_blocking().unwrap();
    assert_eq!(report.stats.total_dead_letters(), 0, "{:?}", report.samples);
    assert_eq!(
        report.stats.rows.get(&Table::NetworkActivity).copied(),
        Some(lines)
    );
}
