//! NTS Key Establishment records (RFC 8915 §4): the record codec, an
//! incremental decoder for a TLS byte stream, the server's response to a
//! request as a pure function, and the client's request and response parsing.
//!
//! A record is `critical bit (1) | type (15) | body length (16) | body`. A
//! message is a sequence of records ending with End of Message.

use super::aead::AeadAlgorithm;

/// Record type: End of Message.
pub const END_OF_MESSAGE: u16 = 0;
/// Record type: NTS Next Protocol Negotiation.
pub const NEXT_PROTOCOL: u16 = 1;
/// Record type: Error.
pub const ERROR: u16 = 2;
/// Record type: Warning.
pub const WARNING: u16 = 3;
/// Record type: AEAD Algorithm Negotiation.
pub const AEAD_ALGORITHM: u16 = 4;
/// Record type: New Cookie for NTPv4.
pub const NEW_COOKIE: u16 = 5;
/// Record type: NTPv4 Server Negotiation.
pub const NTPV4_SERVER: u16 = 6;
/// Record type: NTPv4 Port Negotiation.
pub const NTPV4_PORT: u16 = 7;

/// Next protocol id of NTPv4.
pub const PROTOCOL_NTPV4: u16 = 0;
/// Error code: Unrecognized Critical Record.
pub const ERROR_UNRECOGNIZED_CRITICAL: u16 = 0;
/// Error code: Bad Request.
pub const ERROR_BAD_REQUEST: u16 = 1;
/// Error code: Internal Server Error.
pub const ERROR_INTERNAL: u16 = 2;
/// Number of cookies a server hands out per NTS-KE exchange (RFC 8915 §4).
pub const COOKIES_PER_RESPONSE: usize = 8;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 4;

const CRITICAL_BIT: u16 = 0x8000;

/// What a record says, by type.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RecordBody {
    /// End of Message (type 0, empty body).
    EndOfMessage,
    /// Next Protocol Negotiation (type 1): protocol ids.
    NextProtocol(Vec<u16>),
    /// Error (type 2): error code.
    Error(u16),
    /// Warning (type 3): warning code.
    Warning(u16),
    /// AEAD Algorithm Negotiation (type 4): algorithm ids.
    AeadAlgorithm(Vec<u16>),
    /// New Cookie for NTPv4 (type 5): an opaque cookie.
    NewCookie(Vec<u8>),
    /// NTPv4 Server Negotiation (type 6): ASCII host name or address.
    Server(String),
    /// NTPv4 Port Negotiation (type 7).
    Port(u16),
    /// Any other type, kept as raw bytes.
    Unknown {
        /// The 15-bit record type.
        record_type: u16,
        /// The raw body.
        body: Vec<u8>,
    },
}

/// One NTS-KE record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// The critical bit: a receiver that does not understand the type must fail.
    pub critical: bool,
    /// The typed body.
    pub body: RecordBody,
}

/// Why records could not be decoded or encoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeError {
    /// A body longer than the decoder's limit (or than 65535 when encoding).
    BodyTooLong(usize),
    /// More records than the decoder's limit.
    TooManyRecords,
    /// A known record type with a body of the wrong shape.
    MalformedBody(u16),
    /// Bytes after End of Message.
    AfterEndOfMessage,
}

impl std::fmt::Display for KeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeError::BodyTooLong(n) => write!(f, "NTS-KE record body of {n} bytes is too long"),
            KeError::TooManyRecords => f.write_str("too many NTS-KE records in one message"),
            KeError::MalformedBody(t) => write!(f, "malformed body in NTS-KE record of type {t}"),
            KeError::AfterEndOfMessage => f.write_str("data after NTS-KE End of Message"),
        }
    }
}

impl std::error::Error for KeError {}

impl Record {
    /// End of Message, critical as the RFC requires.
    pub fn end_of_message() -> Record {
        Record { critical: true, body: RecordBody::EndOfMessage }
    }

    /// Next Protocol Negotiation (always critical).
    pub fn next_protocol(ids: Vec<u16>) -> Record {
        Record { critical: true, body: RecordBody::NextProtocol(ids) }
    }

