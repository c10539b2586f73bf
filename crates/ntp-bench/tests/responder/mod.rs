//! A tiny NTP responder for the integration tests: a thread answering every
//! mode-3 request on 127.0.0.1 with a well-formed mode-4 reply (origin = the
//! request's transmit timestamp, T2 = T3 = now), optionally dropping every
//! other request or adding a duplicate and a malformed datagram per reply.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the responder misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer every request once.
    Answer,
    /// Answer only the 1st, 3rd, 5th, … request.
    DropEveryOther,
    /// Answer each request twice, then send 20 bytes of garbage.
    DuplicateAndGarbage,
}

/// A running responder; stopped and joined on drop.
pub struct Responder {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    sources: Arc<Mutex<HashSet<IpAddr>>>,
    thread: Option<JoinHandle<()>>,
}

fn ntp_now() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let secs = d.as_secs() + 2_208_988_800;
    ((secs & 0xFFFF_FFFF) << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

impl Responder {
    pub fn start(behaviour: Behaviour) -> Responder {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sources = Arc::new(Mutex::new(HashSet::new()));
        let (stop2, sources2) = (stop.clone(), sources.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            let mut n = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                let Ok((len, from)) = sock.recv_from(&mut buf) else { continue };
                sources2.lock().unwrap().insert(from.ip());
                if len < 48 || buf[0] & 7 != 3 {
                    continue;
                }
                n += 1;
                if behaviour == Behaviour::DropEveryOther && n % 2 == 0 {
                    continue;
                }
                let mut reply = [0u8; 48];
                reply[0] = (4 << 3) | 4;
                reply[1] = 2;
                reply[24..32].copy_from_slice(&buf[40..48]);
                reply[32..40].copy_from_slice(&ntp_now().to_be_bytes());
                reply[40..48].copy_from_slice(&ntp_now().to_be_bytes());
                let _ = sock.send_to(&reply, from);
                if behaviour == Behaviour::DuplicateAndGarbage {
                    let _ = sock.send_to(&reply, from);
                    let _ = sock.send_to(&[0xFF; 20], from);
                }
            }
        });
        Responder { addr, stop, sources, thread: Some(thread) }
    }

    /// Distinct client addresses seen so far.
    pub fn sources(&self) -> usize {
        self.sources.lock().unwrap().len()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
