//! The error type of loading: a list of problems, each printed on its own
//! line as `LOCATION: message`, where the location is `file:line:column`, an
//! environment variable or a command-line option.

use std::fmt;

/// One problem found while loading or validating the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Where the offending value came from: `file:line:column`,
    /// `environment SIMPLE_NTPD_...` or `command line --...`; `None` when it
    /// cannot be told (e.g. [`crate::Config::validate`] on a hand-built value).
    pub location: Option<String>,
    /// The dotted key path concerned (`network.listen_port`,
    /// `sources.servers[0].minpoll`), when there is one.
    pub key: Option<String>,
    /// What is wrong; it names the key path itself.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why the configuration could not be loaded: one or more [`Issue`]s, one per
/// line of the `Display` output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.issues))]
pub struct ConfigError {
    issues: Vec<Issue>,
}

fn render(issues: &[Issue]) -> String {
    issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl ConfigError {
    pub(crate) fn new(issues: Vec<Issue>) -> Self {
        debug_assert!(!issues.is_empty());
        Self { issues }
    }

    /// The individual problems, in the order they were found.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }
}

impl Issue {
    pub(crate) fn new(location: Option<String>, key: Option<&str>, message: String) -> Self {
        Self { location, key: key.map(str::to_owned), message }
    }
}
