//! The daemon's one source of randomness: the operating system's CSPRNG
//! (`getrandom`). Transmit cookies, NTS unique ids, nonces and cookie keys,
//! rate-limiter hash seeds and generated keys all come from here, directly
//! or through a [`Csprng`] seeded here.
//!
//! There is no fallback: a daemon that cannot get random bytes would send
//! guessable cookies and nonces, so [`fill`] panics with a clear message
//! (the panic policy then ends the process, and its supervisor restarts it)
//! and [`try_fill`] returns the error where there is a caller to tell.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A fast CSPRNG for per-packet and per-poll randomness, seeded from the OS.
pub type Csprng = ChaCha20Rng;

/// The operating system could not provide random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomError(getrandom::Error);

impl std::fmt::Display for RandomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the operating system's random number generator failed: {}", self.0)
    }
}

impl std::error::Error for RandomError {}

/// Fills `buf` with random bytes, or says why it cannot.
pub fn try_fill(buf: &mut [u8]) -> Result<(), RandomError> {
    // The one call of it (tests/guardrails.rs keeps it that way).
    fill_from(buf, getrandom::getrandom)
}

fn fill_from(
    buf: &mut [u8],
    source: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
) -> Result<(), RandomError> {
    source(buf).map_err(RandomError)
}

/// Fills `buf` with random bytes; panics (ending the process) when the
/// operating system cannot provide them.
pub fn fill(buf: &mut [u8]) {
    if let Err(e) = try_fill(buf) {
        panic!("{e}");
    }
}

/// `N` random bytes (see [`fill`]).
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fill(&mut b);
    b
}

/// A random `u64` (see [`fill`]).
pub fn u64() -> u64 {
    u64::from_ne_bytes(bytes())
}

/// A fresh [`Csprng`] seeded from the OS (see [`fill`]).
pub fn csprng() -> Csprng {
    Csprng::from_seed(bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_source_is_an_error_not_a_fallback() {
        let mut buf = [7u8; 8];
        let failing = |_: &mut [u8]| Err(getrandom::Error::UNSUPPORTED);
        let e = fill_from(&mut buf, failing).unwrap_err();
        assert!(e.to_string().contains("random number generator failed"), "{e}");
    }

    #[test]
    fn bytes_differ() {
        assert_ne!(bytes::<16>(), bytes::<16>());
        assert_ne!(u64(), u64());
    }
}
