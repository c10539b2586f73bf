//! The running drivers: one thread per reference clock, started (and its
//! device opened a first time) when the daemon starts, before privileges are
//! dropped; readings go to the attached synchronisation loop. A reload that
//! keeps the same clocks re-attaches the new loop to the same drivers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::debug;

use super::health::Health;
use super::spec::{DriverSpec, RefclockSpec};
use super::{nmea, pps, shm, sock, Reading, RefclockEvent};

/// Where readings go: the attached loop's channel, if any.
type Sink = Arc<Mutex<Option<mpsc::Sender<RefclockEvent>>>>;

/// What a driver thread is given.
#[derive(Clone)]
pub struct DriverContext {
    index: usize,
    sink: Sink,
    /// Its clock's status.
    pub health: Arc<Health>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl DriverContext {
    /// A context whose readings go to `tx` (for tests of a single driver).
    pub fn for_test(name: &str, tx: mpsc::Sender<RefclockEvent>) -> (DriverContext, Arc<AtomicBool>) {
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = DriverContext {
            index: 0,
            sink: Arc::new(Mutex::new(Some(tx))),
            health: Arc::new(Health::new(name, "test")),
            stop: stop.clone(),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (ctx, stop)
    }

    /// Hands a reading to the attached loop (dropped, and counted, when
    /// none is attached or it is not keeping up).
    pub fn send(&self, reading: Reading) {
        self.health.reading();
        let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let sent = sink.as_ref().is_some_and(|tx| tx.try_send(RefclockEvent { index: self.index, reading }).is_ok());
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// True once the daemon stops this driver.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps `d` unless stopped first; false when stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
        false
    }
}

/// The drivers of one set of reference clocks.
pub struct Devices {
    specs: Vec<RefclockSpec>,
    health: Vec<Arc<Health>>,
    sink: Sink,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devices").field("clocks", &self.specs.len()).finish()
    }
}

impl Devices {
    /// Starts a driver for every clock; each opens its device once before
    /// this returns (so with the privileges the caller has now).
    pub fn start(specs: &[RefclockSpec]) -> Arc<Devices> {
        let sink: Sink = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let mut health = Vec::new();
        let mut threads = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let h = Arc::new(Health::new(&spec.name, &spec.driver.device()));
            health.push(h.clone());
            let ctx =
                DriverContext { index, sink: sink.clone(), health: h, stop: stop.clone(), dropped: dropped.clone() };
            let started = match &spec.driver {
                DriverSpec::Shm { unit, perm } => shm::start(ctx, *unit, *perm),
                DriverSpec::Sock { path } => sock::start(ctx, path.clone()),
                DriverSpec::Nmea { path, baud } => nmea::start(ctx, path.clone(), *baud),
                DriverSpec::Pps { path, clear } => pps::start(ctx, path.clone(), *clear),
            };
            match started {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!(refclock = %spec.name, "cannot start the driver thread: {e}"),
            }
        }
        Arc::new(Devices { specs: specs.to_vec(), health, sink, stop, dropped, threads: Mutex::new(threads) })
    }

    /// The drivers of `config`'s reference clocks `specs` (none without
    /// clocks), their devices opened now, with the rights the process has.
    pub fn for_config(specs: &[RefclockSpec], config: &ntp_config::Config) -> Option<Arc<Devices>> {
        if specs.is_empty() {
            return None;
        }
        let gps = &config.sources.hardware.gps;
        if gps.enabled {
            tracing::info!(device = %gps.device.display(), "GPS through gpsd: reading its shared memory unit 0 (gpsd reads the receiver)");
        }
        Some(Devices::start(specs))
    }

    /// A reload changed the clocks: stops `old`, starts `specs` (now
    /// without root, which some devices need).
    pub fn restart(
        old: Option<Arc<Devices>>,
        specs: &[RefclockSpec],
        config: &ntp_config::Config,
    ) -> Option<Arc<Devices>> {
        if let Some(old) = old {
            old.stop();
        }
        if !specs.is_empty() && !nix::unistd::geteuid().is_root() {
            tracing::warn!("reference clocks changed after root was dropped: devices that need root (PPS, shared memory created by root) may fail until simple-ntpd is restarted");
        }
        Self::for_config(specs, config)
    }

    /// The clocks' status without driver threads: readings are handed to
    /// the loop by the caller (tests, simulations).
    pub fn without_drivers(specs: &[RefclockSpec]) -> Arc<Devices> {
        Arc::new(Devices {
            specs: specs.to_vec(),
            health: specs.iter().map(|s| Arc::new(Health::new(&s.name, &s.driver.device()))).collect(),
            sink: Arc::new(Mutex::new(None)),
            stop: Arc::new(AtomicBool::new(false)),
            dropped: Arc::new(AtomicU64::new(0)),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// The clocks these drivers read.
    pub fn specs(&self) -> &[RefclockSpec] {
        &self.specs
    }

    /// Clock `index`'s status.
    pub fn health(&self, index: usize) -> Option<Arc<Health>> {
        self.health.get(index).cloned()
    }

    /// Sends every later reading to `tx` (replacing the previous loop).
    pub fn attach(&self, tx: mpsc::Sender<RefclockEvent>) {
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }

    /// Readings dropped because no loop was attached or it was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops every driver and waits for its thread (each checks at least
    /// every second); devices are closed and sockets removed.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        debug!(clocks = self.specs.len(), "reference clock drivers stopped");
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns a named driver thread.
pub(crate) fn spawn(ctx: &DriverContext, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(format!("refclock-{}", ctx.index)).spawn(f)
}
