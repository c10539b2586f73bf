//! `[clock] discipline = "none"`: trust the host clock (seed 003 style).
//! Serve it as it is, at `[ntp_server] stratum`, with the kernel's
//! synchronisation status and maximum error as root dispersion; serve
//! leap 3 while the kernel says it is unsynchronised (STA_UNSYNC).

use ntp_proto::packet::LeapIndicator;
use ntp_proto::server::ServerState;
use ntp_proto::NtpShort;

use crate::clock::{kernel, SystemClock};
use crate::served::local::{local_refid, unsynchronised};
use crate::served::{Correction, Snapshot};

/// The snapshot for the host clock as the kernel describes it now.
pub fn snapshot(stratum: u8, precision: i8) -> Snapshot {
    match kernel::read() {
        Ok(k) => snapshot_of(&k, stratum, precision),
        Err(_) => unsynchronised(precision),
    }
}

/// The snapshot for a host clock in state `k`.
fn snapshot_of(k: &kernel::KernelClock, stratum: u8, precision: i8) -> Snapshot {
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

    fn kernel(synchronised: bool) -> kernel::KernelClock {
        kernel::KernelClock {
            frequency_ppm: 3.0,
            synchronised,
            max_error: 0.25,
            est_error: 0.001,
            leap_insert: false,
            leap_delete: false,
            leap_done: false,
        }
    }

    #[test]
    fn an_unsynchronised_kernel_clock_is_served_as_leap_3() {
        let s = snapshot_of(&kernel(false), 4, -20);
        assert_eq!((s.server.leap, s.server.stratum), (LeapIndicator::Unknown, 0));
        assert!(!s.server.is_synchronised());
    }

    #[test]
    fn a_synchronised_kernel_clock_is_served_with_its_error_and_leap() {
        let s = snapshot_of(&kernel(true), 4, -20);
        assert_eq!((s.server.leap, s.server.stratum, s.server.precision), (LeapIndicator::NoWarning, 4, -20));
        assert!((s.server.root_dispersion.to_seconds() - 0.25).abs() < 1e-4, "maxerror is the root dispersion");
        let k = kernel::KernelClock { leap_insert: true, ..kernel(true) };
        assert_eq!(snapshot_of(&k, 4, -20).server.leap, LeapIndicator::Insert);
        let k = kernel::KernelClock { leap_delete: true, ..kernel(true) };
        assert_eq!(snapshot_of(&k, 4, -20).server.leap, LeapIndicator::Delete);
    }

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
