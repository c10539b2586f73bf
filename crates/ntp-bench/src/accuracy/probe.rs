//! The accuracy probe: asks every target server for its time in turn, for a
//! bounded time, and measures how far its served time is from the
//! reference [`Timescale`].
//!
//! Each exchange takes T1 from the kernel's software transmit timestamp of
//! the request (SO_TIMESTAMPING, error queue; a clock read right before the
//! send when none comes, counted) and T4 from the kernel receive timestamp
//! of the reply (SO_TIMESTAMPNS). The error of the server is the NTP offset
//! measured against the reference instead of the probe's own clock:
//! `((T2 − ref(T1)) + (T3 − ref(T4))) / 2` — what a client of that server
//! would be told the reference's time is, minus the reference's time. It is
//! positive when the server is ahead. On loopback both directions take the
//! same few microseconds, so the probe itself adds well under a microsecond
//! — unless something stalls on the way: a preemption between the server's
//! transmit stamp and the wire, or a receive deferred to a kernel thread,
//! adds its time to one direction, and the exchange's error is then
//! −(or +) half the stall whatever the server's clock. Any NTP client
//! discards such an exchange by its round trip; the report does too, in a
//! second summary ([`TargetReport::error_us_unstalled`]): exchanges whose
//! round trip exceeds [`STALL_FACTOR`] × the server's median plus
//! [`STALL_MARGIN_US`] are counted as stalled and left out of it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use serde::Serialize;

use super::summary::Summary;
use super::Timescale;
use crate::engine::now_ns;
use crate::ntp::{encode_request, parse_reply, unix_ns_from_ntp};
use crate::rng::Rng;
use crate::sys;

/// Round trips above this many times a server's median (plus
/// [`STALL_MARGIN_US`]) count as stalled.
pub const STALL_FACTOR: f64 = 2.0;
/// See [`STALL_FACTOR`], µs.
pub const STALL_MARGIN_US: f64 = 10.0;

/// A server to measure.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its name in the report.
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
}

/// What to measure, how often and for how long.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The servers.
    pub targets: Vec<Target>,
    /// The reference time.
    pub timescale: Timescale,
    /// Seconds between two exchanges with the same server.
    pub interval_s: f64,
    /// Seconds to measure.
    pub duration_s: f64,
    /// Seconds to wait for a reply.
    pub timeout_s: f64,
}

/// One exchange with one server.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Measurement {
    /// Seconds since the probe started.
    pub t: f64,
    /// Served time minus reference time, µs.
    pub error_us: f64,
    /// Round-trip delay, µs.
    pub delay_us: f64,
}

/// The figures of one server.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    /// The server's name.
    pub name: String,
    /// Its address.
    pub address: String,
    /// Served time minus reference time, µs.
    pub error_us: Summary,
    /// Round-trip delay, µs.
    pub delay_us: Summary,
    /// Served time minus reference time, µs, over the exchanges that did
    /// not stall on the way (round trip within [`STALL_FACTOR`] × the
    /// median + [`STALL_MARGIN_US`]).
    pub error_us_unstalled: Summary,
    /// Exchanges left out of `error_us_unstalled`.
    pub stalled: u64,
    /// Requests sent.
    pub sent: u64,
    /// Replies that gave a measurement.
    pub measured: u64,
    /// Replies with leap 3 or stratum 0 (not serving time).
    pub unsynchronised: u64,
    /// Exchanges whose T1 is a clock read (no kernel transmit timestamp).
    pub tx_fallbacks: u64,
    /// Exchanges whose T4 is a clock read (no kernel receive timestamp).
    pub rx_fallbacks: u64,
    /// Every measurement, in order.
    #[serde(skip)]
    pub series: Vec<Measurement>,
}

struct Prober {
    target: Target,
    socket: UdpSocket,
    report: TargetReport,
}

