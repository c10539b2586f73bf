//! A simulated upstream server: true time plus an optional constant offset
//! (a falseticker), answering with the real `ntp_proto::server` code path
//! (`parse_request` → `write_reply` → `finish`).

use crate::clock::timestamp;
use ntp_proto::server::{parse_request, write_reply, ServerState};
use ntp_proto::{LeapIndicator, NtpShort, ReferenceId};

/// Server processing time between receive and transmit, s.
pub const PROCESSING: f64 = 5e-6;

/// One server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimServer {
    /// Its clock minus true time, s (non-zero: a falseticker).
    pub offset: f64,
    /// Its stratum.
    pub stratum: u8,
}

impl SimServer {
    /// True when this server's time is wrong by more than a millisecond.
    pub fn is_falseticker(&self) -> bool {
        self.offset.abs() > 1e-3
    }

    /// The reply to `request` arriving at true time `t`, or `None` if the
    /// request is not one the server answers. The reply leaves at
    /// `t + PROCESSING`.
    pub fn answer(&self, request: &[u8], t: f64) -> Option<Vec<u8>> {
        let parsed = parse_request(request, 40_123).ok()?;
        let state = ServerState {
            leap: LeapIndicator::NoWarning,
            stratum: self.stratum,
            precision: -24,
            reference_id: ReferenceId::from_ascii("GPS"),
            reference_time: timestamp(t + self.offset - 8.0),
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::from_seconds(2e-6),
            dispersion_rate: ServerState::PHI,
        };
        let mut out = [0u8; 48];
        let prepared = write_reply(&parsed, timestamp(t + self.offset), &state, &mut out).ok()?;
        let n = prepared.finish(&mut out, timestamp(t + PROCESSING + self.offset));
        Some(out[..n].to_vec())
    }
}
