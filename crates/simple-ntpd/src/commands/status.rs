//! `simple-ntpd status | sources | clients | serverstats`: read the running
//! daemon's management API and print aligned tables (or `--json`). Exit 0 on
//! success, 2 with "cannot reach the daemon at ..." when it does not answer.
//! `status --watch` is in [`super::watch`].

use std::process::ExitCode;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::config::config_files;
use super::table::{key_values, render};
use crate::api::model::{Clients, ServerStats, Sources, Status};
use crate::cli::{ApiArgs, ClientsArgs, StatusArgs};

/// The API base URL and token from the flags, else the configuration.
fn endpoint(args: &ApiArgs) -> (String, Option<String>) {
    let config = ntp_config::load(&config_files(&args.config), std::env::vars(), &ntp_config::Overrides::default())
        .map(|l| l.config)
        .unwrap_or_default();
    let addr = args.api.clone().unwrap_or_else(|| config.monitoring.listen.to_string());
    let token = args.token.clone().or(config.monitoring.token.clone());
    (format!("http://{addr}"), token)
}

/// A connection to the daemon's API: where, with which token, how long to wait.
pub(super) struct ApiClient {
    /// `http://HOST:PORT`.
    pub(super) base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl ApiClient {
    /// The endpoint from the flags, else the configuration.
    pub(super) fn new(args: &ApiArgs) -> ApiClient {
        let (base, token) = endpoint(args);
        let timeout =
            Duration::from_secs_f64(if args.timeout.is_finite() && args.timeout > 0.0 { args.timeout } else { 3.0 });
        ApiClient { base, token, agent: ureq::AgentBuilder::new().timeout(timeout).build() }
    }

    /// GETs `path`: the typed document and the raw JSON.
    pub(super) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<(T, serde_json::Value), String> {
        let base = &self.base;
        let mut req = self.agent.get(&format!("{base}{path}"));
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let body = r.into_string().unwrap_or_default();
                return Err(format!("the daemon at {base} answered HTTP {code}: {}", body.trim()));
            }
            Err(e) => {
                return Err(format!(
                    "cannot reach the daemon at {base}: {e} (is simple-ntpd running with [monitoring] enabled? use --api HOST:PORT)"
                ))
            }
        };
        let raw: serde_json::Value =
            resp.into_json().map_err(|e| format!("the daemon at {base} sent invalid JSON: {e}"))?;
        let typed =
            serde_json::from_value(raw.clone()).map_err(|e| format!("unexpected document from {base}{path}: {e}"))?;
        Ok((typed, raw))
    }
}

fn fetch<T: DeserializeOwned>(args: &ApiArgs, path: &str) -> Result<(T, serde_json::Value), String> {
    ApiClient::new(args).get(path)
}

fn show<T: DeserializeOwned>(args: &ApiArgs, path: &str, text: impl FnOnce(&T) -> String) -> ExitCode {
    match fetch::<T>(args, path) {
        Ok((typed, raw)) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&raw).unwrap_or_default());
            } else {
                print!("{}", text(&typed));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("simple-ntpd: {e}");
            ExitCode::from(2)
        }
    }
}

/// Where leap seconds come from, and the table's state or next leap.
fn leap_line(l: &crate::api::model::LeapSeconds) -> String {
    let mut line = if l.source.is_empty() { "sources".to_owned() } else { l.source.clone() };
    if let Some(p) = &l.problem {
        line.push_str(&format!(" ({}: {p}; the sources' indicators are used)", l.table));
    } else if let (Some(at), Some(kind)) = (l.next_leap, &l.next_leap_kind) {
        line.push_str(&format!(", next: {kind} before {at} (Unix)"));
    }
    if l.smear {
        line.push_str(", smeared");
    }
    line
}

fn secs(v: f64) -> String {
    format!("{v:+.9} s")
}

