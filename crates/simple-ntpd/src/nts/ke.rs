//! The NTS-KE server (RFC 8915 §4): a TCP listener handing each connection
//! to TLS 1.3 with ALPN `ntske/1`, then to one [`exchange`], the whole of it
//! bounded by the handshake timeout. A semaphore bounds concurrent
//! connections; over the bound a connection is closed at once. Certificates
//! can be reloaded while serving (SIGHUP). While the `refuse_nts_ke` test
//! fault is on ([`crate::faults`]), every connection is closed at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use ntp_proto::nts::ke::ServerOptions;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::exchange::{exchange, Outcome};
use super::keystore::CookieKeyCell;
use super::tls::server_config;
use crate::faults::Deadline;
use ntp_proto::nts::ALPN_NTSKE;

/// Most concurrent connections accepted whatever the settings say.
const MAX_CONCURRENT_CAP: usize = 1 << 16;

/// What the NTS-KE server needs to know.
#[derive(Clone, Debug)]
pub struct KeSettings {
    /// Where to listen (usually port 4460).
    pub listen: SocketAddr,
    /// PEM certificate chain, leaf first.
    pub certificate_chain: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// The NTP server name to announce, when not this host.
    pub ntp_server: Option<String>,
    /// The NTP port to announce, when not 123.
    pub ntp_port: Option<u16>,
    /// Most connections served at once.
    pub max_concurrent: usize,
    /// Bound on a whole connection: TLS handshake, request and response.
    pub handshake_timeout: Duration,
}

/// Counters read by metrics.
#[derive(Default, Debug)]
pub struct KeStats {
    /// Exchanges that issued cookies.
    pub handshakes: AtomicU64,
    /// Connections that failed: TLS, ALPN, timeout, bad request or refusal.
    pub failures: AtomicU64,
    /// Connections closed because `max_concurrent` were in progress.
    pub rejected_busy: AtomicU64,
}

struct Shared {
    tls: ArcSwap<ServerConfig>,
    keys: CookieKeyCell,
    stats: Arc<KeStats>,
    options: ArcSwap<ServerOptions>,
    timeout: Duration,
    refusal: Deadline,
}

/// A running NTS-KE server.
pub struct KeServer {
    local_addr: SocketAddr,
    certificate_chain: PathBuf,
    private_key: PathBuf,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    max_concurrent: u32,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl KeServer {
    /// Loads the certificates, binds, and starts serving.
    pub async fn start(settings: KeSettings, keys: CookieKeyCell, stats: Arc<KeStats>) -> anyhow::Result<KeServer> {
        let tls = server_config(&settings.certificate_chain, &settings.private_key)?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding NTS-KE on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        let max = settings.max_concurrent.clamp(1, MAX_CONCURRENT_CAP);
        let shared = Arc::new(Shared {
            tls: ArcSwap::new(tls),
            keys,
            stats,
            options: ArcSwap::from_pointee(ServerOptions {
                ntp_server: settings.ntp_server,
                ntp_port: settings.ntp_port,
            }),
            timeout: settings.handshake_timeout,
            refusal: Deadline::default(),
        });
        let slots = Arc::new(Semaphore::new(max));
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), slots.clone(), stop));
        tracing::info!(addr = %local_addr, "NTS-KE listening");
        Ok(KeServer {
            local_addr,
            certificate_chain: settings.certificate_chain,
            private_key: settings.private_key,
            shared,
            slots,
            max_concurrent: u32::try_from(max).unwrap_or(u32::MAX),
            shutdown,
            task,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What later exchanges tell clients about the NTP server: its name (if
    /// not this host) and the port actually bound (announced when not 123).
    pub fn set_ntp_server(&self, ntp_server: Option<String>, ntp_port: Option<u16>) {
        let ntp_port = ntp_port.filter(|p| *p != 123);
        self.shared.options.store(Arc::new(ServerOptions { ntp_server, ntp_port }));
    }

    /// The switch of the `refuse_nts_ke` test fault.
    pub fn refusal(&self) -> Deadline {
        self.shared.refusal.clone()
    }

    /// Re-reads the PEM files; on error the old certificates stay in use.
    pub fn reload_certificates(&self) -> anyhow::Result<()> {
        let tls = server_config(&self.certificate_chain, &self.private_key)?;
        self.shared.tls.store(tls);
        tracing::info!(certificate = %self.certificate_chain.display(), "NTS-KE certificates reloaded");
        Ok(())
    }

    /// Stops accepting and waits (at most the handshake timeout) for
    /// connections in progress.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let grace = self.shared.timeout + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, self.slots.acquire_many(self.max_concurrent)).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                tracing::warn!(error = %e, "NTS-KE accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if shared.refusal.active() {
            shared.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "NTS-KE connection refused (test fault)");
            drop(stream);
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            shared.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let result = tokio::time::timeout(shared.timeout, serve(stream, &shared)).await;
            let counter = match result {
                Ok(Ok(Outcome::Cookies)) => &shared.stats.handshakes,
                Ok(Ok(Outcome::Refused)) => &shared.stats.failures,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = format!("{e:#}"), "NTS-KE connection failed");
                    &shared.stats.failures
                }
                Err(_) => {
                    tracing::debug!(%peer, "NTS-KE connection timed out");
                    &shared.stats.failures
                }
            };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

async fn serve(stream: TcpStream, shared: &Shared) -> anyhow::Result<Outcome> {
    let _ = stream.set_nodelay(true);
    let acceptor = TlsAcceptor::from(shared.tls.load_full());
    let mut tls = acceptor.accept(stream).await.context("TLS handshake")?;
    // rustls refuses clients offering only other protocols; this refuses
    // clients that offer none.
    if tls.get_ref().1.alpn_protocol() != Some(ALPN_NTSKE) {
        anyhow::bail!("client did not negotiate ALPN ntske/1");
    }
    let options = shared.options.load_full();
    exchange(&mut tls, &shared.keys, &options).await
}
