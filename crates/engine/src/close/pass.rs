//! Close passes over the parties (customer-classes §5.3): a billing run, the resumption of periods left
//! `closing`, and the approval of one `upon_approval` period.
//!
//! A pass walks the parties in id order, claiming one batch at a time in a write transaction (on PostgreSQL
//! with `FOR NO KEY UPDATE SKIP LOCKED`, so concurrent passes take disjoint batches; on SQLite the single
//! writer serialises them). Each batch commits twice: S1 freezes its due periods, then the other steps close
//! every period of its parties left `closing`, re-reading their state after claiming them again. Whatever a
//! crash interrupts is therefore either not started or frozen, and the next pass finishes it from S2.
//!
//! A billing run sweeps the parties twice: the second sweep waits for the parties the first passed over
//! because another transaction held them. Otherwise a party that a payment happened to hold at the instant
//! the run reached it would be left out of a run that reports itself completed.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use classbill_store::close::{self as store_close, Held};
use classbill_store::periods;
use classbill_store::run_workers::Participation;
use classbill_store::xdrs;
use classbill_store::{StoreError, instants};
use jiff::Timestamp;

use super::runs::record_batch;
use super::{BillingRunSummary, RunContext, finish_batch, freeze, release_postponed, run_context};
use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::ledger::PeriodView;
use crate::parties::owner_of;

/// Parties per batch unless the caller chooses otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// How a close pass runs.
#[derive(Clone, Copy)]
pub struct CloseOptions<'a> {
    /// Parties per batch (at least 1).
    pub batch_size: usize,
    /// Told after every commit, e.g. to draw a progress bar.
    pub on_commit: Option<&'a (dyn Fn(&CloseProgress) + Send + Sync)>,
}

impl Default for CloseOptions<'_> {
    fn default() -> Self {
        CloseOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            on_commit: None,
        }
    }
}

/// Which of a batch's two commits [`CloseProgress`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseStage {
    /// S1: the batch's due periods are frozen.
    Frozen,
    /// S2–S12: the batch's frozen periods are closed, or left `closing` with their error.
    Closed,
}

/// Where a close pass stands after a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseProgress {
    /// The batch's number in this pass, from 1.
    pub batch: u64,
    pub stage: CloseStage,
    /// Parties this pass has claimed so far.
    pub parties_claimed: u64,
    /// Parties the pass expected to go through when it started.
    pub parties_total: u64,
}

/// The counters of a pass in progress.
struct Pass<'a> {
    options: CloseOptions<'a>,
    /// The last party id claimed: the next claim starts after it.
    after: i64,
    batch: u64,
    claimed: u64,
    total: u64,
}

impl<'a> Pass<'a> {
    fn new(options: CloseOptions<'a>, total: i64) -> Pass<'a> {
        Pass {
            options,
            after: 0,
            batch: 0,
            claimed: 0,
            total: u64::try_from(total).unwrap_or(0),
        }
    }

    fn limit(&self) -> i64 {
        i64::try_from(self.options.batch_size.max(1)).unwrap_or(i64::MAX)
    }

    /// Counts a claimed batch; answers its number in the pass.
    fn claim(&mut self, ids: &[i64]) -> u64 {
        self.after = ids.last().copied().unwrap_or(self.after);
        self.batch += 1;
        self.claimed += ids.len() as u64;
        self.batch
    }

    fn committed(&self, batch: u64, stage: CloseStage) {
        if let Some(report) = self.options.on_commit {
            report(&CloseProgress {
                batch,
                stage,
                parties_claimed: self.claimed,
                parties_total: self.total,
            });
        }
    }
}

/// What the lanes of a billing run share across its sweeps.
struct RunShared<'a> {
    pass: Mutex<Pass<'a>>,
    /// Parties claimed by either sweep: the second sweep leaves them alone.
    visited: Mutex<HashSet<i64>>,
    summary: Mutex<BillingRunSummary>,
}

/// One sweep of a billing run over the parties, walked by its lanes from one cursor.
struct Sweep<'r, 'a> {
    run: &'r RunShared<'a>,
    context: &'r RunContext,
    held: Held,
    /// The last party id claimed in this sweep.
    after: tokio::sync::Mutex<i64>,
    as_of: Timestamp,
    now: Timestamp,
    participant: Option<&'r Participation>,
}

/// Locks a mutex that a lane's panic may have poisoned: what it guards is counters, still worth reporting.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Adds a committed batch's counts and failures to those of its pass.
fn add_batch(summary: &mut BillingRunSummary, batch: BillingRunSummary) {
    summary.periods_due += batch.periods_due;
    summary.periods_closed += batch.periods_closed;
    summary.periods_failed += batch.periods_failed;
    summary.invoices_issued += batch.invoices_issued;
    summary.failures.extend(batch.failures);
}

