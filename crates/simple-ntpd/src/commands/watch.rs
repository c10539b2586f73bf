//! `simple-ntpd status --watch`: the status page at a glance in a terminal.
//! Every `--interval` seconds it reads the API (status, sources, busiest
//! clients, server counters, the last hour of history) and shows one frame:
//! the state line, sparklines of offset, jitter, frequency, requests and
//! drops, the sources and the five busiest clients.
//!
//! On a terminal each frame replaces the last (cursor home, clear); when
//! stdout is a pipe or a file, frames follow one another without escape
//! codes (with `--json`, one status document per line). Ctrl-C or SIGTERM
//! ends it cleanly between two frames (exit 0); a closed pipe ends it
//! quietly; `--count N` stops after N frames (exit 2 if the last one could
//! not read the daemon). Each frame is bounded: one request per document
//! with the API timeout, at most [`MAX_SOURCES_SHOWN`] sources and
//! [`CLIENTS_SHOWN`] clients.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::status::ApiClient;
use super::table::render;
use crate::api::model::{Clients, History, ServerStats, Sources, Status};
use crate::cli::StatusArgs;

/// Sources listed per frame (the rest are counted).
pub const MAX_SOURCES_SHOWN: usize = 16;
/// Busiest clients listed per frame.
pub const CLIENTS_SHOWN: usize = 5;
/// Characters of a sparkline.
const SPARK_WIDTH: usize = 60;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Everything one frame shows.
pub struct Glance {
    /// `/api/v1/status`.
    pub status: Status,
    /// `/api/v1/sources`.
    pub sources: Sources,
    /// `/api/v1/clients?limit=5`.
    pub clients: Clients,
    /// `/api/v1/serverstats`.
    pub server: ServerStats,
    /// `/api/v1/history?range=hour`.
    pub history: History,
}

fn read(api: &ApiClient) -> Result<(Glance, serde_json::Value), String> {
    let (status, raw) = api.get::<Status>("/api/v1/status")?;
    let glance = Glance {
        status,
        sources: api.get("/api/v1/sources")?.0,
        clients: api.get(&format!("/api/v1/clients?limit={CLIENTS_SHOWN}"))?.0,
        server: api.get("/api/v1/serverstats")?.0,
        history: api.get("/api/v1/history?range=hour")?.0,
    };
    Ok((glance, raw))
}

/// Runs the view until interrupted or `--count` frames.
pub fn run(args: &StatusArgs) -> ExitCode {
    let api = ApiClient::new(&args.api);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("simple-ntpd: cannot watch signal {sig}: {e}");
            return ExitCode::from(1);
        }
    }
    let interval =
        Duration::from_secs_f64(if args.interval.is_finite() { args.interval.clamp(0.2, 3600.0) } else { 2.0 });
    let tty = std::io::stdout().is_terminal();
    let color = tty && std::env::var_os("NO_COLOR").is_none();
    let mut out = std::io::stdout().lock();
    let mut frames = 0u64;
    let mut last_ok;
    loop {
        let started = Instant::now();
        let text = match read(&api) {
            Ok((glance, raw)) => {
                last_ok = true;
                if args.api.json {
                    format!("{}\n", serde_json::to_string(&raw).unwrap_or_default())
                } else {
                    frame(&glance, &api.base, interval, color)
                }
            }
            Err(e) if args.api.json => {
                last_ok = false;
                eprintln!("simple-ntpd: {e}");
                String::new()
            }
            Err(e) => {
                last_ok = false;
                format!("simple-ntpd status --watch: {e}\nretrying every {} s\n", interval.as_secs_f64())
            }
        };
        let written = if tty {
            write!(out, "\x1b[H\x1b[2J{text}")
        } else if args.api.json || frames == 0 {
            write!(out, "{text}")
        } else {
            write!(out, "\n{text}")
        };
        if written.and_then(|_| out.flush()).is_err() {
            return ExitCode::SUCCESS; // the reader went away (a closed pipe)
        }
        frames += 1;
        if args.count > 0 && frames >= args.count {
            break;
        }
        while started.elapsed() < interval && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50).min(interval.saturating_sub(started.elapsed())));
        }
        if stop.load(Ordering::Relaxed) {
            let _ = writeln!(out);
            return ExitCode::SUCCESS;
        }
    }
    if last_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn seconds(v: f64, signed: bool) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v == 0.0 {
        return "0 s".into();
    }
    let a = v.abs();
    let (m, unit) = if a >= 1.0 {
        (1.0, "s")
    } else if a >= 1e-3 {
        (1e3, "ms")
    } else if a >= 1e-6 {
        (1e6, "µs")
    } else {
        (1e9, "ns")
    };
    let x = a * m;
    let digits = if x >= 100.0 {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    };
    let sign = if v < 0.0 {
        "-"
    } else if signed {
        "+"
    } else {
        ""
    };
    format!("{sign}{x:.digits$} {unit}")
}

fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {}s", s % 60)
    } else {
        format!("{s}s")
    }
}

/// `values` as at most SPARK_WIDTH bars (one per sample, or the mean of
/// consecutive samples when there are more), with their range; None when
/// there is no value. Missing values are blanks.
fn sparkline(values: &[Option<f32>]) -> Option<(String, f64, f64)> {
    let n = values.len();
    let width = n.min(SPARK_WIDTH);
    let mut sums = vec![(0.0f64, 0u32); width];
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            let slot = &mut sums[i * width / n];
            slot.0 += f64::from(v);
            slot.1 += 1;
        }
    }
    let means: Vec<Option<f64>> = sums.iter().map(|(s, n)| (*n > 0).then(|| s / f64::from(*n))).collect();
    let lo = means.iter().flatten().fold(f64::INFINITY, |a, b| a.min(*b));
    let hi = means.iter().flatten().fold(f64::NEG_INFINITY, |a, b| a.max(*b));
    if lo > hi {
        return None;
    }
    let bars = means
        .iter()
        .map(|m| match m {
            None => ' ',
            Some(_) if hi - lo <= hi.abs() * 1e-9 => BARS[3],
            Some(v) => BARS[(((v - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect();
    Some((bars, lo, hi))
}

/// Renders one frame.
pub fn frame(g: &Glance, base: &str, interval: Duration, color: bool) -> String {
    let s = &g.status;
    let paint = |code: &str, text: &str| if color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() };
    let mut out = String::new();
    out.push_str(&format!(
        "simple-ntpd {} at {} · every {} s · Ctrl-C quits\n\n",
        s.version,
        base.trim_start_matches("http://"),
        interval.as_secs_f64()
    ));
    let usable = format!("{} of {} sources usable", s.sources_selectable, s.sources_total);
    let (mark, headline) = match s.mode.as_str() {
        "synchronised" => (
            paint("32", "●"),
            format!("Synchronised to {} at stratum {} ({usable}, {} clock)", s.reference_id, s.stratum, s.discipline),
        ),
        "local_reference" => {
            (paint("34", "●"), format!("Serving the local clock as a local reference at stratum {}", s.stratum))
        }
        "local_fallback" => {
            (paint("33", "●"), format!("Local fallback at stratum {}: no source is usable ({usable})", s.stratum))
        }
        _ => (paint("31", "●"), format!("Not synchronised: no source selected ({usable}); replies carry leap 3")),
    };
    out.push_str(&format!("{mark} {headline}\n"));
    let health = format!("{:?}", s.health.state).to_lowercase();
    let health = match s.health.state {
        crate::api::model::HealthState::Ok => paint("32", &health),
        crate::api::model::HealthState::Warning => paint("33", &health),
        crate::api::model::HealthState::Critical => paint("31", &health),
    };
    out.push_str(&format!("  health {health}\n"));
    for r in &s.health.reasons {
        out.push_str(&format!("    - {r}\n"));
    }
    let leap = ["none", "+1 s tonight", "-1 s tonight", "unknown"].get(usize::from(s.leap)).copied().unwrap_or("?");
    out.push_str(&format!(
        "  offset {}   jitter {}   frequency {:+.3} ppm   leap {leap}\n",
        seconds(s.offset_seconds, true),
        seconds(s.jitter_seconds, false),
        s.frequency_ppm
    ));
    let reload = match &s.last_reload_error {
        Some(e) => paint("31", &format!("refused: {e}")),
        None if s.reloads > 0 => format!("ok ({} in all)", s.reloads),
        None => "none yet".to_owned(),
    };
    out.push_str(&format!("  uptime {}   last reload {reload}\n\n", duration(s.uptime_seconds)));

    let h = &g.history;
    let covered = match (h.time.first(), h.time.last()) {
        (Some(a), Some(b)) => duration(b - a),
        _ => "0s".into(),
    };
    out.push_str(&format!("Last {covered} ({} s samples; low … high)\n", h.interval_seconds));
    let mut spark = |label: &str, values: &[Option<f32>], fmt: &dyn Fn(f64) -> String| {
        let line = match sparkline(values) {
            Some((bars, lo, hi)) => format!("  {label:<11}{bars}  {} … {}\n", fmt(lo), fmt(hi)),
            None => format!("  {label:<11}(no data yet)\n"),
        };
        out.push_str(&line);
    };
    spark("offset", &h.offset_seconds, &|v| seconds(v, true));
    spark("jitter", &h.jitter_seconds, &|v| seconds(v, false));
    spark("frequency", &h.frequency_ppm, &|v| format!("{v:+.3} ppm"));
    spark("requests/s", &h.requests_per_second, &|v| format!("{v:.1}/s"));
    let mut dropped_total: Vec<Option<f32>> = vec![None; h.time.len()];
    for series in h.dropped_per_second.values() {
        for (sum, v) in dropped_total.iter_mut().zip(series) {
            if let Some(v) = v {
                *sum = Some(sum.unwrap_or(0.0) + v);
            }
        }
    }
    if !h.dropped_per_second.is_empty() {
        spark("drops/s", &dropped_total, &|v| format!("{v:.1}/s"));
    }
    let reasons: Vec<String> =
        g.server.dropped.iter().filter(|(_, n)| **n > 0).map(|(r, n)| format!("{r} {n}")).collect();
    out.push_str(&format!(
        "  {} received, {} replied, {} dropped{}\n\n",
        g.server.received,
        g.server.replied,
        g.server.dropped_total,
        if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) }
    ));

    if g.sources.sources.is_empty() {
        out.push_str("No upstream source is configured (serving a local reference).\n");
    } else {
        let rows: Vec<Vec<String>> = g
            .sources
            .sources
            .iter()
            .take(MAX_SOURCES_SHOWN)
            .map(|x| {
                vec![
                    format!("{:?}", x.state).to_lowercase(),
                    x.address.clone().unwrap_or_else(|| x.name.clone()),
                    x.stratum.to_string(),
                    format!("{:08b}", x.reachability),
                    duration(x.poll_seconds),
                    seconds(x.offset_seconds, true),
                    seconds(x.delay_seconds, false),
                    seconds(x.jitter_seconds, false),
                ]
            })
            .collect();
        out.push_str(&render(
            &["Source state", "Address", "Stratum", "Reach", "Poll", "Offset", "Delay", "Jitter"],
            &rows,
        ));
        if g.sources.sources.len() > MAX_SOURCES_SHOWN {
            out.push_str(&format!("… and {} more sources\n", g.sources.sources.len() - MAX_SOURCES_SHOWN));
        }
    }
    out.push('\n');
    if g.clients.clients.is_empty() {
        out.push_str("No client has asked for the time yet.\n");
    } else {
        let rows: Vec<Vec<String>> = g
            .clients
            .clients
            .iter()
            .take(CLIENTS_SHOWN)
            .map(|c| {
                vec![
                    c.address.clone(),
                    c.requests.to_string(),
                    c.dropped.to_string(),
                    format!("{} ago", duration(c.last_seen_seconds_ago)),
                ]
            })
            .collect();
        out.push_str(&render(&["Busiest client", "Requests", "Dropped", "Last seen"], &rows));
        out.push_str(&format!("{} distinct clients tracked\n", g.clients.tracked));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_low_and_high() {
        let values: Vec<Option<f32>> = (0..2 * SPARK_WIDTH).map(|i| Some(i as f32)).collect();
        let (bars, lo, hi) = sparkline(&values).unwrap();
        assert_eq!(bars.chars().count(), SPARK_WIDTH, "two samples per bar");
        assert_eq!((lo, hi), (0.5, (2 * SPARK_WIDTH) as f64 - 1.5));
        assert!(bars.starts_with('▁') && bars.ends_with('█'), "{bars}");
        // Few samples: one bar each; gaps stay blank; a constant series is flat.
        let (bars, _, _) = sparkline(&[Some(1.0), None, Some(1.0)]).unwrap();
        assert_eq!(bars, "▄ ▄");
        assert!(sparkline(&[None]).is_none());
        assert!(sparkline(&[]).is_none());
    }

    #[test]
    fn units_follow_the_magnitude() {
        assert_eq!(seconds(1.5e-6, true), "+1.50 µs");
        assert_eq!(seconds(-0.0123, true), "-12.3 ms");
        assert_eq!(seconds(4e-9, false), "4.00 ns");
        assert_eq!(duration(3725.0), "1h 2m");
    }
}