    /// Error (always critical).
    pub fn error(code: u16) -> Record {
        Record { critical: true, body: RecordBody::Error(code) }
    }

    /// AEAD Algorithm Negotiation (sent critical).
    pub fn aead(ids: Vec<u16>) -> Record {
        Record { critical: true, body: RecordBody::AeadAlgorithm(ids) }
    }

    /// New Cookie (never critical).
    pub fn new_cookie(cookie: Vec<u8>) -> Record {
        Record { critical: false, body: RecordBody::NewCookie(cookie) }
    }

    /// The 15-bit record type.
    pub fn record_type(&self) -> u16 {
        match &self.body {
            RecordBody::EndOfMessage => END_OF_MESSAGE,
            RecordBody::NextProtocol(_) => NEXT_PROTOCOL,
            RecordBody::Error(_) => ERROR,
            RecordBody::Warning(_) => WARNING,
            RecordBody::AeadAlgorithm(_) => AEAD_ALGORITHM,
            RecordBody::NewCookie(_) => NEW_COOKIE,
            RecordBody::Server(_) => NTPV4_SERVER,
            RecordBody::Port(_) => NTPV4_PORT,
            RecordBody::Unknown { record_type, .. } => *record_type & !CRITICAL_BIT,
        }
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), KeError> {
        let mut body = Vec::new();
        match &self.body {
            RecordBody::EndOfMessage => {}
            RecordBody::NextProtocol(ids) | RecordBody::AeadAlgorithm(ids) => {
                ids.iter().for_each(|id| body.extend_from_slice(&id.to_be_bytes()))
            }
            RecordBody::Error(c) | RecordBody::Warning(c) | RecordBody::Port(c) => {
                body.extend_from_slice(&c.to_be_bytes())
            }
            RecordBody::NewCookie(b) | RecordBody::Unknown { body: b, .. } => body.extend_from_slice(b),
            RecordBody::Server(s) => body.extend_from_slice(s.as_bytes()),
        }
        let len = u16::try_from(body.len()).map_err(|_| KeError::BodyTooLong(body.len()))?;
        let ty = self.record_type() | if self.critical { CRITICAL_BIT } else { 0 };
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(())
    }

    /// Parses one record from its type word and body.
    fn from_parts(type_word: u16, body: &[u8]) -> Result<Record, KeError> {
        let critical = type_word & CRITICAL_BIT != 0;
        let record_type = type_word & !CRITICAL_BIT;
        let bad = KeError::MalformedBody(record_type);
        let u16s = |b: &[u8]| -> Result<Vec<u16>, KeError> {
            if !b.chunks_exact(2).remainder().is_empty() {
                return Err(bad);
            }
            Ok(b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
        };
        let one = |b: &[u8]| -> Result<u16, KeError> {
            match b {
                [h, l] => Ok(u16::from_be_bytes([*h, *l])),
                _ => Err(bad),
            }
        };
        let body = match record_type {
            END_OF_MESSAGE if body.is_empty() => RecordBody::EndOfMessage,
            END_OF_MESSAGE => return Err(bad),
            NEXT_PROTOCOL => RecordBody::NextProtocol(u16s(body)?),
            ERROR => RecordBody::Error(one(body)?),
            WARNING => RecordBody::Warning(one(body)?),
            AEAD_ALGORITHM => RecordBody::AeadAlgorithm(u16s(body)?),
            NEW_COOKIE => RecordBody::NewCookie(body.to_vec()),
            NTPV4_SERVER => {
                if !body.is_ascii() || body.is_empty() {
                    return Err(bad);
                }
                RecordBody::Server(String::from_utf8(body.to_vec()).map_err(|_| bad)?)
            }
            NTPV4_PORT => RecordBody::Port(one(body)?),
            _ => RecordBody::Unknown { record_type, body: body.to_vec() },
        };
        Ok(Record { critical, body })
    }
}

/// Encodes a whole message (the caller includes End of Message).
pub fn encode_message(records: &[Record]) -> Result<Vec<u8>, KeError> {
    let mut out = Vec::new();
    for r in records {
        r.encode(&mut out)?;
    }
    Ok(out)
}

/// Bounds on what a decoder accepts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// Longest accepted record body (at most 65535 on the wire anyway).
    pub max_body_len: usize,
    /// Most records accepted in one message, End of Message included.
    pub max_records: usize,
}

