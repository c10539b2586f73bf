//! The task that keeps the zone in step with what the daemon serves: the
//! records are registered while the served state is synchronised (or a
//! local reference) and deleted when it is not and at shutdown. The state
//! is looked at every second; a failed update is retried after 2 s,
//! doubling up to 5 min. Every outcome is published to the status hub.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{info, warn};

use super::update::{self, Target};
use super::Settings;
use crate::api::model::DnsRegistration;
use crate::served::StateCell;
use crate::status::StatusHub;

const FIRST_RETRY: Duration = Duration::from_secs(2);
const LONGEST_RETRY: Duration = Duration::from_secs(300);
/// How often the served addresses are looked up again (a wildcard listener).
const ADDRESS_CHECK: Duration = Duration::from_secs(10);
/// How long the withdrawal at shutdown may take.
const SHUTDOWN_WITHDRAW: Duration = Duration::from_secs(3);

/// The running task.
pub struct Registrar {
    settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Registrar {
    /// Starts it on the current runtime. `listen` are the served socket
    /// addresses (for the default addresses).
    pub fn start(settings: Settings, listen: Vec<SocketAddr>, state: StateCell, hub: Arc<StatusHub>) -> Registrar {
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(run(settings.clone(), listen, state, hub, rx));
        Registrar { settings, stop: Some(tx), task }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Withdraws the records (bounded in time) and ends the task.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

/// Keeps `current` when the settings are unchanged; otherwise stops it
/// (withdrawing its records) and starts one for `config`'s `[dns]`.
pub async fn reconcile(
    current: Option<Registrar>,
    config: &ntp_config::Config,
    listen: Vec<SocketAddr>,
    state: &StateCell,
    hub: &Arc<StatusHub>,
) -> Option<Registrar> {
    let wanted = match Settings::from_config(config) {
        Ok(s) => s,
        Err(e) => {
            warn!("dns: {e:#}; DNS registration is off");
            None
        }
    };
    if let (Some(c), Some(w)) = (&current, &wanted) {
        if c.settings() == w {
            return current;
        }
    }
    if let Some(c) = current {
        c.stop().await;
    }
    hub.set_dns(None);
    wanted.map(|w| Registrar::start(w, listen, state.clone(), hub.clone()))
}

/// The addresses to register: the configured ones, or those served.
fn addresses(settings: &Settings, listen: &[SocketAddr]) -> Vec<IpAddr> {
    if !settings.addresses.is_empty() {
        return settings.addresses.clone();
    }
    let mut out: Vec<IpAddr> = listen.iter().map(SocketAddr::ip).filter(|ip| !ip.is_unspecified()).collect();
    let wild4 = listen.iter().any(|s| s.ip() == IpAddr::from([0, 0, 0, 0]));
    let wild6 = listen.iter().any(|s| s.is_ipv6() && s.ip().is_unspecified());
    if wild4 || wild6 {
        for (_, net) in crate::interfaces::scan::networks().unwrap_or_default() {
            let ip = net.addr();
            if crate::dhcp::announceable(ip) && ((ip.is_ipv4() && wild4) || (ip.is_ipv6() && wild6)) {
                out.push(ip);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

async fn resolve(server: &ntp_config::HostPort) -> Result<SocketAddr, String> {
    let port = server.port_or(53);
    if let Some(ip) = server.ip() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((server.host(), port))
        .await
        .map_err(|e| format!("cannot resolve {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("{server} resolves to no address"))
}

/// One update: registers `want` (or withdraws with `None`).
async fn send(settings: &Settings, want: Option<&[IpAddr]>) -> Result<(), String> {
    let server = resolve(&settings.server).await?;
    let target = Target::new(server, &settings.zone, &settings.hostname, settings.ttl).map_err(|e| format!("{e:#}"))?;
    let signer = settings.key.signer().map_err(|e| format!("{e:#}"))?;
    let message = match want {
        Some(addrs) => update::register(&target, addrs),
        None => update::withdraw(&target),
    };
    update::exchange(server, message, &signer).await.map_err(|e| e.to_string())
}

async fn run(
    settings: Settings,
    listen: Vec<SocketAddr>,
    state: StateCell,
    hub: Arc<StatusHub>,
    mut stop: oneshot::Receiver<()>,
) {
    let name = Target::new(([127, 0, 0, 1], 53).into(), &settings.zone, &settings.hostname, settings.ttl)
        .map(|t| t.name.to_ascii())
        .unwrap_or_else(|_| settings.hostname.clone());
    let mut report = DnsRegistration { name: name.clone(), server: settings.server.to_string(), ..Default::default() };
    // None: not known (records of an earlier run may still be there).
    let mut in_zone: Option<Option<Vec<IpAddr>>> = None;
    let mut served = addresses(&settings, &listen);
    let mut last_address_check = Instant::now();
    let mut backoff = FIRST_RETRY;
    let mut next_try = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        if last_address_check.elapsed() >= ADDRESS_CHECK {
            last_address_check = Instant::now();
            served = addresses(&settings, &listen);
        }
        let good = state.load().server.is_synchronised() && !served.is_empty();
        let want = good.then(|| served.clone());
        report.addresses = served.iter().map(ToString::to_string).collect();
        if in_zone.as_ref() == Some(&want) || Instant::now() < next_try {
            hub.set_dns(Some(report.clone()));
            continue;
        }
        match send(&settings, want.as_deref()).await {
            Ok(()) => {
                match &want {
                    Some(a) => info!(name = %name, addresses = ?a, "registered in DNS"),
                    None => info!(name = %name, "DNS records withdrawn (not serving good time)"),
                }
                report.registered = want.is_some();
                report.updates_ok += 1;
                report.last_error = None;
                report.last_update = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64());
                in_zone = Some(want);
                backoff = FIRST_RETRY;
            }
            Err(e) => {
                warn!(name = %name, server = %settings.server, error = %e, retry_s = backoff.as_secs(), "DNS update failed");
                report.updates_failed += 1;
                report.last_error = Some(e);
                next_try = Instant::now() + backoff;
                backoff = (backoff * 2).min(LONGEST_RETRY);
            }
        }
        hub.set_dns(Some(report.clone()));
    }
    if in_zone != Some(None) {
        match tokio::time::timeout(SHUTDOWN_WITHDRAW, send(&settings, None)).await {
            Ok(Ok(())) => {
                info!(name = %name, "DNS records withdrawn (stopping)");
                report.registered = false;
                report.updates_ok += 1;
            }
            Ok(Err(e)) => {
                warn!(name = %name, error = %e, "DNS records not withdrawn at stop");
                report.updates_failed += 1;
                report.last_error = Some(e);
            }
            Err(_) => warn!(name = %name, "DNS records not withdrawn at stop: no answer in time"),
        }
        hub.set_dns(Some(report));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(addresses: Vec<IpAddr>) -> Settings {
        Settings {
            server: "127.0.0.1:53".parse().unwrap(),
            zone: "lan.example.net".into(),
            hostname: "ntp".into(),
            key: super::super::key::TsigKey { name: "k".into(), algorithm: "hmac-sha256".into(), secret: vec![1; 32] },
            addresses,
            ttl: 60,
        }
    }

    #[test]
    fn configured_addresses_win_then_the_specific_listen_addresses() {
        let listen: Vec<SocketAddr> = vec!["192.0.2.5:123".parse().unwrap(), "[2001:db8::5]:123".parse().unwrap()];
        assert_eq!(
            addresses(&settings(vec!["198.51.100.1".parse().unwrap()]), &listen),
            ["198.51.100.1".parse::<IpAddr>().unwrap()]
        );
        let got = addresses(&settings(Vec::new()), &listen);
        assert_eq!(got, ["192.0.2.5".parse::<IpAddr>().unwrap(), "2001:db8::5".parse().unwrap()]);
    }
}
