//! How `simple-ntpd operator` runs a configuration on Kubernetes:
//! `[kubernetes]`, the NTPService resource's `spec.kubernetes`. The daemon
//! itself reads none of it (a set key is warned about outside a resource).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::Problem;

/// The image `simple-ntpd operator` runs unless `kubernetes.image` says otherwise: `simple-ntpd:<major>.<minor>` of this build.
pub fn default_image() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let major_minor: Vec<&str> = version.split('.').take(2).collect();
    format!("simple-ntpd:{}", major_minor.join("."))
}

/// How `simple-ntpd operator` runs this configuration on Kubernetes. The daemon ignores this table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// The workload: `DaemonSet` runs one pod on every selected node, on the host network, steering the node's clock and serving on the node's addresses (seed 002's router case, the node-clock overlay); `Deployment` runs a serving tier of `replicas` pods that never touch a clock, behind the Service, with a PodDisruptionBudget and, when `max_replicas` is larger than `replicas`, a HorizontalPodAutoscaler (the serving-tier overlays).
    pub workload: Workload,
    /// The container image.
    pub image: String,
    /// When the node pulls the image: `IfNotPresent`, `Always` or `Never`.
    #[serde(alias = "imagePullPolicy")]
    pub image_pull_policy: PullPolicy,
    /// Node labels a node must carry to run a pod (a Kubernetes `nodeSelector`), e.g. `{ "node-role.kubernetes.io/router" = "" }`.
    #[serde(alias = "nodeSelector")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate. Empty: a `DaemonSet` tolerates control-plane nodes and `node-role.kubernetes.io/router` nodes (their clocks need keeping too), a `Deployment` nothing.
    pub tolerations: Vec<Toleration>,
    /// Deployment: the number of pods, and the autoscaler's minimum when `max_replicas` is larger.
    #[schemars(range(min = 1, max = 1000))]
    pub replicas: u32,
    /// Deployment: a HorizontalPodAutoscaler scales between `replicas` and this many pods on CPU (`cpu_utilization` percent of the CPU request); 0 or a value not above `replicas` keeps `replicas` pods.
    #[serde(alias = "maxReplicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub max_replicas: u32,
    /// Deployment with an autoscaler: the average CPU use, in percent of the request, it keeps the pods at.
    #[serde(alias = "cpuUtilization")]
    #[schemars(range(min = 1, max = 100))]
    pub cpu_utilization: u32,
    /// The type of the Service in front of the pods: `ClusterIP`, `NodePort` or `LoadBalancer` (both with `externalTrafficPolicy: Local`, so the pods see their clients' own addresses).
    #[serde(alias = "serviceType")]
    pub service_type: ServiceType,
    /// CPU and memory of the container; unset values take the workload's defaults (DaemonSet: requests 20m / 24Mi, limits 500m / 64Mi; Deployment: requests 50m / 32Mi, limits 1 / 96Mi).
    pub resources: Resources,
    /// Where the NTS-KE server certificate comes from when `security.nts.enabled` is on.
    pub nts: NtsCertificate,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            workload: Workload::DaemonSet,
            image: default_image(),
            image_pull_policy: PullPolicy::IfNotPresent,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            replicas: 2,
            max_replicas: 0,
            cpu_utilization: 60,
            service_type: ServiceType::ClusterIP,
            resources: Resources::default(),
            nts: NtsCertificate::default(),
        }
    }
}

impl KubernetesConfig {
    /// `true` when nothing differs from the defaults (then `config show` leaves the table out).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The kind of workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Workload {
    /// One pod per selected node on the host network, steering the node's clock.
    #[default]
    DaemonSet,
    /// A serving tier of pods that never touch a clock.
    Deployment,
}

/// When the node pulls the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull when the node does not have the image.
    #[default]
    IfNotPresent,
    /// Pull on every start.
    Always,
    /// Never pull: the image must be on the node.
    Never,
}

/// The type of the Service.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    /// A cluster-internal address.
    #[default]
    ClusterIP,
    /// A port on every node.
    NodePort,
    /// An external load balancer.
    LoadBalancer,
}

/// One taint the pods tolerate (a Kubernetes toleration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Toleration {
    /// The taint key; unset with `operator = "Exists"` tolerates every taint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Exists` (any value) or `Equal` (the value in `value`).
    #[serde(default)]
    pub operator: TolerationOperator,
    /// The taint value, with `operator = "Equal"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The taint effect tolerated: `NoSchedule`, `PreferNoSchedule` or `NoExecute`; unset: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
}

/// How a toleration matches a taint's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum TolerationOperator {
    /// Any value.
    #[default]
    Exists,
    /// The toleration's `value`.
    Equal,
}

/// A taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TaintEffect {
    /// New pods are not scheduled.
    NoSchedule,
    /// New pods are scheduled elsewhere when possible.
    PreferNoSchedule,
    /// Running pods are evicted.
    NoExecute,
}

