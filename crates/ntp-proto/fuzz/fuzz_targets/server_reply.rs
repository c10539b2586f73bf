//! Fuzz target: the server's whole decision on arbitrary datagrams, over
//! every path — access refusals and DENY, rate limits and RATE, MAC checks
//! and MAC'd replies, NTS verification, sealed replies and NAKs. It must
//! never panic, never send more bytes than it received, and always echo
//! the request's transmit timestamp as origin — or, in interleaved mode
//! (odd source ports: the table knows this client, last answered with
//! receive timestamp 5 and sent at 9), its receive field, with T3 = 9.
#![no_main]
use std::net::{IpAddr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use ntp_proto::auth::{KeyType, SymmetricKey};
use ntp_proto::nts::cookie::CookieKeys;
use ntp_proto::packet::{LeapIndicator, ReferenceId};
use ntp_proto::server::{decide, Arrival, Decision, InterleaveTable, Policy, ServerState, Verdict};
use ntp_proto::{NtpShort, NtpTimestamp};
use rand_core::{RngCore, SeedableRng};

struct Knobs {
    access: Verdict,
    rate: Verdict,
    require_auth: bool,
    key: SymmetricKey,
    nts: Option<CookieKeys>,
    interface_served: bool,
    interleave: Option<InterleaveTable>,
}

impl Policy for Knobs {
    fn select_interface(&mut self, _: u32) -> bool {
        self.interface_served
    }
    fn max_request_len(&self) -> usize {
        1024
    }
    fn access(&self, _: IpAddr) -> Verdict {
        self.access
    }
    fn rate_limit(&mut self, _: IpAddr, _: f64) -> Verdict {
        self.rate
    }
    fn must_authenticate(&self, _: IpAddr) -> bool {
        self.require_auth
    }
    fn mac_key(&self, id: u32) -> Option<&SymmetricKey> {
        (id == self.key.id()).then_some(&self.key)
    }
    fn nts_cookie_keys(&self) -> Option<&CookieKeys> {
        self.nts.as_ref()
    }
    fn interleave_table(&self) -> Option<&InterleaveTable> {
        self.interleave.as_ref()
    }
}

fuzz_target!(|input: (u16, u8, &[u8])| {
    let (port, knobs, data) = input;
    let verdict = |k: u8| [Verdict::Pass, Verdict::Refuse, Verdict::RefuseWithKod][usize::from(k % 3)];
    let mut policy = Knobs {
        access: verdict(knobs),
        rate: verdict(knobs >> 2),
        require_auth: knobs & 0x10 != 0,
        key: SymmetricKey::new(1, KeyType::Md5, vec![7; 16]).unwrap(),
        nts: (knobs & 0x20 != 0).then(|| CookieKeys::new(0, [0x42; 64])),
        interface_served: knobs & 0xc0 != 0xc0,
        interleave: (port & 1 == 1).then(|| {
            let table = InterleaveTable::new(16, 3);
            let client = IpAddr::from([192, 0, 2, 1]);
            if let Some(h) = table.record_reply(client, NtpTimestamp::from_bits(5)) {
                table.record_transmit(h, NtpTimestamp::from_bits(9));
            }
            table
        }),
    };
    let state = ServerState {
        leap: LeapIndicator::NoWarning,
        stratum: 2,
        precision: -24,
        reference_id: ReferenceId::from_ascii("GPS"),
        reference_time: NtpTimestamp::from_bits(1 << 63),
        root_delay: NtpShort::from_bits(10),
        root_dispersion: NtpShort::from_bits(10),
        dispersion_rate: ServerState::PHI,
    };
    let arrival = Arrival {
        source: SocketAddr::from(([192, 0, 2, 1], port)),
        receive_time: NtpTimestamp::from_bits(5),
        host_secs: 1.0,
        truncated: false,
        interface: 0,
    };
    let mut out = [0u8; 2048];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(u64::from(knobs));
    let mut interleaved = false;
    let sent = match decide(data, &arrival, &state, &mut policy, &mut out) {
        Decision::Drop(_) => None,
        // From 192.0.2.1 the default policy answers no mode 6 (fuzz target mode6).
        Decision::Control(_) => panic!("a control answer for a non-loopback client"),
        Decision::KissOfDeath { len, .. } => Some(len),
        Decision::Reply(prepared, seal) => {
            interleaved = prepared.is_interleaved();
            let len = prepared.finish(&mut out, NtpTimestamp::from_bits(6));
            seal.seal(&mut out, len, data.len(), &policy, &mut rng).ok().map(|s| s.len())
        }
    };
    let _ = rng.next_u32();
    if let Some(len) = sent {
        assert!(len <= data.len());
        if interleaved {
            assert_eq!(&out[24..32], &data[32..40]);
            assert_eq!(&out[40..48], &9u64.to_be_bytes());
        } else {
            assert_eq!(&out[24..32], &data[40..48]);
        }
    }
});
