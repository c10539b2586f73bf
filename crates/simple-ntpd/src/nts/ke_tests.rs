//! End-to-end tests of the NTS-KE server over loopback TLS: a test CA and
//! server certificate from rcgen, a tokio-rustls client.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ntp_proto::nts::ke::{client_request, decode_message, encode_message, parse_response, ClientKeError, Limits};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::exchange::session_keys;
use super::keystore::CookieKeyStore;
use super::{KeServer, KeSettings, KeStats};

struct Fixture {
    _dir: tempfile::TempDir,
    ca: rustls::pki_types::CertificateDer<'static>,
    store: CookieKeyStore,
    server: KeServer,
    stats: Arc<KeStats>,
}

fn write_certificates(dir: &std::path::Path) -> (rustls::pki_types::CertificateDer<'static>, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    let chain = dir.join("chain.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&chain, format!("{}{}", cert.pem(), ca.pem())).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca.der().clone(), chain, key_path)
}

async fn fixture(max_concurrent: usize, timeout: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (ca, chain, key) = write_certificates(dir.path());
    let store = CookieKeyStore::open(Some(dir.path().join("keys")), Duration::from_secs(3600), 2).unwrap();
    let stats = Arc::new(KeStats::default());
    let settings = KeSettings {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        certificate_chain: chain,
        private_key: key,
        ntp_server: None,
        ntp_port: Some(1123),
        max_concurrent,
        handshake_timeout: timeout,
    };
    let server = KeServer::start(settings, store.cell(), stats.clone()).await.unwrap();
    Fixture { _dir: dir, ca, store, server, stats }
}

fn connector(ca: &rustls::pki_types::CertificateDer<'static>, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

async fn connect(f: &Fixture, alpn: &[&[u8]]) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(f.server.local_addr()).await?;
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    connector(&f.ca, alpn).connect(name, tcp).await
}

async fn read_all(tls: &mut tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    out
}

#[tokio::test]
async fn full_exchange_gives_cookies_that_open() {
    let f = fixture(4, Duration::from_secs(5)).await;
    let mut tls = connect(&f, &[b"ntske/1"]).await.unwrap();
    tls.write_all(&encode_message(&client_request()).unwrap()).await.unwrap();
    let bytes = read_all(&mut tls).await;
    let (records, used) = decode_message(&bytes, Limits::default()).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    let response = parse_response(&records).unwrap();
    assert_eq!(response.cookies.len(), 8);
    assert_eq!(response.port, Some(1123));
    let expected = session_keys(tls.get_ref().1, response.aead).unwrap();
    let keys = f.store.cell().load();
    for cookie in &response.cookies {
        let opened = keys.open(cookie).unwrap();
        assert_eq!(opened, expected);
        // The keys work with the AEAD in both directions.
        let nonce = vec![7u8; response.aead.nonce_len()];
        let sealed = response.aead.seal(&opened.c2s, &nonce, b"ad", b"hello").unwrap();
        assert_eq!(response.aead.open(&expected.c2s, &nonce, b"ad", &sealed).unwrap(), b"hello");
    }
    assert_ne!(response.cookies[0], response.cookies[1], "fresh nonce per cookie");
    f.server.stop().await;
    assert_eq!(f.stats.handshakes.load(Ordering::Relaxed), 1);
    assert_eq!(f.stats.failures.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn wrong_or_missing_alpn_is_rejected() {
    let f = fixture(4, Duration::from_secs(5)).await;
    let wrong = connect(&f, &[b"http/1.1"]).await;
    let wrong_failed = match wrong {
        Err(_) => true,
        Ok(mut tls) => {
            let _ = tls.write_all(&encode_message(&client_request()).unwrap()).await;
            read_all(&mut tls).await.is_empty()
        }
    };
    assert!(wrong_failed);
    // No ALPN at all: TLS completes but the server answers nothing.
    let mut tls = connect(&f, &[]).await.unwrap();
    let _ = tls.write_all(&encode_message(&client_request()).unwrap()).await;
    assert!(read_all(&mut tls).await.is_empty());
    f.server.stop().await;
    assert_eq!(f.stats.handshakes.load(Ordering::Relaxed), 0);
    assert_eq!(f.stats.failures.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn garbage_gets_no_cookies() {
    let f = fixture(4, Duration::from_secs(5)).await;
    let mut tls = connect(&f, &[b"ntske/1"]).await.unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").await.unwrap();
    let bytes = read_all(&mut tls).await;
    if let Ok(Some((records, _))) = decode_message(&bytes, Limits::default()) {
        assert!(matches!(parse_response(&records), Err(ClientKeError::ServerError(_))));
    }
    // Too long a request is refused too.
    let mut tls = connect(&f, &[b"ntske/1"]).await.unwrap();
    // Five unknown non-critical records of 1000 bytes: over 4 KiB.
    let junk = [[1u8, 0, 3, 0xe8].as_slice(), &[0u8; 1000]].concat().repeat(5);
    let _ = tls.write_all(&junk).await;
    let bytes = read_all(&mut tls).await;
    if let Ok(Some((records, _))) = decode_message(&bytes, Limits::default()) {
        assert!(parse_response(&records).is_err());
    }
    f.server.stop().await;
    assert_eq!(f.stats.handshakes.load(Ordering::Relaxed), 0);
    assert_eq!(f.stats.failures.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn silent_client_is_cut_off_and_busy_server_refuses() {
    let f = fixture(1, Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(f.server.local_addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The only slot is taken: the next connection is closed at once.
    let mut second = TcpStream::connect(f.server.local_addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), second.read(&mut buf)).await.unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));
    assert_eq!(f.stats.rejected_busy.load(Ordering::Relaxed), 1);
    // The silent one is dropped after the timeout.
    let started = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut buf)).await.unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(started.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(f.stats.failures.load(Ordering::Relaxed), 1);
    f.server.stop().await;
}

#[tokio::test]
async fn certificates_reload_and_bad_files_keep_old() {
    let f = fixture(4, Duration::from_secs(5)).await;
    f.server.reload_certificates().unwrap();
    std::fs::write(f._dir.path().join("key.pem"), "not a key").unwrap();
    assert!(f.server.reload_certificates().is_err());
    // Still serving with the previous configuration.
    let mut tls = connect(&f, &[b"ntske/1"]).await.unwrap();
    tls.write_all(&encode_message(&client_request()).unwrap()).await.unwrap();
    let bytes = read_all(&mut tls).await;
    let (records, _) = decode_message(&bytes, Limits::default()).unwrap().unwrap();
    assert_eq!(parse_response(&records).unwrap().cookies.len(), 8);
    f.server.stop().await;
}
