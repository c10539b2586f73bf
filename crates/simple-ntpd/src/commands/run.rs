//! `simple-ntpd run`: load the configuration, start logging, bind the
//! sockets, publish the system state, serve until SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ntp_config::{Config, Overrides};
use tracing::{error, info, warn};

use crate::cli::RunArgs;
use crate::clock::{system::measure_precision, Clock, SystemClock};
use crate::commands::config::config_files;
use crate::logging;
use crate::net::listen::SocketOptions;
use crate::server::{Server, ServerSettings, ServingOptions};
use crate::state::local::{unsynchronised, LocalReference};
use crate::state::StateCell;

/// How often the local reference republishes its state.
const STATE_PERIOD: Duration = Duration::from_secs(1);

/// Runs the daemon; returns when it has shut down.
pub fn run(args: RunArgs) -> ExitCode {
    let files = config_files(&args.config);
    let overrides = Overrides {
        listen: (!args.listen.is_empty()).then(|| args.listen.clone()),
        stratum: args.stratum,
        log_level: args.log_level.clone(),
    };
    let loaded = match ntp_config::load(&files, std::env::vars(), &overrides) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("simple-ntpd: configuration error:\n{e}");
            return ExitCode::from(1);
        }
    };
    let _log_guard = match logging::init(&loaded.config.logging) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("simple-ntpd: {e:#}");
            return ExitCode::from(1);
        }
    };
    let sources: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    info!(version = env!("CARGO_PKG_VERSION"), config = ?sources, "simple-ntpd starting");
    for w in &loaded.warnings {
        warn!("{w}");
    }
    let default_listen = args.listen.is_empty()
        && loaded.config.network.listen_address == ntp_config::NetworkConfig::default().listen_address;
    match serve(&loaded.config, default_listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(config: &Config, default_listen: bool) -> anyhow::Result<()> {
    let precision = measure_precision();
    let clock = SystemClock;
    let local = config.is_local_reference().then_some(LocalReference { stratum: config.ntp_server.stratum, precision });
    let initial = match &local {
        Some(l) => {
            info!(
                stratum = l.stratum,
                precision, "no upstream sources configured: serving the local clock as reference"
            );
            l.snapshot(clock.now())
        }
        None => {
            warn!("upstream sources are configured but the synchronisation engine is not implemented yet: serving as unsynchronised (leap 3, stratum 0) so no client is misled");
            unsynchronised(precision)
        }
    };
    let state = StateCell::new(initial);

    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, shutdown.clone()).context("cannot install signal handlers")?;
    }
    let hangup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hangup.clone())
        .context("cannot install SIGHUP handler")?;

    let settings = ServerSettings {
        listen: config.listen_sockets(),
        workers: config.worker_threads(),
        worker: ServingOptions {
            max_packet_size: config.performance.max_packet_size,
            recv_batch: config.performance.recv_batch,
            batch_send: config.performance.batch_send,
            cpu: None,
        },
        cpu_affinity: config.performance.cpu_affinity.clone(),
        socket: SocketOptions {
            recv_buffer: config.performance.socket_receive_buffer,
            send_buffer: config.performance.socket_send_buffer,
            ..SocketOptions::default()
        },
        default_listen,
    };
    if config.performance.batch_send {
        warn!("performance.batch_send is on: replies are stamped per batch, so transmit timestamps can be tens of microseconds early");
    }
    let server = Server::start(&settings, state.clone(), shutdown.clone())?;

    let mut next_publish = Instant::now() + STATE_PERIOD;
    while !shutdown.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if hangup.swap(false, Ordering::Relaxed) {
            warn!("SIGHUP received: configuration reload is not implemented yet; keeping the running configuration");
        }
        if let Some(l) = &local {
            if Instant::now() >= next_publish {
                state.publish(l.snapshot(clock.now()));
                next_publish += STATE_PERIOD;
            }
        }
    }
    info!("shutdown requested; stopping workers");
    let totals = server.join().totals();
    info!(
        received = totals.received,
        replied = totals.replied,
        dropped = totals.dropped_total(),
        send_errors = totals.send_errors,
        "simple-ntpd stopped"
    );
    Ok(())
}
