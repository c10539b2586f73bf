//! Interleaved mode (RFC 9769) from the client's side, against this crate's
//! own server decision with its interleaved table: the server's send path
//! drops out of the measurement once the exchanges interleave.

use std::net::SocketAddr;

use super::*;
use crate::server::{decide, Arrival, Decision, ServerState};
use crate::testing::XleavePolicy;

/// The server's clock is this far ahead of the client's.
const OFFSET: f64 = 0.25;
/// One way through the network.
const ONE_WAY: f64 = 0.005;
/// The server reads its clock for T3 this long after T2 ...
const STAMP: f64 = 10e-6;
/// ... and the reply really leaves this long after T2.
const LEAVES: f64 = 60e-6;

/// Local time `s` seconds after an arbitrary epoch, to a fraction of a nanosecond.
fn ts(s: f64) -> NtpTimestamp {
    NtpTimestamp::from_bits((3_900_000_000u64 << 32) + (s * 4_294_967_296.0).round() as u64)
}

fn state() -> ServerState {
    crate::testing::gps_server_state(ts(0.0))
}

fn poller(xleave: bool) -> SourcePoller {
    let poll = PollConfig { minpoll: 0, maxpoll: 0, ..Default::default() };
    SourcePoller::new(SourceConfig { poll, xleave, ..Default::default() }, ts(0.0), 0.0)
}

/// One exchange sent at local time `at`: the request, the sample (or why
/// not). `server` is `None` for a server without interleaved mode.
fn exchange(p: &mut SourcePoller, server: Option<&mut XleavePolicy>, at: f64) -> (Vec<u8>, Result<Sample, Reject>) {
    let mut req = [0u8; 48];
    let n = p.build_request(ts(at), NtpTimestamp::from_bits(0xC00C_1E00 + at as u64), &mut req).unwrap();
    let req = &req[..n];
    let t2 = at + ONE_WAY + OFFSET;
    let arrival = Arrival {
        source: SocketAddr::from(([192, 0, 2, 7], 40000)),
        receive_time: ts(t2),
        host_secs: t2,
        truncated: false,
        interface: 0,
    };
    let mut out = [0u8; 48];
    let reply_len = match server {
        Some(policy) => {
            let Decision::Reply(prepared, _) = decide(req, &arrival, &state(), policy, &mut out) else { panic!() };
            let n = prepared.finish(&mut out, ts(t2 + STAMP));
            if let Some(h) = prepared.tx_handle() {
                policy.table().record_transmit(h, ts(t2 + LEAVES));
            }
            n
        }
        None => {
            let parsed = crate::server::parse_request(req, 40000).unwrap();
            crate::server::write_reply(&parsed, ts(t2), &state(), &mut out).unwrap().finish(&mut out, ts(t2 + STAMP))
        }
    };
    let t4 = ts(t2 + LEAVES - OFFSET + ONE_WAY);
    (req.to_vec(), p.handle_response(&out[..reply_len], t4, t4))
}

#[test]
fn interleaved_samples_measure_when_the_reply_really_left() {
    let mut server = XleavePolicy::new();
    let mut p = poller(true);
    // 1: basic; the server stamped 50 us before the reply left: offset 25 us short.
    let (req, s1) = exchange(&mut p, Some(&mut server), 0.0);
    assert_eq!(&req[24..40], &[0u8; 16], "nothing to interleave yet");
    let s1 = s1.unwrap();
    assert!(!s1.interleaved);
    assert!((s1.offset - (OFFSET - (LEAVES - STAMP) / 2.0)).abs() < 1e-8, "{}", s1.offset);
    // 2: names exchange 1, which the server did not remember (no origin): basic.
    let (req, s2) = exchange(&mut p, Some(&mut server), 1.0);
    assert_eq!(&req[24..32], &ts(ONE_WAY + OFFSET).to_be_bytes(), "origin = the server's last receive time");
    assert_eq!(&req[32..40], &ts(ONE_WAY + OFFSET + LEAVES - OFFSET + ONE_WAY).to_be_bytes(), "receive = ours");
    assert!(!s2.unwrap().interleaved);
    // 3: names exchange 2; the server has no kernel time for it: basic again.
    assert!(!exchange(&mut p, Some(&mut server), 2.0).1.unwrap().interleaved);
    // 4 and on: interleaved, completing the previous exchange: exact.
    for at in [3.0, 4.0, 5.0] {
        let (_, s) = exchange(&mut p, Some(&mut server), at);
        let s = s.unwrap();
        assert!(s.interleaved);
        assert!((s.offset - OFFSET).abs() < 1e-8, "{}", s.offset);
        assert!((s.delay - 2.0 * ONE_WAY).abs() < 1e-8, "{}", s.delay);
        // The sample is the previous exchange's.
        assert!(s.time.since(ts(at - 1.0)).to_seconds().abs() < 0.1, "{:?}", s.time);
    }
}

#[test]
fn a_server_without_interleaved_mode_gives_basic_samples() {
    let mut p = poller(true);
    for at in [0.0, 1.0, 2.0, 3.0] {
        let (_, s) = exchange(&mut p, None, at);
        let s = s.unwrap();
        assert!(!s.interleaved);
        assert!((s.offset - (OFFSET - (LEAVES - STAMP) / 2.0)).abs() < 1e-8, "{}", s.offset);
    }
}

#[test]
fn without_xleave_requests_carry_no_previous_exchange() {
    let mut server = XleavePolicy::new();
    let mut p = poller(false);
    for at in [0.0, 1.0, 2.0] {
        let (req, s) = exchange(&mut p, Some(&mut server), at);
        assert_eq!(&req[24..40], &[0u8; 16]);
        assert!(!s.unwrap().interleaved);
    }
}

#[test]
fn a_reply_echoing_neither_field_is_not_taken() {
    let mut server = XleavePolicy::new();
    let mut p = poller(true);
    exchange(&mut p, Some(&mut server), 0.0).1.unwrap();
    let mut req = [0u8; 48];
    p.build_request(ts(1.0), NtpTimestamp::from_bits(77), &mut req).unwrap();
    let parsed = crate::server::parse_request(&req, 40000).unwrap();
    let mut out = [0u8; 48];
    let n = crate::server::write_reply(&parsed, ts(1.255), &state(), &mut out).unwrap().finish(&mut out, ts(1.256));
    out[24..32].copy_from_slice(&ts(0.5).to_be_bytes());
    assert_eq!(p.handle_response(&out[..n], ts(1.01), ts(1.01)), Err(Reject::OriginMismatch));
}
