//! The network model, as in clknetsim: each direction's one-way delay is
//! `base ± asymmetry/2 + jitter × Exp(1)` (independent exponential jitter
//! with mean `jitter` per direction), packets are lost with probability
//! `loss`, and nothing gets through while the network is down (outages).

use crate::rng::Rng;

/// Periodic connectivity: up for `up` seconds at the start of every
/// `period` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outages {
    /// Length of the cycle, s.
    pub period: f64,
    /// Connected time at the start of each cycle, s.
    pub up: f64,
}

/// One client–server path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Network {
    /// Minimum one-way delay, s.
    pub base_delay: f64,
    /// Mean of the exponential jitter per direction, s.
    pub jitter: f64,
    /// Client→server minus server→client base delay, s.
    pub asymmetry: f64,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Periodic outages, if any.
    pub outages: Option<Outages>,
}

impl Network {
    /// True when packets get through at true time `t`.
    pub fn is_up(&self, t: f64) -> bool {
        match self.outages {
            Some(o) if o.period > 0.0 => t.rem_euclid(o.period) < o.up,
            _ => true,
        }
    }

    /// The delay of a packet sent at `t` towards the server (`upstream`) or
    /// back, or `None` when it is lost.
    pub fn delay(&self, t: f64, upstream: bool, rng: &mut Rng) -> Option<f64> {
        let jitter = self.jitter * rng.exponential();
        let lost = self.loss > 0.0 && rng.uniform() < self.loss;
        if lost || !self.is_up(t) {
            return None;
        }
        let half = self.asymmetry / 2.0;
        let base = if upstream { self.base_delay + half } else { self.base_delay - half };
        Some(base.max(0.0) + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_drops_that_share_and_asymmetry_splits_the_base_delay() {
        let n = Network { base_delay: 1e-3, jitter: 0.0, asymmetry: 4e-4, loss: 0.25, outages: None };
        let mut rng = Rng::new(7, 0);
        let sent = 40_000;
        let arrived: Vec<f64> = (0..sent).filter_map(|_| n.delay(0.0, true, &mut rng)).collect();
        let lost = 1.0 - arrived.len() as f64 / f64::from(sent);
        assert!((lost - 0.25).abs() < 0.01, "lost {lost}");
        assert!(arrived.iter().all(|d| (d - 1.2e-3).abs() < 1e-12), "upstream = base + asymmetry/2");
        let back = (0..100).find_map(|_| n.delay(0.0, false, &mut rng)).unwrap();
        assert!((back - 0.8e-3).abs() < 1e-12, "downstream = base - asymmetry/2");
    }

    #[test]
    fn outages_block_and_jitter_has_the_configured_mean() {
        let n = Network {
            base_delay: 1e-4,
            jitter: 1e-3,
            asymmetry: 0.0,
            loss: 0.0,
            outages: Some(Outages { period: 86_400.0, up: 1_800.0 }),
        };
        assert!(n.is_up(10.0) && !n.is_up(1_800.0) && n.is_up(86_401.0));
        let mut rng = Rng::new(1, 0);
        assert!(n.delay(5_000.0, true, &mut rng).is_none());
        let mean: f64 = (0..20_000).map(|_| n.delay(0.0, true, &mut rng).unwrap()).sum::<f64>() / 20_000.0;
        assert!((mean - 1.1e-3).abs() < 3e-5, "{mean}");
    }
}
