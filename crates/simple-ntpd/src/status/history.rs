//! The daemon's recent past for the status page and `status --watch`: a
//! fixed-size, in-memory history of offset, jitter, frequency, stratum,
//! request and drop rates and the sources' offsets.
//!
//! Two rings, both allocated once when the daemon starts and never grown:
//! one sample every [`FINE_INTERVAL_SECONDS`] for the last hour, and the
//! mean of every [`COARSE_FACTOR`] fine samples (five minutes) for the last
//! day. Up to [`MAX_SOURCES`] sources get an offset series each; a source
//! that appears when every series is taken reuses the series of the source
//! absent the longest (its old points are cleared), or is not charted when
//! all of them are present. Values are `f32` (7 significant digits, plenty
//! for a chart); missing values are NaN and become `null` in the API.
//!
//! Recording allocates nothing unless a new source takes a series (its name
//! is copied); [`History::heap_bytes`] says what it costs.

use std::collections::BTreeMap;

use ntp_proto::server::DropReason;

use crate::api::model::{History as HistoryDoc, HistoryRange, HistorySource, Source, SourceState};

/// Seconds between two samples of the last-hour ring.
pub const FINE_INTERVAL_SECONDS: u32 = 5;
/// Samples of the last-hour ring.
pub const FINE_CAPACITY: usize = 3600 / FINE_INTERVAL_SECONDS as usize;
/// Fine samples averaged into one sample of the last-day ring (5 minutes).
pub const COARSE_FACTOR: usize = 60;
/// Samples of the last-day ring.
pub const COARSE_CAPACITY: usize = 86_400 / (FINE_INTERVAL_SECONDS as usize * COARSE_FACTOR);
/// Sources with an offset series.
pub const MAX_SOURCES: usize = 8;

const REASONS: usize = DropReason::COUNT;
const V_OFFSET: usize = 0;
const V_JITTER: usize = 1;
const V_FREQUENCY: usize = 2;
const V_REQUESTS: usize = 3;
const V_DROPPED: usize = 4;
const V_SOURCES: usize = V_DROPPED + REASONS;
const VALUES: usize = V_SOURCES + MAX_SOURCES;

/// One point in time: Unix time, stratum served (0 = unsynchronised) and
/// the charted values (NaN = unknown).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    time: f64,
    stratum: u8,
    values: [f32; VALUES],
}

/// What the daemon looks like at one instant, as the sampler reads it from
/// the status hub.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    /// Unix seconds.
    pub time: f64,
    /// Stratum served; 0 while unsynchronised.
    pub stratum: u8,
    /// Offset estimate, seconds (ignored while unsynchronised).
    pub offset: f64,
    /// Jitter, seconds.
    pub jitter: f64,
    /// Frequency correction, ppm.
    pub frequency_ppm: f64,
    /// Datagrams received since start (a counter).
    pub received: u64,
    /// Datagrams dropped since start, per reason in [`DropReason::ALL`] order.
    pub dropped: [u64; REASONS],
    /// The sources as published.
    pub sources: &'a [Source],
}

