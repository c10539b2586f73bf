//! The lines of chrony's statistics logs, column for column as chronyd
//! 4.x writes them (`ntp_core.c`, `sourcestats.c`, `reference.c`), so tools
//! that parse chrony's `measurements.log`, `statistics.log` and
//! `tracking.log` read ours. Each record holds the values in chrony's units
//! and sign conventions; the callers convert from the engine's (see
//! docs/operations.md for how each column is filled).

use std::fmt::Write;

/// The header chrony prints (between lines of `=`) before the first line and
/// every 32 lines after.
pub const MEASUREMENTS_BANNER: &str = "   Date (UTC) Time     IP Address   L St 123 567 ABCD  LP RP Score    Offset  Peer del. Peer disp.  Root del. Root disp. Refid     MTxRx";
/// See [`MEASUREMENTS_BANNER`].
pub const STATISTICS_BANNER: &str =
    "   Date (UTC) Time     IP Address    Std dev'n Est offset  Offset sd  Diff freq   Est skew  Stress  Ns  Bs  Nr  Asym";
/// See [`MEASUREMENTS_BANNER`].
pub const TRACKING_BANNER: &str = "   Date (UTC) Time     IP Address   St   Freq ppm   Skew ppm     Offset L Co  Offset sd Rem. corr. Root delay Root disp. Max. error";

/// C's `%W.Pe`: at least two exponent digits, right-aligned in `width`.
pub fn c_exp(v: f64, width: usize, precision: usize) -> String {
    let text = if v.is_finite() {
        let s = format!("{v:.precision$e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                let e: i32 = exp.parse().unwrap_or(0);
                format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.unsigned_abs())
            }
            None => s,
        }
    } else if v.is_nan() {
        "nan".to_owned()
    } else if v > 0.0 {
        "inf".to_owned()
    } else {
        "-inf".to_owned()
    };
    format!("{text:>width$}")
}

/// chrony's leap status characters: N, +, -, ?.
pub fn leap_char(leap: ntp_proto::LeapIndicator) -> char {
    ['N', '+', '-', '?'][usize::from(leap.to_bits() & 3)]
}

/// One `measurements.log` line: a sample from an NTP source.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// `YYYY-MM-DD HH:MM:SS` (UTC) of the sample.
    pub time: String,
    /// The source's address.
    pub address: String,
    /// The server's leap indicator.
    pub leap: char,
    /// The server's stratum.
    pub stratum: u8,
    /// RFC 5905 tests 1, 2, 3, 5, 6, 7 and chrony's A, B, C, D (true = passed).
    pub tests: [bool; 10],
    /// Our poll exponent.
    pub local_poll: i8,
    /// The server's poll exponent.
    pub remote_poll: i8,
    /// chrony's poll score.
    pub score: f64,
    /// Offset, s (positive: the local clock is slow of the source).
    pub offset: f64,
    /// Round-trip delay, s.
    pub peer_delay: f64,
    /// Sample dispersion, s.
    pub peer_dispersion: f64,
    /// The server's root delay, s.
    pub root_delay: f64,
    /// The server's root dispersion, s.
    pub root_dispersion: f64,
    /// The server's reference id.
    pub refid: u32,
    /// The mode of the reply (4 = server).
    pub mode: u8,
    /// Interleaved (`I`) or basic (`B`).
    pub interleaved: bool,
    /// Where our transmit timestamp came from: D (daemon), K (kernel), H (hardware).
    pub tx_source: char,
    /// Where our receive timestamp came from.
    pub rx_source: char,
}

impl Measurement {
    /// The line, without newline.
    pub fn line(&self) -> String {
        let t = |i: usize| u8::from(self.tests[i]);
        let mut s = format!("{} {:<15} {} {:2} ", self.time, self.address, self.leap, self.stratum);
        let _ = write!(
            s,
            "{}{}{} {}{}{} {}{}{}{}  {:2} {:2} {:4.2} ",
            t(0),
            t(1),
            t(2),
            t(3),
            t(4),
            t(5),
            t(6),
            t(7),
            t(8),
            t(9),
            self.local_poll,
            self.remote_poll,
            self.score
        );
        let _ = write!(
            s,
            "{} {} {} {} {} {:08X} {}{} {} {}",
            c_exp(self.offset, 10, 3),
            c_exp(self.peer_delay, 10, 3),
            c_exp(self.peer_dispersion, 10, 3),
            c_exp(self.root_delay, 10, 3),
            c_exp(self.root_dispersion, 10, 3),
            self.refid,
            self.mode,
            if self.interleaved { 'I' } else { 'B' },
            self.tx_source,
            self.rx_source
        );
        s
    }
}

/// One `statistics.log` line: a source's estimate after a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Statistics {
    /// `YYYY-MM-DD HH:MM:SS` (UTC) of the estimate.
    pub time: String,
    /// The source's address (or reference id).
    pub address: String,
    /// Standard deviation of the measurements, s.
    pub std_dev: f64,
    /// Estimated offset, s (positive: the local clock is fast).
    pub est_offset: f64,
    /// Its standard deviation, s.
    pub offset_sd: f64,
    /// Rate at which the local clock gains on the source beyond the
    /// correction in force, s/s.
    pub diff_freq: f64,
    /// The error of that rate, s/s.
    pub skew: f64,
    /// chrony's regression stress.
    pub stress: f64,
    /// Samples in use.
    pub samples: u64,
    /// chrony's regression start index.
    pub best_start: u32,
    /// chrony's number of residual runs.
    pub runs: u32,
    /// Network asymmetry assumed.
    pub asymmetry: f64,
}

