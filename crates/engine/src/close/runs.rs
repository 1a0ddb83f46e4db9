//! Billing runs as records (`/billing-runs`): requested, executed (by a background task of the server or
//! in-process by the CLI), and read back with their counts and failures.

use classbill_store::billing_runs::{self as store_runs, FailureRow, RunOutcome, RunRow};
use classbill_store::instants;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

/// A period a run could not close.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingRunFailure {
    pub party_id: i64,
    pub period_id: i64,
    pub error: String,
}

/// A billing run as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingRunView {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    pub periods_due: i64,
    pub periods_closed: i64,
    pub periods_failed: i64,
    pub invoices_issued: i64,
    /// Why the run as a whole stopped, if it did.
    pub error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// Present on a single run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<Vec<BillingRunFailure>>,
}

fn view_of(row: RunRow) -> EngineResult<BillingRunView> {
    Ok(BillingRunView {
        id: row.id,
        as_of: instants::from_micros(row.as_of)?,
        status: row.status,
        periods_due: row.periods_due,
        periods_closed: row.periods_closed,
        periods_failed: row.periods_failed,
        invoices_issued: row.invoices_issued,
        error: row.error,
        started_at: row.started_at.map(instants::from_micros).transpose()?,
        finished_at: row.finished_at.map(instants::from_micros).transpose()?,
        failures: None,
    })
}

fn require_administrator(actor: &Actor) -> EngineResult<()> {
    if actor.is_administrator() {
        Ok(())
    } else {
        Err(EngineError::forbidden(
            "billing runs are managed by administrators only",
        ))
    }
}

impl crate::Engine {
    /// `POST /billing-runs`: records a queued run; [`crate::Engine::execute_billing_run`] does the work.
    pub async fn request_billing_run(
        &self,
        actor: &Actor,
        as_of: Timestamp,
        now: Timestamp,
    ) -> EngineResult<BillingRunView> {
        require_administrator(actor)?;
        let mut tx = self.store.write().await?;
        let id = store_runs::insert(&mut tx, instants::to_micros(as_of), instants::to_micros(now)).await?;
        let row = store_runs::get(&mut tx, id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("billing run {id} not found")))?;
        tx.commit().await?;
        view_of(row)
    }

    /// Runs a queued billing run to its end and records its outcome; `clock` tells when it starts, works and ends.
    pub async fn execute_billing_run(
        &self,
        id: i64,
        clock: impl Fn() -> Timestamp,
    ) -> EngineResult<super::BillingRunSummary> {
        let as_of = {
            let mut tx = self.store.write().await?;
            let row = store_runs::get(&mut tx, id)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("billing run {id} not found")))?;
            store_runs::start(&mut tx, id, instants::to_micros(clock())).await?;
            tx.commit().await?;
            instants::from_micros(row.as_of)?
        };
        let result = self.run_billing(as_of, clock()).await;
        let mut tx = self.store.write().await?;
        let (outcome, summary) = match &result {
            Ok(summary) => (
                RunOutcome {
                    status: "completed".to_owned(),
                    periods_due: summary.periods_due,
                    periods_closed: summary.periods_closed,
                    periods_failed: summary.periods_failed,
                    invoices_issued: summary.invoices_issued,
                    error: None,
                },
                Some(summary),
            ),
            Err(error) => (
                RunOutcome {
                    status: "failed".to_owned(),
                    periods_due: 0,
                    periods_closed: 0,
                    periods_failed: 0,
                    invoices_issued: 0,
                    error: Some(error.to_string()),
                },
                None,
            ),
        };
        for failure in summary.map(|s| s.failures.as_slice()).unwrap_or_default() {
            let row = FailureRow {
                party_id: failure.party_id,
                period_id: failure.period_id,
                error: failure.error.clone(),
            };
            store_runs::add_failure(&mut tx, id, &row).await?;
        }
        store_runs::finish(&mut tx, id, &outcome, instants::to_micros(clock())).await?;
        tx.commit().await?;
        result
    }

    /// `GET /billing-runs/{id}` with its failures.
    pub async fn get_billing_run(&self, actor: &Actor, id: i64) -> EngineResult<BillingRunView> {
        require_administrator(actor)?;
        let mut tx = self.store.read().await?;
        let row = store_runs::get(&mut tx, id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("billing run {id} not found")))?;
        let failures = store_runs::failures(&mut tx, id)
            .await?
            .into_iter()
            .map(|f| BillingRunFailure {
                party_id: f.party_id,
                period_id: f.period_id,
                error: f.error,
            })
            .collect();
        let mut view = view_of(row)?;
        view.failures = Some(failures);
        Ok(view)
    }

    /// `GET /billing-runs`, in id order.
    pub async fn list_billing_runs(&self, actor: &Actor, page: PageRequest) -> EngineResult<Page<BillingRunView>> {
        require_administrator(actor)?;
        let mut tx = self.store.read().await?;
        let rows = store_runs::list(&mut tx, page.cursor_id()?, page.limit + 1).await?;
        let views = rows.into_iter().map(view_of).collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }
}
