//! The PPS driver: waits for edges on a Linux PPS device (`/dev/ppsN`) and
//! hands each kernel timestamp on as a pulse; which second it belongs to
//! is decided by the sync loop (the `lock` clock, or the synchronised
//! local clock). The device is set up when the daemon starts, because
//! choosing the edge needs CAP_SYS_TIME.

use std::io;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use ntp_proto::NtpTimestamp;

use super::devices::{spawn, DriverContext};
use super::health::DriverState;
use super::pps_device::PpsDevice;
use super::{Reading, RETRY_EVERY, STOP_CHECK};

/// No edge for this long: report the signal as missing, s.
const SILENT_AFTER: f64 = 3.0;

/// Something that yields pulse edges: a PPS device, or a simulated one.
pub trait EdgeSource {
    /// Waits up to `timeout` for the next edge; its system time.
    fn next_edge(&mut self, timeout: Duration) -> io::Result<Option<NtpTimestamp>>;
}

impl EdgeSource for PpsDevice {
    fn next_edge(&mut self, timeout: Duration) -> io::Result<Option<NtpTimestamp>> {
        self.fetch(timeout)
    }
}

/// Opens `path` now (with the caller's privileges) and starts the thread.
pub fn start(ctx: DriverContext, path: PathBuf, clear: bool) -> io::Result<JoinHandle<()>> {
    let first = open(&ctx, &path, clear);
    let c = ctx.clone();
    spawn(&ctx, move || {
        let mut device = first;
        while !c.stopped() {
            match device.as_mut() {
                Some(d) => {
                    if let Err(e) = run_edges(&c, d) {
                        c.health.set(DriverState::Error, Some(format!("{}: {e}; reopening", path.display())));
                        device = None;
                    }
                }
                None => {
                    if !c.sleep(RETRY_EVERY) {
                        break;
                    }
                    device = open(&c, &path, clear);
                }
            }
        }
    })
}

fn open(ctx: &DriverContext, path: &Path, clear: bool) -> Option<PpsDevice> {
    match PpsDevice::open(path, clear) {
        Ok(d) => {
            ctx.health.set(DriverState::Waiting, Some(format!("no pulse from {} yet", path.display())));
            Some(d)
        }
        Err(e) => {
            ctx.health.set(DriverState::Error, Some(format!("cannot use {}: {e}; retrying", path.display())));
            None
        }
    }
}

/// Hands on edges from `source` until stopped or it fails.
pub fn run_edges(ctx: &DriverContext, source: &mut dyn EdgeSource) -> io::Result<()> {
    while !ctx.stopped() {
        match source.next_edge(STOP_CHECK)? {
            Some(edge) => ctx.send(Reading::Pulse { system: edge, offset: None }),
            None => {
                if ctx.health.since_last_reading().is_some_and(|t| t > SILENT_AFTER)
                    && ctx.health.report().state == DriverState::Ok
                {
                    ctx.health.set(DriverState::Waiting, Some(format!("no pulse for {SILENT_AFTER:.0} s")));
                }
            }
        }
    }
    Ok(())
}
