//! Fuzz target: configuration as the daemon reads it at start and on every
//! reload — a file (TOML, the seed 000 INI forms the lenient reader fixes
//! up, or an NTPService resource, chosen by the first byte) plus
//! `SIMPLE_NTPD_*` / cturra variables (`NAME=value` lines after a NUL). Loading must
//! never panic: it yields a configuration or errors, each with a message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntp_config::{load_from_strs, Overrides};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let name = match kind % 3 {
        0 => "fuzz.toml",
        1 => "fuzz.conf",
        _ => "fuzz.yaml",
    };
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    match load_from_strs(&[(name.to_owned(), file.to_owned())], env, &Overrides::default()) {
        Ok(loaded) => {
            let _ = loaded.config.upstreams();
            let _ = loaded.config.listen_sockets();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
