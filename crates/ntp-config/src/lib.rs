//! The configuration model of simple-ntpd.
//!
//! [`load`] reads TOML files (and INI-style files of the early examples),
//! the environment variables (those of the cturra/ntp image, then
//! `SIMPLE_NTPD_*`) and command-line [`Overrides`], in that order, into one
//! validated [`Config`]. Errors name the file, line, column and dotted key
//! path; keys that are accepted but not implemented yet produce warnings.
//! [`reference_markdown`] renders the configuration reference from the same
//! structs.
//!
//! ```
//! let loaded = ntp_config::load_from_strs(
//!     &[("a.toml".to_owned(), "[ntp_server]\nstratum = 3\n".to_owned())],
//!     [("SIMPLE_NTPD_LISTEN_PORT".to_owned(), "1123".to_owned())],
//!     &ntp_config::Overrides::default(),
//! )
//! .unwrap();
//! assert_eq!(loaded.config.ntp_server.stratum, 3);
//! assert_eq!(loaded.config.listen_sockets()[0], "0.0.0.0:1123".parse().unwrap());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod cidr;
mod compat;
mod config;
mod document;
mod env;
mod error;
mod host_port;
mod layer;
mod lenient;
mod level;
mod load;
mod model;
mod overrides;
mod planned;
mod refclocks;
mod reference;
mod resource;
mod schema;
mod source_files;
mod string_value;
mod suggest;
mod upstream;
mod validate;

pub use address::ListenAddress;
pub use cidr::Cidr;
pub use compat::{CompatVariable, VARIABLES as COMPAT_VARIABLES};
pub use config::REDACTED;
pub use env::{
    var_name as env_var_name, CONFIG_VAR as ENV_CONFIG_VAR, PREFIX as ENV_PREFIX, SHORT_FORMS as ENV_SHORT_FORMS,
};
pub use error::{ConfigError, Issue};
pub use host_port::HostPort;
pub use level::LogLevel;
pub use load::{load, load_from_strs, Loaded, Origins};
pub use model::*;
pub use overrides::Overrides;
pub use planned::{planned, PlannedKey, PLANNED};
pub use refclocks::{PpsEdge, RefclockDriver, RefclockSource, BAUD_RATES};
pub use reference::reference_markdown;
pub use resource::{spec_table, API_VERSION, GROUP, KIND, VERSION};
pub use source_files::{parse_source_file, read_directory, DirectorySources, SOURCE_FILE_SUFFIX};
pub use suggest::camel_case;
pub use upstream::Upstream;

/// True while the configuration's key tree is in memory: only during a
/// load (it is freed afterwards; a running daemon does not keep it).
#[doc(hidden)]
pub fn key_tree_in_memory() -> bool {
    schema::is_built()
}

/// The JSON schema of [`Config`] (e.g. for a Kubernetes resource definition).
pub fn json_schema() -> schemars::schema::RootSchema {
    schemars::schema_for!(Config)
}
