//! Collection runs (`/collection-runs`, `classbill collections`, the scheduler): fire every event due at or
//! before `as_of` (§5.8 rule 2), party by party in batches with one transaction each. On PostgreSQL the
//! parties are claimed with `SKIP LOCKED`, so concurrent runs split them and no event fires twice: an event
//! is settled exactly once, under its party's claim; this is also how the workers sharing one run
//! ([`crate::workers`]) split its parties, and how the two lanes of one run on PostgreSQL do. A second sweep
//! then waits for the parties still due, which another transaction held when the first came by.

use std::sync::{Mutex, PoisonError};

use classbill_store::close::Held;
use classbill_store::collections::{self as store_collections, RunRow};
use classbill_store::run_workers::{self, Participation, RunKind};
use classbill_store::{Tx, close as store_close, instants};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::fire::{Outcome, fire, hold_periods_for_terminations};
use super::review::approve;
use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::notifications::EmitCache;
use crate::page::{Page, PageRequest};
use crate::workers::{Entry, worker_name};

/// The firing part of a collection run, walked by its lanes from one cursor.
struct FiringSweep<'a> {
    /// The last party id claimed.
    after: tokio::sync::Mutex<i64>,
    /// Whether a party another transaction holds is passed over or waited for.
    held: Held,
    summary: &'a Mutex<CollectionRunSummary>,
    as_of: Timestamp,
    now: Timestamp,
    /// Parties per batch.
    batch: i64,
    participant: Option<&'a Participation>,
    committed: &'a (dyn Fn() + Sync),
}

/// Parties per transaction unless the caller chooses otherwise.
pub const DEFAULT_COLLECTION_BATCH: usize = 200;

/// How a collection run goes about its work.
#[derive(Clone, Copy)]
pub struct CollectionOptions<'a> {
    /// Parties per transaction (at least 1).
    pub batch_size: usize,
    /// Told after every commit, so that crash tests can stop the process between two of them.
    pub on_commit: Option<&'a (dyn Fn() + Send + Sync)>,
}

impl Default for CollectionOptions<'_> {
    fn default() -> Self {
        CollectionOptions {
            batch_size: DEFAULT_COLLECTION_BATCH,
            on_commit: None,
        }
    }
}

/// What one collection run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CollectionRunSummary {
    /// Events due at `as_of` that this run settled.
    pub events_due: i64,
    pub events_fired: i64,
    /// Due events whose condition did not hold (§5.9 `dropped`).
    pub events_dropped: i64,
    /// Invoices approved automatically after their `review_hold_days`.
    pub approvals: i64,
}

impl CollectionRunSummary {
    /// Adds a committed batch's counts to those of its pass.
    fn add(&mut self, batch: &CollectionRunSummary) {
        self.events_due += batch.events_due;
        self.events_fired += batch.events_fired;
        self.events_dropped += batch.events_dropped;
        self.approvals += batch.approvals;
    }
}

/// Adds what one batch did to the counts of the run's participant running it, if any, in the batch's
/// transaction: a participant killed later keeps what it committed.
async fn record_batch(
    tx: &mut Tx,
    participant: Option<&Participation>,
    batch: &CollectionRunSummary,
) -> EngineResult<()> {
    let Some(participation) = participant else {
        return Ok(());
    };
    let counts = [
        batch.events_due,
        batch.events_fired,
        batch.events_dropped,
        batch.approvals,
    ];
    run_workers::add_counts(tx, RunKind::Collection, participation.participant_id, counts).await?;
    Ok(())
}

/// A collection run as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectionRunView {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    pub events_due: i64,
    pub events_fired: i64,
    pub events_dropped: i64,
    pub approvals: i64,
    /// Why the run stopped, if it failed.
    pub error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}

fn view_of(row: RunRow) -> EngineResult<CollectionRunView> {
    Ok(CollectionRunView {
        id: row.id,
        as_of: instants::from_micros(row.as_of)?,
        status: row.status,
        events_due: row.events_due,
        events_fired: row.events_fired,
        events_dropped: row.events_dropped,
        approvals: row.approvals,
        error: row.error,
        started_at: row.started_at.map(instants::from_micros).transpose()?,
        finished_at: row.finished_at.map(instants::from_micros).transpose()?,
    })
}

