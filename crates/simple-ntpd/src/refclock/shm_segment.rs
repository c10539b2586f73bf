//! System V shared memory for the NTP SHM refclock (OS interface, `unsafe`):
//! attach to segment `key` (creating it with the given permissions when it
//! does not exist, as chronyd does, so gpsd can start later), copy its
//! `struct shmTime` with volatile reads, re-read `count`, clear `valid`.
//! What the bytes mean is `ntp_proto::refclock::shm`.

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::io;
use std::sync::atomic::{fence, Ordering};

use ntp_proto::refclock::shm::{ShmLayout, ShmRecord};

/// Why a segment cannot be used.
#[derive(Debug)]
pub enum SegmentError {
    /// The segment exists but is smaller than a `struct shmTime`.
    WrongSize {
        /// Its size.
        size: usize,
        /// The size needed.
        needed: usize,
    },
    /// shmget/shmat failed.
    Os(io::Error),
}

impl std::fmt::Display for SegmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmentError::WrongSize { size, needed } => write!(
                f,
                "the segment exists with {size} bytes, not the {needed} of an NTP shared-memory segment (created by another program?)"
            ),
            SegmentError::Os(e) => write!(f, "{e}"),
        }
    }
}

/// An attached segment.
pub struct Segment {
    addr: *mut u8,
    layout: ShmLayout,
}

// SAFETY: the pointer refers to a shared-memory mapping that stays valid
// until `shmdt` in Drop; all accesses are volatile and the segment is made
// for concurrent use by other processes, so using it from another thread of
// this process is no different.
unsafe impl Send for Segment {}

impl Segment {
    /// Attaches to segment `key`, creating it with `perm` (e.g. 0o600) when
    /// missing.
    pub fn open(key: i32, perm: u32) -> Result<Segment, SegmentError> {
        let layout = ShmLayout::native();
        let size = layout.size();
        // SAFETY: shmget takes plain integers and has no memory effects.
        let id = unsafe { libc::shmget(key, size, libc::IPC_CREAT | (perm & 0o777) as i32) };
        if id < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                if let Some(existing) = existing_size(key) {
                    if existing < size {
                        return Err(SegmentError::WrongSize { size: existing, needed: size });
                    }
                }
            }
            return Err(SegmentError::Os(err));
        }
        // SAFETY: attaches the segment `id` at an address the kernel picks;
        // the result is checked for the error value below.
        let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if addr as isize == -1 {
            return Err(SegmentError::Os(io::Error::last_os_error()));
        }
        Ok(Segment { addr: addr.cast(), layout })
    }

    /// Copies the record and reads `count` again after the copy.
    pub fn read(&self) -> Option<(ShmRecord, i32)> {
        let mut buf = [0u8; 96];
        let n = self.layout.size().min(buf.len());
        fence(Ordering::SeqCst);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            // SAFETY: `addr` maps at least `layout.size()` bytes (shmget
            // refused smaller segments) and stays attached while `self` lives.
            *b = unsafe { std::ptr::read_volatile(self.addr.add(i)) };
        }
        fence(Ordering::SeqCst);
        let record = ShmRecord::decode(self.layout, &buf[..n])?;
        Some((record, self.read_i32(self.layout.count_offset())))
    }

    /// Clears `valid` (the reader's half of the protocol).
    pub fn clear_valid(&self) {
        let at = self.layout.valid_offset();
        // SAFETY: within the mapped size, 4-byte aligned (the C struct's
        // int field); volatile because the writer is another process.
        unsafe { std::ptr::write_volatile(self.addr.add(at).cast::<i32>(), 0) };
        fence(Ordering::SeqCst);
    }

    fn read_i32(&self, at: usize) -> i32 {
        // SAFETY: as in `clear_valid`.
        unsafe { std::ptr::read_volatile(self.addr.add(at).cast::<i32>()) }
    }

    /// Writes a record as an NTP SHM writer does (count bumped around the
    /// update, valid set last); for tests and fake writers.
    pub fn write(&self, record: &ShmRecord) {
        let mut buf = [0u8; 96];
        let n = self.layout.size().min(buf.len());
        let count = self.read_i32(self.layout.count_offset()).wrapping_add(1);
        let r = ShmRecord { count, valid: 0, ..*record };
        r.encode(self.layout, &mut buf[..n]);
        for (i, b) in buf[..n].iter().enumerate() {
            // SAFETY: within the mapped size, as in `read`.
            unsafe { std::ptr::write_volatile(self.addr.add(i), *b) };
        }
        fence(Ordering::SeqCst);
        let at = self.layout.valid_offset();
        // SAFETY: as in `clear_valid`.
        unsafe { std::ptr::write_volatile(self.addr.add(at).cast::<i32>(), 1) };
        fence(Ordering::SeqCst);
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `addr` came from shmat and is detached exactly once.
        unsafe { libc::shmdt(self.addr.cast()) };
    }
}

