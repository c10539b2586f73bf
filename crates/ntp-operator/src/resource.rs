//! The `NTPService` and `NTPClient` objects as the API server stores them.
//! Their `spec` stays JSON here: ntp-config reads it (the one configuration
//! model), so a spec the model refuses becomes a condition on the resource
//! rather than an object the watcher cannot decode. The status is ours.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::core::NamespaceResourceScope;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `ntp.fos1.io/v1alpha1`.
pub const API_VERSION: &str = ntp_config::API_VERSION;

/// An NTPService: a time service the operator runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NtpService {
    /// `ntp.fos1.io/v1alpha1`.
    #[serde(rename = "apiVersion", default = "api_version")]
    pub api_version: String,
    /// `NTPService`.
    #[serde(default = "service_kind")]
    pub kind: String,
    /// Name, namespace, uid, generation.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The configuration, in the resource's camelCase spelling.
    #[serde(default)]
    pub spec: serde_json::Value,
    /// What the operator last saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NtpServiceStatus>,
}

/// An NTPClient: a group of clients with its own policy for one NTPService.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NtpClient {
    /// `ntp.fos1.io/v1alpha1`.
    #[serde(rename = "apiVersion", default = "api_version")]
    pub api_version: String,
    /// `NTPClient`.
    #[serde(default = "client_kind")]
    pub kind: String,
    /// Name and namespace.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `ntp_config::ClientGroup` in camelCase.
    #[serde(default)]
    pub spec: serde_json::Value,
}

fn api_version() -> String {
    API_VERSION.to_owned()
}

fn service_kind() -> String {
    "NTPService".to_owned()
}

fn client_kind() -> String {
    "NTPClient".to_owned()
}

impl NtpService {
    /// A resource named `name` in `namespace` with `spec`.
    pub fn new(namespace: &str, name: &str, spec: serde_json::Value) -> Self {
        Self {
            api_version: api_version(),
            kind: service_kind(),
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    /// The document ntp-config reads: the resource with its spec, as JSON
    /// (which is YAML).
    pub fn document(&self) -> String {
        let doc = serde_json::json!({
            "apiVersion": API_VERSION,
            "kind": "NTPService",
            "spec": if self.spec.is_null() { serde_json::json!({}) } else { self.spec.clone() },
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

macro_rules! resource_impl {
    ($ty:ty, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(ntp_config::GROUP)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(ntp_config::VERSION)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

resource_impl!(NtpService, "NTPService", "ntpservices");
resource_impl!(NtpClient, "NTPClient", "ntpclients");

/// What the operator reports about an NTPService.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NtpServiceStatus {
    /// The `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Reconciled` (the objects match the spec), `Ready` (every pod serves synchronised time) and `Degraded` (something needs attention), each with a reason.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The objects the operator manages for this resource, as `Kind/name`.
    #[serde(default)]
    pub objects: Vec<String>,
    /// Pods of the workload the operator found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<i32>,
    /// Synchronised pods of all pods, e.g. `2/3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronised: Option<String>,
    /// The highest (worst) stratum a synchronised pod serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratum: Option<i64>,
    /// The largest clock offset of a synchronised pod, in seconds (signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_seconds: Option<f64>,
    /// The fewest selectable sources of any synchronised pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<i64>,
}

/// One condition, in the shape of Kubernetes' `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Reconciled`, `Ready` or `Degraded`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase word saying why.
    pub reason: String,
    /// What happened, for people.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed.
    #[schemars(with = "String")]
    pub last_transition_time: Time,
    /// The generation this condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl NtpServiceStatus {
    /// The condition of `type_`, if set.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}
