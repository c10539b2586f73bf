//! Clock discipline: turns the combined estimate (offset `x`, offset rate
//! `r`) into clock operations, and remembers what it applied.
//!
//! Every update sets the frequency correction to absorb the estimated rate
//! (`base += r`), then corrects the offset: a step when `|x|` is above the
//! makestep threshold during the first makestep-limit updates, a refusal
//! when it is above the panic threshold after that, else a slew: an extra
//! frequency `x/τ` for `τ = max(min_slew_time, |x|/max_slew)` seconds, which
//! [`Discipline::end_slew`] removes when the engine ticks at its end. The
//! returned [`Controls`] tell the engine how the clock's rate and phase
//! changed so every source filter can follow.
//!
//! Rates in the engine are per second of the clock being steered (the
//! engine's timeline is that clock's reading); a clock applies a frequency
//! per second of its own reference. They differ by the factor `1 + f`,
//! negligible for an oscillator's error but not for a fast slew: 50 ms
//! slewed at 5 % in one second of the steered clock takes 1.053 s of the
//! reference and would overshoot by 2.6 ms. So the slew's extra frequency
//! is set to `rate / (1 − rate)`, which removes exactly `x` over the slew's
//! `duration` as the engine measures it ([`clock_slew`]).

use crate::clock::{Clock, ClockError};
use crate::config::EngineConfig;

/// What the engine did to the clock.
#[derive(Clone, Debug, PartialEq)]
pub enum ClockAction {
    /// Slewing `offset` seconds over `duration` seconds.
    Slewed {
        /// Offset being corrected, s.
        offset: f64,
        /// Over this long, s.
        duration: f64,
    },
    /// Stepped by `offset` seconds (pollers must hear of it:
    /// `Association::clock_stepped`).
    Stepped {
        /// The step, s.
        offset: f64,
    },
    /// An offset beyond the panic threshold, not applied.
    PanicRefused {
        /// The refused offset, s.
        offset: f64,
    },
    /// The clock refused an operation.
    Failed(ClockError),
    /// A leap second took effect: the clock's reading jumped by `offset`
    /// (−1 s inserted, +1 s deleted) together with UTC, so offsets to the
    /// sources are unchanged; pollers must hear of the jump like of a step
    /// (`Association::clock_stepped`).
    LeapSecond {
        /// The jump of the reading, s.
        offset: f64,
    },
}

impl ClockAction {
    /// How far the clock's reading jumped: a step's or a leap second's
    /// offset, else 0 (what `Association::clock_stepped` needs).
    pub fn clock_jump(&self) -> f64 {
        match *self {
            ClockAction::Stepped { offset } | ClockAction::LeapSecond { offset } => offset,
            _ => 0.0,
        }
    }
}

/// How the clock changed: every source filter applies these.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Controls {
    /// Change of the clock's frequency correction, s/s.
    pub frequency: f64,
    /// Step applied, s.
    pub step: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Slew {
    rate: f64,
    end: f64,
}

/// The discipline's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Discipline {
    base: f64,
    slew: Option<Slew>,
    updates: u64,
    initialised: bool,
}

impl Default for Discipline {
    fn default() -> Self {
        Self::new()
    }
}

impl Discipline {
    /// A discipline that has not touched the clock yet.
    pub fn new() -> Self {
        Discipline { base: 0.0, slew: None, updates: 0, initialised: false }
    }

    /// The frequency correction without any slew, ppm.
    pub fn frequency_ppm(&self) -> f64 {
        self.base * 1e6
    }

    /// Clock updates so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The running slew's extra frequency, s/s (0 when none runs).
    pub fn slew_rate(&self) -> f64 {
        self.slew.map_or(0.0, |s| s.rate)
    }

    /// When the running slew ends (engine time), if one runs.
    pub fn slew_end(&self) -> Option<f64> {
        self.slew.map(|s| s.end)
    }

    /// Takes the starting frequency from the configuration (driftfile) or
    /// the clock, once.
    pub fn init(&mut self, config: &EngineConfig, clock: &mut dyn Clock) -> Result<(), ClockError> {
        if self.initialised {
            return Ok(());
        }
        self.initialised = true;
        let limit = config.max_frequency_ppm.abs();
        match config.initial_frequency_ppm {
            Some(ppm) if ppm.is_finite() => {
                let ppm = ppm.clamp(-limit, limit);
                clock.set_frequency(ppm)?;
                self.base = ppm * 1e-6;
            }
            _ => {
                let ppm = clock.frequency_ppm();
                self.base = if ppm.is_finite() { ppm.clamp(-limit, limit) * 1e-6 } else { 0.0 };
            }
        }
        Ok(())
    }

