//! The NTS cookie master keys: which exist, rotation, and publishing the
//! current set to the NTP workers.
//!
//! Time is cut into periods of `rotation`; period `p = unix_time /
//! rotation_secs` has key id `p as u32`. The keys of periods
//! `current - keep ..= current` are loaded so cookies made under recent keys
//! still open; the next period's key is created a little ahead of its
//! boundary (loaded for opening only) so that every instance already holds
//! it when it starts sealing. Cookies are sealed with the highest id not
//! newer than the current period. Older key files are deleted (best effort).
//!
//! With a key directory, keys persist across restarts as
//! `<dir>/<id>.key` (see [`super::keyfile`]): created atomically, first
//! writer wins, mode 0600, directory 0700. Several instances behind a load
//! balancer must share one key directory so a cookie issued by one opens in
//! any other: a shared writable volume. A Kubernetes Secret mounted into the
//! pod is NOT enough, since Secrets are mounted read-only and new keys could
//! not be written; alternatively pre-provision the key files from a Secret
//! (named `<period>.key`) and set a rotation long enough that no new key is
//! needed. Without a directory keys live in memory only: restarts invalidate
//! all cookies and instances do not agree.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use arc_swap::ArcSwap;
use ntp_proto::nts::cookie::CookieKeys;

use super::keyfile::{self, MasterKey};

/// How long before a period boundary the next key is created, at most.
const MAX_LEAD: Duration = Duration::from_secs(300);

/// The current cookie keys, read by NTP workers per packet (arc-swap; cheap).
#[derive(Clone)]
pub struct CookieKeyCell(Arc<ArcSwap<CookieKeys>>);

impl CookieKeyCell {
    /// A cell holding `keys` (tests and fixed setups).
    pub fn new(keys: CookieKeys) -> CookieKeyCell {
        CookieKeyCell(Arc::new(ArcSwap::from_pointee(keys)))
    }

    /// The keys now.
    pub fn load(&self) -> arc_swap::Guard<Arc<CookieKeys>> {
        self.0.load()
    }

    fn store(&self, keys: CookieKeys) {
        self.0.store(Arc::new(keys));
    }
}

impl std::fmt::Debug for CookieKeyCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CookieKeyCell").field(&**self.load()).finish()
    }
}

/// Owns the master keys and their rotation; see the module doc.
pub struct CookieKeyStore {
    dir: Option<PathBuf>,
    rotation_secs: u64,
    keep: usize,
    keys: BTreeMap<u32, MasterKey>,
    sealing: u32,
    cell: CookieKeyCell,
}

impl CookieKeyStore {
    /// dir: where master keys persist (None = in memory only, warn);
    /// rotation: how often a new key starts; keep: old keys kept.
    pub fn open(dir: Option<PathBuf>, rotation: Duration, keep: usize) -> anyhow::Result<CookieKeyStore> {
        CookieKeyStore::open_at(dir, rotation, keep, SystemTime::now())
    }

    /// [`CookieKeyStore::open`] as if the time were `now`.
    pub fn open_at(
        dir: Option<PathBuf>,
        rotation: Duration,
        keep: usize,
        now: SystemTime,
    ) -> anyhow::Result<CookieKeyStore> {
        let rotation_secs = rotation.as_secs();
        if rotation_secs == 0 {
            bail!("NTS key rotation must be at least one second");
        }
        match &dir {
            Some(d) => keyfile::ensure_dir(d)?,
            None => tracing::warn!(
                "no NTS key directory configured: cookie keys live in memory only, restarts invalidate cookies"
            ),
        }
        let placeholder = CookieKeys::new(0, [0; ntp_proto::nts::cookie::MASTER_KEY_LEN]);
        let mut store = CookieKeyStore {
            dir,
            rotation_secs,
            keep,
            keys: BTreeMap::new(),
            sealing: 0,
            cell: CookieKeyCell::new(placeholder),
        };
        store.maintain_at(now)?;
        Ok(store)
    }

    /// A handle on the published keys.
    pub fn cell(&self) -> CookieKeyCell {
        self.cell.clone()
    }

    /// The loaded key ids, ascending.
    pub fn ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// The id that seals new cookies.
    pub fn sealing_id(&self) -> u32 {
        self.sealing
    }

