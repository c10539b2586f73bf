//! Checks of a deserialized [`Config`] that its types cannot express:
//! numeric ranges (read from the schema), non-empty strings, uniqueness, and
//! relations between keys. (Addresses, host names and networks are typed
//! and parsed while deserializing.) Each problem names its key path; the loader adds the file
//! and line.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::{Config, LogOutput};
use crate::schema::{self, Kind, LeafType, Node};

/// One problem, with the key paths it concerns (the first is the main one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub paths: Vec<String>,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: impl Into<String>, message: String) -> Self {
        Self { paths: vec![path.into()], message }
    }
}

/// Which checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Checks of single values only (for one file or the environment, whose
    /// other keys are still at their defaults).
    Values,
    /// Also relations between keys (for the merged result).
    All,
}

pub(crate) fn problems(config: &Config, scope: Scope) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(config) {
        ranges(&v, &schema::root(), "", &mut out);
    }
    values(config, &mut out);
    if scope == Scope::All {
        relations(config, &mut out);
    }
    out
}

/// Integer and number ranges declared in the schema.
fn ranges(v: &Value, node: &Node, path: &str, out: &mut Vec<Problem>) {
    match &node.kind {
        Kind::Table(fields) => {
            for (name, child) in fields {
                if let Some(cv) = v.get(name) {
                    let p = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                    ranges(cv, child, &p, out);
                }
            }
        }
        Kind::TableArray(elem) => {
            for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                ranges(item, elem, &format!("{path}[{i}]"), out);
            }
        }
        Kind::Leaf(leaf) if matches!(leaf.ty, LeafType::Integer | LeafType::Number) => {
            let Some(n) = v.as_f64() else { return };
            let below = leaf.min.is_some_and(|m| n < m);
            let above = leaf.max.is_some_and(|m| n > m);
            if below || above {
                let range = schema::range_text(leaf.min, leaf.max).unwrap_or_default();
                out.push(Problem::new(path, format!("{path} must be {range}, got {v}")));
            }
        }
        Kind::Leaf(_) => {}
    }
}

fn finite(out: &mut Vec<Problem>, path: &str, v: f64) {
    if !v.is_finite() {
        out.push(Problem::new(path, format!("{path} must be a finite number, got {v}")));
    }
}

