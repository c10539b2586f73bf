//! A [`Sample`]: what one valid reply tells the synchronisation engine about
//! its source, in seconds and on the local clock's timeline.

use super::filter::FilterStats;
use crate::packet::{LeapIndicator, ReferenceId};
use crate::timestamp::NtpTimestamp;

/// One measurement of a source, from a validated reply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Server minus local clock, seconds: ((T2 - T1) + (T3 - T4)) / 2.
    pub offset: f64,
    /// Round-trip delay, seconds: (T4 - T1) - (T3 - T2), at least zero.
    pub delay: f64,
    /// This sample's own dispersion: both precisions plus PHI over the
    /// round trip, seconds.
    pub dispersion: f64,
    /// Local time the offset refers to: the midpoint of T1 and T4.
    pub time: NtpTimestamp,
    /// The server's leap indicator (never `Unknown`: those are rejected).
    pub leap: LeapIndicator,
    /// The server's stratum (1–15).
    pub stratum: u8,
    /// The server's reference id (for loop detection and display).
    pub reference_id: ReferenceId,
    /// The server's reference time.
    pub reference_time: NtpTimestamp,
    /// The server's root delay, seconds.
    pub root_delay: f64,
    /// The server's root dispersion, seconds.
    pub root_dispersion: f64,
    /// The server's precision (log2 s).
    pub precision: i8,
    /// Our poll exponent (log2 s) when the request was sent.
    pub poll: i8,
    /// The source's clock-filter figures including this sample.
    pub filter: FilterStats,
    /// Measured in interleaved mode (RFC 9769): T3 is the server's kernel
    /// transmit timestamp of the previous reply, and the sample is that
    /// previous exchange's.
    pub interleaved: bool,
}
