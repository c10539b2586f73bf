//! NTS extension fields in NTPv4 packets (RFC 8915 §5): Unique Identifier,
//! NTS Cookie, NTS Cookie Placeholder and the NTS Authenticator and
//! Encrypted Extension Fields. Server side: verify a request and write the
//! reply's fields (or learn that an NTS NAK is due); client side: build a
//! request and verify a reply.
//!
//! The authenticator's associated data is the packet from its first byte up
//! to the authenticator field, so the reply's header — transmit timestamp
//! included — must be final before [`server_reply_fields`] seals it.
//!
//! The server side allocates nothing: fields are located in place, cookies
//! open into a [`CookieSession`] on the stack, the request's encrypted part
//! is checked in a stack buffer, and the reply's cookies are written and
//! sealed where they go in the reply.

use super::aead::{AeadAlgorithm, TAG_LEN};
use super::cookie::{CookieKeys, CookieSession, SessionKeys, COOKIE_NONCE_LEN};
use crate::extension::{write_field, Trailer, MIN_FIELD_LEN};
use crate::packet::{Header, ReferenceId, HEADER_LEN};
use crate::server::{ClientRequest, DropReason};
use crate::timestamp::NtpTimestamp;

/// Extension field type: Unique Identifier.
pub const UNIQUE_IDENTIFIER: u16 = 0x0104;
/// Extension field type: NTS Cookie.
pub const NTS_COOKIE: u16 = 0x0204;
/// Extension field type: NTS Cookie Placeholder.
pub const COOKIE_PLACEHOLDER: u16 = 0x0304;
/// Extension field type: NTS Authenticator and Encrypted Extension Fields.
pub const AUTHENTICATOR: u16 = 0x0404;
/// Kiss code of an NTS NAK.
pub const NTS_NAK: ReferenceId = ReferenceId(*b"NTSN"); // = KissCode::NtsNak.reference_id()
/// Shortest Unique Identifier accepted and sent (RFC 8915 §5.3: 32 bytes).
pub const MIN_UNIQUE_ID_LEN: usize = 32;
/// Nonce plus additional padding is at least this long (RFC 8915 §5.6).
const MIN_NONCE_AREA: usize = 16;
/// The longest encrypted part of a request the server checks (on the
/// stack); longer ones are dropped as malformed. Requests carry none in
/// practice (RFC 8915 defines no encrypted field a client sends).
const MAX_REQUEST_CIPHERTEXT: usize = 2048;

/// Why NTS processing failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NtsError {
    /// Not an NTPv4 packet with a valid extension-field layout, or NTS
    /// fields missing, duplicated, misplaced or malformed. Drop silently.
    Malformed,
    /// The server's answer should be an NTS NAK: unknown or invalid cookie,
    /// or an authenticator that does not verify (the request's unique id
    /// is in [`Nak`]).
    Nak,
    /// A reply: the authenticator did not verify, or the unique id differs.
    BadReply,
    /// A reply: the server sent an NTS NAK.
    ReceivedNak,
    /// Bad key or nonce length from the caller.
    BadInput,
    /// Not even the minimal NTS reply fits in the request's size.
    ReplyTooLarge,
}

/// A request the server could not authenticate: answer with
/// [`write_nts_nak`] using this unique id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Nak<'a> {
    /// The request's Unique Identifier field value, echoed in the NAK.
    pub unique_id: &'a [u8],
}

/// An authenticated NTS request.
#[derive(Clone, Copy, Debug)]
pub struct VerifiedRequest<'a> {
    /// The Unique Identifier field value, to echo.
    pub unique_id: &'a [u8],
    /// The keys from the cookie.
    pub keys: CookieSession,
    /// How many cookie placeholders the client sent.
    pub placeholders: usize,
    /// Bytes of encrypted extension fields the request carried:
    /// authenticated, then ignored (none is defined that a server acts on).
    pub encrypted_len: usize,
}

/// An extension field with its byte offset in the packet.
struct Located<'a> {
    offset: usize,
    field_type: u16,
    value: &'a [u8],
}

/// The fields of a validated NTPv4 packet with their offsets, in order;
/// `None` when the layout is invalid or a MAC follows (NTS packets carry
/// none).
fn located_fields(packet: &[u8]) -> Option<impl Iterator<Item = Located<'_>>> {
    let header = Header::decode(packet).ok()?;
    if header.version != 4 {
        return None;
    }
    let trailer = Trailer::parse(packet, 4).ok()?;
    if trailer.mac().is_some() {
        return None;
    }
    let mut offset = HEADER_LEN;
    Some(trailer.fields().map(move |f| {
        let at = offset;
        offset += 4 + f.value.len();
        Located { offset: at, field_type: f.field_type, value: f.value }
    }))
}

