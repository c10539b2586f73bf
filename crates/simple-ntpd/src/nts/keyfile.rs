//! Cookie master-key files on disk: `<dir>/<id>.key` holding the 64-byte key
//! as hex. Files are created atomically and never overwritten: the key is
//! written to a private temporary file (mode 0600) which is then hard-linked
//! to its final name, and linking fails when the name exists. When two
//! instances race for the same id, the first link wins and the loser reads
//! the winner's file, so every instance sharing the directory ends up with
//! the same key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use ntp_proto::nts::cookie::MASTER_KEY_LEN;

/// One master key.
pub type MasterKey = [u8; MASTER_KEY_LEN];

/// Creates `dir` (and parents) with mode 0700 when missing.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating NTS key directory {}", dir.display()))
}

/// The file holding key `id`.
pub fn key_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id}.key"))
}

/// The key id a file name stands for (`<decimal id>.key`), if any.
pub fn parse_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".key")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The ids of all key files in `dir`.
pub fn list_ids(dir: &Path) -> anyhow::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing NTS key directory {}", dir.display()))? {
        let entry = entry?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// A fresh random key.
pub fn random_key() -> anyhow::Result<MasterKey> {
    let mut key = [0u8; MASTER_KEY_LEN];
    crate::random::try_fill(&mut key).map_err(|e| anyhow!("no NTS cookie key: {e}"))?;
    Ok(key)
}

/// Reads key `id` from `dir`: `Ok(None)` when the file does not exist.
pub fn read_key(dir: &Path, id: u32) -> anyhow::Result<Option<MasterKey>> {
    let path = key_path(dir, id);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading NTS key {}", path.display())),
    };
    decode_hex(text.trim()).map(Some).with_context(|| format!("NTS key file {}", path.display()))
}

/// Returns key `id` from `dir`, creating it with a fresh random key when it
/// does not exist yet. Safe against other processes doing the same.
pub fn read_or_create(dir: &Path, id: u32) -> anyhow::Result<MasterKey> {
    if let Some(key) = read_key(dir, id)? {
        return Ok(key);
    }
    let key = random_key()?;
    let mut salt = [0u8; 8];
    crate::random::try_fill(&mut salt)?;
    let tmp = dir.join(format!(".{id}.key.{}.{}.tmp", std::process::id(), encode_hex(&salt)));
    let written = write_private(&tmp, &encode_hex(&key));
    let linked = written.and_then(|()| match fs::hard_link(&tmp, key_path(dir, id)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("publishing NTS key {}", key_path(dir, id).display())),
    });
    let _ = fs::remove_file(&tmp);
    if linked? {
        return Ok(key);
    }
    // Another instance won the race: use its key.
    read_key(dir, id)?.ok_or_else(|| anyhow!("NTS key {id} vanished while being created"))
}

/// Deletes key file `id`, ignoring errors (read-only directories).
pub fn remove_key(dir: &Path, id: u32) {
    let path = key_path(dir, id);
    if let Err(e) = fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::debug!(path = %path.display(), error = %e, "could not delete expired NTS key");
        }
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}

/// Lower-case hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Decodes exactly one key's worth of hex.
pub fn decode_hex(text: &str) -> anyhow::Result<MasterKey> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * MASTER_KEY_LEN {
        bail!("expected {} hex digits, found {} characters", 2 * MASTER_KEY_LEN, bytes.len());
    }
    let digit = |c: u8| -> anyhow::Result<u8> {
        char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok()).ok_or_else(|| anyhow!("not a hex digit"))
    };
    let mut key = [0u8; MASTER_KEY_LEN];
    for (out, pair) in key.iter_mut().zip(bytes.chunks_exact(2)) {
        *out = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let key = random_key().unwrap();
        assert_eq!(decode_hex(&encode_hex(&key)).unwrap(), key);
        assert!(decode_hex("abc").is_err());
        assert!(decode_hex(&"zz".repeat(MASTER_KEY_LEN)).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("123.key"), Some(123));
        assert_eq!(parse_name(".123.key.1.tmp"), None);
        assert_eq!(parse_name("+1.key"), None);
        assert_eq!(parse_name(".key"), None);
        assert_eq!(parse_name("99999999999.key"), None);
    }

    #[test]
    fn create_is_first_writer_wins_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = read_or_create(dir.path(), 7).unwrap();
        let b = read_or_create(dir.path(), 7).unwrap();
        assert_eq!(a, b);
        let mode = fs::metadata(key_path(dir.path(), 7)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(list_ids(dir.path()).unwrap(), vec![7]);
    }
}
