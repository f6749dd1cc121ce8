//! `/api/v1/reports/utilization`: the seed's utilization report, per server type and
//! in total, as JSON or CSV.

use super::ApiError;
use super::extract::{ApiResult, Caller, need};
use app::backend::Backend;
use app::domain::ServerState;
use app::model::UtilizationRow;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;

/// The report: one row per server type (`server_type` null: not typed yet) and the
/// totals.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UtilizationOut {
    server_types: Vec<UtilizationRowOut>,
    totals: UtilizationRowOut,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UtilizationRowOut {
    server_type: Option<String>,
    /// Servers per state (every state, by its snake_case name).
    counts: BTreeMap<&'static str, i64>,
    total: i64,
    /// used / (total - decommissioned - removed_from_rack); 0 when nothing is in the fleet.
    utilization: f64,
}

impl From<&UtilizationRow> for UtilizationRowOut {
    fn from(r: &UtilizationRow) -> Self {
        UtilizationRowOut {
            server_type: r.server_type.clone(),
            counts: ServerState::ALL.iter().zip(r.counts).map(|(s, n)| (s.as_str(), n)).collect(),
            total: r.total,
            utilization: r.utilization,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/reports/utilization", tag = "reports", security(("bearer" = [])), responses((status = 200, body = UtilizationOut, description = "CSV instead with `Accept: text/csv`"), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn utilization(
    State(backend): State<Backend>,
    _: Caller<need::ViewFleet>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let u = backend.utilization().await?;
    let wants_csv = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], u.to_csv()).into_response());
    }
    let out = UtilizationOut { server_types: u.rows.iter().map(Into::into).collect(), totals: (&u.totals).into() };
    Ok(Json(out).into_response())
}