fn require_administrator(actor: &Actor) -> EngineResult<()> {
    if actor.is_administrator() {
        Ok(())
    } else {
        Err(EngineError::forbidden(
            "collection runs are managed by administrators only",
        ))
    }
}

fn not_found(id: i64) -> EngineError {
    EngineError::NotFound(format!("collection run {id} not found"))
}

impl crate::Engine {
    /// Fires every schedule event due at or before `as_of`, each with its own date.
    pub async fn run_collections(&self, as_of: Timestamp, now: Timestamp) -> EngineResult<CollectionRunSummary> {
        self.run_collections_with(as_of, now, CollectionOptions::default())
            .await
    }

    /// [`crate::Engine::run_collections`] in batches of `options.batch_size` parties, reporting each commit.
    pub async fn run_collections_with(
        &self,
        as_of: Timestamp,
        now: Timestamp,
        options: CollectionOptions<'_>,
    ) -> EngineResult<CollectionRunSummary> {
        self.run_collections_as(as_of, now, options, None).await
    }

    /// [`crate::Engine::run_collections_with`] as `participant` of a collection run, when there is one (the
    /// CLI's `collections` and the scheduler run without a run record): each batch then adds its counts to the
    /// participant's in the transaction that commits its work.
    async fn run_collections_as(
        &self,
        as_of: Timestamp,
        now: Timestamp,
        options: CollectionOptions<'_>,
        participant: Option<&Participation>,
    ) -> EngineResult<CollectionRunSummary> {
        let batch = i64::try_from(options.batch_size.max(1)).unwrap_or(i64::MAX);
        let committed = || {
            if let Some(on_commit) = options.on_commit {
                on_commit();
            }
        };
        let as_of_us = instants::to_micros(as_of);
        let mut summary = CollectionRunSummary::default();
        // Automatic approvals first: what they release then fires in the same run.
        let mut after = 0;
        loop {
            let mut tx = self.store.write().await?;
            let due = store_collections::reviews_due(&mut tx, after, as_of_us, batch).await?;
            let Some(last) = due.last() else {
                break;
            };
            after = last.id;
            let parties: Vec<i64> = due.iter().map(|review| review.party_id).collect();
            let claimed = store_close::claim_parties(&mut tx, &parties, Held::Skip).await?;
            let approved: Vec<i64> = due
                .iter()
                .filter(|review| claimed.contains(&review.party_id))
                .map(|review| review.id)
                .collect();
            hold_periods_for_terminations(&mut tx, &approved, as_of_us).await?;
            let mut batch = CollectionRunSummary::default();
            for review in due.iter().filter(|review| claimed.contains(&review.party_id)) {
                let at = instants::from_micros(review.review_due_at)?;
                if approve(&mut tx, review.id, "auto_approved", at, now).await? {
                    batch.approvals += 1;
                }
            }
            record_batch(&mut tx, participant, &batch).await?;
            tx.commit().await?;
            summary.add(&batch);
            committed();
        }
        let summary = Mutex::new(summary);
        // The first sweep passes over parties other transactions hold; the second waits for those still due, so a
        // party that a payment, a concurrent run or a killed process's lingering transaction held at that moment is
        // not left out of a run that reports itself completed. Parties the first sweep settled are no longer due.
        for held in [Held::Skip, Held::Wait] {
            let sweep = FiringSweep {
                after: tokio::sync::Mutex::new(0),
                held,
                summary: &summary,
                as_of,
                now,
                batch,
                participant,
                committed: &committed,
            };
            self.in_lanes(|| self.firing_lane(&sweep)).await?;
        }
        Ok(summary.into_inner().unwrap_or_else(PoisonError::into_inner))
    }

