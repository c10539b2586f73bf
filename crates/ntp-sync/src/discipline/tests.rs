//! Tests of makestep, the panic threshold and slewing.

use super::*;
use crate::config::MakeStep;
use ntp_proto::NtpTimestamp;

#[derive(Default)]
struct Recorder {
    freq: f64,
    steps: Vec<f64>,
}

impl Clock for Recorder {
    fn now(&self) -> NtpTimestamp {
        NtpTimestamp::ZERO
    }
    fn frequency_ppm(&self) -> f64 {
        self.freq
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        self.freq = ppm;
        Ok(())
    }
    fn step(&mut self, offset_s: f64) -> Result<(), ClockError> {
        self.steps.push(offset_s);
        Ok(())
    }
}

fn config(threshold: f64, limit: u32) -> EngineConfig {
    EngineConfig { makestep: MakeStep { threshold, limit }, panic_threshold: Some(100.0), ..Default::default() }
}

#[test]
fn makestep_steps_only_above_threshold_and_within_limit() {
    let cfg = config(0.1, 2);
    let mut d = Discipline::new();
    let mut c = Recorder::default();
    d.init(&cfg, &mut c).unwrap();
    let (a, ctl) = d.update(&cfg, 0.0, 0.5, 0.0, true, &mut c);
    assert_eq!(a, ClockAction::Stepped { offset: 0.5 });
    assert_eq!(ctl.step, 0.5);
    let (a, _) = d.update(&cfg, 1.0, 0.05, 0.0, true, &mut c);
    assert!(matches!(a, ClockAction::Slewed { .. }), "below threshold: slew");
    let (a, _) = d.update(&cfg, 2.0, 0.5, 0.0, true, &mut c);
    assert!(matches!(a, ClockAction::Slewed { .. }), "third update: beyond limit, slew");
    assert_eq!(c.steps, vec![0.5]);
}

#[test]
fn panic_threshold_refuses_after_the_step_window_only() {
    let cfg = config(0.1, 1);
    let mut d = Discipline::new();
    let mut c = Recorder::default();
    let (a, _) = d.update(&cfg, 0.0, 5000.0, 0.0, true, &mut c);
    assert_eq!(a, ClockAction::Stepped { offset: 5000.0 }, "first update may step anything");
    let (a, ctl) = d.update(&cfg, 1.0, 500.0, 1e-6, true, &mut c);
    assert_eq!(a, ClockAction::PanicRefused { offset: 500.0 });
    assert_eq!(ctl, Controls::default());
    assert_eq!(d.updates(), 1);
    let no_panic = EngineConfig { panic_threshold: None, ..cfg };
    assert!(matches!(d.update(&no_panic, 2.0, 500.0, 0.0, true, &mut c).0, ClockAction::Slewed { .. }));
}

#[test]
fn slew_rate_is_limited_and_ends_on_time() {
    let cfg = EngineConfig { max_frequency_ppm: 1000.0, ..config(1.0, 0) };
    let mut d = Discipline::new();
    let mut c = Recorder::default();
    let (a, ctl) = d.update(&cfg, 10.0, 0.01, 20e-6, true, &mut c);
    // 10 ms at 500 ppm takes 20 s; frequency absorbs the 20 ppm rate.
    let ClockAction::Slewed { offset, duration } = a else { panic!("{a:?}") };
    assert_eq!(offset, 0.01);
    assert!((duration - 20.0).abs() < 1e-9, "{duration}");
    // The slew as the clock applies it: 500 ppm per second of the steered clock.
    assert!((c.freq - 20.0 - clock_slew(500e-6) * 1e6).abs() < 1e-9, "{}", c.freq);
    assert!((ctl.frequency - 520e-6).abs() < 1e-15);
    assert!((d.slew_end().unwrap() - 30.0).abs() < 1e-9);
    assert_eq!(d.end_slew(29.0, &mut c).unwrap(), Controls::default());
    let ctl = d.end_slew(30.5, &mut c).unwrap();
    assert!((ctl.frequency + 500e-6).abs() < 1e-15);
    assert!((c.freq - 20.0).abs() < 1e-9);
    assert_eq!(d.slew_end(), None);
}

#[test]
fn frequency_stays_within_the_limit() {
    let cfg = config(1.0, 0);
    let mut d = Discipline::new();
    let mut c = Recorder::default();
    d.update(&cfg, 0.0, 1e-3, 900e-6, true, &mut c);
    assert!(c.freq <= 500.0 + 1e-9, "{}", c.freq);
    assert!((d.frequency_ppm() - 500.0).abs() < 1e-9);
}

#[test]
fn starting_frequency_comes_from_config_or_clock() {
    let mut c = Recorder { freq: -12.5, ..Default::default() };
    let mut d = Discipline::new();
    d.init(&EngineConfig::default(), &mut c).unwrap();
    assert!((d.frequency_ppm() + 12.5).abs() < 1e-9);
    let mut d = Discipline::new();
    d.init(&EngineConfig { initial_frequency_ppm: Some(3.0), ..Default::default() }, &mut c).unwrap();
    assert!((d.frequency_ppm() - 3.0).abs() < 1e-9 && c.freq == 3.0);
}

/// A clock whose reading runs at `1 + frequency` per second of its
/// reference, like the virtual clock and the kernel's.
struct Reference {
    t: f64,
    reading: f64,
    freq: f64,
}

impl Reference {
    fn run_until_reading(&mut self, reading: f64) {
        let rate = 1.0 + self.freq;
        self.t += (reading - self.reading) / rate;
        self.reading = reading;
    }
}

impl Clock for Reference {
    fn now(&self) -> NtpTimestamp {
        NtpTimestamp::ZERO
    }
    fn frequency_ppm(&self) -> f64 {
        self.freq * 1e6
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        self.freq = ppm * 1e-6;
        Ok(())
    }
    fn step(&mut self, _: f64) -> Result<(), ClockError> {
        Ok(())
    }
}

#[test]
fn a_fast_slew_removes_exactly_the_offset_measured_on_the_steered_clock() {
    // 50 ms at up to 5 %, over one second of the clock's own reading: the
    // reading must end 50 ms behind the reference's elapsed time, not 52.6.
    let cfg = EngineConfig { max_slew_ppm: 50_000.0, min_slew_time: 1.0, ..config(1.0, 0) };
    let mut d = Discipline::new();
    let mut c = Reference { t: 0.0, reading: 0.0, freq: 0.0 };
    d.init(&cfg, &mut c).unwrap();
    let (a, _) = d.update(&cfg, 0.0, -0.05, 0.0, true, &mut c);
    let ClockAction::Slewed { duration, .. } = a else { panic!("{a:?}") };
    c.run_until_reading(duration);
    d.end_slew(duration, &mut c).unwrap();
    let gained = c.reading - c.t;
    assert!((gained + 0.05).abs() < 1e-9, "the slew removed {gained} s, not 0.05");
}
