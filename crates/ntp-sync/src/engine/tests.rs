//! Engine tests with a hand-driven model clock: makestep, panic, selection
//! with one to four sources, holdover and the served state.

use super::*;
use crate::clock::ClockError;
use crate::config::MakeStep;
use ntp_proto::source::FilterStats;
use ntp_proto::ReferenceId;

/// A model clock: `error` = reading − true time, drifting at `drift` plus
/// the correction.
struct ModelClock {
    t: f64,
    error: f64,
    drift: f64,
    freq_ppm: f64,
    steps: Vec<f64>,
}

const BASE: f64 = 3_900_000_000.0;

impl ModelClock {
    fn new(error: f64, drift: f64) -> Self {
        ModelClock { t: 0.0, error, drift, freq_ppm: 0.0, steps: Vec::new() }
    }
    fn advance(&mut self, dt: f64) {
        self.error += (self.drift + self.freq_ppm * 1e-6) * dt;
        self.t += dt;
    }
    fn ts(&self, local: f64) -> NtpTimestamp {
        NtpTimestamp::from_bits(((BASE + local) * 4_294_967_296.0) as u64)
    }
    /// A sample from a server whose time is `true + server_offset`.
    fn sample(&self, server_offset: f64, delay: f64) -> Sample {
        let offset = server_offset - self.error;
        Sample {
            offset,
            delay,
            dispersion: 1e-6,
            time: self.now(),
            leap: LeapIndicator::NoWarning,
            stratum: 1,
            reference_id: ReferenceId::from_ascii("GPS"),
            reference_time: self.now(),
            root_delay: 0.0,
            root_dispersion: 1e-5,
            precision: -20,
            poll: 6,
            filter: FilterStats { offset, delay, dispersion: 1e-6, jitter: 1e-5, samples: 1, time: self.now() },
            interleaved: false,
        }
    }
}

impl Clock for ModelClock {
    fn now(&self) -> NtpTimestamp {
        self.ts(self.t + self.error)
    }
    fn frequency_ppm(&self) -> f64 {
        self.freq_ppm
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        self.freq_ppm = ppm;
        Ok(())
    }
    fn step(&mut self, offset_s: f64) -> Result<(), ClockError> {
        self.error += offset_s;
        self.steps.push(offset_s);
        Ok(())
    }
}

fn source(engine: &mut Engine, last_octet: u8) -> SourceId {
    engine.add_source(SourceParams { address: Some([192, 0, 2, last_octet].into()), ..Default::default() })
}

/// Feeds `rounds` polls of `interval` s from every source (offsets given
/// per source), ticking in between. Returns the last update per round.
fn run(engine: &mut Engine, clock: &mut ModelClock, ids: &[(SourceId, f64)], rounds: usize, interval: f64) {
    for _ in 0..rounds {
        for &(id, off) in ids {
            let s = clock.sample(off, 0.001);
            engine.update_reach(id, Reach::from_bits(0xff));
            engine.on_sample(id, &s, clock);
        }
        let mut left = interval;
        while left > 0.0 {
            let dt = left.min(1.0);
            clock.advance(dt);
            left -= dt;
            engine.tick(clock);
        }
    }
}

#[test]
fn one_source_steps_then_tracks_offset_and_frequency() {
    let mut e = Engine::new(EngineConfig::default());
    let id = source(&mut e, 1);
    let mut c = ModelClock::new(-0.5, 20e-6);
    run(&mut e, &mut c, &[(id, 0.0)], 1, 16.0);
    assert_eq!(c.steps.len(), 1);
    assert!((c.steps[0] - 0.5).abs() < 1e-3);
    run(&mut e, &mut c, &[(id, 0.0)], 40, 16.0);
    assert!(c.error.abs() < 1e-5, "error {}", c.error);
    assert!((c.freq_ppm + 20.0).abs() < 0.5, "freq {}", c.freq_ppm);
    let st = e.system_state();
    assert_eq!(st.status, SyncStatus::Synchronised);
    assert_eq!(st.stratum, 2);
    assert_eq!(st.reference_id.0, [192, 0, 2, 1]);
    assert_eq!(st.system_peer, Some(id));
    let ss = e.server_state();
    assert!(ss.is_synchronised());
    assert_eq!(ss.stratum, 2);
    assert_eq!(e.sources(c.now())[0].state, SelectionState::Selected);
}

