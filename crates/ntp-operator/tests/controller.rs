//! The controller's API traffic, against kube-rs's mock service
//! (`tower-test`) standing in for the API server: one reconcile of seed
//! 002's NTPService creates its objects by server-side apply (one field
//! manager, forced so a hand edit is reverted on the next reconcile), writes
//! the status from the pods' `/api/v1/status`, prunes what `spec.enabled:
//! false` no longer renders, leaves a deleted resource to the garbage
//! collector, and an API error fails the reconcile so the error policy
//! backs off.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::Client;
use ntp_operator::controller::pods::StatusProbe;
use ntp_operator::controller::status::{DaemonStatus, Health};
use ntp_operator::controller::{error_policy, reconcile, Context, FIRST_BACKOFF, REFRESH};
use ntp_operator::{NtpService, NtpServiceStatus};
use serde_json::{json, Value};

/// One request the controller sent.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    query: String,
    body: Value,
}

impl Call {
    fn is(&self, method: &Method, suffix: &str) -> bool {
        self.method == method && self.path.ends_with(suffix)
    }
}

/// What the fake API server holds.
#[derive(Clone, Default)]
struct Cluster {
    /// The NTS Secret exists.
    nts_secret: bool,
    /// Pods of the workload, as `(name, phase, ip)`.
    pods: Vec<(&'static str, &'static str, &'static str)>,
    /// Every PATCH of a workload fails with this code.
    fail_workload: Option<u16>,
}

fn status_object(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": if code < 300 {"Success"} else {"Failure"},
           "message": reason, "reason": reason, "code": code})
}

fn answer(cluster: &Cluster, call: &Call) -> (u16, Value) {
    let path = call.path.as_str();
    match call.method {
        Method::GET if path.ends_with("/ntpclients") => {
            (200, json!({"apiVersion": "ntp.fos1.io/v1alpha1", "kind": "NTPClientList", "metadata": {}, "items": []}))
        }
        Method::GET if path.contains("/secrets/") => {
            if cluster.nts_secret {
                let name = path.rsplit('/').next().unwrap();
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "kubernetes.io/tls"}),
                )
            } else {
                (404, status_object(404, "NotFound"))
            }
        }
        Method::GET if path.ends_with("/pods") => {
            let items: Vec<Value> = cluster
                .pods
                .iter()
                .map(|(name, phase, ip)| {
                    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                           "status": {"phase": phase, "podIP": ip}})
                })
                .collect();
            (200, json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}))
        }
        Method::PATCH if cluster.fail_workload.is_some() && path.contains("/daemonsets/") => {
            let code = cluster.fail_workload.unwrap();
            (code, status_object(code, "InternalError"))
        }
        Method::PATCH | Method::POST => {
            let mut echo = call.body.clone();
            if echo.get("metadata").is_none() {
                echo["metadata"] = json!({});
            }
            (if call.method == Method::POST { 201 } else { 200 }, echo)
        }
        Method::DELETE => (200, status_object(200, "Deleted")),
        _ => (404, status_object(404, "NotFound")),
    }
}

/// A client whose API server is `cluster`; the calls it made are in the
/// returned list.
fn mock(cluster: Cluster) -> (Client, Arc<Mutex<Vec<Call>>>, tokio::task::JoinHandle<()>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let server = tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let call = Call {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (code, value) = answer(&cluster, &call);
            seen.lock().unwrap().push(call);
            let response = Response::builder()
                .status(StatusCode::from_u16(code).unwrap())
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&value).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    });
    (Client::new(service, "default"), calls, server)
}

/// Pods that answer like a synchronised stratum-2 daemon, except the one at
/// 10.0.0.3 which lags.
struct FakePods;

impl StatusProbe for FakePods {
    fn fetch<'a>(&'a self, addr: SocketAddr, _: Option<&'a str>) -> BoxFuture<'a, Result<DaemonStatus, String>> {
        Box::pin(async move {
            let lagging = addr.ip().to_string() == "10.0.0.3";
            Ok(DaemonStatus {
                synchronised: !lagging,
                stratum: if lagging { 16 } else { 2 },
                offset_seconds: 0.000_25,
                sources_selectable: 3,
                health: Health { state: if lagging { "warning" } else { "ok" }.to_owned(), reasons: Vec::new() },
            })
        })
    }
}

