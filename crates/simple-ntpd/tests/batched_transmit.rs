//! Batched sends (`performance.batch_send`) write into each reply the time
//! it is predicted to reach the kernel, calibrated from the kernel's own
//! transmit timestamps: measured here by a client that stamps every reply's
//! arrival in the kernel, the transmit timestamps of replies sent in bursts
//! are as honest as single sends, and the calibration is visible in the
//! counters.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ntp_proto::NtpTimestamp;
use simple_ntpd::net::udp::{self, CmsgBuf};
use simple_ntpd::security::SecurityPolicy;
use simple_ntpd::server::Server;
use socket2::{Domain, Protocol, Socket, Type};

fn start_server(batch_send: bool) -> Server {
    common::in_process_server(1, batch_send, false, SecurityPolicy::default())
}

/// Sends bursts of `burst` requests for `window`, and returns for every
/// reply its kernel receive time minus its transmit timestamp (s).
fn transmit_errors(server: SocketAddr, burst: usize, window: Duration) -> Vec<f64> {
    let client = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    udp::enable_rx_metadata(&client, false).unwrap();
    client.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    client.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut errors = Vec::new();
    let (mut buf, mut cmsg) = ([0u8; 512], CmsgBuf::default());
    let until = Instant::now() + window;
    let mut origin = 1u64;
    while Instant::now() < until {
        for _ in 0..burst {
            let mut req = [0u8; 48];
            req[0] = 0x23;
            req[40..48].copy_from_slice(&origin.to_be_bytes());
            origin += 1;
            udp::send(&client, &req, server, None).unwrap();
        }
        for _ in 0..burst {
            let Ok(meta) = udp::recv(&client, &mut buf, &mut cmsg) else { break };
            let Some(rx) = meta.kernel_time else { continue };
            if meta.len < 48 {
                continue;
            }
            let t3 = NtpTimestamp::from_bits(u64::from_be_bytes(buf[40..48].try_into().unwrap()));
            errors.push(NtpTimestamp::from_unix(rx.secs, rx.nanos).since(t3).to_seconds());
        }
    }
    errors
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn bursts_of_replies_carry_transmit_timestamps_calibrated_to_the_kernels() {
    let server = start_server(true);
    let addr = server.bound_addresses()[0];
    // Warm up: the calibration learns each position before using it.
    transmit_errors(addr, 16, Duration::from_millis(1500));
    let mut errors: Vec<f64> = transmit_errors(addr, 16, Duration::from_millis(1500));
    assert!(errors.len() > 1000, "replies: {}", errors.len());
    let mut sizes: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    let median = quantile(&mut sizes, 0.5);
    let signed_median = quantile(&mut errors, 0.5);
    // Stamping a burst of 16 at once makes the median reply leave ≈ 8 sends
    // (tens of µs) after its timestamp; predicted, it is within a few µs.
    assert!(median < 3e-6, "median |T3 error| {:.2} µs (signed {:.2} µs)", median * 1e6, signed_median * 1e6);
    let totals = server.stats().totals();
    assert!(totals.send_chunks > 0 && totals.chunked_replies >= totals.send_chunks, "{totals:?}");
    assert!(totals.transmit_spread > 0.0, "the calibration has learnt from kernel timestamps: {totals:?}");
    assert_eq!(totals.send_errors, 0);
    server.stop();
}

#[test]
fn single_sends_are_stamped_before_the_send_and_counted_as_no_chunks() {
    let server = start_server(false);
    let addr = server.bound_addresses()[0];
    let mut errors = transmit_errors(addr, 4, Duration::from_millis(500));
    assert!(errors.len() > 100, "replies: {}", errors.len());
    // Read before the send: the reply reaches the kernel after its stamp.
    assert!(quantile(&mut errors, 0.5) > 0.0);
    let totals = server.stats().totals();
    assert_eq!((totals.send_chunks, totals.chunked_replies), (0, 0));
    server.stop();
}
