//! Output: a human summary, and the one-line JSON object that is the last
//! line with `--json`.

use crate::faults::FaultResult;
use crate::run::RunResult;
use crate::scenario::Scenario;
use crate::stats::Summary;
use std::fmt::Write;

/// The human-readable report.
pub fn human(sc: &Scenario, jitter: f64, seed: u64, results: &[RunResult], s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario {}: {}", sc.name, sc.description);
    if sc.auth != crate::credentials::AuthMode::None {
        let _ = writeln!(out, "requests protected with {}", sc.auth.name());
    }
    let _ = writeln!(
        out,
        "network jitter {:.0} us (exponential, per direction), {} runs, seed {}, {:.0} s simulated per run, measured from {:.0} s",
        jitter * 1e6,
        results.len(),
        seed,
        sc.duration,
        sc.settle
    );
    let _ = writeln!(out, "client timestamps: T1 {}", sc.timestamping.t1.name());
    let _ = writeln!(out, "run   rms_us   mean_us    max_us  sync_s  steps  requests  mean_poll_s  falseticker");
    for (i, r) in results.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>3} {:>8.2} {:>9.2} {:>9.2} {:>7.0} {:>6} {:>9} {:>12.1}  {}",
            i,
            r.rms * 1e6,
            r.mean * 1e6,
            r.max_abs * 1e6,
            r.sync_time,
            r.steps,
            r.requests,
            r.mean_poll_interval,
            if r.falseticker_selected { "SELECTED" } else { "-" }
        );
    }
    let _ = writeln!(
        out,
        "mean RMS error {:.2} us (sd {:.2}), mean error {:+.2} us, max |error| {:.2} us, synchronised (|error| < {:.0} us) after at most {:.0} s (mean {:.1} s), falseticker selected in {} run(s), mean poll interval {:.1} s",
        s.rms_mean_us,
        s.rms_sd_us,
        s.mean_error_us,
        s.max_abs_us,
        sc.sync_threshold * 1e6,
        s.sync_time_s,
        s.sync_time_mean_s,
        s.falseticker_selected,
        s.mean_poll_interval_s
    );
    for f in worst_faults(results) {
        let _ = writeln!(
            out,
            "fault {}: max |error| while it lasted {:.2} us, error above the threshold until {:.0} s after its end, first sample {} after it (worst run)",
            f.name,
            f.max_abs_during * 1e6,
            f.recovery,
            f.first_sample_after.map_or("never".to_owned(), |s| format!("{s:.0} s"))
        );
    }
    out
}

/// Per injected fault, the worst figures over all runs.
pub fn worst_faults(results: &[RunResult]) -> Vec<FaultResult> {
    let mut worst: Vec<FaultResult> = results.first().map(|r| r.faults.clone()).unwrap_or_default();
    for r in results {
        for (w, f) in worst.iter_mut().zip(&r.faults) {
            w.max_abs_during = w.max_abs_during.max(f.max_abs_during);
            w.recovery = w.recovery.max(f.recovery);
            w.first_sample_after = match (w.first_sample_after, f.first_sample_after) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
    }
    worst
}

/// The JSON summary object, on one line (with `faults`, the worst figures
/// per injected fault over `results`).
pub fn json(sc: &Scenario, jitter: f64, seed: u64, s: &Summary, results: &[RunResult]) -> String {
    let faults: Vec<String> = worst_faults(results)
        .iter()
        .map(|f| {
            format!(
                "{{\"name\":\"{}\",\"max_abs_during_us\":{:.3},\"recovery_s\":{},\"first_sample_after_s\":{}}}",
                f.name,
                f.max_abs_during * 1e6,
                f.recovery,
                f.first_sample_after.map_or("null".to_owned(), |s| format!("{s:.3}"))
            )
        })
        .collect();
    format!(
        concat!(
            "{{\"scenario\":\"{}\",\"timestamps\":\"{}\",\"jitter_s\":{:e},\"runs\":{},\"seed\":{},\"duration_s\":{},\"settle_s\":{},",
            "\"rms_mean_us\":{:.3},\"rms_sd_us\":{:.3},\"mean_error_us\":{:.3},\"max_abs_us\":{:.3},\"sync_time_s\":{},",
            "\"sync_time_mean_s\":{:.1},\"falseticker_selected\":{},\"mean_poll_interval_s\":{:.1},\"steps_mean\":{:.2},",
            "\"interleaved_share\":{:.3},\"faults\":[{}]}}"
        ),
        sc.name,
        sc.timestamping.t1.name(),
        jitter,
        s.runs,
        seed,
        sc.duration,
        sc.settle,
        s.rms_mean_us,
        s.rms_sd_us,
        s.mean_error_us,
        s.max_abs_us,
        s.sync_time_s,
        s.sync_time_mean_s,
        s.falseticker_selected,
        s.mean_poll_interval_s,
        s.steps_mean,
        s.interleaved_share,
        faults.join(",")
    )
}