#[test]
fn small_offsets_are_slewed_not_stepped() {
    let mut e = Engine::new(EngineConfig::default());
    let id = source(&mut e, 1);
    let mut c = ModelClock::new(0.015, 0.0);
    run(&mut e, &mut c, &[(id, 0.0)], 20, 64.0);
    assert!(c.steps.is_empty());
    assert!(c.error.abs() < 1e-5, "error {}", c.error);
}

#[test]
fn two_disagreeing_sources_are_not_trusted_two_agreeing_are() {
    let mut e = Engine::new(EngineConfig::default());
    let a = source(&mut e, 1);
    let b = source(&mut e, 2);
    let mut c = ModelClock::new(0.0, 0.0);
    run(&mut e, &mut c, &[(a, 0.0), (b, 1.0)], 5, 16.0);
    assert_eq!(e.system_state().status, SyncStatus::Starting);
    assert!(e.sources(c.now()).iter().all(|s| s.state == SelectionState::Falseticker));
    assert!(!e.server_state().is_synchronised());

    let mut e = Engine::new(EngineConfig::default());
    let a = source(&mut e, 1);
    let b = source(&mut e, 2);
    let mut c = ModelClock::new(0.0, 0.0);
    run(&mut e, &mut c, &[(a, 0.0), (b, 0.0005)], 5, 16.0);
    assert_eq!(e.system_state().status, SyncStatus::Synchronised);
}

#[test]
fn a_falseticker_among_four_is_never_selected() {
    let mut e = Engine::new(EngineConfig::default());
    let ids: Vec<SourceId> = (1..=4).map(|i| source(&mut e, i)).collect();
    let mut c = ModelClock::new(0.0, 0.0);
    // The falseticker answers first and alone: not selected.
    let s = c.sample(1.0, 0.001);
    e.on_sample(ids[3], &s, &mut c);
    assert!(c.steps.is_empty());
    assert_eq!(e.system_state().status, SyncStatus::Starting);
    let offs = [(ids[0], 0.0), (ids[1], 0.0002), (ids[2], -0.0002), (ids[3], 1.0)];
    run(&mut e, &mut c, &offs, 10, 16.0);
    let reports = e.sources(c.now());
    assert_eq!(reports[3].state, SelectionState::Falseticker);
    assert!(c.error.abs() < 1e-3, "{}", c.error);
    assert!(c.steps.iter().all(|s| s.abs() < 0.1));
}

#[test]
fn three_sources_need_two_in_agreement() {
    let mut e = Engine::new(EngineConfig::default());
    let ids: Vec<SourceId> = (1..=3).map(|i| source(&mut e, i)).collect();
    let mut c = ModelClock::new(0.0, 0.0);
    run(&mut e, &mut c, &[(ids[0], 0.0), (ids[1], 2.0), (ids[2], 0.0003)], 4, 16.0);
    assert_eq!(e.system_state().status, SyncStatus::Synchronised);
    assert_eq!(e.sources(c.now())[1].state, SelectionState::Falseticker);
}

#[test]
fn unreachable_sources_stop_counting() {
    let mut e = Engine::new(EngineConfig::default());
    let a = source(&mut e, 1);
    let b = source(&mut e, 2);
    e.update_reach(b, Reach::from_bits(0));
    let mut c = ModelClock::new(0.0, 0.0);
    run(&mut e, &mut c, &[(a, 0.0)], 3, 16.0);
    assert_eq!(e.system_state().status, SyncStatus::Synchronised);
    assert_eq!(e.sources(c.now())[1].state, SelectionState::Unreachable);
}

#[test]
fn panic_threshold_refuses_after_start_and_serves_unsynchronised() {
    let cfg = EngineConfig {
        panic_threshold: Some(10.0),
        makestep: MakeStep { threshold: 0.1, limit: 1 },
        ..Default::default()
    };
    let mut e = Engine::new(cfg);
    let id = source(&mut e, 1);
    let mut c = ModelClock::new(-100.0, 0.0);
    run(&mut e, &mut c, &[(id, 0.0)], 5, 16.0);
    assert_eq!(c.steps.len(), 1, "the first update may step past the panic threshold");
    assert!(c.error.abs() < 1e-3);
    // The source jumps by 60 s: a lasting change the estimator accepts
    // after a few samples, and the discipline refuses.
    c.error -= 60.0;
    run(&mut e, &mut c, &[(id, 0.0)], 6, 16.0);
    assert_eq!(c.steps.len(), 1);
    assert!(matches!(e.system_state().last_action, Some(ClockAction::PanicRefused { .. })));
    assert_eq!(e.system_state().status, SyncStatus::Panic);
    assert!(!e.server_state().is_synchronised());
}

