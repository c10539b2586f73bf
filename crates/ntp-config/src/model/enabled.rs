//! Whether a configuration serves at all: the top-level `enabled` key (the
//! NTPService resource's `spec.enabled`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `true` unless the configuration says `enabled = false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Enabled(pub bool);

impl Default for Enabled {
    fn default() -> Self {
        Self(true)
    }
}

impl Enabled {
    /// The switch as a `bool`.
    pub fn get(self) -> bool {
        self.0
    }
}
