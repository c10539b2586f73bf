//! Aggregation of runs into the figures the simulator reports.

use crate::run::RunResult;

/// Figures over all runs of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Runs.
    pub runs: usize,
    /// Mean of the runs' RMS errors, µs.
    pub rms_mean_us: f64,
    /// Standard deviation of the runs' RMS errors, µs.
    pub rms_sd_us: f64,
    /// Mean of the runs' mean errors, µs (a bias of the timestamps or the
    /// path shows here).
    pub mean_error_us: f64,
    /// Largest |error| of any run in its measured window, µs.
    pub max_abs_us: f64,
    /// Worst (largest) time to synchronise, s.
    pub sync_time_s: f64,
    /// Mean time to synchronise, s.
    pub sync_time_mean_s: f64,
    /// Runs in which a falseticker was ever selected.
    pub falseticker_selected: usize,
    /// Mean interval between requests to one source, s.
    pub mean_poll_interval_s: f64,
    /// Mean number of clock steps per run.
    pub steps_mean: f64,
    /// Share of the accepted samples that were interleaved, all runs.
    pub interleaved_share: f64,
}

/// Summarises `results` (at least one).
pub fn summarise(results: &[RunResult]) -> Summary {
    let n = results.len().max(1) as f64;
    let rms: Vec<f64> = results.iter().map(|r| r.rms * 1e6).collect();
    let mean = rms.iter().sum::<f64>() / n;
    let var = if results.len() > 1 { rms.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    Summary {
        runs: results.len(),
        rms_mean_us: mean,
        rms_sd_us: var.sqrt(),
        mean_error_us: results.iter().map(|r| r.mean * 1e6).sum::<f64>() / n,
        max_abs_us: results.iter().map(|r| r.max_abs * 1e6).fold(0.0, f64::max),
        sync_time_s: results.iter().map(|r| r.sync_time).fold(0.0, f64::max),
        sync_time_mean_s: results.iter().map(|r| r.sync_time).sum::<f64>() / n,
        falseticker_selected: results.iter().filter(|r| r.falseticker_selected).count(),
        mean_poll_interval_s: results.iter().map(|r| r.mean_poll_interval).sum::<f64>() / n,
        steps_mean: results.iter().map(|r| f64::from(r.steps)).sum::<f64>() / n,
        interleaved_share: results.iter().map(|r| r.interleaved_samples).sum::<u64>() as f64
            / results.iter().map(|r| r.samples).sum::<u64>().max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(rms: f64, sync: f64, ft: bool) -> RunResult {
        RunResult {
            rms,
            mean: rms / 2.0,
            max_abs: rms * 3.0,
            sync_time: sync,
            falseticker_selected: ft,
            requests: 10,
            samples: 10,
            interleaved_samples: 5,
            steps: 1,
            leaps: 0,
            mean_poll_interval: 64.0,
            faults: Vec::new(),
        }
    }

    #[test]
    fn mean_sd_max_and_counts() {
        let s = summarise(&[r(10e-6, 20.0, false), r(20e-6, 40.0, true)]);
        assert!((s.rms_mean_us - 15.0).abs() < 1e-9);
        assert!((s.rms_sd_us - 50f64.sqrt()).abs() < 1e-9);
        assert!((s.mean_error_us - 7.5).abs() < 1e-9);
        assert!((s.max_abs_us - 60.0).abs() < 1e-9);
        assert_eq!(s.sync_time_s, 40.0);
        assert_eq!(s.falseticker_selected, 1);
        assert_eq!(s.interleaved_share, 0.5);
    }
}
