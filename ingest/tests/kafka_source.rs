//! The Kafka source end to end: produce generated events, consume them through the whole
//! pipeline into the lake, check what is stored and what is committed.
//!
//! Each scenario runs against librdkafka's in-process mock cluster, and again against a real
//! broker when `KAFKA_BOOTSTRAP=host:port` is set (`docker-compose up kafka` provides one).
#![cfg(feature = "kafka")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, StringArray};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ztlens_ingest::Site;
use ztlens_ingest::kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use ztlens_ingest::kafka::rdkafka::client::DefaultClientContext;
use ztlens_ingest::kafka::rdkafka::config::ClientConfig;
use ztlens_ingest::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use ztlens_ingest::kafka::rdkafka::mocking::MockCluster;
use ztlens_ingest::kafka::rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, Producer,
};
use ztlens_ingest::kafka::rdkafka::{Offset, TopicPartitionList};
use ztlens_ingest::kafka::{KafkaConfig, KafkaSource, KafkaStatus, TopicConfig};
use ztlens_ingest::lake::dead_letter::read_dead_letters;
use ztlens_ingest::lake::{LakeConfig, LakeWriter};
use ztlens_ingest::pipeline::{IngestConfig, Pipeline};

enum Cluster {
    Mock(MockCluster<'static, DefaultProducerContext>),
    Real(String),
}

impl Cluster {
    fn mock() -> Self {
        Cluster::Mock(MockCluster::new(1).expect("mock cluster"))
    }

    /// The real broker, or `None` (and a note in the output) when `KAFKA_BOOTSTRAP` is unset.
    fn real(test: &str) -> Option<Self> {
        match std::env::var("KAFKA_BOOTSTRAP") {
            Ok(b) if !b.is_empty() => Some(Cluster::Real(b)),
            _ => {
                eprintln!(
                    "{test}: skipped — set KAFKA_BOOTSTRAP=host:port to run it against a real broker"
                );
                None
            }
        }
    }

    fn bootstrap(&self) -> String {
        match self {
            Cluster::Mock(m) => m.bootstrap_servers(),
            Cluster::Real(b) => b.clone(),
        }
    }

