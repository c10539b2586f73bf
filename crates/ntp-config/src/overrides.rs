//! Command-line overrides (`--listen`, `--stratum`, `--log-level`): the last
//! and strongest layer of the configuration.

use std::net::SocketAddr;

use crate::layer::{Layer, Origin};

/// Values given on the command line; `None` leaves the configured value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replaces `network.listen_address` (each socket keeps its own port).
    pub listen: Option<Vec<SocketAddr>>,
    /// Replaces `ntp_server.stratum`.
    pub stratum: Option<u8>,
    /// Replaces `logging.level`.
    pub log_level: Option<String>,
}

pub(crate) fn overrides_layer(o: &Overrides) -> Layer {
    let mut layer = Layer::default();
    if let Some(listen) = &o.listen {
        layer.insert(
            "network.listen_address",
            toml::Value::Array(listen.iter().map(|s| toml::Value::String(s.to_string())).collect()),
            Origin::cli("--listen"),
        );
    }
    if let Some(s) = o.stratum {
        layer.insert("ntp_server.stratum", toml::Value::Integer(i64::from(s)), Origin::cli("--stratum"));
    }
    if let Some(level) = &o.log_level {
        layer.insert("logging.level", toml::Value::String(level.clone()), Origin::cli("--log-level"));
    }
    layer
}
