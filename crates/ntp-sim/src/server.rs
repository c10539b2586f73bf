//! A simulated upstream server: true time plus an optional constant offset
//! (a falseticker), answering with the real server decision
//! (`ntp_proto::server::decide`, then `finish` and `seal`), MAC and NTS
//! included.

use std::net::SocketAddr;

use crate::clock::timestamp;
use crate::credentials::Credentials;
use crate::leap::LeapModel;
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
    /// supplies NTS nonces. With a `leap` second the server serves UTC and
    /// announces it during its day.
    pub fn answer(
        &self,
        request: &[u8],
        t: f64,
        leap: Option<&LeapModel>,
        credentials: &mut Credentials,
        rng: &mut Rng,
    ) -> Option<Vec<u8>> {
        let utc = |t: f64| leap.map_or(t, |l| l.utc(t)) + self.offset;
        let state = ServerState {
            leap: leap.map_or(LeapIndicator::NoWarning, |l| l.indicator(t)),
            stratum: self.stratum,
            precision: -24,
            reference_id: ReferenceId::from_ascii("GPS"),
            reference_time: timestamp(utc(t) - 8.0),
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::from_seconds(2e-6),
            dispersion_rate: ServerState::PHI,
        };
        let arrival = Arrival {
            source: SocketAddr::from(([198, 51, 100, 1], 40_123)),
            receive_time: timestamp(utc(t)),
            host_secs: t,
            truncated: false,
            interface: 0,
        };
        let mut out = [0u8; 2048];
        match decide(request, &arrival, &state, credentials, &mut out) {
            Decision::Reply(prepared, seal) => {
                let n = prepared.finish(&mut out, timestamp(utc(t + PROCESSING)));
                let sealed = seal.seal(&mut out, n, request.len(), credentials, rng).ok()?;
                Some(out[..sealed.len()].to_vec())
            }
            Decision::KissOfDeath { len, .. } => Some(out[..len].to_vec()),
            // The client sends no control requests.
            Decision::Drop(_) | Decision::Control(_) => None,
        }
    }
}
