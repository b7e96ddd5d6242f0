//! ztlens-analytics: reads the lake and answers questions about it.
//!
//! Layout:
//! - [`engine`]: DataFusion sessions over the lake and the hot tail, on a dedicated runtime with
//!   a memory pool, a concurrency limit and a timeout;
//! - [`kpi`]: KPI definitions (SQL files with a header) and the catalog;
//! - [`inventory`]: service accounts and policy exceptions from the config or CSV files, as
//!   reference tables;
//! - [`maturity`]: the per-pillar maturity scorecard derived from KPI values;
//! - [`guard`]: the read-only gate every user-written statement passes;
//! - [`time_range`]: time ranges and steps as users and Grafana write them;
//! - [`output`]: results as JSON rows, CSV or a text table.
//!
//! Analytics reads only the lake and the schema; it never writes.

pub mod engine;
mod error;
pub mod guard;
pub mod inventory;
pub mod kpi;
pub mod maturity;
pub mod output;
pub mod time_range;

pub use engine::{Engine, LabelFilter, MAX_EVIDENCE_PAGE, QueryConfig};
pub use error::AnalyticsError;
pub use inventory::{Inventory, InventoryConfig};
pub use kpi::{KpiCatalog, KpiDef};
pub use output::QueryOutput;
pub use time_range::TimeRange;
