//! Fuzz target: control (mode 6) requests through the whole path — the
//! server decision routes them (allowed, refused, rate limited), the request
//! is parsed, and the answer is built from a snapshot with a fuzzed number
//! of associations. It must never panic; every datagram sent is a mode 6
//! response with the request's sequence number, at most 12 + 468 bytes,
//! padded to 4 and no more; fragments continue each other and only the
//! last lacks the more bit.
#![no_main]
use std::net::{IpAddr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use ntp_proto::auth::SymmetricKey;
use ntp_proto::control::{
    respond, ClockSource, ControlSnapshot, PeerVariables, Response, Selection, SystemVariables,
};
use ntp_proto::nts::cookie::CookieKeys;
use ntp_proto::packet::LeapIndicator;
use ntp_proto::server::{decide, Arrival, Decision, Policy, ServerState, Verdict};
use ntp_proto::NtpTimestamp;

struct Knobs {
    allowed: bool,
    rate: Verdict,
}

impl Policy for Knobs {
    fn max_request_len(&self) -> usize {
        1024
    }
    fn access(&self, _: IpAddr) -> Verdict {
        Verdict::Pass
    }
    fn rate_limit(&mut self, _: IpAddr, _: f64) -> Verdict {
        self.rate
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
    fn control_allowed(&self, _: IpAddr) -> bool {
        self.allowed
    }
}

fn snapshot(peers: u8, long: bool) -> ControlSnapshot {
    let name = if long { "x".repeat(300) } else { "simple-ntpd".into() };
    ControlSnapshot {
        system: SystemVariables {
            version: name.clone(),
            leap: LeapIndicator::Insert,
            stratum: 3,
            precision: -20,
            root_delay: 0.01,
            root_dispersion: 0.02,
            reference_id: "192.0.2.7".into(),
            reference_time: NtpTimestamp::from_bits(1 << 63),
            clock: NtpTimestamp::from_bits((1 << 63) + 99),
            clock_source: ClockSource::Ntp,
            peer: 1,
            poll: 6,
            offset: -1e-4,
            frequency_ppm: 3.0,
            jitter: 1e-5,
            tai: Some(37),
            next_leap: Some(3_692_217_600),
            leap_expires: Some(3_991_593_600),
        },
        peers: (1..=u16::from(peers))
            .map(|i| PeerVariables {
                association_id: i,
                selection: Selection::Candidate,
                authenticated: i % 2 == 0,
                reach: i as u8,
                address: (i % 3 != 0).then(|| SocketAddr::from(([192, 0, 2, i as u8], 123))),
                host: name.clone(),
                refclock: i % 3 == 0,
                stratum: 1,
                reference_id: (i % 5 != 0).then(|| "GPS".to_owned()),
                poll: 6,
                offset: f64::from(i) * 1e-6,
                delay: 1e-3,
                jitter: 1e-5,
                last_response: (i % 4 != 0).then(|| NtpTimestamp::from_bits(1 << 63)),
            })
            .collect(),
    }
}

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (knobs, peers, data) = input;
    let mut policy = Knobs {
        allowed: knobs & 1 != 0,
        rate: if knobs & 2 != 0 { Verdict::Pass } else { Verdict::RefuseWithKod },
    };
    let arrival = Arrival {
        source: SocketAddr::from(([127, 0, 0, 1], 40_000)),
        receive_time: NtpTimestamp::from_bits(5),
        host_secs: 1.0,
        truncated: false,
        interface: 0,
    };
    let mut out = [0u8; 2048];
    let Decision::Control(request) =
        decide(data, &arrival, &ServerState::unsynchronised(-20), &mut policy, &mut out)
    else {
        return;
    };
    assert!(policy.allowed && policy.rate == Verdict::Pass, "answered only when allowed and within the rate");
    let response = respond(&request, &snapshot(peers, knobs & 4 != 0));
    let datagrams: Vec<&[u8]> = response.datagrams().collect();
    let mut expect_offset = 0usize;
    for (i, d) in datagrams.iter().enumerate() {
        assert!(d.len() >= 12 && d.len() <= 12 + 468);
        assert_eq!(d.len() % 4, 0);
        assert_eq!(d[0] & 0x07, 6);
        assert_eq!(d[1] & 0x80, 0x80);
        assert_eq!(&d[2..4], &data[2..4]);
        let count = usize::from(u16::from_be_bytes([d[10], d[11]]));
        assert_eq!(d.len(), (12 + count).div_ceil(4) * 4, "no padding beyond 4");
        if let Response::Data(_) = response {
            assert_eq!(usize::from(u16::from_be_bytes([d[8], d[9]])), expect_offset);
            assert_eq!(d[1] & 0x20 != 0, i + 1 < datagrams.len());
            expect_offset += count;
        }
    }
});
