//! The serving path allocates nothing per packet: a counting global
//! allocator watches the whole process while thousands of requests are
//! answered by an in-process server (per-reply sends and batch sends).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use simple_ntpd::net::listen::SocketOptions;
use simple_ntpd::security::{PolicyCell, SecurityPolicy};
use simple_ntpd::server::{Server, ServerSettings, ServingOptions};
use simple_ntpd::state::local::LocalReference;
use simple_ntpd::state::StateCell;

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn exchange(client: &UdpSocket, server: SocketAddr, req: &[u8; 48], buf: &mut [u8; 128]) {
    client.send_to(req, server).unwrap();
    let (n, _) = client.recv_from(buf).unwrap();
    assert_eq!(n, 48);
    assert_eq!(&buf[24..32], &req[40..48]);
}

fn allocations_while_serving(batch_send: bool) -> u64 {
    let state = StateCell::new(
        LocalReference { stratum: 2, precision: -24 }.snapshot(ntp_proto::NtpTimestamp::from_unix(1, 0)),
    );
    let settings = ServerSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        workers: 1,
        worker: ServingOptions { max_packet_size: 2048, recv_batch: 32, batch_send, cpu: None },
        cpu_affinity: vec![],
        socket: SocketOptions::default(),
        client_log_size: 4096,
        default_listen: false,
        share_port: false,
    };
    let server = Server::start(&settings, state, PolicyCell::new(SecurityPolicy::default())).unwrap();
    let addr = server.bound_addresses()[0];
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut req = [0u8; 48];
    req[0] = 0x23;
    let mut buf = [0u8; 128];
    // Warm up: first-use allocations (thread-locals, arc-swap debts) are fine.
    for i in 0..200u64 {
        req[40..48].copy_from_slice(&i.to_be_bytes());
        exchange(&client, addr, &req, &mut buf);
    }
    let before = ALLOCATIONS.load(SeqCst);
    for i in 0..5000u64 {
        req[40..48].copy_from_slice(&(i | 1 << 40).to_be_bytes());
        exchange(&client, addr, &req, &mut buf);
    }
    let after = ALLOCATIONS.load(SeqCst);
    let totals = server.stop().totals();
    assert_eq!(totals.replied, 5200);
    after - before
}

#[test]
fn no_heap_allocation_per_packet() {
    assert_eq!(allocations_while_serving(false), 0, "per-reply send path allocated");
    assert_eq!(allocations_while_serving(true), 0, "batch send path allocated");
}
