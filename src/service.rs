//! Wiring shared by `ztlens serve` and `ztlens demo`: the lake writer, the query engine, the
//! metrics registry, and the background tasks (KPI gauges, detection rules, compaction and
//! retention). The
//! [`AppState`] it builds is what the HTTP API serves from; this module imports `config`,
//! `metrics` and `detect`, never `api` or `commands`.
//!
//! Shutdown order: stop accepting requests, drain and commit the Kafka source, stop background
//! tasks, flush the writer — so every acknowledged row is in Parquet when the process exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use ztlens_analytics::{Engine, KpiCatalog, TimeRange};
use ztlens_ingest::Site;
use ztlens_ingest::kafka::{KafkaSource, SharedStatus};
use ztlens_ingest::lake::{LakeWriter, compact_partitions, enforce_retention};
use ztlens_ingest::pipeline::Pipeline;

use crate::config::Config;
use crate::detect::Rule;
use crate::detect::notify::{Outbox, deliver_alertmanager, deliver_webhook};
use crate::detect::runner::{Detections, evaluate_live};
use crate::detect::silences::Silences;
use crate::detect::store::AlertStore;
use crate::metrics::Metrics;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a request handler or background task needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub pipeline: Pipeline,
    /// State of the Kafka source, when it runs.
    pub kafka_status: Option<SharedStatus>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    pub started: Instant,
    pub request_counter: Arc<AtomicU64>,
    /// The detection rules, their alerts and status.
    pub detections: Arc<Detections>,
    /// Ends the rest between two `/metrics` KPI passes early: the demo wakes it once its hour
    /// of history is stored, so the gauges do not wait out a pass that ran on an empty lake.
    pub kpi_refresh: Arc<tokio::sync::Notify>,
}

impl AppState {
    /// A fresh origin for a pushed request body (`http:<start ms>-<n>`), unique across
    /// restarts.
    pub fn next_request_origin(&self) -> String {
        let started_unix_ms =
            chrono::Utc::now().timestamp_millis() - self.started.elapsed().as_millis() as i64;
        let request_id = self.request_counter.fetch_add(1, Ordering::Relaxed);
        format!("http:{started_unix_ms}-{request_id}")
    }
}

