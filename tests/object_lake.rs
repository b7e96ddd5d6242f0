//! The lake in an S3-compatible bucket: moto's server (PyPI `moto[server]`, installed by
//! scripts/test) on loopback stands in for S3. A generated company's logs ingested into it give
//! the truth's KPIs; compaction and retention work on it; and engines we did not write read it
//! as it is: pyarrow's dataset API straight from the bucket, Spark (PyPI `pyspark` on the
//! machine's Java) through `ztlens lake ddl --dialect spark` over a copy.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use support::*;

const ACCESS_KEY: &str = "ztlens-test";
const SECRET_KEY: &str = "ztlens-test-secret";

/// The S3 server of this test binary, started once; it stops when the binary exits (its
/// wrapper shell kills it when our end of its stdin closes).
struct S3Server {
    endpoint: String,
    _process: Mutex<(Child, ChildStdin)>,
}

fn s3_server() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "python3 -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; cat >/dev/null; kill $m"
            ))
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let stdin = child.stdin.take().unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let address = format!("127.0.0.1:{port}");
        eventually(Duration::from_secs(60), || {
            try_request(&address, "GET", "/", &[], b"").ok()
        })
        .expect("moto_server answers (scripts/test installs it: pip install \"moto[server]\")");
        CHILD_ENV
            .set(vec![
                ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
                ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
                ("AWS_REGION".into(), "us-east-1".into()),
            ])
            .unwrap();
        S3Server {
            endpoint,
            _process: Mutex::new((child, stdin)),
        }
    })
}

impl S3Server {
    fn address(&self) -> &str {
        self.endpoint.trim_start_matches("http://")
    }

    fn create_bucket(&self, bucket: &str) {
        let response = request(self.address(), "PUT", &format!("/{bucket}"), &[], b"");
        assert_eq!(
            response.status,
            200,
            "create bucket {bucket}: {}",
            response.text()
        );
    }

    /// Every key under `prefix` in `bucket`.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{bucket}?list-type=2&prefix={}", percent_encode(prefix));
            if let Some(token) = &token {
                path.push_str(&format!("&continuation-token={}", percent_encode(token)));
            }
            let response = request(self.address(), "GET", &path, &[], b"");
            assert_eq!(response.status, 200, "{}", response.text());
            let text = response.text();
            keys.extend(
                text.split("<Key>")
                    .skip(1)
                    .filter_map(|part| part.split_once("</Key>").map(|(k, _)| k.to_string())),
            );
            token = text
                .split_once("<NextContinuationToken>")
                .and_then(|(_, rest)| rest.split_once("</NextContinuationToken>"))
                .map(|(t, _)| t.to_string());
            if token.is_none() {
                return keys;
            }
        }
    }

    /// `[lake]` of a lake at `s3://bucket/lake` on this server.
    fn lake_section(&self, bucket: &str) -> String {
        format!(
            "\n[lake]\nurl = \"s3://{bucket}/lake\"\ns3_endpoint = \"{}\"\ns3_allow_http = true\ns3_region = \"us-east-1\"\n",
            self.endpoint
        )
    }
}

/// The generated config as it was, for a lake on local disk.
const LOCAL_CONFIG: &str = "ztlens-local.toml";

/// A generated dataset whose `ztlens.toml` puts the lake in `bucket` (`ztlens-local.toml`: the
/// same without the bucket).
fn dataset_in_bucket(dir: &Path, seed: u64, events: u64, bucket: &str) -> (PathBuf, Value) {
    let server = s3_server();
    server.create_bucket(bucket);
    let dataset = generate(dir, seed, events);
    let config = dataset.join("ztlens.toml");
    std::fs::copy(&config, dataset.join(LOCAL_CONFIG)).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&config)
        .unwrap();
    file.write_all(server.lake_section(bucket).as_bytes())
        .unwrap();
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dataset.join("truth.json")).unwrap())
            .unwrap();
    (dataset, truth)
}

fn query(dataset: &Path, lake: &Path, sql: &str) -> Vec<Value> {
    query_with(&dataset.join("ztlens.toml"), lake, sql)
}

fn query_with(config: &Path, lake: &Path, sql: &str) -> Vec<Value> {
    let out = run_ok(
        ztlens()
            .arg("query")
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(lake)
            .env("ZTLENS_QUERY__MAX_ROWS", "10000000")
            .args(["--format", "json", sql]),
    );
    serde_json::from_str(&out).unwrap()
}