impl Default for Limits {
    /// 64 KiB bodies, 64 records: room for 8 cookies and a few extensions.
    fn default() -> Self {
        Limits { max_body_len: 65535, max_records: 64 }
    }
}

/// What one decoding step found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Decoded {
    /// The buffer holds no complete record yet: read more bytes.
    NeedMore,
    /// A record, taken from the first `consumed` bytes of the buffer.
    Record {
        /// The decoded record.
        record: Record,
        /// How many bytes of the buffer it used: drop them before the next step.
        consumed: usize,
    },
}

/// Incremental decoder of one NTS-KE message from a byte stream: feed it
/// the unconsumed bytes read so far; it returns one record at a time.
#[derive(Clone, Debug)]
pub struct RecordDecoder {
    limits: Limits,
    records: usize,
    done: bool,
}

impl RecordDecoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> RecordDecoder {
        RecordDecoder { limits, records: 0, done: false }
    }

    /// True once End of Message was decoded.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Decodes the next record from the start of `buf`. The body-length
    /// limit is checked as soon as the 4-byte header is there, so an
    /// oversized record is rejected before its body is buffered.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded, KeError> {
        if self.done {
            return if buf.is_empty() { Ok(Decoded::NeedMore) } else { Err(KeError::AfterEndOfMessage) };
        }
        let Some(header) = buf.get(..RECORD_HEADER_LEN) else { return Ok(Decoded::NeedMore) };
        let type_word = u16::from_be_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if len > self.limits.max_body_len {
            return Err(KeError::BodyTooLong(len));
        }
        if self.records >= self.limits.max_records {
            return Err(KeError::TooManyRecords);
        }
        let Some(body) = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else { return Ok(Decoded::NeedMore) };
        let record = Record::from_parts(type_word, body)?;
        self.records += 1;
        self.done = record.body == RecordBody::EndOfMessage;
        Ok(Decoded::Record { record, consumed: RECORD_HEADER_LEN + len })
    }
}

/// Decodes a complete message from `buf`: `Ok(None)` when End of Message
/// has not arrived yet, else the records (End of Message included) and the
/// number of bytes used.
pub fn decode_message(buf: &[u8], limits: Limits) -> Result<Option<(Vec<Record>, usize)>, KeError> {
    let mut decoder = RecordDecoder::new(limits);
    let mut at = 0;
    let mut records = Vec::new();
    while !decoder.is_done() {
        match decoder.decode(buf.get(at..).unwrap_or_default())? {
            Decoded::NeedMore => return Ok(None),
            Decoded::Record { record, consumed } => {
                records.push(record);
                at += consumed;
            }
        }
    }
    Ok(Some((records, at)))
}

/// What the server says about where NTP is served, when not the defaults
/// (the NTS-KE host, port 123).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ServerOptions {
    /// The NTP server name or address, when it differs from the KE host.
    pub ntp_server: Option<String>,
    /// The NTP port, when it differs from 123.
    pub ntp_port: Option<u16>,
}

