//! Non-cryptographic random numbers without extra dependencies.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A random `u64` (SipHash keyed by the process's random state, the time and a counter).
/// Good enough for transmit timestamps, ports and names; not for keys.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    h.write_u64(now);
    h.write_u32(std::process::id());
    h.finish()
}
