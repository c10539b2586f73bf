//! [`Rng`]: a small fast PRNG (SplitMix64). NTS unique ids and nonces only
//! need to be unique, and the accuracy upstream's network jitter only needs
//! to be reproducible from a seed; neither is key material.

use std::io::Read;

/// A small fast PRNG (SplitMix64) seeded from the OS: unique ids and nonces
/// only need to be unique, and the generator's CPU is precious.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from /dev/urandom (falling back to the clock).
    pub fn from_os() -> Rng {
        let mut b = [0u8; 8];
        let seeded = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
        let seed = if seeded { u64::from_le_bytes(b) } else { crate::engine::now_ns() as u64 };
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `out` with pseudo-random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

impl Rng {
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponentially distributed with mean `mean` (0 when `mean` is not positive).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        if mean > 0.0 && mean.is_finite() {
            -mean * (1.0 - self.uniform()).ln()
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_mean_and_bounds() {
        let mut r = Rng(7);
        let n = 100_000;
        let mean = (0..n).map(|_| r.exponential(1e-4)).sum::<f64>() / n as f64;
        assert!((mean - 1e-4).abs() < 3e-6, "{mean}");
        assert!((0..1000).all(|_| (0.0..1.0).contains(&r.uniform())));
        assert_eq!(r.exponential(0.0), 0.0);
    }
}
