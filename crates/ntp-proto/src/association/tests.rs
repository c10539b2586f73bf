//! Tests of the association against this crate's own server decision:
//! plain, MAC and NTS exchanges, clock steps, late transmit timestamps,
//! key exchanges and refusals.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use super::*;
use crate::auth::KeyType;
use crate::nts::aead::AeadAlgorithm;
use crate::nts::cookie::CookieKeys;
use crate::packet::{LeapIndicator, ReferenceId};
use crate::server::{decide, Arrival, Decision, Policy, ServerState, Verdict};
use crate::source::{PollConfig, PollerState};
use crate::testing::TestRng;
use crate::timestamp::{NtpDuration, NtpShort};

fn ts(s: f64) -> NtpTimestamp {
    NtpTimestamp::from_bits(((3_900_000_000.0 + s) * 4_294_967_296.0) as u64)
}

/// A server: its clock runs `offset` s ahead of ours; MAC key and NTS
/// cookie keys as given.
struct Server {
    offset: f64,
    key: Option<SymmetricKey>,
    nts: Option<CookieKeys>,
    access: Verdict,
}

impl Policy for Server {
    fn max_request_len(&self) -> usize {
        2048
    }
    fn access(&self, _: IpAddr) -> Verdict {
        self.access
    }
    fn rate_limit(&mut self, _: IpAddr, _: f64) -> Verdict {
        Verdict::Pass
    }
    fn must_authenticate(&self, _: IpAddr) -> bool {
        false
    }
    fn mac_key(&self, id: u32) -> Option<&SymmetricKey> {
        self.key.as_ref().filter(|k| k.id() == id)
    }
    fn nts_cookie_keys(&self) -> Option<&CookieKeys> {
        self.nts.as_ref()
    }
}

impl Server {
    fn plain(offset: f64) -> Server {
        Server { offset, key: None, nts: None, access: Verdict::Pass }
    }

    /// The answer to `req` arriving at our local time `at`, sent 1 ms later.
    fn answer(&mut self, req: &[u8], at: f64) -> Option<Vec<u8>> {
        let state = crate::testing::gps_server_state(ts(at + self.offset - 1.0));
        let arrival = Arrival {
            source: SocketAddr::from(([192, 0, 2, 9], 40123)),
            receive_time: ts(at + self.offset),
            host_secs: at,
            truncated: false,
            interface: 0,
        };
        let mut out = [0u8; 2048];
        match decide(req, &arrival, &state, self, &mut out) {
            Decision::Reply(p, seal) => {
                let len = p.finish(&mut out, ts(at + self.offset + 0.001));
                let sealed = seal.seal(&mut out, len, req.len(), self, &mut TestRng(99)).ok()?;
                Some(out[..sealed.len()].to_vec())
            }
            Decision::KissOfDeath { len, .. } => Some(out[..len].to_vec()),
            Decision::Drop(_) | Decision::Control(_) => None,
        }
    }
}

fn config() -> SourceConfig {
    SourceConfig { poll: PollConfig { minpoll: 6, maxpoll: 6, ..PollConfig::default() }, ..SourceConfig::default() }
}

fn events(a: &mut Association) -> Vec<Event> {
    std::iter::from_fn(|| a.poll_event()).collect()
}

fn sample(a: &mut Association) -> Sample {
    match events(a).as_slice() {
        [Event::Sample(s)] => *s,
        other => panic!("expected one sample, got {other:?}"),
    }
}

/// One exchange: send at `t1`, the server answers, the reply arrives 10 ms
/// after it was sent (5 ms each way).
fn exchange(a: &mut Association, server: &mut Server, t1: f64, rng: &mut TestRng) {
    let t = a.poll_transmit(ts(t1), rng).expect("a request is due");
    let reply = server.answer(&t.payload, t1 + 0.005).expect("answered");
    a.handle_datagram(&reply, ts(t1 + 0.011), ts(t1 + 0.011));
}

