//! The adaptor with a simulated clock and simulated devices: a PPS locked
//! to NMEA, readings stamped with a system clock 250 ms off true time, the
//! engine steering a virtual clock. Time is a variable, so a minute of
//! pulses takes microseconds.

use std::cell::Cell;

use ntp_proto::refclock::{PulseConfig, RefclockConfig};
use ntp_proto::{NtpDuration, ReferenceId};
use ntp_sync::{Clock, EngineConfig, SyncStatus};

use super::*;
use crate::refclock::spec::DriverSpec;
use crate::sync::drivers::VirtualDriver;

thread_local! {
    /// The simulated system clock (each test runs on its own thread).
    static SYSTEM: Cell<u64> = const { Cell::new(0) };
}

fn system() -> NtpTimestamp {
    NtpTimestamp::from_bits(SYSTEM.with(Cell::get))
}

/// True time 2026-01-01 plus `t` seconds.
fn true_time(t: f64) -> NtpTimestamp {
    NtpTimestamp::from_unix(1_767_225_600, 0) + NtpDuration::from_seconds(t)
}

/// The system clock reads true time + ERROR.
const ERROR: f64 = 0.2503;

fn set_true(t: f64) {
    SYSTEM.with(|s| s.set((true_time(t) + NtpDuration::from_seconds(ERROR)).to_bits()));
}

fn spec(name: &str, lock: Option<usize>, noselect: bool, pulse: bool) -> RefclockSpec {
    RefclockSpec {
        name: name.into(),
        driver: DriverSpec::Sock { path: format!("/sim/{name}").into() },
        clock: RefclockConfig {
            reference_id: ReferenceId::from_ascii(name),
            poll: 2,
            pulse: pulse.then_some(PulseConfig { rate: 1, max_lock_age: 2 }),
            ..RefclockConfig::default()
        },
        lock,
        prefer: false,
        noselect,
        trust: false,
    }
}

#[test]
fn a_pps_locked_to_nmea_steers_the_clock_to_the_pulses() {
    set_true(0.0);
    let mut clock = VirtualDriver::over(system);
    let mut engine = Engine::new(EngineConfig { max_slew_ppm: 83_333.0, ..EngineConfig::default() });
    let devices = Devices::without_drivers(&[spec("NMEA", None, true, false), spec("PPS", Some(0), false, true)]);
    let (mut clocks, _rx) = RefclockSources::new(Some(devices), false, &mut engine, &clock);
    let mut worst_late = 0.0f64;
    for k in 1..=120 {
        // The pulse at the true second, the NMEA sentence 100 ms later
        // (its offset option left at 0, so NMEA alone is 100 ms off).
        let t = f64::from(k);
        set_true(t);
        clocks.on_event(
            RefclockEvent { index: 1, reading: Reading::Pulse { system: system(), offset: None } },
            &clock,
            &engine,
        );
        set_true(t + 0.1);
        let sentence_offset = -(0.1 + ERROR);
        clocks.on_event(
            RefclockEvent {
                index: 0,
                reading: Reading::Sample { system: system(), offset: sentence_offset, leap: LeapIndicator::NoWarning },
            },
            &clock,
            &engine,
        );
        for step in 1..=9 {
            set_true(t + 0.1 * f64::from(step) + 0.05);
            for a in clocks.poll_due(&mut engine, &mut clock) {
                if let ClockAction::Stepped { offset } = a {
                    clocks.clock_changed(&clock, offset);
                }
            }
            let _ = engine.tick(&mut clock);
            clocks.clock_changed(&clock, 0.0);
        }
        if k > 60 {
            let served_error = clock.now().since(true_time(t + 0.95)).to_seconds();
            worst_late = worst_late.max(served_error.abs());
        }
    }
    let st = engine.system_state();
    assert_eq!(st.status, SyncStatus::Synchronised);
    assert_eq!((st.stratum, st.reference_id), (1, ReferenceId::from_ascii("PPS")));
    assert!(worst_late < 1e-6, "served time follows the pulses, not the NMEA sentences: {worst_late} s");
    let rows = clocks.report(&engine.sources(clock.now()), clock.now());
    assert_eq!(rows[1].state, SourceState::Selected);
    assert_eq!(rows[0].state, SourceState::Outlier, "noselect NMEA only gives the seconds");
    assert_eq!(rows[1].refclock.as_ref().map(|r| r.refused), Some(1), "only the first pulse, before any NMEA sample");
}

#[test]
fn unlocked_pulses_on_the_local_clock_keep_its_seconds() {
    set_true(0.0);
    let mut clock = VirtualDriver::over(system);
    let mut engine = Engine::new(EngineConfig { max_slew_ppm: 83_333.0, ..EngineConfig::default() });
    let mut pps = spec("PPS", None, false, true);
    pps.clock.stratum = 9;
    let devices = Devices::without_drivers(&[pps]);
    let (mut clocks, _rx) = RefclockSources::new(Some(devices), true, &mut engine, &clock);
    for k in 1..=40 {
        let t = f64::from(k);
        set_true(t);
        clocks.on_event(
            RefclockEvent { index: 0, reading: Reading::Pulse { system: system(), offset: None } },
            &clock,
            &engine,
        );
        set_true(t + 0.5);
        for a in clocks.poll_due(&mut engine, &mut clock) {
            if let ClockAction::Stepped { offset } = a {
                clocks.clock_changed(&clock, offset);
            }
        }
        let _ = engine.tick(&mut clock);
        clocks.clock_changed(&clock, 0.0);
    }
    let st = engine.system_state();
    assert_eq!(
        (st.status, st.stratum),
        (SyncStatus::Synchronised, 10),
        "the local stratum, as chrony's PPS with `local`"
    );
    // The phase comes from the pulses; the whole seconds stay the host's:
    // 0.2503 s fast is corrected to 0 s, not to 1 s.
    let err = clock.now().since(true_time(40.5)).to_seconds();
    assert!(err.abs() < 1e-6, "{err}");
}
