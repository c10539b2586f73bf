//! A private temporary directory (mode 0700) removed on drop.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// A directory under the system temp dir, `0700`, deleted recursively on drop.
/// Set `NTPD_TEST_KEEP_TMP=1` to keep it for post-mortem inspection.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create `$TMPDIR/ntp-test-<prefix>-<pid>-<random>`.
    pub fn new(prefix: &str) -> Result<TempDir, String> {
        let base = std::env::temp_dir();
        for _ in 0..16 {
            let name = format!("ntp-test-{prefix}-{}-{:08x}", std::process::id(), crate::random::random_u64() as u32);
            let path = base.join(name);
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create temp dir {}: {e}", path.display())),
            }
        }
        Err(format!("cannot create a unique temp dir under {}", base.display()))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path().join(name)`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Create a private (`0700`) subdirectory and return its path.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, String> {
        let p = self.path.join(name);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&p)
            .map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        Ok(p)
    }

    /// Write a file inside the directory and return its path.
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf, String> {
        let p = self.path.join(name);
        std::fs::write(&p, contents).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var("NTPD_TEST_KEEP_TMP").is_ok_and(|v| v == "1") {
            eprintln!("keeping {}", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
