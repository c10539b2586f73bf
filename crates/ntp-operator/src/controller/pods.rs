//! Reading what the workload's pods serve: list them through the API, then
//! ask each running pod's monitoring endpoint for `/api/v1/status` directly
//! (pod IP and port; with the resource's token when it has one). The HTTP
//! part sits behind [`StatusProbe`] so tests can stand in for the pods.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::future::BoxFuture;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::status::{DaemonStatus, PodReport};
use crate::render::Rendered;

/// How long one pod may take to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most bytes of a status document read.
const MAX_BODY: usize = 64 * 1024;

/// Asks one pod's daemon for its status.
pub trait StatusProbe: Send + Sync {
    /// `GET http://addr/api/v1/status`, with `token` as a bearer token.
    fn fetch<'a>(&'a self, addr: SocketAddr, token: Option<&'a str>) -> BoxFuture<'a, Result<DaemonStatus, String>>;
}

/// The real probe: plain HTTP/1.1 to the pod.
pub struct HttpProbe {
    client: HttpClient<HttpConnector, Empty<Bytes>>,
}

impl Default for HttpProbe {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(PROBE_TIMEOUT));
        Self { client: HttpClient::builder(TokioExecutor::new()).build(connector) }
    }
}

impl StatusProbe for HttpProbe {
    fn fetch<'a>(&'a self, addr: SocketAddr, token: Option<&'a str>) -> BoxFuture<'a, Result<DaemonStatus, String>> {
        Box::pin(async move {
            let mut request = hyper::Request::get(format!("http://{addr}/api/v1/status"));
            if let Some(t) = token {
                request = request.header("Authorization", format!("Bearer {t}"));
            }
            let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
            let exchange = async {
                let response = self.client.request(request).await.map_err(|e| format!("{e}"))?;
                let code = response.status();
                let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
                Ok::<_, String>((code, body))
            };
            let (code, body) = tokio::time::timeout(PROBE_TIMEOUT, exchange)
                .await
                .map_err(|_| format!("no answer from {addr} within {PROBE_TIMEOUT:?}"))??;
            if !code.is_success() {
                return Err(format!("{addr} answered {code}"));
            }
            if body.len() > MAX_BODY {
                return Err(format!("{addr} sent {} bytes, more than a status", body.len()));
            }
            serde_json::from_slice(&body).map_err(|e| format!("{addr}: not a status document: {e}"))
        })
    }
}

/// The workload's pods, and what each running one says.
pub async fn reports(
    pods: &Api<Pod>,
    rendered: &Rendered,
    probe: &dyn StatusProbe,
) -> Result<Vec<PodReport>, kube::Error> {
    let selector: Vec<String> = rendered.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let list = pods.list(&ListParams::default().labels(&selector.join(","))).await?;
    let mut out = Vec::new();
    for pod in list.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
        let ip = status.and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse::<IpAddr>().ok());
        let report = match (phase, ip, rendered.monitoring) {
            ("Running", Some(ip), Some(m)) => {
                probe.fetch(SocketAddr::new(ip, m.port()), rendered.token.as_deref()).await
            }
            ("Running", _, None) => Err("the monitoring endpoint is off or on loopback".to_owned()),
            ("Running", None, _) => Err("no pod IP yet".to_owned()),
            (phase, _, _) => Err(format!("pod is {phase}")),
        };
        out.push(PodReport { name, status: report });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