    /// One lane of the firing sweep: claims the next batch of parties with due events after the sweep's cursor and
    /// fires their events in one transaction, until no party is left. On PostgreSQL two lanes (`Store::writers`)
    /// take consecutive batches and fire them side by side; a party's events stay in one batch, in their order.
    async fn firing_lane(&self, sweep: &FiringSweep<'_>) -> EngineResult<()> {
        let as_of_us = instants::to_micros(sweep.as_of);
        loop {
            let mut tx = self.store.write().await?;
            let claimed = {
                // Held across the claim, so that the lanes' batches follow one another in id order.
                let mut after = sweep.after.lock().await;
                let candidates = store_collections::parties_due(&mut tx, *after, as_of_us, sweep.batch).await?;
                let Some(&last) = candidates.last() else {
                    return Ok(());
                };
                *after = last;
                store_close::claim_parties(&mut tx, &candidates, sweep.held).await?
            };
            let items = store_collections::due_items(&mut tx, &claimed, as_of_us).await?;
            let invoices: Vec<i64> = items.iter().map(|item| item.invoice_id).collect();
            hold_periods_for_terminations(&mut tx, &invoices, as_of_us).await?;
            let mut batch = CollectionRunSummary::default();
            let mut emit = EmitCache::default();
            for item in items {
                match fire(&mut tx, &mut emit, &item, sweep.as_of, sweep.now).await? {
                    Some(Outcome::Fired) => batch.events_fired += 1,
                    Some(Outcome::Dropped) => batch.events_dropped += 1,
                    None => continue,
                }
                batch.events_due += 1;
            }
            record_batch(&mut tx, sweep.participant, &batch).await?;
            tx.commit().await?;
            sweep.summary.lock().unwrap_or_else(PoisonError::into_inner).add(&batch);
            (sweep.committed)();
        }
    }

    /// `POST /collection-runs`: records a queued run; [`crate::Engine::execute_collection_run`] does the work.
    pub async fn request_collection_run(
        &self,
        actor: &Actor,
        as_of: Timestamp,
        now: Timestamp,
    ) -> EngineResult<CollectionRunView> {
        require_administrator(actor)?;
        let mut tx = self.store.write().await?;
        let id = store_collections::insert_run(&mut tx, instants::to_micros(as_of), instants::to_micros(now)).await?;
        let row = store_collections::get_run(&mut tx, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        view_of(row)
    }

    /// Takes run `id` if it is still queued and works on it until this process's share is done (other workers
    /// may join meanwhile, see [`crate::workers`]); `clock` tells when it starts, works and ends. A run some
    /// other process took first is a conflict.
    pub async fn execute_collection_run(
        &self,
        id: i64,
        clock: impl Fn() -> Timestamp,
    ) -> EngineResult<CollectionRunSummary> {
        let Some(participation) = self
            .enter_run(RunKind::Collection, Entry::Take(id), &worker_name(), clock())
            .await?
        else {
            let mut tx = self.store.read().await?;
            return Err(match store_collections::get_run(&mut tx, id).await? {
                Some(_) => EngineError::conflict("run_taken", format!("collection run {id} is not queued")),
                None => not_found(id),
            });
        };
        self.share_collection_run(participation, &clock).await
    }

    /// Runs one participant's collection pass under its lease, then ends its share. The pass has added each
    /// batch's counts to the participant's as the batch committed, so ending only says how it went.
    pub(crate) async fn share_collection_run(
        &self,
        participation: Participation,
        clock: &impl Fn() -> Timestamp,
    ) -> EngineResult<CollectionRunSummary> {
        let as_of = instants::from_micros(participation.as_of)?;
        let result = self
            .under_lease(
                RunKind::Collection,
                &participation,
                clock,
                self.run_collections_as(as_of, clock(), CollectionOptions::default(), Some(&participation)),
            )
            .await;
        let error = result.as_ref().err().map(ToString::to_string);
        let mut tx = self.store.write().await?;
        let now = instants::to_micros(clock());
        run_workers::finish(&mut tx, RunKind::Collection, &participation, error.as_deref(), now).await?;
        tx.commit().await?;
        result
    }

    /// `GET /collection-runs/{id}`.
    pub async fn get_collection_run(&self, actor: &Actor, id: i64) -> EngineResult<CollectionRunView> {
        require_administrator(actor)?;
        let mut tx = self.store.read().await?;
        view_of(
            store_collections::get_run(&mut tx, id)
                .await?
                .ok_or_else(|| not_found(id))?,
        )
    }

    /// `GET /collection-runs`, in id order.
    pub async fn list_collection_runs(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> EngineResult<Page<CollectionRunView>> {
        require_administrator(actor)?;
        let mut tx = self.store.read().await?;
        let rows = store_collections::list_runs(&mut tx, page.cursor_id()?, page.limit + 1).await?;
        let views = rows.into_iter().map(view_of).collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }
}
