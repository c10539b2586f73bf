//! The management HTTP endpoint (`[monitoring]`): Prometheus `/metrics`,
//! `/healthz`, `/readyz`, the JSON API under `/api/v1/` and the status page
//! at `/` ([`page`]).
//!
//! Access:
//! - the probes `/healthz` and `/readyz` answer every client: kubelets, load
//!   balancers and container runtimes probe from addresses the operator does
//!   not choose and cannot present a secret without writing it into a pod
//!   spec, and the probe documents carry nothing an NTP query on port 123
//!   does not tell (synchronised or not, serving mode, crossed thresholds);
//! - with `monitoring.token` set, everything else needs `Authorization:
//!   Bearer <token>` (401 otherwise; the status page alone may carry it as
//!   `/?token=`, see [`page`]) and a valid token admits a client from any
//!   address;
//! - without a token, loopback clients and `monitoring.allow` networks are
//!   admitted, other clients get 403;
//! - the development endpoints ([`dev`]: `/debug/*`, `/test/*`) admit
//!   loopback clients, or any client with the token: `monitoring.allow`
//!   alone does not open them.
//!
//! Every request is logged at debug level (method, path without the query,
//! client, status); with a token configured, every request but the probes
//! is also written to the audit log (`api_access`, with whether the token
//! was valid, invalid or missing — never the token).
//!
//! Binding a non-loopback address with neither `allow` nor `token` (only the
//! probes would be reachable from other hosts) is refused by configuration
//! validation.

mod dev;
mod history;
pub mod metrics;
pub mod model;
mod page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ipnet::IpNet;
use serde::Deserialize;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::logging::LogHandle;
use crate::status::{views, StatusHub};

#[derive(Clone)]
struct ApiState {
    hub: Arc<StatusHub>,
    log: LogHandle,
    allow: Arc<Vec<IpNet>>,
    token: Option<Arc<str>>,
}

/// A running HTTP endpoint; dropping the handle leaves it running, `stop`
/// ends it.
pub struct ApiServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

/// Binds `addr` and serves the API from the current runtime.
pub async fn start(
    hub: Arc<StatusHub>,
    log: LogHandle,
    addr: SocketAddr,
    allow: Vec<IpNet>,
    token: Option<String>,
) -> anyhow::Result<ApiServer> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for the monitoring API on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let state = ApiState { hub, log, allow: Arc::new(allow), token: token.map(Arc::from) };
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(status))
        .route("/api/v1/sources", get(sources))
        .route("/api/v1/clients", get(clients))
        .route("/api/v1/serverstats", get(serverstats))
        .route("/api/v1/config", get(config))
        .route("/api/v1/history", get(history::handler))
        .route("/", get(page::handler))
        .merge(dev::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
        if let Err(e) = serve.await {
            warn!(error = %e, "monitoring API stopped with an error");
        }
    });
    info!(address = %bound, "monitoring API listening");
    Ok(ApiServer { addr: bound, stop: Some(stop_tx), task })
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

fn token_matches(expected: &str, headers: &HeaderMap) -> bool {
    let Some(given) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    same_token(expected, given)
}

/// Constant-time comparison of equal-length strings.
fn same_token(expected: &str, given: &str) -> bool {
    given.len() == expected.len() && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn guard(
    State(st): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if matches!(path.as_str(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let token = st.token.as_ref().map(|t| {
        if token_matches(t, request.headers()) || page::opened_with_token(t, &request) {
            "valid"
        } else if request.headers().contains_key(header::AUTHORIZATION) || page::offers_token(&request) {
            "invalid"
        } else {
            "missing"
        }
    });
    let response = admit(&st, peer, token, &path, request, next).await;
    let status = response.status().as_u16();
    debug!(method = %method, path = %path, client = %peer, status, "API request");
    if let Some(token) = token {
        st.hub.audit().record(
            "api_access",
            serde_json::json!({
                "method": method.as_str(),
                "path": path,
                "client": canonical_ip(peer.ip()).to_string(),
                "token": token,
                "status": status,
            }),
        );
    }
    response
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The access rules of the module doc; `token` is how the token presented
/// compares with `monitoring.token` (None: no token configured).
async fn admit(
    st: &ApiState,
    peer: SocketAddr,
    token: Option<&str>,
    path: &str,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = token {
        if token != "valid" {
            return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token (monitoring.token)");
        }
        return next.run(request).await;
    }
    let ip = canonical_ip(peer.ip());
    if dev::is_dev_path(path) {
        if !ip.is_loopback() {
            return error(
                StatusCode::FORBIDDEN,
                "development endpoints answer loopback clients only, or any client with monitoring.token",
            );
        }
    } else if !ip.is_loopback() && !st.allow.iter().any(|n| n.contains(&ip)) {
        return error(StatusCode::FORBIDDEN, "client address not allowed by monitoring.allow");
    }
    next.run(request).await
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint; see docs/openapi.yaml")
}

async fn metrics_handler(State(st): State<ApiState>) -> Response {
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics::render(&st.hub)).into_response()
}

async fn healthz(State(st): State<ApiState>) -> Response {
    (StatusCode::OK, Json(views::liveness(&st.hub))).into_response()
}

async fn readyz(State(st): State<ApiState>) -> Response {
    let probe = views::readiness(&st.hub);
    let code = if probe.ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(probe)).into_response()
}

async fn status(State(st): State<ApiState>) -> Json<model::Status> {
    Json(views::status(&st.hub))
}

async fn sources(State(st): State<ApiState>) -> Json<model::Sources> {
    Json(model::Sources { sources: st.hub.sync().sources.clone() })
}

#[derive(Deserialize)]
struct ClientsQuery {
    limit: Option<usize>,
}

async fn clients(State(st): State<ApiState>, Query(q): Query<ClientsQuery>) -> Json<model::Clients> {
    Json(views::clients(&st.hub, q.limit.unwrap_or(50).min(10_000)))
}

async fn serverstats(State(st): State<ApiState>) -> Json<model::ServerStats> {
    Json(views::server_stats(&st.hub))
}

async fn config(State(st): State<ApiState>) -> Response {
    match serde_json::to_value(st.hub.config().redacted()) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("configuration cannot be shown: {e}")),
    }
}
