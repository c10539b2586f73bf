//! Leap seconds from the time zone database, as chrony's `leapsectz`: the
//! leap records of a TZif file of the `right/` tree (`right/UTC`), whose
//! times count leap seconds. Record *k* says that at `occurrence` (a time
//! in that leap-counting scale) the total correction becomes `correction`;
//! the UTC instant is `occurrence` minus the correction before it. A
//! correction that goes up inserts a second, one that goes down deletes
//! one, and a last record that repeats the previous correction marks the
//! table's expiry (TZif version 4).
//!
//! Version 1 files carry 32-bit times; later versions repeat the data with
//! 64-bit times after the first block, which is what is read then.

use super::{LeapError, LeapTable};

/// TAI − UTC before the first leap record (from 1972-01-01).
const TAI_MINUS_UTC_1972: i32 = 10;
/// NTP seconds of 1972-01-01, where TAI − UTC became a whole 10 s.
const NTP_1972: u64 = 2_272_060_800;
const UNIX_EPOCH_NTP: i64 = 2_208_988_800;

struct Counts {
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

fn counts(data: &[u8], at: usize) -> Result<Counts, LeapError> {
    let header = data.get(at..at + 44).ok_or_else(|| malformed("truncated header"))?;
    if &header[..4] != b"TZif" {
        return Err(malformed("not a TZif file"));
    }
    let c = |i: usize| {
        u32::from_be_bytes([header[20 + 4 * i], header[21 + 4 * i], header[22 + 4 * i], header[23 + 4 * i]]) as usize
    };
    Ok(Counts { isut: c(0), isstd: c(1), leap: c(2), time: c(3), types: c(4), chars: c(5) })
}

fn malformed(why: &str) -> LeapError {
    LeapError::Malformed(why.into())
}

/// The leap second table of a TZif file (`right/UTC`).
pub fn parse(data: &[u8]) -> Result<LeapTable, LeapError> {
    let v1 = counts(data, 0)?;
    let version = data.get(4).copied().unwrap_or(0);
    let body = |c: &Counts, time_size: usize| {
        c.time * time_size + c.time + c.types * 6 + c.chars + c.leap * (time_size + 4) + c.isstd + c.isut
    };
    let (c, time_size, start) = if version >= b'2' {
        let second = 44 + body(&v1, 4);
        (counts(data, second)?, 8, second + 44)
    } else {
        (v1, 4, 44)
    };
    let leaps_at = start + c.time * time_size + c.time + c.types * 6 + c.chars;
    let record = time_size + 4;
    let leaps = data.get(leaps_at..leaps_at + c.leap * record).ok_or_else(|| malformed("truncated leap records"))?;
    if c.leap == 0 {
        return Err(malformed("no leap second records: use a zone of the right/ tree, e.g. right/UTC"));
    }
    let mut entries = vec![(NTP_1972, TAI_MINUS_UTC_1972)];
    let mut previous = 0i64;
    let mut expires = None;
    for (i, r) in leaps.chunks_exact(record).enumerate() {
        let occurrence = if time_size == 8 {
            i64::from_be_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]])
        } else {
            i64::from(i32::from_be_bytes([r[0], r[1], r[2], r[3]]))
        };
        let correction =
            i64::from(i32::from_be_bytes([r[time_size], r[time_size + 1], r[time_size + 2], r[time_size + 3]]));
        let utc = occurrence - previous + UNIX_EPOCH_NTP;
        let utc = u64::try_from(utc).map_err(|_| malformed("a leap record before 1900"))?;
        if correction == previous {
            if i + 1 == c.leap {
                expires = Some(utc);
                break;
            }
            return Err(malformed("a leap record that changes nothing"));
        }
        if (correction - previous).abs() != 1 {
            return Err(malformed("a leap record that is not one second"));
        }
        let tai = i32::try_from(i64::from(TAI_MINUS_UTC_1972) + correction)
            .map_err(|_| malformed("correction out of range"))?;
        entries.push((utc, tai));
        previous = correction;
    }
    LeapTable::new(entries, expires)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leap::LeapEvent;

    /// A TZif version-2 file with `records` as its leap records (64-bit
    /// block; the version-1 block carries them too, with 32-bit times).
    pub(crate) fn tzif(records: &[(i64, i32)]) -> Vec<u8> {
        let header = |n: usize| {
            let mut h = b"TZif2".to_vec();
            h.extend_from_slice(&[0; 15]);
            for c in [0u32, 0, n as u32, 0, 1, 4] {
                h.extend_from_slice(&c.to_be_bytes());
            }
            h
        };
        let mut out = header(records.len());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // one ttinfo
        out.extend_from_slice(b"UTC\0");
        for (t, c) in records {
            out.extend_from_slice(&(*t as i32).to_be_bytes());
            out.extend_from_slice(&c.to_be_bytes());
        }
        out.extend(header(records.len()));
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(b"UTC\0");
        for (t, c) in records {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&c.to_be_bytes());
        }
        out.extend_from_slice(b"\nUTC0\n");
        out
    }

    #[test]
    fn records_give_utc_instants_and_directions() {
        // 1972-07-01 (+1), 1973-01-01 (+1, occurrence counts the first), a
        // deletion on 2030-07-01 (occurrence counts both earlier ones).
        let del = 1_909_094_400i64 + 2;
        let t = parse(&tzif(&[(78_796_800, 1), (94_694_401, 2), (del, 1)])).unwrap();
        let events: Vec<LeapEvent> = t.events().collect();
        assert_eq!(
            events,
            vec![
                LeapEvent { at: 78_796_800 + 2_208_988_800, insert: true },
                LeapEvent { at: 94_694_400 + 2_208_988_800, insert: true },
                LeapEvent { at: 1_909_094_400 + 2_208_988_800, insert: false },
            ]
        );
        assert_eq!(t.expires(), None);
    }

    #[test]
    fn a_repeated_last_correction_is_the_expiry() {
        let t = parse(&tzif(&[(78_796_800, 1), (94_694_401, 1)])).unwrap();
        assert_eq!(t.expires(), Some(94_694_400 + 2_208_988_800));
        assert_eq!(t.events().count(), 1);
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(parse(b"TZif2").is_err());
        assert!(parse(b"not a tz file at all, not a tz file at all, not at all").is_err());
        assert!(parse(&tzif(&[])).is_err(), "a zone without leap records (not right/)");
        assert!(parse(&tzif(&[(78_796_800, 2)])).is_err(), "two seconds at once");
        let mut cut = tzif(&[(78_796_800, 1)]);
        cut.truncate(cut.len() - 12);
        assert!(parse(&cut).is_err());
    }
}
