//! Fuzz target: symmetric key files in chrony's format (`ID TYPE
//! HEX:…|ASCII:…`), read at start and on every reload. The parser must
//! never panic; every key it accepts has a non-zero id, and an error names a
//! line of the file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntp_proto::auth::keyfile::parse_keyfile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_keyfile(text) {
        Ok(keys) => assert!(keys.iter().all(|k| k.id() != 0)),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
