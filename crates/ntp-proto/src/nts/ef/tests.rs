//! Tests of the NTS extension fields: layouts, a full client ↔ server
//! exchange for both AEADs, NAKs, tampering, size limits and fuzzing.

use super::*;
use crate::server::parse_request;
use proptest::prelude::*;

fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = 0x23; // v4, client
    h[40..48].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
    h
}

fn setup(aead: AeadAlgorithm) -> (CookieKeys, SessionKeys, Vec<u8>) {
    let keys = CookieKeys::new(3, [9; 64]);
    let session = SessionKeys { aead, c2s: vec![1; aead.key_len()], s2c: vec![2; aead.key_len()] };
    let cookie = keys.seal(&session, &[5; 16]).unwrap();
    (keys, session, cookie)
}

fn nonces() -> impl FnMut() -> [u8; 16] {
    let mut n = 0u8;
    move || {
        n += 1;
        [n; 16]
    }
}

#[test]
fn authenticator_layout_pads_nonce_and_ciphertext() {
    // GCM-SIV: 12-byte nonce, padded to 16 by additional padding at the end.
    let v = authenticator_value(&[0xAA; 12], &[0xBB; 17]).unwrap();
    assert_eq!(&v[..4], &[0, 12, 0, 17]);
    assert_eq!(&v[4..16], &[0xAA; 12]);
    assert_eq!(&v[16..33], &[0xBB; 17]);
    assert_eq!(v.len(), 4 + 12 + 20 + 4);
    assert!(v[33..].iter().all(|b| *b == 0));
    assert_eq!(parse_authenticator(&v), Some((&[0xAA; 12][..], &[0xBB; 17][..])));
    // SIV: 16-byte nonce, no additional padding.
    let v = authenticator_value(&[1; 16], &[2; 16]).unwrap();
    assert_eq!(v.len(), 4 + 16 + 16);
    assert_eq!(parse_authenticator(&v[..10]), None);
}

#[test]
fn client_request_layout() {
    let (_, session, cookie) = setup(AeadAlgorithm::Aes128GcmSiv);
    let req = client_request(&header(), &[7; 32], &cookie, 2, &session, &[3; 12]).unwrap();
    let fields: Vec<_> = located_fields(&req).unwrap().collect();
    let types: Vec<u16> = fields.iter().map(|f| f.field_type).collect();
    assert_eq!(types, [UNIQUE_IDENTIFIER, NTS_COOKIE, COOKIE_PLACEHOLDER, COOKIE_PLACEHOLDER, AUTHENTICATOR]);
    assert_eq!(&req[48..52], &[0x01, 0x04, 0x00, 36]);
    assert_eq!(&req[84..88], &[0x02, 0x04, 0x00, 76]); // 70-byte cookie padded to 72 + 4
    assert_eq!(fields[2].value.len(), fields[1].value.len());
    assert!(fields[2].value.iter().all(|b| *b == 0));
    assert_eq!(req.len() % 4, 0);
    assert!(client_request(&header(), &[7; 31], &cookie, 0, &session, &[3; 12]).is_err());
    assert!(client_request(&header(), &[7; 32], &cookie, 0, &session, &[3; 16]).is_err());
}