#[test]
fn holdover_then_unsynchronised_when_distance_exceeds_the_bound() {
    let cfg = EngineConfig { max_root_distance: 0.01, ..Default::default() };
    let mut e = Engine::new(cfg);
    let id = source(&mut e, 1);
    let mut c = ModelClock::new(0.0, 0.0);
    run(&mut e, &mut c, &[(id, 0.0)], 5, 16.0);
    assert_eq!(e.system_state().status, SyncStatus::Synchronised);
    e.update_reach(id, Reach::from_bits(0));
    c.advance(1.0);
    e.tick(&mut c);
    assert_eq!(e.system_state().status, SyncStatus::Holdover(NoSourceReason::NoSelectableSource));
    assert!(e.server_state().is_synchronised(), "holdover still serves time");
    // 10 ms at 15 ppm: about 670 s.
    c.advance(1000.0);
    e.tick(&mut c);
    assert_eq!(e.system_state().status, SyncStatus::Unsynchronised);
    assert!(!e.server_state().is_synchronised());
    assert!(!e.clock_status(c.now()).synchronised);
}

#[test]
fn unknown_source_and_bad_samples_are_ignored() {
    let mut e = Engine::new(EngineConfig::default());
    let id = source(&mut e, 1);
    let mut c = ModelClock::new(0.0, 0.0);
    let mut s = c.sample(0.0, 0.001);
    assert!(!e.on_sample(SourceId(99), &s, &mut c).accepted);
    s.offset = f64::NAN;
    assert!(!e.on_sample(id, &s, &mut c).accepted);
    s.offset = 0.0;
    s.stratum = 16;
    assert!(!e.on_sample(id, &s, &mut c).accepted);
    assert!(e.remove_source(id));
    assert!(!e.remove_source(id));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_sample_sequence_keeps_the_clock_sane(
            samples in proptest::collection::vec((-1e4f64..1e4, 0.0f64..2.0, 0.0f64..5000.0, 0usize..3), 1..60),
        ) {
            let mut e = Engine::new(EngineConfig::default());
            let ids: Vec<SourceId> = (1..=3).map(|i| source(&mut e, i)).collect();
            let mut c = ModelClock::new(0.0, 0.0);
            for (offset, delay, wait, src) in samples {
                let mut s = c.sample(0.0, delay);
                s.offset = offset;
                e.on_sample(ids[src], &s, &mut c);
                c.advance(wait);
                e.tick(&mut c);
                prop_assert!(c.freq_ppm.abs() <= 500.0 + 1e-6, "{}", c.freq_ppm);
                prop_assert!(c.error.is_finite());
                let st = e.system_state();
                prop_assert!(st.root_dispersion.is_finite() && st.root_delay.is_finite());
            }
        }
    }
}

#[test]
fn root_delay_and_dispersion_accumulate_along_the_path() {
    let mut e = Engine::new(EngineConfig::default());
    let id = source(&mut e, 1);
    let mut c = ModelClock::new(0.0, 0.0);
    for _ in 0..8 {
        let mut s = c.sample(0.0, 0.004);
        s.stratum = 3;
        s.root_delay = 0.010;
        s.root_dispersion = 0.020;
        s.filter.delay = 0.004;
        e.update_reach(id, Reach::from_bits(0xff));
        e.on_sample(id, &s, &mut c);
        c.advance(16.0);
        e.tick(&mut c);
    }
    let st = e.system_state();
    assert_eq!(st.status, SyncStatus::Synchronised);
    assert_eq!(st.stratum, 4, "one more than the source");
    // RFC 5905: our root delay = the source's root delay + our delay to it.
    assert!((st.root_delay - 0.014).abs() < 1e-9, "root delay {}", st.root_delay);
    // Root dispersion: the source's, plus ours (sample dispersion, aging,
    // jitter), so never less than the source's and not wildly more here.
    assert!(st.root_dispersion >= 0.020, "root dispersion {}", st.root_dispersion);
    assert!(
        st.root_dispersion < 0.021,
        "root dispersion {}: the source's root distance counted twice?",
        st.root_dispersion
    );
}

