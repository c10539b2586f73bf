//! Helpers for this crate's tests.

use std::net::IpAddr;

use crate::auth::SymmetricKey;
use crate::nts::cookie::CookieKeys;
use crate::packet::{LeapIndicator, ReferenceId};
use crate::server::{InterleaveTable, Policy, ServerState, Verdict};
use crate::{NtpShort, NtpTimestamp};

/// The state of a stratum-1 GPS server whose reference time is
/// `reference_time` (10 µs root dispersion, growing at the usual rate).
pub(crate) fn gps_server_state(reference_time: NtpTimestamp) -> ServerState {
    ServerState {
        leap: LeapIndicator::NoWarning,
        stratum: 1,
        precision: -23,
        reference_id: ReferenceId::from_ascii("GPS"),
        reference_time,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::from_seconds(1e-5),
        dispersion_rate: ServerState::PHI,
    }
}

/// A server policy that answers everyone and leaves every other decision
/// to the trait's defaults, optionally with an interleaved-mode table.
#[derive(Default)]
pub(crate) struct OpenPolicy(pub Option<InterleaveTable>);

/// [`OpenPolicy`] with an interleaved-mode table.
pub(crate) type XleavePolicy = OpenPolicy;

impl OpenPolicy {
    /// With a small interleaved-mode table.
    pub(crate) fn new() -> Self {
        OpenPolicy(Some(InterleaveTable::new(64, 9)))
    }

    /// The interleaved-mode table of [`Self::new`].
    pub(crate) fn table(&self) -> &InterleaveTable {
        self.0.as_ref().expect("made by OpenPolicy::new")
    }
}

impl Policy for OpenPolicy {
    fn max_request_len(&self) -> usize {
        1024
    }
    fn access(&self, _: IpAddr) -> Verdict {
        Verdict::Pass
    }
    fn rate_limit(&mut self, _: IpAddr, _: f64) -> Verdict {
        Verdict::Pass
    }
    fn must_authenticate(&self, _: IpAddr) -> bool {
        false
    }
    fn mac_key(&self, _: u32) -> Option<&SymmetricKey> {
        None
    }
    fn nts_cookie_keys(&self) -> Option<&CookieKeys> {
        None
    }
    fn interleave_table(&self) -> Option<&InterleaveTable> {
        self.0.as_ref()
    }
}

/// A deterministic stand-in for the caller's CSPRNG (an LCG).
pub(crate) struct TestRng(pub u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
