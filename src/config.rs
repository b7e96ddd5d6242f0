//! Configuration: `ztlens.toml` (optional) plus `ZTLENS_*` environment overrides.
//!
//! Precedence, lowest first: built-in defaults, the file, the environment, command-line flags.
//! An environment variable names a key path with `__` between levels:
//! `ZTLENS_LAKE__DATA_DIR=/var/lib/ztlens`, `ZTLENS_SERVER__LISTEN=0.0.0.0:8080`,
//! `ZTLENS_SITE__ADMIN_PORTS="[22, 3389]"` (values are read as TOML, else as a string).
//! `ZTLENS_CONFIG` names the file; `ZTLENS_LOG` sets the log filter and `ZTLENS_LOG_FORMAT`
//! the log format (text, json). Unknown keys are errors in
//! the file and in the environment alike, so a typo cannot silently fall back to a default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ztlens_analytics::{InventoryConfig, QueryConfig};
use ztlens_ingest::SiteConfig;
use ztlens_ingest::kafka::KafkaConfig;
use ztlens_ingest::lake::LakeConfig;
use ztlens_ingest::pipeline::IngestConfig;

use crate::auth::{TokenConfig, Tokens};

/// Environment variables with the prefix that are not configuration keys.
const RESERVED_ENV: &[&str] = &[
    "ZTLENS_CONFIG",
    "ZTLENS_LOG",
    "ZTLENS_LOG_FORMAT",
    "ZTLENS_BLESS",
    "ZTLENS_TOKEN",
];

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// Parquet lake and its writer.
    pub lake: LakeConfig,
    /// Limits on incoming records.
    pub ingest: IngestConfig,
    /// What ztlens needs to know about your networks and apps.
    pub site: SiteConfig,
    /// Query limits.
    pub query: QueryConfig,
    /// Prometheus export of KPIs.
    pub metrics: MetricsConfig,
    /// Kafka consumer (off unless `enabled = true`).
    pub kafka: KafkaConfig,
    /// Service accounts and policy exceptions (inline or CSV files).
    pub inventory: InventoryConfig,
    /// Detection rules: evaluation in `serve`, and per-rule settings in `[detections.<id>]`.
    pub detections: crate::detect::DetectionsConfig,
    /// Where alerts are sent: Alertmanager and signed webhooks.
    pub notifications: crate::detect::notify::NotificationsConfig,
    /// Syslog listeners (`[[syslog]]`, one per port), each with its source format.
    pub syslog: Vec<crate::syslog::SyslogConfig>,
    /// The lake over the PostgreSQL wire protocol (off unless `listen` is set).
    pub pgwire: crate::pgwire::PgwireConfig,
    /// Directory of extra or replacement KPI `.sql` files (and detection rules in its
    /// `detections/` folder).
    pub queries_dir: Option<PathBuf>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// Largest request body accepted (bytes, as sent, possibly compressed); larger gets 413.
    pub max_body_bytes: usize,
    /// Largest request body after gzip decompression (bytes); larger gets 413.
    pub max_decompressed_bytes: usize,
    /// Seconds a request may take before the server answers 503.
    pub request_timeout_secs: u64,
    /// Seconds between compaction and retention runs (0 turns maintenance off).
    pub maintenance_interval_secs: u64,
    /// Seconds a client has to send a request's headers; slower connections are closed (a
    /// connection that sends headers byte by byte cannot hold a slot).
    pub header_read_timeout_secs: u64,
    /// Open connections at most; more are closed as soon as they are accepted, so descriptors
    /// stay for the lake, Kafka and the probes.
    pub max_connections: usize,
    /// API tokens, stored as hashes (`ztlens token --scope read` prints one). Without any, the
    /// API is open and the server listens on loopback only.
    pub tokens: Vec<TokenConfig>,
    /// Host names (the `Host` header, port ignored) the API answers to; anything else gets
    /// 421. Empty: `localhost`, `127.0.0.1` and `::1` when listening on loopback (so a web page
    /// cannot reach the API through DNS rebinding), any host otherwise. `"*"` allows any.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://grafana.example.com`) besides the API's own whose pages browsers let
    /// call the API: they get CORS headers (preflights answered, `Authorization` allowed) and
    /// may send requests that change something (POST, DELETE); other origins get 403 for those
    /// and no CORS headers.
    pub allowed_origins: Vec<String>,
    /// Requests per second each API token may send (all requests together when no tokens are
    /// configured); more get 429 with `Retry-After`. 0 turns the limit off. The health probes
    /// are not limited. A token's `rate_limit_per_second` overrides it.
    pub rate_limit_per_second: u32,
    /// Requests a token may send at once after being idle, on top of the rate.
    pub rate_limit_burst: u32,
    /// Serve HTTPS with this certificate and key (reloaded when they change); absent: HTTP.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Whether this node takes in events. `false` makes a query node of a shared lake: push
    /// and OTLP requests get 403, and Kafka and syslog listeners must be off.
    pub ingest: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 16 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            request_timeout_secs: 60,
            maintenance_interval_secs: 600,
            header_read_timeout_secs: 10,
            max_connections: 512,
            tokens: Vec::new(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            tls: None,
            ingest: true,
        }
    }
}