impl crate::Engine {
    /// Closes every period whose close instant is at or before `as_of` (`after_delay` classes; `upon_approval`
    /// periods wait for their approval), first storing the periods parties lack up to `as_of`, and finishes
    /// every period of those parties an earlier close left `closing`.
    pub async fn run_billing(&self, as_of: Timestamp, now: Timestamp) -> EngineResult<BillingRunSummary> {
        self.run_billing_with(as_of, now, CloseOptions::default()).await
    }

    /// [`crate::Engine::run_billing`] with a batch size and a progress observer.
    pub async fn run_billing_with(
        &self,
        as_of: Timestamp,
        now: Timestamp,
        options: CloseOptions<'_>,
    ) -> EngineResult<BillingRunSummary> {
        self.run_billing_as(as_of, now, options, None).await
    }

    /// [`crate::Engine::run_billing_with`] as `participant` of a billing run, when there is one (the CLI's
    /// `bill-run` and the scheduler close without a run record): each batch then records its counts and failures
    /// for the participant in the transaction that commits its work.
    pub(super) async fn run_billing_as(
        &self,
        as_of: Timestamp,
        now: Timestamp,
        options: CloseOptions<'_>,
        participant: Option<&Participation>,
    ) -> EngineResult<BillingRunSummary> {
        let as_of_us = instants::to_micros(as_of);
        let (total, context) = {
            let mut tx = self.store.read().await?;
            (
                store_close::count_parties_with_billing_work(&mut tx, as_of_us).await?,
                run_context(&mut tx, now).await?,
            )
        };
        let run = RunShared {
            pass: Mutex::new(Pass::new(options, total)),
            visited: Mutex::new(HashSet::new()),
            summary: Mutex::new(BillingRunSummary::default()),
        };
        // The first sweep passes over parties other transactions hold; the second waits for those it has not
        // visited yet, so a party a payment or a refund held at that moment is not left out of the run.
        for held in [Held::Skip, Held::Wait] {
            let sweep = Sweep {
                run: &run,
                context: &context,
                held,
                after: tokio::sync::Mutex::new(0),
                as_of,
                now,
                participant,
            };
            self.in_lanes(|| self.close_lane(&sweep)).await?;
        }
        release_postponed(&self.store, &context).await?;
        Ok(run.summary.into_inner().unwrap_or_else(PoisonError::into_inner))
    }

    /// One lane of a sweep: claims the next batch of parties after the sweep's cursor, freezes their due periods
    /// and closes them, until no party is left. The lanes of a sweep (`Store::writers`) claim disjoint batches
    /// from one cursor and close them side by side.
    async fn close_lane(&self, sweep: &Sweep<'_, '_>) -> EngineResult<()> {
        let as_of_us = instants::to_micros(sweep.as_of);
        loop {
            let mut tx = self.store.write().await?;
            let claimed = {
                // Held across the claim, so that the lanes' batches follow one another in id order.
                let mut after = sweep.after.lock().await;
                let limit = lock(&sweep.run.pass).limit();
                let claimed =
                    store_close::claim_parties_with_billing_work(&mut tx, *after, as_of_us, limit, sweep.held).await?;
                let Some(&last) = claimed.last() else {
                    return Ok(());
                };
                *after = last;
                let mut visited = lock(&sweep.run.visited);
                claimed
                    .into_iter()
                    .filter(|&id| visited.insert(id))
                    .collect::<Vec<i64>>()
            };
            if claimed.is_empty() {
                tx.rollback().await?;
                continue;
            }
            let batch_no = lock(&sweep.run.pass).claim(&claimed);
            // Writes of records into the periods about to be frozen commit first, so S2 reads their records.
            xdrs::hold_open_periods(&mut tx).await?;
            let batch_id = freeze::freeze_due(&mut tx, sweep.context, &claimed, sweep.as_of, sweep.now).await?;
            tx.commit().await?;
            lock(&sweep.run.pass).committed(batch_no, CloseStage::Frozen);

            let mut tx = self.store.write().await?;
            let still_ours = store_close::claim_parties(&mut tx, &claimed, Held::Wait).await?;
            let mut batch = BillingRunSummary::default();
            finish_batch(&mut tx, sweep.context, &still_ours, batch_id, sweep.now, &mut batch).await?;
            if let Some(participation) = sweep.participant {
                record_batch(&mut tx, participation, &batch).await?;
            }
            tx.commit().await?;
            add_batch(&mut lock(&sweep.run.summary), batch);
            lock(&sweep.run.pass).committed(batch_no, CloseStage::Closed);
        }
    }