/// `status`, or with `--watch` the refreshing view.
pub fn status(args: StatusArgs) -> ExitCode {
    if args.watch {
        return super::watch::run(&args);
    }
    show::<Status>(&args.api, "/api/v1/status", |s| {
        let mut pairs = vec![
            ("Mode", s.mode.clone()),
            ("Synchronised", if s.synchronised { "yes".into() } else { "no".into() }),
            ("Stratum", s.stratum.to_string()),
            ("Leap", s.leap.to_string()),
            ("Reference ID", s.reference_id.clone()),
            ("Reference time", s.reference_time.map(|t| format!("{t:.3} (Unix)")).unwrap_or_else(|| "-".into())),
            ("Offset", secs(s.offset_seconds)),
            ("Jitter", format!("{:.9} s", s.jitter_seconds)),
            ("Frequency", format!("{:+.3} ppm", s.frequency_ppm)),
            ("Root delay", format!("{:.9} s", s.root_delay_seconds)),
            ("Root dispersion", format!("{:.9} s", s.root_dispersion_seconds)),
            ("Precision", format!("2^{} s", s.precision)),
            ("Discipline", s.discipline.clone()),
            ("Leap seconds", leap_line(&s.leap_seconds)),
            ("Sources", format!("{} configured, {} usable", s.sources_total, s.sources_selectable)),
            ("Listening on", s.listen.join(", ")),
            ("Health", format!("{:?}", s.health.state).to_lowercase()),
        ];
        for r in &s.health.reasons {
            pairs.push(("  reason", r.clone()));
        }
        if let Some(d) = &s.dns {
            let state = if d.registered { "registered" } else { "not registered" };
            let line = format!("{} {state} ({}) via {}", d.name, d.addresses.join(", "), d.server);
            pairs.push(("DNS", line));
            pairs.push(("  updates", format!("{} ok, {} failed", d.updates_ok, d.updates_failed)));
            if let Some(e) = &d.last_error {
                pairs.push(("  last error", e.clone()));
            }
        }
        for f in &s.faults {
            let what = match (&f.request.source, f.request.offset_seconds) {
                (Some(source), _) => format!("{} {source}", f.request.fault.name()),
                (None, Some(x)) => format!("{} {x:+} s", f.request.fault.name()),
                (None, None) => f.request.fault.name().to_owned(),
            };
            pairs.push(("Test fault", format!("{what} (#{}, ends in {:.0} s)", f.id, f.remaining_seconds)));
        }
        pairs.push(("Uptime", format!("{:.0} s", s.uptime_seconds)));
        pairs.push(("Reloads", s.reloads.to_string()));
        if let Some(e) = &s.last_reload_error {
            pairs.push(("Last reload error", e.clone()));
        }
        pairs.push(("Version", s.version.clone()));
        key_values(&pairs)
    })
}

/// `sources`.
pub fn sources(args: ApiArgs) -> ExitCode {
    show::<Sources>(&args, "/api/v1/sources", |s| {
        if s.sources.is_empty() {
            return "no upstream sources (none configured, or none yet from the sources directory)\n".to_owned();
        }
        let rows: Vec<Vec<String>> = s
            .sources
            .iter()
            .map(|x| {
                vec![
                    format!("{:?}", x.state).to_lowercase(),
                    x.name.clone(),
                    x.address.clone().unwrap_or_else(|| "-".into()),
                    x.stratum.to_string(),
                    format!("{:o}", x.reachability),
                    format!("{:.0}", x.poll_seconds),
                    format!("{:+.6}", x.offset_seconds),
                    format!("{:.6}", x.delay_seconds),
                    format!("{:.6}", x.jitter_seconds),
                    x.last_response_seconds_ago.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
                    // I: the last sample was interleaved (RFC 9769), B: basic.
                    if x.refclock.is_some() || x.last_response_seconds_ago.is_none() {
                        "-"
                    } else if x.interleaved {
                        "I"
                    } else {
                        "B"
                    }
                    .to_owned(),
                ]
            })
            .collect();
        let mut out = render(
            &[
                "State",
                "Name",
                "Address",
                "Stratum",
                "Reach",
                "Poll(s)",
                "Offset(s)",
                "Delay(s)",
                "Jitter(s)",
                "Last(s)",
                "Mode",
            ],
            &rows,
        );
        for x in &s.sources {
            if let Some(r) = &x.refclock {
                let why = r.message.as_deref().or(r.last_refusal.as_deref()).unwrap_or("");
                let device = x.address.as_deref().unwrap_or("-");
                let at =
                    if device.starts_with(&r.driver) { device.to_owned() } else { format!("{} {device}", r.driver) };
                out.push_str(&format!(
                    "refclock {} ({at}): {}, {} readings, {} refused, {} bad input{}{}\n",
                    x.name,
                    r.status,
                    r.readings,
                    r.refused,
                    r.bad_input,
                    if why.is_empty() { "" } else { ": " },
                    why
                ));
            }
        }
        out
    })
}

