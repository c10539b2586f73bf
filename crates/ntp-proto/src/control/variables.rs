//! What mode 6 shows: the system and association variables, handed in by
//! the daemon as one [`ControlSnapshot`] (the same figures its status API
//! serves), and the status words of RFC 9327 §2.3 derived from them.

use std::net::SocketAddr;

use crate::packet::LeapIndicator;
use crate::timestamp::NtpTimestamp;

/// Where the system's time comes from: the system status word's clock
/// source (RFC 9327 §2.3.1; what `ntpstat` prints as "synchronised to …").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// Not synchronised, or unknown.
    Unspecified = 0,
    /// A pulse-per-second signal.
    Pps = 1,
    /// A radio or satellite receiver (GNSS is UHF/L-band).
    Radio = 4,
    /// The local clock (a local reference).
    Local = 5,
    /// An NTP server.
    Ntp = 6,
}

/// How an association stands in selection: the peer status word's select
/// field (`ntpq -p`'s tally code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Rejected: unreachable or not yet answered (blank).
    Reject = 0,
    /// A falseticker (`x`).
    Falseticker = 1,
    /// Too far or configured not to be selected (`-`).
    Outlier = 3,
    /// Combined with the system peer (`+`).
    Candidate = 4,
    /// Agrees, not combined (`#`).
    Backup = 5,
    /// The system peer (`*`).
    SystemPeer = 6,
}

/// The system variables.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemVariables {
    /// `version`: the daemon's name and version.
    pub version: String,
    /// `leap`: the leap indicator served (3 when unsynchronised).
    pub leap: LeapIndicator,
    /// `stratum`: served (16 shows unsynchronised, as ntpd does).
    pub stratum: u8,
    /// `precision`: log2 s.
    pub precision: i8,
    /// `rootdelay`, seconds (shown in ms).
    pub root_delay: f64,
    /// `rootdisp`, seconds (shown in ms).
    pub root_dispersion: f64,
    /// `refid`: as the status API shows it (dotted quad, or text at
    /// stratum 0/1 and when unsynchronised).
    pub reference_id: String,
    /// `reftime`.
    pub reference_time: NtpTimestamp,
    /// `clock`: served time now.
    pub clock: NtpTimestamp,
    /// The status word's clock source.
    pub clock_source: ClockSource,
    /// `peer`: the system peer's association id, 0 when none.
    pub peer: u16,
    /// `tc`: the system peer's poll exponent (log2 s).
    pub poll: i8,
    /// `offset`: the offset estimate, seconds (shown in ms).
    pub offset: f64,
    /// `frequency`: the frequency correction, ppm.
    pub frequency_ppm: f64,
    /// `sys_jitter`, seconds (shown in ms).
    pub jitter: f64,
    /// `tai`: TAI − UTC, when a leap second table is in use.
    pub tai: Option<i32>,
    /// `leapsec`: the next leap second the table knows (NTP seconds).
    pub next_leap: Option<u64>,
    /// `expire`: the table's expiry (NTP seconds).
    pub leap_expires: Option<u64>,
}

/// One association (an upstream server or a reference clock).
#[derive(Clone, Debug, PartialEq)]
pub struct PeerVariables {
    /// Its association id (non-zero).
    pub association_id: u16,
    /// The status word's select field.
    pub selection: Selection,
    /// Requests are authenticated (MAC or NTS).
    pub authenticated: bool,
    /// `reach`: the reachability register.
    pub reach: u8,
    /// `srcadr`, `srcport`: the server's address (none for a reference clock).
    pub address: Option<SocketAddr>,
    /// `srchost`: the configured name; for a reference clock `DRIVER(name)`.
    pub host: String,
    /// A reference clock (shown with `srcadr=127.127.0.0` like ntpd's).
    pub refclock: bool,
    /// `stratum`: the server's.
    pub stratum: u8,
    /// `refid`: the server's reference id, when known.
    pub reference_id: Option<String>,
    /// `hpoll`, `ppoll`: the poll exponent.
    pub poll: i8,
    /// `offset`, seconds (shown in ms).
    pub offset: f64,
    /// `delay`, seconds (shown in ms).
    pub delay: f64,
    /// `jitter`, seconds (shown in ms).
    pub jitter: f64,
    /// `rec`: when its last valid reply arrived.
    pub last_response: Option<NtpTimestamp>,
}

/// Everything mode 6 shows, as of one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlSnapshot {
    /// The system variables.
    pub system: SystemVariables,
    /// The associations, by ascending id.
    pub peers: Vec<PeerVariables>,
}

impl SystemVariables {
    /// The system status word: leap indicator, clock source, no events.
    pub fn status_word(&self) -> u16 {
        (u16::from(self.leap.to_bits()) << 14) | ((self.clock_source as u16) << 8)
    }
}

/// Peer status bits (RFC 9327 §2.3.2).
const CONFIGURED: u16 = 0x80;
const AUTH_ENABLED: u16 = 0x40;
const AUTHENTIC: u16 = 0x20;
const REACHABLE: u16 = 0x10;

impl PeerVariables {
    /// The peer status word: configured, authentication, reachability and
    /// the select field; no events.
    pub fn status_word(&self) -> u16 {
        let mut s = CONFIGURED | self.selection as u16;
        if self.authenticated {
            s |= AUTH_ENABLED | AUTHENTIC;
        }
        if self.reach != 0 {
            s |= REACHABLE;
        }
        s << 8
    }

    /// `flash`: the test bits ntpq decodes; only "unreachable" (bit 12,
    /// `peer_unreach`) is known here.
    pub fn flash(&self) -> u16 {
        if self.reach == 0 {
            1 << 12
        } else {
            0
        }
    }
}
