//! Whether real peers are required (CI) or may be skipped (a developer machine).

use std::path::PathBuf;

/// Environment variable that makes a missing peer a test failure instead of a skip.
pub const REQUIRE_PEERS_ENV: &str = "NTPD_TEST_REQUIRE_PEERS";

/// True when `NTPD_TEST_REQUIRE_PEERS=1` (CI sets it): missing peers must fail tests.
pub fn peers_required() -> bool {
    std::env::var(REQUIRE_PEERS_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Decide what a test does when a peer binary may be missing.
///
/// - `Ok(Some(path))`: the peer is there, go on.
/// - `Ok(None)`: the peer is missing and peers are not required: a `SKIP:` line was
///   printed and the test should return early (successfully).
/// - `Err(..)`: the peer is missing and [`peers_required`] is true: the test must fail.
///
/// ```ignore
/// let Some(chronyd) = peer_or_skip("chronyd", chronyd_path())? else { return Ok(()) };
/// ```
pub fn peer_or_skip(name: &str, path: Option<PathBuf>) -> Result<Option<PathBuf>, String> {
    match path {
        Some(p) => Ok(Some(p)),
        None if peers_required() => {
            Err(format!("{name} not installed but {REQUIRE_PEERS_ENV}=1 (run scripts/install-test-deps.sh)"))
        }
        None => {
            println!("SKIP: {name} not installed (run scripts/install-test-deps.sh)");
            Ok(None)
        }
    }
}

/// First executable named `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

/// A regular file with an execute bit.
pub(crate) fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// An executable from an environment override (when set and executable), else `fallbacks`
/// in order, else `name` on `PATH`.
pub(crate) fn locate(env: &str, fallbacks: &[&str], name: &str) -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(env) {
        let p = PathBuf::from(v);
        return is_executable(&p).then_some(p);
    }
    fallbacks.iter().map(PathBuf::from).find(|p| is_executable(p)).or_else(|| which(name))
}
