//! Turns the [`StatusHub`] into the API documents of [`crate::api::model`].

use std::collections::BTreeMap;

use ntp_proto::packet::LeapIndicator;

use super::health::{assess, HealthInputs};
use super::StatusHub;
use crate::api::model::{
    Client, Clients, Health, HealthState, InterfaceClients, InterfaceStats, LeapSeconds, ListenerStats, Probe,
    ServerStats, SourceState, Status,
};
use crate::clock::SystemClock;
use crate::served::leap::TableState;
use crate::server::client_log::top_clients;
use ntp_sync::leap::unix_seconds;

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
    let mut health = assess(
        &config.monitoring,
        &HealthInputs {
            synchronised: snap.server.is_synchronised(),
            local_reference: config.is_local_reference(),
            stratum: snap.server.stratum,
            offset: sync.offset,
            jitter: sync.jitter,
            frequency_ppm: sync.frequency_ppm,
            sources_selectable: selectable(hub),
            leap_table_unusable: matches!(hub.state().leap().state, TableState::Expired | TableState::Invalid),
        },
    );
    for reason in hub.problems().reasons() {
        health.state = health.state.max(HealthState::Warning);
        health.reasons.push(reason);
    }
    health
}

fn selectable(hub: &StatusHub) -> usize {
    hub.sync()
        .sources
        .iter()
        .filter(|s| matches!(s.state, SourceState::Selected | SourceState::Combined | SourceState::Candidate))
        .count()
}

/// The served reference id as the status API (and mode 6) shows it: text
/// at stratum 0/1 and when unsynchronised, else a dotted quad.
pub fn reference_id_text(s: &ntp_proto::server::ServerState) -> String {
    if s.stratum <= 1 || !s.is_synchronised() { s.reference_id.as_ascii().map(str::to_owned) } else { None }
        .unwrap_or_else(|| {
            let b = s.reference_id.0;
            format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
        })
}

/// `/api/v1/status`.
pub fn status(hub: &StatusHub) -> Status {
    let snap = hub.state().load();
    let s = &snap.server;
    let sync = hub.sync();
    let now = SystemClock.now();
    let synced = s.is_synchronised();
    let refid = reference_id_text(s);
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
        leap_seconds: leap_seconds(hub),
        dns: (*hub.dns()).clone(),
    }
}

/// The leap second part of `/api/v1/status`.
fn leap_seconds(hub: &StatusHub) -> LeapSeconds {
    let leap = hub.state().leap();
    let now = SystemClock.now();
    let next = leap.next_leap(now);
    LeapSeconds {
        source: leap.source.clone(),
        table: leap.state.name().to_owned(),
        problem: leap.problem.clone(),
        expires: leap.expires.map(unix_seconds),
        next_leap: next.map(|e| unix_seconds(e.at)),
        next_leap_kind: next.map(|e| if e.insert { "insert" } else { "delete" }.to_owned()),
        tai_offset: leap.tai_offset(now),
        smear: leap.smear.is_some(),
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
        interleaved: t.interleaved,
        tx_timestamp_missed: t.tx_timestamp_missed,
        send_chunks: t.send_chunks,
        chunked_replies: t.chunked_replies,
        transmit_spread: t.transmit_spread,
        kod_sent: t.kod_sent,
        authenticated: t.authenticated,
        nts_replied: t.nts_replied,
        control_replied: t.control_replied,
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
        interfaces: interface_stats(hub),
    }
}

/// The name of counter slot `slot`.
fn slot_name(names: &[String], slot: usize) -> String {
    names.get(slot).cloned().unwrap_or_else(|| crate::interfaces::slots::OTHER_NAME.to_owned())
}

/// The VLAN of interface `name` and whether it is served.
fn vlan_of(hub: &StatusHub, name: &str) -> (Option<String>, bool) {
    let table = hub.interfaces().load();
    match table.by_name(name) {
        Some(e) => (e.policy.as_ref().map(|p| p.vlan.clone()), e.serve),
        None => (None, true),
    }
}

fn interface_stats(hub: &StatusHub) -> Vec<InterfaceStats> {
    let names = hub.interface_names();
    hub.stats()
        .by_slot()
        .into_iter()
        .map(|(slot, t)| {
            let interface = slot_name(&names, slot);
            let (vlan, served) = vlan_of(hub, &interface);
            InterfaceStats {
                vlan,
                served,
                received: t.received,
                replied: t.replied,
                dropped: t.dropped_total(),
                broadcasts: t.broadcasts,
                dropped_by_reason: ntp_proto::server::DropReason::ALL
                    .iter()
                    .zip(t.dropped)
                    .filter(|(_, n)| *n > 0)
                    .map(|(r, n)| (r.name().to_owned(), n))
                    .collect(),
                interface,
            }
        })
        .collect()
}

/// `/api/v1/clients`, the `limit` busiest.
pub fn clients(hub: &StatusHub, limit: usize) -> Clients {
    let logs = hub.clients().logs();
    let capacity = logs.iter().map(|l| l.capacity()).sum();
    let (all, tracked) = top_clients(logs.iter().map(|l| l.as_ref()), usize::MAX);
    let names = hub.interface_names();
    let mut interfaces: Vec<InterfaceClients> = Vec::new();
    for e in &all {
        let name = slot_name(&names, e.interface);
        let row = match interfaces.iter_mut().position(|r| r.interface == name) {
            Some(i) => &mut interfaces[i],
            None => {
                let (vlan, _) = vlan_of(hub, &name);
                interfaces.push(InterfaceClients { interface: name, vlan, clients: 0, requests: 0, dropped: 0 });
                interfaces.last_mut().expect("just pushed")
            }
        };
        row.clients += 1;
        row.requests += e.requests;
        row.dropped += e.dropped;
    }
    interfaces.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.interface.cmp(&b.interface)));
    let now = SystemClock::unix_now().0.max(0) as u64;
    Clients {
        clients: all
            .into_iter()
            .take(limit)
            .map(|e| Client {
                address: e.address.to_string(),
                requests: e.requests,
                dropped: e.dropped,
                last_seen_seconds_ago: now.saturating_sub(e.last_seen) as f64,
                interface: slot_name(&names, e.interface),
            })
            .collect(),
        tracked,
        capacity,
        interfaces,
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
