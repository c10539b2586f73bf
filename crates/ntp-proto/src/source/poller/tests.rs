//! Tests of the source poller against replies written by this crate's own
//! server and KoD code.

use super::*;
use crate::kod::write_kod;
use crate::server::{parse_request, write_reply, ServerState};
use crate::source::PollConfig;
use proptest::prelude::*;

fn ts(s: f64) -> NtpTimestamp {
    NtpTimestamp::from_bits(((3_900_000_000.0 + s) * 4_294_967_296.0) as u64)
}

fn server_state() -> ServerState {
    crate::testing::gps_server_state(ts(0.0))
}

/// The server's reply to `req`, received at server time `t2`, sent at `t3`.
fn answer(req: &[u8], t2: NtpTimestamp, t3: NtpTimestamp, state: &ServerState) -> Vec<u8> {
    let parsed = parse_request(req, 40000).unwrap();
    let mut out = [0u8; 48];
    let n = write_reply(&parsed, t2, state, &mut out).unwrap().finish(&mut out, t3);
    out[..n].to_vec()
}

fn kod(req: &[u8], code: KissCode, poll: i8) -> Vec<u8> {
    let mut req = req.to_vec();
    req[2] = poll as u8;
    let parsed = parse_request(&req, 40000).unwrap();
    let mut out = [0u8; 48];
    let n = write_kod(&parsed, code, -20, ts(1.0), &mut out).unwrap();
    out[..n].to_vec()
}

fn poller(iburst: bool) -> SourcePoller {
    SourcePoller::new(
        SourceConfig { poll: PollConfig { iburst, ..Default::default() }, ..Default::default() },
        ts(0.0),
        0.0,
    )
}

