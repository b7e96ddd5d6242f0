//! Crash test of the Kafka source: `ztlens kafka-mock` hosts the cluster in its own process and
//! outlives `ztlens serve`, which is SIGKILLed three times while consuming a generated company's
//! logs (over 200,000 messages) and restarted each time. Afterwards every produced event must be
//! stored, and every KPI must equal the KPIs of the same files ingested without faults.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// `okta` gets many partitions: the mock keeps at most 5 MB per partition.
const TOPICS: [(&str, u32); 7] = [
    ("okta", 64),
    ("vpcflow", 8),
    ("nginx", 4),
    ("envoy", 2),
    ("alb", 2),
    ("crowdstrike", 2),
    ("gcp_vpc", 4),
];
const FILES: [(&str, &str); 8] = [
    ("okta", "okta/system_log.ndjson"),
    ("okta", "okta/api_pages.json"),
    // Custom-format VPC files carry their layout in a header line, which a per-message
    // stream does not have; Kafka deployments ship the default format.
    ("vpcflow", "vpcflow/flows_v2.log"),
    ("nginx", "nginx/access.log"),
    ("envoy", "envoy/access.log"),
    ("alb", "alb/access.log"),
    ("crowdstrike", "crowdstrike/fdr.ndjson"),
    // Cloud Logging entries, one per message, recognized from their content.
    ("gcp_vpc", "gcp_vpc/export.ndjson"),
];

fn start_mock(dataset: &Path) -> KafkaMock {
    let files: Vec<(&str, std::path::PathBuf)> = FILES
        .iter()
        .map(|(topic, file)| (*topic, dataset.join(file)))
        .collect();
    KafkaMock::start(&TOPICS, &files)
}

fn write_config(dataset: &Path, bootstrap: &str, path: &Path) {
    let mut config = std::fs::read_to_string(dataset.join("ztlens.toml")).unwrap();
    config.push_str(&format!(
        r#"
[kafka]
enabled = true
bootstrap_servers = "{bootstrap}"
group_id = "ztlens-kill-test"
batch_messages = 2000
commit_interval_ms = 200
drain_timeout_ms = 3000
statistics_interval_ms = 300
topics = [
  {{ name = "okta", format = "okta" }},
  {{ name = "vpcflow", format = "vpcflow" }},
  {{ name = "nginx", format = "auto" }},
  {{ name = "envoy", format = "envoy" }},
  {{ name = "alb", format = "alb" }},
  {{ name = "crowdstrike", format = "crowdstrike" }},
  {{ name = "gcp_vpc", format = "auto" }},
]

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"#
    ));
    std::fs::write(path, config).unwrap();
}

fn serve(config: &Path, lake: &Path) -> Server {
    let mut cmd = ztlens();
    cmd.arg("--config")
        .arg(config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ZTLENS_LAKE__DATA_DIR", lake)
        .env("ZTLENS_LAKE__RETENTION_DAYS", "0")
        .env("ZTLENS_METRICS__KPI_REFRESH_SECS", "0")
        .env("ZTLENS_SERVER__MAINTENANCE_INTERVAL_SECS", "0");
    Server::start(cmd)
}

fn kafka_status(server: &Server) -> Value {
    server.get("/api/v1/status").json()["sources"]["kafka"].clone()
}

fn query(lake: &Path, config: &Path, sql: &str) -> Vec<Value> {
    let out = run_ok(
        ztlens()
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(lake)
            .env("ZTLENS_QUERY__MAX_ROWS", "10000000")
            .args(["query", sql, "--format", "json"]),
    );
    serde_json::from_str::<Vec<Value>>(&out).unwrap()
}

#[test]
fn sigkill_three_times_during_kafka_consumption_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The topics carry Okta, VPC flow, web, Falcon and GCP records: about half the events (the
    // rest are other sources, and the people on Entra ID, Google Workspace and Ping).
    let dataset = generate(dir.path(), 11, 430_000);
    let mock = start_mock(&dataset);
    assert!(
        mock.produced >= 200_000,
        "the test needs at least 200,000 messages, produced {}",
        mock.produced
    );
    // Beside the dataset's own config, whose inventory paths are relative to its directory.
    let config = dataset.join("ztlens-kafka.toml");
    write_config(&dataset, &mock.bootstrap, &config);
    let lake = dir.path().join("lake");
    let partitions: u64 = TOPICS.iter().map(|(_, p)| *p as u64).sum();

    // Three crashes, each after this run made progress of its own.
    for kill in 1..=3 {
        let mut server = serve(&config, &lake);
        let progressed = eventually(Duration::from_secs(240), || {
            (kafka_status(&server)["messages"].as_u64() >= Some(15_000)).then_some(())
        });
        assert!(
            progressed.is_some(),
            "run {kill} made no progress:\n{}",
            server.log()
        );
        server.kill9();
    }

    // A last run consumes the rest and stops cleanly.
    let mut server = serve(&config, &lake);
    let caught_up = eventually(Duration::from_secs(600), || {
        let status = kafka_status(&server);
        let parts = status["partitions"].as_array()?;
        let done = parts.len() as u64 == partitions
            && parts.iter().all(|p| {
                p["high_watermark"].as_i64().is_some() && p["committed"] == p["high_watermark"]
            });
        done.then_some(())
    });
    assert!(caught_up.is_some(), "did not catch up:\n{}", server.log());
    // What an operator sees: every partition listed with its lag.
    let shown = run_ok(ztlens().args(["status", "--url", &server.address]));
    assert!(shown.contains("kafka: running"), "{shown}");
    assert!(
        shown.contains("okta/63") && shown.contains("nginx/3"),
        "{shown}"
    );
    assert!(server.terminate(), "clean stop:\n{}", server.log());

    // The same files, ingested without faults.
    let reference = dir.path().join("reference");
    for (topic, file) in FILES {
        run_ok(
            ztlens()
                .arg("--config")
                .arg(dataset.join("ztlens.toml"))
                .arg("--data-dir")
                .arg(&reference)
                .args(["ingest", "--source", topic])
                .arg(dataset.join(file)),
        );
    }

    let mut stored_rows = 0u64;
    let mut distinct = 0u64;
    for table in ["authentication", "network_activity", "http_activity"] {
        let sql = format!("SELECT DISTINCT metadata_uid FROM {table}");
        let uids = |lake: &Path| -> BTreeSet<String> {
            query(lake, &config, &sql)
                .into_iter()
                .map(|r| r["metadata_uid"].as_str().unwrap().to_string())
                .collect()
        };
        let (got, want) = (uids(&lake), uids(&reference));
        assert_eq!(got.len(), want.len(), "{table}: distinct events stored");
        assert!(got == want, "{table}: the same event ids");
        let rows = query(
            &lake,
            &config,
            &format!("SELECT count(*) AS n FROM {table}"),
        );
        stored_rows += rows[0]["n"].as_u64().unwrap();
        distinct += got.len() as u64;
    }
    eprintln!(
        "kafka kill test: produced {} messages; stored {distinct} distinct events ({stored_rows} rows before de-duplication, {} duplicates from re-delivery)",
        mock.produced,
        stored_rows - distinct
    );

    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dataset.join("truth.json")).unwrap())
            .unwrap();
    assert_eq!(
        without_arrival_lag(kpis(&config, &lake, &truth)),
        without_arrival_lag(kpis(&config, &reference, &truth)),
        "every KPI equals the fault-free run"
    );
}
