//! A serial port for the NMEA driver: opened raw (no echo, no line
//! editing, no modem control lines) at the configured speed, read in
//! lines, each stamped with the system time its first byte was read (the
//! `$` of a sentence). A pseudo-terminal works the same way (tests, and
//! receivers behind a pty bridge).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};
use ntp_proto::NtpTimestamp;

use crate::clock::SystemClock;

/// The longest line kept; longer ones are cut and reported.
const MAX_LINE: usize = 256;

fn baud_rate(baud: u32) -> io::Result<BaudRate> {
    Ok(match baud {
        1200 => BaudRate::B1200,
        2400 => BaudRate::B2400,
        4800 => BaudRate::B4800,
        9600 => BaudRate::B9600,
        19200 => BaudRate::B19200,
        38400 => BaudRate::B38400,
        57600 => BaudRate::B57600,
        115200 => BaudRate::B115200,
        230400 => BaudRate::B230400,
        460800 => BaudRate::B460800,
        other => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unsupported speed {other}"))),
    })
}

/// What the line reader hands out.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// A complete line (without its end) and when its first byte was read.
    Text(Vec<u8>, NtpTimestamp),
    /// A line longer than the limit was cut.
    TooLong,
}

/// An open serial port.
pub struct SerialPort {
    file: File,
    line: Vec<u8>,
    started: Option<NtpTimestamp>,
    overlong: bool,
}

impl SerialPort {
    /// Opens `path` raw at `baud` (8N1, receiver on, modem lines ignored).
    pub fn open(path: &Path, baud: u32) -> io::Result<SerialPort> {
        let speed = baud_rate(baud)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)?;
        let mut t = termios::tcgetattr(file.as_fd())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("not a serial device: {e}")))?;
        termios::cfmakeraw(&mut t);
        t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD;
        termios::cfsetspeed(&mut t, speed).map_err(io::Error::from)?;
        termios::tcsetattr(file.as_fd(), SetArg::TCSANOW, &t).map_err(io::Error::from)?;
        Ok(SerialPort { file, line: Vec::new(), started: None, overlong: false })
    }

    /// Waits up to `timeout` for input and splits what came into lines;
    /// `Ok(false)` when nothing came. End of file (a pty whose other side
    /// closed) is an error, so the caller reopens.
    pub fn read_lines(&mut self, timeout: Duration, mut out: impl FnMut(Line)) -> io::Result<bool> {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let mut buf = [0u8; 512];
        let n = match self.file.read(&mut buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the device closed")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        let now = SystemClock.now();
        self.split(&buf[..n], now, &mut out);
        Ok(true)
    }

    fn split(&mut self, bytes: &[u8], now: NtpTimestamp, out: &mut impl FnMut(Line)) {
        split_lines(&mut self.line, &mut self.started, &mut self.overlong, bytes, now, out);
    }
}

/// Splits `bytes` read at `now` into lines: a `$` starts a sentence (and
/// its timestamp), a line feed ends it. Bytes outside sentences form lines
/// of their own, so the parser reports them.
pub fn split_lines(
    line: &mut Vec<u8>,
    started: &mut Option<NtpTimestamp>,
    overlong: &mut bool,
    bytes: &[u8],
    now: NtpTimestamp,
    out: &mut impl FnMut(Line),
) {
    for &b in bytes {
        match b {
            b'$' => {
                let junk = std::mem::take(line);
                if junk.iter().any(|c| !c.is_ascii_whitespace()) {
                    out(Line::Text(junk, started.unwrap_or(now)));
                }
                *overlong = false;
                line.push(b);
                *started = Some(now);
            }
            b'\n' => {
                if *overlong {
                    *overlong = false;
                } else if line.iter().any(|c| !c.is_ascii_whitespace()) {
                    out(Line::Text(std::mem::take(line), started.unwrap_or(now)));
                }
                line.clear();
                *started = None;
            }
            _ if *overlong => {}
            _ => {
                if line.is_empty() {
                    *started = Some(now);
                }
                if line.len() >= MAX_LINE {
                    line.clear();
                    *overlong = true;
                    out(Line::TooLong);
                } else {
                    line.push(b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[(&[u8], u64)]) -> Vec<Line> {
        let (mut line, mut started, mut overlong) = (Vec::new(), None, false);
        let mut got = Vec::new();
        for (bytes, t) in chunks {
            split_lines(&mut line, &mut started, &mut overlong, bytes, NtpTimestamp::from_bits(*t), &mut |l| {
                got.push(l)
            });
        }
        got
    }

    #[test]
    fn sentences_are_stamped_when_their_dollar_arrives() {
        let got = lines(&[(b"$GPRMC,1*00\r\n$GPG", 10), (b"GA,2*00\r", 20), (b"\n", 30)]);
        assert_eq!(
            got,
            [
                Line::Text(b"$GPRMC,1*00\r".to_vec(), NtpTimestamp::from_bits(10)),
                Line::Text(b"$GPGGA,2*00\r".to_vec(), NtpTimestamp::from_bits(10)),
            ]
        );
    }

    #[test]
    fn garbage_and_overlong_lines_are_reported() {
        let got = lines(&[(b"\x00\xffnoise$GPZDA*00\n", 5)]);
        assert_eq!(got[0], Line::Text(b"\x00\xffnoise".to_vec(), NtpTimestamp::from_bits(5)));
        let long = vec![b'A'; 600];
        let got = lines(&[(b"$", 1), (&long, 2), (b"\n$GPZDA*00\n", 3)]);
        assert_eq!(got[0], Line::TooLong);
        assert_eq!(got.len(), 2, "one report, then the next sentence: {got:?}");
    }
}