fn request(p: &mut SourcePoller, now: f64, cookie: u64) -> Vec<u8> {
    let mut buf = [0u8; 48];
    let n = p.build_request(ts(now), NtpTimestamp::from_bits(cookie), &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn exchange_yields_a_sample_once() {
    let mut p = poller(false);
    assert_eq!(p.next_poll_at(), Some(ts(0.0)));
    let req = request(&mut p, 0.0, 0xABCD);
    // Server 0.25 s ahead, 5 ms each way.
    let reply = answer(&req, ts(0.255), ts(0.2551), &server_state());
    let s = p.handle_response(&reply, ts(0.0101), ts(0.0101)).unwrap();
    assert!((s.offset - 0.25).abs() < 1e-6, "{}", s.offset);
    assert!((s.delay - 0.010).abs() < 1e-6, "{}", s.delay);
    assert_eq!(s.stratum, 1);
    assert_eq!(s.filter.samples, 1);
    assert!(p.reach().is_reachable());
    assert_eq!(p.handle_response(&reply, ts(0.0102), ts(0.0102)), Err(Reject::NoRequestOutstanding));
    assert_eq!(p.next_poll_at(), Some(ts(64.0)));
}

#[test]
fn spoofed_reply_does_not_cancel_the_real_one() {
    let mut p = poller(false);
    let req = request(&mut p, 0.0, 0x1111);
    let mut forged = answer(&req, ts(0.5), ts(0.5), &server_state());
    forged[24..32].copy_from_slice(&0x2222u64.to_be_bytes());
    assert_eq!(p.handle_response(&forged, ts(0.01), ts(0.01)), Err(Reject::OriginMismatch));
    let real = answer(&req, ts(0.005), ts(0.005), &server_state());
    assert!(p.handle_response(&real, ts(0.01), ts(0.01)).is_ok());
    assert_eq!(p.status().rejected, 1);
}

#[test]
fn unsynchronised_server_is_rejected() {
    let mut p = poller(false);
    let req = request(&mut p, 0.0, 7);
    let reply = answer(&req, ts(0.005), ts(0.005), &ServerState::unsynchronised(-20));
    assert!(matches!(p.handle_response(&reply, ts(0.01), ts(0.01)), Err(Reject::UnknownKiss(_))));
    let mut st = server_state();
    st.stratum = 16;
    let req = request(&mut p, 64.0, 8);
    let reply = answer(&req, ts(64.005), ts(64.005), &st);
    // write_reply serves stratum 16 as unsynchronised: leap 3 stratum 0.
    assert!(p.handle_response(&reply, ts(64.01), ts(64.01)).is_err());
    assert!(!p.reach().is_reachable());
}

#[test]
fn rate_kiss_backs_off_and_deny_demobilises() {
    let mut p = poller(true);
    let req = request(&mut p, 0.0, 9);
    assert_eq!(
        p.handle_response(&kod(&req, KissCode::Rate, 10), ts(0.01), ts(0.01)),
        Err(Reject::Kiss(KissCode::Rate))
    );
    assert!(p.poll() >= 10, "poll {}", p.poll());
    assert!(p.next_poll_at().unwrap() >= ts(1024.0));
    assert!(!p.status().in_burst);

    let req = request(&mut p, 2000.0, 10);
    let deny = kod(&req, KissCode::Deny, 6);
    assert_eq!(p.handle_response(&deny, ts(2000.01), ts(2000.01)), Err(Reject::Kiss(KissCode::Deny)));
    assert_eq!(p.next_poll_at(), None);
    assert_eq!(p.status().state, PollerState::Demobilised(KissCode::Deny));
    assert!(p.build_request(ts(3000.0), NtpTimestamp::from_bits(1), &mut [0u8; 48]).is_none());
    assert_eq!(p.status().kisses, 2);
}

#[test]
fn rstr_demobilises_too() {
    let mut p = poller(false);
    let req = request(&mut p, 0.0, 11);
    let _ = p.handle_response(&kod(&req, KissCode::Restricted, 6), ts(0.01), ts(0.01));
    assert_eq!(p.next_poll_at(), None);
}

#[test]
fn late_reply_after_timeout_is_rejected() {
    let mut p = poller(false);
    let req = request(&mut p, 0.0, 12);
    assert_eq!(p.timeout_at(), Some(ts(2.0)));
    p.handle_timeout(ts(1.0));
    assert!(p.timeout_at().is_some());
    p.handle_timeout(ts(2.5));
    let reply = answer(&req, ts(0.005), ts(0.005), &server_state());
    assert_eq!(p.handle_response(&reply, ts(3.0), ts(3.0)), Err(Reject::NoRequestOutstanding));
}

#[test]
fn unreachable_source_backs_off_bursts_and_recovers_at_minpoll() {
    let mut p = poller(false);
    let mut now = 0.0;
    for _ in 0..4 {
        request(&mut p, now, 1);
        now = p.next_poll_at().unwrap().since(ts(0.0)).to_seconds();
    }
    assert!(p.reach().is_unreachable());
    let req = request(&mut p, now, 99);
    assert_eq!(p.poll(), 7, "backs off while unreachable");
    let reply = answer(&req, ts(now + 0.005), ts(now + 0.005), &server_state());
    p.handle_response(&reply, ts(now + 0.01), ts(now + 0.01)).unwrap();
    assert_eq!(p.poll(), 6);
    assert_eq!(p.next_poll_at(), Some(ts(now + 0.01 + 64.0)));
}

#[test]
fn engine_advice_moves_the_poll_one_step_per_request() {
    let mut p = poller(false);
    p.advise_poll(9);
    for want in [7, 8, 9, 9] {
        let now = p.next_poll_at().unwrap().since(ts(0.0)).to_seconds();
        let req = request(&mut p, now, 5);
        let reply = answer(&req, ts(now + 0.001), ts(now + 0.001), &server_state());
        p.handle_response(&reply, ts(now + 0.002), ts(now + 0.002)).unwrap();
        assert_eq!(p.poll(), want);
    }
}

#[test]
fn clock_step_shifts_schedule_and_t1() {
    let mut p = poller(false);
    request(&mut p, 0.0, 3);
    p.clock_stepped(0.5);
    assert_eq!(p.transmit_time(), Some(ts(0.5)));
    assert_eq!(p.next_poll_at(), Some(ts(64.5)));
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100), cookie in any::<u64>()) {
        let mut p = poller(true);
        let _ = request(&mut p, 0.0, cookie);
        let mut d = data.clone();
        if d.len() >= 32 {
            d[24..32].copy_from_slice(&cookie.to_be_bytes());
        }
        let _ = p.handle_response(&d, ts(0.01), ts(0.01));
        let _ = p.handle_response(&data, ts(0.01), ts(0.01));
    }
}
