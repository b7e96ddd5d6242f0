//! `ztlens bench`: repeatable throughput and latency figures on generated data.
//!
//! 1. generate a synthetic company's logs in memory (Okta NDJSON, VPC flow v2 lines, nginx);
//! 2. parse each format on one thread (framing + parsing + Arrow building), no I/O;
//! 3. ingest the same data from files into a fresh lake (the `ztlens ingest` path, files in
//!    parallel), including Parquet writing and fsync;
//! 4. evaluate every KPI over the whole range several times and report the median;
//! 5. report the process's peak resident memory.
//!
//! Figures go to stdout as a table; `docs/performance.md` records them with the command.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ztlens_analytics::{Engine, Inventory, KpiCatalog, QueryConfig, TimeRange};
use ztlens_ingest::lake::{LakeConfig, LakeWriter};
use ztlens_ingest::pipeline::{IngestConfig, Pipeline};
use ztlens_ingest::{Format, Site, decode_bytes, parsers};

use crate::service::BoxError;
use crate::synth::{EVENTS_PER_SCENARIO, Generator, SCENARIO_SPAN_MS};

/// Peak resident set size of this process in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn run(
    events: u64,
    dir: Option<PathBuf>,
    repeat: usize,
    catalog: KpiCatalog,
) -> Result<(), BoxError> {
    let start_ms = 1_772_323_200_000; // 2026-03-01T00:00:00Z
    let duration_ms = 86_400_000;
    let mut generator = Generator::new(1, start_ms);
    let site = generator.company().site_config();
    let inventory = generator.truth().inventory.config().load()?;
    let started = Instant::now();
    let mean_gap = duration_ms as f64 / (events as f64 / EVENTS_PER_SCENARIO);
    let mut emitted = generator.advance(start_ms + duration_ms - SCENARIO_SPAN_MS, mean_gap);
    let (okta, nginx) = (emitted.take("okta"), emitted.take("nginx"));
    let inputs: Vec<(Format, Vec<u8>, usize)> = vec![
        (
            parsers::okta::FORMAT,
            (okta.join("\n") + "\n").into_bytes(),
            okta.len(),
        ),
        (
            parsers::vpcflow::FORMAT,
            (emitted
                .vpc
                .iter()
                .map(|r| r.v2_line())
                .collect::<Vec<_>>()
                .join("\n")
                + "\n")
                .into_bytes(),
            emitted.vpc.len(),
        ),
        (
            parsers::nginx::FORMAT,
            (nginx.join("\n") + "\n").into_bytes(),
            nginx.len(),
        ),
    ];
    drop(emitted);
    println!(
        "generated {} records in {:.1} s (okta {}, vpcflow {}, nginx {})",
        inputs.iter().map(|i| i.2).sum::<usize>(),
        started.elapsed().as_secs_f64(),
        inputs[0].2,
        inputs[1].2,
        inputs[2].2
    );

    println!("\nparse (one thread, bytes -> Arrow, no I/O)");
    println!(
        "{:<10} {:>12} {:>10} {:>12} {:>10}",
        "format", "records", "MB", "records/s", "MB/s"
    );
    let site_compiled = Arc::new(Site::new(&site)?);
    for (format, bytes, _) in &inputs {
        let mut best = f64::MAX;
        let mut records = 0;
        for _ in 0..repeat.max(1) {
            let t = Instant::now();
            let (decoded, stats) =
                decode_bytes(*format, site_compiled.clone(), bytes, "bench", 0, 1 << 20);
            best = best.min(t.elapsed().as_secs_f64());
            records = stats.records;
            assert_eq!(
                stats.total_dead_letters(),
                0,
                "generated data parses cleanly"
            );
            drop(decoded);
        }
        let mb = bytes.len() as f64 / 1e6;
        println!(
            "{:<10} {:>12} {:>10.1} {:>12.0} {:>10.1}",
            format.name(),
            records,
            mb,
            records as f64 / best,
            mb / best
        );
    }

    let temp = tempdir_in(dir)?;
    let files_dir = temp.join("files");
    std::fs::create_dir_all(&files_dir)?;
    let mut paths = Vec::new();
    for (format, bytes, _) in &inputs {
        let path = files_dir.join(format!("{}.log", format.name()));
        std::fs::write(&path, bytes)?;
        paths.push((*format, path));
    }
    let total_bytes: usize = inputs.iter().map(|i| i.1.len()).sum();
    let total_records: usize = inputs.iter().map(|i| i.2).sum();
    drop(inputs);

    let lake_dir = temp.join("lake");
    let lake = LakeConfig {
        data_dir: lake_dir.clone(),
        writer_id: Some("bench".into()),
        ..LakeConfig::default()
    };
    let writer = LakeWriter::open(&lake, None)?;
    let pipeline = Pipeline::new(site_compiled, writer.clone(), None, IngestConfig::default());
    let t = Instant::now();
    let ingest = tokio::task::spawn_blocking(move || {
        for (format, path) in &paths {
            pipeline.ingest_files(*format, std::slice::from_ref(path), &|_| {})?;
        }
        Ok::<_, ztlens_ingest::pipeline::IngestError>(())
    });
    ingest.await??;
    writer.shutdown().await?;
    let seconds = t.elapsed().as_secs_f64();
    let lake_bytes = dir_size(&lake_dir);
    println!("\ningest files -> Parquet lake (flush + fsync included)");
    println!(
        "{total_records} records, {:.1} MB in {seconds:.2} s: {:.0} records/s, {:.1} MB/s; lake {:.1} MB ({:.1}x smaller)",
        total_bytes as f64 / 1e6,
        total_records as f64 / seconds,
        total_bytes as f64 / 1e6 / seconds,
        lake_bytes as f64 / 1e6,
        total_bytes as f64 / lake_bytes.max(1) as f64
    );

    let engine = Engine::new(&lake_dir, catalog, QueryConfig::default(), None, &inventory)?;
    let range = TimeRange::new(start_ms, start_ms + duration_ms, None)?;
    kpi_latency(&engine, range, repeat).await?;
    println!("\npeak RSS {:.0} MiB", peak_rss_mib());
    let _ = std::fs::remove_dir_all(&temp);
    Ok(())
}

