//! Property test: loading never panics, whatever the file text or the
//! environment holds; it returns a config or an error.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use proptest::prelude::*;

/// Lines that look like configuration, to get past the parser often.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[network]".to_owned()),
        Just("[ntp_server]".to_owned()),
        Just("[[sources.servers]]".to_owned()),
        Just("[security.ratelimit]".to_owned()),
        Just("[monitoring.offset]".to_owned()),
        Just("[server]".to_owned()),
        "[a-zA-Z_.]{1,24} = [^\n]{0,24}",
        "(listen_address|listen_port|stratum|address|minpoll|burst|level|warningThreshold|vlanRef) = [^\n]{0,20}",
        "[^\n]{0,40}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), prop::collection::vec(line(), 0..12).prop_map(|l| l.join("\n")),]
}

fn env_var() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            "SIMPLE_NTPD_[A-Z_]{0,30}",
            Just("SIMPLE_NTPD_STRATUM".to_owned()),
            Just("SIMPLE_NTPD_LISTEN_ADDRESS".to_owned()),
            Just("SIMPLE_NTPD_SOURCES_SERVERS".to_owned()),
            Just("SIMPLE_NTPD_MONITORING_OFFSET_WARNING_THRESHOLD".to_owned()),
        ],
        any::<String>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn load_from_strs_never_panics(
        files in prop::collection::vec(text(), 0..3),
        env in prop::collection::vec(env_var(), 0..3),
    ) {
        let files: Vec<(String, String)> = files
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("f{i}.toml"), t))
            .collect();
        match ntp_config::load_from_strs(&files, env, &ntp_config::Overrides::default()) {
            Ok(l) => {
                // What loads can be shown and loaded again.
                let shown = l.config.to_toml();
                let again = ntp_config::load_from_strs(
                    &[("shown.toml".to_owned(), shown)],
                    Vec::new(),
                    &ntp_config::Overrides::default(),
                );
                prop_assert!(again.is_ok(), "{:?}", again.err());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
