//! The NTP shared-memory refclock segment (ntpd's driver 28, chrony's
//! `refclock SHM`), which gpsd writes: System V segment key
//! `0x4e545030 + unit` ("NTP0" + unit), holding one `struct shmTime` in
//! the writer's native layout:
//!
//! ```c
//! struct shmTime {
//!   int mode;                 /* 0: use if valid; 1: also check count */
//!   volatile int count;       /* bumped by the writer before and after */
//!   time_t clockTimeStampSec; /* the reference's time */
//!   int clockTimeStampUSec;
//!   time_t receiveTimeStampSec; /* system time it was taken */
//!   int receiveTimeStampUSec;
//!   int leap;                 /* 0 ok, 1 insert, 2 delete, 3 not in sync */
//!   int precision;            /* log2 s */
//!   int nsamples;
//!   volatile int valid;       /* writer sets, reader clears */
//!   unsigned clockTimeStampNSec;
//!   unsigned receiveTimeStampNSec;
//!   int dummy[8];
//! };
//! ```
//!
//! The reading protocol (what chronyd does): copy the whole record; use it
//! only if `valid` is set and the mode is 0 or 1, and in mode 1 only if
//! `count` is the same after the copy as in it (the writer was not in the
//! middle of an update); then clear `valid`. The daemon does the memory
//! accesses (volatile, in its OS module); this module says where the fields
//! are and what a copy means.

use crate::packet::LeapIndicator;
use crate::timestamp::NtpTimestamp;
use core::fmt;

/// Key of unit 0; unit N is this + N.
pub const SHM_KEY_BASE: i32 = 0x4e54_5030;

/// The field offsets for one `time_t` size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShmLayout {
    time_t: usize,
}

impl ShmLayout {
    /// 64-bit `time_t` (x86_64, aarch64, and 32-bit systems built with 64-bit time).
    pub const TIME64: ShmLayout = ShmLayout { time_t: 8 };
    /// 32-bit `time_t` (older 32-bit systems).
    pub const TIME32: ShmLayout = ShmLayout { time_t: 4 };

    /// The layout of this machine's C library (`time_t` is a `long`).
    pub const fn native() -> ShmLayout {
        if cfg!(target_pointer_width = "64") {
            Self::TIME64
        } else {
            Self::TIME32
        }
    }

    /// `sizeof(struct shmTime)`: 96 with 64-bit `time_t`, 80 with 32-bit.
    pub const fn size(self) -> usize {
        if self.time_t == 8 {
            96
        } else {
            80
        }
    }

    /// Offset of `count`.
    pub const fn count_offset(self) -> usize {
        4
    }

    /// Offset of `valid`.
    pub const fn valid_offset(self) -> usize {
        self.fields().valid
    }

    const fn fields(self) -> Fields {
        if self.time_t == 8 {
            Fields {
                clock_sec: 8,
                clock_usec: 16,
                recv_sec: 24,
                recv_usec: 32,
                leap: 36,
                precision: 40,
                valid: 48,
                clock_nsec: 52,
                recv_nsec: 56,
            }
        } else {
            Fields {
                clock_sec: 8,
                clock_usec: 12,
                recv_sec: 16,
                recv_usec: 20,
                leap: 24,
                precision: 28,
                valid: 36,
                clock_nsec: 40,
                recv_nsec: 44,
            }
        }
    }
}

struct Fields {
    clock_sec: usize,
    clock_usec: usize,
    recv_sec: usize,
    recv_usec: usize,
    leap: usize,
    precision: usize,
    valid: usize,
    clock_nsec: usize,
    recv_nsec: usize,
}

/// One copy of the segment's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShmRecord {
    /// `mode`.
    pub mode: i32,
    /// `count` as copied.
    pub count: i32,
    /// `clockTimeStampSec`.
    pub clock_sec: i64,
    /// `clockTimeStampUSec`.
    pub clock_usec: i32,
    /// `receiveTimeStampSec`.
    pub receive_sec: i64,
    /// `receiveTimeStampUSec`.
    pub receive_usec: i32,
    /// `leap`.
    pub leap: i32,
    /// `precision`.
    pub precision: i32,
    /// `valid`.
    pub valid: i32,
    /// `clockTimeStampNSec`.
    pub clock_nsec: u32,
    /// `receiveTimeStampNSec`.
    pub receive_nsec: u32,
}

