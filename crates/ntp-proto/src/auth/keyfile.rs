//! The chrony key-file format: `ID TYPE HEX:...|ASCII:...` per line, and the
//! secret encodings it uses.

use core::fmt;

use super::{KeyType, SymmetricKey};

/// A problem in a key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFileError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Decodes a key value as chrony writes it: `HEX:...`, `ASCII:...`, or a
/// bare ASCII string.
pub fn decode_secret(value: &str) -> Result<Vec<u8>, String> {
    if let Some(hex) = value.strip_prefix("HEX:").or_else(|| value.strip_prefix("hex:")) {
        if hex.len() % 2 != 0 || hex.is_empty() {
            return Err("HEX: value must have an even, non-zero number of hex digits".into());
        }
        // By bytes: a character outside ASCII must be an error, not a
        // slice through the middle of it (found by fuzz/keyfile).
        hex.as_bytes()
            .chunks(2)
            .map(|pair| match pair {
                [h, l] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    Ok(((*h as char).to_digit(16).unwrap_or(0) * 16 + (*l as char).to_digit(16).unwrap_or(0)) as u8)
                }
                _ => Err(format!("`{}` is not a hex byte", String::from_utf8_lossy(pair))),
            })
            .collect()
    } else {
        let ascii = value.strip_prefix("ASCII:").or_else(|| value.strip_prefix("ascii:")).unwrap_or(value);
        if ascii.is_empty() {
            return Err("empty key".into());
        }
        Ok(ascii.as_bytes().to_vec())
    }
}

/// Parses a chrony-format key file: one key per line, `ID TYPE VALUE` (or
/// `ID VALUE`, type MD5), `#` comments and blank lines ignored.
pub fn parse_keyfile(text: &str) -> Result<Vec<SymmetricKey>, KeyFileError> {
    let mut keys: Vec<SymmetricKey> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |message: String| KeyFileError { line: i + 1, message };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (id, kind, value) = match fields.as_slice() {
            [id, value] => (*id, KeyType::Md5, *value),
            [id, kind, value] => (
                *id,
                KeyType::parse(kind).ok_or_else(|| {
                    err(format!("unknown key type `{kind}` (use MD5, SHA1, SHA256, SHA384, SHA512, AES128 or AES256)"))
                })?,
                *value,
            ),
            _ => return Err(err("expected `ID TYPE HEX:...|ASCII:...`".into())),
        };
        let id: u32 = id.parse().map_err(|_| err(format!("`{id}` is not a key id (1..4294967295)")))?;
        let secret = decode_secret(value).map_err(err)?;
        let key = SymmetricKey::new(id, kind, secret).map_err(|e| err(e.to_string()))?;
        if keys.iter().any(|k| k.id == id) {
            return Err(err(format!("key id {id} is defined twice")));
        }
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyType;

    #[test]
    fn hex_secrets_outside_ascii_are_errors_not_panics() {
        assert_eq!(decode_secret("HEX:0aFf"), Ok(vec![0x0a, 0xff]));
        assert!(decode_secret("HEX:a\u{e9}0").is_err());
        assert!(decode_secret("HEX:+1").is_err());
        let e = parse_keyfile("1 MD5 HEX:a\u{e9}0\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn keyfile_in_chrony_format() {
        let text = "# comment\n1 SHA256 HEX:00112233445566778899AABBCCDDEEFF\n2 AES128 HEX:000102030405060708090a0b0c0d0e0f\n\n3 MD5 ASCII:secret\n4 plainascii\n";
        let keys = parse_keyfile(text).unwrap();
        assert_eq!(keys.len(), 4);
        assert_eq!(keys[0].kind(), KeyType::Sha256);
        assert_eq!(keys[1].kind(), KeyType::Aes128);
        assert_eq!(keys[3].kind(), KeyType::Md5);
        let e = parse_keyfile("1 AES128 HEX:0011\n").unwrap_err();
        assert!(e.message.contains("16 bytes"), "{e}");
        assert_eq!(parse_keyfile("x\n1 FOO ASCII:a\n").unwrap_err().line, 1);
        assert!(parse_keyfile("1 FOO ASCII:a\n").unwrap_err().message.contains("unknown key type"));
        assert!(parse_keyfile("1 MD5 a\n1 MD5 b\n").unwrap_err().message.contains("twice"));
        assert!(parse_keyfile("0 MD5 a\n").is_err());
        assert!(format!("{:?}", keys[2]).contains("redacted"));
    }
}
