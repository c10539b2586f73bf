//! NTP time formats (RFC 5905 §6) and their conversion to Unix time.
//!
//! A 64-bit [`NtpTimestamp`] holds 32 bits of seconds since 1900 and 32 bits of
//! fraction, so it wraps every 2^32 s (~136 years; the first wrap is on
//! 2036-02-07). The wire carries no era number: [`NtpTimestamp::to_unix_near`]
//! recovers it by choosing the era that puts the timestamp closest to a pivot
//! the caller knows (its own clock), which is correct while the two are within
//! 68 years of each other. Differences between timestamps use wrapping
//! arithmetic and are era-independent for the same reason.

use core::fmt;

/// Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch).
pub const UNIX_OFFSET: i64 = 2_208_988_800;

const FRAC_PER_SEC: f64 = 4_294_967_296.0; // 2^32

/// A 64-bit NTP timestamp: 32.32 fixed point seconds since the era start.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct NtpTimestamp(u64);

impl NtpTimestamp {
    /// The all-zero timestamp, which RFC 5905 uses to mean "unknown".
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    /// Wraps a raw 64-bit wire value.
    pub const fn from_bits(bits: u64) -> Self {
        NtpTimestamp(bits)
    }

    /// The raw 64-bit wire value.
    pub const fn to_bits(self) -> u64 {
        self.0
    }

    /// Decodes 8 big-endian bytes.
    pub fn from_be_bytes(bytes: [u8; 8]) -> Self {
        NtpTimestamp(u64::from_be_bytes(bytes))
    }

    /// Encodes as 8 big-endian bytes.
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// True for the "unknown" timestamp.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Converts Unix time (seconds may be negative; `nanos` < 1e9) to NTP,
    /// reducing the seconds modulo the era length.
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        let ntp_secs = (secs.wrapping_add(UNIX_OFFSET) as u64) & 0xFFFF_FFFF;
        // nanos * 2^32 / 1e9, rounded to nearest; nanos < 1e9 so this fits in u64.
        let frac = ((u64::from(nanos.min(999_999_999)) << 32) + 500_000_000) / 1_000_000_000;
        NtpTimestamp((ntp_secs << 32) | (frac & 0xFFFF_FFFF))
    }

    /// Converts to Unix time, choosing the NTP era that places the result
    /// closest to `pivot_unix_secs` (normally the local clock).
    pub fn to_unix_near(self, pivot_unix_secs: i64) -> (i64, u32) {
        let secs32 = (self.0 >> 32) as i64;
        let frac = self.0 & 0xFFFF_FFFF;
        let nanos = ((frac * 1_000_000_000 + (1 << 31)) >> 32) as u32;
        let (secs32, nanos) =
            if nanos >= 1_000_000_000 { (secs32 + 1, nanos - 1_000_000_000) } else { (secs32, nanos) };
        let pivot_ntp = pivot_unix_secs + UNIX_OFFSET;
        let era_len = 1i64 << 32;
        // Start from the pivot's era and move by one era when that is closer.
        let base = pivot_ntp.div_euclid(era_len) * era_len;
        let mut best = base + secs32;
        for candidate in [best - era_len, best + era_len] {
            if (candidate - pivot_ntp).abs() < (best - pivot_ntp).abs() {
                best = candidate;
            }
        }
        (best - UNIX_OFFSET, nanos)
    }

    /// Unix time as floating-point seconds, era chosen near `pivot_unix_secs`.
    pub fn to_unix_f64_near(self, pivot_unix_secs: i64) -> f64 {
        let (s, n) = self.to_unix_near(pivot_unix_secs);
        s as f64 + f64::from(n) * 1e-9
    }

    /// Signed difference `self - earlier`, correct across an era wrap while
    /// the true difference is within ±68 years.
    pub fn since(self, earlier: NtpTimestamp) -> NtpDuration {
        NtpDuration(self.0.wrapping_sub(earlier.0) as i64)
    }
}

impl core::ops::Add<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    /// The timestamp shifted by a signed duration (wrapping at the era end).
    fn add(self, d: NtpDuration) -> NtpTimestamp {
        NtpTimestamp(self.0.wrapping_add(d.0 as u64))
    }
}

impl fmt::Debug for NtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpTimestamp({:#018x})", self.0)
    }
}

/// A signed time interval in units of 2^-32 s (the NTP timestamp resolution).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Debug)]
pub struct NtpDuration(i64);

impl NtpDuration {
    /// Zero length.
    pub const ZERO: NtpDuration = NtpDuration(0);

    /// From raw 2^-32 s units.
    pub const fn from_bits(bits: i64) -> Self {
        NtpDuration(bits)
    }

    /// Raw 2^-32 s units.
    pub const fn to_bits(self) -> i64 {
        self.0
    }

    /// From floating-point seconds (saturating at about ±68 years).
    pub fn from_seconds(secs: f64) -> Self {
        let v = secs * FRAC_PER_SEC;
        NtpDuration(if v.is_nan() { 0 } else { v as i64 })
    }

    /// As floating-point seconds.
    pub fn to_seconds(self) -> f64 {
        self.0 as f64 / FRAC_PER_SEC
    }
}

impl core::ops::Add for NtpDuration {
    type Output = NtpDuration;
    fn add(self, rhs: NtpDuration) -> NtpDuration {
        NtpDuration(self.0.wrapping_add(rhs.0))
    }
}

impl core::ops::Sub for NtpDuration {
    type Output = NtpDuration;
    fn sub(self, rhs: NtpDuration) -> NtpDuration {
        NtpDuration(self.0.wrapping_sub(rhs.0))
    }
}

