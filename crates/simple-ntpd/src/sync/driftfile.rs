//! The drift file (seed 002 `server.driftfile`): the clock's frequency
//! correction in ppm and its uncertainty, as chrony writes it
//! (`-12.345 0.678`), read at start so a restart does not have to learn it
//! again, and written atomically (temporary file, fsync, rename).

use std::io::Write;
use std::path::Path;

use crate::status::problems::{Problem, Problems};

/// Reads `(frequency_ppm, sd_ppm)`; None when missing or unreadable.
pub fn read(path: &Path) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    let freq = it.next()?.ok()?;
    let sd = it.next().and_then(Result::ok).unwrap_or(1.0);
    (freq.is_finite() && freq.abs() <= 500.0 && sd.is_finite()).then_some((freq, sd.abs()))
}

/// Writes the file, reporting a failure (and the recovery after one) once
/// through `problems`.
pub fn save(path: &Path, frequency_ppm: f64, sd_ppm: f64, problems: &Problems) {
    match write(path, frequency_ppm, sd_ppm) {
        Ok(()) => problems.succeeded(Problem::DriftFile),
        Err(e) => _ = problems.failed(Problem::DriftFile, &format!("{}: {e}", path.display())),
    }
}

/// Writes atomically: a reader sees the old or the new file, never a torn one.
pub fn write(path: &Path, frequency_ppm: f64, sd_ppm: f64) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "drift".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{frequency_ppm:.6} {sd_ppm:.6}")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files() {
        let dir = std::env::temp_dir().join(format!("drift-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("drift");
        assert_eq!(read(&p), None);
        write(&p, -12.5, 0.25).unwrap();
        assert_eq!(read(&p), Some((-12.5, 0.25)));
        std::fs::write(&p, "garbage").unwrap();
        assert_eq!(read(&p), None);
        std::fs::write(&p, "9999 1").unwrap();
        assert_eq!(read(&p), None, "beyond any real oscillator");
        std::fs::write(&p, "3.5\n").unwrap();
        assert_eq!(read(&p), Some((3.5, 1.0)), "chrony files may have one field");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
