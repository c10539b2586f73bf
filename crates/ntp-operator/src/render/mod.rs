//! From an NTPService (and the NTPClients that name it) to the objects that
//! run it, as pure functions: the controller applies exactly this, and
//! `simple-ntpd operator render` prints it.
//!
//! | object | when |
//! |---|---|
//! | ServiceAccount `<name>`, ConfigMap `<name>-config` | always |
//! | Secret `<name>-secrets` | authentication keys or a monitoring token in the spec |
//! | DaemonSet or Deployment `<name>`, Service `<name>` | `spec.enabled` |
//! | HorizontalPodAutoscaler `<name>` | a Deployment with `maxReplicas` above `replicas` |
//! | PodDisruptionBudget `<name>` | a Deployment |
//! | Certificate `<name>-nts-tls` (cert-manager) | NTS with `kubernetes.nts.certManager` |

pub mod config;
pub mod names;
pub mod objects;
pub mod pod;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use kube::core::ApiResource;
use ntp_config::{ClientGroup, Config, Workload};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::resource::{NtpClient, NtpService};
use names::Names;

/// Why a resource cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The resource's name cannot name its objects.
    #[error("{0}")]
    Name(String),
    /// The spec is not a configuration the daemon accepts.
    #[error("{0}")]
    Spec(String),
    /// An NTPClient naming the resource is invalid.
    #[error("NTPClient {name}: {message}")]
    Client {
        /// The NTPClient's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A file for `operator render` holds something else.
    #[error("{0}")]
    File(String),
}

/// One object to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Its kind, group, version and plural.
    pub api: ApiResource,
    /// Its name.
    pub name: String,
    /// The object as JSON (apiVersion, kind, metadata, spec...).
    pub value: Value,
}

impl Object {
    fn typed<K>(object: &K) -> Option<Self>
    where
        K: kube::Resource<DynamicType = ()> + Serialize,
    {
        Some(Self {
            api: ApiResource::erase::<K>(&()),
            name: object.meta().name.clone().unwrap_or_default(),
            value: serde_json::to_value(object).ok()?,
        })
    }

    /// `Kind/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.api.kind, self.name)
    }
}

/// The cert-manager Certificate's API.
pub fn certificate_api() -> ApiResource {
    ApiResource {
        group: "cert-manager.io".to_owned(),
        version: "v1".to_owned(),
        api_version: "cert-manager.io/v1".to_owned(),
        kind: "Certificate".to_owned(),
        plural: "certificates".to_owned(),
    }
}

/// What one resource renders to.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The resource's name.
    pub name: String,
    /// Its namespace, when known.
    pub namespace: Option<String>,
    /// `spec.enabled`.
    pub enabled: bool,
    /// The objects, in the order they are applied.
    pub objects: Vec<Object>,
    /// Things worth telling (planned keys, values the operator replaced).
    pub warnings: Vec<String>,
    /// The configuration the pods load.
    pub config: Config,
    /// The labels of the pods.
    pub selector: BTreeMap<String, String>,
    /// The pods' monitoring endpoint, when reachable from the operator.
    pub monitoring: Option<SocketAddr>,
    /// The token the monitoring endpoint wants, when the spec sets one.
    pub token: Option<String>,
    /// The NTS certificate Secret the pods mount (when NTS is served).
    pub nts_secret: Option<String>,
}

impl Rendered {
    /// `Kind/name` of every object.
    pub fn ids(&self) -> Vec<String> {
        self.objects.iter().map(Object::id).collect()
    }

    /// The objects as one YAML stream.
    pub fn to_yaml(&self) -> Result<String, crate::yaml::YamlError> {
        let docs: Vec<String> =
            self.objects.iter().map(|o| crate::yaml::document(&o.value)).collect::<Result<_, _>>()?;
        Ok(crate::yaml::stream(docs.iter().map(String::as_str)))
    }
}

/// Renders `service` with the NTPClients among `clients` that name it, as
/// the controller does: errors without file locations.
pub fn render(service: &NtpService, clients: &[NtpClient]) -> Result<Rendered, RenderError> {
    let label = format!("NTPService {}", service.metadata.name.as_deref().unwrap_or_default());
    render_document(service, &label, &service.document(), false, clients)
}

fn check_name(service: &NtpService) -> Result<String, RenderError> {
    let name = service.metadata.name.clone().unwrap_or_default();
    if !ntp_config::is_dns_label(&name) || name.len() > names::MAX_NAME {
        return Err(RenderError::Name(format!(
            "the NTPService name `{name}` must be a DNS label of at most {} characters (its objects add suffixes such as `-config`)",
            names::MAX_NAME
        )));
    }
    Ok(name)
}

/// The client groups among `clients` that name `service`, by name.
fn client_groups(service: &str, clients: &[NtpClient]) -> Result<Vec<(String, ClientGroup)>, RenderError> {
    let mut groups = Vec::new();
    let mut sorted: Vec<&NtpClient> = clients.iter().collect();
    sorted.sort_by_key(|c| c.metadata.name.clone());
    for c in sorted {
        let name = c.metadata.name.clone().unwrap_or_default();
        if c.spec.get("serviceRef").or_else(|| c.spec.get("service_ref")).and_then(Value::as_str) != Some(service) {
            continue;
        }
        let group: ClientGroup = serde_json::from_value(c.spec.clone())
            .map_err(|e| RenderError::Client { name: name.clone(), message: e.to_string() })?;
        groups.push((name, group));
    }
    Ok(groups)
}

