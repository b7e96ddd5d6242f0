//! Replays every input the fuzzers ever found a problem with (`fuzz/regressions/<target>/`),
//! through the same check the fuzz targets run, on the stable toolchain: a parser that panics
//! again, or loses track of a record, fails this test. Each input also goes through every other
//! parser, since formats are detected from content and any parser may see any bytes.

use std::path::Path;

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_check;

use ztlens_ingest::Format;

#[test]
fn committed_fuzz_inputs_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue; // README.md
        }
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let format = Format::from_name(&name)
            .unwrap_or_else(|| panic!("fuzz/regressions/{name} names no format"));
        for input in std::fs::read_dir(&dir).unwrap() {
            let path = input.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            fuzz_check::check(format, &bytes);
            for &other in Format::ALL {
                fuzz_check::check(other, &bytes);
            }
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz regression inputs");
}
