//! Admitting configured sources into the synchronisation loop: a source
//! reached through a clients-only VLAN (`[[vlan_config]] clients_only`) is
//! refused and tried again later with a growing back-off; the others get a
//! socket and an association.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ntp_proto::association::{Association, ClientAuth, CookieJar};
use ntp_proto::source::{PollConfig, SourceConfig};
use ntp_sync::SourceParams;
use tracing::{debug, error, info, warn};

use super::super::net::{local_address_towards, UpstreamSocket};
use super::super::source::{RunningSource, MAX_BACKOFF};
use super::{Loop, Pending};
use crate::nts::client::NtsSession;

impl Loop {
    /// Tries configured source `idx` again after `backoff`, doubling it for
    /// the time after.
    pub(super) fn retry_later(&mut self, idx: usize, backoff: Duration) {
        let next = (backoff * 2).min(MAX_BACKOFF);
        self.pending.push(Pending { upstream: idx, next_try: Instant::now() + backoff, backoff: next });
    }

    /// Starts polling `addr` for configured source `idx` (with the NTS
    /// session from its key exchange, if it uses NTS).
    pub(super) fn add_source(&mut self, idx: usize, addr: SocketAddr, nts: Option<NtsSession>) -> std::io::Result<()> {
        let upstream = &self.settings.upstreams[idx];
        if let Some((interface, vlan)) = self.clients_only_route(addr) {
            // Hosts there are only ever clients: the source is not used,
            // and tried again later (the VLAN policy or the routes may change).
            warn!(source = %upstream.host, address = %addr, interface = %interface, vlan = %vlan, "the source is reached through a clients-only VLAN: not used");
            let backoff = self.pending_backoff(idx);
            self.retry_later(idx, backoff);
            return Ok(());
        }
        let auth = match (nts, upstream.key) {
            (Some(session), _) => ClientAuth::Nts(CookieJar::new(session.keys, session.cookies)),
            (None, Some(id)) => match self.settings.keys.get(&id) {
                Some(k) => ClientAuth::Mac(k.clone()),
                None => {
                    // The preflight refuses this; a key file changed underneath is the only way here.
                    error!(source = %upstream.host, key = id, "source names a key that is not configured; not polling it");
                    return Ok(());
                }
            },
            (None, None) => ClientAuth::None,
        };
        let key = self.next_key;
        self.next_key += 1;
        let socket = UpstreamSocket::open(addr, key, self.tx.clone())?;
        let poll = PollConfig {
            minpoll: upstream.minpoll,
            maxpoll: upstream.maxpoll.max(upstream.minpoll),
            iburst: upstream.iburst,
            ..PollConfig::default()
        }
        .sanitised();
        let config = SourceConfig {
            poll,
            version: 4,
            response_timeout: 1.0,
            local_precision: self.settings.precision,
            xleave: upstream.xleave,
        };
        let (authenticated, nts) = (matches!(auth, ClientAuth::Mac(_)), matches!(auth, ClientAuth::Nts(_)));
        // Spread the first polls of many sources a little.
        let assoc = Association::new(config, auth, self.clock.now(), (key % 8) as f64 * 0.05);
        let id = self.engine.add_source(SourceParams {
            address: Some(addr.ip()),
            prefer: upstream.prefer,
            ..SourceParams::default()
        });
        info!(source = %upstream.host, address = %addr, authenticated, nts, "source added");
        self.ups.push(RunningSource::new(key, upstream.host.clone(), idx, addr, assoc, id, socket));
        Ok(())
    }

    /// The interface and VLAN `addr` is reached through, when that VLAN is
    /// clients-only (`[[vlan_config]] clients_only`).
    pub(super) fn clients_only_route(&self, addr: SocketAddr) -> Option<(String, String)> {
        let local = match local_address_towards(addr) {
            Ok(ip) => ip,
            Err(e) => {
                debug!(address = %addr, error = %e, "no route to the source yet");
                return None;
            }
        };
        let table = self.hub.interfaces().load();
        let entry = table.with_address(local)?;
        let vlan = entry.policy.as_ref().filter(|p| p.clients_only)?;
        Some((entry.name().to_owned(), vlan.vlan.clone()))
    }

    /// The back-off for the next try of configured source `idx`, growing
    /// with each refusal.
    pub(super) fn pending_backoff(&mut self, idx: usize) -> Duration {
        let n = self.refusals.entry(idx).or_insert(0);
        *n = (*n + 1).min(10);
        (Duration::from_secs(2) * 2u32.pow(*n)).min(MAX_BACKOFF)
    }
}
