//! The server side of the protocol: whether and how to answer a request.
//!
//! The decision is split in three steps so the daemon can put its own checks
//! (access lists, rate limits, authentication) between them and take the
//! transmit timestamp as late as possible:
//! 1. [`parse_request`]: is this a client request we answer at all? Drops
//!    everything else with a [`DropReason`] for the counters.
//! 2. [`write_reply`]: writes the reply header, without the transmit
//!    timestamp, from the request and the published [`ServerState`].
//! 3. [`PreparedReply::finish`]: stamps the transmit timestamp right before
//!    the send.
//!
//! Nothing here answers control (mode 6) or private (mode 7) packets, and a
//! reply is never longer than its request: no amplification.

use crate::extension::Trailer;
use crate::packet::{Header, LeapIndicator, Mode, ParseError, ReferenceId, HEADER_LEN};
use crate::timestamp::{NtpShort, NtpTimestamp};

/// The NTP port; NTPv1 mode-0 requests from it are not answered (they could
/// be another server's reply and would start a loop).
pub const NTP_PORT: u16 = 123;

/// Reference id served while unsynchronised (RFC 5905 kiss code "INIT": not
/// yet synchronised; clients ignore it as a kiss code).
pub const UNSYNCHRONISED_REFID: ReferenceId = ReferenceId(*b"INIT");

/// Why a datagram was not answered. One counter each.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum DropReason {
    /// Shorter than the 48-byte header.
    TooShort,
    /// Longer than the configured maximum packet size.
    TooLong,
    /// Version 0, or above 4.
    BadVersion,
    /// Mode 6 (control, ntpq) — never answered: amplification vector.
    ControlMode,
    /// Mode 7 (private, ntpdc monlist) — never answered: amplification vector.
    PrivateMode,
    /// Any other mode that is not a client request (server, broadcast,
    /// symmetric, reserved).
    NotClientMode,
    /// Malformed extension fields or MAC.
    MalformedExtension,
    /// Source address denied by an access rule.
    Denied,
    /// Over the client's rate limit.
    RateLimited,
    /// Missing, unknown-key or bad MAC where one is required.
    AuthenticationFailed,
    /// NTS: unknown cookie, bad authenticator or missing fields.
    Nts,
    /// The reply would have been larger than the request.
    ReplyTooLarge,
}

impl DropReason {
    /// Every reason, in counter-index order.
    pub const ALL: [DropReason; 12] = [
        DropReason::TooShort,
        DropReason::TooLong,
        DropReason::BadVersion,
        DropReason::ControlMode,
        DropReason::PrivateMode,
        DropReason::NotClientMode,
        DropReason::MalformedExtension,
        DropReason::Denied,
        DropReason::RateLimited,
        DropReason::AuthenticationFailed,
        DropReason::Nts,
        DropReason::ReplyTooLarge,
    ];

    /// Number of reasons (size of a counter array).
    pub const COUNT: usize = Self::ALL.len();

    /// Index into a counter array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::TooLong => "too_long",
            DropReason::BadVersion => "bad_version",
            DropReason::ControlMode => "control_mode",
            DropReason::PrivateMode => "private_mode",
            DropReason::NotClientMode => "not_client_mode",
            DropReason::MalformedExtension => "malformed_extension",
            DropReason::Denied => "denied",
            DropReason::RateLimited => "rate_limited",
            DropReason::AuthenticationFailed => "authentication_failed",
            DropReason::Nts => "nts",
            DropReason::ReplyTooLarge => "reply_too_large",
        }
    }
}

impl From<ParseError> for DropReason {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::TooShort => DropReason::TooShort,
            ParseError::MalformedExtension => DropReason::MalformedExtension,
        }
    }
}

/// What the server says about itself in every reply: published by the
/// synchronisation side, read by the serving side.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct ServerState {
    /// Leap indicator; [`LeapIndicator::Unknown`] means unsynchronised.
    pub leap: LeapIndicator,
    /// Stratum of this server (1–15 when synchronised).
    pub stratum: u8,
    /// log2 of the clock's precision in seconds, measured at start.
    pub precision: i8,
    /// Reference identifier of the selected source.
    pub reference_id: ReferenceId,
    /// When the clock was last updated from its reference.
    pub reference_time: NtpTimestamp,
    /// Round-trip delay to the primary reference.
    pub root_delay: NtpShort,
    /// Dispersion to the primary reference at `reference_time`.
    pub root_dispersion: NtpShort,
    /// How fast dispersion grows after `reference_time`, in seconds per
    /// second (RFC 5905 PHI is 15e-6); applied per reply.
    pub dispersion_rate: f64,
}

impl ServerState {
    /// RFC 5905's PHI: frequency tolerance, 15 ppm.
    pub const PHI: f64 = 15e-6;

    /// The state of a server that has no time to give.
    pub fn unsynchronised(precision: i8) -> Self {
        ServerState {
            leap: LeapIndicator::Unknown,
            stratum: 0,
            precision,
            reference_id: UNSYNCHRONISED_REFID,
            reference_time: NtpTimestamp::ZERO,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            dispersion_rate: Self::PHI,
        }
    }