/// CPU and memory of the container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    /// What the scheduler reserves.
    pub requests: ResourceAmounts,
    /// What the container may use at most.
    pub limits: ResourceAmounts,
}

/// Amounts in Kubernetes quantity notation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceAmounts {
    /// CPU, e.g. `50m` or `1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory, e.g. `32Mi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

/// Where the NTS-KE server certificate comes from. With neither key set, the pods mount the TLS Secret named `<resource name>-nts-tls` (keys `tls.crt` and `tls.key`), which you create, e.g. `kubectl create secret tls main-ntp-nts-tls --cert=... --key=...`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NtsCertificate {
    /// An existing TLS Secret (`kubernetes.io/tls`) to mount.
    #[serde(alias = "secretName", skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// A cert-manager Certificate the operator creates (and owns), writing the Secret `<resource name>-nts-tls` that the pods mount.
    #[serde(alias = "certManager", skip_serializing_if = "Option::is_none")]
    pub cert_manager: Option<CertManagerCertificate>,
}

/// A cert-manager Certificate for the NTS-KE server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertManagerCertificate {
    /// The issuer's name.
    #[serde(alias = "issuerName")]
    pub issuer_name: String,
    /// `Issuer` (in the resource's namespace) or `ClusterIssuer`.
    #[serde(default, alias = "issuerKind")]
    pub issuer_kind: IssuerKind,
    /// The names clients reach the NTS-KE server by (the certificate's subject alternative names).
    #[serde(alias = "dnsNames")]
    pub dns_names: Vec<String>,
}

/// The kind of a cert-manager issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum IssuerKind {
    /// An issuer in the resource's namespace.
    #[default]
    Issuer,
    /// A cluster-wide issuer.
    ClusterIssuer,
}

/// A Kubernetes quantity such as `50m`, `1`, `0.5`, `32Mi`, `1G`.
fn is_quantity(s: &str) -> bool {
    const SUFFIXES: &[&str] = &["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E", ""];
    SUFFIXES.iter().any(|suffix| {
        s.strip_suffix(suffix).is_some_and(|n| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                && n.chars().filter(|c| *c == '.').count() <= 1
                && n != "."
        })
    })
}

/// A DNS-1123 label, as Kubernetes object names of the rendered kinds need.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Checks of single values of `[kubernetes]`.
pub(crate) fn problems(k: &KubernetesConfig, out: &mut Vec<Problem>) {
    if k.image.trim().is_empty() || k.image.chars().any(char::is_whitespace) {
        out.push(Problem::new("kubernetes.image", "kubernetes.image must name an image, without spaces".to_owned()));
    }
    for (which, amounts) in [("requests", &k.resources.requests), ("limits", &k.resources.limits)] {
        for (what, value) in [("cpu", &amounts.cpu), ("memory", &amounts.memory)] {
            if let Some(v) = value {
                if !is_quantity(v) {
                    let path = format!("kubernetes.resources.{which}.{what}");
                    out.push(Problem::new(
                        path.clone(),
                        format!("{path} must be a Kubernetes quantity such as `50m`, `1`, `32Mi`, got `{v}`"),
                    ));
                }
            }
        }
    }
    if let Some(name) = &k.nts.secret_name {
        if !is_dns_label(name) && !name.split('.').all(is_dns_label) {
            out.push(Problem::new(
                "kubernetes.nts.secret_name",
                format!("kubernetes.nts.secret_name must be a Kubernetes object name, got `{name}`"),
            ));
        }
    }
    if k.nts.secret_name.is_some() && k.nts.cert_manager.is_some() {
        out.push(Problem::new(
            "kubernetes.nts.cert_manager",
            "kubernetes.nts: set secret_name (an existing Secret) or cert_manager (a Certificate the operator creates), not both".to_owned(),
        ));
    }
    if let Some(cm) = &k.nts.cert_manager {
        if cm.dns_names.is_empty() {
            out.push(Problem::new(
                "kubernetes.nts.cert_manager.dns_names",
                "kubernetes.nts.cert_manager.dns_names must list the names clients use for the NTS-KE server"
                    .to_owned(),
            ));
        }
    }
    for (i, t) in k.tolerations.iter().enumerate() {
        if t.operator == TolerationOperator::Equal && t.key.is_none() {
            let path = format!("kubernetes.tolerations[{i}].key");
            out.push(Problem::new(path.clone(), format!("{path} must be set with operator = \"Equal\"")));
        }
        if t.operator == TolerationOperator::Exists && t.value.is_some() {
            let path = format!("kubernetes.tolerations[{i}].value");
            out.push(Problem::new(path.clone(), format!("{path} must not be set with operator = \"Exists\"")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in ["50m", "1", "0.5", "32Mi", "1G", "100"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "m", "1.2.3", "32 Mi", "-1", "1x", "."] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn the_default_image_is_major_minor() {
        let image = default_image();
        assert!(image.starts_with("simple-ntpd:"), "{image}");
        assert_eq!(image.matches('.').count(), 1, "{image}");
    }
}
