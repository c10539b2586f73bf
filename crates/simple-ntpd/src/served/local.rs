//! The local reference: serve this host's clock at a configured stratum, as
//! chrony's `local stratum N` does. Used when no upstream source is
//! configured (`ntp_server.stratum` is then the advertised stratum), and the
//! explicit unsynchronised state used otherwise until sources deliver time.

use ntp_proto::packet::{LeapIndicator, ReferenceId};
use ntp_proto::server::ServerState;
use ntp_proto::{NtpShort, NtpTimestamp};

use super::{Correction, Snapshot};

/// Reference id of the local clock at stratum 1, where refids are ASCII
/// clock names.
pub const LOCAL_REFID_STRATUM1: &str = "LOCL";

/// Reference id of the local clock above stratum 1, where refids read as
/// IPv4 addresses: 127.127.1.1, the traditional "local clock" address that
/// chrony and ntpd use too.
pub const LOCAL_REFID_ADDR: [u8; 4] = [127, 127, 1, 1];

/// The reference id for a local reference at `stratum`.
pub fn local_refid(stratum: u8) -> ReferenceId {
    if stratum <= 1 {
        ReferenceId::from_ascii(LOCAL_REFID_STRATUM1)
    } else {
        ReferenceId(LOCAL_REFID_ADDR)
    }
}

/// What the daemon serves when it is its own reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalReference {
    /// Advertised stratum (1–15).
    pub stratum: u8,
    /// Measured clock precision.
    pub precision: i8,
}

impl LocalReference {
    /// The snapshot to publish at `now`: reference time is now (the local
    /// clock is its own reference), root delay zero, root dispersion the
    /// clock's precision.
    pub fn snapshot(&self, now: NtpTimestamp) -> Snapshot {
        Snapshot {
            server: ServerState {
                leap: LeapIndicator::NoWarning,
                stratum: self.stratum,
                precision: self.precision,
                reference_id: local_refid(self.stratum),
                reference_time: now,
                root_delay: NtpShort::ZERO,
                root_dispersion: NtpShort::from_seconds(2f64.powi(i32::from(self.precision))),
                dispersion_rate: ServerState::PHI,
            },
            correction: Correction::IDENTITY,
        }
    }
}

/// The snapshot of a daemon that has no time to serve yet.
pub fn unsynchronised(precision: i8) -> Snapshot {
    Snapshot { server: ServerState::unsynchronised(precision), correction: Correction::IDENTITY }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_reference_is_synchronised_at_its_stratum() {
        let snap = LocalReference { stratum: 3, precision: -24 }.snapshot(NtpTimestamp::from_unix(10, 0));
        assert!(snap.server.is_synchronised());
        assert_eq!(snap.server.stratum, 3);
        assert_eq!(snap.server.reference_id.0, [127, 127, 1, 1]);
        let s1 = LocalReference { stratum: 1, precision: -24 }.snapshot(NtpTimestamp::from_unix(10, 0));
        assert_eq!(s1.server.reference_id.as_ascii(), Some("LOCL"));
        assert!(!unsynchronised(-20).server.is_synchronised());
    }
}
