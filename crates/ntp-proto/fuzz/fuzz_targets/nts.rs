//! Fuzz target: NTS on arbitrary bytes. The NTS-KE record decoder (and the
//! server's KE response to whatever it decodes) and the server-side NTS
//! extension-field verification must never panic; a decoded record never
//! claims more bytes than it was given, and a forged request never verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntp_proto::nts::cookie::CookieKeys;
use ntp_proto::nts::ef::server_verify;
use ntp_proto::nts::ke::{server_response, Decoded, Limits, RecordDecoder, ServerOptions};

fuzz_target!(|data: &[u8]| {
    let mut decoder = RecordDecoder::new(Limits { max_body_len: 1024, max_records: 16 });
    let mut at = 0;
    let mut records = Vec::new();
    while let Ok(Decoded::Record { record, consumed }) = decoder.decode(&data[at..]) {
        assert!(at + consumed <= data.len());
        at += consumed;
        records.push(record);
    }
    let _ = server_response(&records, &ServerOptions::default(), |a| vec![a.id() as u8; 4]);

    let keys = CookieKeys::new(0, [0x42; 64]);
    assert!(server_verify(data, &keys).is_err());
});
