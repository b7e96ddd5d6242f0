//! ztlens-ingest: everything between raw vendor bytes and durable rows in the lake.
//!
//! Layout:
//! - [`schema`]: the normalized OCSF-aligned tables (Arrow schemas, row structs, builders);
//! - [`site`]: site knowledge (networks, segments, ports, privileged apps) used for enrichment;
//! - [`parsers`]: one module per vendor, pure functions from a record to rows;
//! - [`framing`]: cutting byte streams into records with bounded memory;
//! - [`decode`]: framer + parser + builders, producing batches and dead letters;
//! - [`lake`]: the Parquet lake, its write-ahead log, compaction and retention;
//! - [`dead_letter`]: the store of refused records;
//! - [`pipeline`]: sources (files, request bodies) wired to the decoder and the lake writer;
//! - `kafka` (feature `kafka`, on by default): the Kafka consumer-group source and its offset
//!   tracker;
//! - [`metrics`]: Prometheus counters for all of the above.
//!
//! Parsers never know about Kafka, HTTP or files; sources never know about vendors.

mod base64;
pub mod country;
pub mod dead_letter;
pub mod decode;
pub mod framing;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lake;
pub mod metrics;
pub mod parsers;
pub mod pipeline;
pub mod schema;
pub mod site;

pub use decode::{DeadLetter, DecodeStats, Decoded, Decoder, decode_bytes};
pub use parsers::{ErrorKind, Format, ParseError};
pub use schema::Table;
pub use site::{Site, SiteConfig};
