//! Compiles the query files under `../queries/` into the crate: `$OUT_DIR/builtin_queries.rs`
//! defines `BUILTIN_KPIS` (`queries/kpis/*.sql`), `BUILTIN_VIEWS` (`queries/views/*.sql`) and
//! `BUILTIN_DETECTIONS` (`queries/detections/*.sql`), each a sorted list of (file name, text).
//! Adding a KPI, a view or a detection rule is adding its file.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries");
    let mut out = String::new();
    for (constant, folder) in [
        ("BUILTIN_KPIS", "kpis"),
        ("BUILTIN_VIEWS", "views"),
        ("BUILTIN_DETECTIONS", "detections"),
    ] {
        let dir = queries.join(folder);
        // A new or removed file changes the folder; an edited one is tracked by include_str!.
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable folder entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        writeln!(out, "pub const {constant}: &[(&str, &str)] = &[").unwrap();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy();
            let absolute = path.canonicalize().expect("the query file exists");
            writeln!(
                out,
                "    ({name:?}, include_str!({:?})),",
                absolute.display().to_string()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let target = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("builtin_queries.rs");
    std::fs::write(&target, out).expect("OUT_DIR is writable");
}
