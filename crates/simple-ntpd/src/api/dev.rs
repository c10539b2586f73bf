//! The development endpoints of seed 000's development profile, each off
//! unless its `[development]` key is on (then 404, like any unknown path;
//! the keys are read per request, so a reload turns them on or off at once):
//!
//! - `enable_debug_endpoints`: `GET /debug/state` (the full internal state,
//!   [`crate::status::debug`]); `GET /debug/log-level` and `PUT` (or `POST`)
//!   `{"level": "debug"}` to change the level at run time;
//! - `enable_test_endpoints`: `GET /test/fault` (faults in force), `POST
//!   /test/fault` to inject one for a bounded time ([`crate::faults`]),
//!   `DELETE /test/fault` to end them all early.
//!
//! Who may call them is decided by the access guard in [`super`]: loopback
//! clients, or any client presenting `monitoring.token` — never a client
//! admitted only by `monitoring.allow`. Every change is logged and audited.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ntp_config::LogLevel;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use super::{error, not_found, ApiState};
use crate::faults::{FaultRequest, Refusal, Setup};
use crate::status::debug;

/// The paths served here (for the access guard).
pub fn is_dev_path(path: &str) -> bool {
    path.starts_with("/debug/") || path.starts_with("/test/")
}

/// The routes, added to the API's router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/debug/state", get(debug_state))
        .route("/debug/log-level", get(log_level).put(set_log_level).post(set_log_level))
        .route("/test/fault", get(faults).post(inject).delete(end_faults))
}

fn debug_on(st: &ApiState) -> bool {
    st.hub.config().development.enable_debug_endpoints
}

fn test_on(st: &ApiState) -> bool {
    st.hub.config().development.enable_test_endpoints
}

async fn debug_state(State(st): State<ApiState>) -> Response {
    if !debug_on(&st) {
        return not_found().await;
    }
    Json(debug::state(&st.hub, st.log.level().as_str())).into_response()
}

fn level_document(st: &ApiState) -> serde_json::Value {
    json!({
        "level": st.log.level().as_str(),
        "configured": st.hub.config().logging.level().as_str(),
        "overridden_by_rust_log": crate::logging::overridden_by_env(),
    })
}

async fn log_level(State(st): State<ApiState>) -> Response {
    if !debug_on(&st) {
        return not_found().await;
    }
    Json(level_document(&st)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelRequest {
    level: LogLevel,
}

async fn set_log_level(
    State(st): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if !debug_on(&st) {
        return not_found().await;
    }
    let request: LevelRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("expected {{\"level\": \"debug\"}}: {e}")),
    };
    if crate::logging::overridden_by_env() {
        return error(StatusCode::CONFLICT, "RUST_LOG is set and decides what is logged; unset it to use this");
    }
    let before = st.log.level();
    if let Err(e) = st.log.set_level(request.level) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}"));
    }
    warn!(from = before.as_str(), to = request.level.as_str(), client = %peer, "log level changed at run time");
    st.hub.audit().record(
        "log_level_change",
        json!({ "from": before.as_str(), "to": request.level.as_str(), "client": peer.ip().to_string() }),
    );
    Json(level_document(&st)).into_response()
}

async fn faults(State(st): State<ApiState>) -> Response {
    if !test_on(&st) {
        return not_found().await;
    }
    Json(json!({ "faults": st.hub.faults().active() })).into_response()
}

async fn inject(State(st): State<ApiState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Bytes) -> Response {
    if !test_on(&st) {
        return not_found().await;
    }
    let request: FaultRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("not a fault request (docs/openapi.yaml): {e}")),
    };
    let sync = st.hub.sync();
    let setup = Setup {
        discipline: &sync.discipline,
        sources: sync.sources.iter().map(|s| (s.name.clone(), s.address.clone())).collect(),
    };
    match st.hub.faults().inject(request, &setup) {
        Ok(fault) => {
            st.hub.audit().record("test_fault_injected", json!({ "fault": fault, "client": peer.ip().to_string() }));
            (StatusCode::CREATED, Json(fault)).into_response()
        }
        Err(Refusal::Invalid(why)) => error(StatusCode::BAD_REQUEST, &why),
        Err(Refusal::NotApplicable(why)) => error(StatusCode::CONFLICT, &why),
    }
}

async fn end_faults(State(st): State<ApiState>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if !test_on(&st) {
        return not_found().await;
    }
    let ended = st.hub.faults().end_all();
    for f in &ended {
        info!(id = f.id, fault = f.request.fault.name(), client = %peer, "test fault ended on request");
        st.hub.audit().record(
            "test_fault_ended",
            json!({ "fault": f, "reason": "ended on request", "client": peer.ip().to_string() }),
        );
    }
    Json(json!({ "ended": ended })).into_response()
}
