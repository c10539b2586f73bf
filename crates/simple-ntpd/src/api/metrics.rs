//! `/metrics`: the Prometheus text exposition, built per scrape from the
//! [`StatusHub`]. Names follow Prometheus conventions (base units, `_total`
//! counters, a `*_build_info`); seed 002's millisecond metrics become
//! seconds (`ntp_offset_milliseconds` → `ntp_offset_seconds`). No client
//! address is ever a label: cardinality is bounded by configuration
//! (sources, listen addresses, drop reasons).

use prometheus::core::Collector;
use prometheus::{Encoder, Gauge, GaugeVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

use crate::api::model::SourceState;
use crate::status::{views, StatusHub};

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Builder {
    registry: Registry,
}

impl Builder {
    fn register(&self, c: impl Collector + 'static) {
        // Names are fixed and unique in this file; a failure is a bug we
        // would rather see as a missing metric than as a failed scrape.
        if let Err(e) = self.registry.register(Box::new(c)) {
            tracing::error!(error = %e, "metric registration failed");
        }
    }

    fn gauge(&self, name: &str, help: &str, value: f64) {
        if let Ok(g) = Gauge::with_opts(Opts::new(name, help)) {
            g.set(value);
            self.register(g);
        }
    }

    fn counter(&self, name: &str, help: &str, value: u64) {
        if let Ok(c) = IntCounter::with_opts(Opts::new(name, help)) {
            c.inc_by(value);
            self.register(c);
        }
    }

    fn gauge_vec(&self, name: &str, help: &str, labels: &[&str], rows: &[(Vec<String>, f64)]) {
        if let Ok(g) = GaugeVec::new(Opts::new(name, help), labels) {
            for (values, v) in rows {
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                g.with_label_values(&refs).set(*v);
            }
            self.register(g);
        }
    }

    fn counter_vec(&self, name: &str, help: &str, labels: &[&str], rows: &[(Vec<String>, u64)]) {
        if let Ok(c) = IntCounterVec::new(Opts::new(name, help), labels) {
            for (values, v) in rows {
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                c.with_label_values(&refs).inc_by(*v);
            }
            self.register(c);
        }
    }
}

/// Renders every metric.
pub fn render(hub: &StatusHub) -> String {
    let b = Builder { registry: Registry::new() };
    let status = views::status(hub);
    let sync = hub.sync();

    b.gauge_vec(
        "ntp_build_info",
        "Build information; always 1.",
        &["version"],
        &[(vec![env!("CARGO_PKG_VERSION").to_owned()], 1.0)],
    );
    b.gauge(
        "ntp_offset_seconds",
        "Estimated offset of the served clock from its reference, in seconds.",
        status.offset_seconds,
    );
    b.gauge("ntp_jitter_seconds", "Jitter of the offset estimate, in seconds.", status.jitter_seconds);
    b.gauge("ntp_stratum", "Stratum served (0 while unsynchronised).", f64::from(status.stratum));
    b.gauge(
        "ntp_sync",
        "1 when the daemon serves usable time (synchronised or a configured local reference), else 0.",
        if status.synchronised { 1.0 } else { 0.0 },
    );
    b.gauge(
        "ntp_frequency_drift_ppm",
        "Frequency correction applied to the clock, in parts per million.",
        status.frequency_ppm,
    );
    b.gauge("ntp_root_delay_seconds", "Root delay served, in seconds.", status.root_delay_seconds);
    b.gauge("ntp_root_dispersion_seconds", "Root dispersion served, in seconds.", status.root_dispersion_seconds);
    b.gauge(
        "ntp_leap_indicator",
        "Leap indicator served: 0 none, 1 insert, 2 delete, 3 unsynchronised.",
        f64::from(status.leap),
    );
    b.gauge(
        "ntp_health_status",
        "Health from the [monitoring] thresholds: 0 ok, 1 warning, 2 critical.",
        f64::from(status.health.state.level()),
    );
    b.gauge("ntp_sources", "Sources configured.", status.sources_total as f64);
    b.gauge("ntp_sources_selectable", "Sources usable for synchronisation now.", status.sources_selectable as f64);
    b.gauge(
        "ntp_sources_minimum",
        "Usable sources below which the health state is warning (monitoring.sources_minimum).",
        f64::from(hub.config().monitoring.sources_minimum),
    );

    if let Some(dns) = &status.dns {
        b.gauge(
            "ntp_dns_registered",
            "1 while the [dns] records are registered in the zone, else 0.",
            f64::from(u8::from(dns.registered)),
        );
        b.counter_vec(
            "ntp_dns_updates_total",
            "RFC 2136 updates sent for [dns], by result (ok, failed).",
            &["result"],
            &[(vec!["ok".to_owned()], dns.updates_ok), (vec!["failed".to_owned()], dns.updates_failed)],
        );
    }

    let label = |s: &crate::api::model::Source| vec![s.name.clone(), s.address.clone().unwrap_or_default()];
    let per_source = |f: &dyn Fn(&crate::api::model::Source) -> f64| -> Vec<(Vec<String>, f64)> {
        sync.sources.iter().map(|s| (label(s), f(s))).collect()
    };
    let src_labels = ["name", "address"];
    b.gauge_vec(
        "ntp_source_offset_seconds",
        "Offset of each source (source minus us), in seconds.",
        &src_labels,
        &per_source(&|s| s.offset_seconds),
    );
    b.gauge_vec(
        "ntp_source_jitter_seconds",
        "Jitter of each source, in seconds.",
        &src_labels,
        &per_source(&|s| s.jitter_seconds),
    );
    b.gauge_vec(
        "ntp_source_delay_seconds",
        "Round-trip delay to each source, in seconds.",
        &src_labels,
        &per_source(&|s| s.delay_seconds),
    );
    b.gauge_vec("ntp_source_stratum", "Stratum of each source.", &src_labels, &per_source(&|s| f64::from(s.stratum)));
    b.gauge_vec(
        "ntp_source_reachability",
        "Reachability register of each source (0-255).",
        &src_labels,
        &per_source(&|s| f64::from(s.reachability)),
    );
    b.gauge_vec(
        "ntp_source_poll_interval_seconds",
        "Poll interval of each source, in seconds.",
        &src_labels,
        &per_source(&|s| s.poll_seconds),
    );
    let states = [
        (SourceState::Selected, "selected"),
        (SourceState::Combined, "combined"),
        (SourceState::Candidate, "candidate"),
        (SourceState::Falseticker, "falseticker"),
        (SourceState::Outlier, "outlier"),
        (SourceState::Unreachable, "unreachable"),
        (SourceState::Pending, "pending"),
    ];
    let mut rows = Vec::new();
    for s in &sync.sources {
        for (st, name) in states {
            let mut l = label(s);
            l.push(name.to_owned());
            rows.push((l, if s.state == st { 1.0 } else { 0.0 }));
        }
    }
    b.gauge_vec(
        "ntp_source_state",
        "Selection state of each source: 1 for its current state.",
        &["name", "address", "state"],
        &rows,
    );
    refclock_metrics(&b, &sync.sources);

    let stats = views::server_stats(hub);
    // Per listen address and arrival interface: interfaces are bounded by
    // their slots (see interfaces::slots), never by clients.
    let names = hub.interface_names();
    let name =
        |slot: usize| names.get(slot).cloned().unwrap_or_else(|| crate::interfaces::slots::OTHER_NAME.to_owned());
    let per_interface = hub.stats().by_address_and_slot();
    b.counter_vec(
        "ntp_client_requests_total",
        "NTP datagrams received from clients, per listen address and arrival interface.",
        &["listen_address", "interface"],
        &per_interface.iter().map(|(a, i, t)| (vec![a.to_string(), name(*i)], t.received)).collect::<Vec<_>>(),
    );
    b.counter_vec(
        "ntp_server_replies_total",
        "Replies sent, per listen address and the interface the request arrived on.",
        &["listen_address", "interface"],
        &per_interface.iter().map(|(a, i, t)| (vec![a.to_string(), name(*i)], t.replied)).collect::<Vec<_>>(),
    );
    let broadcasts: Vec<_> = hub
        .stats()
        .by_slot()
        .into_iter()
        .filter(|(_, t)| t.broadcasts > 0)
        .map(|(i, t)| (vec![name(i)], t.broadcasts))
        .collect();
    if !broadcasts.is_empty() {
        b.counter_vec(
            "ntp_server_broadcasts_total",
            "NTP broadcast packets (mode 5) sent, per interface (vlan_config broadcast = true).",
            &["interface"],
            &broadcasts,
        );
    }
    let mut drops = Vec::new();
    for (slot, t) in hub.stats().by_slot() {
        for (reason, n) in ntp_proto::server::DropReason::ALL.iter().zip(t.dropped) {
            drops.push((vec![reason.name().to_owned(), name(slot)], n));
        }
    }
    if drops.is_empty() {
        // Before the first request: every reason at zero, so rate() works from the start.
        drops = stats
            .dropped
            .keys()
            .map(|r| (vec![r.clone(), crate::interfaces::slots::OTHER_NAME.to_owned()], 0))
            .collect();
    }
    b.counter_vec(
        "ntp_server_dropped_total",
        "Datagrams not answered, by reason and arrival interface: too_short, too_long, bad_version, control_mode, private_mode, not_client_mode, malformed_extension (malformed requests), denied, rate_limited, authentication_failed, nts, reply_too_large, interface_disabled (arrived on a VLAN that is not served).",
        &["reason", "interface"],
        &drops,
    );
    b.counter("ntp_server_send_errors_total", "Replies the kernel refused to send.", stats.send_errors);
    b.counter("ntp_server_kod_sent_total", "Kiss-o'-death replies sent (DENY, RATE).", stats.kod_sent);
    b.counter(
        "ntp_server_authenticated_replies_total",
        "Replies authenticated with a symmetric-key MAC.",
        stats.authenticated,
    );
    b.counter("ntp_server_receive_errors_total", "Failed receives.", stats.receive_errors);
    b.counter(
        "ntp_server_rx_timestamp_fallback_total",
        "Requests without a kernel receive timestamp (the clock was read instead).",
        stats.rx_timestamp_fallback,
    );
    b.counter(
        "ntp_server_interleaved_replies_total",
        "Replies sent in interleaved mode (RFC 9769): their transmit timestamp is the kernel's of the previous reply.",
        stats.interleaved,
    );
    b.counter(
        "ntp_server_tx_timestamp_missed_total",
        "Kernel transmit timestamps asked for but not available after the send: replies to interleaved-mode clients (the next reply to that client is basic) and calibration samples of batched sends.",
        stats.tx_timestamp_missed,
    );
    b.counter(
        "ntp_server_send_chunks_total",
        "System calls of batched sends (performance.batch_send), each sending a chunk of replies stamped with their predicted transmit time.",
        stats.send_chunks,
    );
    b.counter("ntp_server_chunked_replies_total", "Replies sent in those chunks.", stats.chunked_replies);
    b.gauge(
        "ntp_server_transmit_prediction_spread_seconds",
        "How far (about the 99.7th percentile) a batched reply's predicted transmit timestamp may be from the kernel's, worst worker; chunks are only as long as keeps it within 2 µs.",
        stats.transmit_spread,
    );
    b.counter("ntp_server_nts_replies_total", "Replies authenticated with NTS (RFC 8915).", stats.nts_replied);
    b.counter(
        "ntp_server_control_replies_total",
        "Control (mode 6, ntpq/ntpstat) queries answered, error replies included.",
        stats.control_replied,
    );
    if let Some(ke) = hub.nts_ke() {
        use std::sync::atomic::Ordering::Relaxed;
        b.counter("ntp_nts_ke_handshakes_total", "NTS-KE exchanges that issued cookies.", ke.handshakes.load(Relaxed));
        b.counter_vec(
            "ntp_nts_ke_failures_total",
            "NTS-KE connections without cookies, by reason (error: TLS, ALPN, timeout or bad request; busy: over max_connections).",
            &["reason"],
            &[
                (vec!["error".to_owned()], ke.failures.load(Relaxed)),
                (vec!["busy".to_owned()], ke.rejected_busy.load(Relaxed)),
            ],
        );
    }
    let clients = views::clients(hub, 0);
    b.gauge("ntp_clients_tracked", "Distinct client addresses in the bounded client log.", clients.tracked as f64);
    let (reloads, last_error) = hub.reloads();
    b.counter("ntp_config_reloads_total", "Successful configuration reloads.", reloads);
    b.gauge(
        "ntp_config_last_reload_successful",
        "0 when the last configuration reload was refused, else 1.",
        if last_error.is_some() { 0.0 } else { 1.0 },
    );
    b.gauge("ntp_uptime_seconds", "Seconds since the daemon started.", hub.uptime());
    b.register(prometheus::process_collector::ProcessCollector::for_self());

    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&b.registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Reference clocks' driver state and counters (`ntp_source_refclock_*`).
fn refclock_metrics(b: &Builder, sources: &[crate::api::model::Source]) {
    let clocks: Vec<_> = sources.iter().filter_map(|s| s.refclock.as_ref().map(|r| (s, r))).collect();
    if clocks.is_empty() {
        return;
    }
    let label = |s: &crate::api::model::Source| vec![s.name.clone(), s.address.clone().unwrap_or_default()];
    let mut rows = Vec::new();
    for (s, r) in &clocks {
        for status in ["starting", "waiting", "ok", "no_fix", "error"] {
            let mut l = label(s);
            l.push(status.to_owned());
            rows.push((l, if r.status == status { 1.0 } else { 0.0 }));
        }
    }
    b.gauge_vec(
        "ntp_source_refclock_status",
        "Driver state of each reference clock: 1 for its current state (error: device missing or failing, retried).",
        &["name", "address", "status"],
        &rows,
    );
    b.counter_vec(
        "ntp_source_refclock_readings_total",
        "Samples and pulses each reference clock's driver delivered.",
        &["name", "address"],
        &clocks.iter().map(|(s, r)| (label(s), r.readings)).collect::<Vec<_>>(),
    );
    b.counter_vec(
        "ntp_source_refclock_bad_input_total",
        "Malformed inputs (sentences, datagrams, segments) each reference clock's driver dropped.",
        &["name", "address"],
        &clocks.iter().map(|(s, r)| (label(s), r.bad_input)).collect::<Vec<_>>(),
    );
}
