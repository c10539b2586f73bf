//! The statistics logs of `[logging] statistics` in chrony's formats
//! ([`format`]): `measurements.log`, `statistics.log` and `tracking.log` in
//! `statistics_dir`, each with chrony's banner before the first line and
//! every 32 lines after (chrony's `logbanner` default), reopened on SIGUSR1.
//!
//! The sync loop calls three hooks and knows nothing else of the logs:
//! [`StatisticsLogs::reply`] for each datagram from a source (its header
//! carries the server's poll and mode), [`StatisticsLogs::sample`] after the
//! engine took a sample, [`StatisticsLogs::published`] after each round of
//! the loop (a clock update since the last round makes a tracking line).
//! Each hook returns at once when its log is off.

pub mod format;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::Context;
use ntp_config::{LoggingConfig, StatisticsLog};
use ntp_proto::packet::Header;
use ntp_proto::source::Sample;
use ntp_proto::NtpTimestamp;
use ntp_sync::{ClockAction, Engine, SelectionState, SourceId, Update};

use crate::civil_time::log_form;
use crate::clock::SystemClock;
use crate::logfile::LogFile;
use format::{leap_char, Measurement, Statistics, Tracking};

/// chrony's `logbanner` default: the header is repeated every this many lines.
const BANNER_EVERY: u64 = 32;

/// One log file and its banner.
#[derive(Debug)]
struct ChronyLog {
    file: LogFile,
    banner: &'static str,
    writes: AtomicU64,
}

impl ChronyLog {
    fn open(dir: &Path, which: StatisticsLog) -> anyhow::Result<ChronyLog> {
        let path = dir.join(which.file_name());
        let file = LogFile::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let banner = match which {
            StatisticsLog::Measurements => format::MEASUREMENTS_BANNER,
            StatisticsLog::Statistics => format::STATISTICS_BANNER,
            StatisticsLog::Tracking => format::TRACKING_BANNER,
        };
        Ok(ChronyLog { file, banner, writes: AtomicU64::new(0) })
    }

    fn write(&self, line: String) {
        let mut lines = Vec::with_capacity(4);
        if self.writes.fetch_add(1, Ordering::Relaxed).is_multiple_of(BANNER_EVERY) {
            let rule = "=".repeat(self.banner.len());
            lines.extend([rule.clone(), self.banner.to_owned(), rule]);
        }
        lines.push(line);
        if let Err(e) = self.file.write_lines(&lines) {
            tracing::warn!(file = %self.file.path().display(), error = %e, "cannot write a statistics log");
        }
    }

    fn reopen(&self) -> std::io::Result<()> {
        self.file.reopen()?;
        // A new file starts with the banner, as chrony's does after cyclelogs.
        self.writes.store(0, Ordering::Relaxed);
        Ok(())
    }
}

/// What the tracking log remembers between clock updates.
#[derive(Debug, Default)]
struct TrackingState {
    /// The engine's update count at the last line.
    updates: u64,
    /// The slew started at the last update: (when, offset, duration).
    slew: Option<(NtpTimestamp, f64, f64)>,
    /// |offset| + remaining correction at the last update (chrony's
    /// `last_sys_offset`, part of the maximum error).
    last_offset: f64,
}

/// The statistics logs; every hook is a no-op for a log that is off.
#[derive(Debug, Default)]
pub struct StatisticsLogs {
    measurements: Option<ChronyLog>,
    statistics: Option<ChronyLog>,
    tracking: Option<ChronyLog>,
    /// The server's (poll, mode) from the last datagram of each source.
    replies: Mutex<HashMap<SocketAddr, (i8, u8)>>,
    tracking_state: Mutex<TrackingState>,
}

/// Unix seconds of a time of the steered clock.
fn unix_secs(t: NtpTimestamp) -> i64 {
    t.to_unix_near(SystemClock::unix_now().0).0
}

/// How chrony names a source in its logs: the address, else the reference id.
fn refid_text(refid: ntp_proto::ReferenceId) -> String {
    refid.as_ascii().map(str::to_owned).unwrap_or_else(|| format!("{:08X}", u32::from_be_bytes(refid.0)))
}

impl StatisticsLogs {
    /// Opens the logs `config` lists (creating `statistics_dir`).
    pub fn open(config: &LoggingConfig) -> anyhow::Result<StatisticsLogs> {
        let mut logs = StatisticsLogs::default();
        if config.statistics.is_empty() {
            return Ok(logs);
        }
        let dir = &config.statistics_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for which in &config.statistics {
            let log = Some(ChronyLog::open(dir, *which)?);
            match which {
                StatisticsLog::Measurements => logs.measurements = log,
                StatisticsLog::Statistics => logs.statistics = log,
                StatisticsLog::Tracking => logs.tracking = log,
            }
        }
        Ok(logs)
    }

    /// The open files (for ownership hand-over and tests).
    pub fn files(&self) -> Vec<&LogFile> {
        [&self.measurements, &self.statistics, &self.tracking].into_iter().flatten().map(|l| &l.file).collect()
    }

