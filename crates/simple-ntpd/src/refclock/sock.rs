//! The SOCK driver: chrony's refclock socket. The daemon creates a Unix
//! datagram socket at the configured path (replacing a stale socket left
//! by a previous run) and takes one `struct sock_sample` per datagram, as
//! gpsd sends them to `/run/chrony.<device>.sock` (gpsd must start after the
//! socket exists). The socket is removed when the driver stops.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use ntp_proto::refclock::sock::{self, SockError};

use super::devices::{spawn, DriverContext};
use super::health::DriverState;
use super::{Reading, RETRY_EVERY, STOP_CHECK};

/// Binds `path` now (with the caller's privileges) and starts the thread.
pub fn start(ctx: DriverContext, path: PathBuf) -> io::Result<JoinHandle<()>> {
    let first = open(&ctx, &path);
    let c = ctx.clone();
    spawn(&ctx, move || run(&c, &path, first))
}

fn bind(path: &Path) -> io::Result<UnixDatagram> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "a file that is not a socket is in the way"));
        }
        std::fs::remove_file(path)?;
    }
    let s = UnixDatagram::bind(path)?;
    s.set_read_timeout(Some(STOP_CHECK))?;
    Ok(s)
}

fn open(ctx: &DriverContext, path: &Path) -> Option<UnixDatagram> {
    match bind(path) {
        Ok(s) => {
            ctx.health
                .set(DriverState::Waiting, Some("no sample on the socket yet (gpsd starts after it exists)".into()));
            Some(s)
        }
        Err(e) => {
            ctx.health.set(DriverState::Error, Some(format!("cannot create socket {}: {e}; retrying", path.display())));
            None
        }
    }
}

/// Receives until stopped, then removes the socket.
pub fn run(ctx: &DriverContext, path: &Path, mut socket: Option<UnixDatagram>) {
    let mut buf = [0u8; 128];
    while !ctx.stopped() {
        let Some(s) = &socket else {
            if !ctx.sleep(RETRY_EVERY) {
                break;
            }
            socket = open(ctx, path);
            continue;
        };
        let n = match s.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                ctx.health.set(DriverState::Error, Some(format!("socket read failed: {e}; reopening")));
                socket = None;
                continue;
            }
        };
        match sock::decode(&buf[..n]) {
            Ok(sample) if sample.pulse => ctx.send(Reading::Pulse { system: sample.time, offset: Some(sample.offset) }),
            Ok(sample) => ctx.send(Reading::Sample { system: sample.time, offset: sample.offset, leap: sample.leap }),
            Err(e) => {
                let kind = match e {
                    SockError::BadLength(_) => "length",
                    SockError::BadMagic(_) => "magic",
                    _ => "value",
                };
                ctx.health.bad_input(kind, &e.to_string());
            }
        }
    }
    if socket.is_some() {
        let _ = std::fs::remove_file(path);
    }
}

/// Binds `path` for a test-driven driver.
pub fn bind_for_test(path: &Path) -> io::Result<UnixDatagram> {
    bind(path)
}
