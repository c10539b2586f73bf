//! The SHM driver: reads an NTP shared-memory segment (gpsd writes unit 0
//! with its receivers' message time, unit 1 with their PPS time) four
//! times a second, so no sample of a once-a-second writer is missed. The
//! segment is created when missing, with the configured permissions, so
//! the writer may start later.

use std::io;
use std::thread::JoinHandle;
use std::time::Duration;

use ntp_proto::refclock::shm::{ShmSkip, SHM_KEY_BASE};

use super::devices::{spawn, DriverContext};
use super::health::DriverState;
use super::shm_segment::{Segment, SegmentError};
use super::{Reading, RETRY_EVERY};

const READ_EVERY: Duration = Duration::from_millis(250);
/// No new sample for this long: report the writer as silent.
const SILENT_AFTER: f64 = 5.0;

/// Opens unit `unit` now (with the caller's privileges) and starts its thread.
pub fn start(ctx: DriverContext, unit: u32, perm: u32) -> io::Result<JoinHandle<()>> {
    let key = SHM_KEY_BASE.wrapping_add(unit as i32);
    let first = open(&ctx, key, unit, perm);
    let c = ctx.clone();
    spawn(&ctx, move || run(&c, key, unit, perm, first))
}

/// Reads segment `key` until stopped (for tests that use their own key).
pub fn run_key(ctx: &DriverContext, key: i32, perm: u32) {
    let first = open(ctx, key, 0, perm);
    run(ctx, key, 0, perm, first);
}

fn open(ctx: &DriverContext, key: i32, unit: u32, perm: u32) -> Option<Segment> {
    match Segment::open(key, perm) {
        Ok(s) => {
            ctx.health.set(
                DriverState::Waiting,
                Some(format!("no sample in shared memory unit {unit} yet (is gpsd running?)")),
            );
            Some(s)
        }
        Err(e) => {
            if matches!(e, SegmentError::WrongSize { .. }) {
                ctx.health.bad_input("segment size", &e.to_string());
            }
            ctx.health
                .set(DriverState::Error, Some(format!("shared memory unit {unit} (key {key:#x}): {e}; retrying")));
            None
        }
    }
}

fn run(ctx: &DriverContext, key: i32, unit: u32, perm: u32, mut segment: Option<Segment>) {
    while !ctx.stopped() {
        let Some(seg) = &segment else {
            if !ctx.sleep(RETRY_EVERY) {
                break;
            }
            segment = open(ctx, key, unit, perm);
            continue;
        };
        if let Some((record, count_after)) = seg.read() {
            match record.interpret(count_after) {
                Ok(s) => {
                    seg.clear_valid();
                    let offset = s.reference.since(s.received).to_seconds();
                    ctx.send(Reading::Sample { system: s.received, offset, leap: s.leap });
                }
                Err(ShmSkip::NotValid) => {
                    let silent = ctx.health.since_last_reading().is_some_and(|t| t > SILENT_AFTER);
                    if silent {
                        ctx.health.set(
                            DriverState::Waiting,
                            Some(format!("no new sample in shared memory unit {unit} for {SILENT_AFTER:.0} s")),
                        );
                    }
                }
                // The writer was mid-update: read again next time.
                Err(ShmSkip::Torn) => {}
                Err(ShmSkip::NotInSync) => {
                    seg.clear_valid();
                    ctx.health.set(DriverState::NoFix, Some("the writer says it is not in sync (no fix)".to_owned()));
                }
                Err(other) => {
                    seg.clear_valid();
                    let kind = match other {
                        ShmSkip::BadMode(_) => "mode",
                        ShmSkip::BadLeap(_) => "leap",
                        _ => "timestamp",
                    };
                    ctx.health.bad_input(kind, &other.to_string());
                }
            }
        }
        if !ctx.sleep(READ_EVERY) {
            break;
        }
    }
}
