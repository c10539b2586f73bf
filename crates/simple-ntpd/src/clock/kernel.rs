//! The kernel clock's discipline interface, `clock_adjtime(CLOCK_REALTIME)`
//! (adjtimex): read its frequency and synchronisation status, set the
//! frequency, step it, and keep STA_UNSYNC / maxerror / esterror true so
//! that node_exporter's `node_timex_sync_status` and its alerts read the
//! truth.
//!
//! Safety interlock: when the environment variable
//! `NTPD_TEST_READ_ONLY_CLOCK=1` is set (the test script sets it), every
//! write fails instead of touching the clock; reads still work. Tests never
//! steer or step the real clock.

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::io;
use std::mem::zeroed;

/// Environment variable that forbids clock writes.
pub const READ_ONLY_ENV: &str = "NTPD_TEST_READ_ONLY_CLOCK";

/// What the kernel says about its clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelClock {
    /// Frequency offset, ppm.
    pub frequency_ppm: f64,
    /// STA_UNSYNC is clear.
    pub synchronised: bool,
    /// Maximum error, seconds.
    pub max_error: f64,
    /// Estimated error, seconds.
    pub est_error: f64,
    /// STA_INS set (leap second insertion armed).
    pub leap_insert: bool,
    /// STA_DEL set.
    pub leap_delete: bool,
    /// The kernel has just applied a leap second (state TIME_OOP during an
    /// inserted second, TIME_WAIT after a leap until STA_INS/STA_DEL are
    /// cleared).
    pub leap_done: bool,
}

/// True when writes are forbidden by the interlock.
pub fn read_only() -> bool {
    std::env::var(READ_ONLY_ENV).is_ok_and(|v| v.trim() == "1")
}

fn adjtime(tx: &mut libc::timex) -> io::Result<i32> {
    if tx.modes != 0 && read_only() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{READ_ONLY_ENV}=1: clock writes are disabled"),
        ));
    }
    // SAFETY: `tx` is a valid, initialised timex owned by the caller for the
    // duration of the call; the kernel only reads and writes within it.
    let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, tx) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn blank() -> libc::timex {
    // SAFETY: timex is a plain C struct for which all-zero is valid (modes 0 = read).
    unsafe { zeroed() }
}

/// Reads the kernel clock state (no change).
pub fn read() -> io::Result<KernelClock> {
    let mut tx = blank();
    let state = adjtime(&mut tx)?;
    Ok(KernelClock {
        frequency_ppm: tx.freq as f64 / 65536.0,
        synchronised: tx.status & libc::STA_UNSYNC == 0 && state != libc::TIME_ERROR,
        max_error: tx.maxerror as f64 * 1e-6,
        est_error: tx.esterror as f64 * 1e-6,
        leap_insert: tx.status & libc::STA_INS != 0,
        leap_delete: tx.status & libc::STA_DEL != 0,
        leap_done: leap_done(state),
    })
}

/// True when adjtimex's return value says the kernel has applied a leap
/// second: TIME_OOP (the inserted second is running) or TIME_WAIT (after a
/// leap, until the leap bits are cleared).
fn leap_done(state: i32) -> bool {
    state == libc::TIME_OOP || state == libc::TIME_WAIT
}

/// Sets the frequency offset (ppm, within the kernel's ±500 ppm).
pub fn set_frequency(ppm: f64) -> io::Result<()> {
    let mut tx = blank();
    tx.modes = libc::ADJ_FREQUENCY;
    tx.freq = frequency_word(ppm);
    adjtime(&mut tx).map(|_| ())
}

/// The kernel's frequency unit: ppm with a 16-bit fraction, within ±500 ppm.
fn frequency_word(ppm: f64) -> libc::c_long {
    (ppm.clamp(-500.0, 500.0) * 65536.0).round() as libc::c_long
}

/// `offset` seconds as ADJ_SETOFFSET|ADJ_NANO wants it: whole seconds
/// rounded down and a non-negative nanosecond part.
fn step_parts(offset: f64) -> (libc::time_t, libc::suseconds_t) {
    let secs = offset.floor();
    (secs as libc::time_t, ((offset - secs) * 1e9).round().min(999_999_999.0) as libc::suseconds_t)
}