/// A fixed-capacity ring of samples, oldest overwritten first. Its memory
/// grows with the samples (doubling, never past the capacity) instead of
/// being taken at start: an idle daemon holds only the hours it has run.
struct Ring {
    buf: Vec<Sample>,
    capacity: usize,
    next: usize,
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        Ring { buf: Vec::new(), capacity, next: 0 }
    }

    fn push(&mut self, s: Sample) {
        if self.buf.len() < self.capacity {
            if self.buf.len() == self.buf.capacity() {
                let grow = self.buf.len().max(16).min(self.capacity - self.buf.len());
                self.buf.reserve_exact(grow);
            }
            self.buf.push(s);
        } else {
            self.buf[self.next] = s;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    /// Oldest first.
    fn iter(&self) -> impl Iterator<Item = &Sample> {
        let len = self.buf.len();
        let start = if len < self.capacity { 0 } else { self.next };
        (0..len).map(move |i| &self.buf[(start + i) % len])
    }

    fn clear_value(&mut self, v: usize) {
        for s in self.buf.iter_mut() {
            s.values[v] = f32::NAN;
        }
    }
}

/// Sums of fine samples on their way into one coarse sample.
#[derive(Clone, Copy)]
struct Accumulator {
    samples: usize,
    time: f64,
    unsynchronised: bool,
    stratum: u8,
    sums: [f64; VALUES],
    counts: [u32; VALUES],
}

impl Accumulator {
    const EMPTY: Accumulator = Accumulator {
        samples: 0,
        time: 0.0,
        unsynchronised: false,
        stratum: 0,
        sums: [0.0; VALUES],
        counts: [0; VALUES],
    };

    fn add(&mut self, s: &Sample) {
        self.samples += 1;
        self.time = s.time;
        self.unsynchronised |= s.stratum == 0;
        self.stratum = self.stratum.max(s.stratum);
        for (i, v) in s.values.iter().enumerate() {
            if v.is_finite() {
                self.sums[i] += f64::from(*v);
                self.counts[i] += 1;
            }
        }
    }

    /// The mean sample; unsynchronised if any sample was.
    fn mean(&self) -> Sample {
        let mut values = [f32::NAN; VALUES];
        for (i, v) in values.iter_mut().enumerate() {
            if self.counts[i] > 0 {
                *v = (self.sums[i] / f64::from(self.counts[i])) as f32;
            }
        }
        Sample { time: self.time, stratum: if self.unsynchronised { 0 } else { self.stratum }, values }
    }

    fn clear_value(&mut self, v: usize) {
        self.sums[v] = 0.0;
        self.counts[v] = 0;
    }
}

/// The source that owns an offset series.
#[derive(Clone, Debug, PartialEq)]
struct Series {
    name: String,
    address: Option<String>,
    last_present: f64,
}

/// The counters of the previous sample, to turn counters into rates.
#[derive(Clone, Copy)]
struct Counters {
    time: f64,
    received: u64,
    dropped: [u64; REASONS],
}

/// The history: the last hour at [`FINE_INTERVAL_SECONDS`], the last day at
/// five minutes.
pub struct History {
    fine: Ring,
    coarse: Ring,
    pending: Accumulator,
    series: [Option<Series>; MAX_SOURCES],
    previous: Option<Counters>,
}

impl Default for History {
    fn default() -> Self {
        History::new()
    }
}

impl History {
    /// Empty rings; they take their memory as samples arrive (at most
    /// [`FINE_CAPACITY`] + [`COARSE_CAPACITY`] samples).
    pub fn new() -> History {
        History {
            fine: Ring::new(FINE_CAPACITY),
            coarse: Ring::new(COARSE_CAPACITY),
            pending: Accumulator::EMPTY,
            series: Default::default(),
            previous: None,
        }
    }

    /// Samples the rings can hold: (last hour, last day).
    pub fn capacity(&self) -> (usize, usize) {
        (self.fine.capacity, self.coarse.capacity)
    }

    /// Samples held now: (last hour, last day, not counting the five
    /// minutes being averaged).
    pub fn len(&self) -> (usize, usize) {
        (self.fine.len(), self.coarse.len())
    }

    /// True before the first sample.
    pub fn is_empty(&self) -> bool {
        self.fine.len() == 0
    }

    /// Heap bytes held: both rings plus the charted sources' names.
    pub fn heap_bytes(&self) -> usize {
        let rings = (self.fine.buf.capacity() + self.coarse.buf.capacity()) * std::mem::size_of::<Sample>();
        let names: usize = self
            .series
            .iter()
            .flatten()
            .map(|s| s.name.capacity() + s.address.as_ref().map_or(0, String::capacity))
            .sum();
        rings + names
    }

    /// Records one observation.
    pub fn record(&mut self, o: &Observation<'_>) {
        let mut values = [f32::NAN; VALUES];
        if o.stratum != 0 {
            values[V_OFFSET] = o.offset as f32;
        }
        values[V_JITTER] = o.jitter as f32;
        values[V_FREQUENCY] = o.frequency_ppm as f32;
        if let Some(p) = self.previous {
            let dt = o.time - p.time;
            if dt > 0.0 {
                let rate = |now: u64, before: u64| {
                    if now >= before {
                        ((now - before) as f64 / dt) as f32
                    } else {
                        f32::NAN // counters restarted
                    }
                };
                values[V_REQUESTS] = rate(o.received, p.received);
                for r in 0..REASONS {
                    values[V_DROPPED + r] = rate(o.dropped[r], p.dropped[r]);
                }
            }
        }
        self.previous = Some(Counters { time: o.time, received: o.received, dropped: o.dropped });
        for s in o.sources {
            let charted = !matches!(s.state, SourceState::Pending | SourceState::Unreachable);
            if let Some(slot) = self.series_of(s, o.time, charted) {
                if charted {
                    values[V_SOURCES + slot] = s.offset_seconds as f32;
                }
            }
        }
        let sample = Sample { time: o.time, stratum: o.stratum, values };
        self.fine.push(sample);
        self.pending.add(&sample);
        if self.pending.samples >= COARSE_FACTOR {
            self.coarse.push(self.pending.mean());
            self.pending = Accumulator::EMPTY;
        }
    }

    /// The series of `s`, marked present at `now`; a new one only when
    /// `create` (the source has a value to chart).
    fn series_of(&mut self, s: &Source, now: f64, create: bool) -> Option<usize> {
        let same = |x: &Series| x.name == s.name && x.address == s.address;
        if let Some(i) = self.series.iter().position(|x| x.as_ref().is_some_and(same)) {
            if let Some(x) = &mut self.series[i] {
                x.last_present = now;
            }
            return Some(i);
        }
        if !create {
            return None;
        }
        // A free series, else the one absent the longest (not seen now).
        let slot = match self.series.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                let (i, oldest) = self
                    .series
                    .iter()
                    .enumerate()
                    .filter_map(|(i, x)| x.as_ref().map(|x| (i, x.last_present)))
                    .min_by(|a, b| a.1.total_cmp(&b.1))?;
                if oldest >= now {
                    return None; // every series belongs to a source present now
                }
                let v = V_SOURCES + i;
                self.fine.clear_value(v);
                self.coarse.clear_value(v);
                self.pending.clear_value(v);
                i
            }
        };
        self.series[slot] = Some(Series { name: s.name.clone(), address: s.address.clone(), last_present: now });
        Some(slot)
    }

    /// The API document of `range`: the last day includes the five minutes
    /// being averaged as its newest point.
    pub fn document(&self, range: HistoryRange) -> HistoryDoc {
        let (samples, interval, capacity): (Vec<Sample>, u32, usize) = match range {
            HistoryRange::Hour => (self.fine.iter().copied().collect(), FINE_INTERVAL_SECONDS, FINE_CAPACITY),
            HistoryRange::Day => {
                let mut v: Vec<Sample> = self.coarse.iter().copied().collect();
                if self.pending.samples > 0 {
                    v.push(self.pending.mean());
                }
                (v, FINE_INTERVAL_SECONDS * COARSE_FACTOR as u32, COARSE_CAPACITY)
            }
        };
        let column = |v: usize| -> Vec<Option<f32>> {
            samples.iter().map(|s| Some(s.values[v]).filter(|x| x.is_finite())).collect()
        };
        let has_data = |v: usize| samples.iter().any(|s| s.values[v].is_finite() && s.values[v] != 0.0);
        let dropped: BTreeMap<String, Vec<Option<f32>>> = DropReason::ALL
            .iter()
            .enumerate()
            .filter(|(r, _)| has_data(V_DROPPED + r))
            .map(|(r, reason)| (reason.name().to_owned(), column(V_DROPPED + r)))
            .collect();
        let sources = self
            .series
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.as_ref().map(|x| (i, x)))
            .filter(|(i, _)| samples.iter().any(|s| s.values[V_SOURCES + i].is_finite()))
            .map(|(i, x)| HistorySource {
                name: x.name.clone(),
                address: x.address.clone(),
                offset_seconds: column(V_SOURCES + i),
            })
            .collect();
        HistoryDoc {
            range,
            interval_seconds: interval,
            capacity,
            time: samples.iter().map(|s| s.time).collect(),
            stratum: samples.iter().map(|s| s.stratum).collect(),
            offset_seconds: column(V_OFFSET),
            jitter_seconds: column(V_JITTER),
            frequency_ppm: column(V_FREQUENCY),
            requests_per_second: column(V_REQUESTS),
            dropped_per_second: dropped,
            sources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, offset: f64, state: SourceState) -> Source {
        Source {
            name: name.to_owned(),
            address: Some(format!("{name}:123")),
            stratum: 2,
            reachability: 255,
            poll_seconds: 16.0,
            offset_seconds: offset,
            delay_seconds: 1e-4,
            jitter_seconds: 1e-5,
            state,
            last_response_seconds_ago: Some(1.0),
            interleaved: false,
            refclock: None,
        }
    }

    fn observe(h: &mut History, i: u64, sources: &[Source]) {
        let mut dropped = [0; REASONS];
        dropped[DropReason::RateLimited.index()] = i * 2;
        h.record(&Observation {
            time: 1_000_000.0 + (i * u64::from(FINE_INTERVAL_SECONDS)) as f64,
            stratum: if i % 100 == 7 { 0 } else { 2 },
            offset: 1e-3 * (i % 10) as f64,
            jitter: 1e-4,
            frequency_ppm: 3.5,
            received: i * 50,
            dropped,
            sources,
        });
    }

    #[test]
    fn keeps_the_last_hour_and_day_and_computes_rates() {
        let mut h = History::new();
        let srcs = [source("a", 0.002, SourceState::Selected)];
        for i in 0..2 * FINE_CAPACITY as u64 {
            observe(&mut h, i, &srcs);
        }
        let doc = h.document(HistoryRange::Hour);
        assert_eq!(doc.time.len(), FINE_CAPACITY);
        assert_eq!(doc.interval_seconds, 5);
        assert!(doc.time.windows(2).all(|w| w[1] - w[0] == 5.0), "oldest first, evenly spaced");
        assert_eq!(*doc.time.last().unwrap(), 1_000_000.0 + (2.0 * FINE_CAPACITY as f64 - 1.0) * 5.0);
        // 50 datagrams per 5 s, 2 rate-limited drops per 5 s.
        assert!(doc.requests_per_second.iter().all(|r| *r == Some(10.0)));
        assert!(doc.dropped_per_second["rate_limited"].iter().all(|r| *r == Some(0.4)));
        assert_eq!(doc.dropped_per_second.len(), 1, "only reasons that happened");
        assert_eq!(doc.sources.len(), 1);
        assert!(doc.sources[0].offset_seconds.iter().all(|o| *o == Some(0.002)));
        // Unsynchronised samples have no offset and stratum 0.
        let unsync: Vec<usize> = (0..doc.stratum.len()).filter(|i| doc.stratum[*i] == 0).collect();
        assert!(!unsync.is_empty());
        assert!(unsync.iter().all(|i| doc.offset_seconds[*i].is_none()));

        let day = h.document(HistoryRange::Day);
        assert_eq!(day.interval_seconds, 300);
        assert_eq!(day.time.len(), 2 * FINE_CAPACITY / COARSE_FACTOR);
        // Five-minute means: offsets cycle 0..9 ms, mean 4.5 ms over synchronised samples.
        let first = day.offset_seconds[0].unwrap();
        assert!((first - 4.5e-3).abs() < 2e-4, "{first}");
        assert_eq!(day.stratum[0], 0, "a bucket with an unsynchronised sample is unsynchronised");
        assert_eq!(day.requests_per_second[1], Some(10.0));
    }

    #[test]
    fn the_day_view_shows_the_five_minutes_in_progress() {
        let mut h = History::new();
        observe(&mut h, 1, &[]);
        observe(&mut h, 2, &[]);
        let day = h.document(HistoryRange::Day);
        assert_eq!(day.time.len(), 1);
        assert_eq!(day.requests_per_second, vec![Some(10.0)]);
    }

    #[test]
    fn sources_beyond_the_series_reuse_the_longest_absent() {
        let mut h = History::new();
        let many: Vec<Source> =
            (0..MAX_SOURCES + 2).map(|i| source(&format!("s{i}"), i as f64, SourceState::Candidate)).collect();
        observe(&mut h, 0, &many);
        let doc = h.document(HistoryRange::Hour);
        assert_eq!(doc.sources.len(), MAX_SOURCES, "all present: the extra ones are not charted");
        // s0 disappears; a new source takes its series, without s0's past.
        let mut next: Vec<Source> = many[1..MAX_SOURCES].to_vec();
        next.push(source("new", 42.0, SourceState::Selected));
        observe(&mut h, 1, &next);
        let doc = h.document(HistoryRange::Hour);
        let new = doc.sources.iter().find(|s| s.name == "new").expect("charted");
        assert_eq!(new.offset_seconds, vec![None, Some(42.0)]);
        assert!(doc.sources.iter().all(|s| s.name != "s0"));
        // Pending and unreachable sources take no series.
        let mut h = History::new();
        observe(&mut h, 0, &[source("p", 0.0, SourceState::Pending), source("u", 0.0, SourceState::Unreachable)]);
        assert!(h.document(HistoryRange::Hour).sources.is_empty());
    }

    #[test]
    fn capacity_and_heap_do_not_grow_over_days() {
        let mut h = History::new();
        let before = (h.capacity(), h.heap_bytes());
        let srcs = [source("a", 0.001, SourceState::Selected), source("b", -0.001, SourceState::Candidate)];
        // Three days of samples.
        for i in 0..3 * 86_400 / u64::from(FINE_INTERVAL_SECONDS) {
            observe(&mut h, i, &srcs);
        }
        assert_eq!(h.capacity(), before.0);
        assert_eq!(h.len(), (FINE_CAPACITY, COARSE_CAPACITY));
        let names: usize = srcs.iter().map(|s| s.name.len() + s.address.as_ref().unwrap().len()).sum();
        // Empty at start; once full, exactly the rings' capacity (never
        // more: growth stops at the capacity) plus the names.
        assert_eq!(before.1, 0);
        let rings = (FINE_CAPACITY + COARSE_CAPACITY) * std::mem::size_of::<Sample>();
        assert_eq!(h.heap_bytes(), rings + names);
    }
}