    /// Reopens every file at its path (log rotation); the first error is returned
    /// after trying them all.
    pub fn reopen(&self) -> std::io::Result<()> {
        let mut result = Ok(());
        for log in [&self.measurements, &self.statistics, &self.tracking].into_iter().flatten() {
            if let Err(e) = log.reopen() {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Hook: a datagram from source `from` (before the association sees it).
    pub fn reply(&self, from: SocketAddr, datagram: &[u8]) {
        if self.measurements.is_none() {
            return;
        }
        if let Ok(h) = Header::decode(datagram) {
            let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
            replies.insert(from, (h.poll, h.mode.to_bits()));
        }
    }

    /// Hook: the engine took (`update.accepted`) or skipped `sample` from the
    /// source at `from` with engine id `id`.
    pub fn sample(&self, from: SocketAddr, id: SourceId, sample: &Sample, update: &Update, engine: &Engine) {
        if let Some(log) = &self.measurements {
            let (remote_poll, mode) =
                self.replies.lock().unwrap_or_else(|e| e.into_inner()).get(&from).copied().unwrap_or((sample.poll, 4));
            log.write(
                Measurement {
                    time: log_form(unix_secs(sample.time)),
                    address: from.ip().to_string(),
                    leap: leap_char(sample.leap),
                    stratum: sample.stratum,
                    // The association hands over only replies that passed RFC
                    // 5905 tests 1–3 and 5–7; there are no maxdelay tests (A, B)
                    // and the loop check (D) is done when the source is used;
                    // the engine's spike filter is chrony's test C.
                    tests: [true, true, true, true, true, true, true, true, update.accepted, true],
                    local_poll: sample.poll,
                    remote_poll,
                    score: 0.0,
                    offset: sample.offset,
                    peer_delay: sample.delay,
                    peer_dispersion: sample.dispersion,
                    root_delay: sample.root_delay,
                    root_dispersion: sample.root_dispersion,
                    refid: u32::from_be_bytes(sample.reference_id.0),
                    mode,
                    interleaved: sample.interleaved,
                    // Upstream sockets read kernel receive timestamps
                    // (SO_TIMESTAMPNS); the transmit time is read by the daemon.
                    tx_source: 'D',
                    rx_source: 'K',
                }
                .line(),
            );
        }
        if let (Some(log), true) = (&self.statistics, update.accepted) {
            let Some(r) = engine.sources(sample.time).into_iter().find(|r| r.id == id) else { return };
            log.write(
                Statistics {
                    time: log_form(unix_secs(sample.time)),
                    address: from.ip().to_string(),
                    std_dev: r.jitter,
                    // chrony: positive when the local clock is fast.
                    est_offset: -r.offset,
                    offset_sd: r.offset_sd,
                    diff_freq: r.frequency_ppm * 1e-6,
                    skew: r.frequency_sd_ppm * 1e-6,
                    // A Kalman filter has no regression window: no stress,
                    // no pruning start, no residual runs, no asymmetry.
                    stress: 0.0,
                    samples: r.samples,
                    best_start: 0,
                    runs: 0,
                    asymmetry: 0.0,
                }
                .line(),
            );
        }
    }

    /// Hook: the loop published its state at steered-clock time `now`;
    /// `address_of` names a source by engine id (None for a reference clock,
    /// which is named by its reference id as chrony does).
    pub fn published(&self, engine: &Engine, now: NtpTimestamp, address_of: impl Fn(SourceId) -> Option<IpAddr>) {
        let Some(log) = &self.tracking else { return };
        let st = engine.system_state();
        let mut state = self.tracking_state.lock().unwrap_or_else(|e| e.into_inner());
        if st.updates == state.updates {
            return;
        }
        if st.updates < state.updates {
            // A new engine (reload): start counting again.
            *state = TrackingState::default();
            if st.updates == 0 {
                return;
            }
        }
        state.updates = st.updates;
        let remaining = match state.slew {
            Some((start, offset, duration)) if duration > 0.0 => {
                let done = (now.since(start).to_seconds() / duration).clamp(0.0, 1.0);
                offset * (1.0 - done)
            }
            _ => 0.0,
        };
        state.slew = match &st.last_action {
            Some(ClockAction::Slewed { offset, duration }) => Some((now, *offset, *duration)),
            _ => None,
        };
        let combined = engine
            .sources(now)
            .iter()
            .filter(|r| matches!(r.state, SelectionState::Selected | SelectionState::Combined))
            .count();
        let address =
            st.system_peer.and_then(address_of).map(|ip| ip.to_string()).unwrap_or_else(|| refid_text(st.reference_id));
        let root_distance = st.root_delay / 2.0 + st.root_dispersion;
        let max_error = root_distance + state.last_offset;
        state.last_offset = st.offset.abs() + remaining.abs();
        log.write(
            Tracking {
                time: log_form(unix_secs(now)),
                address,
                stratum: st.stratum,
                // The engine's frequency is the correction it applies; chrony
                // logs the clock's own error, the opposite.
                freq_ppm: -st.frequency_ppm,
                skew_ppm: st.frequency_sd_ppm,
                offset: -st.offset,
                leap: leap_char(st.leap),
                combined,
                offset_sd: st.offset_sd,
                remaining,
                root_delay: st.root_delay,
                root_dispersion: st.root_dispersion,
                max_error,
            }
            .line(),
        );
    }
}
