//! Real-peer interoperability harness for simple-ntpd's integration tests.
//!
//! Used only as a dev-dependency. It talks to *real* NTP implementations installed
//! by `scripts/install-test-deps.sh` and, on purpose, does not depend on the
//! project's own `ntp-proto` crate, so that it is an independent check:
//!
//! - [`sntp_probe`] / [`send_raw`]: a minimal SNTP client on `std::net::UdpSocket`.
//! - [`ntpdig_query`]: NTPsec's `ntpdig` (always queries port 123).
//! - [`ntplib_query`]: Python's `ntplib` under Debian's `/usr/bin/python3`.
//! - [`chronyd_query`] (`chronyd -Q`), [`ChronydServer`], [`ChronydClient`] (+ `chronyc`
//!   over a private unix socket).
//! - [`DaemonProcess`]: run the daemon under test, capture its log, kill it on drop.
//! - [`peers_required`] / [`peer_or_skip`]: skip politely when a peer is missing,
//!   fail when `NTPD_TEST_REQUIRE_PEERS=1` (CI).
//!
//! Every function returns `Result<_, String>` with a readable message, every wait is
//! bounded, and every process started here is killed by PID when its handle drops.

mod chrony;
mod command;
mod daemon;
mod net;
mod ntpdig;
mod ntplib;
mod peers;
mod random;
mod sntp;
mod tempdir;
mod timestamp;

pub use chrony::chronyc::{
    chronyc_path, parse_key_values, parse_measurements_log, parse_sources_csv, parse_tracking_csv, ChronyMeasurement,
    ChronySource, ChronyTracking,
};
pub use chrony::client::{ChronydClient, ChronydClientOpts};
pub use chrony::paths::{chronyd_path, chronyd_user_args};
pub use chrony::query::{chronyd_query, chronyd_query_with, parse_clock_wrong_by, ChronyQueryOpts, ChronyQueryReport};
pub use chrony::server::{ChronydServer, ChronydServerOpts};
pub use command::{run_bounded, CommandOutput};
pub use daemon::DaemonProcess;
pub use net::{free_tcp_port, free_udp_port, spare_loopback_v4};
pub use ntpdig::{ntpdig_path, ntpdig_query, ntpdig_query_with, parse_ntpdig_output, NtpdigOpts, NtpdigReport};
pub use ntplib::{ntplib_python, ntplib_query, NtplibReport};
pub use peers::{peer_or_skip, peers_required, REQUIRE_PEERS_ENV};
pub use random::random_u64;
pub use sntp::{build_request, decode_packet, send_raw, send_raw_collect, sntp_probe, NtpHeader, ProbeReply};
pub use tempdir::TempDir;
pub use timestamp::{ntp_to_unix, system_time_to_ntp, unix_now, unix_to_ntp};