/// The status word to publish, from the kernel's current one: our
/// STA_UNSYNC and leap bits replace the old ones, PLL/FLL are cleared (we
/// steer the frequency ourselves), every other bit is kept.
pub(crate) fn status_word(current: i32, synchronised: bool, leap_insert: bool, leap_delete: bool) -> i32 {
    let mut status = current & !(libc::STA_UNSYNC | libc::STA_INS | libc::STA_DEL | libc::STA_PLL | libc::STA_FLL);
    if !synchronised {
        status |= libc::STA_UNSYNC;
    }
    if leap_insert {
        status |= libc::STA_INS;
    } else if leap_delete {
        status |= libc::STA_DEL;
    }
    status
}

/// An error bound in the kernel's microseconds, within its 16 s ceiling.
fn error_word(seconds: f64) -> libc::c_long {
    (seconds.clamp(0.0, 16.0) * 1e6) as libc::c_long
}

/// Steps the clock by `offset` seconds.
pub fn step(offset: f64) -> io::Result<()> {
    let mut tx = blank();
    tx.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
    (tx.time.tv_sec, tx.time.tv_usec) = step_parts(offset);
    adjtime(&mut tx).map(|_| ())
}

/// Publishes synchronisation status: STA_UNSYNC, leap bits, error bounds.
pub fn set_status(
    synchronised: bool,
    leap_insert: bool,
    leap_delete: bool,
    est_error: f64,
    max_error: f64,
) -> io::Result<()> {
    let mut tx = blank();
    adjtime(&mut tx)?;
    let status = status_word(tx.status, synchronised, leap_insert, leap_delete);
    let mut tx = blank();
    tx.modes = libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR;
    tx.status = status;
    tx.maxerror = error_word(max_error);
    tx.esterror = error_word(est_error);
    adjtime(&mut tx).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_word_publishes_sync_and_leap_and_keeps_other_bits() {
        let other = libc::STA_NANO | libc::STA_PPSSIGNAL;
        let was = other | libc::STA_PLL | libc::STA_INS;
        assert_eq!(status_word(was, true, false, false), other);
        assert_eq!(status_word(was, false, false, false), other | libc::STA_UNSYNC);
        assert_eq!(status_word(libc::STA_UNSYNC, true, false, true), libc::STA_DEL);
        assert_eq!(status_word(0, true, true, true), libc::STA_INS, "insert wins if both are asked");
    }

    #[test]
    fn leap_states_of_the_kernel() {
        assert!(!leap_done(libc::TIME_OK));
        assert!(!leap_done(libc::TIME_INS), "armed, not yet applied");
        assert!(!leap_done(libc::TIME_DEL));
        assert!(leap_done(libc::TIME_OOP), "the inserted second is running");
        assert!(leap_done(libc::TIME_WAIT), "applied");
        assert!(!leap_done(libc::TIME_ERROR));
    }

    #[test]
    fn frequency_step_and_error_words() {
        assert_eq!(frequency_word(1.0), 65536);
        assert_eq!(frequency_word(-12.5), -819_200);
        assert_eq!(frequency_word(900.0), 500 * 65536, "clamped to the kernel's range");
        assert_eq!(step_parts(1.25), (1, 250_000_000));
        assert_eq!(step_parts(-0.3), (-1, 700_000_000));
        assert_eq!(step_parts(-2.0), (-2, 0));
        assert_eq!(error_word(0.0015), 1500);
        assert_eq!(error_word(100.0), 16_000_000);
        assert_eq!(error_word(-1.0), 0);
    }

    #[test]
    fn reads_the_kernel_clock_without_changing_it() {
        let a = read().expect("adjtimex read");
        assert!(a.frequency_ppm.abs() <= 512.0, "{a:?}");
        assert!(a.max_error >= 0.0 && a.est_error >= 0.0);
        let b = read().unwrap();
        assert_eq!(a.frequency_ppm, b.frequency_ppm, "a read must not change the frequency");
    }

    #[test]
    fn the_interlock_refuses_writes() {
        // Only meaningful with the interlock on, as the test script runs us.
        if read_only() {
            assert!(set_frequency(0.0).is_err());
            assert!(step(0.0).is_err());
            assert!(set_status(false, false, false, 0.0, 16.0).is_err());
        }
    }
}
