//! Turns the [`StatusHub`] into the API documents of [`crate::api::model`].

use std::collections::BTreeMap;

use ntp_proto::packet::LeapIndicator;

use super::health::{assess, HealthInputs};
use super::StatusHub;
use crate::api::model::{Client, Clients, Health, ListenerStats, Probe, ServerStats, SourceState, Status};
use crate::clock::SystemClock;
use crate::server::client_log::top_clients;

/// Serving mode name: `local_reference`, `local_fallback`, `synchronised`
/// or `unsynchronised`.
pub fn mode(hub: &StatusHub) -> &'static str {
    let snap = hub.state().load();
    if !snap.server.is_synchronised() {
        "unsynchronised"
    } else if hub.config().is_local_reference() {
        "local_reference"
    } else if hub.sync().local_fallback {
        "local_fallback"
    } else {
        "synchronised"
    }
}

fn health(hub: &StatusHub) -> Health {
    let snap = hub.state().load();
    let sync = hub.sync();
    let config = hub.config();
    assess(
        &config.monitoring,
        &HealthInputs {
            synchronised: snap.server.is_synchronised(),
            local_reference: config.is_local_reference(),
            stratum: snap.server.stratum,
            offset: sync.offset,
            jitter: sync.jitter,
            frequency_ppm: sync.frequency_ppm,
            sources_selectable: selectable(hub),
        },
    )
}

fn selectable(hub: &StatusHub) -> usize {
    hub.sync()
        .sources
        .iter()
        .filter(|s| matches!(s.state, SourceState::Selected | SourceState::Combined | SourceState::Candidate))
        .count()
}

/// `/api/v1/status`.
pub fn status(hub: &StatusHub) -> Status {
    let snap = hub.state().load();
    let s = &snap.server;
    let sync = hub.sync();
    let now = SystemClock.now();
    let synced = s.is_synchronised();
    let refid = if s.stratum <= 1 || !synced { s.reference_id.as_ascii().map(str::to_owned) } else { None }
        .unwrap_or_else(|| {
            let b = s.reference_id.0;
            format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
        });
    let (reloads, last_reload_error) = hub.reloads();
    Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: hub.uptime(),
        mode: mode(hub).to_owned(),
        synchronised: synced,
        leap: if synced { s.leap.to_bits() } else { LeapIndicator::Unknown.to_bits() },
        stratum: if synced { s.stratum } else { 0 },
        reference_id: refid,
        reference_time: (!s.reference_time.is_zero())
            .then(|| s.reference_time.to_unix_f64_near(SystemClock::unix_now().0)),
        root_delay_seconds: s.root_delay.to_seconds(),
        root_dispersion_seconds: s.root_dispersion_at(now).to_seconds(),
        precision: s.precision,
        offset_seconds: sync.offset,
        jitter_seconds: sync.jitter,
        frequency_ppm: sync.frequency_ppm,
        discipline: if sync.discipline.is_empty() { "none".to_owned() } else { sync.discipline.clone() },
        listen: hub.listen().iter().map(ToString::to_string).collect(),
        sources_total: sync.sources.len(),
        sources_selectable: selectable(hub),
        health: health(hub),
        reloads,
        last_reload_error,
        faults: hub.faults().active(),
    }
}

/// `/api/v1/serverstats`.
pub fn server_stats(hub: &StatusHub) -> ServerStats {
    let t = hub.stats().totals();
    ServerStats {
        received: t.received,
        replied: t.replied,
        dropped_total: t.dropped_total(),
        dropped: t.dropped.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect::<BTreeMap<_, _>>(),
        send_errors: t.send_errors,
        receive_errors: t.receive_errors,
        rx_timestamp_fallback: t.rx_timestamp_fallback,
        kod_sent: t.kod_sent,
        authenticated: t.authenticated,
        nts_replied: t.nts_replied,
        nts_ke_handshakes: hub.nts_ke().map(|k| k.handshakes.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(0),
        nts_ke_failures: hub
            .nts_ke()
            .map(|k| {
                k.failures.load(std::sync::atomic::Ordering::Relaxed)
                    + k.rejected_busy.load(std::sync::atomic::Ordering::Relaxed)
            })
            .unwrap_or(0),
        listeners: hub
            .stats()
            .by_address()
            .into_iter()
            .map(|(a, t)| ListenerStats {
                address: a.to_string(),
                received: t.received,
                replied: t.replied,
                dropped: t.dropped_total(),
            })
            .collect(),
    }
}

/// `/api/v1/clients`, the `limit` busiest.
pub fn clients(hub: &StatusHub, limit: usize) -> Clients {
    let logs = hub.clients().logs();
    let capacity = logs.iter().map(|l| l.capacity()).sum();
    let (top, tracked) = top_clients(logs.iter().map(|l| l.as_ref()), limit);
    let now = SystemClock::unix_now().0.max(0) as u64;
    Clients {
        clients: top
            .into_iter()
            .map(|e| Client {
                address: e.address.to_string(),
                requests: e.requests,
                dropped: e.dropped,
                last_seen_seconds_ago: now.saturating_sub(e.last_seen) as f64,
            })
            .collect(),
        tracked,
        capacity,
    }
}

/// `/healthz`: the process is alive and its API answers.
pub fn liveness(hub: &StatusHub) -> Probe {
    Probe { ok: true, reason: "alive".to_owned(), mode: mode(hub).to_owned(), health: health(hub) }
}

/// `/readyz`: serving, and synchronised or deliberately on a local reference.
pub fn readiness(hub: &StatusHub) -> Probe {
    let mode = mode(hub);
    let (ok, reason) = if !hub.is_serving() {
        (false, "not serving: no listener is running".to_owned())
    } else if mode == "unsynchronised" {
        (false, "serving, but not synchronised (replies carry leap 3)".to_owned())
    } else if mode == "local_reference" {
        (true, "serving the configured local reference".to_owned())
    } else if mode == "local_fallback" {
        // Deliberate: [server.local] asks to keep serving; health says how bad.
        (true, "no source is usable: serving the local fallback ([server.local])".to_owned())
    } else {
        (true, "serving synchronised time".to_owned())
    };
    Probe { ok, reason, mode: mode.to_owned(), health: health(hub) }
}