fn seed_002() -> NtpService {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed002/ntpservice.yaml");
    let value: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut s: NtpService = serde_json::from_value(value).unwrap();
    s.metadata.namespace = Some("network".to_owned());
    s.metadata.uid = Some("5f2c6a9e-0000-4000-8000-000000000002".to_owned());
    s.metadata.generation = Some(1);
    s
}

async fn run(service: NtpService, cluster: Cluster) -> (Result<Action, String>, Vec<Call>) {
    let (client, calls, server) = mock(cluster);
    let ctx = Arc::new(Context::new(client, Arc::new(FakePods), Some("operator-0".to_owned())));
    let result = reconcile(Arc::new(service), ctx).await.map_err(|e| e.to_string());
    server.abort();
    let calls = calls.lock().unwrap().clone();
    (result, calls)
}

fn applied(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.method == Method::PATCH && !c.path.ends_with("/status") && !c.path.contains("/events/"))
        .map(|c| format!("{}/{}", c.body["kind"].as_str().unwrap(), c.body["metadata"]["name"].as_str().unwrap()))
        .collect()
}

fn status_patch(calls: &[Call]) -> NtpServiceStatus {
    let call = calls.iter().find(|c| c.is(&Method::PATCH, "/ntpservices/main-ntp/status")).expect("a status patch");
    assert!(call.query.contains("fieldManager=simple-ntpd-operator"), "{}", call.query);
    serde_json::from_value(call.body["status"].clone()).unwrap()
}

