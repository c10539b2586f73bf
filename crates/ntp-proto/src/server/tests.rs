//! Tests of the server side: parsing, replies and the whole decision.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use super::*;
use crate::auth::{check_packet_mac, KeyType, MacCheck, SymmetricKey};
use crate::extension::write_field;
use crate::kod::KissCode;
use crate::nts::aead::AeadAlgorithm;
use crate::nts::cookie::{CookieKeys, SessionKeys};
use crate::nts::ef::{client_request, client_verify_reply, NtsError};
use crate::packet::{Header, LeapIndicator, Mode, ReferenceId};
use crate::testing::TestRng;
use crate::timestamp::{NtpShort, NtpTimestamp};

fn state() -> ServerState {
    ServerState {
        leap: LeapIndicator::NoWarning,
        stratum: 3,
        precision: -24,
        reference_id: ReferenceId::from_ascii("LOCL"),
        reference_time: NtpTimestamp::from_unix(1_800_000_000, 0),
        root_delay: NtpShort::from_seconds(0.001),
        root_dispersion: NtpShort::from_seconds(0.002),
        dispersion_rate: ServerState::PHI,
    }
}

fn request(version: u8, mode: u8) -> Vec<u8> {
    let mut r = vec![0u8; 48];
    r[0] = (version << 3) | mode;
    r[2] = 10;
    r[40..48].copy_from_slice(&0xDEAD_BEEF_0123_4567u64.to_be_bytes());
    r
}

fn answer(req: &[u8], port: u16) -> Result<Vec<u8>, DropReason> {
    let parsed = parse_request(req, port)?;
    let mut out = [0u8; 1024];
    let rx = NtpTimestamp::from_unix(1_800_000_100, 0);
    let prepared = write_reply(&parsed, rx, &state(), &mut out)?;
    let n = prepared.finish(&mut out, NtpTimestamp::from_unix(1_800_000_100, 1000));
    Ok(out[..n].to_vec())
}

#[test]
fn client_request_gets_a_server_reply() {
    let reply = answer(&request(4, 3), 40000).unwrap();
    let h = Header::decode(&reply).unwrap();
    assert_eq!(h.mode, Mode::Server);
    assert_eq!(h.version, 4);
    assert_eq!(h.stratum, 3);
    assert_eq!(h.poll, 10);
    assert_eq!(h.precision, -24);
    assert_eq!(h.reference_id, ReferenceId::from_ascii("LOCL"));
    assert_eq!(&reply[24..32], &0xDEAD_BEEF_0123_4567u64.to_be_bytes());
    assert_eq!(h.receive_time, NtpTimestamp::from_unix(1_800_000_100, 0));
    assert!(h.transmit_time > h.receive_time);
    // 2 ms + 100 s * 15 ppm = 3.5 ms, rounded up twice to the 15 us short-format step.
    let disp = h.root_dispersion.to_seconds();
    assert!((0.0035..0.00354).contains(&disp), "{disp}");
}

#[test]
fn versions_are_echoed() {
    for v in 1..=4 {
        let reply = answer(&request(v, 3), 40000).unwrap();
        assert_eq!(Header::decode(&reply).unwrap().version, v);
    }
}

#[test]
fn ntpv1_mode_zero_is_a_client_unless_from_port_123() {
    assert!(answer(&request(1, 0), 40000).is_ok());
    assert_eq!(answer(&request(1, 0), 123), Err(DropReason::NotClientMode));
    assert_eq!(answer(&request(2, 0), 40000), Err(DropReason::NotClientMode));
}

