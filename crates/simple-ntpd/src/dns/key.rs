//! TSIG keys in BIND's `tsig-keygen` format:
//!
//! ```text
//! key "ntp-update" {
//!     algorithm hmac-sha256;
//!     secret "base64...";
//! };
//! ```
//!
//! HMAC-SHA256 and HMAC-SHA512 are accepted (RFC 8945 recommends SHA-256).

use std::path::Path;

use base64::Engine as _;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};

/// How far apart the signer's and the server's clocks may be (RFC 8945 recommends 300 s).
const FUDGE_SECONDS: u16 = 300;

/// A key read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigKey {
    /// The key's name (what the server's `key` statement is called).
    pub name: String,
    /// `hmac-sha256` or `hmac-sha512`.
    pub algorithm: String,
    /// The shared secret.
    pub secret: Vec<u8>,
}

impl TsigKey {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> anyhow::Result<TsigKey> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the TSIG key file {}: {e}", path.display()))?;
        parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The signer hickory uses.
    pub fn signer(&self) -> anyhow::Result<TSigner> {
        let name = Name::from_ascii(&self.name).map_err(|e| anyhow::anyhow!("bad key name `{}`: {e}", self.name))?;
        let algorithm = match self.algorithm.as_str() {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => anyhow::bail!("TSIG algorithm `{other}` is not accepted (hmac-sha256 or hmac-sha512)"),
        };
        TSigner::new(self.secret.clone(), algorithm, name, FUDGE_SECONDS)
            .map_err(|e| anyhow::anyhow!("cannot use the TSIG key: {e}"))
    }
}

/// Parses the text of a key file (the first `key` statement).
pub fn parse(text: &str) -> Result<TsigKey, String> {
    // Comments: `#`, `//` to the end of the line.
    let clean: String = text
        .lines()
        .map(|l| {
            let l = l.split('#').next().unwrap_or("");
            l.split("//").next().unwrap_or("")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let rest = clean.trim_start();
    let rest = rest.strip_prefix("key").ok_or("expected `key \"NAME\" { ... };`")?;
    let (name, rest) = quoted(rest.trim_start()).ok_or("expected the key's name in quotes after `key`")?;
    let body = rest.trim_start().strip_prefix('{').ok_or("expected `{` after the key's name")?;
    let body = &body[..body.find('}').ok_or("missing `}`")?];
    let (mut algorithm, mut secret) = (None, None);
    for statement in body.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (word, value) = statement.split_once(char::is_whitespace).ok_or(format!("`{statement}` has no value"))?;
        let value = value.trim();
        let value = quoted(value).map_or(value, |(v, _)| v);
        match word {
            "algorithm" => algorithm = Some(value.to_ascii_lowercase()),
            "secret" => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .map_err(|e| format!("the secret is not base64: {e}"))?;
                secret = Some(bytes);
            }
            other => return Err(format!("unknown statement `{other}` in the key")),
        }
    }
    let algorithm = algorithm.ok_or("the key has no `algorithm`")?;
    if !matches!(algorithm.as_str(), "hmac-sha256" | "hmac-sha512") {
        return Err(format!("TSIG algorithm `{algorithm}` is not accepted (hmac-sha256 or hmac-sha512)"));
    }
    let secret = secret.ok_or("the key has no `secret`")?;
    if secret.is_empty() {
        return Err("the secret is empty".to_owned());
    }
    Ok(TsigKey { name: name.to_owned(), algorithm, secret })
}

/// `"text" rest` → (`text`, `rest`).
fn quoted(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('"')?;
    let end = s.find('"')?;
    Some((&s[..end], &s[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_tsig_keygen_writes() {
        let text = "key \"ntp-update\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\";\n};\n";
        let k = parse(text).unwrap();
        assert_eq!(k.name, "ntp-update");
        assert_eq!(k.algorithm, "hmac-sha256");
        assert_eq!(k.secret, b"secretsecretsecretsecretsecret12");
        assert!(k.signer().is_ok());
        let upper = text.replace("hmac-sha256", "HMAC-SHA512");
        assert_eq!(parse(&upper).unwrap().algorithm, "hmac-sha512");
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for (text, why) in [
            ("", "expected `key"),
            ("key ntp { algorithm hmac-sha256; secret \"AA==\"; };", "name in quotes"),
            ("key \"k\" { algorithm hmac-md5; secret \"AA==\"; };", "hmac-md5"),
            ("key \"k\" { algorithm hmac-sha256; };", "no `secret`"),
            ("key \"k\" { algorithm hmac-sha256; secret \"!!\"; };", "not base64"),
            ("key \"k\" { algorithm hmac-sha256; secret \"AA==\"; owner x; };", "unknown statement"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
