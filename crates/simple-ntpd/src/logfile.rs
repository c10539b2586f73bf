//! Append-only log files that can be reopened in place: the log file, the
//! audit log and the statistics logs. logrotate renames a file and then
//! sends SIGUSR1; the daemon reopens every file at its path, so lines written
//! before the reopen are in the renamed file and lines after it in the new
//! one, and none is lost or split (each line is one locked write).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A shared append-only file, reopened at its path by [`LogFile::reopen`].
#[derive(Clone, Debug)]
pub struct LogFile {
    path: Arc<PathBuf>,
    file: Arc<Mutex<File>>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogFile {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<LogFile> {
        Ok(LogFile { path: Arc::new(path.to_path_buf()), file: Arc::new(Mutex::new(open_append(path)?)) })
    }

    /// The path it was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the path again (a file renamed away is closed once the new one
    /// is open). On failure the current file stays in use.
    pub fn reopen(&self) -> std::io::Result<()> {
        let new = open_append(&self.path)?;
        *self.lock() = new;
        Ok(())
    }

    /// Writes `line` and a newline in one write.
    pub fn write_line(&self, line: &str) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.lock().write_all(&buf)
    }

    /// Writes `lines` together (under one lock, so they stay adjacent).
    pub fn write_lines(&self, lines: &[String]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for l in lines {
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
        }
        self.lock().write_all(&buf)
    }
}

/// The log writer's view: every buffer handed over (one formatted event) is
/// written whole under the lock, so a reopen never splits it.
impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.lock().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_follows_a_rename_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let f = LogFile::open(&path).unwrap();
        f.write_line("one").unwrap();
        std::fs::rename(&path, dir.path().join("x.log.1")).unwrap();
        f.write_line("two").unwrap();
        f.reopen().unwrap();
        f.write_lines(&["three".into(), "four".into()]).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("x.log.1")).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\nfour\n");
    }

    #[test]
    fn a_failed_reopen_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("x.log");
        let f = LogFile::open(&path).unwrap();
        std::fs::rename(&sub, dir.path().join("moved")).unwrap();
        assert!(f.reopen().is_err());
        f.write_line("still here").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("moved/x.log")).unwrap(), "still here\n");
    }
}
