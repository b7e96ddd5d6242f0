//! One function per CLI command. Results go to stdout, progress and warnings to stderr.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use ztlens_analytics::time_range::{format_ms, parse_duration_ms, parse_instant};
use ztlens_analytics::{Engine, QueryOutput, TimeRange};
use ztlens_ingest::Format;
use ztlens_ingest::lake::dead_letter::read_dead_letters;
use ztlens_ingest::pipeline::Pipeline;

use crate::api;
use crate::cli::OutputFormat;
use crate::config::Config;
use crate::detect::alerts::Alert;
use crate::detect::runner::backtest;
use crate::detect::store::{AlertFilter, AlertStore};
use crate::service::{BoxError, Service, detection_rules, kpi_catalog, run_maintenance};
use crate::status::{KafkaSourceStatus, MaturityReport, ServiceStatus};
use crate::synth::files::write_dataset;
use crate::synth::{EVENTS_PER_SCENARIO, Generator, SCENARIO_SPAN_MS};

/// Install the Ctrl-C and SIGTERM handlers now and return a future that resolves on either.
///
/// Registration must happen before the process announces it is listening: a signal arriving
/// between the announcement and a lazily registered handler would kill the process with the
/// default action instead of shutting it down cleanly.
pub fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, BoxError>
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

async fn bind(listen: &str) -> Result<TcpListener, BoxError> {
    TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}").into())
}

pub async fn serve(mut config: Config, listen: Option<String>) -> Result<(), BoxError> {
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    let listener = bind(&config.server.listen).await?;
    let address = listener.local_addr()?;
    crate::auth::check_exposure(&config.server.tokens()?, address)?;
    let config_tls = config.server.tls.is_some();
    let service = Service::start(config)?;
    let shutdown = shutdown_signal()?;
    // Tests and scripts read this line to find the port when listening on port 0.
    let scheme = if config_tls { "https" } else { "http" };
    println!("ztlens listening on {scheme}://{address}");
    if let Some(address) = service.pgwire_address {
        println!("postgresql listening on postgresql://{address}/ztlens");
    }
    for (protocol, address, source) in &service.syslog_addresses {
        let protocol = match protocol {
            crate::syslog::SyslogProtocol::Tcp => "tcp",
            crate::syslog::SyslogProtocol::Udp => "udp",
        };
        println!("syslog listening on {protocol}://{address} ({source})");
    }
    api::serve(listener, service.state.clone(), shutdown).await?;
    service.shutdown().await?;
    println!("ztlens stopped; every acknowledged row is in the lake");
    Ok(())
}

fn engine(config: &Config) -> Result<Engine, BoxError> {
    Ok(Engine::over_lake(
        &config.lake,
        kpi_catalog(config)?,
        config.query.clone(),
        None,
        &config.inventory.load()?,
    )?)
}

