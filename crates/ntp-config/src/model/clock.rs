//! How the host clock is disciplined: `[clock]`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the daemon disciplines the clock of the machine it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    /// Which clock is steered: `auto` (the system clock when the daemon may set it, otherwise a virtual clock), `system`, `virtual` (an offset kept inside the daemon) or `none` (serve the system clock as it is).
    pub discipline: ClockDiscipline,
    /// Offsets larger than this many seconds after the first synchronisation are refused (reported loudly, not applied) instead of stepped into; 0 turns the check off.
    #[serde(alias = "panicThreshold")]
    #[schemars(range(min = 0.0))]
    pub panic_threshold: f64,
    /// The fewest sources that must agree before the clock is steered (with more sources a majority must agree anyway: two of two, two of three, three of four).
    #[serde(alias = "minSources")]
    #[schemars(range(min = 1, max = 16))]
    pub min_sources: usize,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self { discipline: ClockDiscipline::Auto, panic_threshold: 1000.0, min_sources: 1 }
    }
}

/// Which clock is steered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClockDiscipline {
    /// The system clock when the daemon may set it, otherwise a virtual clock.
    #[default]
    Auto,
    /// The system clock.
    System,
    /// An offset kept inside the daemon.
    Virtual,
    /// No steering: serve the system clock as it is.
    None,
}
