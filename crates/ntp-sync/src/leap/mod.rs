//! Leap seconds: which are known, when one is announced, and how it is
//! applied or smeared.
//!
//! - [`LeapTable`]: the history of TAI − UTC, from the IERS/NIST
//!   `leap-seconds.list` ([`list`], its expiry and SHA-1 line checked) or
//!   the `right/` time zone database as chrony's `leapsectz` ([`tzif`]).
//! - [`schedule::LeapSchedule`]: the engine's view — the event announced
//!   today (from the table, else from the sources' leap indicators on the
//!   last day of a month), the instant it is applied to the clock, and that
//!   it was.
//! - [`smear`]: the served offset curve of a leap smear.
//!
//! Times are NTP seconds of era 0 (since 1900-01-01, without leap seconds,
//! so every UTC day is 86 400 of them and midnight is a multiple of 86 400);
//! [`era_seconds`] resolves a timestamp to them.

pub mod list;
pub mod schedule;
pub mod smear;
pub mod tzif;

use ntp_proto::timestamp::civil_from_days;
use ntp_proto::{LeapIndicator, NtpTimestamp};

/// Seconds per UTC day (NTP and Unix time count no leap seconds).
pub const DAY: u64 = 86_400;

/// NTP seconds of 1970-01-01.
const UNIX_EPOCH_NTP: u64 = 2_208_988_800;

/// One leap second: the instant it takes effect (the midnight ending the
/// last day of a month, NTP seconds) and whether a second is inserted
/// (23:59:60) or deleted (23:59:59 skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeapEvent {
    /// NTP seconds (era 0 numbering, continued past 2036) at which the new
    /// TAI − UTC applies: 00:00:00 UTC of the 1st of a month.
    pub at: u64,
    /// True for an inserted second, false for a deleted one.
    pub insert: bool,
}

impl LeapEvent {
    /// The leap indicator that announces it.
    pub fn indicator(self) -> LeapIndicator {
        if self.insert {
            LeapIndicator::Insert
        } else {
            LeapIndicator::Delete
        }
    }

    /// How far the clock's reading jumps when it is applied, seconds: −1
    /// for an insertion (23:59:59 is repeated), +1 for a deletion.
    pub fn step(self) -> f64 {
        if self.insert {
            -1.0
        } else {
            1.0
        }
    }

    /// The instant as a timestamp.
    pub fn timestamp(self) -> NtpTimestamp {
        NtpTimestamp::from_bits(self.at << 32)
    }

    /// Seconds from `now` to the event (negative once passed), by the
    /// reading of a clock that has not applied it.
    pub fn seconds_from(self, now: NtpTimestamp) -> f64 {
        self.timestamp().since(now).to_seconds()
    }

    /// True when `now` is in the UTC day that ends with the event, the day
    /// it is announced.
    pub fn announced_at(self, now: NtpTimestamp) -> bool {
        let until = self.seconds_from(now);
        until > 0.0 && until <= DAY as f64
    }
}

/// Why a leap second table could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeapError {
    /// Not in the expected format; says where and why.
    Malformed(String),
    /// The SHA-1 line does not match the contents.
    BadHash,
    /// No SHA-1 line (the list must carry one).
    MissingHash,
    /// No expiry line (the list must carry one).
    MissingExpiry,
    /// The table expired at this instant (NTP seconds).
    Expired(u64),
}

impl std::fmt::Display for LeapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeapError::Malformed(why) => write!(f, "malformed: {why}"),
            LeapError::BadHash => f.write_str("its SHA-1 hash line does not match its contents (corrupt or edited)"),
            LeapError::MissingHash => f.write_str("it has no SHA-1 hash line (#h)"),
            LeapError::MissingExpiry => f.write_str("it has no expiry line (#@)"),
            LeapError::Expired(at) => write!(f, "it expired on {} (install a current one)", utc_date(*at)),
        }
    }
}

impl std::error::Error for LeapError {}