/// A sample read from the segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShmSample {
    /// The reference's time.
    pub reference: NtpTimestamp,
    /// The system time it was taken.
    pub received: NtpTimestamp,
    /// The leap second announced.
    pub leap: LeapIndicator,
    /// The writer's precision, log2 s.
    pub precision: i8,
}

/// Why a copy is not a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmSkip {
    /// `valid` is clear: nothing new since the last read.
    NotValid,
    /// Mode 1 and `count` changed during the copy: the writer was updating.
    Torn,
    /// A mode other than 0 or 1.
    BadMode(i32),
    /// `leap` is 3: the writer has no fix.
    NotInSync,
    /// Microseconds or nanoseconds out of range, or a negative time.
    BadTime,
    /// `leap` is not 0–3.
    BadLeap(i32),
}

impl fmt::Display for ShmSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmSkip::NotValid => f.write_str("no new sample"),
            ShmSkip::Torn => f.write_str("the writer was updating the segment"),
            ShmSkip::BadMode(m) => write!(f, "mode {m} is not 0 or 1"),
            ShmSkip::NotInSync => f.write_str("the writer says it is not in sync (no fix)"),
            ShmSkip::BadTime => f.write_str("a timestamp is out of range"),
            ShmSkip::BadLeap(l) => write!(f, "leap {l} is not 0-3"),
        }
    }
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_ne_bytes(a)
}

fn time_at(layout: ShmLayout, b: &[u8], at: usize) -> i64 {
    if layout.time_t == 8 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        i64::from_ne_bytes(a)
    } else {
        i64::from(i32_at(b, at))
    }
}

impl ShmRecord {
    /// Reads a record from a copy of the segment; `None` when the copy is
    /// shorter than the layout's size.
    pub fn decode(layout: ShmLayout, b: &[u8]) -> Option<ShmRecord> {
        if b.len() < layout.size() {
            return None;
        }
        let f = layout.fields();
        Some(ShmRecord {
            mode: i32_at(b, 0),
            count: i32_at(b, layout.count_offset()),
            clock_sec: time_at(layout, b, f.clock_sec),
            clock_usec: i32_at(b, f.clock_usec),
            receive_sec: time_at(layout, b, f.recv_sec),
            receive_usec: i32_at(b, f.recv_usec),
            leap: i32_at(b, f.leap),
            precision: i32_at(b, f.precision),
            valid: i32_at(b, f.valid),
            clock_nsec: i32_at(b, f.clock_nsec) as u32,
            receive_nsec: i32_at(b, f.recv_nsec) as u32,
        })
    }

    /// Writes the record into `b` (at least the layout's size), as a
    /// writer such as gpsd does. For tests and simulated writers.
    pub fn encode(&self, layout: ShmLayout, b: &mut [u8]) {
        let f = layout.fields();
        let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(0, &self.mode.to_ne_bytes());
        put(layout.count_offset(), &self.count.to_ne_bytes());
        if layout.time_t == 8 {
            put(f.clock_sec, &self.clock_sec.to_ne_bytes());
            put(f.recv_sec, &self.receive_sec.to_ne_bytes());
        } else {
            put(f.clock_sec, &(self.clock_sec as i32).to_ne_bytes());
            put(f.recv_sec, &(self.receive_sec as i32).to_ne_bytes());
        }
        put(f.clock_usec, &self.clock_usec.to_ne_bytes());
        put(f.recv_usec, &self.receive_usec.to_ne_bytes());
        put(f.leap, &self.leap.to_ne_bytes());
        put(f.precision, &self.precision.to_ne_bytes());
        put(f.valid, &self.valid.to_ne_bytes());
        put(f.clock_nsec, &self.clock_nsec.to_ne_bytes());
        put(f.recv_nsec, &self.receive_nsec.to_ne_bytes());
    }