#[test]
fn full_exchange_for_both_aeads() {
    for aead in AeadAlgorithm::PREFERENCE {
        for placeholders in [0usize, 1, 3] {
            let (keys, session, cookie) = setup(aead);
            let uid = [0x5A; 32];
            let req =
                client_request(&header(), &uid, &cookie, placeholders, &session, &vec![4; aead.nonce_len()]).unwrap();
            let verified = server_verify(&req, &keys).unwrap();
            assert_eq!(verified.unique_id, &uid);
            assert_eq!(verified.placeholders, placeholders);
            assert_eq!(verified.keys.to_keys(), session);
            assert_eq!(verified.encrypted_len, 0);
            let mut reply = vec![0u8; 2048];
            reply[..48].copy_from_slice(&[0x24; 48]);
            let n = server_reply_fields(&mut reply, &verified, req.len(), &keys, &vec![6; aead.nonce_len()], nonces())
                .unwrap();
            assert!(n <= req.len(), "{aead:?} reply {n} > request {}", req.len());
            reply.truncate(n);
            let cookies = client_verify_reply(&reply, &uid, &session).unwrap();
            assert_eq!(cookies.len(), 1 + placeholders);
            for c in &cookies {
                assert_ne!(c, &cookie);
                assert_eq!(keys.open(c).unwrap(), session);
            }
            // Any change to the authenticated reply is detected.
            // (The last 4 bytes are GCM-SIV's unauthenticated additional padding.)
            for i in [0, 40, 60, n - 5] {
                let mut bad = reply.clone();
                bad[i] ^= 1;
                assert!(client_verify_reply(&bad, &uid, &session).is_err(), "byte {i}");
            }
            assert_eq!(client_verify_reply(&reply, &[0x5B; 32], &session), Err(NtsError::BadReply));
        }
    }
}

/// The reply written in place is byte for byte the one the allocating
/// construction gives: cookie fields sealed one by one, the plaintext
/// encrypted as a whole, the authenticator value laid out after it.
#[test]
fn in_place_reply_matches_the_allocating_construction() {
    for aead in AeadAlgorithm::PREFERENCE {
        let (keys, session, cookie) = setup(aead);
        let uid = [0x33; 32];
        let req = client_request(&header(), &uid, &cookie, 2, &session, &vec![4; aead.nonce_len()]).unwrap();
        let verified = server_verify(&req, &keys).unwrap();
        let nonce = vec![6; aead.nonce_len()];
        let mut reply = vec![0xEEu8; 2048];
        reply[..48].copy_from_slice(&[0x24; 48]);
        let n = server_reply_fields(&mut reply, &verified, req.len(), &keys, &nonce, nonces()).unwrap();
        let mut expected = vec![0u8; 2048];
        expected[..48].copy_from_slice(&[0x24; 48]);
        let at = write_field(&mut expected, 48, UNIQUE_IDENTIFIER, &uid).unwrap();
        let mut cookie_nonces = nonces();
        let mut plaintext = Vec::new();
        for _ in 0..3 {
            let c = keys.seal(&session, &cookie_nonces()).unwrap();
            let mut f = vec![0u8; 4 + c.len() + 4];
            let end = write_field(&mut f, 0, NTS_COOKIE, &c).unwrap();
            plaintext.extend_from_slice(&f[..end]);
        }
        let ct = aead.seal(&session.s2c, &nonce, &expected[..at], &plaintext).unwrap();
        let value = authenticator_value(&nonce, &ct).unwrap();
        let end = write_field(&mut expected, at, AUTHENTICATOR, &value).unwrap();
        assert_eq!(n, end, "{aead:?}");
        assert_eq!(reply[..n], expected[..end], "{aead:?}");
    }
}

#[test]
fn reply_never_exceeds_request_and_drops_cookies_to_fit() {
    let (keys, session, cookie) = setup(AeadAlgorithm::Aes128GcmSiv);
    let req = client_request(&header(), &[1; 32], &cookie, 2, &session, &[4; 12]).unwrap();
    let verified = server_verify(&req, &keys).unwrap();
    let mut reply = vec![0u8; 2048];
    reply[..48].copy_from_slice(&header());
    // Pretend the request was smaller: only one cookie fits.
    let small = req.len() - 2 * 76;
    let n = server_reply_fields(&mut reply, &verified, small, &keys, &[6; 12], nonces()).unwrap();
    assert!(n <= small);
    assert_eq!(client_verify_reply(&reply[..n], &[1; 32], &session).unwrap().len(), 1);
    assert_eq!(
        server_reply_fields(&mut reply, &verified, 100, &keys, &[6; 12], nonces()),
        Err(NtsError::ReplyTooLarge)
    );
    assert_eq!(
        server_reply_fields(&mut reply, &verified, req.len(), &keys, &[6; 16], nonces()),
        Err(NtsError::BadInput)
    );
}