/// `ztlens detect`: backtest the rules over a range.
pub async fn detect(
    config: Config,
    from: Option<String>,
    to: Option<String>,
    only: Vec<String>,
    format: OutputFormat,
    list: bool,
) -> Result<(), BoxError> {
    let rules = detection_rules(&config)?;
    if let Some(unknown) = only
        .iter()
        .find(|id| !rules.iter().any(|r| &r.def.id == *id))
    {
        return Err(format!(
            "no detection rule {unknown:?}; the rules: {}",
            rules
                .iter()
                .map(|r| r.def.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    if list {
        for rule in &rules {
            let params: Vec<String> = rule
                .effective_params()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!(
                "{:<32} {:<9} {:<8} window {:<5} {} {}",
                rule.def.id,
                rule.severity.as_str(),
                if rule.enabled { "enabled" } else { "disabled" },
                humantime(rule.def.window_ms),
                rule.def.mitre.join(","),
                params.join(" ")
            );
        }
        return Ok(());
    }
    let selected: Vec<_> = rules
        .into_iter()
        .filter(|r| {
            if only.is_empty() {
                r.enabled
            } else {
                only.contains(&r.def.id)
            }
        })
        .collect();
    let now = chrono::Utc::now().timestamp_millis();
    let range = TimeRange::parse(from.as_deref(), to.as_deref(), None, now)?;
    let engine = engine(&config)?;
    let started = Instant::now();
    let alerts = backtest(
        &engine,
        &selected,
        range.from_ms(),
        range.to_ms(),
        (config.detections.resolve_after_secs as i64).saturating_mul(1000),
        |rule, matches, took| {
            eprintln!(
                "{:<32} {matches:>6} matches in {:.2} s",
                rule.def.id,
                took.as_secs_f64()
            )
        },
    )
    .await?;
    eprintln!(
        "{} rules over {} .. {}: {} alerts in {:.1} s",
        selected.len(),
        format_ms(range.from_ms()),
        format_ms(range.to_ms()),
        alerts.len(),
        started.elapsed().as_secs_f64()
    );
    print_alerts(&alerts, format)
}

/// The filters of `ztlens alerts`.
pub struct AlertListing {
    pub from: Option<String>,
    pub to: Option<String>,
    pub state: Option<String>,
    pub severity: Option<String>,
    pub rule: Option<String>,
    pub limit: usize,
}

/// `ztlens alerts`: the stored alerts.
pub fn alerts(config: Config, listing: AlertListing, format: OutputFormat) -> Result<(), BoxError> {
    let now = chrono::Utc::now().timestamp_millis();
    let filter = AlertFilter::parse(
        listing.from.as_deref(),
        listing.to.as_deref(),
        listing.state.as_deref(),
        listing.severity.as_deref(),
        listing.rule,
        now,
    )?;
    let store = AlertStore::read(&config.lake.data_dir)?;
    print_alerts(&store.list(&filter, listing.limit), format)
}

/// Alerts as a table, CSV or JSON.
fn print_alerts(alerts: &[Alert], format: OutputFormat) -> Result<(), BoxError> {
    if let OutputFormat::Json = format {
        let rows: Vec<serde_json::Value> = alerts.iter().map(Alert::to_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let text = |f: &dyn Fn(&Alert) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(alerts.iter().map(f)))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("first_seen", text(&|a| format_ms(a.first_seen_ms))),
        ("last_seen", text(&|a| format_ms(a.last_seen_ms))),
        ("rule", text(&|a| a.rule.clone())),
        ("severity", text(&|a| a.severity.as_str().to_string())),
        ("state", text(&|a| a.state.as_str().to_string())),
        (
            "entity",
            text(&|a| crate::detect::alerts::entity_text(&a.entity)),
        ),
        (
            "events",
            Arc::new(UInt64Array::from_iter_values(
                alerts.iter().map(|a| a.events),
            )),
        ),
        ("summary", text(&|a| a.summary.clone())),
        ("id", text(&|a| a.id.clone())),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), false))
            .collect::<Vec<_>>(),
    ));
    debug_assert!(
        columns
            .iter()
            .all(|(_, a)| a.data_type() != &DataType::Null)
    );
    let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
        schema,
        columns.into_iter().map(|(_, a)| a).collect(),
    )?;
    let names = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let output = QueryOutput::new(names, vec![batch], usize::MAX);
    print_output(&output, format)
}

/// `15m`, `1h`, `30d` for a duration in milliseconds.
/// A page of a paged answer (evidence, access paths): its rows, without the `max_rows` warning
/// (the caller names the next page).
fn print_page(output: &QueryOutput, format: OutputFormat) -> Result<(), BoxError> {
    match format {
        OutputFormat::Table => println!("{}", output.table()?),
        OutputFormat::Csv => print!("{}", output.csv()?),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&output.json_rows()?)?),
    }
    Ok(())
}

