//! The log level type: parsed case-insensitively from the names used by the
//! seed configurations (`WARNING` and `CRITICAL` included), written back in
//! canonical upper case.

use std::fmt;
use std::str::FromStr;

use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject};
use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The least severe level that is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// Everything, including per-packet tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operational messages.
    #[default]
    Info,
    /// Problems the daemon works around.
    Warn,
    /// Failures.
    Error,
    /// Nothing at all.
    Off,
}

/// Every accepted spelling (upper case), with the level it means.
const NAMES: &[(&str, LogLevel)] = &[
    ("TRACE", LogLevel::Trace),
    ("DEBUG", LogLevel::Debug),
    ("INFO", LogLevel::Info),
    ("WARN", LogLevel::Warn),
    ("WARNING", LogLevel::Warn),
    ("ERROR", LogLevel::Error),
    ("CRITICAL", LogLevel::Error),
    ("OFF", LogLevel::Off),
];

impl LogLevel {
    /// The canonical upper-case name (`INFO`, `WARN`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Off => "OFF",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        NAMES.iter().find(|(n, _)| *n == upper).map(|(_, l)| *l).ok_or_else(|| {
            format!(
                "unknown log level `{s}`, expected one of TRACE, DEBUG, INFO, WARN (WARNING), ERROR (CRITICAL), OFF"
            )
        })
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LogLevel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a log level name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LogLevel, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl JsonSchema for LogLevel {
    fn schema_name() -> String {
        "LogLevel".to_owned()
    }

    fn is_referenceable() -> bool {
        false
    }

    fn json_schema(_gen: &mut SchemaGenerator) -> Schema {
        Schema::Object(SchemaObject {
            instance_type: Some(InstanceType::String.into()),
            enum_values: Some(NAMES.iter().map(|(n, _)| (*n).into()).collect()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("info".parse::<LogLevel>().unwrap(), LogLevel::Info);
        assert_eq!("Warning".parse::<LogLevel>().unwrap(), LogLevel::Warn);
        assert_eq!("CRITICAL".parse::<LogLevel>().unwrap(), LogLevel::Error);
        assert_eq!("off".parse::<LogLevel>().unwrap(), LogLevel::Off);
        assert!("verbose".parse::<LogLevel>().is_err());
    }
}
