//! The NMEA driver: reads a GNSS receiver's serial port directly (no
//! gpsd), one sample per second from its RMC/ZDA/GGA sentences, stamped
//! when the first sentence of the second starts to arrive. The receiver's
//! latency (sentences start tens to hundreds of milliseconds after the
//! second) is what the clock's `offset` option removes.

use std::io;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use ntp_proto::refclock::nmea::{self, NmeaError};
use ntp_proto::refclock::nmea_time::{NmeaEvent, NmeaTime};
use ntp_proto::LeapIndicator;

use super::devices::{spawn, DriverContext};
use super::health::DriverState;
use super::serial::{Line, SerialPort};
use super::{Reading, RETRY_EVERY, STOP_CHECK};

/// No sentence for this long: report the receiver as silent, s.
const SILENT_AFTER: f64 = 5.0;

/// Opens `path` now (with the caller's privileges) and starts the thread.
pub fn start(ctx: DriverContext, path: PathBuf, baud: u32) -> io::Result<JoinHandle<()>> {
    let first = open(&ctx, &path, baud);
    let c = ctx.clone();
    spawn(&ctx, move || run(&c, &path, baud, first))
}

fn open(ctx: &DriverContext, path: &Path, baud: u32) -> Option<SerialPort> {
    match SerialPort::open(path, baud) {
        Ok(p) => {
            ctx.health.set(DriverState::Waiting, Some(format!("no NMEA sentence from {} yet", path.display())));
            Some(p)
        }
        Err(e) => {
            ctx.health.set(DriverState::Error, Some(format!("cannot open {}: {e}; retrying", path.display())));
            None
        }
    }
}

fn error_kind(e: &NmeaError) -> &'static str {
    match e {
        NmeaError::BadChecksum { .. } => "checksum",
        NmeaError::NoChecksum => "no checksum",
        NmeaError::BadField(_) => "field",
        _ => "framing",
    }
}

/// Reads until stopped.
pub fn run(ctx: &DriverContext, path: &Path, baud: u32, mut port: Option<SerialPort>) {
    let mut time = NmeaTime::new();
    while !ctx.stopped() {
        let Some(p) = port.as_mut() else {
            if !ctx.sleep(RETRY_EVERY) {
                break;
            }
            port = open(ctx, path, baud);
            time = NmeaTime::new();
            continue;
        };
        let got = p.read_lines(STOP_CHECK, |line| match line {
            Line::TooLong => ctx.health.bad_input("framing", "a line longer than 256 bytes"),
            Line::Text(text, received) => match nmea::parse(&text) {
                Ok(sentence) => {
                    let local_unix = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64);
                    match time.on_sentence(&sentence, received, local_unix) {
                        NmeaEvent::Sample { reference, received } => ctx.send(Reading::Sample {
                            system: received,
                            offset: reference.since(received).to_seconds(),
                            leap: LeapIndicator::NoWarning,
                        }),
                        NmeaEvent::NoFix => {
                            ctx.health.set(DriverState::NoFix, Some("the receiver reports no fix".to_owned()))
                        }
                        NmeaEvent::Nothing => {}
                    }
                }
                Err(e) => ctx.health.bad_input(error_kind(&e), &format!("sentence {e}")),
            },
        });
        match got {
            Ok(false) if ctx.health.since_last_reading().unwrap_or(f64::INFINITY) > SILENT_AFTER => {
                let r = ctx.health.report();
                if r.state == DriverState::Ok {
                    ctx.health.set(DriverState::Waiting, Some(format!("no sentence for {SILENT_AFTER:.0} s")));
                }
            }
            Ok(_) => {}
            Err(e) => {
                ctx.health.set(DriverState::Error, Some(format!("{}: {e}; reopening", path.display())));
                port = None;
            }
        }
    }
}