#[test]
fn a_reference_clock_serves_stratum_1_with_its_refid() {
    let mut e = Engine::new(EngineConfig::default());
    let gps = e.add_source(SourceParams {
        reference_id: Some(ReferenceId::from_ascii("GPS")),
        refclock: true,
        ..Default::default()
    });
    let server = source(&mut e, 1);
    let mut c = ModelClock::new(0.0, 0.0);
    let mut stratum0 = c.sample(0.0, 1e-9);
    stratum0.stratum = 0;
    // A network source's stratum-0 sample is a kiss, never time.
    e.update_reach(server, Reach::from_bits(0xff));
    assert!(!e.on_sample(server, &stratum0, &mut c).accepted);
    e.update_reach(server, Reach::from_bits(0));
    for _ in 0..5 {
        let mut s = c.sample(0.0, 1e-9);
        s.stratum = 0;
        s.root_dispersion = 0.0;
        e.update_reach(gps, Reach::from_bits(0xff));
        assert!(e.on_sample(gps, &s, &mut c).accepted);
        c.advance(16.0);
        e.tick(&mut c);
    }
    let st = e.system_state();
    assert_eq!((st.status, st.stratum, st.reference_id), (SyncStatus::Synchronised, 1, ReferenceId::from_ascii("GPS")));
    assert!(st.root_delay < 1e-6, "root delay is the refclock's delay: {}", st.root_delay);
}

#[test]
fn a_wrong_reference_clock_is_a_falseticker_among_agreeing_servers() {
    let mut e = Engine::new(EngineConfig::default());
    let gps = e.add_source(SourceParams {
        reference_id: Some(ReferenceId::from_ascii("GPS")),
        refclock: true,
        prefer: true,
        ..Default::default()
    });
    let servers: Vec<SourceId> = (1..=3).map(|i| source(&mut e, i)).collect();
    let mut c = ModelClock::new(0.0, 0.0);
    for _ in 0..10 {
        let mut s = c.sample(1.0, 1e-9);
        s.stratum = 0;
        e.update_reach(gps, Reach::from_bits(0xff));
        e.on_sample(gps, &s, &mut c);
        for &id in &servers {
            e.update_reach(id, Reach::from_bits(0xff));
            e.on_sample(id, &c.sample(0.0, 0.001), &mut c);
        }
        c.advance(16.0);
        e.tick(&mut c);
    }
    let states = e.sources(c.now());
    assert_eq!(states[0].state, SelectionState::Falseticker, "a GPS 1 s off, even preferred, is outvoted");
    assert_eq!(e.system_state().stratum, 2, "served from the servers");
    assert!(c.error.abs() < 1e-3);
}

/// Three loopback-like servers at strata 1, 2 and 3, equally good
/// otherwise, polled every second a third of a second apart: the engine
/// settles on the stratum-1 server (serving stratum 2) and stays with it,
/// instead of following whichever server answered last.
#[test]
fn the_lowest_stratum_is_selected_and_selection_is_stable() {
    let mut e = Engine::new(EngineConfig::default());
    let ids: Vec<SourceId> = (1..=3).map(|i| source(&mut e, i)).collect();
    let mut c = ModelClock::new(0.0, 0.0);
    let (mut changes, mut last_peer) = (0, None);
    for second in 0..120 {
        for (k, &id) in ids.iter().enumerate() {
            let mut s = c.sample(0.0, 100e-6 + 3e-6 * ((second * 7 + k * 3) % 5) as f64);
            s.stratum = k as u8 + 1;
            s.root_delay = 0.0;
            s.root_dispersion = 1e-5;
            e.update_reach(id, Reach::from_bits(0xff));
            e.on_sample(id, &s, &mut c);
            c.advance(1.0 / 3.0);
            e.tick(&mut c);
            let peer = e.system_state().system_peer;
            if second >= 10 && peer != last_peer {
                changes += 1;
            }
            last_peer = peer;
        }
    }
    let st = e.system_state();
    assert_eq!(st.system_peer, Some(ids[0]), "the stratum-1 server");
    assert_eq!(st.stratum, 2);
    assert_eq!(changes, 0, "the system peer changed {changes} times after settling");
}

