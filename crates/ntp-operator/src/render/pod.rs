//! The pod template: the container of deploy/kubernetes (image, probes,
//! security context, the configuration mounted at /etc/simple-ntpd) in one
//! of its two forms — the node clock (DaemonSet: host network, uid 0 with
//! only the capabilities it uses) or the serving tier (Deployment: uid 65534,
//! no capability, spread over nodes and zones).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    ExecAction, HTTPGetAction, HostPathVolumeSource, Lifecycle, LifecycleHandler, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource,
    SecurityContext, SleepAction, Sysctl, Toleration, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use ntp_config::{ClockDiscipline, KubernetesConfig, Workload};

use super::config::{reachable_monitoring, PodConfig, CONFIG_DIR, CONFIG_FILE, NTS_DIR, TOKEN_ENV, TOKEN_SECRET_KEY};
use super::names::Names;

/// The annotation whose change rolls the pods when the configuration (or a
/// secret value) changes, as kustomize's hashed ConfigMap names do.
pub const CONFIG_HASH_ANNOTATION: &str = "ntp.fos1.io/config-hash";
/// The uid the serving tier runs as (the image's `nobody`).
pub const NOBODY: i64 = 65534;

fn tolerations(k: &KubernetesConfig) -> Option<Vec<Toleration>> {
    if !k.tolerations.is_empty() {
        let convert = |t: &ntp_config::Toleration| Toleration {
            key: t.key.clone(),
            operator: Some(format!("{:?}", t.operator)),
            value: t.value.clone(),
            effect: t.effect.map(|e| format!("{e:?}")),
            toleration_seconds: None,
        };
        return Some(k.tolerations.iter().map(convert).collect());
    }
    match k.workload {
        // Control-plane and router nodes need their clocks kept too.
        Workload::DaemonSet => Some(
            [
                ("node-role.kubernetes.io/control-plane", Some("NoSchedule")),
                ("node-role.kubernetes.io/master", Some("NoSchedule")),
                ("node-role.kubernetes.io/router", None),
            ]
            .into_iter()
            .map(|(key, effect)| Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                effect: effect.map(str::to_owned),
                ..Toleration::default()
            })
            .collect(),
        ),
        Workload::Deployment => None,
    }
}