#[test]
fn a_plain_exchange_measures_the_offset() {
    let mut a = Association::new(config(), ClientAuth::None, ts(0.0), 0.0);
    assert_eq!(a.poll_timeout(), Some(ts(0.0)));
    exchange(&mut a, &mut Server::plain(0.25), 0.0, &mut TestRng(1));
    let s = sample(&mut a);
    assert!((s.offset - 0.25).abs() < 1e-6, "{}", s.offset);
    assert!((s.delay - 0.010).abs() < 1e-6, "{}", s.delay);
    assert_eq!(a.status().requests, 1);
    assert!(a.poll_transmit(ts(1.0), &mut TestRng(2)).is_none(), "the next poll is 64 s away");
    assert_eq!(a.poll_timeout(), Some(ts(64.0)));
}

#[test]
fn a_clock_step_while_a_request_is_out_keeps_the_offset_right() {
    // The reply crosses a step of our clock by +0.2 s: T1 must move with it,
    // or the offset comes out 0.1 s wrong (and the delay 0.2 s).
    let mut a = Association::new(config(), ClientAuth::None, ts(0.0), 0.0);
    let mut server = Server::plain(0.25);
    let t = a.poll_transmit(ts(0.0), &mut TestRng(1)).unwrap();
    let reply = server.answer(&t.payload, 0.005).unwrap();
    a.clock_stepped(0.2);
    // Our clock now reads 0.2 s more; the server's offset to it is 0.05 s.
    a.handle_datagram(&reply, ts(0.211), ts(0.211));
    let s = sample(&mut a);
    assert!((s.offset - 0.05).abs() < 1e-6, "offset {} s: T1 not shifted with the step", s.offset);
    assert!((s.delay - 0.010).abs() < 1e-6, "delay {} s", s.delay);
}

#[test]
fn a_transmit_timestamp_learnt_after_the_send_replaces_t1() {
    let mut a = Association::new(config(), ClientAuth::None, ts(0.0), 0.0);
    let mut server = Server::plain(0.0);
    let t = a.poll_transmit(ts(0.0), &mut TestRng(1)).unwrap();
    // The datagram really left 2 ms after the request was built.
    assert!(!a.handle_transmit_timestamp(NtpTimestamp::from_bits(t.origin.to_bits() ^ 1), ts(0.002)));
    assert!(a.handle_transmit_timestamp(t.origin, ts(0.002)));
    let reply = server.answer(&t.payload, 0.007).unwrap();
    a.handle_datagram(&reply, ts(0.013), ts(0.013));
    let s = sample(&mut a);
    assert!((s.delay - 0.010).abs() < 1e-6, "delay {} s measured from the real T1", s.delay);
    assert!(!a.handle_transmit_timestamp(t.origin, ts(0.003)), "answered: nothing outstanding");
}

#[test]
fn mac_requests_carry_the_key_and_unauthenticated_replies_are_ignored() {
    let key = SymmetricKey::new(4, KeyType::Aes128, vec![8; 16]).unwrap();
    let mut a = Association::new(config(), ClientAuth::Mac(key.clone()), ts(0.0), 0.0);
    let mut server = Server { key: Some(key.clone()), ..Server::plain(0.1) };
    let t = a.poll_transmit(ts(0.0), &mut TestRng(1)).unwrap();
    assert_eq!(t.payload.len(), 48 + 4 + 16);
    assert!(check_packet_mac(&t.payload, |_| Some(&key)).is_valid());
    let reply = server.answer(&t.payload, 0.005).unwrap();
    // The same reply stripped of its MAC (a spoofer without the key).
    a.handle_datagram(&reply[..48], ts(0.011), ts(0.011));
    assert_eq!(events(&mut a), [Event::Rejected(Reject::Unauthenticated)]);
    // The real one still counts: the request stayed outstanding.
    a.handle_datagram(&reply, ts(0.011), ts(0.011));
    assert!((sample(&mut a).offset - 0.1).abs() < 1e-6);
    assert_eq!(a.status().rejected, 1);
}

