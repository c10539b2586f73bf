//! The result of a run as a report: derived rates and percentiles in
//! microseconds, printed as text or as one JSON object.

use std::fmt;

use serde::Serialize;

use crate::engine::RunConfig;
use crate::histogram::Histogram;
use crate::pacing::Load;
use crate::RunResult;

/// RTT percentiles in microseconds (`null` in JSON when nothing was matched).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RttUs {
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

/// A signed distribution summary in microseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SpreadUs {
    /// Smallest.
    pub min: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

/// Everything a run reports.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Target server.
    pub server: String,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Closed loop: requests in flight.
    pub in_flight: Option<u64>,
    /// Open loop: target requests per second.
    pub target_rate: Option<f64>,
    /// Source sockets / addresses.
    pub sources: usize,
    /// Measured window, seconds.
    pub duration_s: f64,
    /// Unmeasured warm-up, seconds.
    pub warmup_s: f64,
    /// Reply timeout, milliseconds.
    pub timeout_ms: f64,
    /// CPU the generator was pinned to.
    pub pinned_cpu: Option<usize>,
    /// Requests sent in the window.
    pub sent: u64,
    /// Of those, answered within the timeout.
    pub matched: u64,
    /// matched / sent × 100.
    pub answered_pct: f64,
    /// sent − matched.
    pub lost: u64,
    /// Replies after the timeout.
    pub late: u64,
    /// Repeated replies.
    pub duplicate: u64,
    /// Replies to requests this run never sent.
    pub unmatched: u64,
    /// Datagrams that are not server replies.
    pub malformed: u64,
    /// Matched replies with leap 3 or stratum 0.
    pub unsynchronised: u64,
    /// Matched replies with a zero T2 or T3 (not timed).
    pub zero_timestamps: u64,
    /// Datagrams without a kernel RX timestamp.
    pub no_kernel_timestamp: u64,
    /// Failed sends (not counting full buffers).
    pub send_errors: u64,
    /// Failed receives.
    pub recv_errors: u64,
    /// `sendmmsg` calls that sent fewer than asked (full buffer, or an error such
    /// as ICMP port unreachable reported part-way).
    pub send_blocked: u64,
    /// Open loop: scheduled requests dropped because the generator lagged > 1 ms.
    pub schedule_skipped: u64,
    /// Requests sent per second of window.
    pub send_rate: f64,
    /// Replies received (kernel RX time in the window) per second of window.
    pub reply_rate: f64,
    /// Client kernel RX time − client send time.
    pub rtt_us: RttUs,
    /// Client kernel RX time − server transmit timestamp T3.
    pub tx_error_us: SpreadUs,
    /// |Client kernel RX time − server transmit timestamp T3|.
    pub tx_abs_error_us: SpreadUs,
    /// Server receive timestamp T2 − client send time.
    pub rx_sanity_us: SpreadUs,
    /// NTS mode only (absent in plain mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nts: Option<NtsReport>,
}

/// NTS mode figures.
#[derive(Clone, Debug, Serialize)]
pub struct NtsReport {
    /// Negotiated AEAD algorithm.
    pub aead: String,
    /// Sessions (key exchanges at start).
    pub sessions: usize,
    /// Key exchanges per second of the initial sequential burst.
    pub ke_per_s: f64,
    /// Replies whose authenticator or unique id did not verify (counted as lost).
    pub nts_auth_failures: u64,
    /// NTS NAKs received (counted as lost).
    pub nts_naks: u64,
    /// Send attempts skipped because no cookie was at hand.
    pub nts_no_cookie: u64,
    /// Fresh cookies received in authenticated replies.
    pub cookies_received: u64,
}

fn us(v: Option<i64>) -> Option<f64> {
    v.map(|ns| (ns as f64 / 10.0).round() / 100.0)
}

fn spread(h: &Histogram) -> SpreadUs {
    SpreadUs { min: us(h.min()), p50: us(h.quantile(0.5)), p99: us(h.quantile(0.99)), max: us(h.max()) }
}