/// The 32-bit short format (16.16 fixed point seconds) used for root delay
/// and root dispersion.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Debug)]
pub struct NtpShort(u32);

impl NtpShort {
    /// Zero.
    pub const ZERO: NtpShort = NtpShort(0);
    /// The largest representable value (~65536 s).
    pub const MAX: NtpShort = NtpShort(u32::MAX);

    /// Wraps a raw wire value.
    pub const fn from_bits(bits: u32) -> Self {
        NtpShort(bits)
    }

    /// The raw wire value.
    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// From non-negative seconds, rounding up (an error bound must not shrink)
    /// and saturating; negative and NaN inputs give zero.
    pub fn from_seconds(secs: f64) -> Self {
        if secs.is_nan() || secs <= 0.0 {
            return NtpShort(0);
        }
        let v = (secs * 65536.0).ceil();
        if v >= u32::MAX as f64 {
            NtpShort::MAX
        } else {
            NtpShort(v as u32)
        }
    }

    /// As floating-point seconds.
    pub fn to_seconds(self) -> f64 {
        f64::from(self.0) / 65536.0
    }
}

/// The `precision` field for a clock whose reading resolution (or read cost,
/// whichever is larger) is `resolution_secs`: the smallest `p` with
/// `2^p >= resolution`, clamped to the i8 range RFC 5905 allows in practice.
pub fn precision_from_resolution(resolution_secs: f64) -> i8 {
    if resolution_secs.is_nan() || resolution_secs <= 0.0 {
        return -32;
    }
    resolution_secs.log2().ceil().clamp(-32.0, 0.0) as i8
}

/// (year, month, day) of the day `days` after 1970-01-01 (H. Hinnant's
/// algorithm for the proleptic Gregorian calendar).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const Y2036_UNIX: i64 = 2_085_978_496; // 2036-02-07T06:28:16Z, NTP seconds wrap

    #[test]
    fn unix_epoch_maps_to_ntp_offset() {
        let t = NtpTimestamp::from_unix(0, 0);
        assert_eq!(t.to_bits() >> 32, UNIX_OFFSET as u64);
        assert_eq!(t.to_unix_near(0), (0, 0));
    }

    #[test]
    fn rollover_2036_decodes_into_the_next_era() {
        let just_before = NtpTimestamp::from_unix(Y2036_UNIX - 1, 0);
        let just_after = NtpTimestamp::from_unix(Y2036_UNIX + 1, 0);
        assert_eq!(just_before.to_bits() >> 32, 0xFFFF_FFFF);
        assert_eq!(just_after.to_bits() >> 32, 1);
        // A pivot on either side of the wrap recovers both correctly.
        for pivot in [Y2036_UNIX - 3600, Y2036_UNIX + 3600] {
            assert_eq!(just_before.to_unix_near(pivot).0, Y2036_UNIX - 1);
            assert_eq!(just_after.to_unix_near(pivot).0, Y2036_UNIX + 1);
        }
        // The difference across the wrap is 2 s, not -136 years.
        assert_eq!(just_after.since(just_before).to_seconds(), 2.0);
    }

    #[test]
    fn years_after_2036_round_trip() {
        // 2040, 2100, 2150 (era 1) with a pivot a few years off.
        for unix in [2_208_988_800i64, 4_102_444_800, 5_680_281_600] {
            let t = NtpTimestamp::from_unix(unix, 123_456_789);
            let (s, n) = t.to_unix_near(unix - 5 * 365 * 86_400);
            assert_eq!(s, unix);
            assert!((i64::from(n) - 123_456_789).abs() <= 1);
        }
    }

    #[test]
    fn short_format_rounds_up_and_saturates() {
        assert_eq!(NtpShort::from_seconds(1.0).to_bits(), 0x0001_0000);
        assert_eq!(NtpShort::from_seconds(1e-9).to_bits(), 1);
        assert_eq!(NtpShort::from_seconds(-3.0), NtpShort::ZERO);
        assert_eq!(NtpShort::from_seconds(1e9), NtpShort::MAX);
        assert_eq!(NtpShort::from_seconds(f64::NAN), NtpShort::ZERO);
    }

    #[test]
    fn precision_is_log2_rounded_up() {
        assert_eq!(precision_from_resolution(1e-9), -29);
        assert_eq!(precision_from_resolution(20e-9), -25);
        assert_eq!(precision_from_resolution(1e-6), -19);
        assert_eq!(precision_from_resolution(1.0), 0);
        assert_eq!(precision_from_resolution(0.0), -32);
    }

    proptest! {
        #[test]
        fn unix_round_trip_within_a_nanosecond(secs in -2_000_000_000i64..6_000_000_000i64, nanos in 0u32..1_000_000_000) {
            let t = NtpTimestamp::from_unix(secs, nanos);
            let (s, n) = t.to_unix_near(secs + 1_000_000_000);
            let back = s as i128 * 1_000_000_000 + n as i128;
            let want = secs as i128 * 1_000_000_000 + nanos as i128;
            prop_assert!((back - want).abs() <= 1, "{back} vs {want}");
        }

        #[test]
        fn since_is_inverse_of_add(a in any::<u64>(), d in -(1i64 << 62)..(1i64 << 62)) {
            let t = NtpTimestamp::from_bits(a);
            let u = t + NtpDuration::from_bits(d);
            prop_assert_eq!(u.since(t).to_bits(), d);
        }
    }
}