/// Splits an authenticator value into nonce and ciphertext.
fn parse_authenticator(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let nonce_len = usize::from(u16::from_be_bytes([*value.first()?, *value.get(1)?]));
    let ct_len = usize::from(u16::from_be_bytes([*value.get(2)?, *value.get(3)?]));
    let nonce = value.get(4..4 + nonce_len)?;
    let ct_at = 4 + nonce_len.div_ceil(4) * 4;
    let ct = value.get(ct_at..ct_at + ct_len)?;
    Some((nonce, ct))
}

/// The authenticator value: lengths, padded nonce, padded ciphertext and
/// the additional padding that brings the nonce area to 16 bytes.
fn authenticator_value(nonce: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    let len = authenticator_value_len(nonce.len(), ct.len());
    let mut v = vec![0u8; len];
    v[..2].copy_from_slice(&u16::try_from(nonce.len()).ok()?.to_be_bytes());
    v[2..4].copy_from_slice(&u16::try_from(ct.len()).ok()?.to_be_bytes());
    v[4..4 + nonce.len()].copy_from_slice(nonce);
    let ct_at = 4 + nonce.len().div_ceil(4) * 4;
    v[ct_at..ct_at + ct.len()].copy_from_slice(ct);
    Some(v)
}

fn authenticator_value_len(nonce_len: usize, ct_len: usize) -> usize {
    let nonce_area = nonce_len.div_ceil(4) * 4;
    4 + nonce_area.max(MIN_NONCE_AREA) + ct_len.div_ceil(4) * 4
}

/// Total length of an extension field with a value of `value_len` bytes.
fn field_len(value_len: usize) -> usize {
    (4 + value_len).div_ceil(4).max(MIN_FIELD_LEN / 4) * 4
}

/// Parses a plain sequence of extension fields (the decrypted part).
fn plain_fields(mut bytes: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let ty = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]));
        if len < 4 || len % 4 != 0 {
            return None;
        }
        out.push((ty, bytes.get(4..len)?));
        bytes = &bytes[len..];
    }
    Some(out)
}

/// Server side: checks the NTS fields of `packet` (a whole NTPv4 request).
/// `Err(Ok(nak))` asks for an NTS NAK, `Err(Err(e))` for a silent drop.
/// Allocates nothing.
pub fn server_verify<'a>(
    packet: &'a [u8],
    keys: &CookieKeys,
) -> Result<VerifiedRequest<'a>, Result<Nak<'a>, NtsError>> {
    let fields = located_fields(packet).ok_or(Err(NtsError::Malformed))?;
    let (mut unique_id, mut cookie, mut placeholders) = (None, None, 0usize);
    let mut auth = None;
    for f in fields {
        if auth.is_some() {
            // Nothing may follow the authenticator unauthenticated.
            return Err(Err(NtsError::Malformed));
        }
        match f.field_type {
            UNIQUE_IDENTIFIER if unique_id.is_none() && f.value.len() >= MIN_UNIQUE_ID_LEN => unique_id = Some(f.value),
            NTS_COOKIE if cookie.is_none() => cookie = Some(f.value),
            COOKIE_PLACEHOLDER => placeholders += 1,
            AUTHENTICATOR => auth = Some(f),
            UNIQUE_IDENTIFIER | NTS_COOKIE => return Err(Err(NtsError::Malformed)),
            _ => {}
        }
    }
    let (Some(unique_id), Some(cookie), Some(auth)) = (unique_id, cookie, auth) else {
        return Err(Err(NtsError::Malformed));
    };
    let nak = Err(Ok(Nak { unique_id }));
    let (nonce, ct) = parse_authenticator(auth.value).ok_or(Err(NtsError::Malformed))?;
    if ct.len() > MAX_REQUEST_CIPHERTEXT {
        return Err(Err(NtsError::Malformed));
    }
    // The cookie's value may carry zero padding after the sealed bytes;
    // cookies made here are a multiple of 2 long, so try the exact length.
    let Ok(session) = open_padded(keys, cookie) else { return nak };
    let ad = packet.get(..auth.offset).ok_or(Err(NtsError::Malformed))?;
    let mut scratch = [0u8; MAX_REQUEST_CIPHERTEXT];
    let buf = &mut scratch[..ct.len()];
    buf.copy_from_slice(ct);
    let Ok(plaintext) = session.aead.open_in_place(session.c2s(), nonce, ad, buf) else { return nak };
    Ok(VerifiedRequest { unique_id, keys: session, placeholders, encrypted_len: plaintext.len() })
}

