//! chrony as a real peer: `chronyd -Q` one-shot queries, a chronyd server, a chronyd
//! client observed through `chronyc` on a private unix socket.
//!
//! chrony is not installed as a Debian package (it conflicts with ntpsec): the
//! install script unpacks the .deb into `/opt/simple-ntpd-peers/chrony`. Every chronyd
//! started here runs with `-u root` (the package's `_chrony` user does not exist),
//! `-f <generated config>` (never /etc/chrony), its own pidfile, driftfile and command
//! socket in a private temp dir, `cmdport 0`, and `-x` or `-Q` so that the system
//! clock is never touched.

pub mod chronyc;
pub mod client;
mod config;
pub mod paths;
pub mod query;
pub mod server;