/// The size of existing segment `key`, if it exists and may be inspected.
fn existing_size(key: i32) -> Option<usize> {
    // SAFETY: shmget without IPC_CREAT only looks the key up.
    let id = unsafe { libc::shmget(key, 0, 0) };
    if id < 0 {
        return None;
    }
    // SAFETY: shmid_ds is plain data; IPC_STAT fills it.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid, writable shmid_ds.
    let rc = unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) };
    (rc == 0).then_some(ds.shm_segsz)
}

impl Segment {
    /// Whether segment `key` exists (`None`: cannot tell, e.g. no permission).
    pub fn exists(key: i32) -> Option<bool> {
        // SAFETY: shmget without IPC_CREAT only looks the key up.
        let id = unsafe { libc::shmget(key, 0, 0) };
        if id >= 0 {
            return Some(true);
        }
        (io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT)).then_some(false)
    }
}

/// Removes segment `key` (for tests that created their own).
pub fn remove(key: i32) {
    // SAFETY: plain integer arguments; IPC_RMID with a null buffer.
    unsafe {
        let id = libc::shmget(key, 0, 0);
        if id >= 0 {
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

/// Creates segment `key` with `size` bytes (for tests of wrong sizes).
pub fn create_raw(key: i32, size: usize) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    let id = unsafe { libc::shmget(key, size, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
    if id < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key no real writer uses: per process, away from "NTP0".
    fn private_key(n: i32) -> i32 {
        0x7e57_0000 + ((std::process::id() as i32 & 0x0fff) << 4) + n
    }

    #[test]
    fn created_if_missing_read_with_the_protocol() {
        let key = private_key(1);
        remove(key);
        let reader = Segment::open(key, 0o600).expect("create");
        let writer = Segment::open(key, 0o600).expect("attach again");
        let (r, _) = reader.read().unwrap();
        assert_eq!(r.valid, 0, "a new segment has no sample");
        let rec = ShmRecord {
            mode: 1,
            clock_sec: 1_767_225_600,
            receive_sec: 1_767_225_600,
            receive_usec: 5,
            precision: -20,
            ..ShmRecord::default()
        };
        writer.write(&rec);
        let (r, after) = reader.read().unwrap();
        assert_eq!((r.valid, r.count, after), (1, 1, 1));
        assert!(r.interpret(after).is_ok());
        reader.clear_valid();
        assert_eq!(reader.read().unwrap().0.valid, 0);
        drop((reader, writer));
        remove(key);
    }

    #[test]
    fn a_segment_of_the_wrong_size_is_refused_with_its_size() {
        let key = private_key(2);
        remove(key);
        create_raw(key, 16).unwrap();
        match Segment::open(key, 0o600) {
            Err(SegmentError::WrongSize { size: 16, needed }) => assert_eq!(needed, ShmLayout::native().size()),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a 16-byte segment was accepted"),
        }
        remove(key);
    }
}
