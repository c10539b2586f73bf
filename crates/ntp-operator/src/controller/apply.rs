//! Bringing the cluster to the rendered objects: server-side apply of each
//! one with one field manager (forced, so hand edits of the fields the
//! operator owns are reverted), deletion of the objects it managed before
//! and renders no more, and the checks that need the API (the NTS
//! certificate Secret exists).

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::Client;

use super::status::Problem;
use crate::render::{certificate_api, Rendered};

/// The kinds the operator renders, for deleting by `Kind/name`.
fn api_for(kind: &str) -> Option<ApiResource> {
    use k8s_openapi::api::{apps::v1 as apps, autoscaling::v2 as autoscaling, core::v1 as core, policy::v1 as policy};
    Some(match kind {
        "ServiceAccount" => ApiResource::erase::<core::ServiceAccount>(&()),
        "ConfigMap" => ApiResource::erase::<core::ConfigMap>(&()),
        "Secret" => ApiResource::erase::<core::Secret>(&()),
        "Service" => ApiResource::erase::<core::Service>(&()),
        "DaemonSet" => ApiResource::erase::<apps::DaemonSet>(&()),
        "Deployment" => ApiResource::erase::<apps::Deployment>(&()),
        "HorizontalPodAutoscaler" => ApiResource::erase::<autoscaling::HorizontalPodAutoscaler>(&()),
        "PodDisruptionBudget" => ApiResource::erase::<policy::PodDisruptionBudget>(&()),
        "Certificate" => certificate_api(),
        _ => return None,
    })
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Applies every object; an object whose kind the cluster lacks (a
/// Certificate without cert-manager) is a problem, not an error.
pub async fn apply(client: &Client, namespace: &str, rendered: &Rendered) -> Result<Vec<Problem>, kube::Error> {
    let params = PatchParams::apply(crate::MANAGER).force();
    let mut problems = Vec::new();
    for object in &rendered.objects {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &object.api);
        match api.patch(&object.name, &params, &Patch::Apply(&object.value)).await {
            Ok(_) => {}
            Err(e) if object.api.kind == "Certificate" && not_found(&e) => problems.push(Problem {
                reason: "CertManagerMissing".to_owned(),
                message: format!("Certificate {} cannot be created: is cert-manager installed? ({e})", object.name),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(problems)
}

/// Deletes the objects of `previous` (`Kind/name`) that `rendered` no longer
/// has; returns the ones deleted.
pub async fn prune(
    client: &Client,
    namespace: &str,
    previous: &[String],
    rendered: &Rendered,
) -> Result<Vec<String>, kube::Error> {
    let current = rendered.ids();
    let mut deleted = Vec::new();
    for id in previous.iter().filter(|id| !current.contains(id)) {
        let Some((kind, name)) = id.split_once('/') else { continue };
        let Some(resource) = api_for(kind) else { continue };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => deleted.push(id.clone()),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

/// With NTS served from a Secret the user creates, whether it exists.
pub async fn nts_certificate(
    client: &Client,
    namespace: &str,
    rendered: &Rendered,
) -> Result<Option<Problem>, kube::Error> {
    let Some(secret) = &rendered.nts_secret else { return Ok(None) };
    if !rendered.enabled || rendered.objects.iter().any(|o| o.api.kind == "Certificate") {
        return Ok(None);
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    Ok(secrets.get_opt(secret).await?.is_none().then(|| Problem {
        reason: "NTSCertificateMissing".to_owned(),
        message: format!(
            "NTS is on but the TLS Secret {secret} does not exist; the pods wait for it: \
             kubectl -n {namespace} create secret tls {secret} --cert=chain.pem --key=key.pem \
             (or set spec.kubernetes.nts.certManager)"
        ),
    }))
}
