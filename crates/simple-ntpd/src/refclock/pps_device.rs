//! The Linux PPS API (OS interface, `unsafe`): `/dev/ppsN` and its ioctls
//! from `<linux/pps.h>` — `PPS_GETCAP`, `PPS_GETPARAMS`, `PPS_SETPARAMS`
//! (needs CAP_SYS_TIME, so it is done before privileges are dropped) and
//! `PPS_FETCH`, which waits for the next edge with a timeout and returns
//! the kernel's timestamp of it.

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use ntp_proto::NtpTimestamp;

const PPS_CAPTUREASSERT: i32 = 0x01;
const PPS_CAPTURECLEAR: i32 = 0x02;
const PPS_TSFMT_TSPEC: i32 = 0x1000;
const PPS_TIME_INVALID: u32 = 1;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PpsKtime {
    sec: i64,
    nsec: i32,
    flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PpsKinfo {
    assert_sequence: u32,
    clear_sequence: u32,
    assert_tu: PpsKtime,
    clear_tu: PpsKtime,
    current_mode: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PpsKparams {
    api_version: i32,
    mode: i32,
    assert_off_tu: PpsKtime,
    clear_off_tu: PpsKtime,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PpsFdata {
    info: PpsKinfo,
    timeout: PpsKtime,
}

/// `_IOC(dir, 'p', nr, sizeof(void *))`: the header declares the ioctls
/// with pointer types, so their size field is a pointer's size.
const fn ioc(dir: libc::c_ulong, nr: libc::c_ulong) -> libc::c_ulong {
    (dir << 30) | ((std::mem::size_of::<*mut u8>() as libc::c_ulong) << 16) | ((b'p' as libc::c_ulong) << 8) | nr
}
const IOC_WRITE: libc::c_ulong = 1;
const IOC_READ: libc::c_ulong = 2;
const PPS_GETPARAMS: libc::c_ulong = ioc(IOC_READ, 0xa1);
const PPS_SETPARAMS: libc::c_ulong = ioc(IOC_WRITE, 0xa2);
const PPS_GETCAP: libc::c_ulong = ioc(IOC_READ, 0xa3);
const PPS_FETCH: libc::c_ulong = ioc(IOC_READ | IOC_WRITE, 0xa4);

/// An open PPS device capturing one edge.
pub struct PpsDevice {
    file: File,
    clear: bool,
    last_sequence: Option<u32>,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl PpsDevice {
    /// Opens `path` and sets it to capture the assert (or `clear`) edge.
    pub fn open(path: &Path, clear: bool) -> io::Result<PpsDevice> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        let fd = file.as_raw_fd();
        let mut caps: i32 = 0;
        // SAFETY: PPS_GETCAP writes one int through the pointer, which
        // points to a live local.
        check(unsafe { libc::ioctl(fd, PPS_GETCAP, &mut caps as *mut i32) })
            .map_err(|e| io::Error::new(e.kind(), format!("not a PPS device (PPS_GETCAP: {e})")))?;
        let edge = if clear { PPS_CAPTURECLEAR } else { PPS_CAPTUREASSERT };
        if caps & edge == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the device cannot capture the {} edge", if clear { "clear" } else { "assert" }),
            ));
        }
        let mut params = PpsKparams::default();
        // SAFETY: PPS_GETPARAMS fills a struct pps_kparams, which `params`
        // is (#[repr(C)], same layout).
        check(unsafe { libc::ioctl(fd, PPS_GETPARAMS, &mut params as *mut PpsKparams) })?;
        params.mode = (params.mode & !(PPS_CAPTUREASSERT | PPS_CAPTURECLEAR)) | edge | PPS_TSFMT_TSPEC;
        // SAFETY: PPS_SETPARAMS reads a struct pps_kparams from `params`.
        check(unsafe { libc::ioctl(fd, PPS_SETPARAMS, &params as *const PpsKparams) }).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("PPS_SETPARAMS: {e} (needs CAP_SYS_TIME: open the device before dropping root)"),
            )
        })?;
        Ok(PpsDevice { file, clear, last_sequence: None })
    }

    /// Waits up to `timeout` for the next edge; its system time, or `None`
    /// when no new edge came.
    pub fn fetch(&mut self, timeout: Duration) -> io::Result<Option<NtpTimestamp>> {
        let mut data = PpsFdata {
            timeout: PpsKtime {
                sec: timeout.as_secs() as i64,
                nsec: timeout.subsec_nanos() as i32,
                flags: !PPS_TIME_INVALID,
            },
            ..PpsFdata::default()
        };
        // SAFETY: PPS_FETCH reads the timeout from and writes the info into
        // a struct pps_fdata, which `data` is (#[repr(C)]).
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), PPS_FETCH, &mut data as *mut PpsFdata) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ETIMEDOUT) | Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        let (sequence, t) = if self.clear {
            (data.info.clear_sequence, data.info.clear_tu)
        } else {
            (data.info.assert_sequence, data.info.assert_tu)
        };
        if sequence == 0 || self.last_sequence == Some(sequence) || !(0..1_000_000_000).contains(&t.nsec) || t.sec < 0 {
            return Ok(None);
        }
        self.last_sequence = Some(sequence);
        Ok(Some(NtpTimestamp::from_unix(t.sec, t.nsec as u32)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn ioctl_numbers_match_linux_pps_h() {
        // From <linux/pps.h> on x86_64: _IOR('p', 0xa1, struct pps_kparams *) etc.
        assert_eq!(PPS_GETPARAMS, 0x800870a1);
        assert_eq!(PPS_SETPARAMS, 0x400870a2);
        assert_eq!(PPS_GETCAP, 0x800870a3);
        assert_eq!(PPS_FETCH, 0xc00870a4);
        assert_eq!(std::mem::size_of::<PpsKinfo>(), 48);
        assert_eq!(std::mem::size_of::<PpsKparams>(), 40);
        assert_eq!(std::mem::size_of::<PpsFdata>(), 64);
    }

    #[test]
    fn files_that_are_not_pps_devices_are_refused_clearly() {
        let e = PpsDevice::open(Path::new("/dev/null"), false).err().expect("/dev/null is no PPS device");
        assert!(e.to_string().contains("not a PPS device"), "{e}");
        let e = PpsDevice::open(Path::new("/nonexistent/pps0"), false).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
