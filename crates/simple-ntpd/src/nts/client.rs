//! The NTS client's key exchange (RFC 8915 §4) for an upstream source with
//! `nts = true`: TLS 1.3 with ALPN `ntske/1`, the server certificate checked
//! against `ca` or the system roots, and the session keys and cookies that
//! the source's association (`ntp_proto::association`) then spends. The
//! association asks for a new exchange when its cookies run out or the
//! server sends an NTS NAK.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use ntp_proto::nts::cookie::SessionKeys;
use ntp_proto::nts::ke::{client_request, decode_message, encode_message, parse_response, Limits};
use ntp_proto::nts::{exporter_context, KeyDirection, ALPN_NTSKE, EXPORTER_LABEL};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one key exchange gives a source.
pub struct NtsSession {
    /// Negotiated AEAD and keys.
    pub keys: SessionKeys,
    /// The cookies, oldest first.
    pub cookies: Vec<Vec<u8>>,
    /// Where to send NTP.
    pub ntp_addr: SocketAddr,
}

fn roots(ca: Option<&Path>) -> anyhow::Result<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("cannot read CA file {}", path.display()))?;
            let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<_, _>>()
                .with_context(|| format!("CA file {} is not PEM", path.display()))?;
            if certs.is_empty() {
                bail!("CA file {} holds no certificate", path.display());
            }
            for c in certs {
                store.add(c).with_context(|| format!("bad CA certificate in {}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = store.add(c);
            }
            if store.is_empty() {
                bail!("no system CA certificates found; set `ca` for this NTS source");
            }
        }
    }
    Ok(store)
}

/// Runs one NTS-KE exchange with `host:port` and returns the session.
pub async fn key_exchange(host: &str, port: u16, ca: Option<&Path>, timeout: Duration) -> anyhow::Result<NtsSession> {
    tokio::time::timeout(timeout, exchange(host, port, ca))
        .await
        .map_err(|_| anyhow!("NTS-KE with {host}:{port} timed out"))?
}

async fn exchange(host: &str, port: u16, ca: Option<&Path>) -> anyhow::Result<NtsSession> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_NTSKE.to_vec()];
    let name = ServerName::try_from(host.to_owned()).map_err(|_| anyhow!("`{host}` is not a valid server name"))?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to NTS-KE server {host}:{port}"))?;
    let peer = tcp.peer_addr()?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS with NTS-KE server {host}:{port} failed (certificate or protocol)"))?;
    let request = encode_message(&client_request()).map_err(|e| anyhow!("{e:?}"))?;
    tls.write_all(&request).await?;
    tls.flush().await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let records = loop {
        if let Some((records, _)) =
            decode_message(&buf, Limits::default()).map_err(|e| anyhow!("bad NTS-KE response: {e:?}"))?
        {
            break records;
        }
        let n = tls.read(&mut chunk).await?;
        if n == 0 {
            bail!("NTS-KE server {host}:{port} closed before End of Message");
        }
        if buf.len() + n > 64 * 1024 {
            bail!("NTS-KE response from {host}:{port} is too long");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let response = parse_response(&records).map_err(|e| anyhow!("NTS-KE server {host}:{port} refused: {e:?}"))?;
    let aead = response.aead;
    let (_, conn) = tls.get_ref();
    let export = |direction: KeyDirection| -> anyhow::Result<Vec<u8>> {
        let context = exporter_context(aead, direction);
        conn.export_keying_material(vec![0u8; aead.key_len()], EXPORTER_LABEL, Some(&context))
            .map_err(|e| anyhow!("TLS exporter: {e}"))
    };
    let keys =
        SessionKeys { aead, c2s: export(KeyDirection::ClientToServer)?, s2c: export(KeyDirection::ServerToClient)? };
    let ntp_port = response.port.unwrap_or(123);
    let ntp_addr = match &response.server {
        Some(server) => tokio::net::lookup_host((server.as_str(), ntp_port))
            .await?
            .next()
            .ok_or_else(|| anyhow!("NTP server {server} from NTS-KE does not resolve"))?,
        None => SocketAddr::new(peer.ip(), ntp_port),
    };
    if response.cookies.is_empty() {
        bail!("NTS-KE server {host}:{port} sent no cookies");
    }
    let _ = tls.shutdown().await;
    Ok(NtsSession { keys, cookies: response.cookies, ntp_addr })
}
