//! `simple-ntpd operator`: a kube-rs controller over NTPServices. Each
//! reconcile renders the resource (with the NTPClients that name it),
//! applies the objects server-side, deletes the ones it no longer renders,
//! reads the pods' status and writes the resource's status; events mark
//! what changed. Owned objects are watched, so a hand edit is reverted at
//! once; errors back off exponentially per resource.
//!
//! ```text
//! watch NTPService / owned objects / NTPClients ──▶ reconcile(service)
//!   render ──▶ apply (SSA, force) ──▶ prune ──▶ pods' /api/v1/status ──▶ status (SSA) ──▶ events
//! ```

pub mod apply;
pub mod pods;
pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::render::render;

use crate::resource::{NtpClient, NtpService, NtpServiceStatus};
/// The Kubernetes API client type (`KubeClient::try_default()`: in-cluster
/// service account, else the kubeconfig).
pub use kube::Client as KubeClient;
use pods::StatusProbe;
use status::Observed;

/// How often a healthy resource is looked at again (its pods' status).
pub const REFRESH: Duration = Duration::from_secs(60);
/// The first retry after an error; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What went wrong in a reconcile (the API said no).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The resource has no namespace (it is namespaced; the API always sets one).
    #[error("the NTPService has no namespace")]
    NoNamespace,
}

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes events on the resources.
    pub recorder: Recorder,
    /// Reads a pod's status.
    pub probe: Arc<dyn StatusProbe>,
    /// Consecutive failures per resource, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context; `instance` names this operator in events (its pod name).
    pub fn new(client: Client, probe: Arc<dyn StatusProbe>, instance: Option<String>) -> Self {
        let reporter = Reporter { controller: crate::MANAGER.to_owned(), instance };
        Self { recorder: Recorder::new(client.clone(), reporter), client, probe, failures: Mutex::default() }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The wait before retry number `failures` (1 = the first).
pub fn backoff(failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

fn key(service: &NtpService) -> String {
    format!("{}/{}", service.namespace().unwrap_or_default(), service.name_any())
}

/// The error policy: back off per resource.
pub fn error_policy(service: Arc<NtpService>, error: &Error, ctx: Arc<Context>) -> Action {
    let n = {
        let mut failures = ctx.failures();
        let n = failures.entry(key(&service)).or_insert(0);
        *n += 1;
        *n
    };
    let wait = backoff(n);
    warn!(resource = %key(&service), failures = n, retry_in = ?wait, "reconcile failed: {error}");
    Action::requeue(wait)
}

async fn publish(
    ctx: &Context,
    service: &NtpService,
    type_: EventType,
    reason: &str,
    note: String,
) -> Result<(), Error> {
    let event =
        Event { type_, reason: reason.to_owned(), note: Some(note), action: "Reconcile".to_owned(), secondary: None };
    ctx.recorder.publish(&event, &service.object_ref(&())).await?;
    Ok(())
}

/// One reconcile of `service`.
pub async fn reconcile(service: Arc<NtpService>, ctx: Arc<Context>) -> Result<Action, Error> {
    if service.metadata.deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove the objects.
        return Ok(Action::await_change());
    }
    let namespace = service.namespace().ok_or(Error::NoNamespace)?;
    let name = service.name_any();
    let client = ctx.client.clone();
    let clients: Api<NtpClient> = Api::namespaced(client.clone(), &namespace);
    let clients = clients.list(&ListParams::default()).await?.items;
    let previous = service.status.clone();
    let rendered = render(&service, &clients);
    let mut problems = Vec::new();
    let mut pods = Vec::new();
    let mut deleted = Vec::new();
    if let Ok(r) = &rendered {
        problems.extend(apply::apply(&client, &namespace, r).await?);
        let before = previous.as_ref().map(|p| p.objects.clone()).unwrap_or_default();
        deleted = apply::prune(&client, &namespace, &before, r).await?;
        problems.extend(apply::nts_certificate(&client, &namespace, r).await?);
        if r.enabled {
            let pod_api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
            pods = pods::reports(&pod_api, r, ctx.probe.as_ref()).await?;
        }
    }
    let observed = Observed { generation: service.metadata.generation, rendered: rendered.as_ref(), problems, pods };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new = status::status(previous.as_ref(), &observed, &now);
    let patch = serde_json::json!({"apiVersion": crate::resource::API_VERSION, "kind": "NTPService", "status": new});
    let services: Api<NtpService> = Api::namespaced(client.clone(), &namespace);
    services.patch_status(&name, &PatchParams::apply(crate::MANAGER).force(), &Patch::Apply(&patch)).await?;

    for (type_, reason, note) in events(previous.as_ref(), &new, &observed, &deleted) {
        publish(&ctx, &service, type_, &reason, note).await?;
    }
    ctx.failures().remove(&key(&service));
    info!(resource = %key(&service), objects = new.objects.len(), "reconciled");
    Ok(match &rendered {
        Ok(r) if r.enabled => Action::requeue(REFRESH),
        _ => Action::requeue(MAX_BACKOFF),
    })
}

/// The events worth publishing: a new generation applied (or refused),
/// objects deleted, a change of the Degraded condition.
pub fn events(
    previous: Option<&NtpServiceStatus>,
    new: &NtpServiceStatus,
    observed: &Observed<'_>,
    deleted: &[String],
) -> Vec<(EventType, String, String)> {
    let mut out = Vec::new();
    let new_generation = previous.and_then(|p| p.observed_generation) != observed.generation;
    match observed.rendered {
        Err(e) if new_generation => {
            let reason = new.condition("Reconciled").map_or("InvalidSpec", |c| c.reason.as_str());
            out.push((EventType::Warning, reason.to_owned(), e.to_string()));
        }
        Ok(r) if new_generation => {
            let what = if r.enabled { "applied" } else { "spec.enabled is false: applied without a workload" };
            out.push((EventType::Normal, "Applied".to_owned(), format!("{what}: {}", r.ids().join(", "))));
        }
        _ => {}
    }
    if !deleted.is_empty() {
        out.push((EventType::Normal, "Deleted".to_owned(), format!("no longer rendered: {}", deleted.join(", "))));
    }
    let was = previous.and_then(|p| p.condition("Degraded")).map(|c| (c.status.clone(), c.reason.clone()));
    if let Some(d) = new.condition("Degraded") {
        if d.status == "True" && was != Some((d.status.clone(), d.reason.clone())) {
            out.push((EventType::Warning, d.reason.clone(), d.message.clone()));
        }
    }
    out
}

/// Watches NTPServices (in `namespace`, or all) and runs the controller
/// until SIGTERM or Ctrl-C.
pub async fn run(client: Client, namespace: Option<String>, probe: Arc<dyn StatusProbe>) -> Result<(), Error> {
    let api = |c: &Client| -> Api<NtpService> {
        match &namespace {
            Some(ns) => Api::namespaced(c.clone(), ns),
            None => Api::all(c.clone()),
        }
    };
    let services = api(&client);
    // A clear error when the CRD is missing, instead of a watch that retries.
    services.list(&ListParams::default().limit(1)).await?;
    fn owned<K>(client: &Client, namespace: &Option<String>) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope> + Clone,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let mine = watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={}", crate::MANAGER));
    let ctx = Arc::new(Context::new(client.clone(), probe, std::env::var("POD_NAME").ok()));
    let ntp_clients: Api<NtpClient> = owned(&client, &namespace);
    info!(namespace = namespace.as_deref().unwrap_or("(all)"), "operator started");
    Controller::new(services, watcher::Config::default())
        .owns(owned::<ConfigMap>(&client, &namespace), mine.clone())
        .owns(owned::<ServiceAccount>(&client, &namespace), mine.clone())
        .owns(owned::<Service>(&client, &namespace), mine.clone())
        .owns(owned::<DaemonSet>(&client, &namespace), mine.clone())
        .owns(owned::<Deployment>(&client, &namespace), mine.clone())
        .owns(owned::<HorizontalPodAutoscaler>(&client, &namespace), mine.clone())
        .owns(owned::<PodDisruptionBudget>(&client, &namespace), mine)
        .watches(ntp_clients, watcher::Config::default(), |c: NtpClient| {
            let service = c.spec.get("serviceRef").and_then(serde_json::Value::as_str).map(str::to_owned);
            let namespace = c.namespace();
            service.map(|s| {
                let r = ObjectRef::<NtpService>::new(&s);
                match namespace {
                    Some(ns) => r.within(&ns),
                    None => r,
                }
            })
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!("controller: {e}");
            }
        })
        .await;
    info!("operator stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
