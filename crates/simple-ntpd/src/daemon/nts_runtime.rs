//! NTS while the daemon runs: the cookie master-key store the workers open
//! cookies with, and the NTS-KE server that hands them out.

use std::sync::Arc;

use ntp_config::Config;
use ntp_proto::server::NTP_PORT;

use crate::nts::ke::{KeServer, KeSettings, KeStats};
use crate::nts::keystore::CookieKeyStore;
use crate::server::Server;

/// NTS while it runs: the cookie-key store and the NTS-KE server.
pub struct NtsRuntime {
    /// The cookie master keys.
    pub store: CookieKeyStore,
    /// The NTS-KE server.
    pub ke: KeServer,
    /// Its counters.
    pub stats: Arc<KeStats>,
}

impl NtsRuntime {
    /// Opens the key store and starts the NTS-KE server.
    pub async fn start(config: &Config) -> anyhow::Result<NtsRuntime> {
        let n = &config.security.nts;
        let (Some(chain), Some(key)) = (n.certificate_chain.clone(), n.private_key.clone()) else {
            anyhow::bail!("security.nts.enabled needs security.nts.certificate_chain and security.nts.private_key");
        };
        let store = CookieKeyStore::open(n.key_directory.clone(), n.rotation_interval(), n.keep_keys as usize)?;
        let ntp_port = config.listen_sockets().first().map(|a| a.port()).filter(|p| *p != NTP_PORT);
        let stats = Arc::new(KeStats::default());
        let ke = KeServer::start(
            KeSettings {
                listen: n.ke_socket(),
                certificate_chain: chain,
                private_key: key,
                ntp_server: n.ntp_server.clone(),
                ntp_port,
                max_concurrent: n.max_connections,
                handshake_timeout: n.exchange_timeout(),
            },
            store.cell(),
            stats.clone(),
        )
        .await?;
        Ok(NtsRuntime { store, ke, stats })
    }

    /// Tells NTS-KE clients the NTP port actually bound (port 0 in the
    /// configuration, or a listener moved by a reload).
    pub fn announce(&self, config: &Config, server: &Server) {
        let port = server.bound_addresses().first().map(|a| a.port());
        self.ke.set_ntp_server(config.security.nts.ntp_server.clone(), port);
    }
}