/// The server's NTS-KE response to a client's request records, as a pure
/// function. `make_cookie` is called [`COOKIES_PER_RESPONSE`] times with the
/// chosen algorithm (the caller exports C2S/S2C keys for it from TLS and
/// seals them, see [`super::cookie::CookieKeys::seal`]). The result ends
/// with End of Message.
pub fn server_response(
    request: &[Record],
    options: &ServerOptions,
    mut make_cookie: impl FnMut(AeadAlgorithm) -> Vec<u8>,
) -> Vec<Record> {
    let reply_error = |code| vec![Record::error(code), Record::end_of_message()];
    let mut protocols: Option<&[u16]> = None;
    let mut aeads: Option<&[u16]> = None;
    let mut ended = false;
    for r in request {
        if ended {
            return reply_error(ERROR_BAD_REQUEST);
        }
        match &r.body {
            RecordBody::EndOfMessage => ended = true,
            RecordBody::NextProtocol(ids) => {
                if protocols.replace(ids).is_some() {
                    return reply_error(ERROR_BAD_REQUEST);
                }
            }
            RecordBody::AeadAlgorithm(ids) => {
                if aeads.replace(ids).is_some() {
                    return reply_error(ERROR_BAD_REQUEST);
                }
            }
            // Only servers send errors and cookies.
            RecordBody::Error(_) | RecordBody::NewCookie(_) => return reply_error(ERROR_BAD_REQUEST),
            RecordBody::Warning(_) | RecordBody::Server(_) | RecordBody::Port(_) => {}
            RecordBody::Unknown { .. } if r.critical => return reply_error(ERROR_UNRECOGNIZED_CRITICAL),
            RecordBody::Unknown { .. } => {}
        }
    }
    let Some(protocols) = protocols.filter(|_| ended) else { return reply_error(ERROR_BAD_REQUEST) };
    if !protocols.contains(&PROTOCOL_NTPV4) {
        // No protocol in common: an empty Next Protocol record (§4.1.2).
        return vec![Record::next_protocol(Vec::new()), Record::end_of_message()];
    }
    // AEAD negotiation is mandatory when NTPv4 is negotiated (§4.1.5).
    let Some(aeads) = aeads else { return reply_error(ERROR_BAD_REQUEST) };
    let chosen = AeadAlgorithm::PREFERENCE.into_iter().find(|a| aeads.contains(&a.id()));
    let mut out = vec![Record::next_protocol(vec![PROTOCOL_NTPV4])];
    let Some(aead) = chosen else {
        // Nothing in common: an empty AEAD record and no cookies.
        out.push(Record::aead(Vec::new()));
        out.push(Record::end_of_message());
        return out;
    };
    out.push(Record::aead(vec![aead.id()]));
    if let Some(server) = &options.ntp_server {
        out.push(Record { critical: true, body: RecordBody::Server(server.clone()) });
    }
    if let Some(port) = options.ntp_port {
        out.push(Record { critical: true, body: RecordBody::Port(port) });
    }
    for _ in 0..COOKIES_PER_RESPONSE {
        out.push(Record::new_cookie(make_cookie(aead)));
    }
    out.push(Record::end_of_message());
    out
}

/// The client's NTS-KE request: NTPv4, AEADs 30 then 15, End of Message.
pub fn client_request() -> Vec<Record> {
    vec![
        Record::next_protocol(vec![PROTOCOL_NTPV4]),
        Record::aead(AeadAlgorithm::PREFERENCE.iter().map(|a| a.id()).collect()),
        Record::end_of_message(),
    ]
}

/// What a successful NTS-KE exchange gives the client.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeResponse {
    /// The negotiated algorithm (export C2S/S2C keys for it).
    pub aead: AeadAlgorithm,
    /// The cookies, in the order received.
    pub cookies: Vec<Vec<u8>>,
    /// The NTP server to use, when not the KE host.
    pub server: Option<String>,
    /// The NTP port to use, when not 123.
    pub port: Option<u16>,
}

/// Why a server's NTS-KE response is unusable.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ClientKeError {
    /// The server sent an Error record with this code.
    ServerError(u16),
    /// The server did not agree to NTPv4 (missing, empty or other protocol).
    NoNtpv4,
    /// No AEAD algorithm, or one this client did not offer.
    NoAead,
    /// The response carried no cookie.
    NoCookies,
    /// The server sent a critical record this client does not understand.
    UnrecognizedCritical(u16),
    /// Duplicate records, records after End of Message or a missing End.
    BadResponse,
}

impl std::fmt::Display for ClientKeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientKeError::ServerError(c) => write!(f, "NTS-KE server returned error {c}"),
            ClientKeError::NoNtpv4 => f.write_str("NTS-KE server did not agree to NTPv4"),
            ClientKeError::NoAead => f.write_str("NTS-KE server chose no supported AEAD algorithm"),
            ClientKeError::NoCookies => f.write_str("NTS-KE server sent no cookies"),
            ClientKeError::UnrecognizedCritical(t) => write!(f, "NTS-KE server sent unknown critical record {t}"),
            ClientKeError::BadResponse => f.write_str("malformed NTS-KE response"),
        }
    }
}

impl std::error::Error for ClientKeError {}

