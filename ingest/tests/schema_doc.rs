//! `docs/schema.md` and the code must describe the same columns. The column tables in the doc sit
//! between `<!-- BEGIN columns: <table> -->` and `<!-- END columns -->` and are generated from the
//! schema declarations; after changing the schema run
//! `ZTLENS_BLESS=1 cargo test -p ztlens-ingest --test schema_doc` and review the diff.

use std::path::Path;

use ztlens_ingest::schema::{Table, columns_markdown};

const END: &str = "<!-- END columns -->";

#[test]
fn schema_doc_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema.md");
    let mut doc = std::fs::read_to_string(&path).expect("docs/schema.md exists");
    let bless = std::env::var_os("ZTLENS_BLESS").is_some();
    let mut problems = Vec::new();
    for table in Table::ALL {
        let begin = format!("<!-- BEGIN columns: {} -->", table.name());
        let Some(start) = doc.find(&begin) else {
            problems.push(format!("no `{begin}` section for table {table}"));
            continue;
        };
        let body_start = start + begin.len() + 1;
        let end = doc[body_start..]
            .find(END)
            .map(|e| body_start + e)
            .expect("section is closed");
        let expected = columns_markdown(table);
        if doc[body_start..end] != expected {
            if bless {
                doc.replace_range(body_start..end, &expected);
            } else {
                problems.push(format!("the column table of `{table}` differs from the code:\n--- doc\n{}\n--- code\n{expected}", &doc[body_start..end]));
            }
        }
    }
    let sections = doc.matches("<!-- BEGIN columns: ").count();
    if sections != Table::ALL.len() {
        problems.push(format!(
            "{sections} column sections for {} tables",
            Table::ALL.len()
        ));
    }
    if bless {
        std::fs::write(&path, doc).unwrap();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every registered format is documented: a row of the sources table in `docs/operations.md`
/// and a mapping section in `docs/schema.md` that names the format.
#[test]
fn every_format_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let operations = std::fs::read_to_string(root.join("operations.md")).unwrap();
    let schema = std::fs::read_to_string(root.join("schema.md")).unwrap();
    let mapping = &schema[schema
        .find("## Field mappings per source")
        .expect("schema.md has a mappings chapter")..];
    let mut missing = Vec::new();
    for format in ztlens_ingest::Format::ALL {
        let name = format.name();
        if !operations.contains(&format!("| `{name}` |")) {
            missing.push(format!(
                "{name}: no row in the sources table of docs/operations.md"
            ));
        }
        let named = mapping
            .lines()
            .filter(|l| l.starts_with("### ") || l.starts_with("Format `"))
            .any(|l| l.contains(&format!("`{name}`")) || l.to_lowercase().contains(name));
        if !named {
            missing.push(format!(
                "{name}: no mapping section in docs/schema.md (a `### …` heading naming it, or a `Format `{name}`` line under one)"
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