impl Report {
    /// Builds the report of `result`, run with `cfg`.
    pub fn new(cfg: &RunConfig, result: &RunResult, pinned_cpu: Option<usize>) -> Report {
        let c = result.stats.counters;
        let secs = result.window.as_secs_f64();
        let per_s = |n: u64| if secs > 0.0 { (n as f64 / secs).round() } else { 0.0 };
        let rtt = &result.stats.rtt;
        let (mode, in_flight, target_rate) = match cfg.load {
            Load::Closed { in_flight } => ("closed", Some(in_flight), None),
            Load::Open { rate } => ("open", None, Some(rate)),
        };
        Report {
            server: cfg.server.to_string(),
            mode,
            in_flight,
            target_rate,
            sources: cfg.sources,
            duration_s: (secs * 1e6).round() / 1e6,
            warmup_s: cfg.warmup.as_secs_f64(),
            timeout_ms: cfg.timeout.as_secs_f64() * 1e3,
            pinned_cpu,
            sent: c.sent,
            matched: c.matched,
            answered_pct: if c.sent > 0 { (c.matched as f64 * 1e5 / c.sent as f64).round() / 1e3 } else { 0.0 },
            lost: c.sent.saturating_sub(c.matched),
            late: c.late,
            duplicate: c.duplicate,
            unmatched: c.unmatched,
            malformed: c.malformed,
            unsynchronised: c.unsynchronised,
            zero_timestamps: c.zero_timestamps,
            no_kernel_timestamp: c.no_kernel_timestamp,
            send_errors: c.send_errors,
            recv_errors: c.recv_errors,
            send_blocked: c.send_blocked,
            schedule_skipped: c.schedule_skipped,
            send_rate: per_s(c.sent),
            reply_rate: per_s(c.replies_in_window),
            rtt_us: RttUs {
                p50: us(rtt.quantile(0.5)),
                p90: us(rtt.quantile(0.9)),
                p99: us(rtt.quantile(0.99)),
                p999: us(rtt.quantile(0.999)),
                max: us(rtt.max()),
            },
            tx_error_us: spread(&result.stats.tx_error),
            tx_abs_error_us: spread(&result.stats.tx_abs_error),
            rx_sanity_us: spread(&result.stats.rx_sanity),
            nts: result.nts.as_ref().map(|n| {
                let c = result.stats.nts;
                NtsReport {
                    aead: n.aead.clone(),
                    sessions: n.sessions,
                    ke_per_s: n.ke_per_s,
                    nts_auth_failures: c.auth_failures,
                    nts_naks: c.naks,
                    nts_no_cookie: c.no_cookie,
                    cookies_received: c.cookies_received,
                }
            }),
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let load = match (self.in_flight, self.target_rate) {
            (Some(n), _) => format!("closed loop, {n} in flight"),
            (_, Some(r)) => format!("open loop, {r:.0} requests/s"),
            _ => String::new(),
        };
        writeln!(
            f,
            "ntp-bench → {}: {load}, {} source(s), {:.3} s measured",
            self.server, self.sources, self.duration_s
        )?;
        writeln!(f, "  sent        {:>12}   ({:.0}/s)", self.sent, self.send_rate)?;
        writeln!(f, "  answered    {:>12}   ({:.3} %)", self.matched, self.answered_pct)?;
        writeln!(f, "  replies/s   {:>12.0}", self.reply_rate)?;
        writeln!(
            f,
            "  unanswered  lost {} · late {} · duplicate {} · unmatched {} · malformed {}",
            self.lost, self.late, self.duplicate, self.unmatched, self.malformed
        )?;
        writeln!(
            f,
            "  anomalies   unsynchronised {} · zero timestamps {} · no kernel RX time {} · send errors {} · recv errors {} · send blocked {} · schedule skipped {}",
            self.unsynchronised,
            self.zero_timestamps,
            self.no_kernel_timestamp,
            self.send_errors,
            self.recv_errors,
            self.send_blocked,
            self.schedule_skipped
        )?;
        let r = &self.rtt_us;
        writeln!(
            f,
            "  RTT µs      p50 {} · p90 {} · p99 {} · p99.9 {} · max {}",
            opt(r.p50),
            opt(r.p90),
            opt(r.p99),
            opt(r.p999),
            opt(r.max)
        )?;
        for (name, s) in [
            ("T3 error µs ", &self.tx_error_us),
            ("|T3 error| µs", &self.tx_abs_error_us),
            ("T2 − send µs", &self.rx_sanity_us),
        ] {
            writeln!(f, "  {name} min {} · p50 {} · p99 {} · max {}", opt(s.min), opt(s.p50), opt(s.p99), opt(s.max))?;
        }
        if let Some(n) = &self.nts {
            writeln!(
                f,
                "  NTS         {} · {} session(s) · key exchanges/s {:.1} · auth failures {} · NAKs {} · no cookie {} · cookies received {}",
                n.aead, n.sessions, n.ke_per_s, n.nts_auth_failures, n.nts_naks, n.nts_no_cookie, n.cookies_received
            )?;
        }
        Ok(())
    }
}
