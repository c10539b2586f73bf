//! A GNSS receiver with a PPS output, as the client sees it through its
//! drivers: every true second a pulse edge (timestamped with a normal
//! error of `pulse_jitter`, sometimes missing) and a burst of NMEA
//! sentences naming that second, whose first byte arrives `nmea_latency`
//! later with a normal spread of `nmea_jitter` (never before the second).
//! The daemon's side is the real `ntp_proto::refclock` code: NMEA
//! (noselect, `offset` = the configured latency) gives the seconds, PPS
//! locked to it the phase — chrony's `refclock SHM 0 refid NMEA noselect` +
//! `refclock PPS /dev/pps0 lock NMEA` — or, without PPS, NMEA alone.

use crate::rng::Rng;

/// The receiver model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Receiver {
    /// Standard deviation of the pulse timestamp's error, s.
    pub pulse_jitter: f64,
    /// Probability that a second has no pulse.
    pub pulse_missing: f64,
    /// Mean delay of the first NMEA byte after the second, s.
    pub nmea_latency: f64,
    /// Standard deviation of that delay, s.
    pub nmea_jitter: f64,
    /// The NMEA clock's configured `offset` (the operator's estimate of the
    /// latency), s.
    pub nmea_offset: f64,
    /// Use the pulses (else NMEA alone is the selectable clock).
    pub pps: bool,
}

impl Receiver {
    /// True time at which second `k`'s pulse is timestamped, or `None` when
    /// the pulse is missing.
    pub fn pulse(&self, k: f64, rng: &mut Rng) -> Option<f64> {
        if rng.uniform() < self.pulse_missing {
            return None;
        }
        Some(k + self.pulse_jitter * rng.normal())
    }

    /// True time at which second `k`'s first sentence arrives.
    pub fn sentence(&self, k: f64, rng: &mut Rng) -> f64 {
        k + (self.nmea_latency + self.nmea_jitter * rng.normal()).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulses_and_sentences_follow_the_model() {
        let r = Receiver {
            pulse_jitter: 1e-6,
            pulse_missing: 0.1,
            nmea_latency: 0.1,
            nmea_jitter: 0.01,
            nmea_offset: 0.1,
            pps: true,
        };
        let mut rng = Rng::new(1, 0);
        let n = 10_000;
        let pulses: Vec<f64> =
            (0..n).filter_map(|k| r.pulse(f64::from(k), &mut rng).map(|t| t - f64::from(k))).collect();
        let missing = f64::from(n) - pulses.len() as f64;
        assert!((missing / f64::from(n) - 0.1).abs() < 0.02, "{missing}");
        let sd = (pulses.iter().map(|e| e * e).sum::<f64>() / pulses.len() as f64).sqrt();
        assert!((sd / 1e-6 - 1.0).abs() < 0.05, "{sd}");
        let lat: Vec<f64> = (0..n).map(|k| r.sentence(f64::from(k), &mut rng) - f64::from(k)).collect();
        let mean = lat.iter().sum::<f64>() / f64::from(n);
        assert!((mean - 0.1).abs() < 1e-3 && lat.iter().all(|l| *l >= 0.0), "{mean}");
    }
}
