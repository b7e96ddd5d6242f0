//! How the process allocator treats large buffers.
//!
//! glibc's malloc serves a request of at least its mmap threshold with a mapping of its own,
//! returned to the system on free; smaller ones come from per-thread arenas, which keep freed
//! memory for reuse. The threshold starts at 128 KiB but rises to the size of every mapped
//! buffer freed, up to 32 MiB, so after the first large query buffers of several MiB stay in
//! the arenas. On a 10 M-event day the KPI benchmark (`ztlens bench --lake`) then peaked at
//! 992–1,045 MiB RSS for a 616 MiB heap; with the threshold held at 4 MiB it peaks at 753–776
//! MiB at the same speed (docs/performance.md).
//!
//! Commands that ingest keep glibc's default: `ztlens ingest` (fresh mappings cost it 8 % in
//! page faults, for a peak already under its budget), `ztlens serve` and `ztlens demo` (Kafka
//! ingest of Okta fell from 72–75 k to 53–55 k messages/s in `ztlens bench --kafka`), and the
//! benchmarks of both. A server's KPIs then peak higher (992–1,045 MiB for the benchmark
//! above); `MALLOC_MMAP_THRESHOLD_=4194304` in its environment trades that Kafka speed for
//! the lower peak. Setting `MALLOC_MMAP_THRESHOLD_` in the environment overrides this choice
//! for every command.
//!
//! Imports: none from ztlens.

/// Buffers of this size or more get their own mapping, returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 4 * 1024 * 1024;

/// Hold glibc's mmap threshold at 4 MiB, unless the environment sets one.
/// Call before any thread starts. Does nothing with another C library.
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets a tunable of the allocator; it is called before the
        // process starts other threads. A refusal (return 0) leaves glibc's default in place.
        let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
        if accepted == 0 {
            tracing::debug!("the allocator refused a fixed mmap threshold; keeping its default");
        }
    }
}
