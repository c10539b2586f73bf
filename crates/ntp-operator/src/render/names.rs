//! Names, labels and metadata of the objects rendered for one NTPService:
//! everything is named after the resource, carries the labels of the
//! kustomize manifests (`app.kubernetes.io/name: simple-ntpd`, a
//! `component`) plus the resource's `instance`, and is owned by the resource
//! when its uid is known.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::resource::{NtpService, API_VERSION};

/// The longest resource name: object names add at most `-nts-tls` (8) to it
/// and must stay DNS labels (63).
pub const MAX_NAME: usize = 55;

/// Names and labels for one resource's objects.
#[derive(Debug, Clone)]
pub struct Names {
    /// The resource's name; the workload, Service and ServiceAccount are called this.
    pub name: String,
    /// The resource's namespace, when known.
    pub namespace: Option<String>,
    /// `node-clock` (DaemonSet) or `server` (Deployment), as in deploy/kubernetes.
    pub component: &'static str,
    owner: Option<OwnerReference>,
}

impl Names {
    /// Names for `service`'s objects.
    pub fn new(service: &NtpService, component: &'static str) -> Self {
        let name = service.metadata.name.clone().unwrap_or_default();
        let owner = service.metadata.uid.as_ref().map(|uid| OwnerReference {
            api_version: API_VERSION.to_owned(),
            kind: "NTPService".to_owned(),
            name: name.clone(),
            uid: uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        });
        Self { name, namespace: service.metadata.namespace.clone(), component, owner }
    }

    /// The ConfigMap with the daemon's configuration.
    pub fn config_map(&self) -> String {
        format!("{}-config", self.name)
    }

    /// The Secret with authentication keys and the monitoring token.
    pub fn secret(&self) -> String {
        format!("{}-secrets", self.name)
    }

    /// The TLS Secret mounted for NTS when the resource names none.
    pub fn nts_secret(&self) -> String {
        format!("{}-nts-tls", self.name)
    }

    /// The optional Secret a user creates to require a monitoring token.
    pub fn monitoring_secret(&self) -> String {
        format!("{}-monitoring", self.name)
    }

    /// The labels that select the pods.
    pub fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_owned(), "simple-ntpd".to_owned()),
            ("app.kubernetes.io/instance".to_owned(), self.name.clone()),
            ("app.kubernetes.io/component".to_owned(), self.component.to_owned()),
        ])
    }

    /// Labels of every object: the selector plus `managed-by`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector();
        labels.insert("app.kubernetes.io/managed-by".to_owned(), crate::MANAGER.to_owned());
        labels
    }

    /// Metadata of an object called `name`.
    pub fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: self.namespace.clone(),
            labels: Some(self.labels()),
            owner_references: self.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }
}
