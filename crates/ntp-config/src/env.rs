//! Environment variables: `SIMPLE_NTPD_<SECTION>_<KEY>` for every key of the
//! key tree (nested tables joined by `_`), the short seed 000 forms such as
//! `SIMPLE_NTPD_STRATUM`, and the conversion of their text to TOML values.

use std::collections::BTreeMap;

use crate::error::Issue;
use crate::layer::{Layer, Origin};
use crate::schema::{self, Kind, LeafType, Node};
use crate::suggest;

/// Every variable this crate reads starts with this.
pub const PREFIX: &str = "SIMPLE_NTPD_";

/// Reserved for the daemon (its list of configuration files); ignored here.
pub const CONFIG_VAR: &str = "SIMPLE_NTPD_CONFIG";

/// Reserved for the deployment files (the image of deploy/docker/compose.yaml
/// and deploy/swarm/stack.yaml), so a shell that sets it can still run
/// simple-ntpd; ignored here.
pub const IMAGE_VAR: &str = "SIMPLE_NTPD_IMAGE";

/// Short names from seed 000 and the original simple-ntpd, with the key each
/// one sets.
pub const SHORT_FORMS: &[(&str, &str)] = &[
    ("SIMPLE_NTPD_STRATUM", "ntp_server.stratum"),
    ("SIMPLE_NTPD_UPSTREAM_SERVERS", "ntp_server.upstream_servers"),
    ("SIMPLE_NTPD_LISTEN_ADDRESS", "network.listen_address"),
    ("SIMPLE_NTPD_LISTEN_PORT", "network.listen_port"),
    ("SIMPLE_NTPD_WORKER_THREADS", "performance.worker_threads"),
    ("SIMPLE_NTPD_MAX_PACKET_SIZE", "performance.max_packet_size"),
    ("SIMPLE_NTPD_LOG_LEVEL", "logging.level"),
    ("SIMPLE_NTPD_LOG_FORMAT", "logging.log_format"),
    ("SIMPLE_NTPD_LOG_OUTPUT", "logging.output"),
    ("SIMPLE_NTPD_LOG_FILE", "logging.file"),
    ("SIMPLE_NTPD_ENABLE_AUTHENTICATION", "security.enable_authentication"),
    ("SIMPLE_NTPD_ENABLE_RATE_LIMITING", "security.enable_rate_limiting"),
    ("SIMPLE_NTPD_MAX_QUERIES_PER_MINUTE", "security.max_queries_per_minute"),
];

/// The long variable name of a key path: `ntp_server.stratum` ->
/// `SIMPLE_NTPD_NTP_SERVER_STRATUM`.
pub fn var_name(path: &str) -> String {
    format!("{PREFIX}{}", path.replace('.', "_").to_ascii_uppercase())
}

/// Every key that can be set from the environment (values and whole arrays
/// of tables outside arrays), by long variable name.
pub(crate) fn long_names() -> BTreeMap<String, String> {
    schema::all_nodes(&schema::root())
        .into_iter()
        .filter(|(_, node, in_array)| !in_array && !matches!(node.kind, Kind::Table(_)))
        .map(|(path, _, _)| (var_name(&path), path))
        .collect()
}

/// The short variable names of a key path.
pub(crate) fn short_names(path: &str) -> impl Iterator<Item = &'static str> + '_ {
    SHORT_FORMS.iter().filter(move |(_, p)| *p == path).map(|(v, _)| *v)
}

/// Builds the environment layer from `SIMPLE_NTPD_*` variables. Kubernetes
/// service-link variables that are no key (see [`is_service_link`]) are
/// skipped with a line in `notes`.
pub(crate) fn env_layer(
    vars: impl IntoIterator<Item = (String, String)>,
    notes: &mut Vec<String>,
) -> Result<Layer, Vec<Issue>> {
    let long = long_names();
    let mut issues = Vec::new();
    // path -> (variable, raw value), sorted by variable for determinism.
    let mut chosen: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut vars: Vec<(String, String)> =
        vars.into_iter().filter(|(k, _)| k.starts_with(PREFIX) && k != CONFIG_VAR && k != IMAGE_VAR).collect();
    vars.sort();
    for (var, raw) in vars {
        let path = long
            .get(&var)
            .cloned()
            .or_else(|| SHORT_FORMS.iter().find(|(v, _)| *v == var).map(|(_, p)| (*p).to_owned()));
        let Some(path) = path else {
            if is_service_link(&var, &raw) {
                notes.push(format!(
                    "environment {var}: ignored, a variable Kubernetes sets for a Service named like the daemon (service links), not a setting"
                ));
            } else {
                issues.push(unknown(&var, &long));
            }
            continue;
        };
        match chosen.get(&path) {
            Some((other, other_raw)) if *other_raw != raw => issues.push(Issue::new(
                Some(format!("environment {var}")),
                Some(&path),
                format!("{path} is also set by {other} to a different value; set only one of them"),
            )),
            Some(_) => {}
            None => {
                chosen.insert(path, (var, raw));
            }
        }
    }
    let mut layer = Layer::default();
    let root = schema::root();
    for (path, (var, raw)) in chosen {
        let Some(node) = schema::node_at(&root, &path) else {
            continue;
        };
        layer.insert(&path, convert(&raw, node), Origin::env(&var));
    }
    if issues.is_empty() {
        Ok(layer)
    } else {
        Err(issues)
    }
}

