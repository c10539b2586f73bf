//! `GET /api/v1/history?range=hour|day`: the fixed-size history the status
//! page charts (see [`crate::status::history`]).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::model::HistoryRange;
use super::{error, ApiState};

#[derive(Deserialize)]
pub(super) struct HistoryQuery {
    range: Option<String>,
}

pub(super) async fn handler(State(st): State<ApiState>, Query(q): Query<HistoryQuery>) -> Response {
    let range = match q.range.as_deref() {
        None | Some("hour") => HistoryRange::Hour,
        Some("day") => HistoryRange::Day,
        Some(other) => {
            return error(StatusCode::BAD_REQUEST, &format!("range `{other}`: expected `hour` or `day`"));
        }
    };
    let doc = st.hub.history().lock().unwrap_or_else(|e| e.into_inner()).document(range);
    Json(doc).into_response()
}