    /// Call every ~60 s: creates the key for the current period if missing,
    /// reloads keys other instances wrote, drops expired ones, publishes.
    /// Returns true when the set changed.
    pub fn maintain(&mut self) -> anyhow::Result<bool> {
        self.maintain_at(SystemTime::now())
    }

    /// [`CookieKeyStore::maintain`] as if the time were `now`.
    pub fn maintain_at(&mut self, now: SystemTime) -> anyhow::Result<bool> {
        let unix = now.duration_since(UNIX_EPOCH).map_err(|_| anyhow!("system clock before 1970"))?.as_secs();
        let period = unix / self.rotation_secs;
        let current = u32::try_from(period).map_err(|_| anyhow!("NTS key period {period} out of range"))?;
        let oldest = current.saturating_sub(u32::try_from(self.keep).unwrap_or(u32::MAX));
        let lead = MAX_LEAD.as_secs().min(self.rotation_secs / 4);
        let next_due = (period + 1) * self.rotation_secs - unix <= lead;
        let newest = if next_due { current.saturating_add(1) } else { current };

        let keys = match &self.dir {
            Some(dir) => load_dir(dir, oldest, current, newest)?,
            None => self.in_memory(oldest, current, newest)?,
        };
        let sealing = keys.range(..=current).next_back().or_else(|| keys.iter().next_back()).map(|(id, _)| *id);
        let Some(sealing) = sealing else { bail!("no NTS cookie key available") };
        let changed = keys != self.keys || sealing != self.sealing;
        if changed {
            let mut set: Option<CookieKeys> = None;
            for (id, key) in keys.iter().filter(|(id, _)| **id != sealing) {
                match &mut set {
                    Some(s) => s.rotate(*id, *key),
                    None => set = Some(CookieKeys::new(*id, *key)),
                }
            }
            let key = *keys.get(&sealing).ok_or_else(|| anyhow!("NTS cookie key {sealing} missing"))?;
            let set = match set {
                Some(mut s) => {
                    s.rotate(sealing, key);
                    s
                }
                None => CookieKeys::new(sealing, key),
            };
            tracing::info!(sealing, ids = ?set.ids(), "NTS cookie keys updated");
            self.cell.store(set);
            self.keys = keys;
            self.sealing = sealing;
        }
        Ok(changed)
    }

    fn in_memory(&self, oldest: u32, current: u32, newest: u32) -> anyhow::Result<BTreeMap<u32, MasterKey>> {
        let mut keys: BTreeMap<u32, MasterKey> = self.keys.range(oldest..=newest).map(|(k, v)| (*k, *v)).collect();
        for id in current..=newest {
            if let std::collections::btree_map::Entry::Vacant(slot) = keys.entry(id) {
                slot.insert(keyfile::random_key()?);
            }
        }
        Ok(keys)
    }
}