/// Whether `var=value` is one of the variables Kubernetes puts into every
/// pod for each Service of the namespace whose name starts with
/// `simple-ntpd` (`simple-ntpd` gives `SIMPLE_NTPD_SERVICE_HOST`, ...), with
/// a value of the shape Kubernetes writes — so a misspelt setting that
/// happens to end in `_PORT` is still refused:
///
/// | variable | value |
/// |---|---|
/// | `<NAME>_SERVICE_HOST` | an IP address |
/// | `<NAME>_SERVICE_PORT`, `<NAME>_SERVICE_PORT_<PORT NAME>` | a port number |
/// | `<NAME>_PORT` | `udp://10.0.0.1:123` |
/// | `<NAME>_PORT_<N>_<PROTO>` | `udp://10.0.0.1:<N>` |
/// | `<NAME>_PORT_<N>_<PROTO>_PROTO` / `_PORT` / `_ADDR` | `udp` / `<N>` / an IP address |
///
/// Only names that are no configuration key get here: a real key such as
/// `SIMPLE_NTPD_LISTEN_PORT` is always read as that key.
pub fn is_service_link(var: &str, value: &str) -> bool {
    fn is_name(s: &str) -> bool {
        s == "SIMPLE_NTPD" || s.strip_prefix(PREFIX).is_some_and(|r| !r.is_empty() && !r.contains("__"))
    }
    fn is_ip(v: &str) -> bool {
        v.parse::<std::net::IpAddr>().is_ok()
    }
    fn is_port(v: &str) -> bool {
        v.parse::<u16>().is_ok_and(|p| p > 0)
    }
    fn is_proto(p: &str) -> bool {
        matches!(p, "TCP" | "UDP" | "SCTP")
    }
    /// `udp://10.0.0.1:123` (`[fd00::1]:123` for IPv6), optionally of one protocol and port.
    fn is_url(v: &str, proto: Option<&str>, port: Option<&str>) -> bool {
        let Some((scheme, addr)) = v.split_once("://") else {
            return false;
        };
        let Ok(sock) = addr.parse::<std::net::SocketAddr>() else {
            return false;
        };
        is_proto(&scheme.to_ascii_uppercase())
            && proto.map_or(true, |p| p.eq_ignore_ascii_case(scheme))
            && port.map_or(true, |p| p == sock.port().to_string())
    }
    if let Some(name) = var.strip_suffix("_SERVICE_HOST") {
        return is_name(name) && is_ip(value);
    }
    if let Some(name) = var.strip_suffix("_SERVICE_PORT") {
        return is_name(name) && is_port(value);
    }
    if let Some((name, port_name)) = var.rsplit_once("_SERVICE_PORT_") {
        return is_name(name) && !port_name.is_empty() && is_port(value);
    }
    if let Some(name) = var.strip_suffix("_PORT") {
        if is_name(name) && is_url(value, None, None) {
            return true;
        }
    }
    // <NAME>_PORT_<N>_<PROTO>[_PROTO|_PORT|_ADDR]
    let parts: Vec<&str> = var.split('_').collect();
    for i in 0..parts.len() {
        if parts[i] != "PORT" || i + 2 >= parts.len() || !is_port(parts[i + 1]) || !is_proto(parts[i + 2]) {
            continue;
        }
        let name = parts[..i].join("_");
        if !is_name(&name) {
            continue;
        }
        let (n, proto) = (parts[i + 1], parts[i + 2]);
        let ok = match &parts[i + 3..] {
            [] => is_url(value, Some(proto), Some(n)),
            ["PROTO"] => value.eq_ignore_ascii_case(proto),
            ["PORT"] => value == n,
            ["ADDR"] => is_ip(value),
            _ => false,
        };
        if ok {
            return true;
        }
    }
    false
}

