//! From NMEA sentences to time samples: one sample per UTC second the
//! receiver reports, pairing the second it names with the local time the
//! first time-bearing sentence of that second started to arrive.
//!
//! A receiver sends a burst of sentences shortly after each second
//! (typically RMC, GGA, GSA, GSV…, sometimes ZDA); each time-bearing one
//! names the second of the fix. The sample for that second is taken once
//! the burst says the fix is valid (RMC status `A`, GGA quality > 0); a
//! receiver that only ever sends ZDA (no validity flag) is trusted on its
//! ZDA. The date comes from RMC or ZDA; a GGA-only receiver's seconds are
//! placed on the day nearest the local clock. The serial latency (the
//! sentence starts tens to hundreds of milliseconds after the second) is a
//! constant the configuration's `offset` removes.

use super::nmea::{Date, Sentence, TimeOfDay};
use crate::timestamp::NtpTimestamp;

const DAY: i64 = 86_400;

/// What one sentence changed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NmeaEvent {
    /// A new second: `reference` is the UTC time the receiver names,
    /// `received` the local time its first sentence arrived.
    Sample {
        /// The receiver's time (UTC, as an NTP timestamp).
        reference: NtpTimestamp,
        /// Local receive time of the first sentence of this second.
        received: NtpTimestamp,
    },
    /// The receiver says it has no fix this second.
    NoFix,
    /// Nothing new (a later sentence of a second already handled, or one
    /// without time).
    Nothing,
}

/// The second being received.
#[derive(Clone, Copy, Debug)]
struct Burst {
    /// Unix seconds of the second it names (date resolved).
    unix: i64,
    /// Fraction of that second the sentence names (usually 0).
    nanos: u32,
    /// Local time its first sentence arrived.
    received: NtpTimestamp,
    /// A sample was emitted, or a no-fix reported.
    done: bool,
}

/// Tracks one receiver's sentences.
#[derive(Clone, Debug, Default)]
pub struct NmeaTime {
    /// The last full date-and-time seen (Unix seconds) and when (local).
    last_dated: Option<(i64, NtpTimestamp)>,
    /// The receiver sends RMC or GGA (so ZDA alone is not trusted).
    has_fix_sentences: bool,
    burst: Option<Burst>,
}

impl NmeaTime {
    /// A tracker that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one parsed sentence that started arriving at local time
    /// `received`. `local_unix` is the local clock as Unix seconds (only to
    /// place a date-less time on a day when no date was seen yet).
    pub fn on_sentence(&mut self, sentence: &Sentence, received: NtpTimestamp, local_unix: i64) -> NmeaEvent {
        let (time, date, fix) = match *sentence {
            Sentence::Rmc { time, valid, date } => {
                self.has_fix_sentences = true;
                (time, date, Some(valid))
            }
            Sentence::Gga { time, quality } => {
                self.has_fix_sentences = true;
                (time, None, Some(quality > 0))
            }
            Sentence::Zda { time, date } => (Some(time), Some(date), None),
            Sentence::Other => return NmeaEvent::Nothing,
        };
        let Some(time) = time else {
            return if fix == Some(false) { self.no_fix(received) } else { NmeaEvent::Nothing };
        };
        let unix = match date {
            Some(d) => {
                let unix = unix_seconds(d, time);
                self.last_dated = Some((unix, received));
                unix
            }
            None => self.place_on_a_day(time, received, local_unix),
        };
        let same_second = matches!(self.burst, Some(b) if b.unix == unix);
        if !same_second {
            self.burst = Some(Burst { unix, nanos: time.nanos, received, done: false });
        }
        let Some(burst) = self.burst.as_mut() else { return NmeaEvent::Nothing };
        if burst.done {
            return NmeaEvent::Nothing;
        }
        let trusted = match fix {
            Some(valid) => valid,
            None => !self.has_fix_sentences,
        };
        if fix == Some(false) {
            burst.done = true;
            return NmeaEvent::NoFix;
        }
        if !trusted {
            return NmeaEvent::Nothing;
        }
        burst.done = true;
        NmeaEvent::Sample { reference: NtpTimestamp::from_unix(burst.unix, burst.nanos), received: burst.received }
    }

    fn no_fix(&mut self, received: NtpTimestamp) -> NmeaEvent {
        // A no-fix sentence without time: count it once per second.
        match &mut self.burst {
            Some(b) if received.since(b.received).to_seconds() < 0.9 => NmeaEvent::Nothing,
            _ => {
                self.burst = Some(Burst { unix: i64::MIN, nanos: 0, received, done: true });
                NmeaEvent::NoFix
            }
        }
    }

    /// Unix seconds for a time of day without date: on the day that puts
    /// it nearest the last dated time advanced by the local time elapsed,
    /// or nearest the local clock when no date was seen yet.
    fn place_on_a_day(&self, time: TimeOfDay, received: NtpTimestamp, local_unix: i64) -> i64 {
        let guess = match self.last_dated {
            Some((unix, at)) => unix + received.since(at).to_seconds().round() as i64,
            None => local_unix,
        };
        let sod = i64::from(time.seconds_of_day());
        let day_start = guess.div_euclid(DAY) * DAY;
        [day_start - DAY, day_start, day_start + DAY]
            .into_iter()
            .map(|d| d + sod)
            .min_by_key(|t| (t - guess).abs())
            .unwrap_or(day_start + sod)
    }
}

/// Unix seconds of `time` on `date` (a leap second 23:59:60 counts as the
/// next day's 00:00:00, as the kernel's clock shows it after the leap).
pub fn unix_seconds(date: Date, time: TimeOfDay) -> i64 {
    date.days_since_unix_epoch() * DAY + i64::from(time.seconds_of_day())
}

