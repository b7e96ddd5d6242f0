//! `ztlens kafka-mock`: librdkafka's mock cluster in its own process, for trying the Kafka
//! source without a broker and for tests that kill `ztlens serve` while the "broker" lives on.
//!
//! It creates the topics, optionally produces log files into them (one framed record per
//! message, partitions round-robin), prints `bootstrap: host:port`, one `produced N messages to
//! TOPIC` line per file and `ready`, then serves until SIGINT/SIGTERM.
//!
//! The mock keeps at most 5 MB and 100,000 messages per partition (older ones are dropped, like
//! retention), so spread large inputs over enough partitions.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use ztlens_ingest::Format;
use ztlens_ingest::framing::{Frame, Framer};
use ztlens_ingest::kafka::rdkafka::config::ClientConfig;
use ztlens_ingest::kafka::rdkafka::mocking::MockCluster;
use ztlens_ingest::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use ztlens_ingest::pipeline::open_maybe_gzip;
use ztlens_ingest::record::Framing;

use crate::commands::shutdown_signal;
use crate::service::BoxError;

/// `name:partitions`
fn parse_topic(spec: &str) -> Result<(String, i32), BoxError> {
    let (name, partitions) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("--topic {spec:?}: expected NAME:PARTITIONS"))?;
    let partitions: i32 = partitions
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("--topic {spec:?}: partitions must be a positive number"))?;
    Ok((name.to_string(), partitions))
}

pub async fn run(brokers: i32, topics: &[String], produce: &[String]) -> Result<(), BoxError> {
    let shutdown = shutdown_signal()?;
    let cluster = MockCluster::new(brokers)?;
    let mut partitions: BTreeMap<String, i32> = BTreeMap::new();
    for spec in topics {
        let (name, count) = parse_topic(spec)?;
        cluster.create_topic(&name, count, 1)?;
        partitions.insert(name, count);
    }
    let bootstrap = cluster.bootstrap_servers();
    println!("bootstrap: {bootstrap}");
    std::io::stdout().flush()?;
    let mut next_partition: BTreeMap<String, i32> = BTreeMap::new();
    for spec in produce {
        let (topic, path) = spec
            .split_once('=')
            .ok_or_else(|| format!("--produce {spec:?}: expected TOPIC=FILE"))?;
        let count = *partitions.get(topic).ok_or_else(|| {
            format!("--produce {spec:?}: topic {topic:?} is not created by a --topic")
        })?;
        let start = next_partition.entry(topic.to_string()).or_insert(0);
        let bootstrap = bootstrap.clone();
        let (topic_owned, path_owned) = (topic.to_string(), path.to_string());
        let first = *start;
        let produced = tokio::task::spawn_blocking(move || {
            produce_file(
                &bootstrap,
                &topic_owned,
                count,
                first,
                Path::new(&path_owned),
            )
        })
        .await??;
        *start = (first + (produced % count as u64) as i32) % count;
        println!("produced {produced} messages to {topic}");
        std::io::stdout().flush()?;
    }
    println!("ready");
    std::io::stdout().flush()?;
    shutdown.await;
    drop(cluster);
    Ok(())
}

/// Produce every record of `path` (plain or gzip; JSON values or lines, detected from the first
/// byte) as one message, partitions round-robin from `first_partition`.
fn produce_file(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    first_partition: i32,
    path: &Path,
) -> Result<u64, BoxError> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut input = Vec::new();
    open_maybe_gzip(file)?.read_to_end(&mut input)?;
    // The format decides the framing: Envoy lines start with `[`, which is no JSON array.
    let framing = match Format::detect(&input) {
        Some(format) => format.framing(),
        None => match input.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | Some(b'[') => Framing::Json,
            _ => Framing::Lines,
        },
    };
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "200000")
        .create()?;
    let mut framer = Framer::new(framing, 16 * 1024 * 1024);
    let mut produced = 0u64;
    let mut failed: Option<String> = None;
    let mut send = |frame: Frame<'_>| {
        let bytes = match frame {
            Frame::Record { bytes, .. } => bytes,
            Frame::Rejected { line, error, .. } => {
                failed.get_or_insert(format!("line {line} cannot be framed: {error}"));
                return;
            }
        };
        let partition = (first_partition + (produced % partitions as u64) as i32) % partitions;
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .partition(partition)
            .payload(bytes);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    if !matches!(
                        e,
                        ztlens_ingest::kafka::rdkafka::error::KafkaError::MessageProduction(
                            ztlens_ingest::kafka::rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ) {
                        failed.get_or_insert(e.to_string());
                        return;
                    }
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        produced += 1;
        producer.poll(Duration::ZERO);
    };
    framer.push(&input, &mut send);
    framer.finish(&mut send);
    if let Some(e) = failed {
        return Err(format!("producing {}: {e}", path.display()).into());
    }
    producer.flush(Duration::from_secs(120))?;
    if produced == 0 {
        return Err(format!("{}: no records to produce", path.display()).into());
    }
    Ok(produced)
}
