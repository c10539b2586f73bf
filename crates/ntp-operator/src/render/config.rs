//! The configuration the pods run: exactly the keys the resource's `spec`
//! sets (as ntp-config reads them), the access rules of its NTPClients, and
//! the pod's layout laid over it — where the NTS certificate, the state
//! directory and the monitoring endpoint are. Authentication keys and the
//! monitoring token leave the file for a Secret (given to the daemon as
//! `SIMPLE_NTPD_*` variables), so no key material is in the ConfigMap.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ntp_config::{ClientGroup, Config, MonitoringConfig, Workload};
use toml::{Table, Value};

use super::RenderError;

/// Where the ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/simple-ntpd";
/// The ConfigMap key (and file) the daemon loads.
pub const CONFIG_FILE: &str = "simple-ntpd.toml";
/// Where the NTS certificate Secret (`tls.crt`, `tls.key`) is mounted.
pub const NTS_DIR: &str = "/etc/simple-ntpd-nts";
/// The state directory (drift file, NTS cookie keys) unless the drift file
/// names another.
pub const STATE_DIR: &str = "/var/lib/simple-ntpd";
/// The variable that carries the authentication keys from the Secret.
pub const KEYS_ENV: &str = "SIMPLE_NTPD_SECURITY_AUTHENTICATION_KEYS";
/// The variable that carries the monitoring token.
pub const TOKEN_ENV: &str = "SIMPLE_NTPD_MONITORING_TOKEN";
/// Secret key of the authentication keys.
pub const KEYS_SECRET_KEY: &str = "authentication-keys";
/// Secret key of the monitoring token.
pub const TOKEN_SECRET_KEY: &str = "monitoring-token";
/// The monitoring endpoint in a pod when the resource leaves it at the
/// daemon's loopback default: every address, so the kubelet can probe it.
pub const POD_MONITORING_LISTEN: &str = "[::]:9559";
/// Who may read metrics and the API when the resource names nobody (as in
/// deploy/kubernetes/config/simple-ntpd.toml): the private networks pod
/// networks are drawn from.
pub const PRIVATE_NETWORKS: [&str; 5] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"];

/// One value of the Secret: its key, the variable it sets, the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValue {
    /// The key in the Secret.
    pub key: &'static str,
    /// The `SIMPLE_NTPD_*` variable it sets in the container.
    pub env: &'static str,
    /// The value.
    pub value: String,
}

/// What the pods run.
#[derive(Debug, Clone)]
pub struct PodConfig {
    /// The ConfigMap's `simple-ntpd.toml`.
    pub toml: String,
    /// The Secret's values.
    pub secrets: Vec<SecretValue>,
    /// The configuration the pods load: the file plus the Secret's variables.
    pub config: Config,
    /// Where the state volume is mounted.
    pub state_dir: PathBuf,
    /// Things the user should know (planned keys, values the operator replaced).
    pub warnings: Vec<String>,
}

fn table_mut<'a>(t: &'a mut Table, path: &str) -> &'a mut Table {
    let mut t = t;
    for key in path.split('.').filter(|k| !k.is_empty()) {
        let entry = t.entry(key.to_owned()).or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        t = match entry {
            Value::Table(next) => next,
            _ => unreachable!("the entry was made a table just above"),
        };
    }
    t
}

fn get<'a>(t: &'a Table, path: &str) -> Option<&'a Value> {
    let mut keys = path.split('.');
    let mut v = t.get(keys.next()?)?;
    for k in keys {
        v = v.as_table()?.get(k)?;
    }
    Some(v)
}

fn set(t: &mut Table, path: &str, value: Value) {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    table_mut(t, parent).insert(key.to_owned(), value);
}

/// Sets `path` to `value` unless the resource set it to something other
/// than one of `defaults` (the daemon's defaults, which the API server may
/// have written in).
fn default_to(t: &mut Table, path: &str, value: &str, defaults: &[&str]) {
    let current = get(t, path).map(|v| v.as_str().map(str::to_owned));
    let unset = match current {
        None => true,
        Some(Some(c)) => defaults.contains(&c.as_str()),
        Some(None) => false,
    };
    if unset {
        set(t, path, Value::String(value.to_owned()));
    }
}

/// Replaces `path` by the pod's `value`, with a warning when the resource
/// had set it to something else.
fn replace(t: &mut Table, path: &str, value: &str, why: &str, warnings: &mut Vec<String>) {
    if let Some(old) = get(t, path).and_then(Value::as_str) {
        if old != value {
            warnings.push(format!("{path} = \"{old}\" is replaced by \"{value}\" ({why})"));
        }
    }
    set(t, path, Value::String(value.to_owned()));
}

