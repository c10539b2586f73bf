//! chrony's refclock socket protocol (`refclock SOCK`): one datagram per
//! sample, a `struct sock_sample` in the sender's native byte order,
//! which gpsd writes to `/run/chrony.DEV.sock`:
//!
//! ```c
//! struct sock_sample {
//!   struct timeval tv;  /* system time of the measurement */
//!   double offset;      /* true time - system time, seconds */
//!   int pulse;          /* non-zero: a PPS edge, only the fraction is known */
//!   int leap;           /* 0 normal, 1 insert, 2 delete a leap second */
//!   int _pad;
//!   int magic;          /* 0x534f434b, "SOCK" */
//! };
//! ```
//!
//! 40 bytes with a 64-bit `time_t` (LP64), 32 with a 32-bit one; like
//! chrony, both are accepted whatever this machine's own size is.

use crate::packet::LeapIndicator;
use crate::timestamp::NtpTimestamp;
use core::fmt;

/// The protocol identifier in `magic`.
pub const SOCK_MAGIC: u32 = 0x534f_434b;
/// Size of the sample with a 64-bit `time_t` and `suseconds_t`.
pub const SOCK_SAMPLE_LEN_64: usize = 40;
/// Size of the sample with 32-bit ones.
pub const SOCK_SAMPLE_LEN_32: usize = 32;

/// One decoded sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SockSample {
    /// System time of the measurement.
    pub time: NtpTimestamp,
    /// True time minus system time, seconds.
    pub offset: f64,
    /// A PPS edge: only the offset's fraction of a second is meaningful.
    pub pulse: bool,
    /// The leap second announced.
    pub leap: LeapIndicator,
}

/// Why a datagram is not a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SockError {
    /// Neither 40 nor 32 bytes.
    BadLength(usize),
    /// `magic` is not "SOCK".
    BadMagic(u32),
    /// `tv_usec` outside 0..1e6, or a time before 1970.
    BadTime,
    /// `offset` not a finite number below a day.
    BadOffset(f64),
    /// `leap` not 0, 1 or 2.
    BadLeap(i32),
}

impl fmt::Display for SockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockError::BadLength(n) => {
                write!(f, "{n} bytes, not a {SOCK_SAMPLE_LEN_64}- or {SOCK_SAMPLE_LEN_32}-byte sock_sample")
            }
            SockError::BadMagic(m) => write!(f, "magic {m:#010x} is not {SOCK_MAGIC:#010x}"),
            SockError::BadTime => f.write_str("the timestamp is out of range"),
            SockError::BadOffset(o) => write!(f, "offset {o} is not a sane number of seconds"),
            SockError::BadLeap(l) => write!(f, "leap {l} is not 0, 1 or 2"),
        }
    }
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_ne_bytes(a)
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_ne_bytes(a)
}

/// Decodes one datagram.
pub fn decode(b: &[u8]) -> Result<SockSample, SockError> {
    let (sec, usec, rest) = match b.len() {
        SOCK_SAMPLE_LEN_64 => (i64_at(b, 0), i64_at(b, 8), 16),
        SOCK_SAMPLE_LEN_32 => (i64::from(i32_at(b, 0)), i64::from(i32_at(b, 4)), 8),
        n => return Err(SockError::BadLength(n)),
    };
    let magic = i32_at(b, rest + 20) as u32;
    if magic != SOCK_MAGIC {
        return Err(SockError::BadMagic(magic));
    }
    if !(0..1_000_000).contains(&usec) || sec < 0 {
        return Err(SockError::BadTime);
    }
    let mut o = [0u8; 8];
    o.copy_from_slice(&b[rest..rest + 8]);
    let offset = f64::from_ne_bytes(o);
    if !(offset.is_finite() && offset.abs() < 86_400.0) {
        return Err(SockError::BadOffset(offset));
    }
    let leap = match i32_at(b, rest + 12) {
        0 => LeapIndicator::NoWarning,
        1 => LeapIndicator::Insert,
        2 => LeapIndicator::Delete,
        other => return Err(SockError::BadLeap(other)),
    };
    Ok(SockSample {
        time: NtpTimestamp::from_unix(sec, (usec * 1000) as u32),
        offset,
        pulse: i32_at(b, rest + 8) != 0,
        leap,
    })
}

/// Encodes a sample in the 64-bit layout (what a gpsd on a 64-bit machine
/// sends), from Unix seconds and microseconds. For tests and fake sources.
pub fn encode_64(sec: i64, usec: i64, offset: f64, pulse: bool, leap: i32) -> [u8; SOCK_SAMPLE_LEN_64] {
    let mut b = [0u8; SOCK_SAMPLE_LEN_64];
    b[0..8].copy_from_slice(&sec.to_ne_bytes());
    b[8..16].copy_from_slice(&usec.to_ne_bytes());
    b[16..24].copy_from_slice(&offset.to_ne_bytes());
    b[24..28].copy_from_slice(&i32::from(pulse).to_ne_bytes());
    b[28..32].copy_from_slice(&leap.to_ne_bytes());
    b[36..40].copy_from_slice(&(SOCK_MAGIC as i32).to_ne_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_decode() {
        let s = decode(&encode_64(1_767_225_600, 250_000, 0.125, false, 1)).unwrap();
        assert_eq!(s.time, NtpTimestamp::from_unix(1_767_225_600, 250_000_000));
        assert_eq!((s.offset, s.pulse, s.leap), (0.125, false, LeapIndicator::Insert));
        let mut b = [0u8; SOCK_SAMPLE_LEN_32];
        b[0..4].copy_from_slice(&1_000_000_000i32.to_ne_bytes());
        b[4..8].copy_from_slice(&5i32.to_ne_bytes());
        b[8..16].copy_from_slice(&(-0.5f64).to_ne_bytes());
        b[16..20].copy_from_slice(&1i32.to_ne_bytes());
        b[28..32].copy_from_slice(&(SOCK_MAGIC as i32).to_ne_bytes());
        let s = decode(&b).unwrap();
        assert_eq!(s.time, NtpTimestamp::from_unix(1_000_000_000, 5_000));
        assert_eq!((s.offset, s.pulse, s.leap), (-0.5, true, LeapIndicator::NoWarning));
    }

    #[test]
    fn nonsense_is_refused_with_the_reason() {
        assert_eq!(decode(&[0u8; 39]), Err(SockError::BadLength(39)));
        assert_eq!(decode(b""), Err(SockError::BadLength(0)));
        assert_eq!(decode(&[0u8; 40]), Err(SockError::BadMagic(0)));
        assert_eq!(decode(&encode_64(1, 1_000_000, 0.0, false, 0)), Err(SockError::BadTime));
        assert_eq!(decode(&encode_64(-1, 0, 0.0, false, 0)), Err(SockError::BadTime));
        assert!(matches!(decode(&encode_64(1, 0, f64::NAN, false, 0)), Err(SockError::BadOffset(_))));
        assert_eq!(decode(&encode_64(1, 0, 1e6, false, 0)), Err(SockError::BadOffset(1e6)));
        assert_eq!(decode(&encode_64(1, 0, 0.0, false, 3)), Err(SockError::BadLeap(3)));
    }

    #[test]
    fn arbitrary_datagrams_never_panic() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..64))| {
            let _ = decode(&bytes);
        });
    }
}
