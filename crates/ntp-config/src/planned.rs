//! The one list of keys that are accepted but not implemented yet, each with
//! the feature it waits for, and the warnings for the ones a user sets.
//! A table or array entry (`sources.servers`) covers everything below it and
//! warns once.

use crate::layer::{is_within, Layer};

/// A key (or table) that is accepted but has no effect yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedKey {
    /// Dotted key path; covers every key below it.
    pub path: &'static str,
    /// The feature that will give it an effect.
    pub feature: &'static str,
}

#[cfg_attr(not(test), allow(dead_code))] // The list is empty today; the next planned key uses it.
const fn p(path: &'static str, feature: &'static str) -> PlannedKey {
    PlannedKey { path, feature }
}

/// Every planned key, in reference order.
pub const PLANNED: &[PlannedKey] = &[];

/// The planned entry covering `path` (which may use `[n]` or `[]` for array
/// positions), if any.
pub fn planned(path: &str) -> Option<&'static PlannedKey> {
    let path = without_indices(path);
    PLANNED.iter().find(|k| is_within(&path, k.path))
}

/// `a.b[3].c` → `a.b[].c`, so planned entries can name keys inside arrays.
fn without_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_brackets = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_brackets = true;
                out.push('[');
            }
            ']' => {
                in_brackets = false;
                out.push(']');
            }
            _ if in_brackets => {}
            _ => out.push(c),
        }
    }
    out
}

/// One warning per planned entry that any layer sets, at the first place it
/// is set, ordered by layer and line.
pub(crate) fn warnings(layers: &[Layer]) -> Vec<String> {
    warnings_for(layers, PLANNED)
}