fn maintain(dataset: &Path, lake: &Path, retention_days: &str) -> String {
    run_ok(
        ztlens()
            .arg("maintain")
            .arg("--config")
            .arg(dataset.join("ztlens.toml"))
            .arg("--data-dir")
            .arg(lake)
            .env("ZTLENS_LAKE__RETENTION_DAYS", retention_days)
            .env("ZTLENS_LAKE__COMPACT_MIN_FILES", "2")
            .env("ZTLENS_LAKE__COMPACTION_GRACE_SECS", "0"),
    )
}

const TABLES: [&str; 7] = [
    "authentication",
    "network_activity",
    "http_activity",
    "device_state",
    "detection_finding",
    "account_change",
    "base_event",
];

/// Rows, distinct ids and partition dates of every table, as ztlens counts them.
fn table_counts(dataset: &Path, lake: &Path) -> Value {
    let union = |select: &str| {
        TABLES
            .iter()
            .map(|t| select.replace("{table}", t))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    };
    let counts = query(
        dataset,
        lake,
        &union(
            "SELECT '{table}' AS t, count(*) AS n, count(DISTINCT metadata_uid) AS d FROM {table}",
        ),
    );
    let dates = query(
        dataset,
        lake,
        &format!(
            "SELECT t, date FROM ({}) ORDER BY t, date",
            union("SELECT DISTINCT '{table}' AS t, date FROM {table}")
        ),
    );
    let mut out = serde_json::Map::new();
    for row in counts {
        let table = row["t"].as_str().unwrap();
        let table_dates: Vec<Value> = dates
            .iter()
            .filter(|d| d["t"] == table)
            .map(|d| d["date"].clone())
            .collect();
        out.insert(
            table.into(),
            serde_json::json!({"rows": row["n"], "distinct_uids": row["d"], "dates": table_dates}),
        );
    }
    assert_eq!(out.len(), TABLES.len());
    Value::Object(out)
}

