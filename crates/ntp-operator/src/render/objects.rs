//! The objects around the pod template: ServiceAccount, ConfigMap, Secret,
//! the workload (DaemonSet or Deployment), Service, HorizontalPodAutoscaler,
//! PodDisruptionBudget and the cert-manager Certificate — shaped like their
//! counterparts in deploy/kubernetes.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, Deployment, DeploymentSpec, DeploymentStrategy,
    RollingUpdateDaemonSet, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, PodTemplateSpec, Secret, Service, ServiceAccount, ServicePort, ServiceSpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use ntp_config::{KubernetesConfig, ServiceType, Workload};
use serde_json::{json, Value};

use super::config::{PodConfig, CONFIG_FILE};
use super::names::Names;
use super::pod::ntp_port;

/// The pods' identity; simple-ntpd never talks to the Kubernetes API.
pub fn service_account(names: &Names) -> ServiceAccount {
    ServiceAccount {
        metadata: names.meta(&names.name),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// The daemon's configuration file.
pub fn config_map(names: &Names, pod: &PodConfig) -> ConfigMap {
    ConfigMap {
        metadata: names.meta(&names.config_map()),
        data: Some(BTreeMap::from([(CONFIG_FILE.to_owned(), pod.toml.clone())])),
        ..ConfigMap::default()
    }
}

/// Authentication keys and the monitoring token, when the resource has any.
pub fn secret(names: &Names, pod: &PodConfig) -> Option<Secret> {
    (!pod.secrets.is_empty()).then(|| Secret {
        metadata: names.meta(&names.secret()),
        type_: Some("Opaque".to_owned()),
        data: Some(pod.secrets.iter().map(|s| (s.key.to_owned(), ByteString(s.value.clone().into_bytes()))).collect()),
        ..Secret::default()
    })
}

fn selector(names: &Names) -> LabelSelector {
    LabelSelector { match_labels: Some(names.selector()), ..LabelSelector::default() }
}

/// One pod per selected node (the node clock).
pub fn daemon_set(names: &Names, template: PodTemplateSpec) -> DaemonSet {
    DaemonSet {
        metadata: names.meta(&names.name),
        spec: Some(DaemonSetSpec {
            revision_history_limit: Some(5),
            selector: selector(names),
            // One node at a time, and never two daemons steering one clock.
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(1)),
                    max_surge: Some(IntOrString::Int(0)),
                }),
            }),
            template,
            ..DaemonSetSpec::default()
        }),
        status: None,
    }
}

/// Whether the serving tier is scaled by an autoscaler.
fn autoscaled(k: &KubernetesConfig) -> bool {
    k.max_replicas > k.replicas
}

/// The serving tier.
pub fn deployment(names: &Names, k: &KubernetesConfig, template: PodTemplateSpec) -> Deployment {
    Deployment {
        metadata: names.meta(&names.name),
        spec: Some(DeploymentSpec {
            // With an autoscaler the replica count is its to set: a count
            // here would reset its choice on every apply.
            replicas: (!autoscaled(k)).then(|| i32::try_from(k.replicas).unwrap_or(i32::MAX)),
            revision_history_limit: Some(5),
            selector: selector(names),
            // Keep the serving capacity during a rollout: a new pod must be
            // ready (synchronised) before an old one goes.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template,
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// NTP (and NTS-KE) for clients, IPv4 and IPv6 where the cluster has both.
pub fn service(names: &Names, k: &KubernetesConfig, pod: &PodConfig) -> Service {
    let mut ports = vec![ServicePort {
        name: Some("ntp".to_owned()),
        port: i32::from(ntp_port(pod)),
        target_port: Some(IntOrString::String("ntp".to_owned())),
        protocol: Some("UDP".to_owned()),
        ..ServicePort::default()
    }];
    if pod.config.security.nts.enabled {
        ports.push(ServicePort {
            name: Some("nts-ke".to_owned()),
            port: i32::from(pod.config.security.nts.ke_socket().port()),
            target_port: Some(IntOrString::String("nts-ke".to_owned())),
            protocol: Some("TCP".to_owned()),
            ..ServicePort::default()
        });
    }
    let external = k.service_type != ServiceType::ClusterIP;
    Service {
        metadata: names.meta(&names.name),
        spec: Some(ServiceSpec {
            type_: Some(format!("{:?}", k.service_type)),
            // Clients keep their own addresses on the way to the pods (rate
            // limiting and access rules work per client).
            external_traffic_policy: external.then(|| "Local".to_owned()),
            ip_family_policy: Some("PreferDualStack".to_owned()),
            selector: Some(names.selector()),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Scales the serving tier on CPU; slow and one pod at a time down.
pub fn autoscaler(names: &Names, k: &KubernetesConfig) -> Option<HorizontalPodAutoscaler> {
    if k.workload != Workload::Deployment || !autoscaled(k) {
        return None;
    }
    let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    Some(HorizontalPodAutoscaler {
        metadata: names.meta(&names.name),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: names.name.clone(),
            },
            min_replicas: Some(as_i32(k.replicas)),
            max_replicas: as_i32(k.max_replicas),
            metrics: Some(vec![MetricSpec {
                type_: "Resource".to_owned(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".to_owned(),
                    target: MetricTarget {
                        type_: "Utilization".to_owned(),
                        average_utilization: Some(as_i32(k.cpu_utilization)),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_down: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(300),
                    policies: Some(vec![HPAScalingPolicy { type_: "Pods".to_owned(), value: 1, period_seconds: 60 }]),
                    ..HPAScalingRules::default()
                }),
                scale_up: None,
            }),
        }),
        status: None,
    })
}

/// Voluntary disruptions (node drains) take one serving pod at a time.
pub fn disruption_budget(names: &Names, k: &KubernetesConfig) -> Option<PodDisruptionBudget> {
    (k.workload == Workload::Deployment).then(|| PodDisruptionBudget {
        metadata: names.meta(&names.name),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector(names)),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
}

/// The cert-manager Certificate for the NTS-KE server, when the resource
/// asks for one; it writes the Secret the pods mount.
pub fn certificate(names: &Names, k: &KubernetesConfig, pod: &PodConfig) -> Option<Value> {
    let cm = k.nts.cert_manager.as_ref().filter(|_| pod.config.security.nts.enabled)?;
    let meta = serde_json::to_value(names.meta(&names.nts_secret())).ok()?;
    Some(json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": meta,
        "spec": {
            "secretName": names.nts_secret(),
            "dnsNames": cm.dns_names,
            "issuerRef": {"name": cm.issuer_name, "kind": format!("{:?}", cm.issuer_kind), "group": "cert-manager.io"},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": ["server auth", "digital signature"],
        },
    }))
}
