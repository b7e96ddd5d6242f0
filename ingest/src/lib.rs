//! ztlens-ingest: everything between raw vendor bytes and durable rows in the lake.
//!
//! Modules, from the bottom up; a module may import only the ones listed before it (a unit test
//! in this file checks it):
//! - [`record`]: the vocabulary every stage shares — framing kinds, refusals, dead letters,
//!   decode counts;
//! - [`schema`]: the normalized OCSF-aligned tables (Arrow schemas, row structs, builders);
//! - [`country`], [`site`]: country names and site knowledge (networks, segments, ports,
//!   privileged apps) used for enrichment;
//! - [`metrics`]: Prometheus counters, labelled by the vocabulary's bounded sets;
//! - [`lake`] (storage): the Parquet lake, its [`lake::layout`], write-ahead log, dead-letter
//!   store, compaction and retention;
//! - [`framing`]: cutting byte streams into records with bounded memory;
//! - [`parsers`]: one module per vendor, pure functions from a record to rows, and the registry
//!   of vendor specs; parsers see neither framing nor the lake nor any source;
//! - [`decode`]: framer + parser + builders, producing batches and dead letters;
//! - [`pipeline`] (sources): files and pushed request bodies, wired to the decoder and the lake
//!   writer;
//! - `kafka` (feature `kafka`, on by default): the Kafka consumer-group source and its offset
//!   tracker.
//!
//! So storage imports nothing from transports, parsers import nothing from framing or Kafka, and
//! sources never know about vendors beyond the [`Format`] handle.

pub mod country;
pub mod decode;
pub mod framing;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lake;
pub mod metrics;
pub mod parsers;
pub mod pipeline;
pub mod record;
pub mod schema;
pub mod site;
pub mod syslog;

pub use decode::{Decoded, Decoder, decode_bytes};
pub use parsers::{Format, SourceFormat, UnknownSource};
pub use record::{DeadLetter, DecodeStats, ErrorKind, ParseError};
pub use schema::Table;
pub use site::{Site, SiteConfig};

/// The import rules of the module list above, checked on the source: each module's files may
/// name only the crate modules listed for it (`crate::<module>` paths, tests included).
#[cfg(test)]
mod layering {
    use std::path::{Path, PathBuf};

    /// Module → the crate modules its code may import.
    const ALLOWED: &[(&str, &[&str])] = &[
        ("record", &["schema"]),
        ("schema", &[]),
        ("country", &[]),
        ("site", &[]),
        ("metrics", &["record", "schema"]),
        ("lake", &["record", "schema", "metrics"]),
        ("framing", &["record"]),
        ("syslog", &[]),
        ("parsers", &["record", "schema", "site", "country"]),
        (
            "decode",
            &["record", "schema", "site", "framing", "parsers"],
        ),
        (
            "pipeline",
            &[
                "record", "schema", "site", "metrics", "lake", "framing", "parsers", "decode",
            ],
        ),
        (
            "kafka",
            &[
                "record", "schema", "site", "metrics", "lake", "framing", "parsers", "decode",
                "pipeline",
            ],
        ),
    ];

    fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                rust_files(&entry.unwrap().path(), out);
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
    }

    /// The crate modules a file names: `crate::x` paths and `use crate::{x, …}` groups.
    fn named_modules(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    let head = item.trim().split("::").next().unwrap_or("").trim();
                    if head.starts_with(|c: char| c.is_ascii_lowercase()) {
                        names.push(head.to_string());
                    }
                }
            } else {
                let head: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if head.starts_with(|c: char| c.is_ascii_lowercase()) {
                    names.push(head);
                }
            }
        }
        names
    }

    #[test]
    fn modules_import_only_what_the_layering_allows() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut violations = Vec::new();
        for (module, allowed) in ALLOWED {
            let mut files = Vec::new();
            rust_files(&src.join(module), &mut files);
            rust_files(&src.join(format!("{module}.rs")), &mut files);
            assert!(!files.is_empty(), "no source for module {module}");
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                for name in named_modules(&text) {
                    if name != *module && !allowed.contains(&name.as_str()) {
                        violations.push(format!("{} imports crate::{name}", file.display()));
                    }
                }
            }
        }
        assert!(violations.is_empty(), "{}", violations.join("\n"));
    }

    #[test]
    fn the_checker_sees_grouped_and_nested_paths() {
        let text =
            "use crate::{lake::layout, record::DeadLetter};\nlet x = crate::schema::Table::ALL;";
        assert_eq!(named_modules(text), ["lake", "record", "schema"]);
    }
}