fn push(t: &mut Table, path: &str, value: Value) {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let entry = table_mut(t, parent).entry(key.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = entry {
        items.push(value);
    }
}

/// The client groups' networks as access rules and authentication
/// requirements of the service.
fn add_clients(t: &mut Table, clients: &[(String, ClientGroup)]) {
    for (_, group) in clients {
        let permission = match group.permission {
            ntp_config::Permission::Allow => "allow",
            ntp_config::Permission::Deny => "deny",
        };
        for network in &group.networks {
            let mut rule = Table::new();
            rule.insert("network".to_owned(), Value::String(network.to_string()));
            rule.insert("permission".to_owned(), Value::String(permission.to_owned()));
            push(t, "security.access", Value::Table(rule));
            if group.require_authentication {
                push(t, "security.authentication.require_for", Value::String(network.to_string()));
            }
        }
    }
}

/// The messages of a configuration error, without the locations (which
/// refer to a document the user did not write).
pub fn messages(e: &ntp_config::ConfigError) -> String {
    e.issues().iter().map(|i| i.message.clone()).collect::<Vec<_>>().join("; ")
}

/// The pods' configuration for a resource whose spec ntp-config read into
/// `spec` (the keys it sets) and `resource` (the checked configuration).
pub fn pod_config(
    spec: &Table,
    resource: &Config,
    clients: &[(String, ClientGroup)],
) -> Result<PodConfig, RenderError> {
    let mut t = spec.clone();
    let mut warnings = Vec::new();
    t.remove("kubernetes");
    t.remove("enabled");
    add_clients(&mut t, clients);

    if get(&t, "security.authentication.key_file").is_some() {
        return Err(RenderError::Spec(
            "spec.security.authentication.keyFile names a file the pods do not have: list the keys under \
             spec.security.authentication.keys instead (the operator keeps them in a Secret)"
                .to_owned(),
        ));
    }
    let mut secrets = Vec::new();
    if let Some(Value::Array(keys)) = table_mut(&mut t, "security.authentication").remove("keys") {
        if !keys.is_empty() {
            let value = Value::Array(keys).to_string();
            secrets.push(SecretValue { key: KEYS_SECRET_KEY, env: KEYS_ENV, value });
        }
    }
    if let Some(Value::String(token)) = table_mut(&mut t, "monitoring").remove("token") {
        secrets.push(SecretValue { key: TOKEN_SECRET_KEY, env: TOKEN_ENV, value: token });
    }

    let state_dir = resource
        .server
        .driftfile
        .as_deref()
        .and_then(Path::parent)
        .filter(|p| p.is_absolute() && *p != Path::new("/"))
        .map_or_else(|| PathBuf::from(STATE_DIR), Path::to_path_buf);
    if resource.security.nts.enabled {
        let why = "the pods read the certificate from the mounted Secret";
        replace(&mut t, "security.nts.certificate_chain", &format!("{NTS_DIR}/tls.crt"), why, &mut warnings);
        replace(&mut t, "security.nts.private_key", &format!("{NTS_DIR}/tls.key"), why, &mut warnings);
        let keys = state_dir.join("nts-keys");
        let why = "the pods can write only their state volume";
        replace(&mut t, "security.nts.key_directory", &keys.to_string_lossy(), why, &mut warnings);
    }
    let loopback_default = MonitoringConfig::default().listen.to_string();
    default_to(&mut t, "monitoring.listen", POD_MONITORING_LISTEN, &[&loopback_default]);
    let no_allow = get(&t, "monitoring.allow").and_then(Value::as_array).is_none_or(|a| a.is_empty());
    if no_allow && !secrets.iter().any(|s| s.key == TOKEN_SECRET_KEY) {
        let nets = PRIVATE_NETWORKS.iter().map(|n| Value::String((*n).to_owned())).collect();
        set(&mut t, "monitoring.allow", Value::Array(nets));
    }
    match resource.kubernetes.workload {
        Workload::DaemonSet => {
            // The node clock (deploy/kubernetes/overlays/node-clock).
            default_to(&mut t, "clock.discipline", "system", &["auto"]);
            let default_user = ntp_config::SecurityConfig::default().user;
            default_to(&mut t, "security.user", "root", &[&default_user]);
            default_to(&mut t, "server.driftfile", &format!("{STATE_DIR}/drift"), &[]);
        }
        Workload::Deployment => {
            // The serving tier never touches a node's clock.
            default_to(&mut t, "clock.discipline", "virtual", &["auto"]);
        }
    }

    let body = toml::to_string(&t).map_err(|e| RenderError::Spec(format!("cannot write the configuration: {e}")))?;
    let toml =
        format!("# Rendered by simple-ntpd operator from an NTPService: edit the resource, not this file.\n{body}");
    let env: Vec<(String, String)> = secrets.iter().map(|s| (s.env.to_owned(), s.value.clone())).collect();
    let loaded = ntp_config::load_from_strs(&[(CONFIG_FILE.to_owned(), toml.clone())], env, &Default::default())
        .map_err(|e| {
            RenderError::Spec(format!("the configuration the pods would load is invalid: {}", messages(&e)))
        })?;
    warnings.extend(loaded.warnings.iter().map(|w| w.split_once(": ").map_or(w.clone(), |(_, m)| m.to_owned())));
    Ok(PodConfig { toml, secrets, config: loaded.config, state_dir, warnings })
}

/// The monitoring endpoint in the pod, when the kubelet and the operator can
/// reach it (enabled and not on loopback).
pub fn reachable_monitoring(config: &Config) -> Option<SocketAddr> {
    let m = &config.monitoring;
    (m.enabled && !m.listen.ip().is_loopback()).then_some(m.listen)
}
