//! [`LeapSchedule`]: the engine's leap second state. Which event is
//! announced now — the table's (a leap-seconds.list or the tz database),
//! else the sources' leap indicator, honoured only on the last day of a
//! month, as chrony does, since leap seconds happen only at a month's end
//! and the kernel would insert one at the next midnight whatever the day —
//! when it is due, and that it was applied (once: after an inserted second
//! the clock reads the last second of the day again).

use std::sync::Arc;

use ntp_proto::{LeapIndicator, NtpTimestamp};

use super::{end_of_day, is_last_day_of_month, LeapEvent, LeapTable, DAY};

/// The engine's leap second state.
#[derive(Clone, Debug, Default)]
pub struct LeapSchedule {
    table: Option<Arc<LeapTable>>,
    /// The event announced at the last update.
    announced: Option<LeapEvent>,
    /// The last event applied to the clock, remembered for a day after it.
    applied: Option<LeapEvent>,
}

impl LeapSchedule {
    /// A schedule that follows the sources until a table is set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `table` from now on (`None`: the sources' indicators). An
    /// expired table is ignored, as if none were set.
    pub fn set_table(&mut self, table: Option<Arc<LeapTable>>) {
        self.table = table;
    }

    /// The table in use, if any.
    pub fn table(&self) -> Option<&Arc<LeapTable>> {
        self.table.as_ref()
    }

    /// Works out the event announced at `now` from the table, or from
    /// `sources` (the combined sources' indicator); returns the indicator to
    /// announce (no warning once the event is applied).
    pub fn update(&mut self, now: NtpTimestamp, sources: LeapIndicator) -> LeapIndicator {
        let from_table = match &self.table {
            Some(t) if !t.is_expired(now) => Some(t.announced(now)),
            _ => None,
        };
        let event = from_table.unwrap_or_else(|| {
            let insert = match sources {
                LeapIndicator::Insert => true,
                LeapIndicator::Delete => false,
                _ => return None,
            };
            is_last_day_of_month(now).then(|| LeapEvent { at: end_of_day(now), insert })
        });
        if self.applied.is_some_and(|a| a.seconds_from(now) < -(DAY as f64)) {
            self.applied = None;
        }
        self.announced = event.filter(|e| Some(*e) != self.applied);
        self.announced.map_or(LeapIndicator::NoWarning, LeapEvent::indicator)
    }

    /// The event announced at the last update.
    pub fn announced(&self) -> Option<LeapEvent> {
        self.announced
    }

    /// The event to apply at `now`, if its instant has come.
    pub fn due(&self, now: NtpTimestamp) -> Option<LeapEvent> {
        self.announced.filter(|e| e.seconds_from(now) <= 0.0)
    }

    /// Records that `event` was applied to the clock.
    pub fn applied(&mut self, event: LeapEvent) {
        self.applied = Some(event);
        if self.announced == Some(event) {
            self.announced = None;
        }
    }

    /// The last event applied (kept for a day after it), for smearing.
    pub fn last_applied(&self) -> Option<LeapEvent> {
        self.applied
    }

    /// True when `now` is within `secs` of the announced event or of the one
    /// just applied (whose reading repeats or skips the last second).
    pub fn near(&self, now: NtpTimestamp, secs: f64) -> bool {
        let close = |e: LeapEvent, after: f64| {
            let until = e.seconds_from(now);
            until <= secs && until >= -(secs + after)
        };
        self.announced.is_some_and(|e| close(e, 0.0)) || self.applied.is_some_and(|e| close(e, 1.0))
    }

    /// When the next event is to be applied (its instant), if one is announced.
    pub fn deadline(&self) -> Option<NtpTimestamp> {
        self.announced.map(LeapEvent::timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leap::timestamp_of;

    // 2016-12-31 24:00 UTC, a real inserted second.
    const L: u64 = 3_692_217_600;

    fn table(events: &[(u64, i32)], expires: Option<u64>) -> Option<Arc<LeapTable>> {
        let mut entries = vec![(2_272_060_800, 10)];
        entries.extend_from_slice(events);
        Some(Arc::new(LeapTable::new(entries, expires).unwrap()))
    }

    #[test]
    fn a_table_announces_its_event_for_the_whole_day_before_it() {
        let mut s = LeapSchedule::new();
        s.set_table(table(&[(L, 11)], None));
        let at = |secs: u64| timestamp_of(secs);
        assert_eq!(s.update(at(L - DAY - 1), LeapIndicator::NoWarning), LeapIndicator::NoWarning);
        assert_eq!(s.update(at(L - DAY + 1), LeapIndicator::NoWarning), LeapIndicator::Insert);
        assert_eq!(s.due(at(L - 1)), None);
        assert_eq!(s.deadline(), Some(at(L)));
        assert_eq!(s.update(at(L - 1), LeapIndicator::NoWarning), LeapIndicator::Insert, "the sources do not matter");
        let ev = s.due(at(L)).unwrap();
        assert_eq!(ev, LeapEvent { at: L, insert: true });
        s.applied(ev);
        // The clock now reads 23:59:59 again: not announced, not due again.
        assert_eq!(s.update(at(L - 1), LeapIndicator::Insert), LeapIndicator::NoWarning);
        assert_eq!(s.due(at(L)), None);
        assert_eq!(s.update(at(L + 10), LeapIndicator::NoWarning), LeapIndicator::NoWarning);
        assert_eq!(s.last_applied(), Some(ev));
    }

    #[test]
    fn a_deletion_is_announced_as_such() {
        let mut s = LeapSchedule::new();
        s.set_table(table(&[(L, 9)], None));
        assert_eq!(s.update(timestamp_of(L - 10), LeapIndicator::NoWarning), LeapIndicator::Delete);
        assert_eq!(s.due(timestamp_of(L)).map(LeapEvent::step), Some(1.0));
    }

    #[test]
    fn without_a_table_the_sources_count_only_on_a_months_last_day() {
        let mut s = LeapSchedule::new();
        // 2016-12-30: not the last day of December.
        assert_eq!(s.update(timestamp_of(L - DAY - 100), LeapIndicator::Insert), LeapIndicator::NoWarning);
        assert_eq!(s.update(timestamp_of(L - 100), LeapIndicator::Insert), LeapIndicator::Insert);
        assert_eq!(s.announced(), Some(LeapEvent { at: L, insert: true }));
        assert_eq!(s.update(timestamp_of(L - 100), LeapIndicator::Delete), LeapIndicator::Delete);
        assert_eq!(s.update(timestamp_of(L - 100), LeapIndicator::NoWarning), LeapIndicator::NoWarning);
        // 2017-02-28 is the last day of February.
        let feb28 = L + (31 + 27) * DAY + 5;
        assert_eq!(s.update(timestamp_of(feb28), LeapIndicator::Insert), LeapIndicator::Insert);
    }

    #[test]
    fn an_expired_table_is_ignored() {
        let mut s = LeapSchedule::new();
        s.set_table(table(&[(L, 11)], Some(L - 2 * DAY)));
        assert_eq!(s.update(timestamp_of(L - 100), LeapIndicator::NoWarning), LeapIndicator::NoWarning);
        assert_eq!(
            s.update(timestamp_of(L - 100), LeapIndicator::Insert),
            LeapIndicator::Insert,
            "back to the sources"
        );
    }
}
