//! What the simulated client and servers share when requests are protected
//! (`--auth`): a symmetric key for MAC, or the servers' NTS cookie master
//! key and a session made with it (the key exchange itself is not
//! simulated: a session is handed over at once whenever the association
//! asks for one). The servers answer with the real server decision, so MAC
//! and NTS run through the same code as in the daemon.

use std::net::IpAddr;

use ntp_proto::association::{ClientAuth, CookieJar, JAR_SIZE};
use ntp_proto::auth::{KeyType, SymmetricKey};
use ntp_proto::nts::aead::AeadAlgorithm;
use ntp_proto::nts::cookie::{CookieKeys, SessionKeys};
use ntp_proto::server::{Policy, Verdict};

/// How the client's requests are protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Plain NTP.
    #[default]
    None,
    /// A MAC with a shared symmetric key (AES128-CMAC).
    Mac,
    /// NTS with cookies from the servers' master key.
    Nts,
}

impl AuthMode {
    /// Parses `none`, `mac` or `nts`.
    pub fn parse(s: &str) -> Result<AuthMode, String> {
        match s {
            "none" => Ok(AuthMode::None),
            "mac" => Ok(AuthMode::Mac),
            "nts" => Ok(AuthMode::Nts),
            other => Err(format!("--auth must be none, mac or nts, not {other:?}")),
        }
    }

    /// The name `--auth` takes.
    pub fn name(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Mac => "mac",
            AuthMode::Nts => "nts",
        }
    }
}

/// The shared secrets of one run, and the servers' policy.
#[derive(Debug)]
pub struct Credentials {
    mode: AuthMode,
    key: SymmetricKey,
    cookie_keys: CookieKeys,
    sessions: u8,
}

impl Credentials {
    /// Fixed secrets: runs stay deterministic.
    pub fn new(mode: AuthMode) -> Credentials {
        Credentials {
            mode,
            key: SymmetricKey::new(1, KeyType::Aes128, vec![0x5A; 16]).expect("16 bytes are an AES128 key"),
            cookie_keys: CookieKeys::new(1, [0xC5; 64]),
            sessions: 0,
        }
    }

    /// A client's protection for a new association.
    pub fn client(&mut self) -> ClientAuth {
        match self.mode {
            AuthMode::None => ClientAuth::None,
            AuthMode::Mac => ClientAuth::Mac(self.key.clone()),
            AuthMode::Nts => {
                let (keys, cookies) = self.session();
                ClientAuth::Nts(CookieJar::new(keys, cookies))
            }
        }
    }

    /// A fresh NTS session: what a key exchange would hand out.
    pub fn session(&mut self) -> (SessionKeys, Vec<Vec<u8>>) {
        self.sessions = self.sessions.wrapping_add(1);
        let aead = AeadAlgorithm::AesSivCmac256;
        let n = self.sessions;
        let keys = SessionKeys { aead, c2s: vec![n; aead.key_len()], s2c: vec![!n; aead.key_len()] };
        let cookies = (0..JAR_SIZE as u8).filter_map(|i| self.cookie_keys.seal(&keys, &[n ^ i; 16]).ok()).collect();
        (keys, cookies)
    }
}

/// The servers serve everyone, and know the key and the cookie master key.
impl Policy for Credentials {
    fn max_request_len(&self) -> usize {
        2048
    }
    fn access(&self, _: IpAddr) -> Verdict {
        Verdict::Pass
    }
    fn rate_limit(&mut self, _: IpAddr, _: f64) -> Verdict {
        Verdict::Pass
    }
    fn must_authenticate(&self, _: IpAddr) -> bool {
        self.mode != AuthMode::None
    }
    fn mac_key(&self, key_id: u32) -> Option<&SymmetricKey> {
        (key_id == self.key.id()).then_some(&self.key)
    }
    fn nts_cookie_keys(&self) -> Option<&CookieKeys> {
        Some(&self.cookie_keys)
    }
}