/// Creates the keys due in `dir`, loads those in the window, deletes older ones.
fn load_dir(dir: &std::path::Path, oldest: u32, current: u32, newest: u32) -> anyhow::Result<BTreeMap<u32, MasterKey>> {
    let mut keys = BTreeMap::new();
    for id in current..=newest {
        match keyfile::read_or_create(dir, id) {
            Ok(key) => {
                keys.insert(id, key);
            }
            // A read-only (pre-provisioned) directory: carry on with what is
            // there. Not a warning every minute: a directory that cannot be
            // listed fails below, and the daemon reports that once
            // (`status::problems`).
            Err(e) => tracing::debug!(id, error = format!("{e:#}"), "could not create NTS cookie key"),
        }
    }
    for id in keyfile::list_ids(dir)? {
        if id < oldest {
            keyfile::remove_key(dir, id);
        } else if id <= newest && !keys.contains_key(&id) {
            match keyfile::read_key(dir, id) {
                Ok(Some(key)) => {
                    keys.insert(id, key);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(id, error = format!("{e:#}"), "ignoring unreadable NTS cookie key"),
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntp_proto::nts::aead::AeadAlgorithm;
    use ntp_proto::nts::cookie::SessionKeys;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn session() -> SessionKeys {
        let aead = AeadAlgorithm::AesSivCmac256;
        SessionKeys { aead, c2s: vec![1; aead.key_len()], s2c: vec![2; aead.key_len()] }
    }

    #[test]
    fn creates_persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let t = 1_000 * 3600 + 10;
        let store = CookieKeyStore::open_at(Some(dir.path().into()), HOUR, 2, at(t)).unwrap();
        assert_eq!(store.ids(), vec![1000]);
        assert_eq!(store.sealing_id(), 1000);
        let cookie = store.cell().load().seal(&session(), &[9; 16]).unwrap();
        drop(store);
        // A restart reads the same key back.
        let again = CookieKeyStore::open_at(Some(dir.path().into()), HOUR, 2, at(t + 60)).unwrap();
        assert_eq!(again.cell().load().open(&cookie).unwrap(), session());
    }

    #[test]
    fn rotates_ahead_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let base = 1_000 * 3600;
        let mut store = CookieKeyStore::open_at(Some(dir.path().into()), HOUR, 1, at(base)).unwrap();
        let old_cookie = store.cell().load().seal(&session(), &[1; 16]).unwrap();
        assert!(!store.maintain_at(at(base + 60)).unwrap());
        // Shortly before the boundary the next key exists but does not seal yet.
        assert!(store.maintain_at(at(base + 3600 - 100)).unwrap());
        assert_eq!(store.ids(), vec![1000, 1001]);
        assert_eq!(store.sealing_id(), 1000);
        assert_eq!(store.cell().load().current_id(), 1000);
        // After it, the new key seals and the old still opens.
        assert!(store.maintain_at(at(base + 3600 + 1)).unwrap());
        assert_eq!(store.sealing_id(), 1001);
        assert_eq!(store.cell().load().current_id(), 1001);
        assert!(store.cell().load().open(&old_cookie).is_ok());
        // Two periods on, 1000 is past keep = 1: dropped and deleted.
        assert!(store.maintain_at(at(base + 2 * 3600 + 1)).unwrap());
        assert_eq!(store.ids(), vec![1001, 1002]);
        assert!(store.cell().load().open(&old_cookie).is_err());
        assert!(!keyfile::key_path(dir.path(), 1000).exists());
    }

    #[test]
    fn two_instances_share_keys() {
        let dir = tempfile::tempdir().unwrap();
        let base = 2_000 * 3600 + 5;
        let mut a = CookieKeyStore::open_at(Some(dir.path().into()), HOUR, 2, at(base)).unwrap();
        let mut b = CookieKeyStore::open_at(Some(dir.path().into()), HOUR, 2, at(base)).unwrap();
        assert_eq!(a.ids(), b.ids());
        let cookie = a.cell().load().seal(&session(), &[3; 16]).unwrap();
        assert_eq!(b.cell().load().open(&cookie).unwrap(), session());
        // b rotates first; a picks up b's key instead of making its own.
        b.maintain_at(at(base + 3600)).unwrap();
        a.maintain_at(at(base + 3600)).unwrap();
        assert_eq!(a.ids(), b.ids());
        let cookie = b.cell().load().seal(&session(), &[4; 16]).unwrap();
        assert_eq!(a.cell().load().open(&cookie).unwrap(), session());
        let cookie = a.cell().load().seal(&session(), &[5; 16]).unwrap();
        assert_eq!(b.cell().load().open(&cookie).unwrap(), session());
    }

    #[test]
    fn directory_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("a/keys");
        CookieKeyStore::open_at(Some(keys.clone()), HOUR, 1, at(3600 * 5)).unwrap();
        assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(keyfile::key_path(&keys, 5).exists());
    }

    #[test]
    fn in_memory_rotates() {
        let mut store = CookieKeyStore::open_at(None, HOUR, 1, at(3600 * 7)).unwrap();
        let cookie = store.cell().load().seal(&session(), &[1; 16]).unwrap();
        assert!(store.maintain_at(at(3600 * 8)).unwrap());
        assert_eq!(store.ids(), vec![7, 8]);
        assert!(store.cell().load().open(&cookie).is_ok());
        assert!(CookieKeyStore::open_at(None, Duration::ZERO, 1, at(1)).is_err());
    }
}