impl ServerConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_body_bytes == 0 || self.max_decompressed_bytes < self.max_body_bytes {
            return Err(
                "max_decompressed_bytes must be at least max_body_bytes, and both above 0".into(),
            );
        }
        self.tokens()?;
        if let Some(tls) = &self.tls {
            tls.validate()?;
        }
        if self.rate_limit_per_second > 0 && self.rate_limit_burst == 0 {
            return Err("rate_limit_burst must be above 0 when rate_limit_per_second is".into());
        }
        if self.header_read_timeout_secs == 0 || self.max_connections == 0 {
            return Err("header_read_timeout_secs and max_connections must be above 0".into());
        }
        if let Some(bad) = self
            .allowed_hosts
            .iter()
            .chain(&self.allowed_origins)
            .find(|h| h.trim().is_empty())
        {
            return Err(format!(
                "allowed_hosts and allowed_origins hold an empty entry {bad:?}"
            ));
        }
        if let Some(bad) = self.allowed_origins.iter().find(|o| {
            let o = o.trim_end_matches('/');
            let authority = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"));
            authority.is_none_or(|a| a.is_empty() || a.contains('/'))
                || axum::http::HeaderValue::from_str(o).is_err()
        }) {
            return Err(format!(
                "allowed_origins entry {bad:?} is not an origin (http[s]://host[:port])"
            ));
        }
        Ok(())
    }

    /// The configured API tokens, checked.
    pub fn tokens(&self) -> Result<Tokens, String> {
        Tokens::new(&self.tokens)
    }
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// KPIs exported on /metrics are evaluated over the last this-many seconds.
    pub kpi_window_secs: u64,
    /// Seconds between KPI evaluations for /metrics (0 turns the export off). A pass over every
    /// KPI that takes longer is followed by a rest as long as the pass.
    pub kpi_refresh_secs: u64,
    /// Most series exported per KPI value; the rest are dropped and counted.
    pub max_series_per_kpi: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            kpi_window_secs: 24 * 3600,
            kpi_refresh_secs: 30,
            max_series_per_kpi: 200,
        }
    }
}

impl MetricsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.kpi_window_secs == 0 {
            return Err("kpi_window_secs must be above 0".into());
        }
        Ok(())
    }
}