fn humantime(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn print_output(output: &QueryOutput, format: OutputFormat) -> Result<(), BoxError> {
    print_page(output, format)?;
    if output.truncated {
        eprintln!(
            "warning: the result was cut at {} rows (query.max_rows)",
            output.num_rows()
        );
    }
    Ok(())
}

/// What `ztlens kpi` evaluates.
#[derive(Debug)]
pub struct KpiRequest {
    /// One KPI, or every KPI when `None`.
    pub id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub step: Option<String>,
    /// `LABEL=VALUE` drill-down filters.
    pub filters: Vec<String>,
}

/// `LABEL=VALUE` arguments as label filters: the values of one label together.
fn label_filters(args: &[String]) -> Result<Vec<ztlens_analytics::LabelFilter>, BoxError> {
    let mut filters: Vec<ztlens_analytics::LabelFilter> = Vec::new();
    for arg in args {
        let (label, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("--where {arg:?}: write LABEL=VALUE"))?;
        match filters.iter_mut().find(|(l, _)| l == label) {
            Some((_, values)) => values.push(value.to_string()),
            None => filters.push((label.to_string(), vec![value.to_string()])),
        }
    }
    Ok(filters)
}

pub async fn kpi(
    config: Config,
    request: KpiRequest,
    format: OutputFormat,
    list: bool,
) -> Result<(), BoxError> {
    let KpiRequest {
        id,
        from,
        to,
        step,
        filters,
    } = request;
    let filters = label_filters(&filters)?;
    if !filters.is_empty() && id.is_none() {
        return Err(
            "--where filters the labels of one KPI: name it (ztlens kpi ID --where …)".into(),
        );
    }
    let engine = engine(&config)?;
    if list {
        let defs = engine.catalog().list();
        match format {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&defs)?),
            OutputFormat::Csv => {
                let rows: Vec<serde_json::Map<String, serde_json::Value>> = defs
                    .iter()
                    .map(|def| {
                        let mut row = serde_json::Map::new();
                        row.insert("id".into(), def.id.clone().into());
                        row.insert("title".into(), def.title.clone().into());
                        row.insert("unit".into(), def.unit.clone().into());
                        row.insert("labels".into(), def.labels.join(" ").into());
                        row
                    })
                    .collect();
                print_rows(&rows, &["id", "title", "unit", "labels"], format)?;
            }
            OutputFormat::Table => {
                for def in defs {
                    println!(
                        "{:<32} {:<40} unit: {:<8} labels: {}",
                        def.id,
                        def.title,
                        def.unit,
                        def.labels.join(", ")
                    );
                }
            }
        }
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp_millis();
    let range = TimeRange::parse(from.as_deref(), to.as_deref(), step.as_deref(), now)?;
    let ids: Vec<String> = match id {
        Some(id) => vec![id],
        None => engine
            .catalog()
            .list()
            .iter()
            .map(|k| k.id.clone())
            .collect(),
    };
    let mut all_json = serde_json::Map::new();
    for id in &ids {
        let (def, output) = engine.run_kpi_filtered(id, range, &filters).await?;
        match format {
            OutputFormat::Json => {
                all_json.insert(
                    def.id.clone(),
                    serde_json::Value::Array(
                        output
                            .json_rows()?
                            .into_iter()
                            .map(serde_json::Value::Object)
                            .collect(),
                    ),
                );
            }
            OutputFormat::Csv => {
                if ids.len() > 1 {
                    println!("# {}", def.id);
                }
                print_output(&output, format)?;
            }
            OutputFormat::Table => {
                println!(
                    "{} — {} ({}), {} .. {}",
                    def.id,
                    def.title,
                    def.unit,
                    format_ms(range.from_ms()),
                    format_ms(range.to_ms())
                );
                print_output(&output, format)?;
                println!();
            }
        }
    }
    if let OutputFormat::Json = format {
        let value = if ids.len() == 1 {
            all_json.remove(&ids[0]).unwrap_or_default()
        } else {
            serde_json::Value::Object(all_json)
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(())
}

pub async fn query(config: Config, sql: &str, format: OutputFormat) -> Result<(), BoxError> {
    let output = engine(&config)?.run_sql(sql).await?;
    print_output(&output, format)
}

/// What `ztlens access-paths` shows.
#[derive(Debug)]
pub struct AccessPathRequest {
    pub apps: Vec<String>,
    pub services: bool,
    pub from: Option<String>,
    pub to: Option<String>,
    /// (offset, limit)
    pub page: (usize, usize),
}

/// `ztlens access-paths`: the paths to the sensitive apps, or with `--services` the service
/// edges, over the range (default: the last 7 days).
pub async fn access_paths(
    config: Config,
    request: AccessPathRequest,
    format: OutputFormat,
) -> Result<(), BoxError> {
    let engine = engine(&config)?;
    let now = chrono::Utc::now().timestamp_millis();
    let range = TimeRange::parse(
        Some(request.from.as_deref().unwrap_or("now-7d")),
        request.to.as_deref(),
        None,
        now,
    )?;
    let (offset, limit) = request.page;
    let truncated = if request.services {
        let page = engine
            .service_edges(&config.site, range, offset, limit)
            .await?;
        const COLUMNS: [&str; 11] = [
            "kind",
            "src",
            "dst",
            "port",
            "protocol",
            "flows",
            "sources",
            "destinations",
            "expected",
            "first_seen",
            "last_seen",
        ];
        print_rows(&page.edges, &COLUMNS, format)?;
        page.truncated
    } else {
        let apps = ztlens_analytics::access_paths::resolve_apps(&config.site, &request.apps)?;
        let output = engine.access_paths(&apps, range, offset, limit).await?;
        print_page(&output, format)?;
        output.truncated
    };
    if truncated {
        eprintln!(
            "more rows follow: --offset {}",
            offset.saturating_add(limit)
        );
    }
    Ok(())
}

/// JSON rows in a format: a table or CSV of `columns`, or the rows as JSON.
fn print_rows(
    rows: &[serde_json::Map<String, serde_json::Value>],
    columns: &[&str],
    format: OutputFormat,
) -> Result<(), BoxError> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        OutputFormat::Table => println!("{}", rows_table(rows, columns)),
        OutputFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(columns)?;
            for row in rows {
                let record: Vec<String> = columns.iter().map(|c| cell_text(row.get(*c))).collect();
                out.write_record(&record)?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

/// What `ztlens whatif` evaluates.
#[derive(Debug)]
pub struct WhatIfRequest {
    pub policy: PathBuf,
    pub baseline: Option<PathBuf>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// (rule, offset, limit): print that rule's evidence instead of the summary.
    pub evidence: Option<(String, usize, usize)>,
}

/// `ztlens whatif`: what a candidate policy would have refused over the range (default: the
/// last 30 days).
pub async fn whatif(
    config: Config,
    request: WhatIfRequest,
    format: OutputFormat,
) -> Result<(), BoxError> {
    use ztlens_analytics::whatif::{CandidatePolicy, MAX_POLICY_BYTES, WORKFLOW_COLUMNS};
    let read = |path: &Path| -> Result<CandidatePolicy, BoxError> {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        if size > MAX_POLICY_BYTES as u64 {
            return Err(format!(
                "{}: the policy is {size} bytes; at most {MAX_POLICY_BYTES} are accepted",
                path.display()
            )
            .into());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        CandidatePolicy::parse(&text, &config.site)
            .map_err(|e| format!("{}: {e}", path.display()).into())
    };
    let policy = read(&request.policy)?;
    let baseline = request.baseline.as_deref().map(read).transpose()?;
    let engine = engine(&config)?;
    let now = chrono::Utc::now().timestamp_millis();
    let range = TimeRange::parse(
        Some(request.from.as_deref().unwrap_or("now-30d")),
        request.to.as_deref(),
        None,
        now,
    )?;
    if let Some((rule, offset, limit)) = &request.evidence {
        let output = engine
            .what_if_evidence(&policy, rule, range, *offset, *limit)
            .await?;
        print_page(&output, format)?;
        if output.truncated {
            eprintln!(
                "more rows follow: --offset {}",
                offset.saturating_add(*limit)
            );
        }
        return Ok(());
    }
    eprintln!(
        "evaluating {} rule(s) of {:?} over {} .. {}",
        policy.compile().len(),
        policy.name,
        format_ms(range.from_ms()),
        format_ms(range.to_ms())
    );
    let report = engine.what_if(&policy, baseline.as_ref(), range).await?;
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record([
                "rule",
                "kind",
                "description",
                "evaluated",
                "refused",
                "unknown",
                "sessions",
                "users",
                "service_accounts",
                "workloads",
                "devices",
                "networks",
                "broken_workflows",
            ])?;
            for r in &report.rules {
                let numbers = [
                    r.evaluated,
                    r.refused,
                    r.unknown,
                    r.sessions,
                    r.users,
                    r.service_accounts,
                    r.workloads,
                    r.devices,
                    r.networks,
                    r.broken_workflows,
                ]
                .map(|n| n.to_string());
                let mut record = vec![r.id.clone(), r.kind.to_string(), r.description.clone()];
                record.extend(numbers);
                out.write_record(&record)?;
            }
            out.flush()?;
        }
        OutputFormat::Table => {
            println!(
                "what-if {:?}, {} .. {}",
                report.policy, report.from, report.to
            );
            for r in &report.rules {
                println!();
                println!("rule {} ({}): {}", r.id, r.kind, r.description);
                println!(
                    "  would refuse {} of {} requests ({} undecidable: the source does not say); {} sessions",
                    r.refused, r.evaluated, r.unknown, r.sessions
                );
                println!(
                    "  affected: {} users, {} service accounts, {} workloads, {} devices, {} source networks; {} workflows break outright",
                    r.users,
                    r.service_accounts,
                    r.workloads,
                    r.devices,
                    r.networks,
                    r.broken_workflows
                );
                if !r.top_workflows.is_empty() {
                    println!(
                        "{}",
                        indent(&rows_table(&r.top_workflows, &WORKFLOW_COLUMNS), "  ")
                    );
                }
            }
            if let Some(c) = &report.comparison {
                println!();
                for (what, counts) in [("adds", &c.added), ("removes", &c.removed)] {
                    println!(
                        "compared with {:?}, the candidate {what} {} refused requests ({} users, {} service accounts, {} workloads)",
                        c.baseline,
                        counts.requests,
                        counts.users,
                        counts.service_accounts,
                        counts.workloads
                    );
                }
            }
        }
    }
    Ok(())
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON value as a table or CSV cell: strings bare, null empty.
fn cell_text(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// JSON rows as an aligned text table of `columns`.
fn rows_table(rows: &[serde_json::Map<String, serde_json::Value>], columns: &[&str]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| cell_text(r.get(*c))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(columns.iter().map(|c| c.to_string()).collect())];
    out.extend(cells.into_iter().map(line));
    out.join("\n")
}

pub fn generate(
    seed: u64,
    out: &Path,
    events: u64,
    (start, duration): (&str, &str),
    attacks: crate::cli::Attacks,
    story_at: Option<&str>,
) -> Result<(), BoxError> {
    let now = chrono::Utc::now().timestamp_millis();
    let start_ms = parse_instant(start, now)?;
    let start_ms = start_ms - start_ms.rem_euclid(1000);
    let duration_ms = parse_duration_ms(duration)?;
    if duration_ms < 10 * 60_000 {
        return Err("--duration must be at least 10m".into());
    }
    let story_ms = match story_at {
        Some(text) => parse_instant(text, now)?,
        None => {
            let middle = start_ms + duration_ms / 2;
            middle - middle.rem_euclid(3_600_000)
        }
    };
    let options = crate::synth::files::DatasetOptions {
        story_from_ms: story_ms,
        random_attacks: attacks == crate::cli::Attacks::All,
    };
    let summary = write_dataset(seed, out, events, start_ms, duration_ms, options)?;
    let counts: Vec<String> = summary
        .records
        .iter()
        .map(|(format, n)| format!("{n} {format}"))
        .collect();
    println!(
        "wrote {} records for {} .. {} to {}",
        counts.join(", "),
        format_ms(summary.from_ms),
        format_ms(summary.to_ms),
        out.display()
    );
    println!(
        "ground truth: {}; site config: {}",
        out.join("truth.json").display(),
        out.join("ztlens.toml").display()
    );
    Ok(())
}

/// Seed of the demo company (any value works; fixed so every demo tells the same story).
const DEMO_SEED: u64 = 7;

pub async fn demo(mut config: Config, listen: &str, rate: u32) -> Result<(), BoxError> {
    if config.lake.data_dir == Path::new("data") {
        config.lake.data_dir = PathBuf::from("ztlens-demo-data");
    }
    prepare_demo_dir(&config.lake.data_dir)?;
    let now = chrono::Utc::now().timestamp_millis();
    // The attack story plays in the live traffic, a step a minute from 20 s after the start.
    let generator = Generator::new(DEMO_SEED, now - 3_600_000 - SCENARIO_SPAN_MS)
        .with_story(now + 20_000, 60_000);
    config.site = generator.company().site_config();
    config.detections = crate::synth::scenarios::story::detections_config();
    config.inventory = generator.truth().inventory.config();
    config.lake.flush_interval_secs = 5;
    config.metrics.kpi_refresh_secs = 10;
    config.server.listen = listen.to_string();
    let listener = bind(listen).await?;
    let address = listener.local_addr()?;
    crate::auth::check_exposure(&config.server.tokens()?, address)?;
    if config.pgwire.listen.is_none() {
        // PostgreSQL clients on loopback: 5433 when free (5432 is usually a real PostgreSQL).
        let port = if std::net::TcpListener::bind(("127.0.0.1", 5433)).is_ok() {
            5433
        } else {
            0
        };
        config.pgwire.listen = Some(format!("127.0.0.1:{port}"));
    }
    let data_dir = config.lake.data_dir.clone();
    let service = Service::start(config)?;
    let shutdown = shutdown_signal()?;
    let base = format!("http://{address}");
    println!("ztlens demo is running.");
    println!("  overview  {base}/");
    if let Some(pg) = service.pgwire_address {
        println!(
            "  postgres  postgresql://ztlens@{pg}/ztlens (psql, Grafana's PostgreSQL datasource; any password)"
        );
    }
    println!("  KPIs      {base}/api/v1/kpis");
    println!("  a KPI     {base}/api/v1/kpis/mfa_outcomes_by_country?from=now-1h&step=5m");
    println!("  alerts    {base}/api/v1/alerts?state=firing");
    println!("  metrics   {base}/metrics");
    println!("  health    {base}/healthz");
    println!(
        "  lake      {} (try: ztlens query --data-dir {} \"SELECT zt_decision, count(*) FROM authentication GROUP BY 1\")",
        data_dir.display(),
        data_dir.display()
    );
    println!(
        "Feeding a synthetic company's logs (identity providers, EDRs and MDMs, cloud and Kubernetes network logs, web front ends and the mesh: 25 formats) through the parsers: one hour of history, then about {rate} events/s. Ctrl-C stops."
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let feeder = tokio::spawn(feed_demo(
        service.state.pipeline.clone(),
        service.state.kpi_refresh.clone(),
        generator,
        rate.max(1),
        stopped,
    ));
    api::serve(listener, service.state.clone(), shutdown).await?;
    let _ = stop.send(true);
    let _ = feeder.await;
    service.shutdown().await?;
    println!("demo stopped; the lake is in {}", data_dir.display());
    Ok(())
}

/// The demo owns its directory: it may wipe one it created before, never anything else.
fn prepare_demo_dir(dir: &Path) -> Result<(), BoxError> {
    let marker = dir.join(".ztlens-demo");
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !marker.exists() {
            return Err(format!(
                "{} exists and was not created by `ztlens demo`; choose another --data-dir",
                dir.display()
            )
            .into());
        }
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        marker,
        "created by ztlens demo; removed and recreated at every demo start\n",
    )?;
    Ok(())
}

async fn feed_demo(
    pipeline: Pipeline,
    kpi_refresh: Arc<tokio::sync::Notify>,
    mut generator: Generator,
    rate: u32,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    // History: about 30,000 events over the last hour, in five-minute slices so the first KPIs
    // show up within seconds.
    let backfill_gap = 3_600_000.0 / (30_000.0 / EVENTS_PER_SCENARIO);
    let live_gap = 1000.0 * EVENTS_PER_SCENARIO / rate as f64;
    let mut backfilled = false;
    loop {
        // Live scenarios start a span ago, so none of their events lies in the future.
        let live_until = chrono::Utc::now().timestamp_millis() - SCENARIO_SPAN_MS;
        let (until, gap) = if !backfilled && generator.clock_ms() + 5 * 60_000 < live_until {
            (generator.clock_ms() + 5 * 60_000, backfill_gap)
        } else {
            if !backfilled {
                // The hour of history is stored: refresh the /metrics gauges now rather than
                // after the rest that follows a pass over a lake still filling up.
                kpi_refresh.notify_one();
            }
            backfilled = true;
            (live_until, live_gap)
        };
        let emitted = generator.advance(until, gap);
        let vpc_lines: Vec<String> = emitted.vpc.iter().map(|r| r.v2_line()).collect();
        let batches = std::iter::once(("vpcflow", vpc_lines)).chain(emitted.records);
        for (name, records) in batches {
            if records.is_empty() {
                continue;
            }
            let Some(format) = Format::from_name(name) else {
                tracing::error!(format = name, "the generator wrote a format with no parser");
                continue;
            };
            if let Err(e) = pipeline
                .ingest_body(format, records.join("\n").into_bytes(), "demo".into())
                .await
            {
                tracing::warn!(error = %e, "demo feed could not store a batch");
            }
        }
        if backfilled {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.changed() => return,
            }
        } else if *stopped.borrow() {
            return;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

pub fn dead_letters(config: Config, limit: usize, format: OutputFormat) -> Result<(), BoxError> {
    let (letters, unreadable) = read_dead_letters(&config.lake.data_dir)?;
    let shown = &letters[letters.len().saturating_sub(limit)..];
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(shown)?),
        OutputFormat::Csv => {
            let rows: Vec<serde_json::Map<String, serde_json::Value>> = shown
                .iter()
                .map(|d| {
                    let mut row = serde_json::Map::new();
                    row.insert("time".into(), format_ms(d.time).into());
                    row.insert("source".into(), d.source.clone().into());
                    row.insert("kind".into(), d.kind.clone().into());
                    row.insert("origin".into(), d.origin.clone().into());
                    row.insert("reason".into(), d.reason.clone().into());
                    row.insert("raw_len".into(), d.raw_len.into());
                    row.insert("raw".into(), String::from_utf8_lossy(&d.raw).into());
                    row
                })
                .collect();
            const COLUMNS: [&str; 7] = [
                "time", "source", "kind", "origin", "reason", "raw_len", "raw",
            ];
            print_rows(&rows, &COLUMNS, format)?;
        }
        OutputFormat::Table => {
            println!(
                "{} dead letters in {}; showing {}",
                letters.len(),
                config.lake.data_dir.display(),
                shown.len()
            );
            for d in shown {
                let raw = String::from_utf8_lossy(&d.raw);
                let preview: String = raw.chars().take(80).collect();
                println!(
                    "{}  {:<8} {:<18} {}\n    {}\n    raw ({} bytes): {}",
                    format_ms(d.time),
                    d.source,
                    d.kind,
                    d.origin,
                    d.reason,
                    d.raw_len,
                    preview
                );
            }
        }
    }
    for line in unreadable {
        eprintln!("warning: unreadable dead-letter line at {line}");
    }
    Ok(())
}

pub async fn maintain(config: Config) -> Result<(), BoxError> {
    let lake = config.lake.clone();
    let summary = tokio::task::spawn_blocking(move || run_maintenance(&lake)).await??;
    println!("{summary}");
    Ok(())
}

/// `ztlens status`: ask a running server for the state of its sources, lake and Kafka lag.
pub async fn status(
    config: Config,
    url: Option<String>,
    format: OutputFormat,
    token: Option<String>,
) -> Result<(), BoxError> {
    if format == OutputFormat::Csv {
        return Err("status has no CSV form (it is nested): use --format table or json".into());
    }
    let address = url.unwrap_or_else(|| config.server.listen.clone());
    let address = address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let body = http_get(&address, "/api/v1/status", token.as_deref()).await?;
    if format == OutputFormat::Json {
        let raw: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| format!("http://{address}/api/v1/status did not answer JSON: {e}"))?;
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(());
    }
    let status: ServiceStatus = serde_json::from_str(&body).map_err(|e| {
        format!("http://{address}/api/v1/status did not answer a ztlens status: {e}")
    })?;
    let lake = &status.lake;
    println!(
        "ztlens at http://{address}: up {} s, lake {} (writer {})",
        status.uptime_secs,
        status.data_dir.display(),
        status.writer_id
    );
    println!(
        "lake: {} rows buffered, {} flushed in {} files, {} dead letters, last flush {}",
        lake.buffered_rows,
        lake.rows_flushed,
        lake.files_written,
        lake.dead_letters,
        lake.last_flush.as_deref().unwrap_or("never")
    );
    let kafka = match &status.sources.kafka {
        KafkaSourceStatus::Enabled(kafka) => kafka,
        KafkaSourceStatus::Disabled { .. } => {
            println!("kafka: disabled");
            return Ok(());
        }
    };
    println!("kafka: {}", kafka.state);
    println!(
        "  group {}, {} messages, {} dead letters, {} rebalances{}",
        kafka.group_id,
        kafka.messages,
        kafka.dead_letters,
        kafka.rebalances,
        kafka
            .last_error
            .as_deref()
            .map(|e| format!(", last error: {e}"))
            .unwrap_or_default()
    );
    println!(
        "  {:<30} {:>9} {:>12} {:>12} {:>10}",
        "topic/partition", "in flight", "committed", "high mark", "lag"
    );
    let show = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    for p in &kafka.partitions {
        println!(
            "  {:<30} {:>9} {:>12} {:>12} {:>10}",
            format!("{}/{}", p.topic, p.partition),
            p.in_flight_batches,
            show(p.committed),
            show(p.high_watermark),
            show(p.lag)
        );
    }
    Ok(())
}

/// GET `path` from a running server (the status command).
async fn http_get(address: &str, path: &str, token: Option<&str>) -> Result<String, BoxError> {
    let client = crate::detect::notify::http_client(Duration::from_secs(10))?;
    let url = format!("http://{address}{path}");
    let mut request = client.get(&url).header("accept", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        format!("cannot reach ztlens at {address}: {e} (is `ztlens serve` running?)")
    })?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("{address} did not finish its answer: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: {status}").into());
    }
    Ok(body)
}

