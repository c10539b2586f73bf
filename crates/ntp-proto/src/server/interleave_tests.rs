//! Interleaved mode through the whole decision: the exchanges chrony's
//! `xleave` client makes, and what a spoofing client gets.

use std::net::SocketAddr;

use super::*;
use crate::packet::{Header, LeapIndicator, ReferenceId};
use crate::testing::XleavePolicy;
use crate::timestamp::{NtpShort, NtpTimestamp};

fn state() -> ServerState {
    ServerState {
        leap: LeapIndicator::NoWarning,
        stratum: 2,
        precision: -24,
        reference_id: ReferenceId::from_ascii("LOCL"),
        reference_time: NtpTimestamp::from_unix(1_800_000_000, 0),
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
        dispersion_rate: ServerState::PHI,
    }
}

fn ts(secs: i64) -> NtpTimestamp {
    NtpTimestamp::from_unix(secs, 0)
}

/// A client request with these origin, receive and transmit fields.
fn request(origin: NtpTimestamp, receive: NtpTimestamp, transmit: NtpTimestamp) -> Vec<u8> {
    let mut r = vec![0u8; 48];
    r[0] = (4 << 3) | 3;
    r[24..32].copy_from_slice(&origin.to_be_bytes());
    r[32..40].copy_from_slice(&receive.to_be_bytes());
    r[40..48].copy_from_slice(&transmit.to_be_bytes());
    r
}

/// The server's side of one exchange: the reply sent (stamped with
/// `now` unless interleaved) and, when it asked for one, the kernel
/// transmit timestamp `sent` recorded.
fn exchange(
    policy: &mut XleavePolicy,
    from: [u8; 4],
    req: &[u8],
    rx: NtpTimestamp,
    now: NtpTimestamp,
    sent: NtpTimestamp,
) -> (Header, bool) {
    let arrival = Arrival {
        source: SocketAddr::from((from, 40123)),
        receive_time: rx,
        host_secs: 0.0,
        truncated: false,
        interface: 0,
    };
    let mut out = [0u8; 1024];
    let Decision::Reply(prepared, Seal::Plain) = decide(req, &arrival, &state(), policy, &mut out) else {
        panic!("expected a plain reply");
    };
    let asked = prepared.tx_handle();
    let n = prepared.finish(&mut out, now);
    if let Some(h) = asked {
        policy.table().record_transmit(h, sent);
    }
    (Header::decode(&out[..n]).unwrap(), asked.is_some())
}

#[test]
fn an_xleave_client_gets_the_previous_replys_kernel_transmit_timestamp() {
    let mut p = XleavePolicy::new();
    let c = [192, 0, 2, 1];
    // 1: basic request (nothing to echo yet): the table is not even touched.
    let req = request(NtpTimestamp::ZERO, NtpTimestamp::ZERO, ts(10));
    let (r1, asked) = exchange(&mut p, c, &req, ts(100), ts(101), ts(102));
    assert!(!asked, "a basic client costs no transmit timestamp");
    assert_eq!((r1.origin_time, r1.receive_time, r1.transmit_time), (ts(10), ts(100), ts(101)));
    // 2: interleaved request naming reply 1, which was not remembered: basic.
    let req = request(r1.receive_time, ts(150), ts(20));
    let (r2, asked) = exchange(&mut p, c, &req, ts(200), ts(201), ts(202));
    assert!(!asked);
    assert_eq!((r2.origin_time, r2.receive_time, r2.transmit_time), (ts(20), ts(200), ts(201)), "basic");
    // 3: naming reply 2, remembered but its transmit time was not taken:
    // basic, and this reply's kernel transmit time is asked for.
    let req = request(r2.receive_time, ts(250), ts(30));
    let (r3, asked) = exchange(&mut p, c, &req, ts(300), ts(301), ts(302));
    assert!(asked);
    assert_eq!((r3.origin_time, r3.receive_time, r3.transmit_time), (ts(30), ts(300), ts(301)), "basic");
    // 4: interleaved: origin = the request's receive field, transmit = reply 3's kernel time.
    let req = request(r3.receive_time, ts(350), ts(40));
    let (r4, asked) = exchange(&mut p, c, &req, ts(400), ts(401), ts(402));
    assert!(asked);
    assert_eq!((r4.origin_time, r4.receive_time, r4.transmit_time), (ts(350), ts(400), ts(302)));
    // 5: and on.
    let req = request(r4.receive_time, ts(450), ts(50));
    let (r5, _) = exchange(&mut p, c, &req, ts(500), ts(501), ts(502));
    assert_eq!((r5.origin_time, r5.transmit_time), (ts(450), ts(402)));
}

#[test]
fn a_spoofed_origin_gets_a_basic_reply() {
    let mut p = XleavePolicy::new();
    let (victim, attacker) = ([192, 0, 2, 1], [192, 0, 2, 66]);
    let req = request(NtpTimestamp::ZERO, NtpTimestamp::ZERO, ts(10));
    let (r1, _) = exchange(&mut p, victim, &req, ts(100), ts(101), ts(102));
    let req = request(r1.receive_time, ts(150), ts(20));
    let (r2, _) = exchange(&mut p, victim, &req, ts(200), ts(201), ts(202));
    let req = request(r2.receive_time, ts(250), ts(30));
    let (r3, _) = exchange(&mut p, victim, &req, ts(300), ts(301), ts(302));
    // The attacker echoes the victim's receive timestamp.
    let req = request(r3.receive_time, ts(350), ts(40));
    let (r, asked) = exchange(&mut p, attacker, &req, ts(400), ts(401), ts(402));
    assert!(!asked);
    assert_eq!((r.origin_time, r.transmit_time), (ts(40), ts(401)), "basic, nothing of the victim's");
    // The victim is still served interleaved, with its own reply's time.
    let req = request(r3.receive_time, ts(360), ts(50));
    let (r, _) = exchange(&mut p, victim, &req, ts(500), ts(501), ts(502));
    assert_eq!((r.origin_time, r.transmit_time), (ts(360), ts(302)));
}
