//! Helpers shared by the integration tests: short calls into the loader.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.
#![allow(dead_code)]

use ntp_config::{load_from_strs, ConfigError, Loaded, Overrides};

/// Loads in-memory files with the given environment and no overrides.
pub fn load(files: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    load_with(files, env, &Overrides::default())
}

/// Loads in-memory files with the given environment and overrides.
pub fn load_with(files: &[(&str, &str)], env: &[(&str, &str)], overrides: &Overrides) -> Result<Loaded, ConfigError> {
    let files: Vec<(String, String)> = files.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    load_from_strs(&files, env, overrides)
}

/// One file, no environment; panics with the error text on failure.
pub fn ok(text: &str) -> Loaded {
    load(&[("x.toml", text)], &[]).unwrap_or_else(|e| panic!("unexpected error:\n{e}"))
}

/// One file, no environment; the error text (panics if it loads).
pub fn err(text: &str) -> String {
    match load(&[("x.toml", text)], &[]) {
        Ok(l) => panic!("expected an error, got {:?}", l.config),
        Err(e) => e.to_string(),
    }
}
