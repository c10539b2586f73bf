//! Fuzz target: an upstream association (plain, MAC and NTS) fed arbitrary
//! datagrams, with and without our request's origin echoed. It must never
//! panic, and without the keys no datagram may become a sample for a MAC or
//! NTS association.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntp_proto::association::{Association, ClientAuth, CookieJar, Event};
use ntp_proto::auth::{KeyType, SymmetricKey};
use ntp_proto::nts::aead::AeadAlgorithm;
use ntp_proto::nts::cookie::{CookieKeys, SessionKeys};
use ntp_proto::source::SourceConfig;
use ntp_proto::NtpTimestamp;
use rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let aead = AeadAlgorithm::AesSivCmac256;
    let session = SessionKeys { aead, c2s: vec![1; 32], s2c: vec![2; 32] };
    let cookie = CookieKeys::new(1, [5; 64]).seal(&session, &[0; 16]).unwrap();
    let auths = [
        ClientAuth::None,
        ClientAuth::Mac(SymmetricKey::new(3, KeyType::Sha256, vec![9; 32]).unwrap()),
        ClientAuth::Nts(CookieJar::new(session, vec![cookie; 8])),
    ];
    for auth in auths {
        let protected = !matches!(auth, ClientAuth::None);
        let now = NtpTimestamp::from_bits(3_900_000_000 << 32);
        let mut a = Association::new(SourceConfig::default(), auth, now, 0.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let t = a.poll_transmit(now, &mut rng).unwrap();
        let mut echoed = data.to_vec();
        if echoed.len() >= 32 {
            echoed[24..32].copy_from_slice(&t.origin.to_be_bytes());
        }
        a.handle_datagram(data, now, now);
        a.handle_datagram(&echoed, now, now);
        while let Some(e) = a.poll_event() {
            assert!(!(protected && matches!(e, Event::Sample(_) | Event::Demobilised(_))));
        }
    }
});
