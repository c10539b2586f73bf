//! The broadcast client in the synchronisation loop (`[[sources.broadcast]]`):
//! the first server heard on a listened-on interface (or the configured one)
//! becomes an association that calibrates the delay through a socket of its
//! own, then follows that server's broadcasts.

use std::net::SocketAddr;

use ntp_proto::association::{Association, ClientAuth};
use ntp_proto::source::{PollConfig, SourceConfig};
use ntp_sync::SourceParams;
use tracing::{debug, info, warn};

use super::super::broadcast::BroadcastSpec;
use super::super::net::UpstreamSocket;
use super::super::source::RunningSource;
use super::Loop;
use crate::interfaces::BroadcastIn;

impl Loop {
    /// A broadcast for the broadcast client: the first server heard on a
    /// listened-on interface (or the configured one) becomes an
    /// association, which then gets every broadcast of that server.
    pub(super) fn on_broadcast(&mut self, b: BroadcastIn) {
        let table = self.hub.interfaces().load();
        let Some(interface) = table.lookup(b.ifindex).map(|e| e.name().to_owned()) else { return };
        drop(table);
        let Some(idx) = self.settings.broadcast.iter().position(|s| s.interface == interface) else { return };
        let spec = self.settings.broadcast[idx].clone();
        if spec.server.is_some_and(|ip| ip != b.from.ip()) {
            debug!(interface = %interface, from = %b.from, "broadcast from another server than the configured one ignored");
            return;
        }
        let upstream = self.settings.upstreams.len() + idx;
        let i = match self.ups.iter().position(|u| u.upstream == upstream) {
            Some(i) if self.ups[i].addr.ip() == b.from.ip() => i,
            Some(_) => {
                debug!(interface = %interface, from = %b.from, "broadcast from a second server ignored");
                return;
            }
            None => match self.add_broadcast_source(idx, &spec, b.from) {
                Ok(i) => i,
                Err(e) => {
                    warn!(interface = %interface, server = %b.from, error = %e, "cannot open a socket to the broadcast server");
                    return;
                }
            },
        };
        let t4 = self.clock.correction().apply(b.rx_system);
        let now = self.clock.now();
        self.ups[i].assoc.handle_datagram(&b.data, t4, now);
        self.handle_events(i);
    }

    /// Follows the broadcast server `from` heard for broadcast source
    /// `idx`: an association that calibrates through a socket of its own.
    pub(super) fn add_broadcast_source(
        &mut self,
        idx: usize,
        spec: &BroadcastSpec,
        from: SocketAddr,
    ) -> std::io::Result<usize> {
        let auth = match spec.key {
            Some(id) => match self.settings.keys.get(&id) {
                Some(k) => ClientAuth::Mac(k.clone()),
                None => return Err(std::io::Error::other(format!("key {id} is not configured"))),
            },
            None => ClientAuth::None,
        };
        let mut addr = from;
        addr.set_port(spec.port);
        let key = self.next_key;
        self.next_key += 1;
        let socket = UpstreamSocket::open(addr, key, self.tx.clone())?;
        // The calibration: a quick volley (half a second apart, within any
        // server's rate-limit burst), then only broadcasts.
        let poll = PollConfig { minpoll: 1, maxpoll: 1, iburst: true, burst_spacing: 0.5, ..PollConfig::default() }
            .sanitised();
        let config = SourceConfig {
            poll,
            version: 4,
            response_timeout: 1.0,
            local_precision: self.settings.precision,
            xleave: false,
        };
        let authenticated = matches!(auth, ClientAuth::Mac(_));
        let assoc = Association::broadcast_client(config, auth, self.clock.now());
        let id = self.engine.add_source(SourceParams {
            address: Some(addr.ip()),
            prefer: spec.prefer,
            ..SourceParams::default()
        });
        info!(interface = %spec.interface, server = %addr, authenticated, "broadcast server heard: calibrating the delay, then following its broadcasts");
        let upstream = self.settings.upstreams.len() + idx;
        self.ups.push(RunningSource::new(key, spec.name(), upstream, addr, assoc, id, socket));
        Ok(self.ups.len() - 1)
    }
}
