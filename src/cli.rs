//! The command line: every command, its flags and their help text (clap). `main` parses it and
//! hands each command to [`crate::commands`].

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ztlens",
    version,
    about = "Telemetry pipeline and Zero Trust analytics: logs in, KPIs out."
)]
pub struct Cli {
    /// Configuration file (default: ./ztlens.toml when it exists; also ZTLENS_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Lake directory (overrides lake.data_dir).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Directory of extra or replacement KPI .sql files (overrides queries_dir).
    #[arg(long, global = true)]
    pub queries: Option<PathBuf>,
    /// Log lines on stderr: `text` for people, `json` (one object per line) for a log pipeline.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "ZTLENS_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which attacks `ztlens gen` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attacks {
    All,
    Story,
}

/// How a command prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API with push ingest, KPIs, /metrics and lake maintenance.
    Serve {
        /// Listen address (overrides server.listen); port 0 picks a free port.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Ingest log files (plain or gzip), directories of them, or standard input into the lake.
    Ingest {
        /// Format of the inputs (okta, vpcflow, nginx, entra …), or `auto` to recognize each
        /// input from its content.
        #[arg(long)]
        source: String,
        /// Files to read; a directory means every file under it (hidden names skipped), `-`
        /// standard input.
        #[arg(required = true, value_hint = clap::ValueHint::AnyPath)]
        paths: Vec<PathBuf>,
        /// No progress on stderr: only the summary and errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print a shell completion script: `ztlens completions bash > /etc/bash_completion.d/ztlens`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Evaluate KPIs over the lake (all of them when no ID is given).
    Kpi {
        /// KPI id.
        id: Option<String>,
        /// Start (RFC 3339, date, epoch ms, now-24h …); default now-24h.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive); default now.
        #[arg(long)]
        to: Option<String>,
        /// Bucket width for a time series (5m, 1h, 1d …).
        #[arg(long)]
        step: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
        /// Only list the KPI definitions.
        #[arg(long)]
        list: bool,
        /// Keep the rows whose label has this value, as the API's `?label=value` drill-down
        /// (repeatable; several values of one label keep any of them). Needs a KPI id.
        #[arg(long = "where", value_name = "LABEL=VALUE")]
        filters: Vec<String>,
    },
    /// The maturity scorecard (Identity, Devices, Network, Applications) over a range.
    Maturity {
        /// Start (RFC 3339, date, epoch ms, now-24h …); default now-24h.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive); default now.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Backtest the detection rules over history: print the alerts they would have raised.
    Detect {
        /// Start (RFC 3339, date, epoch ms, now-24h …); default now-24h.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive); default now.
        #[arg(long)]
        to: Option<String>,
        /// Only this rule (repeatable); default every enabled rule.
        #[arg(long = "rule")]
        rules: Vec<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
        /// Only list the rules with their settings.
        #[arg(long)]
        list: bool,
    },
    /// List the alerts a server raised (from the lake's alert store), newest first.
    Alerts {
        /// Alerts whose events end after this (RFC 3339, date, epoch ms, now-24h …).
        #[arg(long)]
        from: Option<String>,
        /// Alerts whose events start before this.
        #[arg(long)]
        to: Option<String>,
        /// firing or resolved.
        #[arg(long)]
        state: Option<String>,
        /// Lowest severity shown (low, medium, high, critical).
        #[arg(long)]
        severity: Option<String>,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// What a candidate policy would have refused over history (see docs/observe-mode.md).
    Whatif {
        /// The candidate policy file (TOML).
        policy: PathBuf,
        /// Compare with this policy: what the candidate adds and removes.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Start (RFC 3339, date, epoch ms, now-30d …); default now-30d.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive); default now.
        #[arg(long)]
        to: Option<String>,
        /// Print the requests this rule would have refused instead of the summary.
        #[arg(long)]
        evidence: Option<String>,
        /// Evidence page: rows to skip.
        #[arg(long, default_value_t = 0, requires = "evidence")]
        offset: usize,
        /// Evidence page: rows to print (at most 1000).
        #[arg(long, default_value_t = 100, requires = "evidence")]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// The map of real access paths: who reaches each sensitive app, from where, with what
    /// device and factor, through which front end; with --services, which workloads talk.
    AccessPaths {
        /// Only this site app (repeatable); default every app with a sensitivity.
        #[arg(long = "app")]
        apps: Vec<String>,
        /// Service-to-service edges instead of app paths.
        #[arg(long)]
        services: bool,
        /// Start (RFC 3339, date, epoch ms, now-7d …); default now-7d.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive); default now.
        #[arg(long)]
        to: Option<String>,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Rows to print (at most 1000).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Run a read-only SQL query over the lake.
    Query {
        sql: String,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Check the configuration (file + ZTLENS_* environment) and print it as TOML, secrets
    /// redacted; exits 2 when it is invalid.
    Config,
    /// Generate a synthetic company's logs (every supported source) with the KPI ground truth.
    Gen {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Approximate number of distinct events.
        #[arg(long, default_value_t = 20_000)]
        events: u64,
        /// Start of the generated period.
        #[arg(long, default_value = "2026-03-01T00:00:00Z")]
        start: String,
        /// Length of the generated period (e.g. 6h, 1d, 7d).
        #[arg(long, default_value = "1d")]
        duration: String,
        /// `all`: random attacks (the KPIs' mix) and the scripted attack story; `story`: only
        /// the story, so every alert in the data is one the truth expects.
        #[arg(long, value_enum, default_value = "all")]
        attacks: Attacks,
        /// When the attack story starts (default: the middle of the period, on the hour, so
        /// the detections have a history before it).
        #[arg(long)]
        story_at: Option<String>,
    },
    /// Run everything on this machine: server, local lake, and generated live traffic.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Events per second of live traffic after the one-hour backfill.
        #[arg(long, default_value_t = 20)]
        rate: u32,
    },
    /// List records that were refused, with their reasons.
    DeadLetters {
        /// Show at most this many (newest last).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Compact small files and apply retention now.
    Maintain,
    /// The lake for other engines.
    Lake {
        #[command(subcommand)]
        action: LakeCommand,
    },
    /// Show a running server's sources (Kafka partitions, committed offsets, lag) and lake.
    Status {
        /// Server address (default: server.listen).
        #[arg(long)]
        url: Option<String>,
        /// `table`, or `json` for the raw answer of /api/v1/status (CSV is refused: the status
        /// is nested).
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
        /// The same as `--format json` (kept for scripts written before `--format`).
        #[arg(long, hide = true)]
        json: bool,
        /// API token with the `read` scope, when the server has tokens.
        #[arg(long, env = "ZTLENS_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Make a new API token: prints the token (give it to the client) and the
    /// `[[server.tokens]]` entry with its hash (put it in ztlens.toml).
    Token {
        /// What the token may do (repeatable): ingest, read, admin.
        #[arg(long = "scope", value_enum, required = true)]
        scopes: Vec<crate::auth::Scope>,
        /// Who holds it, as logs and the config will name it.
        #[arg(long, default_value = "api")]
        name: String,
    },
    /// Run librdkafka's mock Kafka cluster in this process (no broker needed), optionally
    /// filled with log files; prints `bootstrap: host:port` and serves until Ctrl-C.
    KafkaMock {
        /// Topic to create, as NAME:PARTITIONS (repeatable).
        #[arg(long = "topic", required = true)]
        topics: Vec<String>,
        /// Produce a log file (plain or gzip) into a topic, one record per message, as
        /// TOPIC=FILE (repeatable).
        #[arg(long)]
        produce: Vec<String>,
        /// Number of mock brokers.
        #[arg(long, default_value_t = 1)]
        brokers: i32,
    },
    /// Measure parse and ingest throughput and KPI latency on generated data.
    Bench {
        /// Approximate number of records to generate.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Directory for the temporary files and lake (default: the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Runs per measurement (best parse time, median query time).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Measure Kafka consume -> lake throughput on an in-process mock cluster instead.
        #[arg(long)]
        kafka: bool,
        /// Only measure KPI latency, over this existing lake (see docs/performance.md).
        #[arg(long, conflicts_with = "kafka")]
        lake: Option<PathBuf>,
        /// Start of the KPI range with --lake.
        #[arg(long, default_value = "now-24h", requires = "lake")]
        from: String,
        /// End of the KPI range with --lake.
        #[arg(long, default_value = "now", requires = "lake")]
        to: String,
        /// With --lake: also time this candidate policy's what-if and the access-path map
        /// over the range.
        #[arg(long, requires = "lake")]
        whatif: Option<PathBuf>,
        /// With --lake: skip the KPIs (time only the what-if and the access paths).
        #[arg(long, requires = "whatif")]
        skip_kpis: bool,
    },
}

/// `ztlens lake …`
#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Print `CREATE TABLE` statements for every lake table, so Athena, Trino or Spark read the
    /// Parquet files where they are.
    Ddl {
        #[arg(long, value_enum)]
        dialect: crate::lake_ddl::Dialect,
        /// The lake's root as the engine sees it (`s3://bucket/prefix`, or a path for Spark);
        /// default: lake.data_dir.
        #[arg(long)]
        location: Option<String>,
        /// The database (schema) the tables are created in.
        #[arg(long, default_value = "ztlens")]
        database: String,
    },
}