    /// What this copy means, given `count` read again after it.
    pub fn interpret(&self, count_after: i32) -> Result<ShmSample, ShmSkip> {
        if !(self.mode == 0 || self.mode == 1) {
            return Err(ShmSkip::BadMode(self.mode));
        }
        if self.mode == 1 && self.count != count_after {
            return Err(ShmSkip::Torn);
        }
        if self.valid == 0 {
            return Err(ShmSkip::NotValid);
        }
        let leap = match self.leap {
            0 => LeapIndicator::NoWarning,
            1 => LeapIndicator::Insert,
            2 => LeapIndicator::Delete,
            3 => return Err(ShmSkip::NotInSync),
            other => return Err(ShmSkip::BadLeap(other)),
        };
        // The nanosecond fields are newer: trust them when they agree with
        // the microsecond ones (a writer that ignores them leaves zeros).
        let use_nsec =
            self.clock_nsec / 1000 == self.clock_usec as u32 && self.receive_nsec / 1000 == self.receive_usec as u32;
        let (cn, rn) = if use_nsec {
            (i64::from(self.clock_nsec), i64::from(self.receive_nsec))
        } else {
            (i64::from(self.clock_usec) * 1000, i64::from(self.receive_usec) * 1000)
        };
        let in_range = |s: i64, n: i64| s >= 0 && (0..1_000_000_000).contains(&n);
        if !in_range(self.clock_sec, cn) || !in_range(self.receive_sec, rn) {
            return Err(ShmSkip::BadTime);
        }
        Ok(ShmSample {
            reference: NtpTimestamp::from_unix(self.clock_sec, cn as u32),
            received: NtpTimestamp::from_unix(self.receive_sec, rn as u32),
            leap,
            precision: self.precision.clamp(-32, 0) as i8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ShmRecord {
        ShmRecord {
            mode: 1,
            count: 7,
            clock_sec: 1_767_225_600,
            clock_usec: 0,
            receive_sec: 1_767_225_600,
            receive_usec: 5_123,
            leap: 0,
            precision: -20,
            valid: 1,
            clock_nsec: 0,
            receive_nsec: 5_123_456,
        }
    }

    #[test]
    fn both_layouts_round_trip_at_the_c_offsets() {
        for layout in [ShmLayout::TIME64, ShmLayout::TIME32] {
            let mut b = vec![0u8; layout.size()];
            record().encode(layout, &mut b);
            assert_eq!(ShmRecord::decode(layout, &b), Some(record()));
            assert_eq!(i32_at(&b, layout.valid_offset()), 1);
            assert_eq!(i32_at(&b, layout.count_offset()), 7);
            assert_eq!(ShmRecord::decode(layout, &b[..layout.size() - 1]), None);
        }
        // gpsd's x86_64 struct: valid at 48, the nanosecond fields at 52 and 56.
        assert_eq!((ShmLayout::TIME64.valid_offset(), ShmLayout::TIME64.size()), (48, 96));
        assert_eq!(ShmLayout::native(), ShmLayout::TIME64);
    }

    #[test]
    fn the_reading_protocol() {
        let s = record().interpret(7).unwrap();
        assert_eq!(s.reference, NtpTimestamp::from_unix(1_767_225_600, 0));
        assert_eq!(s.received, NtpTimestamp::from_unix(1_767_225_600, 5_123_456), "nanoseconds used");
        assert_eq!((s.leap, s.precision), (LeapIndicator::NoWarning, -20));
        assert_eq!(record().interpret(8), Err(ShmSkip::Torn), "mode 1 checks count");
        assert!(ShmRecord { mode: 0, ..record() }.interpret(8).is_ok(), "mode 0 does not");
        assert_eq!(ShmRecord { valid: 0, ..record() }.interpret(7), Err(ShmSkip::NotValid));
        assert_eq!(ShmRecord { mode: 2, ..record() }.interpret(7), Err(ShmSkip::BadMode(2)));
        assert_eq!(ShmRecord { leap: 3, ..record() }.interpret(7), Err(ShmSkip::NotInSync));
        assert_eq!(ShmRecord { leap: 9, ..record() }.interpret(7), Err(ShmSkip::BadLeap(9)));
        assert_eq!(ShmRecord { leap: 1, ..record() }.interpret(7).unwrap().leap, LeapIndicator::Insert);
        // A writer that leaves the nanosecond fields at zero: microseconds.
        let old = ShmRecord { receive_nsec: 0, ..record() }.interpret(7).unwrap();
        assert_eq!(old.received, NtpTimestamp::from_unix(1_767_225_600, 5_123_000));
        assert_eq!(
            ShmRecord { receive_usec: 2_000_000, receive_nsec: 0, ..record() }.interpret(7),
            Err(ShmSkip::BadTime)
        );
        assert_eq!(ShmRecord { clock_sec: -5, ..record() }.interpret(7), Err(ShmSkip::BadTime));
    }

    #[test]
    fn arbitrary_segments_never_panic() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 96), after in any::<i32>())| {
            for layout in [ShmLayout::TIME64, ShmLayout::TIME32] {
                if let Some(r) = ShmRecord::decode(layout, &bytes) {
                    let _ = r.interpret(after);
                }
            }
        });
    }
}