/// `reference − received` in seconds (the raw offset of a sample).
pub fn raw_offset(reference: NtpTimestamp, received: NtpTimestamp) -> f64 {
    reference.since(received).to_seconds()
}

#[cfg(test)]
mod tests {
    use super::super::nmea::{parse, with_checksum};
    use super::*;

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn at(unix: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(unix.floor() as i64, ((unix - unix.floor()) * 1e9) as u32)
    }

    fn feed(t: &mut NmeaTime, body: &str, unix: f64) -> NmeaEvent {
        let s = parse(with_checksum(body).as_bytes()).unwrap();
        t.on_sentence(&s, at(unix), unix as i64)
    }

    #[test]
    fn one_sample_per_second_from_the_first_sentence_of_the_burst() {
        let mut t = NmeaTime::new();
        let e = feed(&mut t, "$GPRMC,000000.00,A,4807.038,N,01131.000,E,0,0,010126,,,A", NOW as f64 + 0.120);
        assert_eq!(e, NmeaEvent::Sample { reference: at(NOW as f64), received: at(NOW as f64 + 0.120) });
        assert!((raw_offset(at(NOW as f64), at(NOW as f64 + 0.12)) + 0.12).abs() < 1e-6);
        // Later sentences of the same second add nothing.
        assert_eq!(
            feed(&mut t, "$GPGGA,000000.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,", NOW as f64 + 0.18),
            NmeaEvent::Nothing
        );
        assert_eq!(feed(&mut t, "$GPGSV,3,1,11", NOW as f64 + 0.2), NmeaEvent::Nothing);
        // The next second: GGA first, dated from the RMC seen before.
        let e = feed(&mut t, "$GPGGA,000001.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,", NOW as f64 + 1.110);
        assert_eq!(e, NmeaEvent::Sample { reference: at(NOW as f64 + 1.0), received: at(NOW as f64 + 1.110) });
    }

    #[test]
    fn the_fix_may_be_confirmed_by_a_later_sentence_of_the_burst() {
        let mut t = NmeaTime::new();
        feed(&mut t, "$GPRMC,000000.00,A,,,,,0,0,010126,,,A", NOW as f64 + 0.1);
        // ZDA first (no validity), then GGA with a fix: the sample keeps
        // the ZDA's arrival time.
        assert_eq!(feed(&mut t, "$GPZDA,000001.00,01,01,2026,00,00", NOW as f64 + 1.05), NmeaEvent::Nothing);
        let e = feed(&mut t, "$GPGGA,000001.00,,,,,1,08,0.9,,,,,,", NOW as f64 + 1.09);
        assert_eq!(e, NmeaEvent::Sample { reference: at(NOW as f64 + 1.0), received: at(NOW as f64 + 1.05) });
    }

    #[test]
    fn no_fix_is_reported_once_per_second_and_gives_no_sample() {
        let mut t = NmeaTime::new();
        assert_eq!(feed(&mut t, "$GPRMC,000000.00,V,,,,,,,010126,,,N", NOW as f64 + 0.1), NmeaEvent::NoFix);
        assert_eq!(feed(&mut t, "$GPGGA,000000.00,,,,,0,00,,,,,,,", NOW as f64 + 0.15), NmeaEvent::Nothing);
        // A receiver without time yet at all.
        let mut t = NmeaTime::new();
        assert_eq!(feed(&mut t, "$GPRMC,,V,,,,,,,,,,N", NOW as f64 + 0.1), NmeaEvent::NoFix);
        assert_eq!(feed(&mut t, "$GPGGA,,,,,,0,00,,,,,,,", NOW as f64 + 0.15), NmeaEvent::Nothing);
        assert_eq!(feed(&mut t, "$GPRMC,,V,,,,,,,,,,N", NOW as f64 + 1.1), NmeaEvent::NoFix);
    }

    #[test]
    fn zda_only_receivers_are_trusted_on_zda() {
        let mut t = NmeaTime::new();
        let e = feed(&mut t, "$GPZDA,120000.00,01,01,2026,00,00", NOW as f64 + 43_200.3);
        assert_eq!(e, NmeaEvent::Sample { reference: at(NOW as f64 + 43_200.0), received: at(NOW as f64 + 43_200.3) });
    }

    #[test]
    fn dateless_seconds_land_on_the_nearest_day_across_midnight() {
        // GGA-only receiver, local clock a few seconds before midnight.
        let mut t = NmeaTime::new();
        let e = feed(&mut t, "$GPGGA,000000.00,,,,,1,08,0.9,,,,,,", NOW as f64 - 2.0);
        assert_eq!(e, NmeaEvent::Sample { reference: at(NOW as f64), received: at(NOW as f64 - 2.0) });
        // After a dated RMC at 23:59:59, a GGA at 00:00:00 is the next day
        // even with the local clock a day off.
        let mut t = NmeaTime::new();
        let wrong_local = NOW - 5 * DAY;
        let s = parse(with_checksum("$GPRMC,235959.00,A,,,,,0,0,311225,,,A").as_bytes()).unwrap();
        t.on_sentence(&s, at(100.0), wrong_local);
        let s = parse(with_checksum("$GPGGA,000000.00,,,,,1,08,0.9,,,,,,").as_bytes()).unwrap();
        assert_eq!(
            t.on_sentence(&s, at(101.0), wrong_local),
            NmeaEvent::Sample { reference: at(NOW as f64), received: at(101.0) }
        );
    }
}