fn resources(k: &KubernetesConfig) -> ResourceRequirements {
    let (defaults_req, defaults_lim) = match k.workload {
        Workload::DaemonSet => (("20m", "24Mi"), ("500m", "64Mi")),
        Workload::Deployment => (("50m", "32Mi"), ("1", "96Mi")),
    };
    let amounts = |a: &ntp_config::ResourceAmounts, (cpu, memory): (&str, &str)| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(a.cpu.clone().unwrap_or_else(|| cpu.to_owned()))),
            ("memory".to_owned(), Quantity(a.memory.clone().unwrap_or_else(|| memory.to_owned()))),
        ])
    };
    ResourceRequirements {
        requests: Some(amounts(&k.resources.requests, defaults_req)),
        limits: Some(amounts(&k.resources.limits, defaults_lim)),
        ..ResourceRequirements::default()
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("metrics".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// Without a reachable monitoring endpoint the image's health probe asks
/// the daemon over NTP instead.
fn exec_probe(period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction { command: Some(vec!["/usr/bin/simple-ntpd".to_owned(), "healthcheck".to_owned()]) }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn secret_env(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: optional.then_some(true),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn port(name: &str, number: u16, protocol: &str) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: i32::from(number),
        protocol: Some(protocol.to_owned()),
        ..ContainerPort::default()
    }
}

/// Whether the daemon writes anything (a drift file, NTS cookie keys): the
/// root filesystem is read-only, so that needs the state volume.
fn needs_state(pod: &PodConfig) -> bool {
    pod.config.server.driftfile.is_some() || pod.config.security.nts.enabled
}

/// The NTP port the pods serve (the first listen socket's).
pub fn ntp_port(pod: &PodConfig) -> u16 {
    pod.config.listen_sockets().first().map_or(123, |s| s.port())
}

fn container(names: &Names, k: &KubernetesConfig, pod: &PodConfig) -> Container {
    let c = &pod.config;
    let monitoring = reachable_monitoring(c);
    let mut env = vec![EnvVar {
        name: "SIMPLE_NTPD_CONFIG".to_owned(),
        value: Some(format!("{CONFIG_DIR}/{CONFIG_FILE}")),
        ..EnvVar::default()
    }];
    for s in &pod.secrets {
        env.push(secret_env(s.env, &names.secret(), s.key, false));
    }
    if !pod.secrets.iter().any(|s| s.key == TOKEN_SECRET_KEY) {
        // Optional: create the Secret to require a bearer token for /metrics
        // and the API (deploy/kubernetes/README.md).
        env.push(secret_env(TOKEN_ENV, &names.monitoring_secret(), "token", true));
    }
    let mut ports = vec![port("ntp", ntp_port(pod), "UDP")];
    if c.security.nts.enabled {
        ports.push(port("nts-ke", c.security.nts.ke_socket().port(), "TCP"));
    }
    if let Some(m) = monitoring {
        ports.push(port("metrics", m.port(), "TCP"));
    }
    let (liveness, readiness) = match monitoring {
        Some(_) => (probe("/healthz", 10, 3), probe("/readyz", 5, 2)),
        None => (exec_probe(10, 3), exec_probe(5, 2)),
    };
    let mut mounts = vec![VolumeMount {
        name: "config".to_owned(),
        mount_path: CONFIG_DIR.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }];
    if needs_state(pod) {
        mounts.push(VolumeMount {
            name: "state".to_owned(),
            mount_path: pod.state_dir.to_string_lossy().into_owned(),
            ..VolumeMount::default()
        });
    }
    if c.security.nts.enabled {
        mounts.push(VolumeMount {
            name: "nts-certificate".to_owned(),
            mount_path: NTS_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    let steers = matches!(c.clock.discipline, ClockDiscipline::System | ClockDiscipline::Auto);
    let low_port = c.listen_sockets().iter().any(|s| s.port() < 1024);
    let security_context = match k.workload {
        Workload::DaemonSet => {
            let mut add = Vec::new();
            if steers {
                add.push("SYS_TIME".to_owned());
            }
            if low_port {
                add.push("NET_BIND_SERVICE".to_owned());
            }
            SecurityContext {
                run_as_user: Some(0),
                run_as_non_root: Some(false),
                allow_privilege_escalation: Some(false),
                privileged: Some(false),
                read_only_root_filesystem: Some(true),
                capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), add: Some(add) }),
                ..SecurityContext::default()
            }
        }
        Workload::Deployment => SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), add: None }),
            ..SecurityContext::default()
        },
    };
    let lifecycle = (k.workload == Workload::Deployment).then(|| Lifecycle {
        // Give load balancers time to stop sending before the daemon exits.
        pre_stop: Some(LifecycleHandler { sleep: Some(SleepAction { seconds: 5 }), ..LifecycleHandler::default() }),
        ..Lifecycle::default()
    });
    Container {
        name: "simple-ntpd".to_owned(),
        image: Some(k.image.clone()),
        image_pull_policy: Some(format!("{:?}", k.image_pull_policy)),
        env: Some(env),
        ports: Some(ports),
        liveness_probe: Some(liveness),
        readiness_probe: Some(readiness),
        lifecycle,
        resources: Some(resources(k)),
        security_context: Some(security_context),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn volumes(names: &Names, k: &KubernetesConfig, pod: &PodConfig) -> Vec<Volume> {
    let mut volumes = vec![Volume {
        name: "config".to_owned(),
        config_map: Some(ConfigMapVolumeSource { name: names.config_map(), ..ConfigMapVolumeSource::default() }),
        ..Volume::default()
    }];
    let state = match k.workload {
        // The drift file survives pod restarts and image updates.
        Workload::DaemonSet => Volume {
            name: "state".to_owned(),
            host_path: Some(HostPathVolumeSource {
                path: super::config::STATE_DIR.to_owned(),
                type_: Some("DirectoryOrCreate".to_owned()),
            }),
            ..Volume::default()
        },
        Workload::Deployment => {
            Volume { name: "state".to_owned(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Volume::default() }
        }
    };
    if needs_state(pod) {
        volumes.push(state);
    }
    if pod.config.security.nts.enabled {
        let secret = k.nts.secret_name.clone().unwrap_or_else(|| names.nts_secret());
        // uid 0 reads 0400; the serving tier's uid reads it through fsGroup.
        let mode = match k.workload {
            Workload::DaemonSet => 0o400,
            Workload::Deployment => 0o440,
        };
        volumes.push(Volume {
            name: "nts-certificate".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret),
                default_mode: Some(mode),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    volumes
}

fn spread(names: &Names, key: &str, when: &str) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: key.to_owned(),
        when_unsatisfiable: when.to_owned(),
        node_taints_policy: (when == "DoNotSchedule").then(|| "Honor".to_owned()),
        label_selector: Some(LabelSelector { match_labels: Some(names.selector()), ..LabelSelector::default() }),
        match_label_keys: Some(vec!["pod-template-hash".to_owned()]),
        ..TopologySpreadConstraint::default()
    }
}

/// The pod template; `hash` changes with the configuration and rolls the pods.
pub fn template(names: &Names, k: &KubernetesConfig, pod: &PodConfig, hash: &str) -> PodTemplateSpec {
    let mut annotations = BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), hash.to_owned())]);
    if let Some(m) = reachable_monitoring(&pod.config) {
        // For Prometheus set-ups without the Prometheus Operator.
        annotations.insert("prometheus.io/scrape".to_owned(), "true".to_owned());
        annotations.insert("prometheus.io/port".to_owned(), m.port().to_string());
        annotations.insert("prometheus.io/path".to_owned(), "/metrics".to_owned());
    }
    let low_port = pod.config.listen_sockets().iter().map(|s| s.port()).min().filter(|p| *p < 1024);
    let mut spec = PodSpec {
        service_account_name: Some(names.name.clone()),
        automount_service_account_token: Some(false),
        // The daemon reads SIMPLE_NTPD_* variables as configuration; service
        // links would only add noise (it skips them).
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(15),
        node_selector: (!k.node_selector.is_empty()).then(|| k.node_selector.clone()),
        tolerations: tolerations(k),
        containers: vec![container(names, k, pod)],
        volumes: Some(volumes(names, k, pod)),
        ..PodSpec::default()
    };
    let seccomp = Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), ..SeccompProfile::default() });
    match k.workload {
        Workload::DaemonSet => {
            spec.host_network = Some(true);
            spec.dns_policy = Some("ClusterFirstWithHostNet".to_owned());
            spec.priority_class_name = Some("system-node-critical".to_owned());
            spec.security_context =
                Some(PodSecurityContext { seccomp_profile: seccomp, ..PodSecurityContext::default() });
        }
        Workload::Deployment => {
            spec.security_context = Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(NOBODY),
                run_as_group: Some(NOBODY),
                fs_group: pod.config.security.nts.enabled.then_some(NOBODY),
                seccomp_profile: seccomp,
                // Lets the non-root daemon bind a port below 1024 in the
                // pod's own network namespace, with no capability (a safe sysctl).
                sysctls: low_port.map(|p| {
                    vec![Sysctl { name: "net.ipv4.ip_unprivileged_port_start".to_owned(), value: p.to_string() }]
                }),
                ..PodSecurityContext::default()
            });
            spec.topology_spread_constraints = Some(vec![
                spread(names, "kubernetes.io/hostname", "DoNotSchedule"),
                spread(names, "topology.kubernetes.io/zone", "ScheduleAnyway"),
            ]);
        }
    }
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(names.selector()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    }
}
