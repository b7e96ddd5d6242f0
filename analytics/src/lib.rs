//! ztlens-analytics: reads the lake and answers questions about it.
//!
//! Layout:
//! - [`engine`]: DataFusion sessions over the lake and the hot tail, on a dedicated runtime with
//!   a memory pool, a concurrency limit and a timeout;
//! - [`kpi`]: KPI definitions (SQL files with a header), the catalog, and the shared views, all
//!   compiled from `queries/` by `build.rs`;
//! - [`inventory`]: service accounts and policy exceptions from the config or CSV files, as
//!   reference tables;
//! - [`detection`]: detection rules (SQL files with a header like the KPIs'), their parameters,
//!   allow-lists and the matches they return; the alert lifecycle lives in the binary, which
//!   owns the alert store;
//! - [`maturity`]: the per-pillar maturity scorecard derived from KPI values;
//! - [`guard`]: the read-only gate every user-written statement passes;
//! - [`bounded`]: size limits for the expressions that build values outside the memory pool;
//! - [`time_range`]: time ranges and steps as users and Grafana write them;
//! - [`output`]: results as JSON rows, CSV or a text table;
//! - [`functions`]: scalar functions ztlens adds to every session (`ip_in_cidr`);
//! - [`whatif`]: candidate policies (TOML) compiled to SQL, and what they would have refused;
//! - [`access_paths`]: who reaches each sensitive app and how, and which workloads talk;
//! - `partials`: stored per-hour partial results of KPIs split in two, for sealed hours.
//!
//! Imports, bottom up: `error`; `time_range`, `guard`, `bounded` and `output` use only `error`; `kpi`,
//! `detection` and `inventory` use those; `functions` uses `error`; `partials` uses `kpi`; `engine` uses all of them; `maturity`, `whatif` and `access_paths` use `engine`, `kpi` and `output`. From
//! ztlens-ingest, analytics reads the lake's [`layout`](ztlens_ingest::lake::layout), its
//! dead-letter summaries, the writer's hot tail through a read-only
//! [`TailReader`](ztlens_ingest::lake::TailReader), and the schema. Analytics never writes the
//! lake — only its own KPI cache (`_kpi_cache` in the node's data directory) — and imports
//! nothing from the binary.

pub mod access_paths;
pub mod bounded;
pub mod detection;
pub mod engine;
mod error;
pub mod functions;
pub mod guard;
pub mod inventory;
pub mod kpi;
pub mod maturity;
pub mod output;
mod partials;
pub mod time_range;
pub mod whatif;

pub use detection::{DetectionCatalog, DetectionDef, RuleMatch, Severity};
pub use engine::{Engine, LabelFilter, MAX_EVIDENCE_PAGE, QueryConfig};
pub use error::AnalyticsError;
pub use inventory::{Inventory, InventoryConfig};
pub use kpi::{KpiCatalog, KpiDef};
pub use output::QueryOutput;
pub use time_range::TimeRange;
