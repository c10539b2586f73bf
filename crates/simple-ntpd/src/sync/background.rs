//! The slow work of the sources' loop, done off it: name lookups and NTS key
//! exchanges run as their own tasks and report back through a channel, so
//! polling, replies, clock updates and reloads never wait on DNS or TLS.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;

use ntp_config::Upstream;

use crate::nts::client::{key_exchange, NtsSession};

/// How long one name lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one NTS key exchange may take.
const KE_TIMEOUT: Duration = Duration::from_secs(10);

/// A finished piece of background work.
pub enum Done {
    /// Addresses for a configured server or pool (to become new sources).
    Resolved {
        /// Index of the configured source.
        upstream: usize,
        /// Back-off before the next attempt if this one falls short.
        backoff: Duration,
        /// The addresses, or why there are none.
        result: Result<Vec<SocketAddr>, String>,
    },
    /// An NTS session for a source not running yet.
    KeyExchanged {
        /// Index of the configured source.
        upstream: usize,
        /// Back-off before the next attempt if this one failed.
        backoff: Duration,
        /// The session, or why there is none.
        result: anyhow::Result<NtsSession>,
    },
    /// A fresh NTS session for a running source (cookies used up, or a NAK).
    Rekeyed {
        /// The running source's key.
        source: u64,
        /// The session, or why there is none.
        result: anyhow::Result<NtsSession>,
    },
}

/// Channel the loop receives [`Done`] on.
pub type DoneSender = mpsc::UnboundedSender<Done>;

/// Looks `upstream`'s host up in the background.
pub fn resolve(tx: &DoneSender, idx: usize, upstream: &Upstream, backoff: Duration) {
    let (tx, host, port) = (tx.clone(), upstream.host.clone(), upstream.port);
    tokio::spawn(async move {
        let result = match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(addrs)) => Ok(addrs.collect()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs())),
        };
        // The loop may have stopped meanwhile (a reload): nothing to do then.
        let _ = tx.send(Done::Resolved { upstream: idx, backoff, result });
    });
}

/// Runs NTS-KE with `upstream`'s server for a new source in the background.
pub fn key_exchange_new(tx: &DoneSender, idx: usize, upstream: &Upstream, backoff: Duration) {
    let (tx, host, port, ca) = (tx.clone(), upstream.host.clone(), upstream.port, upstream.ca.clone());
    tokio::spawn(async move {
        let result = key_exchange(&host, port, ca.as_deref(), KE_TIMEOUT).await;
        let _ = tx.send(Done::KeyExchanged { upstream: idx, backoff, result });
    });
}

/// Renews the NTS session of running source `source` in the background.
pub fn rekey(tx: &DoneSender, source: u64, upstream: &Upstream) {
    let (tx, host, port, ca) = (tx.clone(), upstream.host.clone(), upstream.port, upstream.ca.clone());
    tokio::spawn(async move {
        let result = key_exchange(&host, port, ca.as_deref(), KE_TIMEOUT).await;
        let _ = tx.send(Done::Rekeyed { source, result });
    });
}