/// Syntax of single values.
fn values(c: &Config, out: &mut Vec<Problem>) {
    if c.network.listen_address.is_empty() {
        out.push(Problem::new(
            "network.listen_address",
            "network.listen_address must list at least one address".to_owned(),
        ));
    }
    if c.logging.output == LogOutput::File && c.logging.file.as_os_str().is_empty() {
        out.push(Problem::new(
            "logging.file",
            "logging.file must name a file when logging.output = \"file\"".to_owned(),
        ));
    }
    let sec = &c.security;
    for (i, k) in sec.authentication.keys.iter().enumerate() {
        if k.key_type.trim().is_empty() {
            out.push(Problem::new(
                format!("security.authentication.keys[{i}].type"),
                format!("security.authentication.keys[{i}].type must name a MAC algorithm (e.g. \"SHA256\")"),
            ));
        }
        if k.value.is_empty() {
            out.push(Problem::new(
                format!("security.authentication.keys[{i}].value"),
                format!("security.authentication.keys[{i}].value must not be empty"),
            ));
        }
    }
    if sec.user.trim().is_empty() {
        out.push(Problem::new(
            "security.user",
            "security.user must name a user (or `root` to keep privileges)".to_owned(),
        ));
    }
    if c.monitoring.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        out.push(Problem::new("monitoring.token", "monitoring.token must not be empty when set".to_owned()));
    }
    finite(out, "monitoring.jitter_warning_threshold", c.monitoring.jitter_warning_threshold);
    finite(out, "monitoring.frequency_warning_threshold", c.monitoring.frequency_warning_threshold);
    finite(out, "monitoring.offset.warning_threshold", c.monitoring.offset.warning_threshold);
    finite(out, "monitoring.offset.critical_threshold", c.monitoring.offset.critical_threshold);
    finite(out, "server.makestep.threshold", c.server.makestep.threshold);
    for (i, s) in c.sources.servers.iter().enumerate() {
        if s.minpoll > s.maxpoll {
            out.push(Problem::new(
                format!("sources.servers[{i}].minpoll"),
                format!("sources.servers[{i}].minpoll ({}) must not be larger than maxpoll ({})", s.minpoll, s.maxpoll),
            ));
        }
    }
    crate::refclocks::values(c, out);
    crate::model::kubernetes_problems(&c.kubernetes, out);
    let mut ids = BTreeSet::new();
    for (i, k) in sec.authentication.keys.iter().enumerate() {
        if !ids.insert(k.id) {
            out.push(Problem::new(
                format!("security.authentication.keys[{i}].id"),
                format!("security.authentication.keys[{i}].id: key id {} is used more than once", k.id),
            ));
        }
    }
    let mut vlans = BTreeSet::new();
    let mut interfaces = BTreeSet::new();
    for (i, v) in c.vlan_config.iter().enumerate() {
        let path = format!("vlan_config[{i}].vlan_ref");
        if v.vlan_ref.trim().is_empty() {
            out.push(Problem::new(path.clone(), format!("{path} must name a VLAN")));
        } else if !vlans.insert(v.vlan_ref.as_str()) {
            out.push(Problem::new(path.clone(), format!("{path}: VLAN `{}` is listed more than once", v.vlan_ref)));
        } else if !valid_interface_name(v.interface_name()) {
            let path = if v.interface.is_some() { format!("vlan_config[{i}].interface") } else { path };
            out.push(Problem::new(
                path.clone(),
                format!("{path}: `{}` is not a network interface name (1 to 15 characters, no `/`, `:` or spaces); set vlan_config[{i}].interface to the interface that carries the VLAN", v.interface_name()),
            ));
        } else if !interfaces.insert(v.interface_name()) {
            out.push(Problem::new(
                path.clone(),
                format!("{path}: interface `{}` has more than one vlan_config entry", v.interface_name()),
            ));
        }
        if v.broadcast_key.is_some() && !v.broadcast {
            out.push(Problem::new(
                format!("vlan_config[{i}].broadcast_key"),
                format!("vlan_config[{i}].broadcast_key is set but vlan_config[{i}].broadcast is false: nothing is broadcast"),
            ));
        }
    }
    let mut listened = BTreeSet::new();
    for (i, b) in c.sources.broadcast.iter().enumerate() {
        let path = format!("sources.broadcast[{i}].interface");
        if !valid_interface_name(&b.interface) {
            out.push(Problem::new(path.clone(), format!("{path}: `{}` is not a network interface name", b.interface)));
        } else if !listened.insert(b.interface.as_str()) {
            out.push(Problem::new(
                path.clone(),
                format!("{path}: interface `{}` is listed more than once", b.interface),
            ));
        }
    }
}

/// What Linux accepts as an interface name (IFNAMSIZ - 1 bytes, no `/`,
/// `:` or white space).
fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

