//! `[clock] discipline = "none"`: trust the host clock (seed 003 style).
//! Serve it as it is, at `[ntp_server] stratum`, with the kernel's
//! synchronisation status and maximum error as root dispersion; serve
//! leap 3 while the kernel says it is unsynchronised (STA_UNSYNC).

use ntp_proto::packet::LeapIndicator;
use ntp_proto::server::ServerState;
use ntp_proto::NtpShort;

use crate::clock::{kernel, Clock, SystemClock};
use crate::state::local::{local_refid, unsynchronised};
use crate::state::{Correction, Snapshot};

/// The snapshot for the host clock as the kernel describes it now.
pub fn snapshot(stratum: u8, precision: i8) -> Snapshot {
    let Ok(k) = kernel::read() else { return unsynchronised(precision) };
    if !k.synchronised {
        return unsynchronised(precision);
    }
    Snapshot {
        server: ServerState {
            leap: if k.leap_insert {
                LeapIndicator::Insert
            } else if k.leap_delete {
                LeapIndicator::Delete
            } else {
                LeapIndicator::NoWarning
            },
            stratum,
            precision,
            reference_id: local_refid(stratum),
            reference_time: SystemClock.now(),
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::from_seconds(k.max_error),
            dispersion_rate: ServerState::PHI,
        },
        correction: Correction::IDENTITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_kernel_sync_flag() {
        let k = kernel::read().unwrap();
        let s = snapshot(4, -20);
        assert_eq!(s.server.is_synchronised(), k.synchronised, "{k:?}");
        if k.synchronised {
            assert_eq!(s.server.stratum, 4);
        }
    }
}