/// [`warnings`] for the planned entries `list`.
fn warnings_for(layers: &[Layer], list: &[PlannedKey]) -> Vec<String> {
    let mut found = Vec::new();
    for key in list {
        let first = layers.iter().enumerate().find_map(|(i, layer)| {
            layer
                .set
                .iter()
                .filter(|(path, _)| is_within(&without_indices(path), key.path))
                .min_by_key(|(_, o)| o.key)
                .map(|(_, o)| (i, o))
        });
        if let Some((i, origin)) = first {
            found.push((
                i,
                origin.key,
                format!(
                    "{}: {} is accepted but not implemented yet ({}); it has no effect",
                    origin.at_line(),
                    key.path,
                    key.feature
                ),
            ));
        }
    }
    found.sort_by_key(|(i, pos, _)| (*i, *pos));
    found.into_iter().map(|(_, _, w)| w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{self, Kind};

    /// The warning mechanism, on a planned list of its own (today every key
    /// is implemented, so `PLANNED` is empty).
    const SAMPLE: &[PlannedKey] =
        &[p("development.enable_test_endpoints", "test endpoints"), p("vlan_config", "per-VLAN policies")];

    fn sample_warnings(files: &[(&str, &str)]) -> Vec<String> {
        let mut ignored = Vec::new();
        let layers: Vec<Layer> = files
            .iter()
            .map(|(name, text)| {
                crate::document::file_layer(name, text, &mut ignored).unwrap_or_else(|_| panic!("{text}"))
            })
            .collect();
        warnings_for(&layers, SAMPLE)
    }

    #[test]
    fn a_planned_key_warns_once_at_the_first_place_it_is_set() {
        assert_eq!(
            sample_warnings(&[("x.toml", "[development]\nenable_test_endpoints = true\n")]),
            ["x.toml:2: development.enable_test_endpoints is accepted but not implemented yet (test endpoints); it has no effect"]
        );
        // A table warns once, whatever is set below it, in any file.
        assert_eq!(
            sample_warnings(&[
                ("a.toml", "[network]\nlisten_port = 1123\n[[vlan_config]]\nvlan_ref = \"a\"\n"),
                ("b.toml", "[[vlan_config]]\nvlan_ref = \"b\"\n"),
            ]),
            ["a.toml:3: vlan_config is accepted but not implemented yet (per-VLAN policies); it has no effect"]
        );
        assert_eq!(sample_warnings(&[("x.toml", "[network]\nlisten_port = 1123\n")]), Vec::<String>::new());
    }

    #[test]
    fn every_planned_path_is_a_key() {
        let root = schema::root();
        for k in PLANNED {
            assert!(schema::node_at(&root, k.path).is_some(), "{} is not a key", k.path);
        }
    }

    #[test]
    fn exactly_the_implemented_keys_are_not_planned() {
        let root = schema::root();
        let implemented: Vec<String> = schema::all_nodes(&root)
            .into_iter()
            .filter(|(p, n, _)| !matches!(n.kind, Kind::Table(_)) && planned(p).is_none())
            .map(|(p, _, _)| p)
            .collect();
        assert_eq!(
            implemented,
            [
                "enabled",
                "network.listen_address",
                "network.listen_port",
                "network.share_port",
                "ntp_server.stratum",
                "ntp_server.upstream_servers",
                "ntp_server.interleaved",
                "logging.level",
                "logging.output",
                "logging.file",
                "logging.log_format",
                "logging.audit_file",
                "logging.statistics_dir",
                "logging.statistics",
                "security.enable_authentication",
                "security.enable_rate_limiting",
                "security.max_queries_per_minute",
                "security.nts.enabled",
                "security.nts.ke_listen",
                "security.nts.certificate_chain",
                "security.nts.private_key",
                "security.nts.key_directory",
                "security.nts.rotation_hours",
                "security.nts.keep_keys",
                "security.nts.ntp_server",
                "security.nts.max_connections",
                "security.nts.timeout",
                "security.authentication.enabled",
                "security.authentication.key_file",
                "security.authentication.keys",
                "security.authentication.keys[].id",
                "security.authentication.keys[].type",
                "security.authentication.keys[].value",
                "security.authentication.require_for",
                "security.ratelimit.enabled",
                "security.ratelimit.interval",
                "security.ratelimit.burst",
                "security.ratelimit.leak",
                "security.ratelimit.kod",
                "security.ratelimit.table_size",
                "security.ratelimit.ipv6_prefix",
                "security.access",
                "security.access[].network",
                "security.access[].permission",
                "security.deny_kod",
                "security.mode6_allow",
                "security.user",
                "performance.worker_threads",
                "performance.max_packet_size",
                "performance.recv_batch",
                "performance.batch_send",
                "performance.cpu_affinity",
                "performance.socket_receive_buffer",
                "performance.socket_send_buffer",
                "development.enable_hot_reload",
                "development.enable_test_endpoints",
                "development.enable_debug_endpoints",
                "monitoring.enabled",
                "monitoring.listen",
                "monitoring.allow",
                "monitoring.token",
                "monitoring.client_log_size",
                "monitoring.offset.warning_threshold",
                "monitoring.offset.critical_threshold",
                "monitoring.sources_minimum",
                "monitoring.stratum_critical_above",
                "monitoring.jitter_warning_threshold",
                "monitoring.frequency_warning_threshold",
                "sources.pools",
                "sources.pools[].name",
                "sources.pools[].servers",
                "sources.pools[].iburst",
                "sources.pools[].prefer",
                "sources.servers",
                "sources.servers[].address",
                "sources.servers[].iburst",
                "sources.servers[].prefer",
                "sources.servers[].minpoll",
                "sources.servers[].maxpoll",
                "sources.servers[].key",
                "sources.servers[].nts",
                "sources.servers[].ca",
                "sources.servers[].xleave",
                "sources.hardware.pps.enabled",
                "sources.hardware.pps.device",
                "sources.hardware.pps.prefer",
                "sources.hardware.gps.enabled",
                "sources.hardware.gps.device",
                "sources.hardware.gps.refclock",
                "sources.hardware.gps.prefer",
                "sources.refclocks",
                "sources.refclocks[].driver",
                "sources.refclocks[].unit",
                "sources.refclocks[].perm",
                "sources.refclocks[].path",
                "sources.refclocks[].baud",
                "sources.refclocks[].lock",
                "sources.refclocks[].edge",
                "sources.refclocks[].rate",
                "sources.refclocks[].refid",
                "sources.refclocks[].offset",
                "sources.refclocks[].delay",
                "sources.refclocks[].precision",
                "sources.refclocks[].poll",
                "sources.refclocks[].filter",
                "sources.refclocks[].prefer",
                "sources.refclocks[].noselect",
                "sources.refclocks[].trust",
                "sources.refclocks[].stratum",
                "sources.broadcast",
                "sources.broadcast[].interface",
                "sources.broadcast[].server",
                "sources.broadcast[].port",
                "sources.broadcast[].key",
                "sources.broadcast[].prefer",
                "sources.directory",
                "server.stratum",
                "server.driftfile",
                "server.makestep.threshold",
                "server.makestep.limit",
                "server.local.enabled",
                "server.local.stratum",
                "server.leapfile",
                "server.leapsectz",
                "server.leap_smear.enabled",
                "server.leap_smear.duration",
                "server.leap_smear.shape",
                "clock.discipline",
                "clock.panic_threshold",
                "clock.min_sources",
                "vlan_config",
                "vlan_config[].vlan_ref",
                "vlan_config[].interface",
                "vlan_config[].enabled",
                "vlan_config[].broadcast",
                "vlan_config[].broadcast_interval",
                "vlan_config[].broadcast_key",
                "vlan_config[].clients_only",
                "vlan_config[].access",
                "vlan_config[].access[].network",
                "vlan_config[].access[].permission",
                "vlan_config[].ratelimit.enabled",
                "vlan_config[].ratelimit.interval",
                "vlan_config[].ratelimit.burst",
                "vlan_config[].ratelimit.leak",
                "vlan_config[].ratelimit.kod",
                "vlan_config[].ratelimit.table_size",
                "vlan_config[].ratelimit.ipv6_prefix",
                "dns.enabled",
                "dns.server",
                "dns.zone",
                "dns.hostname",
                "dns.key_file",
                "dns.addresses",
                "dns.ttl",
                "kubernetes.workload",
                "kubernetes.image",
                "kubernetes.image_pull_policy",
                "kubernetes.node_selector",
                "kubernetes.tolerations",
                "kubernetes.tolerations[].key",
                "kubernetes.tolerations[].operator",
                "kubernetes.tolerations[].value",
                "kubernetes.tolerations[].effect",
                "kubernetes.replicas",
                "kubernetes.max_replicas",
                "kubernetes.cpu_utilization",
                "kubernetes.service_type",
                "kubernetes.resources.requests.cpu",
                "kubernetes.resources.requests.memory",
                "kubernetes.resources.limits.cpu",
                "kubernetes.resources.limits.memory",
                "kubernetes.nts.secret_name",
                "kubernetes.nts.cert_manager.issuer_name",
                "kubernetes.nts.cert_manager.issuer_kind",
                "kubernetes.nts.cert_manager.dns_names",
            ],
            "a key was added: mark it in PLANNED unless the daemon implements it"
        );
    }
}