/// Relations between keys that may come from different files.
fn relations(c: &Config, out: &mut Vec<Problem>) {
    if let Some(s) = c.server.stratum {
        if s != c.ntp_server.stratum {
            out.push(Problem {
                paths: vec!["server.stratum".to_owned(), "ntp_server.stratum".to_owned()],
                message: format!(
                    "server.stratum = {s} conflicts with ntp_server.stratum = {}; they are two spellings of one setting, set only one",
                    c.ntp_server.stratum
                ),
            });
        }
    }
    crate::refclocks::relations(c, out);
    crate::model::dns_relations(&c.dns, out);
    if c.server.leapfile.is_some() && c.server.leapsectz.is_some() {
        out.push(Problem {
            paths: vec!["server.leapsectz".to_owned(), "server.leapfile".to_owned()],
            message: "server.leapfile and server.leapsectz both name leap second tables: set only one".to_owned(),
        });
    }
    for (i, b) in c.sources.broadcast.iter().enumerate() {
        if let Some(v) = c.vlan_config.iter().find(|v| v.clients_only && v.interface_name() == b.interface) {
            out.push(Problem {
                paths: vec![format!("sources.broadcast[{i}].interface")],
                message: format!(
                    "sources.broadcast[{i}].interface = \"{}\" is the clients-only VLAN `{}` (vlan_config clients_only = true): no broadcast client listens there",
                    b.interface, v.vlan_ref
                ),
            });
        }
    }
    let m = &c.monitoring;
    if m.enabled && m.allow.is_empty() && m.token.is_none() && !m.listen.ip().is_loopback() {
        out.push(Problem {
            paths: vec!["monitoring.listen".to_owned()],
            message: format!(
                "monitoring.listen = \"{}\" is not a loopback address: set monitoring.allow (networks that may connect) or monitoring.token (a bearer token that admits its holder from anywhere), or listen on 127.0.0.1; otherwise only /healthz and /readyz would be reachable from other hosts",
                m.listen
            ),
        });
    }
    let o = &c.monitoring.offset;
    if o.warning_threshold > o.critical_threshold {
        out.push(Problem {
            paths: vec![
                "monitoring.offset.critical_threshold".to_owned(),
                "monitoring.offset.warning_threshold".to_owned(),
            ],
            message: format!(
                "monitoring.offset.critical_threshold ({}) must be at least monitoring.offset.warning_threshold ({})",
                o.critical_threshold, o.warning_threshold
            ),
        });
    }
}

/// Rewrites serde's `expected u16` and the like into the accepted values of
/// the key, e.g. `expected an integer 0..=65535`, and prefixes the path.
pub(crate) fn describe_serde_error(path: &str, message: &str) -> String {
    let mut msg = message.to_owned();
    if message.starts_with("invalid type:") || message.starts_with("invalid value:") {
        let root = schema::root();
        if let (Some(node), Some(i)) = (schema::node_at(&root, path), message.find(", expected ")) {
            msg = format!("{}, expected {}", &message[..i], node.expected());
        }
    }
    if path.is_empty() || path == "." {
        msg
    } else {
        format!("{path}: {msg}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_come_from_the_schema() {
        let mut c = Config::default();
        c.ntp_server.stratum = 99;
        c.performance.max_packet_size = 10;
        let p = problems(&c, Scope::Values);
        let msgs: Vec<&str> = p.iter().map(|p| p.message.as_str()).collect();
        assert!(msgs.contains(&"ntp_server.stratum must be 1..=15, got 99"), "{msgs:?}");
        assert!(msgs.contains(&"performance.max_packet_size must be 48..=65507, got 10"), "{msgs:?}");
    }

    #[test]
    fn one_leap_second_table_at_most() {
        let mut c = Config::default();
        c.server.leapfile = Some("/usr/share/zoneinfo/leap-seconds.list".into());
        assert_eq!(problems(&c, Scope::All), vec![]);
        c.server.leapsectz = Some("right/UTC".into());
        let p = problems(&c, Scope::All);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].paths[0], "server.leapsectz");
        c.server.leap_smear.duration = 10;
        assert!(problems(&c, Scope::Values).iter().any(|p| p.message.contains("server.leap_smear.duration")));
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(problems(&Config::default(), Scope::All), vec![]);
    }

    #[test]
    fn serde_messages_name_the_accepted_values() {
        assert_eq!(
            describe_serde_error("network.listen_port", "invalid type: string \"abc\", expected u16"),
            "network.listen_port: invalid type: string \"abc\", expected an integer 0..=65535"
        );
        assert_eq!(describe_serde_error("a.b", "missing field `x`"), "a.b: missing field `x`");
    }
}