/// Renders from `document`, the resource's text (`located`: errors keep
/// their file, line and column).
fn render_document(
    service: &NtpService,
    label: &str,
    document: &str,
    located: bool,
    clients: &[NtpClient],
) -> Result<Rendered, RenderError> {
    let name = check_name(service)?;
    let spec_error =
        |e: ntp_config::ConfigError| RenderError::Spec(if located { e.to_string() } else { config::messages(&e) });
    let loaded =
        ntp_config::load_from_strs(&[(label.to_owned(), document.to_owned())], Vec::new(), &Default::default())
            .map_err(spec_error)?;
    let spec = ntp_config::spec_table(label, document).map_err(spec_error)?;
    let groups = client_groups(&name, clients)?;
    let k = loaded.config.kubernetes.clone();
    let enabled = loaded.config.enabled.get();
    let pod = config::pod_config(&spec, &loaded.config, &groups)?;
    let component = match k.workload {
        Workload::DaemonSet => "node-clock",
        Workload::Deployment => "server",
    };
    let names = Names::new(service, component);
    let hash = {
        let mut h = Sha256::new();
        h.update(pod.toml.as_bytes());
        for s in &pod.secrets {
            h.update([0]);
            h.update(s.key.as_bytes());
            h.update([0]);
            h.update(s.value.as_bytes());
        }
        let digest = h.finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    };

    let mut objects: Vec<Option<Object>> = vec![
        Object::typed(&objects::service_account(&names)),
        objects::secret(&names, &pod).and_then(|s| Object::typed(&s)),
        Object::typed(&objects::config_map(&names, &pod)),
    ];
    if enabled {
        objects.push(objects::certificate(&names, &k, &pod).map(|value| Object {
            api: certificate_api(),
            name: names.nts_secret(),
            value,
        }));
        objects.push(Object::typed(&objects::service(&names, &k, &pod)));
        let template = pod::template(&names, &k, &pod, &hash);
        objects.push(match k.workload {
            Workload::DaemonSet => Object::typed(&objects::daemon_set(&names, template)),
            Workload::Deployment => Object::typed(&objects::deployment(&names, &k, template)),
        });
        objects.push(objects::autoscaler(&names, &k).and_then(|o| Object::typed(&o)));
        objects.push(objects::disruption_budget(&names, &k).and_then(|o| Object::typed(&o)));
    }
    let nts_secret =
        pod.config.security.nts.enabled.then(|| k.nts.secret_name.clone().unwrap_or_else(|| names.nts_secret()));
    Ok(Rendered {
        name,
        namespace: names.namespace.clone(),
        enabled,
        objects: objects.into_iter().flatten().collect(),
        warnings: pod.warnings.clone(),
        selector: names.selector(),
        monitoring: config::reachable_monitoring(&pod.config),
        token: pod.config.monitoring.token.clone(),
        config: pod.config,
        nts_secret,
    })
}

/// Splits a YAML stream into its documents, each padded with blank lines so
/// that line numbers in errors are those of the file.
fn documents(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---#") {
            docs.push(std::mem::take(&mut current));
            current = "\n".repeat(i + 1);
            continue;
        }
        current.push_str(line);
    }
    docs.push(current);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// `simple-ntpd operator render FILE`: every NTPService in `text` (a YAML
/// stream that may also hold NTPClients), rendered with its clients, each
/// object in `namespace` when the resource names none. Errors name `file`
/// and the line.
pub fn render_file(file: &str, text: &str, namespace: Option<&str>) -> Result<Vec<Rendered>, RenderError> {
    let mut services = Vec::new();
    let mut clients = Vec::new();
    for doc in documents(text) {
        let value: Value = serde_saphyr::from_str(&doc).map_err(|e| RenderError::File(format!("{file}: {e}")))?;
        let mut value = value;
        if let (Some(ns), Some(meta)) = (namespace, value.get_mut("metadata").and_then(Value::as_object_mut)) {
            meta.entry("namespace").or_insert_with(|| Value::from(ns));
        }
        match value.get("kind").and_then(Value::as_str) {
            Some("NTPService") => {
                let service: NtpService = serde_json::from_value(value)
                    .map_err(|e| RenderError::File(format!("{file}: an NTPService: {e}")))?;
                services.push((service, doc));
            }
            Some("NTPClient") => clients.push(
                serde_json::from_value::<NtpClient>(value)
                    .map_err(|e| RenderError::File(format!("{file}: an NTPClient: {e}")))?,
            ),
            other => {
                return Err(RenderError::File(format!(
                    "{file}: a `{}` document: only NTPService and NTPClient resources render",
                    other.unwrap_or("?")
                )))
            }
        }
    }
    if services.is_empty() {
        return Err(RenderError::File(format!("{file}: no NTPService resource")));
    }
    services
        .iter()
        .map(|(service, doc)| {
            let same_namespace: Vec<NtpClient> =
                clients.iter().filter(|c| c.metadata.namespace == service.metadata.namespace).cloned().collect();
            render_document(service, file, doc, true, &same_namespace)
        })
        .collect()
}