fn nts_setup(server_keys: &CookieKeys) -> (SessionKeys, Vec<Vec<u8>>) {
    let aead = AeadAlgorithm::AesSivCmac256;
    let session = SessionKeys { aead, c2s: vec![1; aead.key_len()], s2c: vec![2; aead.key_len()] };
    let cookies = (0..JAR_SIZE as u8).map(|i| server_keys.seal(&session, &[i; 16]).unwrap()).collect();
    (session, cookies)
}

#[test]
fn nts_keeps_its_jar_full_and_renews_on_a_nak() {
    let cookie_keys = CookieKeys::new(1, [5; 64]);
    let (session, cookies) = nts_setup(&cookie_keys);
    let jar = CookieJar::new(session.clone(), cookies);
    let mut a = Association::new(config(), ClientAuth::Nts(jar), ts(0.0), 0.0);
    let mut server = Server { nts: Some(cookie_keys), ..Server::plain(0.3) };
    let mut rng = TestRng(7);
    for i in 0..20 {
        exchange(&mut a, &mut server, f64::from(i) * 64.0, &mut rng);
        assert!((sample(&mut a).offset - 0.3).abs() < 1e-6);
    }
    // The server forgets its cookie keys: the next reply is a NAK.
    server.nts = Some(CookieKeys::new(2, [6; 64]));
    exchange(&mut a, &mut server, 20.0 * 64.0, &mut rng);
    assert_eq!(
        events(&mut a),
        [Event::KeyExchangeNeeded(RekeyReason::Nak), Event::Rejected(Reject::Nts(NtsError::ReceivedNak))]
    );
    // Nothing is sent, and nothing keeps the caller busy, until new keys come.
    assert!(a.awaiting_keys());
    assert!(a.poll_transmit(ts(30.0 * 64.0), &mut rng).is_none());
    a.handle_timeout(ts(30.0 * 64.0));
    assert_eq!(a.poll_timeout(), None);
    let (session, cookies) = nts_setup(server.nts.as_ref().unwrap());
    a.set_nts_session(session, cookies);
    exchange(&mut a, &mut server, 30.0 * 64.0, &mut rng);
    assert!((sample(&mut a).offset - 0.3).abs() < 1e-6);
}

#[test]
fn a_poll_that_cannot_be_protected_is_not_counted_as_sent() {
    // An NTS session whose cookies are used up: the due poll must not shift
    // the reach register or count as a request.
    let cookie_keys = CookieKeys::new(1, [5; 64]);
    let (session, _) = nts_setup(&cookie_keys);
    let mut a = Association::new(config(), ClientAuth::Nts(CookieJar::new(session, Vec::new())), ts(0.0), 0.0);
    assert!(a.poll_transmit(ts(0.0), &mut TestRng(1)).is_none());
    assert_eq!(events(&mut a), [Event::KeyExchangeNeeded(RekeyReason::CookiesUsedUp)]);
    let status = a.status();
    assert_eq!((status.requests, status.reach.sent()), (0, 0), "a request that never left was counted");
    // Asked again: still nothing, and the event is not repeated.
    assert!(a.poll_transmit(ts(1.0), &mut TestRng(2)).is_none());
    assert!(events(&mut a).is_empty());
}

#[test]
fn a_deny_kiss_demobilises_once() {
    let mut a = Association::new(config(), ClientAuth::None, ts(0.0), 0.0);
    let mut server = Server { access: Verdict::RefuseWithKod, ..Server::plain(0.0) };
    exchange(&mut a, &mut server, 0.0, &mut TestRng(1));
    assert_eq!(events(&mut a), [Event::Demobilised(KissCode::Deny)]);
    assert!(matches!(a.status().state, PollerState::Demobilised(KissCode::Deny)));
    assert_eq!(a.poll_timeout(), None);
    assert!(a.poll_transmit(ts(1000.0), &mut TestRng(2)).is_none());
}

