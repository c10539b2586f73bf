//! A leap second in the simulated world: at true time `at` (seconds after
//! the simulation's zero, the midnight ending a month) UTC repeats a second
//! (insertion) or skips one (deletion). The servers serve UTC, announcing
//! the leap during the day before it; the client learns of it from a leap
//! second table ([`LeapModel::table`], the engine's `set_leap_table`) or
//! from the servers' indicators alone, and its error is measured against
//! UTC.

use std::sync::Arc;

use ntp_proto::LeapIndicator;
use ntp_sync::leap::LeapTable;

use crate::clock::BASE_SECS;

/// One leap second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeapModel {
    /// True seconds after the simulation's zero at which it takes effect.
    pub at: f64,
    /// Inserted (23:59:60) or deleted.
    pub insert: bool,
    /// The client has a leap second table naming it (else it relies on the
    /// servers' leap indicators).
    pub table: bool,
}

impl LeapModel {
    /// The first month's end after the simulation's zero: 2023-12-01 00:00 UTC.
    pub const MONTH_END: f64 = 1_377_600.0;

    /// How much UTC lags true elapsed time at true time `t`: the leap's
    /// size (+1 inserted, −1 deleted) from its instant on.
    pub fn lag(&self, t: f64) -> f64 {
        match (t >= self.at, self.insert) {
            (false, _) => 0.0,
            (true, true) => 1.0,
            (true, false) => -1.0,
        }
    }

    /// UTC (seconds after the simulation's zero) at true time `t`.
    pub fn utc(&self, t: f64) -> f64 {
        t - self.lag(t)
    }

    /// What a server announces at true time `t`: the leap during the day
    /// that ends with it.
    pub fn indicator(&self, t: f64) -> LeapIndicator {
        match (t < self.at && t >= self.at - 86_400.0, self.insert) {
            (false, _) => LeapIndicator::NoWarning,
            (true, true) => LeapIndicator::Insert,
            (true, false) => LeapIndicator::Delete,
        }
    }

    /// The leap second table the client is given (TAI − UTC 37 s before).
    pub fn table(&self) -> Arc<LeapTable> {
        let at = BASE_SECS + self.at as u64;
        let after = if self.insert { 38 } else { 36 };
        let table = LeapTable::new(vec![(3_692_217_600, 37), (at, after)], None);
        Arc::new(table.unwrap_or_else(|e| panic!("the simulated leap second at {at} is not a midnight: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntp_sync::leap::{is_last_day_of_month, utc_date};

    #[test]
    fn the_month_end_is_a_month_end() {
        let at = BASE_SECS + LeapModel::MONTH_END as u64;
        assert_eq!(utc_date(at), "2023-12-01");
        assert!(is_last_day_of_month(ntp_sync::leap::timestamp_of(at - 1)));
        let m = LeapModel { at: LeapModel::MONTH_END, insert: true, table: true };
        assert_eq!(m.table().events().last().map(|e| e.at), Some(at));
        assert_eq!(m.utc(m.at - 0.5), m.at - 0.5);
        assert_eq!(m.utc(m.at + 0.5), m.at - 0.5, "the last second is repeated");
        let d = LeapModel { insert: false, ..m };
        assert_eq!(d.utc(d.at), d.at + 1.0, "23:59:59 skipped");
        assert_eq!(m.indicator(m.at - 10.0), LeapIndicator::Insert);
        assert_eq!(d.indicator(d.at - 10.0), LeapIndicator::Delete);
        assert_eq!(m.indicator(m.at - 86_401.0), LeapIndicator::NoWarning);
        assert_eq!(m.indicator(m.at), LeapIndicator::NoWarning);
    }
}
