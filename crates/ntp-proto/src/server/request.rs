//! The first step of the decision: is this datagram a client request this
//! server answers at all? Everything else is dropped with a [`DropReason`],
//! one counter each.

use crate::extension::Trailer;
use crate::packet::{Header, Mode, ParseError, HEADER_LEN};

/// The NTP port; NTPv1 mode-0 requests from it are not answered (they could
/// be another server's reply and would start a loop).
pub const NTP_PORT: u16 = 123;

/// Why a datagram was not answered. One counter each.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum DropReason {
    /// Shorter than the 48-byte header.
    TooShort,
    /// Longer than the configured maximum packet size.
    TooLong,
    /// Version 0, or above 4.
    BadVersion,
    /// Mode 6 (control, ntpq) — never answered: amplification vector.
    ControlMode,
    /// Mode 7 (private, ntpdc monlist) — never answered: amplification vector.
    PrivateMode,
    /// Any other mode that is not a client request (server, broadcast,
    /// symmetric, reserved).
    NotClientMode,
    /// Malformed extension fields or MAC.
    MalformedExtension,
    /// Source address denied by an access rule.
    Denied,
    /// Over the client's rate limit.
    RateLimited,
    /// Missing, unknown-key or bad MAC where one is required.
    AuthenticationFailed,
    /// NTS: unknown cookie, bad authenticator or missing fields.
    Nts,
    /// The reply would have been larger than the request.
    ReplyTooLarge,
    /// Arrived on a network interface (VLAN) the server does not serve.
    InterfaceDisabled,
}

impl DropReason {
    /// Every reason, in counter-index order.
    pub const ALL: [DropReason; 13] = [
        DropReason::TooShort,
        DropReason::TooLong,
        DropReason::BadVersion,
        DropReason::ControlMode,
        DropReason::PrivateMode,
        DropReason::NotClientMode,
        DropReason::MalformedExtension,
        DropReason::Denied,
        DropReason::RateLimited,
        DropReason::AuthenticationFailed,
        DropReason::Nts,
        DropReason::ReplyTooLarge,
        DropReason::InterfaceDisabled,
    ];

    /// Number of reasons (size of a counter array).
    pub const COUNT: usize = Self::ALL.len();

    /// Index into a counter array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::TooLong => "too_long",
            DropReason::BadVersion => "bad_version",
            DropReason::ControlMode => "control_mode",
            DropReason::PrivateMode => "private_mode",
            DropReason::NotClientMode => "not_client_mode",
            DropReason::MalformedExtension => "malformed_extension",
            DropReason::Denied => "denied",
            DropReason::RateLimited => "rate_limited",
            DropReason::AuthenticationFailed => "authentication_failed",
            DropReason::Nts => "nts",
            DropReason::ReplyTooLarge => "reply_too_large",
            DropReason::InterfaceDisabled => "interface_disabled",
        }
    }
}

impl From<ParseError> for DropReason {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::TooShort => DropReason::TooShort,
            ParseError::MalformedExtension => DropReason::MalformedExtension,
        }
    }
}

/// A request that passed [`parse_request`].
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    /// The decoded header.
    pub header: Header,
    /// Extension fields and MAC after the header.
    pub trailer: Trailer<'a>,
    /// Length of the whole request datagram.
    pub len: usize,
    /// The request's transmit timestamp bytes, echoed bit-exact as origin.
    pub transmit_bytes: [u8; 8],
}

/// Decides whether `data` (from UDP source port `source_port`) is a client
/// request this server answers.
pub fn parse_request(data: &[u8], source_port: u16) -> Result<ClientRequest<'_>, DropReason> {
    let header = Header::decode(data)?;
    if header.version == 0 || header.version > 4 {
        return Err(DropReason::BadVersion);
    }
    match header.mode {
        Mode::Client => {}
        // NTPv1 had no mode field: a mode-0 v1 packet is a client request,
        // unless it comes from port 123 (possibly another server's reply).
        Mode::Reserved if header.version == 1 && source_port != NTP_PORT => {}
        Mode::Control => return Err(DropReason::ControlMode),
        Mode::Private => return Err(DropReason::PrivateMode),
        _ => return Err(DropReason::NotClientMode),
    }
    let trailer = Trailer::parse(data, header.version)?;
    let mut transmit_bytes = [0u8; 8];
    transmit_bytes.copy_from_slice(&data[Header::TRANSMIT_OFFSET..HEADER_LEN]);
    Ok(ClientRequest { header, trailer, len: data.len(), transmit_bytes })
}