pub struct Service {
    pub state: AppState,
    /// The PostgreSQL listener's bound address, when `[pgwire] listen` is set.
    pub pgwire_address: Option<std::net::SocketAddr>,
    /// The syslog listeners' bound addresses, with protocol and source, in `[[syslog]]` order.
    pub syslog_addresses: Vec<(crate::syslog::SyslogProtocol, std::net::SocketAddr, String)>,
    kafka: Option<KafkaSource>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The KPI catalog: the built-ins, plus or replaced by `queries_dir`. A replaced KPI that the
/// maturity scorecard reads must keep the columns it reads.
pub fn kpi_catalog(config: &Config) -> Result<KpiCatalog, BoxError> {
    let catalog = match &config.queries_dir {
        Some(dir) => KpiCatalog::with_directory(dir)?,
        None => KpiCatalog::builtin(),
    };
    ztlens_analytics::maturity::check_catalog(&catalog)?;
    Ok(catalog)
}

/// The detection catalog (built-ins, plus or replaced by `queries_dir/detections/`) with the
/// settings of `[detections]`, checked against each other.
pub fn detection_rules(config: &Config) -> Result<Vec<Rule>, BoxError> {
    let catalog = match &config.queries_dir {
        Some(dir) => ztlens_analytics::DetectionCatalog::with_directory(dir)?,
        None => ztlens_analytics::DetectionCatalog::builtin(),
    };
    Ok(config
        .detections
        .rules(&catalog)
        .map_err(|e| format!("configuration: {e}"))?)
}

impl Service {
    pub fn start(config: Config) -> Result<Self, BoxError> {
        let metrics = Arc::new(Metrics::new(config.metrics.max_series_per_kpi)?);
        metrics.ingest.touch(
            &ztlens_ingest::Format::ALL
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>(),
        );
        let site = Arc::new(Site::new(&config.site)?);
        let rules = detection_rules(&config)?;
        let alert_store = AlertStore::open(&config.lake.data_dir)?;
        let silences = Silences::open(&config.lake.data_dir)?;
        let external_url = config
            .notifications
            .external_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.server.listen));
        let outbox = if config.notifications.webhooks.is_empty() {
            None
        } else {
            Some(Arc::new(Outbox::open(
                &config.notifications,
                &config.lake.data_dir,
                external_url.clone(),
            )?))
        };
        let writer = LakeWriter::open(&config.lake, Some(metrics.ingest.clone()))?;
        let engine = Engine::over_lake(
            &config.lake,
            kpi_catalog(&config)?,
            config.query.clone(),
            Some(writer.tail_reader()),
            &config.inventory.load()?,
        )?;
        let pipeline = Pipeline::new(site, writer, Some(metrics.ingest.clone()), config.ingest);
        let kafka = if config.kafka.enabled {
            let source =
                KafkaSource::start(&config.kafka, pipeline.clone(), Some(metrics.kafka.clone()))?;
            tracing::info!(
                bootstrap = %config.kafka.bootstrap_servers,
                group = %config.kafka.group_id,
                topics = config.kafka.topics.len(),
                "kafka source started"
            );
            Some(source)
        } else {
            None
        };
        // Bound before anything runs, so a port in use fails the start.
        let syslog_listeners = config
            .syslog
            .iter()
            .map(crate::syslog::SyslogListener::bind)
            .collect::<Result<Vec<_>, _>>()?;
        let syslog_addresses = config
            .syslog
            .iter()
            .zip(&syslog_listeners)
            .map(|(c, l)| Ok((c.protocol, l.local_addr()?, c.source.clone())))
            .collect::<Result<Vec<_>, std::io::Error>>()?;
        let pgwire = match &config.pgwire.listen {
            Some(listen) => Some(crate::pgwire::PgwireListener::bind(
                &config.pgwire,
                listen,
                config.server.tokens()?,
                config.server.tls.as_ref(),
                engine.clone(),
            )?),
            None => None,
        };
        let pgwire_address = pgwire.as_ref().map(|l| l.local_addr()).transpose()?;
        let config_detections = config.detections.clone();
        let state = AppState {
            engine,
            pipeline,
            kafka_status: kafka.as_ref().map(KafkaSource::status),
            metrics,
            config: Arc::new(config),
            started: Instant::now(),
            request_counter: Arc::new(AtomicU64::new(0)),
            detections: Arc::new(Detections::new(
                config_detections,
                rules,
                alert_store,
                outbox.clone(),
                silences,
            )),
            kpi_refresh: Arc::new(tokio::sync::Notify::new()),
        };
        match crate::detect::runner::resolve_orphans(&state.detections) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                alerts = n,
                "resolved the firing alerts of rules that are no longer evaluated"
            ),
            Err(e) => return Err(Box::new(e)),
        }
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        if state.config.metrics.kpi_refresh_secs > 0 {
            tasks.push(tokio::spawn(refresh_kpi_gauges(
                state.clone(),
                stopped.clone(),
            )));
        }
        if state.config.detections.enabled {
            tasks.push(tokio::spawn(evaluate_live(
                state.detections.clone(),
                state.engine.clone(),
                state.metrics.clone(),
                stopped.clone(),
            )));
        }
        if let Some(outbox) = &outbox {
            for index in 0..state.config.notifications.webhooks.len() {
                tasks.push(tokio::spawn(deliver_webhook(
                    outbox.clone(),
                    index,
                    state.metrics.clone(),
                    stopped.clone(),
                )));
            }
        }
        if let Some(am) = &state.config.notifications.alertmanager {
            tasks.push(tokio::spawn(deliver_alertmanager(
                am.clone(),
                state.detections.clone(),
                external_url.clone(),
                state.detections.changed.clone(),
                state.metrics.clone(),
                stopped.clone(),
            )));
        }
        if let Some(listener) = pgwire {
            tasks.push(tokio::spawn(listener.run(stopped.clone())));
        }
        for listener in syslog_listeners {
            tasks.push(tokio::spawn(listener.run(
                state.pipeline.clone(),
                state.metrics.syslog.clone(),
                stopped.clone(),
            )));
        }
        if state.config.server.maintenance_interval_secs > 0 {
            tasks.push(tokio::spawn(maintenance(state.clone(), stopped)));
        }
        Ok(Self {
            state,
            pgwire_address,
            syslog_addresses,
            kafka,
            stop,
            tasks,
        })
    }

    /// Stop the Kafka source (drain, commit, leave the group), stop background tasks, and flush
    /// every buffered row to Parquet.
    pub async fn shutdown(self) -> Result<(), BoxError> {
        if let Some(kafka) = self.kafka {
            kafka.stop();
            tokio::task::spawn_blocking(move || kafka.join()).await?;
        }
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.state.pipeline.writer.shutdown().await?;
        Ok(())
    }
}

