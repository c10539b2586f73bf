//! The status history's memory stays flat over a long run: a counting global
//! allocator watches the process while days of samples go through the ring,
//! with a stable set of sources (no allocation at all) and with sources
//! that come and go (live bytes bounded by the charted names). Also prints
//! what the history costs (docs/performance.md quotes it).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.
#![allow(unsafe_code)] // A measuring global allocator; every block says why it is sound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};

use ntp_proto::server::DropReason;
use simple_ntpd::api::model::{HistoryRange, Source, SourceState};
use simple_ntpd::status::history::{
    History, Observation, COARSE_CAPACITY, FINE_CAPACITY, FINE_INTERVAL_SECONDS, MAX_SOURCES,
};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        LIVE_BYTES.fetch_add(layout.size() as i64, SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn source(name: &str, offset: f64) -> Source {
    Source {
        name: name.to_owned(),
        address: Some(format!("{name}:123")),
        stratum: 2,
        reachability: 255,
        poll_seconds: 64.0,
        offset_seconds: offset,
        delay_seconds: 1e-3,
        jitter_seconds: 1e-4,
        state: SourceState::Candidate,
        last_response_seconds_ago: Some(3.0),
        interleaved: false,
        refclock: None,
    }
}

const SAMPLES_PER_DAY: u64 = 86_400 / FINE_INTERVAL_SECONDS as u64;

fn run(h: &mut History, from: u64, samples: u64, sources: &[Source]) {
    let mut dropped = [0u64; DropReason::COUNT];
    for i in from..from + samples {
        dropped[DropReason::RateLimited.index()] = i;
        h.record(&Observation {
            time: 1.8e9 + (i * u64::from(FINE_INTERVAL_SECONDS)) as f64,
            stratum: 2,
            offset: ((i % 97) as f64 - 48.0) * 1e-6,
            jitter: 2e-5,
            frequency_ppm: -3.2,
            received: i * 1000,
            dropped,
            sources,
        });
    }
}

#[test]
fn history_memory_stays_flat_over_days() {
    let live = || LIVE_BYTES.load(SeqCst);
    let before = live();
    let mut h = History::new();
    let cost = live() - before;
    assert_eq!(cost as usize, h.heap_bytes(), "heap_bytes() tells the truth");
    assert_eq!(cost, 0, "the rings take their memory as samples arrive, not at start");

    // A day and a half with four stable sources fills both rings.
    let stable: Vec<Source> = ["a.example", "b.example", "c.example", "d.example"]
        .iter()
        .enumerate()
        .map(|(i, n)| source(n, i as f64 * 1e-4))
        .collect();
    run(&mut h, 0, SAMPLES_PER_DAY * 3 / 2, &stable);
    assert_eq!(h.len(), (FINE_CAPACITY, COARSE_CAPACITY));
    let full = live();
    let ring_bytes =
        h.heap_bytes() - stable.iter().map(|s| s.name.len() + s.address.as_ref().unwrap().len()).sum::<usize>();
    let allocations = ALLOCATIONS.load(SeqCst);

    // Three more days: not one allocation, not one byte more.
    run(&mut h, SAMPLES_PER_DAY * 3 / 2, SAMPLES_PER_DAY * 3, &stable);
    assert_eq!(ALLOCATIONS.load(SeqCst), allocations, "recording allocated");
    assert_eq!(live(), full);
    assert_eq!(h.capacity(), (FINE_CAPACITY, COARSE_CAPACITY));

    // Pool members replaced every hour for three days: names come and go,
    // live bytes stay within the charted names' bound.
    let mut t = SAMPLES_PER_DAY * 9 / 2;
    let longest_name = "pool-member-999.example:123".len() * 2;
    for hour in 0..72u64 {
        let churn: Vec<Source> =
            (0..6).map(|k| source(&format!("pool-member-{}.example", (hour * 6 + k) % 1000), 1e-5)).collect();
        let per_hour = 3600 / u64::from(FINE_INTERVAL_SECONDS);
        run(&mut h, t, per_hour, &churn);
        t += per_hour;
        drop(churn);
        let grown = live() - full;
        assert!(
            grown <= (MAX_SOURCES * longest_name) as i64,
            "hour {hour}: live bytes grew by {grown} with only {MAX_SOURCES} charted names"
        );
    }
    // Reading the history allocates the document and gives it all back.
    let steady = live();
    let doc = h.document(HistoryRange::Hour);
    assert_eq!(doc.time.len(), FINE_CAPACITY);
    drop(doc);
    assert_eq!(live(), steady);

    println!(
        "history: {cost} bytes at start; {} + {} samples of {} bytes = {ring_bytes} bytes once full; \
         {} bytes with the sources' names after 7.5 simulated days",
        FINE_CAPACITY,
        COARSE_CAPACITY,
        ring_bytes / (FINE_CAPACITY + COARSE_CAPACITY),
        h.heap_bytes()
    );
}
