//! A simulated upstream server: true time plus an optional constant offset
//! (a falseticker), answering with the real server decision
//! (`ntp_proto::server::decide`, then `finish` and `seal`), MAC and NTS
//! included.
//!
//! A busy server's reply leaves some time after the clock read that
//! stamped its transmit field (`send_delay`: the send path, queueing behind
//! other replies). In basic mode that error goes into the client's
//! measurement; a server that offers interleaved mode (RFC 9769) keeps the
//! real departure of each reply (its kernel transmit timestamp) in the real
//! `InterleaveTable` and hands it to an interleaved client with the next
//! reply. A server that writes its reply's *predicted* departure instead
//! of the clock read, predicted by an average of its send latency (as
//! simple-ntpd's batched sends and the accuracy benchmark's reference did
//! with a median until issue 23's sixth round), is exact on average but
//! scatters around it (`transmit_noise`): some of its replies claim to
//! leave later than they do, which no network delay explains.

use std::net::{IpAddr, SocketAddr};

use crate::clock::timestamp;
use crate::credentials::Credentials;
use crate::leap::LeapModel;
use crate::rng::Rng;
use ntp_proto::auth::SymmetricKey;
use ntp_proto::nts::cookie::CookieKeys;
use ntp_proto::server::{decide, Arrival, Decision, InterleaveTable, Policy, ServerState, Verdict};
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
    /// Mean of the time a reply spends in the send path after its transmit
    /// timestamp was read, s: half of it fixed, half exponential (0: none).
    pub send_delay: f64,
    /// Answers interleaved requests (like `ntp_server.interleaved`, chrony
    /// with `xleave` clients).
    pub interleaved: bool,
    /// Standard deviation of the transmit timestamp around the reply's true
    /// departure, s (0: the timestamp is the clock read, early by the send
    /// delay). Non-zero models a server that predicts its send delay.
    pub transmit_noise: f64,
}

/// The servers' interleaved state: one table per server (every simulated
/// client request comes from the same address).
pub type ServerTables = Vec<Option<InterleaveTable>>;

/// The policy of one server: the shared credentials plus its own table.
struct ServerPolicy<'a> {
    credentials: &'a mut Credentials,
    table: Option<&'a InterleaveTable>,
}

impl Policy for ServerPolicy<'_> {
    fn max_request_len(&self) -> usize {
        self.credentials.max_request_len()
    }
    fn access(&self, client: IpAddr) -> Verdict {
        self.credentials.access(client)
    }
    fn rate_limit(&mut self, client: IpAddr, now: f64) -> Verdict {
        self.credentials.rate_limit(client, now)
    }
    fn must_authenticate(&self, client: IpAddr) -> bool {
        self.credentials.must_authenticate(client)
    }
    fn mac_key(&self, key_id: u32) -> Option<&SymmetricKey> {
        self.credentials.mac_key(key_id)
    }
    fn nts_cookie_keys(&self) -> Option<&CookieKeys> {
        self.credentials.nts_cookie_keys()
    }
    fn interleave_table(&self) -> Option<&InterleaveTable> {
        self.table
    }
}

impl SimServer {
    /// A stratum-1 server on true time, quick to send, basic mode only.
    pub const GOOD: SimServer =
        SimServer { offset: 0.0, stratum: 1, send_delay: 0.0, interleaved: false, transmit_noise: 0.0 };

    /// Its interleaved-mode table, if it offers interleaved mode.
    pub fn table(&self) -> Option<InterleaveTable> {
        self.interleaved.then(|| InterleaveTable::new(16, 0x5EED))
    }

    /// True when this server's time is wrong by more than a millisecond.
    pub fn is_falseticker(&self) -> bool {
        self.offset.abs() > 1e-3
    }

    /// The reply to `request` arriving at true time `t` and the true time
    /// it leaves, or `None` if the server sends nothing. The transmit
    /// timestamp is read at `t + PROCESSING`, the reply leaves after the
    /// send delay (drawn from `rng`, which also supplies NTS nonces);
    /// `table` is this server's [`SimServer::table`]. With a `leap` second
    /// the server serves UTC and announces it during its day.
    pub fn answer(
        &self,
        request: &[u8],
        t: f64,
        leap: Option<&LeapModel>,
        credentials: &mut Credentials,
        table: Option<&InterleaveTable>,
        rng: &mut Rng,
    ) -> Option<(Vec<u8>, f64)> {
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
        let stamped = t + PROCESSING;
        let mut policy = ServerPolicy { credentials, table };
        match decide(request, &arrival, &state, &mut policy, &mut out) {
            Decision::Reply(prepared, seal) => {
                let handle = prepared.tx_handle();
                let (written, leaves) = if self.transmit_noise > 0.0 {
                    // The predicted departure: the reply leaves at `stamped`,
                    // its timestamp scatters around that.
                    (stamped + self.transmit_noise * rng.normal(), stamped)
                } else {
                    (stamped, stamped + self.draw_send_delay(rng))
                };
                let n = prepared.finish(&mut out, timestamp(utc(written)));
                let sealed = seal.seal(&mut out, n, request.len(), policy.credentials, rng).ok()?;
                if let (Some(table), Some(handle)) = (table, handle) {
                    // The kernel's transmit timestamp: when it really left.
                    table.record_transmit(handle, timestamp(utc(leaves)));
                }
                Some((out[..sealed.len()].to_vec(), leaves))
            }
            Decision::KissOfDeath { len, .. } => Some((out[..len].to_vec(), stamped)),
            // The client sends no control requests.
            Decision::Drop(_) | Decision::Control(_) => None,
        }
    }

    /// One reply's send delay: half the mean fixed, half exponential.
    fn draw_send_delay(&self, rng: &mut Rng) -> f64 {
        if self.send_delay > 0.0 {
            self.send_delay / 2.0 * (1.0 + rng.exponential())
        } else {
            0.0
        }
    }
}
