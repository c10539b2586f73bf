//! One NTS-KE exchange on an established TLS connection (RFC 8915 §4): read
//! the client's request records within fixed limits, answer with
//! [`server_response`], whose cookies carry keys exported from this TLS
//! session (§5.1) sealed under the current master key, then close with
//! close_notify.

use ntp_proto::nts::aead::AeadAlgorithm;
use ntp_proto::nts::cookie::{CookieKeys, SessionKeys, COOKIE_NONCE_LEN};
use ntp_proto::nts::ke::{
    encode_message, server_response, Decoded, Limits, Record, RecordBody, RecordDecoder, ServerOptions,
    ERROR_BAD_REQUEST, ERROR_INTERNAL,
};
use ntp_proto::nts::{exporter_context, KeyDirection, EXPORTER_LABEL};
use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::server::TlsStream;

use super::keystore::CookieKeyCell;

/// Limits on one request: bodies, records, and bytes in all.
pub const REQUEST_LIMITS: Limits = Limits { max_body_len: 1024, max_records: 32 };
/// Most bytes a request may take.
pub const MAX_REQUEST_BYTES: usize = 4096;

/// How an exchange ended when the connection itself worked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Cookies were sent.
    Cookies,
    /// An answer without cookies (error, nothing in common).
    Refused,
}

/// Runs the exchange on `tls`; errors are I/O or TLS failures.
pub async fn exchange<S>(
    tls: &mut TlsStream<S>,
    keys: &CookieKeyCell,
    options: &ServerOptions,
) -> anyhow::Result<Outcome>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let response = match read_request(tls).await? {
        Ok(request) => respond(tls.get_ref().1, &request, keys, options),
        Err(e) => {
            tracing::debug!(error = %e, "bad NTS-KE request");
            vec![Record::error(ERROR_BAD_REQUEST), Record::end_of_message()]
        }
    };
    let outcome = if response.iter().any(|r| matches!(r.body, RecordBody::NewCookie(_))) {
        Outcome::Cookies
    } else {
        Outcome::Refused
    };
    let bytes = encode_message(&response)?;
    tls.write_all(&bytes).await?;
    tls.shutdown().await?;
    Ok(outcome)
}

/// Reads one request: the outer error is I/O, the inner a bad request.
async fn read_request<S>(tls: &mut TlsStream<S>) -> anyhow::Result<Result<Vec<Record>, String>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut decoder = RecordDecoder::new(REQUEST_LIMITS);
    let mut records = Vec::new();
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let mut total = 0;
    loop {
        let mut at = 0;
        while !decoder.is_done() {
            match decoder.decode(buf.get(at..).unwrap_or_default()) {
                Ok(Decoded::NeedMore) => break,
                Ok(Decoded::Record { record, consumed }) => {
                    at += consumed;
                    records.push(record);
                }
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
        buf.drain(..at.min(buf.len()));
        if decoder.is_done() {
            return Ok(Ok(records));
        }
        let room = MAX_REQUEST_BYTES.saturating_sub(total).min(chunk.len());
        if room == 0 {
            return Ok(Err(format!("request longer than {MAX_REQUEST_BYTES} bytes")));
        }
        let n = tls.read(&mut chunk[..room]).await?;
        if n == 0 {
            anyhow::bail!("connection closed before End of Message");
        }
        total += n;
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The response records; an internal error when keys cannot be made.
fn respond(conn: &ServerConnection, request: &[Record], keys: &CookieKeyCell, options: &ServerOptions) -> Vec<Record> {
    let sealer = keys.load();
    let mut session: Option<SessionKeys> = None;
    let mut failure: Option<String> = None;
    let response = server_response(request, options, |aead| match make_cookie(conn, &sealer, aead, &mut session) {
        Ok(cookie) => cookie,
        Err(e) => {
            failure.get_or_insert(e);
            Vec::new()
        }
    });
    match failure {
        Some(e) => {
            tracing::warn!(error = %e, "could not make NTS cookies");
            vec![Record::error(ERROR_INTERNAL), Record::end_of_message()]
        }
        None => response,
    }
}

fn make_cookie(
    conn: &ServerConnection,
    sealer: &CookieKeys,
    aead: AeadAlgorithm,
    session: &mut Option<SessionKeys>,
) -> Result<Vec<u8>, String> {
    let keys = match session {
        Some(k) if k.aead == aead => k,
        _ => session.insert(session_keys(conn, aead).map_err(|e| format!("TLS exporter: {e}"))?),
    };
    let nonce: [u8; COOKIE_NONCE_LEN] = crate::random::bytes();
    sealer.seal(keys, &nonce).map_err(|e| e.to_string())
}

/// The C2S and S2C keys for `aead` exported from the TLS session (§5.1).
pub fn session_keys<D>(conn: &rustls::ConnectionCommon<D>, aead: AeadAlgorithm) -> Result<SessionKeys, rustls::Error> {
    let export = |direction| {
        conn.export_keying_material(vec![0u8; aead.key_len()], EXPORTER_LABEL, Some(&exporter_context(aead, direction)))
    };
    Ok(SessionKeys { aead, c2s: export(KeyDirection::ClientToServer)?, s2c: export(KeyDirection::ServerToClient)? })
}
