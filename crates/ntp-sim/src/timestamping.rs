//! Where the simulated client takes T1 and T4, and how late things happen
//! after the clock reads — the daemon's real timestamping path
//! (`simple-ntpd`'s `sync::source` and `sync::net`):
//!
//! ```text
//! poll due: clock read (`now`) → request built → clock read → send() → kernel TX timestamp → wire
//!           |<------------------ send_latency ------------------------------------------>|
//!                                               |<-- syscall_latency ------------------->|
//! wire → kernel RX timestamp (T4) → … → the sync loop handles the reply
//!        |<---------------- receive_latency ------------------------>|
//! ```
//!
//! [`T1Source::Kernel`] is the daemon's path: T1 is the kernel's transmit
//! timestamp, taken as the request reaches the wire. [`T1Source::BeforeSend`]
//! is its fallback when the kernel gives none (the clock read right before
//! `send`), [`T1Source::Poll`] the path before kernel transmit timestamps
//! (the read when the poll came due, before the request was built). T4 is
//! always the kernel receive timestamp, exact at arrival; the loop acts on
//! the reply `receive_latency` later. The latencies are what this kind of
//! machine shows (docs/performance.md, the accuracy benchmark): the daemon's
//! old T1 was ~20 µs early on a busy 2-core VM, `send()` itself takes ~4 µs
//! to the kernel's timestamp, and a reply waits 12–22 µs for the loop.

/// Where T1 comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T1Source {
    /// The kernel's transmit timestamp (the daemon with SO_TIMESTAMPING).
    Kernel,
    /// The clock read immediately before `send()` (no kernel timestamp).
    BeforeSend,
    /// The clock read when the poll came due (before this was fixed).
    Poll,
}

impl T1Source {
    /// Parses `kernel`, `send` or `poll` (`--timestamps`).
    pub fn parse(s: &str) -> Result<T1Source, String> {
        match s {
            "kernel" => Ok(T1Source::Kernel),
            "send" => Ok(T1Source::BeforeSend),
            "poll" => Ok(T1Source::Poll),
            other => Err(format!("--timestamps is kernel, send or poll, not {other:?}")),
        }
    }

    /// The name `parse` takes.
    pub fn name(self) -> &'static str {
        match self {
            T1Source::Kernel => "kernel",
            T1Source::BeforeSend => "send",
            T1Source::Poll => "poll",
        }
    }
}

/// The client's timestamping path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timestamping {
    /// Where T1 comes from.
    pub t1: T1Source,
    /// From the poll's clock read to the request reaching the wire, s.
    pub send_latency: f64,
    /// From the clock read right before `send()` to the wire, s.
    pub syscall_latency: f64,
    /// From the reply's arrival (T4) to the loop handling it, s.
    pub receive_latency: f64,
}

impl Timestamping {
    /// The daemon's path: kernel transmit and receive timestamps.
    pub const DAEMON: Timestamping =
        Timestamping { t1: T1Source::Kernel, send_latency: 20e-6, syscall_latency: 4e-6, receive_latency: 20e-6 };

    /// The same latencies with T1 from `t1`.
    pub fn with_t1(self, t1: T1Source) -> Timestamping {
        Timestamping { t1, ..self }
    }

    /// How long before the request reaches the wire T1 is read, s (0 for
    /// a kernel timestamp, which is taken as it leaves).
    pub fn t1_lead(&self) -> f64 {
        match self.t1 {
            T1Source::Kernel => 0.0,
            T1Source::BeforeSend => self.syscall_latency,
            T1Source::Poll => self.send_latency,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_leads_follow_the_path() {
        for t in [T1Source::Kernel, T1Source::BeforeSend, T1Source::Poll] {
            assert_eq!(T1Source::parse(t.name()), Ok(t));
        }
        assert!(T1Source::parse("user").is_err());
        let d = Timestamping::DAEMON;
        assert_eq!(d.t1_lead(), 0.0);
        assert_eq!(d.with_t1(T1Source::BeforeSend).t1_lead(), d.syscall_latency);
        assert_eq!(d.with_t1(T1Source::Poll).t1_lead(), d.send_latency);
    }
}
