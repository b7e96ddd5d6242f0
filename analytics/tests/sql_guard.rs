//! The read-only guard refuses every statement that writes, reads files or changes the session,
//! through the entry point the HTTP API and the CLI share; plain SELECTs work.

use ztlens_analytics::{AnalyticsError, Engine, Inventory, KpiCatalog, QueryConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_file_reads_and_session_changes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out.csv");
    let engine = Engine::new(
        dir.path(),
        KpiCatalog::builtin(),
        QueryConfig::default(),
        None,
        &Inventory::default(),
    )
    .unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let config = QueryConfig {
        max_rows: 3,
        ..QueryConfig::default()
    };
    let engine = Engine::new(
        dir.path(),
        KpiCatalog::builtin(),
        config,
        None,
        &Inventory::default(),
    )
    .unwrap();
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
