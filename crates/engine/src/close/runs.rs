//! Billing runs as records (`/billing-runs`): requested, executed (by a background task of the server, by the
//! `classbill worker` processes sharing it, or in-process by the CLI), and read back with their counts, their
//! failures and the workers that took part.

use classbill_store::billing_runs::{self as store_runs, FailureRow, RunRow};
use classbill_store::run_workers::{self, BillingWorkerRow, Participation, RunKind};
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::CloseOptions;
use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};
use crate::workers::{Entry, worker_name};

/// A period a run could not close.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingRunFailure {
    pub party_id: i64,
    pub period_id: i64,
    pub error: String,
}

/// A worker that took part in a billing run, with what it did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingRunWorker {
    /// The worker's host and process id.
    pub worker: String,
    /// `working`, `finished`, `failed`, or `lapsed` (it stopped renewing its lease; another worker took over).
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    pub periods_due: i64,
    pub periods_closed: i64,
    pub periods_failed: i64,
    pub invoices_issued: i64,
}

fn worker_view(row: BillingWorkerRow) -> EngineResult<BillingRunWorker> {
    Ok(BillingRunWorker {
        worker: row.worker,
        status: row.status,
        joined_at: instants::from_micros(row.joined_at)?,
        finished_at: row.finished_at.map(instants::from_micros).transpose()?,
        periods_due: row.periods_due,
        periods_closed: row.periods_closed,
        periods_failed: row.periods_failed,
        invoices_issued: row.invoices_issued,
    })
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
    /// The workers that took part, in the order they joined; the counts above are their sums. Present on a
    /// single run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<Vec<BillingRunWorker>>,
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
        workers: None,
    })
}

/// Records what one close batch of a run's participant did, in the batch's transaction: its counts on the
/// participant's row and its failures on the run. A participant killed later keeps what it committed.
/// `periods_due` counts the periods the batch took up to close (each closed or failed), not those a pass sees
/// due when it starts, so the participants' sums count each period once; only a period one participant failed
/// to close and another then tried again is due once per attempt, and failed or closed by each.
pub(super) async fn record_batch(
    tx: &mut Tx,
    participation: &Participation,
    batch: &super::BillingRunSummary,
) -> EngineResult<()> {
    for failure in &batch.failures {
        let row = FailureRow {
            party_id: failure.party_id,
            period_id: failure.period_id,
            error: failure.error.clone(),
        };
        store_runs::add_failure(tx, participation.run_id, &row).await?;
    }
    let counts = [
        batch.periods_due,
        batch.periods_closed,
        batch.periods_failed,
        batch.invoices_issued,
    ];
    run_workers::add_counts(tx, RunKind::Billing, participation.participant_id, counts).await?;
    Ok(())
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

    /// Takes run `id` if it is still queued and works on it until this process's share is done (other workers
    /// may join meanwhile, see [`crate::workers`]); `clock` tells when it starts, works and ends. A run some
    /// other process took first is a conflict.
    pub async fn execute_billing_run(
        &self,
        id: i64,
        clock: impl Fn() -> Timestamp,
    ) -> EngineResult<super::BillingRunSummary> {
        let Some(participation) = self
            .enter_run(RunKind::Billing, Entry::Take(id), &worker_name(), clock())
            .await?
        else {
            let mut tx = self.store.read().await?;
            return Err(match store_runs::get(&mut tx, id).await? {
                Some(_) => EngineError::conflict("run_taken", format!("billing run {id} is not queued")),
                None => EngineError::NotFound(format!("billing run {id} not found")),
            });
        };
        self.share_billing_run(participation, &clock).await
    }

    /// Runs one participant's billing pass under its lease, then ends its share. The pass has recorded each
    /// batch's counts and failures as the batch committed ([`record_batch`]), so ending only says how it went.
    pub(crate) async fn share_billing_run(
        &self,
        participation: Participation,
        clock: &impl Fn() -> Timestamp,
    ) -> EngineResult<super::BillingRunSummary> {
        let as_of = instants::from_micros(participation.as_of)?;
        let result = self
            .under_lease(
                RunKind::Billing,
                &participation,
                clock,
                self.run_billing_as(as_of, clock(), CloseOptions::default(), Some(&participation)),
            )
            .await;
        let error = result.as_ref().err().map(ToString::to_string);
        let mut tx = self.store.write().await?;
        let now = instants::to_micros(clock());
        run_workers::finish(&mut tx, RunKind::Billing, &participation, error.as_deref(), now).await?;
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
        let workers = run_workers::billing_workers(&mut tx, id)
            .await?
            .into_iter()
            .map(worker_view)
            .collect::<EngineResult<Vec<_>>>()?;
        let mut view = view_of(row)?;
        view.failures = Some(failures);
        view.workers = Some(workers);
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