fn open(addr: SocketAddr) -> io::Result<UdpSocket> {
    let any = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0))?;
    s.connect(addr)?;
    s.set_nonblocking(true)?;
    sys::enable_rx_timestamps(s.as_raw_fd())?;
    sys::enable_tx_timestamps(s.as_raw_fd())?;
    Ok(s)
}

impl Prober {
    fn new(target: Target) -> io::Result<Prober> {
        let socket = open(target.addr)?;
        let report = TargetReport {
            name: target.name.clone(),
            address: target.addr.to_string(),
            error_us: Summary::default(),
            delay_us: Summary::default(),
            error_us_unstalled: Summary::default(),
            stalled: 0,
            sent: 0,
            measured: 0,
            unsynchronised: 0,
            tx_fallbacks: 0,
            rx_fallbacks: 0,
            series: Vec::new(),
        };
        Ok(Prober { target, socket, report })
    }

    /// One exchange; records a measurement when the reply is usable.
    fn exchange(&mut self, ts: &Timescale, cookie: u64, timeout_ns: i64, start_ns: i64) -> io::Result<()> {
        let fd = self.socket.as_raw_fd();
        let mut buf = [0u8; 1024];
        // Leftovers of an earlier exchange (a late reply, a timestamp).
        while sys::tx_timestamp(fd)?.is_some() {}
        while sys::recv_from(fd, &mut buf).is_ok() {}
        let before = now_ns();
        sys::send_to(fd, &encode_request(cookie), self.target.addr)?;
        self.report.sent += 1;
        let deadline = before + timeout_ns;
        let mut t1 = None;
        loop {
            if t1.is_none() {
                t1 = sys::tx_timestamp(fd)?;
            }
            match sys::recv_from(fd, &mut buf) {
                Ok(got) => {
                    let Ok(reply) = parse_reply(&buf[..got.len]) else { continue };
                    if reply.origin != cookie {
                        continue;
                    }
                    if t1.is_none() {
                        t1 = sys::tx_timestamp(fd)?;
                    }
                    let t1 = t1.unwrap_or_else(|| {
                        self.report.tx_fallbacks += 1;
                        before
                    });
                    let t4 = got.rx_ns.unwrap_or_else(|| {
                        self.report.rx_fallbacks += 1;
                        now_ns()
                    });
                    if reply.unsynchronised() {
                        self.report.unsynchronised += 1;
                        return Ok(());
                    }
                    let t2 = unix_ns_from_ntp(reply.receive, t1);
                    let t3 = unix_ns_from_ntp(reply.transmit, t4);
                    let error = ((t2 - ts.at(t1)) + (t3 - ts.at(t4))) as f64 / 2.0;
                    let delay = ((t4 - t1) - (t3 - t2)) as f64;
                    self.report.measured += 1;
                    self.report.series.push(Measurement {
                        t: (t4 - start_ns) as f64 * 1e-9,
                        error_us: error * 1e-3,
                        delay_us: delay * 1e-3,
                    });
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP port unreachable and the like: no reply this time.
                Err(_) => return Ok(()),
            }
            let left = deadline - now_ns();
            if left <= 0 {
                return Ok(());
            }
            sys::wait_readable(fd, left.min(1_000_000))?;
        }
    }
}

/// Measures every target every `interval_s` (spread evenly over the
/// interval) for `duration_s`.
pub fn run(cfg: &ProbeConfig) -> io::Result<Vec<TargetReport>> {
    let mut probers = cfg.targets.iter().cloned().map(Prober::new).collect::<io::Result<Vec<_>>>()?;
    if probers.is_empty() {
        return Ok(Vec::new());
    }
    let mut rng = Rng::from_os();
    let start = now_ns();
    let end = start + (cfg.duration_s.clamp(0.0, 1e7) * 1e9) as i64;
    let interval = (cfg.interval_s.clamp(1e-3, 3600.0) * 1e9) as i64;
    let slot = interval / probers.len() as i64;
    let timeout = (cfg.timeout_s.clamp(1e-3, 10.0) * 1e9) as i64;
    let mut k: i64 = 0;
    loop {
        let i = (k as usize) % probers.len();
        let at = start + k * slot;
        if at >= end {
            break;
        }
        let wait = at - now_ns();
        if wait > 0 {
            std::thread::sleep(std::time::Duration::from_nanos(wait as u64));
        }
        let mut cookie = [0u8; 8];
        rng.fill(&mut cookie);
        probers[i].exchange(&cfg.timescale, u64::from_le_bytes(cookie), timeout.min(slot.max(1_000_000)), start)?;
        k += 1;
    }
    Ok(probers
        .into_iter()
        .map(|p| {
            let mut r = p.report;
            let errors: Vec<f64> = r.series.iter().map(|m| m.error_us).collect();
            let delays: Vec<f64> = r.series.iter().map(|m| m.delay_us).collect();
            r.error_us = Summary::of(&errors);
            r.delay_us = Summary::of(&delays);
            (r.error_us_unstalled, r.stalled) = unstalled(&r.series, r.delay_us.median);
            r
        })
        .collect())
}

/// The figures of the exchanges of `series` that did not stall (round trip
/// within [`STALL_FACTOR`] × `median_delay` + [`STALL_MARGIN_US`]), and how
/// many did.
fn unstalled(series: &[Measurement], median_delay: f64) -> (Summary, u64) {
    let limit = STALL_FACTOR * median_delay + STALL_MARGIN_US;
    let kept: Vec<f64> = series.iter().filter(|m| m.delay_us <= limit).map(|m| m.error_us).collect();
    (Summary::of(&kept), (series.len() - kept.len()) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accuracy::upstream::{serve, UpstreamConfig};

    #[test]
    fn exchanges_that_stalled_on_the_way_are_left_out_of_the_second_summary() {
        // A 190 µs stall after the server's transmit stamp: −95 µs whatever its clock.
        let m = |error_us, delay_us| Measurement { t: 0.0, error_us, delay_us };
        let series = [m(1.0, 4.0), m(-1.0, 5.0), m(0.5, 18.0), m(-95.0, 193.0), m(0.0, 4.5)];
        let (kept, stalled) = unstalled(&series, 4.5);
        assert_eq!((kept.n, stalled), (4, 1));
        assert!(kept.min > -2.0 && kept.rms < 1.0, "{kept:?}");
        let (all, none) = unstalled(&series, 1000.0);
        assert_eq!((all.n, none), (5, 0));
    }

    #[test]
    fn measures_the_reference_itself_as_exact() {
        let timescale = Timescale { epoch_ns: now_ns(), offset_s: 0.05, drift_ppm: 100.0 };
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        sys::enable_rx_timestamps(server.as_raw_fd()).unwrap();
        sys::enable_tx_timestamps(server.as_raw_fd()).unwrap();
        let addr = server.local_addr().unwrap();
        let cfg = UpstreamConfig {
            timescale,
            jitter_s: 0.0,
            asymmetry_s: 0.0,
            stratum: 1,
            root_delay_s: 0.0,
            root_dispersion_s: 0.0,
            duration_s: 2.0,
            seed: 1,
        };
        let thread = std::thread::spawn(move || serve(&cfg, &server).unwrap());
        let probe = ProbeConfig {
            targets: vec![Target { name: "reference".into(), addr }],
            timescale,
            interval_s: 0.02,
            duration_s: 1.0,
            timeout_s: 0.2,
        };
        let r = run(&probe).unwrap().remove(0);
        thread.join().unwrap();
        assert!(r.measured >= 30, "{r:?}");
        assert_eq!(r.tx_fallbacks, 0, "loopback gives software transmit timestamps");
        assert_eq!(r.rx_fallbacks, 0);
        // Kernel timestamps at both ends of a loopback exchange and a
        // reference exact at the wire: the median error is within a
        // microsecond or two, whatever the load on the machine.
        assert!(r.error_us.median.abs() < 2.0, "{:?}", r.error_us);
    }
}