#[test]
fn non_client_packets_are_dropped_by_reason() {
    assert_eq!(answer(&request(4, 3)[..47], 1), Err(DropReason::TooShort));
    assert_eq!(answer(&[], 1), Err(DropReason::TooShort));
    assert_eq!(answer(&request(0, 3), 1), Err(DropReason::BadVersion));
    assert_eq!(answer(&request(5, 3), 1), Err(DropReason::BadVersion));
    assert_eq!(answer(&request(7, 3), 1), Err(DropReason::BadVersion));
    assert_eq!(answer(&request(4, 6), 1), Err(DropReason::ControlMode));
    assert_eq!(answer(&request(4, 7), 1), Err(DropReason::PrivateMode));
    for mode in [1, 2, 4, 5] {
        assert_eq!(answer(&request(4, mode), 1), Err(DropReason::NotClientMode));
    }
    let mut bad = request(4, 3);
    bad.extend([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(answer(&bad, 1), Err(DropReason::MalformedExtension));
}

#[test]
fn unknown_extension_fields_are_ignored_and_reply_is_not_larger() {
    let mut req = vec![0u8; 600];
    req[..48].copy_from_slice(&request(4, 3));
    let end = write_field(&mut req, 48, 0x7777, &[0x55; 500]).unwrap();
    req.truncate(end);
    let reply = answer(&req, 40000).unwrap();
    assert!(reply.len() <= req.len());
    assert_eq!(reply.len(), 48);
}

#[test]
fn unsynchronised_state_is_served_as_li3_stratum0() {
    let req = request(4, 3);
    let parsed = parse_request(&req, 1).unwrap();
    let mut out = [0u8; 48];
    let st = ServerState::unsynchronised(-20);
    let n = write_reply(&parsed, NtpTimestamp::from_unix(5, 0), &st, &mut out)
        .unwrap()
        .finish(&mut out, NtpTimestamp::from_unix(5, 1));
    let h = Header::decode(&out[..n]).unwrap();
    assert_eq!(h.leap, LeapIndicator::Unknown);
    assert_eq!(h.stratum, 0);
    assert_eq!(h.reference_id, UNSYNCHRONISED_REFID);
}

#[test]
fn drop_reason_indices_are_dense() {
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
}

proptest! {
    #[test]
    fn any_input_is_answered_or_dropped_without_panic(data in proptest::collection::vec(any::<u8>(), 0..700), port in any::<u16>()) {
        if let Ok(reply) = answer(&data, port) {
            prop_assert!(reply.len() <= data.len());
            prop_assert_eq!(&reply[24..32], &data[40..48]);
            let h = Header::decode(&reply).unwrap();
            prop_assert_eq!(h.mode, Mode::Server);
        }
    }
}

/// A policy with every knob a test needs; it records the rate-limit calls.
struct TestPolicy {
    max_len: usize,
    access: Verdict,
    rate: Verdict,
    require_auth: bool,
    key: Option<SymmetricKey>,
    nts: Option<CookieKeys>,
    rate_checks: usize,
    /// Interfaces not served, and the interfaces the decision asked about.
    disabled: Vec<u32>,
    interfaces_asked: Vec<u32>,
}

impl Default for TestPolicy {
    fn default() -> Self {
        TestPolicy {
            max_len: 2048,
            access: Verdict::Pass,
            rate: Verdict::Pass,
            require_auth: false,
            key: Some(SymmetricKey::new(9, KeyType::Sha256, vec![7; 32]).unwrap()),
            nts: Some(CookieKeys::new(3, [9; 64])),
            rate_checks: 0,
            disabled: Vec::new(),
            interfaces_asked: Vec::new(),
        }
    }
}

impl Policy for TestPolicy {
    fn select_interface(&mut self, ifindex: u32) -> bool {
        self.interfaces_asked.push(ifindex);
        !self.disabled.contains(&ifindex)
    }
    fn max_request_len(&self) -> usize {
        self.max_len
    }
    fn access(&self, _: IpAddr) -> Verdict {
        self.access
    }
    fn rate_limit(&mut self, _: IpAddr, _: f64) -> Verdict {
        self.rate_checks += 1;
        self.rate
    }
    fn must_authenticate(&self, _: IpAddr) -> bool {
        self.require_auth
    }
    fn mac_key(&self, id: u32) -> Option<&SymmetricKey> {
        self.key.as_ref().filter(|k| k.id() == id)
    }
    fn nts_cookie_keys(&self) -> Option<&CookieKeys> {
        self.nts.as_ref()
    }
}

fn arrival() -> Arrival {
    Arrival {
        source: SocketAddr::from(([192, 0, 2, 1], 40123)),
        receive_time: NtpTimestamp::from_unix(1_800_000_100, 0),
        host_secs: 1_800_000_100.0,
        truncated: false,
        interface: 0,
    }
}

/// Runs the whole decision the way the daemon does; returns what is sent
/// (if anything) and the drop reason (if any).
fn serve(req: &[u8], policy: &mut TestPolicy) -> (Option<Vec<u8>>, Option<DropReason>) {
    let mut out = [0u8; 2048];
    let decision = decide(req, &arrival(), &state(), policy, &mut out);
    let reason = decision.drop_reason();
    let sent = match decision {
        // Mode 6 answers are control::respond's (control/tests.rs).
        Decision::Drop(_) | Decision::Control(_) => None,
        Decision::KissOfDeath { len, .. } => Some(out[..len].to_vec()),
        Decision::Reply(prepared, seal) => {
            let len = prepared.finish(&mut out, NtpTimestamp::from_unix(1_800_000_100, 5000));
            match seal.seal(&mut out, len, req.len(), policy, &mut TestRng(0)) {
                Ok(sealed) => Some(out[..sealed.len()].to_vec()),
                Err(reason) => return (None, Some(reason)),
            }
        }
    };
    (sent, reason)
}

fn kiss_code(reply: &[u8]) -> Option<KissCode> {
    let h = Header::decode(reply).unwrap();
    (h.stratum == 0).then(|| KissCode::from_reference_id(h.reference_id)).flatten()
}

#[test]
fn access_is_checked_before_the_rate_limit_and_kod_only_on_request() {
    let req = request(4, 3);
    let mut p = TestPolicy { access: Verdict::Refuse, ..TestPolicy::default() };
    assert_eq!(serve(&req, &mut p), (None, Some(DropReason::Denied)));
    assert_eq!(p.rate_checks, 0, "a denied client must not use up rate-limit state");
    p.access = Verdict::RefuseWithKod;
    let (sent, reason) = serve(&req, &mut p);
    assert_eq!((kiss_code(&sent.unwrap()), reason), (Some(KissCode::Deny), Some(DropReason::Denied)));
    let mut p = TestPolicy { rate: Verdict::RefuseWithKod, ..TestPolicy::default() };
    let (sent, reason) = serve(&req, &mut p);
    assert_eq!((kiss_code(&sent.unwrap()), reason), (Some(KissCode::Rate), Some(DropReason::RateLimited)));
    p.rate = Verdict::Refuse;
    assert_eq!(serve(&req, &mut p), (None, Some(DropReason::RateLimited)));
}

#[test]
fn a_disabled_interface_is_silent_whatever_arrives_and_is_asked_first() {
    let mut p = TestPolicy { disabled: vec![7], rate: Verdict::RefuseWithKod, ..TestPolicy::default() };
    let mut out = [0u8; 2048];
    let on = |ifindex| Arrival { interface: ifindex, ..arrival() };
    for req in [request(4, 3), vec![0u8; 10], request(4, 6)] {
        let d = decide(&req, &on(7), &state(), &mut p, &mut out);
        assert_eq!(d.drop_reason(), Some(DropReason::InterfaceDisabled));
    }
    assert_eq!(p.rate_checks, 0, "nothing from a disabled interface reaches the rate limiter");
    // Another interface is served under its own policy (here: rate-limited with RATE).
    let req = request(4, 3);
    let d = decide(&req, &on(8), &state(), &mut p, &mut out);
    assert!(matches!(d, Decision::KissOfDeath { reason: DropReason::RateLimited, .. }), "{d:?}");
    assert_eq!(p.interfaces_asked, [7, 7, 7, 8]);
}

#[test]
fn oversized_and_truncated_datagrams_are_too_long() {
    let mut p = TestPolicy { max_len: 48, ..TestPolicy::default() };
    let mut req = request(4, 3);
    req.extend([0; 20]);
    assert_eq!(serve(&req, &mut p), (None, Some(DropReason::TooLong)));
    let mut out = [0u8; 64];
    let cut = Arrival { truncated: true, ..arrival() };
    assert_eq!(decide(&request(4, 3), &cut, &state(), &mut p, &mut out).drop_reason(), Some(DropReason::TooLong));
}

#[test]
fn a_valid_mac_is_answered_with_one_and_anything_else_is_an_authentication_failure() {
    let mut p = TestPolicy::default();
    let key = p.key.clone().unwrap();
    let mut buf = [0u8; 128];
    buf[..48].copy_from_slice(&request(4, 3));
    let n = key.append_mac(&mut buf, 48, key.packet_digest_len(4)).unwrap();
    let (sent, reason) = serve(&buf[..n], &mut p);
    let reply = sent.expect("answered");
    assert_eq!(reason, None);
    assert_eq!(reply.len(), n, "same key and digest length as the request");
    assert_eq!(check_packet_mac(&reply, |_| Some(&key)), MacCheck::Valid { key_id: 9, digest_len: 20 });
    // Unknown key, tampered digest, crypto-NAK.
    let mut wrong = buf;
    wrong[48..52].copy_from_slice(&8u32.to_be_bytes());
    assert_eq!(serve(&wrong[..n], &mut p), (None, Some(DropReason::AuthenticationFailed)));
    let mut tampered = buf;
    tampered[n - 1] ^= 1;
    assert_eq!(serve(&tampered[..n], &mut p), (None, Some(DropReason::AuthenticationFailed)));
    assert_eq!(serve(&buf[..52], &mut p).1, Some(DropReason::AuthenticationFailed));
    // Networks that must authenticate get nothing without a MAC.
    p.require_auth = true;
    assert_eq!(serve(&request(4, 3), &mut p), (None, Some(DropReason::AuthenticationFailed)));
    assert!(serve(&buf[..n], &mut p).0.is_some());
}

fn nts_request(cookie_keys: &CookieKeys, aead: AeadAlgorithm) -> (Vec<u8>, SessionKeys) {
    let session = SessionKeys { aead, c2s: vec![1; aead.key_len()], s2c: vec![2; aead.key_len()] };
    let cookie = cookie_keys.seal(&session, &[5; 16]).unwrap();
    let mut header = [0u8; 48];
    header.copy_from_slice(&request(4, 3));
    let nonce = vec![3; aead.nonce_len()];
    (client_request(&header, &[7; 32], &cookie, 3, &session, &nonce).unwrap(), session)
}

#[test]
fn nts_requests_get_sealed_replies_naks_or_drops() {
    let mut p = TestPolicy::default();
    for aead in AeadAlgorithm::PREFERENCE {
        let (req, session) = nts_request(p.nts.as_ref().unwrap(), aead);
        let (sent, reason) = serve(&req, &mut p);
        let reply = sent.expect("answered");
        assert_eq!(reason, None);
        assert!(reply.len() <= req.len());
        assert_eq!(client_verify_reply(&reply, &[7; 32], &session).unwrap().len(), 4, "1 + 3 placeholders");
    }
    // A cookie from another server: NTS NAK, no larger than the request.
    let (foreign, session) = nts_request(&CookieKeys::new(4, [1; 64]), AeadAlgorithm::AesSivCmac256);
    let (sent, reason) = serve(&foreign, &mut p);
    let nak = sent.expect("a NAK");
    assert_eq!((kiss_code(&nak), reason), (Some(KissCode::NtsNak), Some(DropReason::Nts)));
    assert_eq!(client_verify_reply(&nak, &[7; 32], &session), Err(NtsError::ReceivedNak));
    // NTS not served: dropped.
    p.nts = None;
    assert_eq!(serve(&foreign, &mut p), (None, Some(DropReason::Nts)));
}

proptest! {
    #[test]
    fn nothing_sent_is_ever_larger_than_its_request(
        data in proptest::collection::vec(any::<u8>(), 0..700),
        port in any::<u16>(),
        knobs in any::<(u8, u8, bool)>(),
    ) {
        let verdict = |k: u8| [Verdict::Pass, Verdict::Refuse, Verdict::RefuseWithKod][usize::from(k % 3)];
        let mut p = TestPolicy { access: verdict(knobs.0), rate: verdict(knobs.1), require_auth: knobs.2, ..TestPolicy::default() };
        let mut out = [0u8; 2048];
        let at = Arrival { source: SocketAddr::from(([192, 0, 2, 1], port)), ..arrival() };
        let decision = decide(&data, &at, &state(), &mut p, &mut out);
        let sent = match decision {
            Decision::Drop(_) => None,
            // Not from loopback: the default policy answers no mode 6 here.
            Decision::Control(_) => return Err(TestCaseError::fail("a control answer for a non-loopback client")),
            Decision::KissOfDeath { len, .. } => Some(len),
            Decision::Reply(prepared, seal) => {
                let len = prepared.finish(&mut out, NtpTimestamp::from_bits(6));
                seal.seal(&mut out, len, data.len(), &p, &mut TestRng(0)).ok().map(|s| s.len())
            }
        };
        if let Some(len) = sent {
            prop_assert!(len <= data.len());
            prop_assert_eq!(&out[24..32], &data[40..48]);
            prop_assert_eq!(Header::decode(&out[..len]).unwrap().mode, Mode::Server);
        }
    }
}