    /// Resumes every period a crashed or failed close left `closing` (§5.3 S12) at its first unfinished step,
    /// from the snapshot it was frozen with, and nothing else: no other period is closed or created.
    pub async fn retry_closing(&self, now: Timestamp) -> EngineResult<BillingRunSummary> {
        self.retry_closing_with(now, CloseOptions::default()).await
    }

    /// [`crate::Engine::retry_closing`] with a batch size and a progress observer.
    pub async fn retry_closing_with(
        &self,
        now: Timestamp,
        options: CloseOptions<'_>,
    ) -> EngineResult<BillingRunSummary> {
        let (total, context) = {
            let mut tx = self.store.read().await?;
            (
                store_close::count_parties_closing(&mut tx).await?,
                run_context(&mut tx, now).await?,
            )
        };
        let mut pass = Pass::new(options, total);
        let mut summary = BillingRunSummary::default();
        loop {
            let mut tx = self.store.write().await?;
            let claimed = store_close::claim_parties_closing(&mut tx, pass.after, pass.limit()).await?;
            if claimed.is_empty() {
                break;
            }
            let batch_no = pass.claim(&claimed);
            finish_batch(&mut tx, &context, &claimed, None, now, &mut summary).await?;
            tx.commit().await?;
            pass.committed(batch_no, CloseStage::Closed);
        }
        release_postponed(&self.store, &context).await?;
        Ok(summary)
    }

    /// `POST /periods/{id}/approve`: closes an ended period of an `upon_approval` class at `as_of`, which is its
    /// close instant (the issue date is its local date). Users of the party's owner only. A close that fails
    /// leaves the period `closing` with its error, as a billing run does.
    pub async fn approve_period(
        &self,
        actor: &Actor,
        id: i64,
        as_of: Timestamp,
        now: Timestamp,
    ) -> EngineResult<PeriodView> {
        let as_of_us = instants::to_micros(as_of);
        let not_found = || EngineError::NotFound(format!("period {id} not found"));
        let context = run_context(&mut self.store.read().await?, now).await?;

        let mut tx = self.store.write().await?;
        let period = periods::get(&mut tx, id).await?.ok_or_else(not_found)?;
        let party = match classbill_store::parties::get(&mut tx, period.party_id).await? {
            Some(party) if actor.sees(owner_of(&party)) => party,
            _ => return Err(not_found()),
        };
        if actor.owner() != owner_of(&party) {
            return Err(EngineError::forbidden(
                "only users of the party's owner approve its billing periods",
            ));
        }
        if store_close::claim_parties(&mut tx, &[party.id], Held::Skip)
            .await?
            .is_empty()
        {
            return Err(EngineError::conflict(
                "being_closed",
                "a billing run is closing this party's periods; try again when it has finished",
            ));
        }
        xdrs::hold_open_periods(&mut tx).await?;
        // Read again under the claim: a run may have changed the period meanwhile.
        let period = periods::get(&mut tx, id).await?.ok_or_else(not_found)?;
        if period.status != "open" {
            return Err(EngineError::conflict(
                "not_open",
                format!("period {id} is {} and cannot be approved", period.status),
            ));
        }
        if period.end_at > as_of_us {
            return Err(EngineError::conflict(
                "period_not_ended",
                format!("period {id} has not ended at the approval instant"),
            ));
        }
        let class = freeze::class_row(&mut tx, party.class_id).await?;
        let settings = crate::classes::settings_of(&class)?;
        if settings.general_info.period_closure.mode != classbill_domain::class::ClosureMode::UponApproval {
            return Err(EngineError::conflict(
                "not_upon_approval",
                "the party's class closes periods after a delay, not upon approval",
            ));
        }
        if store_close::has_unclosed_before(&mut tx, party.id, period.start_at).await? {
            return Err(EngineError::conflict(
                "earlier_period_open",
                "an earlier period of the party is not closed yet; approve it first",
            ));
        }
        let batch_id = freeze::freeze_approved(&mut tx, &party, &class, &period, as_of_us, now).await?;
        tx.commit().await?;

        let mut summary = BillingRunSummary::default();
        let mut tx = self.store.write().await?;
        let still_ours = store_close::claim_parties(&mut tx, &[party.id], Held::Skip).await?;
        finish_batch(&mut tx, &context, &still_ours, Some(batch_id), now, &mut summary).await?;
        let period = periods::get(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("period {id} vanished")))?;
        tx.commit().await?;
        release_postponed(&self.store, &context).await?;
        PeriodView::from_row(&period)
    }
}