fn python(script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/engines")
        .join(script);
    let out = Command::new("python3")
        .arg(path)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The inputs of the four seed KPIs (MFA outcomes by country, blocked lateral movement,
/// high-privilege failures, access decisions), as plain SQL both ztlens and Spark run.
const SEED_INPUTS: [(&str, &str); 4] = [
    (
        "sign_ins_by_country_and_decision",
        "SELECT COALESCE(src_endpoint_location_country, 'unknown') AS country, zt_decision, \
         count(DISTINCT metadata_uid) AS events FROM authentication GROUP BY 1, 2",
    ),
    (
        "blocked_lateral_flows",
        "SELECT zt_segment_src, zt_segment_dst, count(DISTINCT metadata_uid) AS flows \
         FROM network_activity WHERE zt_is_lateral AND disposition_id = 2 GROUP BY 1, 2",
    ),
    (
        "failed_sign_ins_by_user",
        "SELECT user_name, count(DISTINCT metadata_uid) AS failures FROM authentication \
         WHERE status_id = 2 GROUP BY 1",
    ),
    (
        "requests_by_decision",
        "SELECT zt_decision, count(DISTINCT metadata_uid) AS requests FROM http_activity GROUP BY 1",
    ),
];

/// Rows as sorted JSON strings: engines order NULLs differently.
fn sorted_rows(rows: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    out.sort();
    out
}

#[test]
fn an_s3_lake_gives_the_truth_and_other_engines_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, truth) = dataset_in_bucket(dir.path(), 5, 6_000, "truth");
    let server = s3_server();
    let lake = dir.path().join("node");
    ingest_dataset(&dataset, &lake);

    // The Parquet files are in the bucket, none on the node's disk.
    let keys = server.keys("truth", "lake/authentication/");
    assert!(
        keys.iter()
            .any(|k| k.starts_with("lake/authentication/date=") && k.ends_with(".parquet")),
        "{keys:?}"
    );
    let local_parquet: Vec<_> = walk(&lake)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert!(local_parquet.is_empty(), "{local_parquet:?}");

    // Compaction on the bucket merges each hour's files of the one-shot ingests (a KPI pass
    // over the fewer files is also what keeps this test short: each file is a request).
    let files_ingested = server.keys("truth", "lake/").len();
    let summary = maintain(&dataset, &lake, "0");
    assert!(summary.contains("compacted"), "{summary}");
    let files_compacted = server.keys("truth", "lake/").len();
    assert!(
        files_compacted < files_ingested,
        "{files_ingested} → {files_compacted}"
    );

    let config = dataset.join("ztlens.toml");
    let first = kpis(&config, &lake, &truth);
    assert_matches_truth(&truth, &first);

    // pyarrow reads every table from the bucket with its hive partitions: the same rows.
    let ours = table_counts(&dataset, &lake);
    let copy = dir.path().join("copy");
    let theirs: Value = serde_json::from_str(&python(
        "pyarrow_lake.py",
        &[
            "--endpoint",
            &server.endpoint,
            "--bucket",
            "truth",
            "--prefix",
            "lake",
            "--copy-to",
            copy.to_str().unwrap(),
        ],
    ))
    .unwrap();
    assert_eq!(theirs, ours, "pyarrow's counts (left) and ztlens's");
    assert!(ours["authentication"]["rows"].as_u64().unwrap() > 1000);

    // Spark runs the generated DDL over a copy of the lake: the seed KPIs' inputs are equal.
    let ddl = run_ok(
        ztlens()
            .args(["lake", "ddl", "--dialect", "spark", "--location"])
            .arg(format!("file://{}", copy.display())),
    );
    let ddl_path = dir.path().join("spark.sql");
    std::fs::write(&ddl_path, ddl).unwrap();
    let queries: serde_json::Map<String, Value> = SEED_INPUTS
        .iter()
        .map(|(name, sql)| (name.to_string(), Value::from(*sql)))
        .collect();
    let queries_path = dir.path().join("queries.json");
    std::fs::write(&queries_path, Value::Object(queries).to_string()).unwrap();
    let spark: Value = serde_json::from_str(&python(
        "spark_lake.py",
        &[ddl_path.to_str().unwrap(), queries_path.to_str().unwrap()],
    ))
    .unwrap();
    for (name, sql) in SEED_INPUTS {
        let ours = query(&dataset, &lake, sql);
        assert!(!ours.is_empty(), "{name}: the data exercises it");
        let theirs = spark[name].as_array().unwrap();
        assert_eq!(
            sorted_rows(theirs),
            sorted_rows(&ours),
            "{name}: Spark (left) and ztlens"
        );
    }

    // Every file again: each event is stored twice; compaction removes the copies without
    // changing a KPI (that duplicates count once before compaction is tests/kpi_truth.rs's).
    ingest_dataset(&dataset, &lake);
    let doubled = query(
        &dataset,
        &lake,
        "SELECT count(*) AS n, count(DISTINCT metadata_uid) AS d FROM authentication",
    );
    assert!(doubled[0]["n"].as_u64() >= Some(2 * doubled[0]["d"].as_u64().unwrap()));
    maintain(&dataset, &lake, "0");
    let compacted = query(
        &dataset,
        &lake,
        "SELECT count(*) AS n, count(DISTINCT metadata_uid) AS d FROM authentication",
    );
    assert_eq!(
        compacted[0]["n"], compacted[0]["d"],
        "duplicates left: {compacted:?}"
    );
    assert_eq!(compacted[0]["d"], doubled[0]["d"]);
    assert_eq!(
        kpis(&config, &lake, &truth),
        first,
        "compaction changed a KPI"
    );

    // Retention on the bucket: the generated day is months old, so 30 days removes it all.
    maintain(&dataset, &lake, "30");
    assert_eq!(server.keys("truth", "lake/"), Vec::<String>::new());
    let empty = query(&dataset, &lake, "SELECT count(*) AS n FROM authentication");
    assert_eq!(empty[0]["n"], 0);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Topics of the scale-out test and the dataset files produced into them.
const SCALE_TOPICS: [(&str, u32); 3] = [("okta", 8), ("vpcflow", 4), ("nginx", 2)];
const SCALE_FILES: [(&str, &str); 4] = [
    ("okta", "okta/system_log.ndjson"),
    ("okta", "okta/api_pages.json"),
    ("vpcflow", "vpcflow/flows_v2.log"),
    ("nginx", "nginx/access.log"),
];

/// `ztlens serve` as one node of the bucket's lake: its own disk (WAL, dead letters) and
/// writer id, the shared config.
fn node(config: &Path, disk: &Path, writer_id: &str, extra_env: &[(&str, &str)]) -> Server {
    let mut cmd = ztlens();
    cmd.arg("--config")
        .arg(config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ZTLENS_LAKE__DATA_DIR", disk)
        .env("ZTLENS_LAKE__WRITER_ID", writer_id)
        .env("ZTLENS_LAKE__RETENTION_DAYS", "0")
        .env("ZTLENS_METRICS__KPI_REFRESH_SECS", "0")
        .env("ZTLENS_SERVER__MAINTENANCE_INTERVAL_SECS", "0");
    for (key, value) in extra_env {
        cmd.env(key, value);
    }
    Server::start(cmd)
}

fn server_keys(bucket: &str) -> Vec<String> {
    s3_server().keys(bucket, "lake/")
}

/// `(topic, partition)` → (committed, high watermark) of the partitions a node consumes.
fn consumed(server: &Server) -> Vec<(String, Option<i64>, Option<i64>)> {
    let status = server.get("/api/v1/status").json();
    status["sources"]["kafka"]["partitions"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .map(|p| {
                    (
                        format!("{}/{}", p["topic"].as_str().unwrap_or(""), p["partition"]),
                        p["committed"].as_i64(),
                        p["high_watermark"].as_i64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn two_ingest_nodes_and_a_query_node_share_the_bucket_through_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, truth) = dataset_in_bucket(dir.path(), 9, 40_000, "scale");
    let files: Vec<(&str, PathBuf)> = SCALE_FILES
        .iter()
        .map(|(topic, file)| (*topic, dataset.join(file)))
        .collect();
    let mock = KafkaMock::start(&SCALE_TOPICS, &files);
    assert!(mock.produced >= 10_000, "produced {}", mock.produced);
    let partitions: usize = SCALE_TOPICS.iter().map(|(_, p)| *p as usize).sum();
    let config = dataset.join("ztlens-scale.toml");
    let mut text = std::fs::read_to_string(dataset.join("ztlens.toml")).unwrap();
    text.push_str(&format!(
        r#"
[kafka]
enabled = true
bootstrap_servers = "{}"
group_id = "ztlens-scale-test"
batch_messages = 1000
commit_interval_ms = 200
drain_timeout_ms = 3000
statistics_interval_ms = 300
topics = [
  {{ name = "okta", format = "okta" }},
  {{ name = "vpcflow", format = "vpcflow" }},
  {{ name = "nginx", format = "auto" }},
]

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"#,
        mock.bootstrap
    ));
    std::fs::write(&config, text).unwrap();

    // Two ingest nodes in one consumer group; the first is killed once it has made progress.
    let disk_a = dir.path().join("node-a");
    let disk_b = dir.path().join("node-b");
    let mut node_a = node(&config, &disk_a, "node_a", &[]);
    let mut node_b = node(&config, &disk_b, "node_b", &[]);
    let progressed = eventually(Duration::from_secs(240), || {
        let status = node_a.get("/api/v1/status").json();
        (status["sources"]["kafka"]["messages"].as_u64() >= Some(2_000)).then_some(())
    });
    assert!(
        progressed.is_some(),
        "node a made no progress:\n{}",
        node_a.log()
    );
    node_a.kill9();
    let mut node_a = node(&config, &disk_a, "node_a", &[]);

    // Caught up: every partition is consumed by one of the two, committed to its end.
    let caught_up = eventually(Duration::from_secs(600), || {
        let mut done: Vec<String> = Vec::new();
        for server in [&node_a, &node_b] {
            for (partition, committed, high) in consumed(server) {
                if high.is_none() || committed != high {
                    return None;
                }
                done.push(partition);
            }
        }
        done.sort();
        done.dedup();
        (done.len() == partitions).then_some(())
    });
    assert!(
        caught_up.is_some(),
        "did not catch up:\n{}\n{}",
        node_a.log(),
        node_b.log()
    );
    // A clean stop flushes each node's buffers to the bucket.
    assert!(node_a.terminate(), "clean stop:\n{}", node_a.log());
    assert!(node_b.terminate(), "clean stop:\n{}", node_b.log());

    // Both nodes wrote to the bucket; each compacts its own files, at the same time.
    let written = server_keys("scale");
    for writer in ["node_a-", "node_b-"] {
        assert!(
            written.iter().any(|k| k.contains(writer)),
            "no file of {writer}: {written:?}"
        );
    }
    let compact_both = || {
        let compactions: Vec<_> = [("node_a", &disk_a), ("node_b", &disk_b)]
            .into_iter()
            .map(|(writer, disk)| {
                ztlens()
                    .arg("--config")
                    .arg(&config)
                    .arg("maintain")
                    .env("ZTLENS_LAKE__DATA_DIR", disk)
                    .env("ZTLENS_LAKE__WRITER_ID", writer)
                    .env("ZTLENS_LAKE__RETENTION_DAYS", "0")
                    .env("ZTLENS_LAKE__COMPACT_MIN_FILES", "2")
                    .env("ZTLENS_LAKE__COMPACTION_GRACE_SECS", "2")
                    .env("ZTLENS_KAFKA__ENABLED", "false")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in compactions {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "maintain: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    // Within the grace period the merged files and the files they replace are both there...
    compact_both();
    let merged = server_keys("scale");
    assert!(
        merged.len() > written.len(),
        "{} → {} files",
        written.len(),
        merged.len()
    );
    // ...and the next run after it deletes the replaced ones.
    std::thread::sleep(Duration::from_millis(2_500));
    compact_both();
    let compacted = server_keys("scale");
    assert!(
        compacted.len() < written.len(),
        "{} → {} files",
        written.len(),
        compacted.len()
    );

    // A third node serves queries over the bucket; it consumes nothing.
    let query_node = node(
        &config,
        &dir.path().join("node-q"),
        "node_q",
        &[
            ("ZTLENS_KAFKA__ENABLED", "false"),
            ("ZTLENS_SERVER__INGEST", "false"),
            ("ZTLENS_QUERY__MAX_ROWS", "10000000"),
        ],
    );
    let refused = query_node.post("/api/v1/ingest/okta", &[], b"{}");
    assert_eq!(refused.status, 403, "{}", refused.text());

    // The same files ingested by one node on a local disk, without faults.
    let reference = dir.path().join("reference");
    for (topic, file) in SCALE_FILES {
        run_ok(
            ztlens()
                .arg("--config")
                .arg(dataset.join(LOCAL_CONFIG))
                .arg("--data-dir")
                .arg(&reference)
                .args(["ingest", "--source", topic])
                .arg(dataset.join(file)),
        );
    }
    for table in ["authentication", "network_activity", "http_activity"] {
        let sql = format!("SELECT DISTINCT metadata_uid FROM {table} ORDER BY metadata_uid");
        let ours = query_node.query_rows(&sql);
        let want = query_with(&dataset.join(LOCAL_CONFIG), &reference, &sql);
        assert_eq!(
            ours.as_array().unwrap().len(),
            want.len(),
            "{table}: distinct events in the bucket"
        );
        assert!(
            ours.as_array().unwrap() == &want,
            "{table}: the same event ids"
        );
    }
    let rows = query_node
        .query_rows("SELECT count(*) AS n, count(DISTINCT metadata_uid) AS d FROM authentication");
    eprintln!(
        "scale-out test: produced {} messages; {} files written by two nodes, {} after compaction; authentication: {} rows, {} distinct",
        mock.produced,
        written.len(),
        compacted.len(),
        rows[0]["n"],
        rows[0]["d"]
    );
    let range = format!(
        "from={}&to={}",
        truth["from"].as_str().unwrap(),
        truth["to"].as_str().unwrap()
    );
    let reference_kpis = kpis(&dataset.join(LOCAL_CONFIG), &reference, &truth);
    let mut served = serde_json::Map::new();
    for kpi in reference_kpis.as_object().unwrap().keys() {
        let response = query_node.get(&format!("/api/v1/kpis/{kpi}?{range}"));
        assert_eq!(response.status, 200, "{kpi}: {}", response.text());
        served.insert(kpi.clone(), response.json()["rows"].clone());
    }
    assert_eq!(
        without_arrival_lag(Value::Object(served)),
        without_arrival_lag(reference_kpis),
        "every KPI of the query node equals the fault-free single node"
    );
}