/// `clients`.
pub fn clients(args: ClientsArgs) -> ExitCode {
    let path = format!("/api/v1/clients?limit={}", args.limit);
    show::<Clients>(&args.api, &path, |c| {
        let rows: Vec<Vec<String>> = c
            .clients
            .iter()
            .map(|x| {
                vec![
                    x.address.clone(),
                    x.requests.to_string(),
                    x.dropped.to_string(),
                    format!("{:.0}", x.last_seen_seconds_ago),
                    x.interface.clone(),
                ]
            })
            .collect();
        let mut out = render(&["Address", "Requests", "Dropped", "Last seen (s ago)", "Interface"], &rows);
        out.push_str(&format!("{} distinct clients tracked (log capacity {})\n", c.tracked, c.capacity));
        if !c.interfaces.is_empty() {
            let rows: Vec<Vec<String>> = c
                .interfaces
                .iter()
                .map(|i| {
                    vec![
                        i.interface.clone(),
                        i.vlan.clone().unwrap_or_else(|| "-".to_owned()),
                        i.clients.to_string(),
                        i.requests.to_string(),
                        i.dropped.to_string(),
                    ]
                })
                .collect();
            out.push('\n');
            out.push_str(&render(&["Interface", "VLAN", "Clients", "Requests", "Dropped"], &rows));
        }
        out
    })
}

/// `serverstats`.
pub fn serverstats(args: ApiArgs) -> ExitCode {
    show::<ServerStats>(&args, "/api/v1/serverstats", |s| {
        let mut pairs = vec![
            ("Packets received", s.received.to_string()),
            ("Replies sent", s.replied.to_string()),
            ("Dropped", s.dropped_total.to_string()),
        ];
        for (reason, n) in s.dropped.iter().filter(|(_, n)| **n > 0) {
            pairs.push(("  dropped", format!("{n} {reason}")));
        }
        pairs.push(("Kiss-o'-death sent", s.kod_sent.to_string()));
        pairs.push(("Authenticated replies", s.authenticated.to_string()));
        pairs.push(("NTS replies", s.nts_replied.to_string()));
        pairs.push(("NTS-KE handshakes", format!("{} ({} failed)", s.nts_ke_handshakes, s.nts_ke_failures)));
        pairs.push(("Send errors", s.send_errors.to_string()));
        pairs.push(("Receive errors", s.receive_errors.to_string()));
        pairs.push(("No kernel RX timestamp", s.rx_timestamp_fallback.to_string()));
        let mut out = key_values(&pairs);
        let rows: Vec<Vec<String>> = s
            .listeners
            .iter()
            .map(|l| vec![l.address.clone(), l.received.to_string(), l.replied.to_string(), l.dropped.to_string()])
            .collect();
        out.push('\n');
        out.push_str(&render(&["Listen address", "Received", "Replied", "Dropped"], &rows));
        if !s.interfaces.is_empty() {
            let rows: Vec<Vec<String>> = s
                .interfaces
                .iter()
                .map(|i| {
                    let reasons: Vec<String> = i.dropped_by_reason.iter().map(|(r, n)| format!("{n} {r}")).collect();
                    vec![
                        i.interface.clone(),
                        i.vlan.clone().unwrap_or_else(|| "-".to_owned()),
                        if i.served { "yes" } else { "no" }.to_owned(),
                        i.received.to_string(),
                        i.replied.to_string(),
                        i.dropped.to_string(),
                        reasons.join(", "),
                    ]
                })
                .collect();
            out.push('\n');
            out.push_str(&render(
                &["Interface", "VLAN", "Served", "Received", "Replied", "Dropped", "Drop reasons"],
                &rows,
            ));
        }
        out
    })
}