impl Statistics {
    /// The line, without newline.
    pub fn line(&self) -> String {
        format!(
            "{} {:<15} {} {} {} {} {} {} {:3} {:3} {:3} {:5.2}",
            self.time,
            self.address,
            c_exp(self.std_dev, 10, 3),
            c_exp(self.est_offset, 10, 3),
            c_exp(self.offset_sd, 10, 3),
            c_exp(self.diff_freq, 10, 3),
            c_exp(self.skew, 10, 3),
            c_exp(self.stress, 7, 1),
            self.samples,
            self.best_start,
            self.runs,
            self.asymmetry
        )
    }
}

/// One `tracking.log` line: a clock update.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracking {
    /// `YYYY-MM-DD HH:MM:SS` (UTC) of the update.
    pub time: String,
    /// The selected source's address (or reference id).
    pub address: String,
    /// Our stratum.
    pub stratum: u8,
    /// The clock's frequency error, ppm (positive: it runs fast).
    pub freq_ppm: f64,
    /// Error bound of the frequency, ppm.
    pub skew_ppm: f64,
    /// Offset at the update, s (positive: the clock is fast).
    pub offset: f64,
    /// Leap status.
    pub leap: char,
    /// Sources combined.
    pub combined: usize,
    /// Standard deviation of the combined offset, s.
    pub offset_sd: f64,
    /// Correction still to be made from the previous update, s (positive:
    /// the clock is slow).
    pub remaining: f64,
    /// Root delay, s.
    pub root_delay: f64,
    /// Root dispersion, s.
    pub root_dispersion: f64,
    /// Maximum error estimate, s.
    pub max_error: f64,
}

impl Tracking {
    /// The line, without newline.
    pub fn line(&self) -> String {
        format!(
            "{} {:<15} {:2} {:10.3} {:10.3} {} {} {:2} {} {} {} {} {}",
            self.time,
            self.address,
            self.stratum,
            self.freq_ppm,
            self.skew_ppm,
            c_exp(self.offset, 10, 3),
            self.leap,
            self.combined,
            c_exp(self.offset_sd, 10, 3),
            c_exp(self.remaining, 10, 3),
            c_exp(self.root_delay, 10, 3),
            c_exp(self.root_dispersion, 10, 3),
            c_exp(self.max_error, 10, 3)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_print_like_c() {
        assert_eq!(c_exp(-4.966e-3, 10, 3), "-4.966e-03");
        assert_eq!(c_exp(2.296e-1, 10, 3), " 2.296e-01");
        assert_eq!(c_exp(0.0, 10, 3), " 0.000e+00");
        assert_eq!(c_exp(7.8e-2, 7, 1), "7.8e-02");
        assert_eq!(c_exp(1.5e120, 10, 3), "1.500e+120");
    }

    /// The example lines of chrony.conf(5), rebuilt from their values.
    #[test]
    fn chronys_documented_examples() {
        let m = Measurement {
            time: "2016-11-09 05:40:50".into(),
            address: "203.0.113.15".into(),
            leap: 'N',
            stratum: 2,
            tests: [true; 10],
            local_poll: 10,
            remote_poll: 10,
            score: 1.0,
            offset: -4.966e-3,
            peer_delay: 2.296e-1,
            peer_dispersion: 1.577e-5,
            root_delay: 1.615e-1,
            root_dispersion: 7.446e-3,
            refid: 0xCB00717B,
            mode: 4,
            interleaved: false,
            tx_source: 'D',
            rx_source: 'K',
        };
        assert_eq!(
            m.line(),
            "2016-11-09 05:40:50 203.0.113.15    N  2 111 111 1111  10 10 1.00 -4.966e-03  2.296e-01  1.577e-05  1.615e-01  7.446e-03 CB00717B 4B D K"
        );
        let s = Statistics {
            time: "2016-08-10 05:40:50".into(),
            address: "203.0.113.15".into(),
            std_dev: 6.261e-3,
            est_offset: -3.247e-3,
            offset_sd: 2.220e-3,
            diff_freq: 1.874e-6,
            skew: 1.080e-6,
            stress: 7.8e-2,
            samples: 16,
            best_start: 0,
            runs: 8,
            asymmetry: 0.0,
        };
        assert_eq!(
            s.line(),
            "2016-08-10 05:40:50 203.0.113.15     6.261e-03 -3.247e-03  2.220e-03  1.874e-06  1.080e-06 7.8e-02  16   0   8  0.00"
        );
        let t = Tracking {
            time: "2017-08-22 13:22:36".into(),
            address: "203.0.113.15".into(),
            stratum: 2,
            freq_ppm: -3.541,
            skew_ppm: 0.075,
            offset: -8.621e-6,
            leap: 'N',
            combined: 2,
            offset_sd: 2.940e-3,
            remaining: -2.084e-4,
            root_delay: 1.534e-2,
            root_dispersion: 3.472e-4,
            max_error: 8.304e-3,
        };
        assert_eq!(
            t.line(),
            "2017-08-22 13:22:36 203.0.113.15     2     -3.541      0.075 -8.621e-06 N  2  2.940e-03 -2.084e-04  1.534e-02  3.472e-04  8.304e-03"
        );
    }
}
