//! The NTS-KE TLS configuration: TLS 1.3 only, ALPN `ntske/1`, the server's
//! certificate chain and private key (PKCS#8, PKCS#1 RSA or SEC1 EC) from
//! PEM files, on the ring crypto provider.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use ntp_proto::nts::ALPN_NTSKE;
use rustls::ServerConfig;

/// Builds the server configuration from the PEM files.
pub fn server_config(certificate_chain: &Path, private_key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = read_chain(certificate_chain)?;
    let key = read_key(private_key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 with the ring provider")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!("NTS-KE certificate {} and key {}", certificate_chain.display(), private_key.display())
        })?;
    config.alpn_protocols = vec![ALPN_NTSKE.to_vec()];
    // One exchange per connection: no session resumption state to keep.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

fn open(path: &Path) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?))
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let chain = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    if chain.is_empty() {
        return Err(anyhow!("no PEM certificate in {}", path.display()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> anyhow::Result<rustls::pki_types::PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut open(path)?)
        .with_context(|| format!("reading private key from {}", path.display()))?
        .ok_or_else(|| anyhow!("no PEM private key in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(server_config(&dir.path().join("nope"), &empty).is_err());
        assert!(server_config(&empty, &empty).is_err());
    }
}