/// A configuration that cannot be used, with where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Load from `path` (or `ZTLENS_CONFIG`, or `./ztlens.toml` when it exists), then apply the
    /// environment. No file at all is fine: defaults apply.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let explicit = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ZTLENS_CONFIG").map(PathBuf::from));
        let file = match explicit {
            Some(p) => Some(p),
            None => Some(PathBuf::from("ztlens.toml")).filter(|p| p.exists()),
        };
        let text = match &file {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?,
            None => String::new(),
        };
        Self::from_sources(&text, file.as_deref(), &env)
    }

    /// Build from file text and environment pairs (the testable core of [`load`](Self::load)).
    pub fn from_sources(
        text: &str,
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let file_path = file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("(defaults)"));
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::File {
            path: file_path.clone(),
            message: e.to_string(),
        })?;
        // Validate the file alone first, so an error names the file rather than the merge.
        Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| ConfigError::File {
            path: file_path.clone(),
            message: e.to_string(),
        })?;
        let mut overrides: Vec<&(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("ZTLENS_") && !RESERVED_ENV.contains(&k.as_str()))
            .collect();
        overrides.sort();
        for (var, value) in overrides {
            let path: Vec<String> = var["ZTLENS_".len()..]
                .to_ascii_lowercase()
                .split("__")
                .map(str::to_string)
                .collect();
            let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(value.clone()));
            set_path(&mut table, &path, parsed).map_err(|message| ConfigError::Env {
                var: var.clone(),
                message,
            })?;
            Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::Env {
                    var: var.clone(),
                    message: e.to_string(),
                }
            })?;
        }
        let mut config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        // Inventory files sit beside the config that names them.
        if let Some(dir) = file.and_then(Path::parent) {
            config.inventory.resolve_paths(dir);
        }
        config.validate()?;
        Ok(config)
    }

    /// Check every section (each validates itself), once at start-up: an error names the
    /// section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |section: &str| {
            let section = section.to_string();
            move |e: &dyn std::fmt::Display| ConfigError::Invalid(format!("[{section}] {e}"))
        };
        self.server.validate().map_err(|e| invalid("server")(&e))?;
        self.lake.validate().map_err(|e| invalid("lake")(&e))?;
        self.ingest.validate().map_err(|e| invalid("ingest")(&e))?;
        self.site.validate().map_err(|e| invalid("site")(&e))?;
        self.query.validate().map_err(|e| invalid("query")(&e))?;
        self.metrics
            .validate()
            .map_err(|e| invalid("metrics")(&e))?;
        // The Kafka errors name their section already.
        self.kafka
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.inventory
            .validate()
            .map_err(|e| invalid("inventory")(&e))?;
        // The rule ids and parameters are checked against the catalog when it loads (the
        // catalog depends on `queries_dir`); here what needs no catalog.
        if self.detections.resolve_after_secs == 0 {
            return Err(invalid("detections")(&"resolve_after_secs must be above 0"));
        }
        self.notifications
            .validate()
            .map_err(|e| invalid("notifications")(&e))?;
        self.pgwire.validate().map_err(|e| invalid("pgwire")(&e))?;
        for listener in &self.syslog {
            listener.validate().map_err(|e| invalid("syslog")(&e))?;
        }
        if !self.server.ingest && (self.kafka.enabled || !self.syslog.is_empty()) {
            return Err(invalid("server")(
                &"ingest = false (a query node) needs kafka.enabled = false and no [[syslog]] listeners",
            ));
        }
        Ok(())
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is not a section"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_file_gives_defaults() {
        let config = Config::from_sources("", None, &[]).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn the_example_file_parses_and_documents_every_section() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ztlens.example.toml"))
                .unwrap();
        let config =
            Config::from_sources(&text, Some(Path::new("ztlens.example.toml")), &[]).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert!(!config.site.segments.is_empty());
        for section in [
            "[server]",
            "[lake]",
            "[ingest]",
            "[site]",
            "[inventory]",
            "[query]",
            "[metrics]",
            "[detections]",
            "[notifications]",
        ] {
            assert!(text.contains(section), "the example lacks {section}");
        }
    }

    #[test]
    fn environment_overrides_file() {
        let config = Config::from_sources(
            "[lake]\ndata_dir = \"/from/file\"\nflush_rows = 10\n",
            None,
            &env(&[
                ("ZTLENS_LAKE__DATA_DIR", "/from/env"),
                ("ZTLENS_SITE__ADMIN_PORTS", "[22, 3389]"),
                ("ZTLENS_QUERY__TIMEOUT_SECS", "5"),
                ("ZTLENS_LOG", "debug"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.lake.data_dir, PathBuf::from("/from/env"));
        assert_eq!(config.lake.flush_rows, 10);
        assert_eq!(config.site.admin_ports, vec![22, 3389]);
        assert_eq!(config.query.timeout_secs, 5);
    }

    #[test]
    fn typos_are_errors_that_say_where() {
        let err = Config::from_sources("[lake]\nflush_rowz = 1\n", Some(Path::new("z.toml")), &[])
            .unwrap_err();
        assert!(
            err.to_string().contains("z.toml") && err.to_string().contains("flush_rowz"),
            "{err}"
        );
        let err =
            Config::from_sources("", None, &env(&[("ZTLENS_LAKE__FLUSH_ROWZ", "1")])).unwrap_err();
        assert!(err.to_string().contains("ZTLENS_LAKE__FLUSH_ROWZ"), "{err}");
        let err = Config::from_sources("[site]\ninternal_cidrs = [\"10.0.0.0/99\"]\n", None, &[])
            .unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/99"), "{err}");
    }
}