/// `ztlens token`: a new API token and the config entry that accepts it.
pub fn token(scopes: &[crate::auth::Scope], name: &str) -> Result<(), BoxError> {
    let (token, hash) = crate::auth::new_token()?;
    let scopes: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
    println!("token: {token}");
    println!();
    println!("# Add to ztlens.toml (only the hash is stored; keep the token itself secret):");
    println!("[[server.tokens]]");
    println!("name = {name:?}");
    println!("scopes = [{}]", scopes.join(", "));
    println!("sha256 = \"{hash}\"");
    Ok(())
}

/// `ztlens config`: the effective configuration. Kafka properties that hold credentials are
/// redacted so the output can be pasted into a ticket.
pub fn print_config(config: &Config) -> Result<(), BoxError> {
    let mut shown = config.clone();
    for (key, value) in shown.kafka.properties.iter_mut() {
        let key = key.to_ascii_lowercase();
        if ["password", "secret", "token", "key"]
            .iter()
            .any(|s| key.contains(s))
        {
            *value = "<redacted>".into();
        }
    }
    print!("{}", toml::to_string(&shown)?);
    Ok(())
}

/// `ztlens maturity`: the scorecard, as a table or as the API's JSON.
pub async fn maturity(
    config: Config,
    from: Option<String>,
    to: Option<String>,
    format: OutputFormat,
) -> Result<(), BoxError> {
    let engine = engine(&config)?;
    let now = chrono::Utc::now().timestamp_millis();
    let range = TimeRange::parse(from.as_deref(), to.as_deref(), None, now)?;
    let report = MaturityReport::new(range, engine.maturity(range).await?);
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Csv => {
            let rows: Vec<serde_json::Map<String, serde_json::Value>> = report
                .scorecard
                .pillars
                .iter()
                .map(|p| {
                    let evidence: Vec<String> =
                        p.evidence.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let mut row = serde_json::Map::new();
                    row.insert("pillar".into(), p.pillar.to_string().into());
                    row.insert("level".into(), p.level.into());
                    row.insert("level_name".into(), p.level_name.to_string().into());
                    row.insert("evidence".into(), evidence.join(" ").into());
                    row.insert("next".into(), p.next.clone().into());
                    row
                })
                .collect();
            const COLUMNS: [&str; 5] = ["pillar", "level", "level_name", "evidence", "next"];
            print_rows(&rows, &COLUMNS, format)?;
        }
        OutputFormat::Table => {
            println!("maturity {} .. {}", report.from, report.to);
            for p in &report.scorecard.pillars {
                let evidence: Vec<String> =
                    p.evidence.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{:<13} level {} ({:<10}) {}",
                    p.pillar,
                    p.level,
                    p.level_name,
                    evidence.join(" ")
                );
                if !p.next.is_empty() {
                    println!("{:<13} next: {}", "", p.next);
                }
            }
        }
    }
    Ok(())
}
