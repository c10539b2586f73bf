//! Loading symmetric keys: a chrony-format key file
//! (`[security.authentication] key_file`) and inline keys
//! (`[[security.authentication.keys]]`, seed 002). A key file readable by
//! group or others is warned about.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ntp_config::AuthenticationConfig;
use ntp_proto::auth::{decode_secret, parse_keyfile, KeyType, SymmetricKey};

/// Keys by id.
pub type SymmetricKeys = HashMap<u32, SymmetricKey>;

/// Reads the key file (if any) and the inline keys; inline keys win over a
/// file key with the same id. Returns the keys and warnings.
pub fn load(cfg: &AuthenticationConfig) -> Result<(SymmetricKeys, Vec<String>), String> {
    let mut keys = SymmetricKeys::new();
    let mut warnings = Vec::new();
    if let Some(path) = &cfg.key_file {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
        if let Some(w) = loose_permissions(path) {
            warnings.push(w);
        }
        for k in parse_keyfile(&text).map_err(|e| format!("key file {}: {e}", path.display()))? {
            keys.insert(k.id(), k);
        }
    }
    for (i, k) in cfg.keys.iter().enumerate() {
        let kind = KeyType::parse(&k.key_type)
            .ok_or_else(|| format!("security.authentication.keys[{i}].type: unknown key type `{}`", k.key_type))?;
        let secret = decode_secret(&k.value).map_err(|e| format!("security.authentication.keys[{i}].value: {e}"))?;
        let key =
            SymmetricKey::new(k.id, kind, secret).map_err(|e| format!("security.authentication.keys[{i}]: {e}"))?;
        keys.insert(k.id, key);
    }
    Ok((keys, warnings))
}

fn loose_permissions(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "key file {} is readable by group or others (mode {:o}); restrict it with chmod 600 (owner: the daemon's user)",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntp_config::AuthKey;

    #[test]
    fn file_and_inline_keys_with_permission_warning() {
        let dir = std::env::temp_dir().join(format!("keys-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("keys");
        std::fs::write(&file, "1 SHA256 HEX:00112233\n2 AES128 HEX:000102030405060708090a0b0c0d0e0f\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let cfg = AuthenticationConfig {
            enabled: true,
            key_file: Some(file.clone()),
            keys: vec![AuthKey { id: 3, key_type: "MD5".into(), value: "ASCII:abc".into() }],
            require_for: vec![],
        };
        let (keys, warnings) = load(&cfg).unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&cfg).unwrap().1.is_empty());
        let bad =
            AuthenticationConfig { keys: vec![AuthKey { id: 4, key_type: "ROT13".into(), value: "x".into() }], ..cfg };
        assert!(load(&bad).unwrap_err().contains("ROT13"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