/// Opens a cookie whose field value may end in up to 3 padding bytes.
fn open_padded(keys: &CookieKeys, value: &[u8]) -> Result<CookieSession, super::cookie::CookieError> {
    let mut last = Err(super::cookie::CookieError::Invalid);
    for pad in 0..4 {
        let Some(cut) = value.len().checked_sub(pad) else { break };
        if pad > 0 && value[cut..].iter().any(|b| *b != 0) {
            break;
        }
        last = keys.open_session(&value[..cut]);
        if last.is_ok() {
            return last;
        }
    }
    last
}

/// Server side: writes the reply's NTS fields into `reply` after its
/// finished 48-byte header (transmit timestamp already stamped): the echoed
/// Unique Identifier, then an authenticator sealed with S2C under `nonce`
/// (`request.keys.aead.nonce_len()` bytes) holding `1 + placeholders` fresh
/// cookies, fewer if they would make the reply longer than `request_len`.
/// `cookie_nonce` supplies a fresh random nonce per cookie. Returns the
/// reply length. Allocates nothing: the cookies are sealed where they go
/// and the authenticator encrypts them in place.
pub fn server_reply_fields(
    reply: &mut [u8],
    request: &VerifiedRequest<'_>,
    request_len: usize,
    cookies: &CookieKeys,
    nonce: &[u8],
    mut cookie_nonce: impl FnMut() -> [u8; COOKIE_NONCE_LEN],
) -> Result<usize, NtsError> {
    let aead = request.keys.aead;
    if nonce.len() != aead.nonce_len() {
        return Err(NtsError::BadInput);
    }
    let limit = request_len.min(reply.len());
    let at = write_field(reply, HEADER_LEN, UNIQUE_IDENTIFIER, request.unique_id).ok_or(NtsError::ReplyTooLarge)?;
    let cookie_len = CookieKeys::cookie_len(aead);
    let cookie_field = field_len(cookie_len);
    let auth_len = |n: usize| field_len(authenticator_value_len(nonce.len(), n * cookie_field + TAG_LEN));
    let mut n = 1 + request.placeholders;
    while n > 0 && at + auth_len(n) > limit {
        n -= 1;
    }
    if at + auth_len(n) > limit {
        return Err(NtsError::ReplyTooLarge);
    }
    let end = at + auth_len(n);
    let ct_len = n * cookie_field + TAG_LEN;
    let (ad, field) = reply[..end].split_at_mut(at);
    field.fill(0);
    field[..2].copy_from_slice(&AUTHENTICATOR.to_be_bytes());
    let field_len16 = u16::try_from(field.len()).map_err(|_| NtsError::ReplyTooLarge)?;
    field[2..4].copy_from_slice(&field_len16.to_be_bytes());
    field[4..6].copy_from_slice(&u16::try_from(nonce.len()).map_err(|_| NtsError::BadInput)?.to_be_bytes());
    field[6..8].copy_from_slice(&u16::try_from(ct_len).map_err(|_| NtsError::ReplyTooLarge)?.to_be_bytes());
    field[8..8 + nonce.len()].copy_from_slice(nonce);
    let ct_at = 8 + nonce.len().div_ceil(4) * 4;
    let ct = &mut field[ct_at..ct_at + ct_len];
    let plaintext = &mut ct[aead.plaintext_range(ct_len)];
    for slot in plaintext.chunks_exact_mut(cookie_field) {
        slot[..2].copy_from_slice(&NTS_COOKIE.to_be_bytes());
        slot[2..4].copy_from_slice(&u16::try_from(cookie_field).map_err(|_| NtsError::BadInput)?.to_be_bytes());
        cookies.seal_into(&request.keys, &cookie_nonce(), &mut slot[4..]).map_err(|_| NtsError::BadInput)?;
    }
    aead.seal_in_place(request.keys.s2c(), nonce, ad, ct).map_err(|_| NtsError::BadInput)?;
    Ok(end)
}

/// Server side: writes an NTS NAK — a KoD with kiss code NTSN echoing the
/// request's Unique Identifier — into `out` and returns its length.
pub fn write_nts_nak(
    request: &ClientRequest<'_>,
    nak: Nak<'_>,
    precision: i8,
    now: NtpTimestamp,
    out: &mut [u8],
) -> Result<usize, DropReason> {
    let at = crate::kod::write_kod(request, crate::kod::KissCode::NtsNak, precision, now, out)?;
    let limit = request.len.min(out.len());
    write_field(&mut out[..limit], at, UNIQUE_IDENTIFIER, nak.unique_id).ok_or(DropReason::ReplyTooLarge)
}