    /// True when replies carry usable time.
    pub fn is_synchronised(&self) -> bool {
        self.leap != LeapIndicator::Unknown && (1..=15).contains(&self.stratum)
    }

    /// Root dispersion as of `now`: the published value plus growth since
    /// the reference time.
    pub fn root_dispersion_at(&self, now: NtpTimestamp) -> NtpShort {
        if self.reference_time.is_zero() {
            return self.root_dispersion;
        }
        let age = now.since(self.reference_time).to_seconds().max(0.0);
        NtpShort::from_seconds(self.root_dispersion.to_seconds() + self.dispersion_rate * age)
    }
}

/// A request that passed [`parse_request`].
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    /// The decoded header.
    pub header: Header,
    /// Extension fields and MAC after the header.
    pub trailer: Trailer<'a>,
    /// Length of the whole request datagram.
    pub len: usize,
    /// The request's transmit timestamp bytes, echoed bit-exact as origin.
    pub transmit_bytes: [u8; 8],
}

/// Decides whether `data` (from UDP source port `source_port`) is a client
/// request this server answers.
pub fn parse_request(data: &[u8], source_port: u16) -> Result<ClientRequest<'_>, DropReason> {
    let header = Header::decode(data)?;
    if header.version == 0 || header.version > 4 {
        return Err(DropReason::BadVersion);
    }
    match header.mode {
        Mode::Client => {}
        // NTPv1 had no mode field: a mode-0 v1 packet is a client request,
        // unless it comes from port 123 (possibly another server's reply).
        Mode::Reserved if header.version == 1 && source_port != NTP_PORT => {}
        Mode::Control => return Err(DropReason::ControlMode),
        Mode::Private => return Err(DropReason::PrivateMode),
        _ => return Err(DropReason::NotClientMode),
    }
    let trailer = Trailer::parse(data, header.version)?;
    let mut transmit_bytes = [0u8; 8];
    transmit_bytes.copy_from_slice(&data[Header::TRANSMIT_OFFSET..HEADER_LEN]);
    Ok(ClientRequest { header, trailer, len: data.len(), transmit_bytes })
}

/// A reply whose header is written except for the transmit timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a prepared reply must be finished with the transmit timestamp"]
pub struct PreparedReply {
    len: usize,
}

impl PreparedReply {
    /// Length of the reply in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a reply has at least a header.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the transmit timestamp (T3) into `out` — call immediately
    /// before sending — and returns the number of bytes to send.
    pub fn finish(self, out: &mut [u8], transmit: NtpTimestamp) -> usize {
        out[Header::TRANSMIT_OFFSET..HEADER_LEN].copy_from_slice(&transmit.to_be_bytes());
        self.len
    }
}