    /// Ends the slew if it is due at engine time `t`.
    pub fn end_slew(&mut self, t: f64, clock: &mut dyn Clock) -> Result<Controls, ClockError> {
        match self.slew {
            Some(s) if t >= s.end => {
                clock.set_frequency(self.base * 1e6)?;
                self.slew = None;
                Ok(Controls { frequency: -s.rate, step: 0.0 })
            }
            _ => Ok(Controls::default()),
        }
    }

    /// Applies an update: offset `x` (s) and offset rate `r` (s/s) at
    /// engine time `t`. `adjust_frequency` is false for a mere residual
    /// re-slew (no new measurement).
    pub fn update(
        &mut self,
        config: &EngineConfig,
        t: f64,
        x: f64,
        r: f64,
        adjust_frequency: bool,
        clock: &mut dyn Clock,
    ) -> (ClockAction, Controls) {
        if !(x.is_finite() && r.is_finite()) {
            return (ClockAction::Failed(ClockError("non-finite estimate".into())), Controls::default());
        }
        let in_step_window = self.updates < u64::from(config.makestep.limit);
        if !in_step_window {
            if let Some(panic) = config.panic_threshold {
                if x.abs() > panic {
                    return (ClockAction::PanicRefused { offset: x }, Controls::default());
                }
            }
        }
        let limit = config.max_frequency_ppm.abs() * 1e-6;
        let old_slew = self.slew.map_or(0.0, |s| s.rate);
        let old_total = self.base + old_slew;
        // `r` is the offset rate under the running slew too; without it the
        // rate is `r + old_slew`, which the base frequency absorbs.
        let new_base = if adjust_frequency { (self.base + r + old_slew).clamp(-limit, limit) } else { self.base };
        let step = adjust_frequency && in_step_window && x.abs() > config.makestep.threshold;
        let (rate, duration) = if step || x == 0.0 {
            (0.0, 0.0)
        } else {
            let max_slew = config.max_slew_ppm.abs().max(1e-3) * 1e-6;
            let tau = config.min_slew_time.max(1e-3).max(x.abs() / max_slew);
            // The base frequency stays within max_frequency_ppm (a real
            // oscillator's error); a deliberate slew may go up to
            // max_slew_ppm on top when the clock allows more (virtual).
            let total = limit.max(max_slew);
            // Within the limit as the clock will apply it (`clock_slew`).
            let rate = (x / tau).clamp(-total - new_base, total - new_base);
            let rate = rate.clamp(model_slew(-total - new_base), model_slew(total - new_base));
            if rate == 0.0 {
                (0.0, 0.0)
            } else {
                (rate, x / rate)
            }
        };
        if let Err(e) = clock.set_frequency((new_base + clock_slew(rate)) * 1e6) {
            return (ClockAction::Failed(e), Controls::default());
        }
        let mut controls = Controls { frequency: new_base + rate - old_total, step: 0.0 };
        self.base = new_base;
        self.slew = (rate != 0.0).then_some(Slew { rate, end: t + duration });
        if adjust_frequency {
            self.updates += 1;
        }
        if step {
            if let Err(e) = clock.step(x) {
                return (ClockAction::Failed(e), controls);
            }
            controls.step = x;
            return (ClockAction::Stepped { offset: x }, controls);
        }
        (ClockAction::Slewed { offset: x, duration }, controls)
    }
}

/// The inverse of [`clock_slew`]: `f / (1 + f)`.
fn model_slew(f: f64) -> f64 {
    if f.abs() < 0.5 {
        f / (1.0 + f)
    } else {
        f
    }
}

/// The extra frequency a clock must apply, per second of its reference,
/// for the steered clock's offset to change by `rate` per second of its own
/// reading (see the module documentation): `rate / (1 − rate)`.
pub fn clock_slew(rate: f64) -> f64 {
    if rate.abs() < 0.5 {
        rate / (1.0 - rate)
    } else {
        rate
    }
}

#[cfg(test)]
mod tests;
