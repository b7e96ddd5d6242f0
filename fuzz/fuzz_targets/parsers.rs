#![no_main]
// Any bytes through a parser of the registry: no panic, and rows + dead letters account for
// every record. `ZTLENS_FUZZ_FORMAT=<name>` fuzzes one format (what scripts/fuzz does, with that
// format's fixtures as the corpus); unset, the first byte of each input picks the format.

use std::sync::LazyLock;

use ztlens_ingest::Format;

static PINNED: LazyLock<Option<Format>> = LazyLock::new(|| {
    let name = std::env::var("ZTLENS_FUZZ_FORMAT").ok()?;
    Some(Format::from_name(&name).unwrap_or_else(|| {
        panic!(
            "ZTLENS_FUZZ_FORMAT={name:?} names no format (known: {})",
            Format::known_names()
        )
    }))
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match *PINNED {
        Some(format) => ztlens_fuzz::check(format, data),
        None => {
            if let Some((&pick, rest)) = data.split_first() {
                ztlens_fuzz::check(Format::ALL[pick as usize % Format::ALL.len()], rest);
            }
        }
    }
});
