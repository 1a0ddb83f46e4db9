//! `/purges`: data retention, the xDR detail of closed and settled periods summarised (administrators).

use axum::extract::State;
use classbill_engine::retention::PurgeSummary;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_purge))
}

/// `POST /purges` body: `before`, `period_id`, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
struct PurgeRequest {
    /// Purge every closed, settled period ending by the start of this date in its party's time zone
    /// (`YYYY-MM-DD`; not after the `as_of` date).
    #[schema(value_type = Option<String>, format = Date)]
    before: Option<String>,
    /// Purge only this period; one that is not closed, not invoiced or not settled is 409.
    period_id: Option<i64>,
    /// The instant the purge acts at; absent = the server clock.
    #[schema(value_type = Option<String>, format = DateTime)]
    as_of: Option<String>,
}

/// Replace the xDR detail of closed, fully settled periods by one summary xDR per invoice line group; balances,
/// invoices, reports and statistics stay identical. Answers what was purged.
#[utoipa::path(post, path = "/purges", tag = "retention", request_body = PurgeRequest,
    responses((status = 200, body = PurgeSummary), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn post_purge(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<axum::Json<PurgeSummary>> {
    Ok(axum::Json(
        state.engine.purge_request(&actor, &body, Timestamp::now()).await?,
    ))
}