/// Evaluate every KPI over `range` as one bucket and as an hourly series, `repeat` times each,
/// and print the medians, the first evaluation apart (for a KPI split in two it computes and
/// stores the sealed hours' partial results; later ones read them), and what one pass of every
/// KPI over the range costs (the `/metrics` pass), first and later.
async fn kpi_latency(engine: &Engine, range: TimeRange, repeat: usize) -> Result<(), BoxError> {
    let hourly = TimeRange::new(range.from_ms(), range.to_ms(), Some(3_600_000))?;
    let cache = if engine.config().kpi_cache {
        "partial results of sealed hours stored in <data_dir>/_kpi_cache"
    } else {
        "[query] kpi_cache = false"
    };
    println!(
        "\nKPI latency over the whole range ({cache}; first run, then the median of {} runs)",
        repeat.max(1)
    );
    println!(
        "{:<34} {:>6} {:>12} {:>12} {:>14}",
        "kpi", "split", "first ms", "whole ms", "hourly ms"
    );
    let (mut pass_first, mut pass_median) = (0.0, 0.0);
    for def in engine.catalog().list().to_vec() {
        let mut whole = Vec::new();
        let mut by_hour = Vec::new();
        for _ in 0..repeat.max(1) {
            let t = Instant::now();
            engine.run_kpi(&def.id, range).await?;
            whole.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            engine.run_kpi(&def.id, hourly).await?;
            by_hour.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let first = whole[0];
        let whole_median = median(&mut whole);
        pass_first += first;
        pass_median += whole_median;
        println!(
            "{:<34} {:>6} {:>12.1} {:>12.1} {:>14.1}",
            def.id,
            if def.partial.is_some() { "yes" } else { "no" },
            first,
            whole_median,
            median(&mut by_hour)
        );
    }
    println!(
        "every KPI once over the range (a /metrics pass): {pass_first:.0} ms the first time, \
         {pass_median:.0} ms (sum of medians) after"
    );
    Ok(())
}

/// `ztlens bench --lake DIR`: KPI latency over an existing lake (e.g. one built with
/// `ztlens gen` + `ztlens ingest` at a size that does not fit the in-memory benchmark).
/// What `ztlens bench --lake` times besides the KPIs.
#[derive(Debug)]
pub struct ObserveBench {
    /// A candidate policy whose what-if (and the access-path map) is timed.
    pub policy: Option<PathBuf>,
    pub skip_kpis: bool,
    /// The site the policy is checked against.
    pub site: ztlens_ingest::SiteConfig,
}

pub async fn run_lake(
    lake: PathBuf,
    (from, to): (&str, &str),
    repeat: usize,
    query: QueryConfig,
    catalog: KpiCatalog,
    inventory: &Inventory,
    observe: ObserveBench,
) -> Result<(), BoxError> {
    let now = chrono::Utc::now().timestamp_millis();
    let range = TimeRange::parse(Some(from), Some(to), None, now)?;
    let rows: u64 = {
        let engine = Engine::new(&lake, KpiCatalog::builtin(), query.clone(), None, inventory)?;
        let out = engine
            .run_sql(
                "SELECT (SELECT count(*) FROM authentication) + (SELECT count(*) FROM network_activity) \
                 + (SELECT count(*) FROM http_activity) + (SELECT count(*) FROM device_state) \
                 + (SELECT count(*) FROM account_change) + (SELECT count(*) FROM detection_finding) \
                 + (SELECT count(*) FROM base_event) AS n",
            )
            .await?;
        out.json_rows()?
            .first()
            .and_then(|r| r.get("n"))
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    };
    println!(
        "lake {}: {rows} rows, {:.1} MB of Parquet",
        lake.display(),
        dir_size(&lake) as f64 / 1e6
    );
    let engine = Engine::new(&lake, catalog, query, None, inventory)?;
    if !observe.skip_kpis {
        kpi_latency(&engine, range, repeat).await?;
    }
    if let Some(path) = &observe.policy {
        observe_latency(&engine, path, &observe.site, range, repeat).await?;
    }
    println!("\npeak RSS {:.0} MiB", peak_rss_mib());
    Ok(())
}

/// The what-if of a candidate policy (with itself as baseline, so the comparison runs too) and
/// the access-path map, over `range`: medians of `repeat` runs.
async fn observe_latency(
    engine: &Engine,
    policy: &std::path::Path,
    site: &ztlens_ingest::SiteConfig,
    range: TimeRange,
    repeat: usize,
) -> Result<(), BoxError> {
    use ztlens_analytics::whatif::CandidatePolicy;
    let text = std::fs::read_to_string(policy)
        .map_err(|e| format!("cannot read {}: {e}", policy.display()))?;
    let policy = CandidatePolicy::parse(&text, site)?;
    let apps = ztlens_analytics::access_paths::resolve_apps(site, &[])?;
    let mut times: [Vec<f64>; 4] = Default::default();
    let mut refused = 0;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let report = engine.what_if(&policy, None, range).await?;
        times[0].push(t.elapsed().as_secs_f64() * 1e3);
        refused = report.rules.iter().map(|r| r.refused).sum::<i64>();
        let t = Instant::now();
        engine.what_if(&policy, Some(&policy), range).await?;
        times[1].push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        engine.access_paths(&apps, range, 0, 1000).await?;
        times[2].push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        engine.service_edges(site, range, 0, 1000).await?;
        times[3].push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "\nobserve mode over {} .. {} ({} rules, {refused} requests refused):",
        ztlens_analytics::time_range::format_ms(range.from_ms()),
        ztlens_analytics::time_range::format_ms(range.to_ms()),
        policy.compile().len()
    );
    for (what, values) in [
        "what-if",
        "what-if with a baseline",
        "access paths (first 1000)",
        "service edges",
    ]
    .iter()
    .zip(times.iter_mut())
    {
        println!("{what:<34} {:>12.1} ms", median(values));
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn tempdir_in(dir: Option<PathBuf>) -> std::io::Result<PathBuf> {
    let base = dir.unwrap_or_else(std::env::temp_dir);
    let path = base.join(format!("ztlens-bench-{}", std::process::id()));
    std::fs::create_dir_all(&path)?;
    Ok(path)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

/// Resident set size now and its peak, in MiB (Linux).
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `ztlens bench --kafka`: sustained consume → lake throughput through the Kafka source, on
/// librdkafka's mock cluster in this process. Each topic is produced first, then consumed by a
/// fresh consumer group into a fresh lake; the clock runs from partition assignment to the last
/// batch being durable (WAL fsync included; the final Parquet flush is reported separately).
pub async fn run_kafka(events: u64, dir: Option<PathBuf>) -> Result<(), BoxError> {
    use ztlens_ingest::kafka::rdkafka::config::ClientConfig;
    use ztlens_ingest::kafka::rdkafka::mocking::MockCluster;
    use ztlens_ingest::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use ztlens_ingest::kafka::{KafkaConfig, KafkaSource, TopicConfig};

    let start_ms = 1_772_323_200_000;
    let duration_ms = 86_400_000;
    let mut generator = Generator::new(1, start_ms);
    let site = Arc::new(Site::new(&generator.company().site_config())?);
    let mean_gap = duration_ms as f64 / (events as f64 / EVENTS_PER_SCENARIO);
    let mut emitted = generator.advance(start_ms + duration_ms - SCENARIO_SPAN_MS, mean_gap);
    let topics: Vec<(&str, Vec<String>)> = vec![
        ("okta", emitted.take("okta")),
        ("vpcflow", emitted.vpc.iter().map(|r| r.v2_line()).collect()),
    ];
    let temp = tempdir_in(dir)?;
    let cluster = MockCluster::new(1)?;
    let bootstrap = cluster.bootstrap_servers();
    println!("kafka consume -> lake (mock cluster in-process, Parquet + WAL fsync)");
    println!(
        "{:<10} {:>10} {:>11} {:>10} {:>12} {:>10} {:>10} {:>12}",
        "topic", "messages", "partitions", "MB", "messages/s", "MB/s", "flush s", "RSS +MiB"
    );
    for (topic, messages) in topics {
        let bytes: usize = messages.iter().map(String::len).sum();
        // The mock keeps at most 5 MB per partition.
        let partitions = (bytes / (4 << 20) + 1).max(4) as i32;
        cluster.create_topic(topic, partitions, 1)?;
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", "500000")
            .create()?;
        for (i, m) in messages.iter().enumerate() {
            let mut record = BaseRecord::<(), str>::to(topic)
                .partition((i % partitions as usize) as i32)
                .payload(m.as_str());
            while let Err((_, r)) = producer.send(record) {
                record = r;
                producer.poll(std::time::Duration::from_millis(5));
            }
        }
        producer.flush(std::time::Duration::from_secs(300))?;
        let count = messages.len() as u64;
        drop(messages);

        let lake = LakeConfig {
            data_dir: temp.join(format!("lake-{topic}")),
            writer_id: Some("bench".into()),
            ..LakeConfig::default()
        };
        let writer = LakeWriter::open(&lake, None)?;
        let pipeline = Pipeline::new(site.clone(), writer.clone(), None, IngestConfig::default());
        let config = KafkaConfig {
            enabled: true,
            bootstrap_servers: bootstrap.clone(),
            group_id: format!("bench-{topic}"),
            topics: vec![TopicConfig {
                name: topic.to_string(),
                format: topic.to_string(),
            }],
            statistics_interval_ms: 1000,
            ..KafkaConfig::default()
        };
        let (rss_before, _) = rss_mib();
        // Reset the peak so it measures the consumer, not the generator or the producer.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let source = KafkaSource::start(&config, pipeline, None)?;
        let status = source.status();
        let wait = |done: &dyn Fn(&ztlens_ingest::kafka::KafkaStatus) -> bool| loop {
            if done(&status.lock().expect("not poisoned")) {
                return Instant::now();
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        let assigned = tokio::task::block_in_place(|| wait(&|s| !s.partitions.is_empty()));
        let durable = tokio::task::block_in_place(|| wait(&|s| s.messages >= count));
        let seconds = (durable - assigned).as_secs_f64();
        tokio::task::block_in_place(|| {
            source.stop();
            source.join();
        });
        let flush_started = Instant::now();
        writer.shutdown().await?;
        let flush = flush_started.elapsed().as_secs_f64();
        let (_, peak) = rss_mib();
        let mb = bytes as f64 / 1e6;
        println!(
            "{:<10} {:>10} {:>11} {:>10.1} {:>12.0} {:>10.1} {:>10.2} {:>12.0}",
            topic,
            count,
            partitions,
            mb,
            count as f64 / seconds,
            mb / seconds,
            flush,
            peak - rss_before
        );
    }
    println!(
        "\npeak RSS {:.0} MiB (process, including the mock broker's copy of every topic)",
        peak_rss_mib()
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&temp);
    Ok(())
}