#[test]
fn a_late_reply_after_the_timeout_is_rejected() {
    let mut a = Association::new(config(), ClientAuth::None, ts(0.0), 0.0);
    let t = a.poll_transmit(ts(0.0), &mut TestRng(1)).unwrap();
    let deadline = a.poll_timeout().unwrap();
    assert!(deadline.since(ts(0.0)).to_seconds() > 0.0 && deadline.since(ts(0.0)).to_seconds() < 64.0);
    a.handle_timeout(deadline + NtpDuration::from_seconds(0.001));
    let reply = Server::plain(0.0).answer(&t.payload, 3.0).unwrap();
    a.handle_datagram(&reply, ts(3.01), ts(3.01));
    assert_eq!(events(&mut a), [Event::Rejected(Reject::NoRequestOutstanding)]);
}

proptest! {
    #[test]
    fn forged_datagrams_never_become_samples(data in proptest::collection::vec(any::<u8>(), 0..400), seed in any::<u64>()) {
        let key = SymmetricKey::new(4, KeyType::Sha1, vec![8; 20]).unwrap();
        let cookie_keys = CookieKeys::new(1, [5; 64]);
        let (session, cookies) = nts_setup(&cookie_keys);
        for auth in [ClientAuth::Mac(key), ClientAuth::Nts(CookieJar::new(session, cookies))] {
            let mut a = Association::new(config(), auth, ts(0.0), 0.0);
            let t = a.poll_transmit(ts(0.0), &mut TestRng(seed)).unwrap();
            // Even with our origin echoed, a forger without the keys gets nowhere.
            let mut d = data.clone();
            if d.len() >= 32 {
                d[24..32].copy_from_slice(&t.origin.to_be_bytes());
            }
            a.handle_datagram(&d, ts(0.01), ts(0.01));
            a.handle_datagram(&data, ts(0.01), ts(0.01));
            prop_assert!(events(&mut a).iter().all(|e| !matches!(e, Event::Sample(_) | Event::Demobilised(_))));
        }
    }
}

/// A broadcast of a server `offset` s ahead of us, sent at our local time
/// `at` (its T3 is `at + offset`), with an optional MAC.
fn broadcast_packet(offset: f64, at: f64, key: Option<&SymmetricKey>) -> Vec<u8> {
    let state = ServerState {
        leap: LeapIndicator::NoWarning,
        stratum: 2,
        precision: -23,
        reference_id: ReferenceId([192, 0, 2, 9]),
        reference_time: ts(at + offset - 1.0),
        root_delay: NtpShort::from_seconds(0.001),
        root_dispersion: NtpShort::from_seconds(1e-4),
        dispersion_rate: ServerState::PHI,
    };
    let mut out = [0u8; 128];
    let p = crate::server::broadcast::write_broadcast(&state, 4, ts(at + offset), &mut out).unwrap();
    let mut len = p.finish(&mut out, ts(at + offset));
    if let Some(k) = key {
        len = k.append_mac(&mut out, len, k.packet_digest_len(4)).unwrap();
    }
    out[..len].to_vec()
}

