#![no_main]
// Any bytes through the jamf parser: no panic, and rows + dead letters account for every record.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ztlens_fuzz::check(ztlens_ingest::Format::Jamf, data);
});