/// Reads the server's response records (as decoded, End of Message last).
pub fn parse_response(records: &[Record]) -> Result<KeResponse, ClientKeError> {
    let mut protocol = None;
    let mut aead = None;
    let mut cookies = Vec::new();
    let (mut server, mut port) = (None, None);
    let mut ended = false;
    for r in records {
        if ended {
            return Err(ClientKeError::BadResponse);
        }
        match &r.body {
            RecordBody::EndOfMessage => ended = true,
            RecordBody::Error(code) => return Err(ClientKeError::ServerError(*code)),
            RecordBody::NextProtocol(ids) => {
                if protocol.replace(ids.as_slice()).is_some() {
                    return Err(ClientKeError::BadResponse);
                }
            }
            RecordBody::AeadAlgorithm(ids) => {
                if aead.replace(ids.as_slice()).is_some() {
                    return Err(ClientKeError::BadResponse);
                }
            }
            RecordBody::NewCookie(c) => cookies.push(c.clone()),
            RecordBody::Server(s) => server = Some(s.clone()),
            RecordBody::Port(p) => port = Some(*p),
            RecordBody::Warning(_) => {}
            RecordBody::Unknown { record_type, .. } if r.critical => {
                return Err(ClientKeError::UnrecognizedCritical(*record_type))
            }
            RecordBody::Unknown { .. } => {}
        }
    }
    if !ended {
        return Err(ClientKeError::BadResponse);
    }
    if protocol != Some(&[PROTOCOL_NTPV4][..]) {
        return Err(ClientKeError::NoNtpv4);
    }
    let aead = match aead {
        Some([id]) => AeadAlgorithm::from_id(*id).ok_or(ClientKeError::NoAead)?,
        _ => return Err(ClientKeError::NoAead),
    };
    if cookies.is_empty() {
        return Err(ClientKeError::NoCookies);
    }
    Ok(KeResponse { aead, cookies, server, port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8]) -> Vec<Record> {
        decode_message(bytes, Limits::default()).unwrap().unwrap().0
    }

    #[test]
    fn client_request_has_the_rfc_wire_layout() {
        let bytes = encode_message(&client_request()).unwrap();
        assert_eq!(
            bytes,
            [
                0x80, 0x01, 0x00, 0x02, 0x00, 0x00, // critical Next Protocol: [NTPv4]
                0x80, 0x04, 0x00, 0x04, 0x00, 0x1E, 0x00, 0x0F, // critical AEAD: [30, 15]
                0x80, 0x00, 0x00, 0x00, // critical End of Message
            ]
        );
        assert_eq!(decode_all(&bytes), client_request());
    }

    #[test]
    fn every_record_type_round_trips() {
        let records = vec![
            Record::next_protocol(vec![0, 5]),
            Record::error(1),
            Record { critical: true, body: RecordBody::Warning(7) },
            Record::aead(vec![15]),
            Record::new_cookie(vec![1, 2, 3]),
            Record { critical: false, body: RecordBody::Server("ntp.example.org".into()) },
            Record { critical: false, body: RecordBody::Port(4123) },
            Record { critical: false, body: RecordBody::Unknown { record_type: 0x1234, body: vec![9] } },
            Record::end_of_message(),
        ];
        let bytes = encode_message(&records).unwrap();
        let (decoded, used) = decode_message(&bytes, Limits::default()).unwrap().unwrap();
        assert_eq!(decoded, records);
        assert_eq!(used, bytes.len());
        // Cookie record: non-critical type 5, length 3.
        let cookie = encode_message(&[Record::new_cookie(vec![1, 2, 3])]).unwrap();
        assert_eq!(cookie, [0x00, 0x05, 0x00, 0x03, 1, 2, 3]);
    }

    #[test]
    fn decoder_is_incremental_byte_by_byte() {
        let bytes = encode_message(&client_request()).unwrap();
        let mut dec = RecordDecoder::new(Limits::default());
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for b in bytes {
            buf.push(b);
            while let Decoded::Record { record, consumed } = dec.decode(&buf).unwrap() {
                got.push(record);
                buf.drain(..consumed);
            }
        }
        assert!(dec.is_done());
        assert_eq!(got, client_request());
        assert_eq!(dec.decode(&[0]), Err(KeError::AfterEndOfMessage));
        assert_eq!(decode_message(&[0x80, 0x01, 0x00], Limits::default()), Ok(None));
    }

    #[test]
    fn decoder_enforces_limits_and_shapes() {
        let limits = Limits { max_body_len: 100, max_records: 3 };
        // Oversized body rejected from the header alone.
        assert_eq!(RecordDecoder::new(limits).decode(&[0, 5, 0, 101]), Err(KeError::BodyTooLong(101)));
        let many = encode_message(&vec![Record::new_cookie(vec![0]); 4]).unwrap();
        assert_eq!(decode_message(&many, limits), Err(KeError::TooManyRecords));
        for (bytes, ty) in [
            (&[0x80, 0x00, 0x00, 0x01, 0][..], 0), // End of Message with a body
            (&[0x80, 0x01, 0x00, 0x01, 0], 1),     // odd protocol list
            (&[0x80, 0x02, 0x00, 0x03, 0, 0, 0], 2),
            (&[0x00, 0x07, 0x00, 0x01, 0], 7),
            (&[0x00, 0x06, 0x00, 0x01, 0xFF], 6), // non-ASCII server
        ] {
            assert_eq!(decode_message(bytes, Limits::default()), Err(KeError::MalformedBody(ty)));
        }
        let long = Record::new_cookie(vec![0; 70_000]);
        assert_eq!(long.encode(&mut Vec::new()), Err(KeError::BodyTooLong(70_000)));
    }

    fn counting_cookies() -> (impl FnMut(AeadAlgorithm) -> Vec<u8>, std::rc::Rc<std::cell::Cell<u8>>) {
        let n = std::rc::Rc::new(std::cell::Cell::new(0u8));
        let m = n.clone();
        (
            move |a: AeadAlgorithm| {
                m.set(m.get() + 1);
                vec![a.id() as u8, m.get()]
            },
            n,
        )
    }

    #[test]
    fn server_prefers_gcm_siv_and_sends_eight_cookies() {
        let (maker, made) = counting_cookies();
        let resp = server_response(&client_request(), &ServerOptions::default(), maker);
        assert_eq!(made.get(), 8);
        assert_eq!(resp[0], Record::next_protocol(vec![0]));
        assert_eq!(resp[1], Record::aead(vec![30]));
        assert_eq!(resp.last(), Some(&Record::end_of_message()));
        assert_eq!(resp.len(), 2 + 8 + 1);
        let parsed = parse_response(&resp).unwrap();
        assert_eq!(parsed.aead, AeadAlgorithm::Aes128GcmSiv);
        assert_eq!(parsed.cookies.len(), 8);
        assert_eq!(parsed.cookies[7], vec![30, 8]);
        assert_eq!((parsed.server, parsed.port), (None, None));
    }

    #[test]
    fn server_falls_back_to_siv_and_announces_server_and_port() {
        let req = vec![Record::next_protocol(vec![0]), Record::aead(vec![99, 15]), Record::end_of_message()];
        let opts = ServerOptions { ntp_server: Some("time.example".into()), ntp_port: Some(1123) };
        let resp = server_response(&req, &opts, |a| vec![a.id() as u8]);
        let parsed = parse_response(&resp).unwrap();
        assert_eq!(parsed.aead, AeadAlgorithm::AesSivCmac256);
        assert_eq!(parsed.server.as_deref(), Some("time.example"));
        assert_eq!(parsed.port, Some(1123));
        assert_eq!(parsed.cookies, vec![vec![15u8]; 8]);
    }

    #[test]
    fn server_errors_follow_the_rfc() {
        let eom = Record::end_of_message;
        let np = || Record::next_protocol(vec![0]);
        let ae = || Record::aead(vec![30]);
        let unknown_crit = Record { critical: true, body: RecordBody::Unknown { record_type: 0x4000, body: vec![] } };
        let unknown = Record { critical: false, ..unknown_crit.clone() };
        let cases: Vec<(Vec<Record>, Option<u16>)> = vec![
            (vec![np(), ae(), unknown_crit, eom()], Some(ERROR_UNRECOGNIZED_CRITICAL)),
            (vec![np(), ae(), unknown, eom()], None),
            (vec![ae(), eom()], Some(ERROR_BAD_REQUEST)), // no next protocol
            (vec![np(), eom()], Some(ERROR_BAD_REQUEST)), // no AEAD with NTPv4
            (vec![np(), np(), ae(), eom()], Some(ERROR_BAD_REQUEST)), // duplicate
            (vec![np(), ae()], Some(ERROR_BAD_REQUEST)),  // no End of Message
            (vec![np(), ae(), eom(), eom()], Some(ERROR_BAD_REQUEST)),
            (vec![np(), ae(), Record::error(0), eom()], Some(ERROR_BAD_REQUEST)),
        ];
        for (req, want) in cases {
            let resp = server_response(&req, &ServerOptions::default(), |_| vec![1]);
            let got = resp.iter().find_map(|r| if let RecordBody::Error(c) = r.body { Some(c) } else { None });
            assert_eq!(got, want, "{req:?}");
            assert_eq!(resp.last(), Some(&Record::end_of_message()));
            if let Some(code) = want {
                assert_eq!(parse_response(&resp), Err(ClientKeError::ServerError(code)));
            }
        }
    }

    #[test]
    fn server_without_common_protocol_or_aead_sends_empty_lists() {
        let req = vec![Record::next_protocol(vec![0x8001]), Record::end_of_message()];
        let resp = server_response(&req, &ServerOptions::default(), |_| unreachable!());
        assert_eq!(resp, vec![Record::next_protocol(vec![]), Record::end_of_message()]);
        assert_eq!(parse_response(&resp), Err(ClientKeError::NoNtpv4));
        let req = vec![Record::next_protocol(vec![0]), Record::aead(vec![1, 2]), Record::end_of_message()];
        let resp = server_response(&req, &ServerOptions::default(), |_| unreachable!());
        assert_eq!(resp[1], Record::aead(vec![]));
        assert_eq!(parse_response(&resp), Err(ClientKeError::NoAead));
    }

    #[test]
    fn client_rejects_bad_responses() {
        let ok = || {
            vec![
                Record::next_protocol(vec![0]),
                Record::aead(vec![15]),
                Record::new_cookie(vec![1]),
                Record::end_of_message(),
            ]
        };
        assert!(parse_response(&ok()).is_ok());
        let mut no_end = ok();
        no_end.pop();
        assert_eq!(parse_response(&no_end), Err(ClientKeError::BadResponse));
        let mut no_cookie = ok();
        no_cookie.remove(2);
        assert_eq!(parse_response(&no_cookie), Err(ClientKeError::NoCookies));
        let mut unoffered = ok();
        unoffered[1] = Record::aead(vec![17]);
        assert_eq!(parse_response(&unoffered), Err(ClientKeError::NoAead));
        let mut crit = ok();
        crit.insert(0, Record { critical: true, body: RecordBody::Unknown { record_type: 77, body: vec![] } });
        assert_eq!(parse_response(&crit), Err(ClientKeError::UnrecognizedCritical(77)));
    }

    proptest! {
        #[test]
        fn decoder_never_panics_and_consumes_within_bounds(data in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..10) {
            let limits = Limits { max_body_len: 300, max_records: max };
            let mut dec = RecordDecoder::new(limits);
            let mut at = 0;
            let mut n = 0;
            while let Ok(Decoded::Record { record, consumed }) = dec.decode(&data[at..]) {
                prop_assert!(consumed >= RECORD_HEADER_LEN && at + consumed <= data.len());
                at += consumed;
                n += 1;
                let _ = server_response(std::slice::from_ref(&record), &ServerOptions::default(), |_| vec![]);
            }
            prop_assert!(n <= max);
        }

        #[test]
        fn encode_decode_round_trips(cookies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..10)) {
            let mut records: Vec<Record> = cookies.into_iter().map(Record::new_cookie).collect();
            records.push(Record::end_of_message());
            let bytes = encode_message(&records).unwrap();
            prop_assert_eq!(decode_message(&bytes, Limits::default()).unwrap().unwrap().0, records);
        }
    }
}