#[test]
fn unknown_cookie_or_bad_authenticator_asks_for_a_nak() {
    let (keys, session, cookie) = setup(AeadAlgorithm::AesSivCmac256);
    let uid = [0x33; 36];
    let req = client_request(&header(), &uid, &cookie, 0, &session, &[4; 16]).unwrap();
    let rotated = CookieKeys::new(4, [9; 64]);
    let nak = server_verify(&req, &rotated).unwrap_err().unwrap();
    assert_eq!(nak.unique_id, &uid);
    let mut bad = req.clone();
    bad[47] ^= 1; // transmit timestamp is authenticated
    assert_eq!(server_verify(&bad, &keys).unwrap_err(), Ok(Nak { unique_id: &uid }));
    // Wrong C2S key.
    let wrong = SessionKeys { c2s: vec![8; 32], ..session.clone() };
    let req2 = client_request(&header(), &uid, &cookie, 0, &wrong, &[4; 16]).unwrap();
    assert!(matches!(server_verify(&req2, &keys), Err(Ok(_))));
    // The NAK itself: KoD NTSN, uid echoed, no larger than the request.
    let parsed = parse_request(&req, 5000).unwrap();
    let mut out = [0u8; 1024];
    let n = write_nts_nak(&parsed, nak, -20, NtpTimestamp::from_bits(9), &mut out).unwrap();
    assert!(n <= req.len());
    let h = Header::decode(&out[..n]).unwrap();
    assert!(h.is_kiss_of_death());
    assert_eq!(h.reference_id, NTS_NAK);
    assert_eq!(&out[24..32], &req[40..48]);
    assert_eq!(client_verify_reply(&out[..n], &uid, &session), Err(NtsError::ReceivedNak));
}

#[test]
fn malformed_requests_are_dropped() {
    let (keys, session, cookie) = setup(AeadAlgorithm::Aes128GcmSiv);
    let good = client_request(&header(), &[1; 32], &cookie, 0, &session, &[4; 12]).unwrap();
    assert!(server_verify(&good, &keys).is_ok());
    // Plain packet, NTPv3, no authenticator, short uid, field after the authenticator.
    assert_eq!(server_verify(&header(), &keys).unwrap_err(), Err(NtsError::Malformed));
    let mut v3 = good.clone();
    v3[0] = 0x1B;
    assert_eq!(server_verify(&v3, &keys).unwrap_err(), Err(NtsError::Malformed));
    let no_auth_len = good.len() - field_len(authenticator_value_len(12, 16));
    assert_eq!(server_verify(&good[..no_auth_len], &keys).unwrap_err(), Err(NtsError::Malformed));
    let short_uid = client_request(&header(), &[1; 32], &cookie, 0, &session, &[4; 12]).map(|mut p| {
        p[51] = 16; // uid field claims 16 bytes: the rest becomes garbage fields
        p
    });
    assert!(server_verify(&short_uid.unwrap(), &keys).is_err());
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0x12, 0x34, 0, 28]);
    trailing.extend_from_slice(&[0; 24]);
    assert_eq!(server_verify(&trailing, &keys).unwrap_err(), Err(NtsError::Malformed));
}

proptest! {
    #[test]
    fn server_verify_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let keys = CookieKeys::new(0, [0; 64]);
        let _ = server_verify(&data, &keys);
        let session = SessionKeys { aead: AeadAlgorithm::Aes128GcmSiv, c2s: vec![0; 16], s2c: vec![0; 16] };
        let _ = client_verify_reply(&data, &[0; 32], &session);
    }

    #[test]
    fn mutated_requests_never_panic_or_verify(pos in 0usize..400, bit in 0u8..8) {
        let (keys, session, cookie) = setup(AeadAlgorithm::Aes128GcmSiv);
        let mut req = client_request(&header(), &[1; 32], &cookie, 1, &session, &[4; 12]).unwrap();
        // Everything but the authenticator's trailing additional padding
        // (4 bytes after GCM-SIV's 12-byte nonce) is authenticated.
        let pos = pos % (req.len() - 4);
        req[pos] ^= 1 << bit;
        prop_assert!(server_verify(&req, &keys).is_err());
    }
}
