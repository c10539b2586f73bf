//! The host's clocks: reading the system clock and measuring its precision
//! ([`system`]), and the kernel's clock-adjustment interface ([`kernel`],
//! the only code that may steer it). The clock the engine steers is
//! `ntp_sync::Clock`, implemented by `sync::drivers`. Tests never step or
//! slew the real clock: `NTPD_TEST_READ_ONLY_CLOCK=1` makes [`kernel`]
//! refuse.

pub mod kernel;
pub mod system;

pub use system::SystemClock;