/// Sleep `period` unless asked to stop; returns false when stopping.
async fn wait(period: Duration, stopped: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(period) => !*stopped.borrow(),
        _ = stopped.changed() => false,
    }
}

async fn refresh_kpi_gauges(state: AppState, mut stopped: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.config.metrics.kpi_refresh_secs);
    let window_ms = state.config.metrics.kpi_window_secs as i64 * 1000;
    // Error counters start at 0 per KPI, so `increase()` over them works from the first scrape.
    for def in state.engine.catalog().list() {
        state
            .metrics
            .kpi_evaluation_errors
            .with_label_values(&[def.id.as_str()]);
    }
    loop {
        let pass_started = std::time::Instant::now();
        let now = chrono::Utc::now().timestamp_millis();
        let range = TimeRange::new(now - window_ms.max(1), now, None)
            .expect("a window that ends now is a valid range");
        for def in state.engine.catalog().list().to_vec() {
            let started = std::time::Instant::now();
            // Shutdown does not wait for the rest of a pass: the running KPI is cancelled.
            let evaluation = tokio::select! {
                result = state.engine.run_kpi(&def.id, range) => result,
                _ = stopped.changed() => return,
            };
            if *stopped.borrow() {
                return;
            }
            let result = evaluation
                .map_err(|e| e.to_string())
                .and_then(|(def, out)| state.metrics.update_kpi(&def, &out));
            state
                .metrics
                .kpi_evaluation_seconds
                .with_label_values(&[def.id.as_str()])
                .set(started.elapsed().as_secs_f64());
            if let Err(e) = result {
                state
                    .metrics
                    .kpi_evaluation_errors
                    .with_label_values(&[def.id.as_str()])
                    .inc();
                tracing::warn!(kpi = %def.id, error = %e, "KPI evaluation for /metrics failed");
            }
        }
        // Rest at least as long as the pass took, so on a lake big enough to make a pass slow
        // the gauges take at most half the time and queries from the API keep their share.
        let rest = period.max(pass_started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(rest) => {}
            _ = state.kpi_refresh.notified() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
    }
}

async fn maintenance(state: AppState, mut stopped: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.config.server.maintenance_interval_secs);
    while wait(period, &mut stopped).await {
        let lake = state.config.lake.clone();
        let outcome = tokio::task::spawn_blocking(move || run_maintenance(&lake)).await;
        match outcome {
            Ok(Ok(summary)) => tracing::info!(%summary, "lake maintenance done"),
            Ok(Err(e)) => tracing::warn!(error = %e, "lake maintenance failed; will retry"),
            Err(e) => tracing::warn!(error = %e, "lake maintenance task failed"),
        }
    }
}

/// Compact closed hours and apply retention; returns a one-line summary.
pub fn run_maintenance(lake: &ztlens_ingest::lake::LakeConfig) -> Result<String, BoxError> {
    let now = chrono::Utc::now();
    let current_hour = now.timestamp().div_euclid(3600);
    let report = compact_partitions(lake, current_hour)?;
    let removed = enforce_retention(lake, now.date_naive())?;
    Ok(format!(
        "compacted {} partitions ({} files into {}, {} duplicate rows dropped); removed {} expired date partitions",
        report.partitions,
        report.files_in,
        report.files_out,
        report.rows_in - report.rows_out,
        removed
    ))
}
