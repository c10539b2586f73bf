//! Loading: reads the files, checks each layer (file, environment, command
//! line) on its own so errors carry their file and line, merges the layers
//! in order and checks the merged result.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::compat::compat_layer;
use crate::document::file_layer;
use crate::env::env_layer;
use crate::error::{ConfigError, Issue};
use crate::layer::{is_within, parent, Layer, Origin};
use crate::model::Config;
use crate::overrides::{overrides_layer, Overrides};
use crate::planned;
use crate::validate::{self, describe_serde_error, Problem, Scope};

/// A loaded configuration and the warnings met on the way (INI-style values,
/// planned keys that have no effect yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The merged, validated configuration.
    pub config: Config,
    /// One line each, `LOCATION: text`, in the order met.
    pub warnings: Vec<String>,
    /// Things worth a debug log line only (e.g. the Kubernetes service-link
    /// variables that were skipped), `LOCATION: text`.
    pub notes: Vec<String>,
    /// Where each key path that was set came from (`file:line:column`, an
    /// environment variable, a command-line option).
    origins: Origins,
}

impl Loaded {
    /// Where `path` (a dotted key path such as `security.nts.enabled`), or
    /// the nearest table above it, was set; `None` when only defaults apply.
    pub fn location(&self, path: &str) -> Option<&str> {
        self.origins.location(path)
    }

    /// Where each key was set, to be kept apart from the configuration (to
    /// locate an error found later without holding a second copy of it).
    pub fn origins(&self) -> &Origins {
        &self.origins
    }
}

/// Where each key path of a loaded configuration was set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Origins(BTreeMap<String, String>);

impl Origins {
    /// Where `path` (a dotted key path such as `security.nts.enabled`), or
    /// the nearest table above it, was set; `None` when only defaults apply.
    pub fn location(&self, path: &str) -> Option<&str> {
        let mut p = path;
        loop {
            if let Some(o) = self.0.get(p) {
                return Some(o);
            }
            p = parent(p)?;
        }
    }
}

/// Loads `files` in order (later files override earlier ones; tables merge
/// key by key, arrays are replaced whole), then the variables of the
/// cturra/ntp image in `env` (`NTP_SERVERS`, ...), then its `SIMPLE_NTPD_*`
/// variables, then `overrides`.
pub fn load(
    files: &[PathBuf],
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Loaded, ConfigError> {
    let mut texts = Vec::with_capacity(files.len());
    let mut issues = Vec::new();
    for path in files {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => texts.push((name, text)),
            Err(e) => issues.push(Issue::new(Some(name), None, format!("cannot read configuration file: {e}"))),
        }
    }
    if !issues.is_empty() {
        return Err(ConfigError::new(issues));
    }
    load_from_strs(&texts, env, overrides)
}

