//! docs/configuration.md must be the output of `reference_markdown()`;
//! `UPDATE_DOCS=1 cargo test -p ntp-config` rewrites it.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::path::PathBuf;

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md")
}

#[test]
fn docs_configuration_md_is_up_to_date() {
    let generated = ntp_config::reference_markdown();
    let path = doc_path();
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "{} is out of date with the configuration structs; regenerate it with `UPDATE_DOCS=1 cargo test -p ntp-config`",
        path.display()
    );
}

#[test]
fn reference_documents_every_key() {
    let md = ntp_config::reference_markdown();
    for needle in [
        "### `network.listen_address`",
        "### `ntp_server.stratum`",
        "this value is not used to advertise a better stratum than the real state",
        "- Environment: `SIMPLE_NTPD_NTP_SERVER_STRATUM`, `SIMPLE_NTPD_STRATUM`",
        "- Default: `[\"0.0.0.0\", \"::\"]`",
        "- Type: integer 1..=15",
        "### `security.ratelimit.burst`",
        "- Environment: `SIMPLE_NTPD_SECURITY_RATELIMIT_BURST`",
        "### `monitoring.offset.warning_threshold`",
        "- Also written: `warningThreshold`",
        "### `sources.servers[].minpoll`",
        "- Environment: only as part of `SIMPLE_NTPD_SOURCES_SERVERS`",
        "- Default: none (required)",
        "## `[[vlan_config]]`",
        "| `SIMPLE_NTPD_LOG_LEVEL` | `logging.level` |",
    ] {
        assert!(md.contains(needle), "reference lacks {needle:?}");
    }
    let implemented = md.matches("- Status: implemented").count();
    // The exact set of implemented keys is pinned in planned.rs (today every
    // key is implemented; a planned one renders as "- Status: planned").
    assert!(implemented > 0);
    for p in ntp_config::PLANNED {
        assert!(md.contains(&format!("`{}`", p.path)), "{} undocumented", p.path);
    }
}