fn events(calls: &[Call]) -> Vec<(String, String)> {
    calls
        .iter()
        .filter(|c| c.method == Method::POST && c.path.ends_with("/events"))
        .map(|c| (c.body["type"].as_str().unwrap().to_owned(), c.body["reason"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn create_applies_every_object_and_reports_the_pods() {
    let cluster = Cluster {
        nts_secret: true,
        pods: vec![("main-ntp-a", "Running", "10.0.0.1"), ("main-ntp-b", "Running", "10.0.0.2")],
        ..Cluster::default()
    };
    let (result, calls) = run(seed_002(), cluster).await;
    assert_eq!(result.unwrap(), Action::requeue(REFRESH));
    assert_eq!(
        applied(&calls),
        [
            "ServiceAccount/main-ntp",
            "Secret/main-ntp-secrets",
            "ConfigMap/main-ntp-config",
            "Service/main-ntp",
            "DaemonSet/main-ntp"
        ]
    );
    for c in calls.iter().filter(|c| c.method == Method::PATCH) {
        // Server-side apply, one field manager, forced: a field edited by
        // hand goes back to the rendered value on the next reconcile.
        assert!(c.query.contains("fieldManager=simple-ntpd-operator") && c.query.contains("force=true"), "{c:?}");
        assert!(c.path.contains("/namespaces/network/"), "{c:?}");
    }
    for c in calls.iter().filter(|c| c.method == Method::PATCH && !c.path.ends_with("/status")) {
        assert_eq!(c.body["metadata"]["ownerReferences"][0]["uid"], "5f2c6a9e-0000-4000-8000-000000000002");
    }
    assert!(calls.iter().any(|c| c.is(&Method::GET, "/secrets/main-ntp-nts-tls")));
    let status = status_patch(&calls);
    assert_eq!(status.observed_generation, Some(1));
    let condition = |t: &str| status.condition(t).map(|c| (c.status.clone(), c.reason.clone())).unwrap();
    assert_eq!(condition("Reconciled"), ("True".to_owned(), "Applied".to_owned()));
    assert_eq!(condition("Ready"), ("True".to_owned(), "Synchronised".to_owned()));
    assert_eq!(status.synchronised.as_deref(), Some("2/2"));
    assert_eq!((status.stratum, status.sources, status.pods), (Some(2), Some(3), Some(2)));
    assert_eq!(status.objects.len(), 5);
    let events = events(&calls);
    assert!(events.contains(&("Normal".to_owned(), "Applied".to_owned())), "{events:?}");
}

#[tokio::test]
async fn a_missing_certificate_and_a_lagging_pod_degrade_the_resource() {
    let cluster = Cluster {
        nts_secret: false,
        pods: vec![("main-ntp-a", "Running", "10.0.0.1"), ("main-ntp-c", "Running", "10.0.0.3")],
        ..Cluster::default()
    };
    let (result, calls) = run(seed_002(), cluster).await;
    result.unwrap();
    let status = status_patch(&calls);
    let ready = status.condition("Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "NotSynchronised"));
    assert_eq!(status.synchronised.as_deref(), Some("1/2"));
    let degraded = status.condition("Degraded").unwrap();
    assert_eq!((degraded.status.as_str(), degraded.reason.as_str()), ("True", "NTSCertificateMissing"));
    assert!(degraded.message.contains("kubectl -n network create secret tls main-ntp-nts-tls"), "{}", degraded.message);
    assert!(degraded.message.contains("main-ntp-c is warning"), "{}", degraded.message);
    let events = events(&calls);
    assert!(events.contains(&("Warning".to_owned(), "NTSCertificateMissing".to_owned())), "{events:?}");
}

#[tokio::test]
async fn disabling_deletes_the_workload_and_keeps_the_rest() {
    let mut service = seed_002();
    service.spec["enabled"] = json!(false);
    service.metadata.generation = Some(2);
    let mut before = NtpServiceStatus { observed_generation: Some(1), ..NtpServiceStatus::default() };
    before.objects = [
        "ServiceAccount/main-ntp",
        "Secret/main-ntp-secrets",
        "ConfigMap/main-ntp-config",
        "Service/main-ntp",
        "DaemonSet/main-ntp",
    ]
    .map(str::to_owned)
    .to_vec();
    service.status = Some(before);
    let (result, calls) = run(service, Cluster { nts_secret: true, ..Cluster::default() }).await;
    result.unwrap();
    assert_eq!(applied(&calls), ["ServiceAccount/main-ntp", "Secret/main-ntp-secrets", "ConfigMap/main-ntp-config"]);
    let deleted: Vec<&str> = calls.iter().filter(|c| c.method == Method::DELETE).map(|c| c.path.as_str()).collect();
    assert_eq!(
        deleted,
        ["/api/v1/namespaces/network/services/main-ntp", "/apis/apps/v1/namespaces/network/daemonsets/main-ntp"]
    );
    assert!(!calls.iter().any(|c| c.path.ends_with("/pods")), "no pods are looked for");
    let status = status_patch(&calls);
    assert_eq!(status.observed_generation, Some(2));
    let ready = status.condition("Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "Disabled"));
    assert_eq!(status.objects.len(), 3);
    let events = events(&calls);
    assert!(events.contains(&("Normal".to_owned(), "Deleted".to_owned())), "{events:?}");
}

#[tokio::test]
async fn an_invalid_spec_applies_nothing_and_says_why() {
    let mut service = seed_002();
    service.spec["ntpServer"] = json!({"stratum": "two"});
    let (result, calls) = run(service, Cluster::default()).await;
    result.unwrap();
    assert!(applied(&calls).is_empty(), "{:?}", applied(&calls));
    let status = status_patch(&calls);
    let reconciled = status.condition("Reconciled").unwrap();
    assert_eq!((reconciled.status.as_str(), reconciled.reason.as_str()), ("False", "InvalidSpec"));
    assert!(reconciled.message.contains("stratum"), "{}", reconciled.message);
    let events = events(&calls);
    assert!(events.contains(&("Warning".to_owned(), "InvalidSpec".to_owned())), "{events:?}");
}

#[tokio::test]
async fn a_deleted_resource_is_left_to_the_garbage_collector() {
    let mut service = seed_002();
    service.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()));
    let (result, calls) = run(service, Cluster::default()).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert!(calls.is_empty(), "{calls:?}");
}

#[tokio::test]
async fn an_api_error_fails_the_reconcile_and_backs_off() {
    let cluster = Cluster { nts_secret: true, fail_workload: Some(500), ..Cluster::default() };
    let (client, _calls, server) = mock(cluster);
    let ctx = Arc::new(Context::new(client, Arc::new(FakePods), None));
    let service = Arc::new(seed_002());
    let error = reconcile(service.clone(), ctx.clone()).await.unwrap_err();
    assert!(error.to_string().contains("InternalError"), "{error}");
    assert_eq!(error_policy(service.clone(), &error, ctx.clone()), Action::requeue(FIRST_BACKOFF));
    assert_eq!(error_policy(service, &error, ctx), Action::requeue(FIRST_BACKOFF * 2));
    server.abort();
}