    /// A fresh topic name (real brokers keep topics between runs).
    fn topic(&self, base: &str, partitions: i32) -> String {
        let name = match self {
            Cluster::Mock(_) => base.to_string(),
            Cluster::Real(_) => format!(
                "{base}-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ),
        };
        match self {
            Cluster::Mock(m) => m.create_topic(&name, partitions, 1).unwrap(),
            Cluster::Real(b) => {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", b)
                    .create()
                    .unwrap();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let results = rt
                    .block_on(admin.create_topics(
                        &[NewTopic::new(&name, partitions, TopicReplication::Fixed(1))],
                        &AdminOptions::new(),
                    ))
                    .unwrap();
                for r in results {
                    r.unwrap();
                }
            }
        }
        name
    }
}

fn okta_event(id: &str) -> Vec<u8> {
    format!(
        r#"{{"uuid":"{id}","published":"2026-03-02T08:00:00.000Z","eventType":"user.session.start","actor":{{"id":"00u1","type":"User","alternateId":"a@corp.example"}},"client":{{"ipAddress":"198.51.100.1","geographicalContext":{{"country":"Germany"}}}},"outcome":{{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}}}}"#
    )
    .into_bytes()
}

/// Produce `(partition, payload)` messages and wait until all are acknowledged.
fn produce(bootstrap: &str, topic: &str, messages: &[(i32, Vec<u8>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (partition, payload) in messages {
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .partition(*partition)
            .payload(payload.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

fn source_config(bootstrap: &str, group: &str, topics: &[(&str, &str)]) -> KafkaConfig {
    let mut properties = BTreeMap::new();
    properties.insert("session.timeout.ms".to_string(), "6000".to_string());
    properties.insert("heartbeat.interval.ms".to_string(), "500".to_string());
    properties.insert(
        "topic.metadata.refresh.interval.ms".to_string(),
        "1000".to_string(),
    );
    KafkaConfig {
        enabled: true,
        bootstrap_servers: bootstrap.to_string(),
        group_id: group.to_string(),
        topics: topics
            .iter()
            .map(|(name, format)| TopicConfig {
                name: name.to_string(),
                format: format.to_string(),
            })
            .collect(),
        properties,
        batch_messages: 500,
        batch_wait_ms: 20,
        workers: 2,
        commit_interval_ms: 100,
        drain_timeout_ms: 3_000,
        statistics_interval_ms: 500,
        ..KafkaConfig::default()
    }
}

struct Lake {
    _dir: tempfile::TempDir,
    config: LakeConfig,
}

impl Lake {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = LakeConfig {
            data_dir: dir.path().join("lake"),
            writer_id: Some("kafka-test".into()),
            sync: false,
            ..LakeConfig::default()
        };
        Self { _dir: dir, config }
    }

    fn pipeline(&self) -> (Pipeline, LakeWriter) {
        let writer = LakeWriter::open(&self.config, None).unwrap();
        let pipeline = Pipeline::new(
            Arc::new(Site::default()),
            writer.clone(),
            None,
            IngestConfig::default(),
        );
        (pipeline, writer)
    }

    /// Every `metadata_uid` stored in `table`, with how many times.
    fn uids(&self, table: &str) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.config.data_dir.join(table)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "parquet") {
                    read_uids(&path, &mut out);
                }
            }
        }
        out
    }
}

fn read_uids(path: &Path, out: &mut BTreeMap<String, usize>) {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name("metadata_uid").unwrap();
        let uids = column.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..uids.len() {
            *out.entry(uids.value(i).to_string()).or_default() += 1;
        }
    }
}

/// Committed offsets of `group` and high watermarks, per partition of `topic`.
fn committed_and_end(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Vec<(i64, i64)> {
    let checker: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = checker
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    (0..partitions)
        .map(|p| {
            let c = match committed.find_partition(topic, p).unwrap().offset() {
                Offset::Offset(o) => o,
                _ => -1,
            };
            let (_, high) = checker
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            (c, high)
        })
        .collect()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_fully_committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) {
    wait_until(
        "committed offsets at the log end",
        Duration::from_secs(90),
        || {
            committed_and_end(bootstrap, group, topic, partitions)
                .iter()
                .all(|(c, high)| c == high)
        },
    );
}

/// Consume `topic` with a fresh source and group into a fresh lake until every partition is
/// committed to its end; returns the lake (flushed) and the source's last status.
fn consume_to_end(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    format: &str,
) -> (Lake, KafkaStatus) {
    let lake = Lake::new();
    let (pipeline, writer) = lake.pipeline();
    let group = format!("{topic}-group");
    let config = source_config(bootstrap, &group, &[(topic, format)]);
    let source = KafkaSource::start(&config, pipeline, None).unwrap();
    wait_fully_committed(bootstrap, &group, topic, partitions);
    let status = source.status().lock().unwrap().clone();
    source.stop();
    source.join();
    writer.shutdown_blocking().unwrap();
    (lake, status)
}

fn events(topic_partitions: i32, count: usize, prefix: &str) -> Vec<(i32, Vec<u8>)> {
    (0..count)
        .map(|i| {
            (
                (i % topic_partitions as usize) as i32,
                okta_event(&format!("{prefix}-{i}")),
            )
        })
        .collect()
}

fn every_event_stored_and_offsets_committed(cluster: Cluster) {
    let bootstrap = cluster.bootstrap();
    let topic = cluster.topic("okta-all", 4);
    let n = 5_000;
    produce(&bootstrap, &topic, &events(4, n, "all"));

    let (lake, status) = consume_to_end(&bootstrap, &topic, 4, "okta");

    let uids = lake.uids("authentication");
    assert_eq!(uids.len(), n, "distinct metadata_uid stored");
    let expected: BTreeSet<String> = (0..n).map(|i| format!("all-{i}")).collect();
    assert_eq!(uids.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        status.partitions.len(),
        4,
        "status lists the assigned partitions"
    );
    for (c, high) in committed_and_end(&bootstrap, &format!("{topic}-group"), &topic, 4) {
        assert_eq!(c, high);
    }
}

/// A budget of a few messages: the consumer holds back again and again (and may pause), and
/// still stores and commits everything.
fn tiny_in_flight_budget_holds_back_and_loses_nothing(cluster: Cluster) {
    let bootstrap = cluster.bootstrap();
    let topic = cluster.topic("okta-budget", 2);
    let n = 600;
    produce(&bootstrap, &topic, &events(2, n, "budget"));
    let lake = Lake::new();
    let (pipeline, writer) = lake.pipeline();
    let group = format!("{topic}-group");
    let config = KafkaConfig {
        max_in_flight_bytes: 4096,
        ..source_config(&bootstrap, &group, &[(&topic, "okta")])
    };
    let source = KafkaSource::start(&config, pipeline, None).unwrap();
    wait_fully_committed(&bootstrap, &group, &topic, 2);
    source.stop();
    source.join();
    writer.shutdown_blocking().unwrap();
    let uids = lake.uids("authentication");
    let expected: BTreeSet<String> = (0..n).map(|i| format!("budget-{i}")).collect();
    assert_eq!(uids.keys().cloned().collect::<BTreeSet<_>>(), expected);
}

fn restart_mid_stream_loses_nothing(cluster: Cluster) {
    let bootstrap = cluster.bootstrap();
    // The mock cluster keeps at most 5 MB per partition (older messages are truncated, like
    // retention), so 60,000 events of ~330 bytes are spread over 8 partitions.
    let partitions = 8;
    let topic = cluster.topic("okta-restart", partitions);
    let n = 60_000;
    produce(&bootstrap, &topic, &events(partitions, n, "restart"));
    let lake = Lake::new();
    let group = format!("{topic}-group");
    let mut config = source_config(&bootstrap, &group, &[(&topic, "okta")]);
    config.batch_messages = 200;

    let (pipeline, writer) = lake.pipeline();
    let first = KafkaSource::start(&config, pipeline, None).unwrap();
    let status = first.status();
    // Stop as soon as the first batch is durable, so the stop lands mid-stream.
    let start = Instant::now();
    while status.lock().unwrap().messages == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    first.stop();
    first.join();
    let consumed_first = status.lock().unwrap().messages;
    let mid = committed_and_end(&bootstrap, &group, &topic, partitions);
    assert!(
        mid.iter().any(|(c, high)| c < high),
        "the stop must land mid-stream (first run consumed {consumed_first} of {n})"
    );

    // The second source gets the same lake writer (one writer per lake directory).
    let pipeline = Pipeline::new(
        Arc::new(Site::default()),
        writer.clone(),
        None,
        IngestConfig::default(),
    );
    let second = KafkaSource::start(&config, pipeline, None).unwrap();
    wait_fully_committed(&bootstrap, &group, &topic, partitions);
    second.stop();
    second.join();
    writer.shutdown_blocking().unwrap();

    let uids = lake.uids("authentication");
    assert_eq!(uids.len(), n, "every event stored after a restart");
    let stored: usize = uids.values().sum();
    eprintln!(
        "restart: produced {n}, first run consumed {consumed_first}, rows stored {stored} (duplicates before de-duplication: {})",
        stored - n
    );
}

fn poison_message_last_in_partition(cluster: Cluster) {
    let bootstrap = cluster.bootstrap();
    let topic = cluster.topic("okta-poison", 2);
    let mut messages = events(2, 100, "poison");
    messages.push((0, b"\xff\xfe not json at all".to_vec()));
    messages.push((1, b"   ".to_vec()));
    produce(&bootstrap, &topic, &messages);
    let (lake, _) = consume_to_end(&bootstrap, &topic, 2, "okta");

    assert_eq!(lake.uids("authentication").len(), 100);
    let (letters, damaged) = read_dead_letters(&lake.config.data_dir).unwrap();
    assert!(damaged.is_empty());
    let mut by_origin: Vec<(String, String, Vec<u8>)> = letters
        .into_iter()
        .map(|l| (l.origin, l.kind, l.raw))
        .collect();
    by_origin.sort();
    assert_eq!(
        by_origin,
        vec![
            (
                format!("kafka:{topic}/0/50"),
                "invalid_json".to_string(),
                b"\xff\xfe not json at all".to_vec()
            ),
            (
                format!("kafka:{topic}/1/50"),
                "empty".to_string(),
                b"   ".to_vec()
            ),
        ]
    );
}

fn auto_format_topic(cluster: Cluster) {
    let bootstrap = cluster.bootstrap();
    let topic = cluster.topic("mixed", 1);
    let messages = vec![
        (0, okta_event("auto-1")),
        (0, b"2 123456789010 eni-1 10.0.1.5 10.0.2.9 49152 22 6 10 840 1772438400 1772438460 REJECT OK".to_vec()),
        (0, br#"198.51.100.7 - alice [02/Mar/2026:08:00:00 +0000] "GET /admin HTTP/1.1" 403 12 "-" "curl/8""#.to_vec()),
        (0, b"hello, this is no log format".to_vec()),
    ];
    produce(&bootstrap, &topic, &messages);
    let (lake, _) = consume_to_end(&bootstrap, &topic, 1, "auto");
    assert_eq!(lake.uids("authentication").len(), 1);
    assert_eq!(lake.uids("network_activity").len(), 1);
    assert_eq!(lake.uids("http_activity").len(), 1);
    let (letters, _) = read_dead_letters(&lake.config.data_dir).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, "unknown_format");
    assert_eq!(letters[0].origin, format!("kafka:{topic}/0/3"));
}

#[test]
fn mock_every_event_stored_and_offsets_committed() {
    every_event_stored_and_offsets_committed(Cluster::mock());
}

#[test]
fn mock_tiny_in_flight_budget_holds_back_and_loses_nothing() {
    tiny_in_flight_budget_holds_back_and_loses_nothing(Cluster::mock());
}

#[test]
fn mock_restart_mid_stream_loses_nothing() {
    restart_mid_stream_loses_nothing(Cluster::mock());
}

#[test]
fn mock_poison_message_last_in_partition() {
    poison_message_last_in_partition(Cluster::mock());
}

#[test]
fn mock_auto_format_topic() {
    auto_format_topic(Cluster::mock());
}

#[test]
fn real_broker_scenarios() {
    let Some(cluster) = Cluster::real("real_broker_scenarios") else {
        return;
    };
    every_event_stored_and_offsets_committed(cluster);
    let b = std::env::var("KAFKA_BOOTSTRAP").unwrap();
    tiny_in_flight_budget_holds_back_and_loses_nothing(Cluster::Real(b.clone()));
    restart_mid_stream_loses_nothing(Cluster::Real(b.clone()));
    poison_message_last_in_partition(Cluster::Real(b.clone()));
    auto_format_topic(Cluster::Real(b));
}