/// Client side: the whole request packet — `header` (48 bytes, transmit
/// timestamp set) followed by the Unique Identifier, the cookie,
/// `placeholders` placeholders of the cookie's size and an authenticator
/// sealed with C2S under `nonce` (`keys.aead.nonce_len()` bytes).
pub fn client_request(
    header: &[u8; HEADER_LEN],
    unique_id: &[u8],
    cookie: &[u8],
    placeholders: usize,
    keys: &SessionKeys,
    nonce: &[u8],
) -> Result<Vec<u8>, NtsError> {
    if unique_id.len() < MIN_UNIQUE_ID_LEN
        || !unique_id.chunks_exact(4).remainder().is_empty()
        || nonce.len() != keys.aead.nonce_len()
    {
        return Err(NtsError::BadInput);
    }
    let len = HEADER_LEN + field_len(unique_id.len()) + (1 + placeholders) * field_len(cookie.len());
    let mut out = vec![0u8; len];
    out[..HEADER_LEN].copy_from_slice(header);
    let mut at = write_field(&mut out, HEADER_LEN, UNIQUE_IDENTIFIER, unique_id).ok_or(NtsError::BadInput)?;
    at = write_field(&mut out, at, NTS_COOKIE, cookie).ok_or(NtsError::BadInput)?;
    let zeros = vec![0u8; cookie.len()];
    for _ in 0..placeholders {
        at = write_field(&mut out, at, COOKIE_PLACEHOLDER, &zeros).ok_or(NtsError::BadInput)?;
    }
    let ct = keys.aead.seal(&keys.c2s, nonce, &out[..at], &[]).map_err(|_| NtsError::BadInput)?;
    let value = authenticator_value(nonce, &ct).ok_or(NtsError::BadInput)?;
    out.resize(at + field_len(value.len()), 0);
    write_field(&mut out, at, AUTHENTICATOR, &value).ok_or(NtsError::BadInput)?;
    Ok(out)
}

/// Client side: checks a reply to a request sent with `unique_id` and
/// returns the fresh cookies it carries. An NTS NAK with our unique id is
/// [`NtsError::ReceivedNak`].
pub fn client_verify_reply(packet: &[u8], unique_id: &[u8], keys: &SessionKeys) -> Result<Vec<Vec<u8>>, NtsError> {
    let fields: Vec<Located<'_>> = located_fields(packet).ok_or(NtsError::Malformed)?.collect();
    let header = Header::decode(packet).map_err(|_| NtsError::Malformed)?;
    let ours = |v: &[u8]| {
        v.len() >= unique_id.len() && v[..unique_id.len()] == *unique_id && v[unique_id.len()..].iter().all(|b| *b == 0)
    };
    let uid_at = fields.iter().position(|f| f.field_type == UNIQUE_IDENTIFIER).ok_or(NtsError::Malformed)?;
    if !ours(fields[uid_at].value) {
        return Err(NtsError::BadReply);
    }
    if header.stratum == 0 && header.reference_id == NTS_NAK {
        return Err(NtsError::ReceivedNak);
    }
    let auth = match fields.iter().filter(|f| f.field_type == AUTHENTICATOR).collect::<Vec<_>>()[..] {
        [a] if a.offset > fields[uid_at].offset => a,
        _ => return Err(NtsError::Malformed),
    };
    let (nonce, ct) = parse_authenticator(auth.value).ok_or(NtsError::Malformed)?;
    let ad = packet.get(..auth.offset).ok_or(NtsError::Malformed)?;
    let plain = keys.aead.open(&keys.s2c, nonce, ad, ct).map_err(|_| NtsError::BadReply)?;
    let inner = plain_fields(&plain).ok_or(NtsError::BadReply)?;
    Ok(inner.into_iter().filter(|(ty, _)| *ty == NTS_COOKIE).map(|(_, v)| trim_cookie(v, keys.aead)).collect())
}

/// Cookies from this implementation's server have a known length; others
/// keep their (possibly padded) field value.
fn trim_cookie(value: &[u8], aead: AeadAlgorithm) -> Vec<u8> {
    let len = CookieKeys::cookie_len(aead);
    if value.len() >= len && value[len..].iter().all(|b| *b == 0) && value.len() - len < 4 {
        value[..len].to_vec()
    } else {
        value.to_vec()
    }
}

#[cfg(test)]
mod tests;