/// A better source (lower root distance by far) still takes over from the
/// selected one, however stable selection is.
#[test]
fn a_much_better_source_takes_over() {
    let mut e = Engine::new(EngineConfig::default());
    let far = source(&mut e, 1);
    let near = source(&mut e, 2);
    let mut c = ModelClock::new(0.0, 0.0);
    let feed = |e: &mut Engine, c: &mut ModelClock, id, stratum: u8, root_dispersion: f64| {
        let mut s = c.sample(0.0, 100e-6);
        s.stratum = stratum;
        s.root_dispersion = root_dispersion;
        e.update_reach(id, Reach::from_bits(0xff));
        e.on_sample(id, &s, c);
    };
    for _ in 0..20 {
        feed(&mut e, &mut c, far, 1, 1e-5);
        feed(&mut e, &mut c, near, 2, 1e-5);
        c.advance(1.0);
        e.tick(&mut c);
    }
    assert_eq!(e.system_state().system_peer, Some(far), "stratum 1 over an equal stratum 2");
    // The stratum-1 server's root dispersion grows to 50 ms (its own
    // reference is failing): the stratum-2 server is the better one now.
    for _ in 0..20 {
        feed(&mut e, &mut c, far, 1, 0.05);
        feed(&mut e, &mut c, near, 2, 1e-5);
        c.advance(1.0);
        e.tick(&mut c);
    }
    assert_eq!(e.system_state().system_peer, Some(near));
    assert_eq!(e.system_state().stratum, 3);
}

/// A source whose first sample arrives while the engine is slewing: its
/// new estimate starts from the rate the slew gives its offset, so the
/// combined frequency (and the base frequency the discipline keeps) does
/// not jump by a share of the slew rate.
#[test]
fn a_source_first_heard_during_a_slew_does_not_bend_the_frequency() {
    let mut e = Engine::new(EngineConfig { max_slew_ppm: 83_333.0, ..EngineConfig::default() });
    let ids: Vec<SourceId> = (1..=3).map(|i| source(&mut e, i)).collect();
    let mut c = ModelClock::new(-0.01, 0.0);
    for &id in &ids {
        e.update_reach(id, Reach::from_bits(0xff));
    }
    // Two of three agree: the engine slews the 10 ms out over a second.
    for &id in &ids[..2] {
        let s = c.sample(0.0, 100e-6);
        e.on_sample(id, &s, &mut c);
    }
    assert!(c.freq_ppm > 5000.0, "slewing 10 ms over a second: {}", c.freq_ppm);
    c.advance(0.05);
    let s = c.sample(0.0, 100e-6);
    e.on_sample(ids[2], &s, &mut c);
    assert!(e.system_state().frequency_ppm.abs() < 1.0, "base frequency {} ppm", e.system_state().frequency_ppm);
    for _ in 0..20 {
        c.advance(0.5);
        e.tick(&mut c);
        for &id in &ids {
            let s = c.sample(0.0, 100e-6);
            e.on_sample(id, &s, &mut c);
        }
    }
    assert!(c.error.abs() < 1e-5, "error {}", c.error);
}

/// Interleaved samples: each round delivers the sample measured a round
/// earlier (offset and time of then), after the engine has slewed the
/// clock by what it made of the samples before. Taken as current, the
/// already-corrected offset was corrected again and the loop diverged.
#[test]
fn samples_one_poll_old_converge_without_correcting_twice() {
    let mut e = Engine::new(EngineConfig::default());
    let id = source(&mut e, 1);
    let mut c = ModelClock::new(2e-3, 3e-6);
    let mut previous: Option<Sample> = None;
    let mut late_errors = Vec::new();
    for round in 0..80 {
        let now = c.sample(0.0, 0.001);
        if let Some(s) = previous.replace(now) {
            e.update_reach(id, Reach::from_bits(0xff));
            e.on_sample(id, &Sample { interleaved: true, ..s }, &mut c);
        }
        for _ in 0..16 {
            c.advance(1.0);
            e.tick(&mut c);
        }
        if round >= 40 {
            late_errors.push(c.error.abs());
        }
    }
    assert!(c.steps.is_empty(), "{:?}", c.steps);
    let worst = late_errors.iter().cloned().fold(0.0, f64::max);
    assert!(worst < 1e-5, "error after settling up to {worst} s (last {})", c.error);
    assert!((c.freq_ppm + 3.0).abs() < 0.5, "freq {}", c.freq_ppm);
}
