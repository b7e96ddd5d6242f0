//! The read-only guard refuses every statement that writes, reads files or changes the session,
//! through the entry point the HTTP API and the CLI share; plain SELECTs work.

use ztlens_analytics::{AnalyticsError, Engine, Inventory, KpiCatalog, QueryConfig};

/// An engine over an empty lake in a fresh directory (kept alive by the first value).
fn engine(config: QueryConfig) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(
        dir.path(),
        KpiCatalog::builtin(),
        config,
        None,
        &Inventory::default(),
    )
    .unwrap();
    (dir, engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_file_reads_and_session_changes_are_refused() {
    let (_dir, engine) = engine(QueryConfig::default());
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out.csv");
    let attempts = [
        format!("COPY (SELECT 1) TO '{}' STORED AS CSV", out.display()),
        format!(
            "EXPLAIN ANALYZE COPY (SELECT 1) TO '{}' STORED AS CSV",
            out.display()
        ),
        "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        "CREATE TABLE t AS SELECT 1 AS x".to_string(),
        "CREATE VIEW v AS SELECT 1 AS x".to_string(),
        "INSERT INTO authentication__tail SELECT * FROM authentication__tail".to_string(),
        "DROP TABLE authentication".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
        "SELECT * FROM '/etc/passwd'".to_string(),
        "SELECT 1; SELECT 2".to_string(),
        "SELECT count(*) FROM generate_series(1, 1000000000)".to_string(),
        "SELECT count(*) FROM range(1000000000)".to_string(),
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r"
            .to_string(),
        "EXPLAIN ANALYZE SELECT 1".to_string(),
        // Regression: scalar functions that allocate outside the pool (3.8 GB and 5.6 GB with
        // a 256 MB pool; three at once aborted the process).
        "SELECT length(repeat('x', 1000000000))".to_string(),
        "SELECT count(*) FROM (SELECT unnest(range(1, 200000000)))".to_string(),
        "SELECT unnest(generate_series(1, 200000000))".to_string(),
        "SELECT length(lpad('x', 1000000000, 'y'))".to_string(),
        "SELECT length(rpad('x', 1000000000))".to_string(),
        "SELECT cardinality(array_repeat(1, 1000000000))".to_string(),
        "SELECT * FROM authentication WHERE user_name IN (SELECT repeat('x', 1000000000))"
            .to_string(),
        // Regression: over the text size limit.
        format!("SELECT 1 -- {}", "x".repeat(70_000)),
    ];
    for sql in &attempts {
        match engine.run_sql(sql).await {
            Err(AnalyticsError::Rejected(_) | AnalyticsError::InvalidQuery(_)) => {}
            other => panic!(
                "{sql}: expected a refusal, got {:?}",
                other.map(|o| o.num_rows())
            ),
        }
    }
    assert!(!out.exists(), "COPY wrote a file");
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    // The next query's session is unaffected and the tables are intact.
    let ok = engine
        .run_sql("SELECT count(*) AS n FROM authentication")
        .await
        .unwrap();
    assert_eq!(ok.json_rows().unwrap()[0]["n"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selects_work_and_results_are_capped() {
    let config = QueryConfig {
        max_rows: 3,
        ..QueryConfig::default()
    };
    let (_dir, engine) = engine(config);
    let out = engine
        .run_sql("SELECT * FROM (VALUES (1), (2), (3), (4), (5)) AS t(x)")
        .await
        .unwrap();
    assert_eq!(out.num_rows(), 3);
    assert!(out.truncated);
    let out = engine
        .run_sql("EXPLAIN SELECT user_name FROM authentication WHERE date = '2026-03-02'")
        .await
        .unwrap();
    assert!(out.num_rows() > 0);
    let err = engine
        .run_sql("SELECT no_such_column FROM authentication")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_query");
}

/// Regression: a 2 KB query of a 1,000-term `+`, `OR` or `||` chain overflowed the query
/// thread's stack and aborted the process. Long chains are now answered (or refused with a
/// clear error) and the engine keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_operator_chains_do_not_crash_the_engine() {
    let (_dir, engine) = engine(QueryConfig::default());
    for terms in [1_000, 5_000] {
        for (op, term) in [("+", "1"), (" OR ", "1 = 1"), (" || ", "'x'")] {
            let sql = format!("SELECT {}", vec![term; terms].join(op));
            match engine.run_sql(&sql).await {
                Ok(out) => assert_eq!(out.num_rows(), 1, "{op} x {terms}"),
                Err(AnalyticsError::Rejected(_) | AnalyticsError::InvalidQuery(_)) => {}
                Err(e) => panic!("{op} x {terms}: {e}"),
            }
        }
    }
    // A long but realistic chain is answered.
    let hundred = format!("SELECT {} AS n", vec!["1"; 100].join("+"));
    let out = engine.run_sql(&hundred).await.unwrap();
    assert_eq!(out.json_rows().unwrap()[0]["n"], 100);
}
