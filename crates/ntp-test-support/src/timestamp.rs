//! NTP 64-bit timestamps <-> Unix seconds (f64), independent of `ntp-proto`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_DELTA: f64 = 2_208_988_800.0;
/// Length of one NTP era in seconds.
const ERA: f64 = 4_294_967_296.0;

/// Current time as Unix seconds.
pub fn unix_now() -> f64 {
    system_time_to_unix(SystemTime::now())
}

fn system_time_to_unix(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// A `SystemTime` as an NTP timestamp (32.32 fixed point, era folded).
pub fn system_time_to_ntp(t: SystemTime) -> u64 {
    unix_to_ntp(system_time_to_unix(t))
}

/// Unix seconds as an NTP timestamp (32.32 fixed point, modulo one era).
pub fn unix_to_ntp(unix: f64) -> u64 {
    let ntp = (unix + NTP_UNIX_DELTA).rem_euclid(ERA);
    let secs = ntp.floor();
    let frac = ((ntp - secs) * ERA).floor().min(ERA - 1.0);
    ((secs as u64) << 32) | frac as u64
}

/// An NTP timestamp as Unix seconds, using RFC 4330's era rule: seconds with the top
/// bit set are 1968–2036 (era 0), without it 2036–2104 (era 1). A raw `0` ("unset")
/// maps to `0.0`.
pub fn ntp_to_unix(ts: u64) -> f64 {
    if ts == 0 {
        return 0.0;
    }
    let secs = (ts >> 32) as f64;
    let frac = (ts & 0xffff_ffff) as f64 / ERA;
    let era_offset = if ts >> 63 == 1 { 0.0 } else { ERA };
    secs + era_offset + frac - NTP_UNIX_DELTA
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_now() {
        let now = unix_now();
        let back = ntp_to_unix(unix_to_ntp(now));
        assert!((back - now).abs() < 1e-6, "{now} vs {back}");
    }

    #[test]
    fn known_values() {
        // 1970-01-01 is NTP second 2208988800 (0x83AA7E80).
        assert_eq!(unix_to_ntp(0.0), 0x83AA_7E80_u64 << 32);
        assert_eq!(ntp_to_unix(0x83AA_7E80_u64 << 32), 0.0);
        assert_eq!(unix_to_ntp(0.5) & 0xffff_ffff, 0x8000_0000);
        // Era 1: 2036-02-07T06:28:16Z is NTP 0 of era 1 = Unix 2085978496.
        assert_eq!(ntp_to_unix(1u64 << 32), 2_085_978_497.0);
        assert_eq!(ntp_to_unix(0), 0.0);
    }
}
