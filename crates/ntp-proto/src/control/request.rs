//! A mode 6 request (RFC 9327 §2): the 12-byte control header and its data.
//!
//! ```text
//! byte 0      LI (ignored) | version | mode 6
//! byte 1      R E M opcode         requests: R = E = M = 0
//! 2..4        sequence             echoed in every fragment of the answer
//! 4..6        status               ignored in requests
//! 6..8        association id       0 = the system
//! 8..10       offset               0: requests are one datagram
//! 10..12      count                bytes of data that follow
//! 12..        data                 ASCII: `name,name2=value,…`; then padding or a MAC, ignored
//! ```

/// Length of the control header.
pub const HEADER_LEN: usize = 12;
/// The largest data part of one fragment (NTPsec's and ntpd's
/// `CTL_MAX_DATA_LEN`).
pub const MAX_DATA_LEN: usize = 468;
/// The NTP mode of control messages.
pub const MODE: u8 = 6;

/// Operation codes (RFC 9327 §2.2, NTPsec's `ntp/control.py`).
pub mod op {
    /// Read status: the association list, or one association's variables.
    pub const READSTAT: u8 = 1;
    /// Read variables of the system or of one association.
    pub const READVAR: u8 = 2;
    /// Write variables (refused).
    pub const WRITEVAR: u8 = 3;
    /// Read clock variables (reference clock drivers).
    pub const READCLOCK: u8 = 4;
    /// Write clock variables (refused).
    pub const WRITECLOCK: u8 = 5;
    /// Set a trap (refused).
    pub const SETTRAP: u8 = 6;
    /// Run-time configuration, `ntpq :config` (refused).
    pub const CONFIGURE: u8 = 8;
    /// Save the configuration to a file (refused).
    pub const SAVECONFIG: u8 = 9;
    /// Read the MRU list (`ntpq mrulist`; not offered).
    pub const READ_MRU: u8 = 10;
    /// Read an ordered list, authenticated (`ifstats`, `reslist`; refused).
    pub const READ_ORDLIST_A: u8 = 11;
    /// Request a nonce (for `mrulist`; not offered).
    pub const REQ_NONCE: u8 = 12;
    /// Unset a trap (refused).
    pub const UNSETTRAP: u8 = 31;
}

/// Why a control datagram is not a request this server parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the header, or than its count says.
    Truncated,
    /// Not mode 6, or a version outside 1–4.
    NotControl,
    /// A response, an error, or a request in several fragments.
    NotARequest,
}

/// A parsed control request; `data` borrows the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlRequest<'a> {
    /// Its NTP version (echoed).
    pub version: u8,
    /// The operation code.
    pub opcode: u8,
    /// The sequence number (echoed).
    pub sequence: u16,
    /// The association asked about (0: the system).
    pub association: u16,
    /// The request's data: a variable list for READVAR.
    pub data: &'a [u8],
}

/// True when `datagram` claims to be a control message (mode 6), whatever
/// else is wrong with it: the decision routes it here.
pub fn is_control(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & 0x07 == MODE)
}

/// Parses a control request.
pub fn parse(datagram: &[u8]) -> Result<ControlRequest<'_>, Malformed> {
    let h = datagram.get(..HEADER_LEN).ok_or(Malformed::Truncated)?;
    let version = (h[0] >> 3) & 0x07;
    if h[0] & 0x07 != MODE || !(1..=4).contains(&version) {
        return Err(Malformed::NotControl);
    }
    if h[1] & 0xE0 != 0 {
        return Err(Malformed::NotARequest);
    }
    let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    if word(8) != 0 {
        return Err(Malformed::NotARequest);
    }
    let count = usize::from(word(10));
    if count > MAX_DATA_LEN {
        return Err(Malformed::NotARequest);
    }
    let data = datagram.get(HEADER_LEN..HEADER_LEN + count).ok_or(Malformed::Truncated)?;
    Ok(ControlRequest { version, opcode: h[1] & 0x1F, sequence: word(2), association: word(6), data })
}

/// The variable names a READVAR request's data lists (`name` or
/// `name=value`, separated by commas; blanks and NULs around them
/// ignored); empty for "the default list".
pub fn variable_names(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| *b == b',').filter_map(|item| {
        let name = item.split(|b| *b == b'=').next().unwrap_or(item);
        let name = trim(name);
        (!name.is_empty()).then_some(name)
    })
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() || *first == 0 {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() || *last == 0 {
            s = rest;
        } else {
            break;
        }
    }
    s
}