/// Writes the reply to `request` into `out` (at least 48 bytes long), with
/// T2 = `receive_time` (the kernel's receive timestamp) and everything else
/// from `state`. The transmit timestamp is left for [`PreparedReply::finish`].
pub fn write_reply(
    request: &ClientRequest<'_>,
    receive_time: NtpTimestamp,
    state: &ServerState,
    out: &mut [u8],
) -> Result<PreparedReply, DropReason> {
    if request.len < HEADER_LEN || out.len() < HEADER_LEN {
        return Err(DropReason::ReplyTooLarge);
    }
    let synced = state.is_synchronised();
    let header = Header {
        leap: if synced { state.leap } else { LeapIndicator::Unknown },
        version: request.header.version,
        mode: Mode::Server,
        // RFC 5905: an unsynchronised server sends stratum 0 (MAXSTRAT on the wire).
        stratum: if synced { state.stratum } else { 0 },
        poll: request.header.poll,
        precision: state.precision,
        root_delay: state.root_delay,
        root_dispersion: state.root_dispersion_at(receive_time),
        reference_id: if synced { state.reference_id } else { UNSYNCHRONISED_REFID },
        reference_time: state.reference_time,
        origin_time: NtpTimestamp::from_be_bytes(request.transmit_bytes),
        receive_time,
        transmit_time: NtpTimestamp::ZERO,
    };
    header.encode(out).ok_or(DropReason::ReplyTooLarge)?;
    Ok(PreparedReply { len: HEADER_LEN })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extension::write_field;
    use proptest::prelude::*;

    fn state() -> ServerState {
        ServerState {
            leap: LeapIndicator::NoWarning,
            stratum: 3,
            precision: -24,
            reference_id: ReferenceId::from_ascii("LOCL"),
            reference_time: NtpTimestamp::from_unix(1_800_000_000, 0),
            root_delay: NtpShort::from_seconds(0.001),
            root_dispersion: NtpShort::from_seconds(0.002),
            dispersion_rate: ServerState::PHI,
        }
    }

    fn request(version: u8, mode: u8) -> Vec<u8> {
        let mut r = vec![0u8; 48];
        r[0] = (version << 3) | mode;
        r[2] = 10;
        r[40..48].copy_from_slice(&0xDEAD_BEEF_0123_4567u64.to_be_bytes());
        r
    }

    fn answer(req: &[u8], port: u16) -> Result<Vec<u8>, DropReason> {
        let parsed = parse_request(req, port)?;
        let mut out = [0u8; 1024];
        let rx = NtpTimestamp::from_unix(1_800_000_100, 0);
        let prepared = write_reply(&parsed, rx, &state(), &mut out)?;
        let n = prepared.finish(&mut out, NtpTimestamp::from_unix(1_800_000_100, 1000));
        Ok(out[..n].to_vec())
    }

    #[test]
    fn client_request_gets_a_server_reply() {
        let reply = answer(&request(4, 3), 40000).unwrap();
        let h = Header::decode(&reply).unwrap();
        assert_eq!(h.mode, Mode::Server);
        assert_eq!(h.version, 4);
        assert_eq!(h.stratum, 3);
        assert_eq!(h.poll, 10);
        assert_eq!(h.precision, -24);
        assert_eq!(h.reference_id, ReferenceId::from_ascii("LOCL"));
        assert_eq!(&reply[24..32], &0xDEAD_BEEF_0123_4567u64.to_be_bytes());
        assert_eq!(h.receive_time, NtpTimestamp::from_unix(1_800_000_100, 0));
        assert!(h.transmit_time > h.receive_time);
        // 2 ms + 100 s * 15 ppm = 3.5 ms, rounded up twice to the 15 us short-format step.
        let disp = h.root_dispersion.to_seconds();
        assert!((0.0035..0.00354).contains(&disp), "{disp}");
    }

    #[test]
    fn versions_are_echoed() {
        for v in 1..=4 {
            let reply = answer(&request(v, 3), 40000).unwrap();
            assert_eq!(Header::decode(&reply).unwrap().version, v);
        }
    }

    #[test]
    fn ntpv1_mode_zero_is_a_client_unless_from_port_123() {
        assert!(answer(&request(1, 0), 40000).is_ok());
        assert_eq!(answer(&request(1, 0), 123), Err(DropReason::NotClientMode));
        assert_eq!(answer(&request(2, 0), 40000), Err(DropReason::NotClientMode));
    }

    #[test]
    fn non_client_packets_are_dropped_by_reason() {
        assert_eq!(answer(&request(4, 3)[..47], 1), Err(DropReason::TooShort));
        assert_eq!(answer(&[], 1), Err(DropReason::TooShort));
        assert_eq!(answer(&request(0, 3), 1), Err(DropReason::BadVersion));
        assert_eq!(answer(&request(5, 3), 1), Err(DropReason::BadVersion));
        assert_eq!(answer(&request(7, 3), 1), Err(DropReason::BadVersion));
        assert_eq!(answer(&request(4, 6), 1), Err(DropReason::ControlMode));
        assert_eq!(answer(&request(4, 7), 1), Err(DropReason::PrivateMode));
        for mode in [1, 2, 4, 5] {
            assert_eq!(answer(&request(4, mode), 1), Err(DropReason::NotClientMode));
        }
        let mut bad = request(4, 3);
        bad.extend([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(answer(&bad, 1), Err(DropReason::MalformedExtension));
    }

    #[test]
    fn unknown_extension_fields_are_ignored_and_reply_is_not_larger() {
        let mut req = vec![0u8; 600];
        req[..48].copy_from_slice(&request(4, 3));
        let end = write_field(&mut req, 48, 0x7777, &[0x55; 500]).unwrap();
        req.truncate(end);
        let reply = answer(&req, 40000).unwrap();
        assert!(reply.len() <= req.len());
        assert_eq!(reply.len(), 48);
    }

    #[test]
    fn unsynchronised_state_is_served_as_li3_stratum0() {
        let req = request(4, 3);
        let parsed = parse_request(&req, 1).unwrap();
        let mut out = [0u8; 48];
        let st = ServerState::unsynchronised(-20);
        let n = write_reply(&parsed, NtpTimestamp::from_unix(5, 0), &st, &mut out)
            .unwrap()
            .finish(&mut out, NtpTimestamp::from_unix(5, 1));
        let h = Header::decode(&out[..n]).unwrap();
        assert_eq!(h.leap, LeapIndicator::Unknown);
        assert_eq!(h.stratum, 0);
        assert_eq!(h.reference_id, UNSYNCHRONISED_REFID);
    }

    #[test]
    fn drop_reason_indices_are_dense() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    proptest! {
        #[test]
        fn any_input_is_answered_or_dropped_without_panic(data in proptest::collection::vec(any::<u8>(), 0..700), port in any::<u16>()) {
            if let Ok(reply) = answer(&data, port) {
                prop_assert!(reply.len() <= data.len());
                prop_assert_eq!(&reply[24..32], &data[40..48]);
                let h = Header::decode(&reply).unwrap();
                prop_assert_eq!(h.mode, Mode::Server);
            }
        }
    }
}