fn unknown(var: &str, long: &BTreeMap<String, String>) -> Issue {
    let strip = |v: &'static str| v.strip_prefix(PREFIX).unwrap_or(v);
    let suffix = var.strip_prefix(PREFIX).unwrap_or(var);
    let tables: Vec<(String, String)> = schema::all_nodes(&schema::root())
        .into_iter()
        .filter(|(_, n, in_array)| !in_array && matches!(n.kind, Kind::Table(_)))
        .map(|(p, _, _)| (var_name(&p), p))
        .collect();
    let message = if let Some((_, table)) = tables.iter().find(|(v, _)| v == var) {
        let example = long
            .iter()
            .find(|(_, p)| p.starts_with(&format!("{table}.")))
            .map(|(v, _)| format!(", e.g. `{v}`"))
            .unwrap_or_default();
        format!("names the table [{table}], not a key; set its keys one by one{example}")
    } else {
        let candidates: Vec<&str> = long
            .keys()
            .map(|v| v.strip_prefix(PREFIX).unwrap_or(v))
            .chain(SHORT_FORMS.iter().map(|(v, _)| strip(v)))
            .chain(std::iter::once(strip(CONFIG_VAR)))
            .collect();
        match suggest::did_you_mean(suffix, candidates) {
            Some(s) => format!("unknown simple-ntpd setting (did you mean `{PREFIX}{s}`?)"),
            None => "unknown simple-ntpd setting; see docs/configuration.md for the variable names".to_owned(),
        }
    };
    Issue::new(Some(format!("environment {var}")), None, message)
}

/// Parses `raw` as a single TOML value.
fn toml_value(raw: &str) -> Option<toml::Value> {
    let mut t = format!("v = {raw}").parse::<toml::Table>().ok()?;
    if t.len() != 1 {
        return None;
    }
    t.remove("v")
}

fn quoted(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.starts_with(['"', '\'']) {
        if let Some(toml::Value::String(s)) = toml_value(t) {
            return Some(s);
        }
    }
    None
}

/// A list value: a TOML array as written (`["a","b"]`, `[1, 2]`), or
/// comma-separated items each converted by `item`.
fn list(raw: &str, item: impl Fn(&str) -> toml::Value) -> toml::Value {
    if raw.trim_start().starts_with('[') {
        if let Some(v @ toml::Value::Array(_)) = toml_value(raw) {
            return v;
        }
    }
    toml::Value::Array(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(item).collect())
}