/// Like [`load`], from in-memory `(name, text)` pairs; `name` is used in
/// messages as the file name.
pub fn load_from_strs(
    files: &[(String, String)],
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Loaded, ConfigError> {
    // Every step below reads the key tree: one tree for the whole load, freed
    // when it returns (see `schema::root`).
    let _schema = crate::schema::root();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut issues = Vec::new();
    let mut layers = Vec::new();
    for (name, text) in files {
        match file_layer(name, text, &mut warnings) {
            Ok(layer) => layers.push(layer),
            Err(e) => issues.extend(e),
        }
    }
    // The cturra/ntp image's variables first, so `SIMPLE_NTPD_*` wins.
    let env: Vec<(String, String)> = env.into_iter().collect();
    match compat_layer(&env, &mut warnings) {
        Ok(layer) => layers.push(layer),
        Err(e) => issues.extend(e),
    }
    match env_layer(env, &mut notes) {
        Ok(layer) => layers.push(layer),
        Err(e) => issues.extend(e),
    }
    layers.push(overrides_layer(overrides));
    if !issues.is_empty() {
        return Err(ConfigError::new(issues));
    }

    for layer in &mut layers {
        if let Err(e) = typed(layer, Scope::Values) {
            issues.extend(e);
            continue;
        }
        if let Err(e) = fold_server_stratum(layer) {
            issues.push(e);
        }
    }
    if !issues.is_empty() {
        return Err(ConfigError::new(issues));
    }

    warnings.extend(planned::warnings(&layers));
    warnings.extend(operator_only(&layers));
    let mut merged = Layer::default();
    for layer in layers {
        merged.merge(layer);
    }
    let config = typed(&merged, Scope::All).map_err(ConfigError::new)?;
    warnings.extend(crate::refclocks::warnings(&config));
    if config.monitoring.token.is_some() && !config.monitoring.allow.is_empty() {
        let at =
            merged.locate("monitoring.allow").map(Origin::at_line).unwrap_or_else(|| "monitoring.allow".to_owned());
        warnings.push(format!(
            "{at}: monitoring.allow has no effect while monitoring.token is set: the token admits its holder from any address and nothing but /healthz and /readyz is served without it"
        ));
    }
    let origins = Origins(merged.origins.iter().map(|(p, o)| (p.clone(), o.at_value())).collect());
    Ok(Loaded { config, warnings, notes, origins })
}

/// `kubernetes.*` set anywhere but in an NTPService resource (a YAML file)
/// has no effect on the daemon: one warning at the first place.
fn operator_only(layers: &[Layer]) -> Option<String> {
    let first = layers
        .iter()
        .filter(|layer| !layer.resource)
        .find_map(|layer| layer.set.iter().find(|(path, _)| is_within(path, "kubernetes")))?;
    Some(format!(
        "{}: {} is read by `simple-ntpd operator` only (an NTPService's spec.kubernetes); the daemon ignores it",
        first.1.at_line(),
        first.0
    ))
}

/// Deserializes a layer on its own (unset keys at their defaults) and checks
/// it, locating every problem through the layer's origins.
fn typed(layer: &Layer, scope: Scope) -> Result<Config, Vec<Issue>> {
    let value = toml::Value::Table(layer.table.clone());
    let config: Config = match serde_path_to_error::deserialize(value) {
        Ok(c) => c,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let message = describe_serde_error(&path, e.inner().message());
            let location = layer.locate(&path).map(Origin::at_value);
            return Err(vec![Issue::new(location, (!path.is_empty()).then_some(path.as_str()), message)]);
        }
    };
    let problems = validate::problems(&config, scope);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems.into_iter().map(|p| locate(layer, p)).collect())
    }
}

fn locate(layer: &Layer, p: Problem) -> Issue {
    let exact = p.paths.iter().find_map(|path| layer.origins.get(path));
    let origin = exact.or_else(|| p.paths.first().and_then(|path| layer.locate(path)));
    Issue::new(origin.map(Origin::at_value), p.paths.first().map(String::as_str), p.message)
}

/// `server.stratum` is the seed 002 spelling of `ntp_server.stratum`: within
/// one layer it moves there, and the two may not disagree.
fn fold_server_stratum(layer: &mut Layer) -> Result<(), Issue> {
    let Some(value) = layer.get("server.stratum").cloned() else {
        return Ok(());
    };
    let origin = layer.locate("server.stratum").cloned().unwrap_or_else(|| Origin::cli("(unknown)"));
    if let Some(existing) = layer.get("ntp_server.stratum") {
        if *existing != value {
            let other = layer
                .origins
                .get("ntp_server.stratum")
                .map(|o| format!(" (set at {})", o.at_value()))
                .unwrap_or_default();
            return Err(Issue::new(
                Some(origin.at_value()),
                Some("server.stratum"),
                format!(
                    "server.stratum = {value} conflicts with ntp_server.stratum = {existing}{other}; they are two spellings of one setting, set only one"
                ),
            ));
        }
        layer.remove("server.stratum");
        return Ok(());
    }
    layer.remove("server.stratum");
    layer.insert("ntp_server.stratum", value, origin);
    Ok(())
}
