//! The broadcast server's packet (RFC 5905 mode 5): what a server sends
//! unasked to every host of a network. It carries the server's state like
//! a reply does, with no origin or receive timestamp; the transmit
//! timestamp is stamped immediately before the send
//! ([`PreparedReply::finish`]) and, with a key, a MAC follows it
//! ([`MacSeal::apply`](super::MacSeal::apply) or
//! [`SymmetricKey::append_mac`](crate::auth::SymmetricKey::append_mac)).

use super::reply::{PreparedReply, ServerState};
use crate::packet::{Header, Mode, HEADER_LEN};
use crate::timestamp::NtpTimestamp;

/// Writes a broadcast header for `state` into `out` (at least 48 bytes),
/// announcing `poll` (log2 of the broadcast interval, seconds) at `now`
/// (for the root dispersion). `None` while the server is not
/// synchronised: an unsynchronised server has nothing to broadcast.
pub fn write_broadcast(state: &ServerState, poll: i8, now: NtpTimestamp, out: &mut [u8]) -> Option<PreparedReply> {
    if !state.is_synchronised() || out.len() < HEADER_LEN {
        return None;
    }
    let header = Header {
        leap: state.leap,
        version: 4,
        mode: Mode::Broadcast,
        stratum: state.stratum,
        poll,
        precision: state.precision,
        root_delay: state.root_delay,
        root_dispersion: state.root_dispersion_at(now),
        reference_id: state.reference_id,
        reference_time: state.reference_time,
        origin_time: NtpTimestamp::ZERO,
        receive_time: NtpTimestamp::ZERO,
        transmit_time: NtpTimestamp::ZERO,
    };
    header.encode(out)?;
    Some(PreparedReply::header_only())
}

/// The poll exponent that announces an interval of `secs` seconds (the
/// nearest power of two, within NTP's 0..=17).
pub fn poll_exponent(secs: f64) -> i8 {
    if !secs.is_finite() || secs <= 1.0 {
        return 0;
    }
    secs.log2().round().clamp(0.0, 17.0) as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{check_packet_mac, KeyType, SymmetricKey};
    use crate::packet::{LeapIndicator, ReferenceId};
    use crate::NtpShort;

    fn state() -> ServerState {
        ServerState {
            leap: LeapIndicator::NoWarning,
            stratum: 2,
            precision: -20,
            reference_id: ReferenceId([192, 0, 2, 9]),
            reference_time: NtpTimestamp::from_unix(1_800_000_000, 0),
            root_delay: NtpShort::from_seconds(0.002),
            root_dispersion: NtpShort::from_seconds(0.001),
            dispersion_rate: ServerState::PHI,
        }
    }

    #[test]
    fn a_broadcast_is_mode_5_with_the_state_and_a_late_transmit_timestamp() {
        let mut out = [0u8; 128];
        let p = write_broadcast(&state(), 6, NtpTimestamp::from_unix(1_800_000_100, 0), &mut out).unwrap();
        let t3 = NtpTimestamp::from_unix(1_800_000_100, 5);
        let len = p.finish(&mut out, t3);
        let h = Header::decode(&out[..len]).unwrap();
        assert_eq!((h.mode, h.version, h.stratum, h.poll), (Mode::Broadcast, 4, 2, 6));
        assert_eq!((h.origin_time, h.receive_time, h.transmit_time), (NtpTimestamp::ZERO, NtpTimestamp::ZERO, t3));
        assert!(h.root_dispersion.to_seconds() > 0.001, "grows with the age of the reference time");
        // With a key, the MAC goes after the stamped header.
        let key = SymmetricKey::new(5, KeyType::Sha256, vec![3; 32]).unwrap();
        let n = key.append_mac(&mut out, len, key.packet_digest_len(4)).unwrap();
        assert!(check_packet_mac(&out[..n], |id| (id == 5).then_some(&key)).is_valid());
    }

    #[test]
    fn nothing_is_broadcast_while_unsynchronised() {
        let mut out = [0u8; 48];
        assert!(write_broadcast(&ServerState::unsynchronised(-20), 6, NtpTimestamp::ZERO, &mut out).is_none());
    }

    #[test]
    fn poll_exponents() {
        assert_eq!([poll_exponent(64.0), poll_exponent(2.0), poll_exponent(0.5), poll_exponent(1e9)], [6, 1, 0, 17]);
    }
}
