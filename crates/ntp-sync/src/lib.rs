//! The synchronisation engine of simple-ntpd: from samples of upstream
//! sources to a disciplined clock and the state the server advertises.
//!
//! Sans-IO like `ntp-proto`: no sockets, no timers, no clock reads except
//! through the [`Clock`] the caller passes in.
//!
//! # Driving it
//!
//! ```text
//! let mut engine = Engine::new(EngineConfig { .. });
//! let id = engine.add_source(SourceParams { address: Some(ip), prefer: false, .. });
//! // per upstream, an ntp_proto::association::Association (see its docs):
//! //   after poll_transmit / on a sample:  engine.update_reach(id, assoc.reach());
//! //   on Event::Sample(sample) from assoc.poll_event():
//! let update = engine.on_sample(id, &sample, &mut clock);
//! assoc.advise_poll(update.poll_advice);
//! if let Some(ClockAction::Stepped { offset }) = update.action { for a in assocs { a.clock_stepped(offset) } }
//! // at engine.next_tick_at() (the end of a slew), and every second or so anyway:
//! engine.tick(&mut clock);
//! // publish for the serving path:
//! let server_state = engine.server_state();          // ntp_proto::server::ServerState
//! let status = engine.system_state();                // leap, stratum, refid, root delay/dispersion, offset, frequency…
//! let per_source = engine.sources(clock.now());      // selected | combined | candidate | falseticker | unreachable | …
//! ```
//!
//! # How it works (details in `docs/algorithm.md`)
//!
//! - [`estimate`]: a two-state Kalman filter per source (offset and its
//!   rate) fed with every raw sample, each weighted by its excess delay over
//!   the path minimum, with the oscillator's wander learnt from the
//!   residuals; it also advises the poll interval.
//! - [`select`]: Marzullo intersection, the majority rule (one source is
//!   used alone, two must agree, three need two, …), clustering, `prefer`,
//!   inverse-variance combining.
//! - [`discipline`]: frequency set to the combined estimate each update,
//!   offsets slewed by the engine itself (temporary extra frequency), steps
//!   only per makestep, panic threshold.
//! - Holdover: with no selectable source the clock keeps its frequency,
//!   root dispersion grows at 15 ppm from the last update, and the engine
//!   reports unsynchronised once the root distance exceeds
//!   `max_root_distance` (1.5 s by default, ntpd's MAXDIST).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod config;
pub mod discipline;
pub mod engine;
pub mod estimate;
pub mod leap;
pub mod refid;
pub mod select;
pub mod source;
pub mod state;

pub use clock::{Clock, ClockError, ClockStatus, VirtualClock};
pub use config::{EngineConfig, MakeStep, SourceParams};
pub use discipline::ClockAction;
pub use engine::Engine;
pub use state::{NoSourceReason, SelectionState, SourceId, SourceReport, SyncStatus, SystemState, Update};