/// TAI − UTC over time, and until when the table is known to be complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeapTable {
    /// `(from, tai_minus_utc)`: from NTP second `from` on, TAI − UTC is
    /// this many seconds. Ascending by `from`.
    entries: Vec<(u64, i32)>,
    /// The table says nothing about leap seconds after this (NTP seconds);
    /// `None` when the source has no expiry (the tz database).
    expires: Option<u64>,
}

impl LeapTable {
    /// A table from `(from, tai_minus_utc)` entries (sorted here) and an
    /// expiry; malformed when empty or when two entries share an instant.
    pub fn new(mut entries: Vec<(u64, i32)>, expires: Option<u64>) -> Result<LeapTable, LeapError> {
        entries.sort_unstable();
        if entries.is_empty() {
            return Err(LeapError::Malformed("no leap second entries".into()));
        }
        if entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(LeapError::Malformed("two entries for the same instant".into()));
        }
        if let Some(&(at, _)) = entries.iter().skip(1).find(|(at, _)| at % DAY != 0) {
            return Err(LeapError::Malformed(format!("a leap second at {at}, which is not a midnight")));
        }
        Ok(LeapTable { entries, expires })
    }

    /// Until when the table is complete (NTP seconds), if it says.
    pub fn expires(&self) -> Option<u64> {
        self.expires
    }

    /// True once `now` is past the expiry.
    pub fn is_expired(&self, now: NtpTimestamp) -> bool {
        self.expires.is_some_and(|e| era_seconds(now) >= e)
    }

    /// Every leap second in the table, oldest first.
    pub fn events(&self) -> impl Iterator<Item = LeapEvent> + '_ {
        self.entries.windows(2).filter(|w| w[0].1 != w[1].1).map(|w| LeapEvent { at: w[1].0, insert: w[1].1 > w[0].1 })
    }

    /// The event announced at `now`: the one that ends the UTC day `now` is in.
    pub fn announced(&self, now: NtpTimestamp) -> Option<LeapEvent> {
        self.events().find(|e| e.announced_at(now))
    }

    /// The first event after `now`.
    pub fn next_after(&self, now: NtpTimestamp) -> Option<LeapEvent> {
        self.events().find(|e| e.seconds_from(now) > 0.0)
    }

    /// TAI − UTC at `now`, seconds (the first entry's value before it).
    pub fn tai_offset(&self, now: NtpTimestamp) -> i32 {
        let secs = era_seconds(now);
        self.entries.iter().take_while(|(at, _)| *at <= secs).last().unwrap_or(&self.entries[0]).1
    }

    /// The number of entries (the first is TAI − UTC's starting value).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Never true: a table has at least its first entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// NTP seconds of `ts`, with the era chosen so that the result lies
/// between 1968 and 2104 (timestamps before 2^31 s belong to era 1).
pub fn era_seconds(ts: NtpTimestamp) -> u64 {
    let secs = ts.to_bits() >> 32;
    if secs < 1 << 31 {
        secs + (1 << 32)
    } else {
        secs
    }
}

/// The timestamp `secs` seconds (era numbering continued) after 1900.
pub fn timestamp_of(secs: u64) -> NtpTimestamp {
    NtpTimestamp::from_bits(secs << 32)
}

/// True when the UTC day that `now` is in is the last of its month, so a
/// leap second may end it.
pub fn is_last_day_of_month(now: NtpTimestamp) -> bool {
    let tomorrow = era_seconds(now) / DAY + 1;
    civil_from_days(tomorrow as i64 - (UNIX_EPOCH_NTP / DAY) as i64).2 == 1
}

/// The midnight ending the UTC day `now` is in (NTP seconds).
pub fn end_of_day(now: NtpTimestamp) -> u64 {
    (era_seconds(now) / DAY + 1) * DAY
}

/// `YYYY-MM-DD` of NTP second `secs`.
pub fn utc_date(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / DAY) as i64 - (UNIX_EPOCH_NTP / DAY) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix seconds of NTP second `secs`.
pub fn unix_seconds(secs: u64) -> i64 {
    secs as i64 - UNIX_EPOCH_NTP as i64
}

#[cfg(test)]
mod tests;
