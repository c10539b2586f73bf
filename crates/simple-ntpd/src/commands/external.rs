//! Subcommands served by a separate program, like git's `git-foo`:
//! `simple-ntpd operator ARGS` runs `simple-ntpd-operator ARGS` and
//! `simple-ntpd crd` runs `simple-ntpd-operator crd`. The Kubernetes operator
//! (kube, k8s-openapi, the CRD generation) would otherwise double the
//! daemon's binary and add to every router's resident memory, operator or
//! not; as its own program it costs nothing where it is not installed.
//!
//! The program is looked up next to this executable first (the container
//! image and `cargo build` put both in one directory), then on `PATH`, and
//! replaces this process, so signals, exit status and output are its own.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The operator's program name.
pub const OPERATOR: &str = "simple-ntpd-operator";

/// Exit status when the program is not installed (as a shell reports it).
const NOT_FOUND: u8 = 127;

/// Where `program` is: beside `current_exe`, else the first match on
/// `path` (a `PATH` value).
pub fn locate(program: &str, current_exe: Option<&Path>, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let beside = current_exe.and_then(Path::parent).map(|dir| dir.join(program));
    let on_path = path.into_iter().flat_map(std::env::split_paths).map(|dir| dir.join(program));
    beside.into_iter().chain(on_path).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Replaces this process with `program ARGS`; returns only on failure.
pub fn run(program: &str, args: Vec<OsString>) -> ExitCode {
    let current_exe = std::env::current_exe().ok();
    let Some(found) = locate(program, current_exe.as_deref(), std::env::var_os("PATH").as_deref()) else {
        let beside = current_exe
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| "this program's directory".to_string(), |d| d.display().to_string());
        eprintln!(
            "error: {program} is not installed (looked in {beside} and on PATH). The Kubernetes operator is a \
             separate program: it is in the container image, or build it with `cargo build --release -p {program}`."
        );
        return ExitCode::from(NOT_FOUND);
    };
    let err = Command::new(&found).args(args).exec();
    eprintln!("error: cannot run {}: {err}", found.display());
    ExitCode::from(NOT_FOUND - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write_program(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn beside_the_executable_wins_over_path() {
        let own = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let exe = write_program(own.path(), "simple-ntpd", 0o755);
        let beside = write_program(own.path(), OPERATOR, 0o755);
        write_program(other.path(), OPERATOR, 0o755);
        let path = std::env::join_paths([other.path()]).unwrap();
        assert_eq!(locate(OPERATOR, Some(&exe), Some(&path)), Some(beside));
    }

    #[test]
    fn falls_back_to_path_and_skips_non_executables() {
        let own = tempfile::tempdir().unwrap();
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let exe = write_program(own.path(), "simple-ntpd", 0o755);
        write_program(own.path(), OPERATOR, 0o644);
        write_program(first.path(), OPERATOR, 0o600);
        let wanted = write_program(second.path(), OPERATOR, 0o755);
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();
        assert_eq!(locate(OPERATOR, Some(&exe), Some(&path)), Some(wanted));
        assert_eq!(locate(OPERATOR, Some(&exe), None), None);
        assert_eq!(locate(OPERATOR, None, None), None);
    }
}
