//! The check every fuzz target runs, shared so a crash reproduces the same way in
//! `ingest/tests/fuzz_regressions.rs` on the stable toolchain.

use std::sync::Arc;

use ztlens_ingest::{Format, Site, decode_bytes};

/// Decode `data` as `format` with a small record limit (so the oversized path is exercised
/// too), and check that every record became rows or a dead letter, and that detection does not
/// panic either.
pub fn check(format: Format, data: &[u8]) {
    let _ = Format::detect(data);
    let (decoded, stats) = decode_bytes(format, Arc::new(Site::default()), data, "fuzz", 0, 4096);
    assert_eq!(stats.total_rows() as usize, decoded.rows());
    assert_eq!(
        stats.total_dead_letters() as usize,
        decoded.dead_letters.len()
    );
    for letter in &decoded.dead_letters {
        assert!(letter.raw.len() <= letter.raw_len.max(letter.raw.len()));
        assert!(!letter.reason.is_empty());
    }
}