#[test]
fn a_broadcast_client_calibrates_then_follows_broadcasts() {
    let key = SymmetricKey::new(3, KeyType::Sha256, vec![5; 32]).unwrap();
    let mut server = Server { offset: 0.25, key: Some(key.clone()), nts: None, access: Verdict::Pass };
    let calibration = SourceConfig { poll: PollConfig { minpoll: 0, maxpoll: 0, ..PollConfig::default() }, ..config() };
    let mut a = Association::broadcast_client(calibration, ClientAuth::Mac(key.clone()), ts(0.0));
    let rng = &mut TestRng(5);
    // Nothing is sent before a broadcast is heard.
    assert_eq!(a.poll_transmit(ts(0.0), rng), None);
    assert_eq!(a.broadcast_phase(), Some(BroadcastPhase::Listening));
    // A broadcast without the key's MAC is refused and does not start anything.
    a.handle_datagram(&broadcast_packet(0.25, 1.0, None), ts(1.005), ts(1.005));
    assert!(matches!(events(&mut a).as_slice(), [Event::Rejected(Reject::Unauthenticated)]));
    assert_eq!(a.broadcast_phase(), Some(BroadcastPhase::Listening));
    // The first authentic broadcast starts the calibration: client/server exchanges.
    a.handle_datagram(&broadcast_packet(0.25, 2.0, Some(&key)), ts(2.005), ts(2.005));
    assert!(events(&mut a).is_empty());
    assert_eq!(a.broadcast_phase(), Some(BroadcastPhase::Calibrating));
    let mut t = 2.01;
    while a.broadcast_phase() == Some(BroadcastPhase::Calibrating) {
        assert!(t < 20.0, "calibration never ended");
        a.handle_timeout(ts(t));
        if a.poll_timeout().is_some_and(|due| ts(t).since(due).to_bits() >= 0) {
            exchange(&mut a, &mut server, t, rng);
            let s = sample(&mut a);
            assert!((s.offset - 0.25).abs() < 1e-6 && (s.delay - 0.010).abs() < 1e-6, "{s:?}");
        }
        t += 0.25;
    }
    assert_eq!(a.broadcast_phase(), Some(BroadcastPhase::Following));
    // Then only broadcasts: nothing more is sent, each broadcast (5 ms on
    // the way, half the calibrated round trip) is a sample of the true offset.
    for i in 0..5 {
        let at = 30.0 + 16.0 * f64::from(i);
        a.handle_timeout(ts(at));
        assert_eq!(a.poll_transmit(ts(at), rng), None);
        a.handle_datagram(&broadcast_packet(0.25, at, Some(&key)), ts(at + 0.005), ts(at + 0.005));
        let s = sample(&mut a);
        assert!((s.offset - 0.25).abs() < 1e-6, "broadcast {i}: offset {}", s.offset);
        assert!((s.delay - 0.010).abs() < 1e-6 && s.poll == 4 && s.stratum == 2, "{s:?}");
    }
    assert_eq!(a.poll(), 4);
    assert!(a.reach().is_reachable());
    // A replayed broadcast is refused.
    a.handle_datagram(&broadcast_packet(0.25, 94.0, Some(&key)), ts(110.0), ts(110.0));
    assert!(matches!(events(&mut a).as_slice(), [Event::Rejected(Reject::OriginMismatch)]));
    // A server that falls silent becomes unreachable, one interval after another.
    a.handle_timeout(ts(94.0 + 16.0 * 9.0));
    assert_eq!(a.reach().bits(), 0);
    // A clock step moves the schedule with it.
    let due = a.poll_timeout().unwrap();
    a.clock_stepped(2.0);
    assert_eq!(a.poll_timeout().unwrap(), due + NtpDuration::from_seconds(2.0));
}

#[test]
fn a_broadcast_client_whose_server_does_not_answer_follows_with_the_default_delay() {
    let calibration = SourceConfig { poll: PollConfig { minpoll: 0, maxpoll: 0, ..PollConfig::default() }, ..config() };
    let mut a = Association::broadcast_client(calibration, ClientAuth::None, ts(0.0));
    let rng = &mut TestRng(6);
    a.handle_datagram(&broadcast_packet(-0.1, 1.0, None), ts(1.0), ts(1.0));
    let mut t = 1.0;
    let mut sent = 0;
    while a.broadcast_phase() == Some(BroadcastPhase::Calibrating) {
        assert!(t < 60.0, "calibration never gave up");
        a.handle_timeout(ts(t));
        while a.poll_transmit(ts(t), rng).is_some() {
            sent += 1;
        }
        t += 0.5;
    }
    assert_eq!(sent, broadcast::CALIBRATION_REQUESTS);
    a.handle_datagram(&broadcast_packet(-0.1, 70.0, None), ts(70.002), ts(70.002));
    let s = sample(&mut a);
    assert!((s.delay - broadcast::DEFAULT_DELAY).abs() < 1e-9);
    assert!((s.offset - (-0.1 - 0.002 + broadcast::DEFAULT_DELAY / 2.0)).abs() < 1e-6, "{}", s.offset);
}
