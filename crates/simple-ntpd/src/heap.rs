//! Keeps the daemon's heap small: glibc's allocator tuned for a daemon whose
//! serving path never allocates.
//!
//! glibc gives every thread that allocates its own arena (a 132 kB mapping,
//! tens of kB of it touched at once): measured on the static binary at idle,
//! three arenas (serving workers, log writer) held 168 of its 988 kB of
//! anonymous memory. Arenas exist to spare threads lock contention, but the
//! serving path allocates nothing (docs/performance.md) and the rest of the
//! daemon allocates rarely, so one arena ([`single_arena`]) costs nothing
//! measurable and saves that memory.
//!
//! Per-worker buffers and tables sized for the worst case (receive batch,
//! client log, rate limiter) are taken zero-filled so that only the pages
//! actually written become resident (see `zeroed`). That holds only when
//! glibc maps them fresh; below its mmap threshold (128 kB, and raised
//! further whenever a mapped block is freed) calloc carves them from the
//! heap and clears them by writing, touching every page: measured, each
//! serving worker's 64 kB receive buffer was resident at idle, 128 kB per
//! worker in all. [`single_arena`] therefore also fixes the threshold at
//! [`MMAP_THRESHOLD`], below the smallest such buffer.
//!
//! Start-up (command line, configuration, validation, socket and TLS set-up)
//! allocates and frees far more than the running daemon keeps; the freed
//! memory stays touched inside the heap. [`trim`] hands whole free pages back
//! to the kernel once start-up is done.
//!
//! Other C libraries (musl) have neither call; there both are no-ops.

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

/// Blocks of this size or more are mapped fresh from the kernel (zero pages
/// backed only when written), never carved from the heap: the send batch's
/// buffer (32 slots of 1 kB) is the smallest per-worker buffer.
pub const MMAP_THRESHOLD: usize = 32 * 1024;

/// Limits glibc's allocator to one arena and fixes its mmap threshold at
/// [`MMAP_THRESHOLD`]. Call first thing in `main`, before any thread starts
/// (arenas already made stay).
pub fn single_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; M_ARENA_MAX with a
    // positive value and M_MMAP_THRESHOLD below its 32 MB maximum are
    // documented, valid settings, and no allocation is in flight in this
    // thread while it runs (other threads, if any, take the allocator's own
    // lock).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}

/// Returns the heap's free pages to the kernel (after start-up).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's locks and only releases
    // memory no allocation owns; every live allocation stays where it is.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    /// Trimming after freeing a large, touched block leaves live allocations
    /// intact.
    #[test]
    fn trimming_keeps_live_allocations() {
        super::single_arena();
        let keep: Vec<u64> = (0..1000).collect();
        let scratch: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 4096]).collect();
        drop(scratch);
        super::trim();
        assert_eq!(keep.iter().sum::<u64>(), 999 * 1000 / 2);
    }
}
