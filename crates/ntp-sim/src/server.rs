//! A simulated upstream server: true time plus an optional constant offset
//! (a falseticker), answering with the real server decision
//! (`ntp_proto::server::decide`, then `finish` and `seal`), MAC and NTS
//! included.

use std::net::SocketAddr;

use crate::clock::timestamp;
use crate::credentials::Credentials;
use crate::rng::Rng;
use ntp_proto::server::{decide, Arrival, Decision, ServerState};
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
    /// server sends nothing. The reply leaves at `t + PROCESSING`; `rng`
    /// supplies NTS nonces.
    pub fn answer(&self, request: &[u8], t: f64, credentials: &mut Credentials, rng: &mut Rng) -> Option<Vec<u8>> {
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
        let arrival = Arrival {
            source: SocketAddr::from(([198, 51, 100, 1], 40_123)),
            receive_time: timestamp(t + self.offset),
            host_secs: t,
            truncated: false,
            interface: 0,
        };
        let mut out = [0u8; 2048];
        match decide(request, &arrival, &state, credentials, &mut out) {
            Decision::Reply(prepared, seal) => {
                let n = prepared.finish(&mut out, timestamp(t + PROCESSING + self.offset));
                let sealed = seal.seal(&mut out, n, request.len(), credentials, rng).ok()?;
                Some(out[..sealed.len()].to_vec())
            }
            Decision::KissOfDeath { len, .. } => Some(out[..len].to_vec()),
            Decision::Drop(_) => None,
        }
    }
}
