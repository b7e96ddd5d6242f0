//! The names of the formats in the parser registry, one per line, for scripts/fuzz.

fn main() {
    for format in ztlens_ingest::Format::ALL {
        println!("{}", format.name());
    }
}