/// Turns the text of a variable into a value for the key `node`: TOML when
/// it parses, otherwise the text itself; list keys also take `a,b,c`.
pub(crate) fn convert(raw: &str, node: &Node) -> toml::Value {
    let ty = match &node.kind {
        Kind::Leaf(l) => l.ty,
        _ => LeafType::Other,
    };
    match ty {
        LeafType::String => toml::Value::String(quoted(raw).unwrap_or_else(|| raw.to_owned())),
        LeafType::StringList | LeafType::StringOrList => {
            list(raw, |s| toml::Value::String(quoted(s).unwrap_or_else(|| s.to_owned())))
        }
        LeafType::IntegerList => list(raw, |s| {
            s.parse::<i64>().map(toml::Value::Integer).unwrap_or_else(|_| toml::Value::String(s.to_owned()))
        }),
        LeafType::Boolean => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => toml::Value::Boolean(true),
            "false" | "no" | "off" | "0" => toml::Value::Boolean(false),
            _ => toml::Value::String(raw.to_owned()),
        },
        _ => toml_value(raw.trim()).unwrap_or_else(|| toml::Value::String(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_links_are_recognised_by_name_and_value() {
        for (var, value) in [
            ("SIMPLE_NTPD_SERVICE_HOST", "10.96.0.12"),
            ("SIMPLE_NTPD_SERVICE_HOST", "fd00::12"),
            ("SIMPLE_NTPD_SERVICE_PORT", "123"),
            ("SIMPLE_NTPD_SERVICE_PORT_NTP", "123"),
            ("SIMPLE_NTPD_PORT", "udp://10.96.0.12:123"),
            ("SIMPLE_NTPD_PORT", "udp://[fd00::12]:123"),
            ("SIMPLE_NTPD_PORT_123_UDP", "udp://10.96.0.12:123"),
            ("SIMPLE_NTPD_PORT_123_UDP_PROTO", "udp"),
            ("SIMPLE_NTPD_PORT_123_UDP_PORT", "123"),
            ("SIMPLE_NTPD_PORT_123_UDP_ADDR", "10.96.0.12"),
            ("SIMPLE_NTPD_MAIN_NTP_SERVICE_HOST", "10.96.0.13"),
            ("SIMPLE_NTPD_MAIN_NTP_PORT_4460_TCP_PORT", "4460"),
            ("SIMPLE_NTPD_METRICS_SERVICE_PORT_METRICS", "9559"),
        ] {
            assert!(is_service_link(var, value), "{var}={value}");
        }
        for (var, value) in [
            // Misspelt settings whose values are not what Kubernetes writes.
            ("SIMPLE_NTPD_LISTN_PORT", "1123"),
            ("SIMPLE_NTPD_SERVICE_HOST", "ntp.example.net"),
            ("SIMPLE_NTPD_SERVICE_PORT", "abc"),
            ("SIMPLE_NTPD_PORT", "123"),
            ("SIMPLE_NTPD_PORT_123_UDP", "udp://10.96.0.12:124"),
            ("SIMPLE_NTPD_PORT_123_UDP_PROTO", "tcp"),
            ("SIMPLE_NTPD_PORT_123_XDP_PORT", "123"),
            ("SIMPLE_NTPD_PORT_123_UDP_EXTRA", "x"),
            ("OTHER_SERVICE_HOST", "10.0.0.1"),
            ("SIMPLE_NTPD__SERVICE_HOST", "10.0.0.1"),
        ] {
            assert!(!is_service_link(var, value), "{var}={value}");
        }
    }

    #[test]
    fn integer_lists_take_commas() {
        let root = crate::schema::root();
        let node = crate::schema::node_at(&root, "performance.cpu_affinity").unwrap();
        assert_eq!(convert("0, 1", node), toml::Value::Array(vec![toml::Value::Integer(0), toml::Value::Integer(1)]));
        assert_eq!(convert("[2]", node), toml::Value::Array(vec![toml::Value::Integer(2)]));
    }

    fn conv(path: &str, raw: &str) -> toml::Value {
        convert(raw, schema::node_at(&schema::root(), path).unwrap())
    }

    #[test]
    fn names_are_unambiguous_and_cover_the_documented_examples() {
        let long = long_names();
        assert_eq!(
            long.len(),
            schema::all_nodes(&schema::root())
                .iter()
                .filter(|(_, n, a)| !a && !matches!(n.kind, Kind::Table(_)))
                .count(),
            "two keys map to the same variable name"
        );
        for (var, path) in [
            ("SIMPLE_NTPD_NTP_SERVER_STRATUM", "ntp_server.stratum"),
            ("SIMPLE_NTPD_SECURITY_RATELIMIT_BURST", "security.ratelimit.burst"),
            ("SIMPLE_NTPD_MONITORING_OFFSET_WARNING_THRESHOLD", "monitoring.offset.warning_threshold"),
            ("SIMPLE_NTPD_SOURCES_SERVERS", "sources.servers"),
        ] {
            assert_eq!(long.get(var).map(String::as_str), Some(path));
        }
        let root = schema::root();
        for (short, path) in SHORT_FORMS {
            assert!(schema::node_at(&root, path).is_some(), "{short} -> {path}");
            assert!(!long.contains_key(*short), "{short} collides with a long name");
        }
    }

    #[test]
    fn conversion() {
        use toml::Value as V;
        assert_eq!(conv("ntp_server.stratum", "3"), V::Integer(3));
        assert_eq!(conv("ntp_server.stratum", "abc"), V::String("abc".into()));
        assert_eq!(conv("logging.file", "/x/y.log"), V::String("/x/y.log".into()));
        assert_eq!(conv("logging.level", "\"debug\""), V::String("debug".into()));
        assert_eq!(
            conv("network.listen_address", "127.0.0.1,::1"),
            V::Array(vec![V::String("127.0.0.1".into()), V::String("::1".into())])
        );
        assert_eq!(
            conv("ntp_server.upstream_servers", "[\"a\", \"b\"]"),
            V::Array(vec![V::String("a".into()), V::String("b".into())])
        );
        assert_eq!(conv("network.listen_address", "[::1]:123"), V::Array(vec![V::String("[::1]:123".into())]));
        assert_eq!(conv("security.nts.enabled", "yes"), V::Boolean(true));
        assert_eq!(conv("monitoring.offset.warning_threshold", "1.5"), V::Float(1.5));
        assert_eq!(conv("ntp_server.stratum", "1\nx = 2"), V::String("1\nx = 2".into()));
    }
}
