//! UTC calendar time for the files people and tools read: RFC 3339 for the
//! audit log, chrony's `YYYY-MM-DD HH:MM:SS` for the statistics logs.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

fn utc(unix_nanos: i128) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(unix_nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-26T16:30:33.123Z` for the Unix time `unix_nanos`.
pub fn rfc3339(unix_nanos: i128) -> String {
    let t = utc(unix_nanos);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// [`rfc3339`] of the system clock now.
pub fn rfc3339_now() -> String {
    let nanos = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    rfc3339(nanos)
}

/// chrony's log form, `2026-11-26 16:30:33`, for whole Unix seconds.
pub fn log_form(unix_secs: i64) -> String {
    let t = utc(i128::from(unix_secs) * 1_000_000_000);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(log_form(0), "1970-01-01 00:00:00");
        // 2016-12-31 23:59:59 UTC, the second before the last leap second.
        assert_eq!(log_form(1_483_228_799), "2016-12-31 23:59:59");
        assert_eq!(rfc3339(1_483_228_799_123_456_789), "2016-12-31T23:59:59.123Z");
        assert_eq!(rfc3339(-1_000_000_000), "1969-12-31T23:59:59.000Z");
    }
}
