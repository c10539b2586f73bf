//! The reply itself: what the server says about itself ([`ServerState`]) and
//! the reply header written from it, with the transmit timestamp left for
//! [`PreparedReply::finish`] right before the send.

use super::interleave::TxHandle;
use super::request::{ClientRequest, DropReason};
use crate::packet::{Header, LeapIndicator, Mode, ReferenceId, HEADER_LEN};
use crate::timestamp::{NtpShort, NtpTimestamp};

/// Reference id served while unsynchronised (RFC 5905 kiss code "INIT": not
/// yet synchronised; clients ignore it as a kiss code).
pub const UNSYNCHRONISED_REFID: ReferenceId = ReferenceId(*b"INIT");

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

/// A reply whose header is written except for the transmit timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a prepared reply must be finished with the transmit timestamp"]
pub struct PreparedReply {
    len: usize,
    /// Interleaved mode: the transmit timestamp of the previous reply,
    /// written instead of the caller's.
    previous_transmit: Option<NtpTimestamp>,
    /// Interleaved mode: where the kernel transmit timestamp of this reply
    /// goes once known.
    stamp: Option<TxHandle>,
}

impl PreparedReply {
    /// A packet of just the header, written by another writer of this
    /// module (the broadcast packet).
    pub(super) fn header_only() -> PreparedReply {
        PreparedReply { len: HEADER_LEN, previous_transmit: None, stamp: None }
    }

    /// Makes this an interleaved reply carrying `previous`, the transmit
    /// timestamp of the reply before it (the origin field is the caller's).
    pub(super) fn interleaved(self, previous: NtpTimestamp) -> PreparedReply {
        PreparedReply { previous_transmit: Some(previous), ..self }
    }

    /// Asks for this reply's kernel transmit timestamp, to be recorded
    /// under `handle`.
    pub(super) fn stamped(self, handle: TxHandle) -> PreparedReply {
        PreparedReply { stamp: Some(handle), ..self }
    }

    /// True for an interleaved reply (its transmit timestamp is the
    /// previous reply's, whatever [`PreparedReply::finish`] is given).
    pub fn is_interleaved(&self) -> bool {
        self.previous_transmit.is_some()
    }

    /// Where to record this reply's kernel transmit timestamp
    /// (`InterleaveTable::record_transmit`): `Some` when the client uses
    /// interleaved mode, so the caller should ask the kernel for it.
    pub fn tx_handle(&self) -> Option<TxHandle> {
        self.stamp
    }

    /// Length of the reply in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a reply has at least a header.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the transmit timestamp (T3) into `out` — call immediately
    /// before sending — and returns the number of bytes to send. An
    /// interleaved reply gets the previous reply's transmit timestamp instead.
    pub fn finish(self, out: &mut [u8], transmit: NtpTimestamp) -> usize {
        let transmit = self.previous_transmit.unwrap_or(transmit);
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
    Ok(PreparedReply::header_only())
}
