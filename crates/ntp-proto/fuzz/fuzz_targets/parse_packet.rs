//! Fuzz target: the header and extension-field/MAC parser must never panic,
//! and whatever it accepts must stay within the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntp_proto::extension::Trailer;
use ntp_proto::packet::{Header, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Header::decode(data) {
        let mut out = [0u8; HEADER_LEN];
        h.encode(&mut out).unwrap();
        assert_eq!(&out[..], &data[..HEADER_LEN]);
        if let Ok(t) = Trailer::parse(data, h.version) {
            let used: usize = t.fields().map(|f| f.value.len() + 4).sum::<usize>()
                + t.mac().map(|m| m.digest.len() + 4).unwrap_or(0);
            assert_eq!(used + HEADER_LEN, data.len());
        }
    }
});
