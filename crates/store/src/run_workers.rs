//! The workers taking part in billing and collection runs (`billing_run_workers`, `collection_run_workers`).
//!
//! A queued run is taken by exactly one worker, which marks it `running`; other workers may then join it. Each
//! participant's counts grow on its own row with every batch it commits ([`add_counts`], in the batch's
//! transaction), so what a killed worker did stays counted; when a participant ends, the run's counts become
//! the sums over all its participants, lapsed ones included. Taking and joining lock the run's row first, and so
//! does finishing: the last participant to finish marks the run done, and a worker that tries to join at that
//! moment waits for the row and then finds the run no longer running. PostgreSQL skips a queued run another
//! transaction is taking (`SKIP LOCKED`); SQLite has a single writer.

use crate::{AssertSqlSafe, Backend, StoreError, Tx, args};

/// Which kind of run a participation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Billing,
    Collection,
}

impl RunKind {
    fn runs(self) -> &'static str {
        match self {
            RunKind::Billing => "billing_runs",
            RunKind::Collection => "collection_runs",
        }
    }

    fn workers(self) -> &'static str {
        match self {
            RunKind::Billing => "billing_run_workers",
            RunKind::Collection => "collection_run_workers",
        }
    }

    /// The four counters a participant adds to its run, in the order of [`Counts`].
    fn counters(self) -> [&'static str; 4] {
        match self {
            RunKind::Billing => ["periods_due", "periods_closed", "periods_failed", "invoices_issued"],
            RunKind::Collection => ["events_due", "events_fired", "events_dropped", "approvals"],
        }
    }
}

/// What one participant did, in the order of the kind's counters: billing runs count periods due, closed and
/// failed and invoices issued; collection runs count events due, fired and dropped and approvals.
pub type Counts = [i64; 4];

/// A worker's place in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Participation {
    pub run_id: i64,
    /// The participant's row: its lease and counts.
    pub participant_id: i64,
    /// The run's instant.
    pub as_of: i64,
}

#[derive(sqlx::FromRow)]
struct RunRef {
    id: i64,
    as_of: i64,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// Takes the oldest queued run of this kind for `worker`, marks it `running` and makes the worker its first
/// participant, holding a lease until `lease_until`.
pub async fn take_queued(
    tx: &mut Tx,
    kind: RunKind,
    worker: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<Participation>, StoreError> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let runs = kind.runs();
    let taken: Option<RunRef> = tx
        .fetch_optional(
            AssertSqlSafe(format!(
                "UPDATE {runs} SET status = 'running', started_at = $1
                 WHERE id = (SELECT id FROM {runs} WHERE status = 'queued' ORDER BY id LIMIT 1{lock})
                 RETURNING id, as_of"
            )),
            args![now],
        )
        .await?;
    match taken {
        Some(run) => Ok(Some(enter(tx, kind, run, worker, now, lease_until).await?)),
        None => Ok(None),
    }
}

/// Takes run `run_id` for `worker` if it is still queued; answers `None` when someone else took it first.
pub async fn take(
    tx: &mut Tx,
    kind: RunKind,
    run_id: i64,
    worker: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<Participation>, StoreError> {
    let taken: Option<RunRef> = tx
        .fetch_optional(
            AssertSqlSafe(format!(
                "UPDATE {} SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'queued'
                 RETURNING id, as_of",
                kind.runs()
            )),
            args![now, run_id],
        )
        .await?;
    match taken {
        Some(run) => Ok(Some(enter(tx, kind, run, worker, now, lease_until).await?)),
        None => Ok(None),
    }
}

/// Joins the oldest running run of this kind that `worker` may share: one it has not taken part in yet, or one
/// with a participant whose lease lapsed at `now` (a worker that died), whose share it then takes over and
/// marks `lapsed`. `None` when there is no such run.
pub async fn join_running(
    tx: &mut Tx,
    kind: RunKind,
    worker: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<Participation>, StoreError> {
    let (runs, workers) = (kind.runs(), kind.workers());
    let candidate: Option<IdRow> = tx
        .fetch_optional(
            AssertSqlSafe(format!(
                "SELECT r.id FROM {runs} r
                 WHERE r.status = 'running'
                   AND (NOT EXISTS (SELECT 1 FROM {workers} w WHERE w.run_id = r.id AND w.worker = $1)
                        OR EXISTS (SELECT 1 FROM {workers} w
                                   WHERE w.run_id = r.id AND w.status = 'working' AND w.lease_until <= $2))
                 ORDER BY r.id LIMIT 1"
            )),
            args![worker, now],
        )
        .await?;
    let Some(candidate) = candidate else {
        return Ok(None);
    };
    // Locks the run against its last participant finishing meanwhile, and re-reads its status under the lock.
    let locked: Option<RunRef> = tx
        .fetch_optional(
            AssertSqlSafe(format!(
                "UPDATE {runs} SET status = status WHERE id = $1 AND status = 'running' RETURNING id, as_of"
            )),
            args![candidate.id],
        )
        .await?;
    let Some(run) = locked else {
        return Ok(None);
    };
    tx.execute(
        AssertSqlSafe(format!(
            "UPDATE {workers} SET status = 'lapsed', finished_at = $2
             WHERE run_id = $1 AND status = 'working' AND lease_until <= $2"
        )),
        args![run.id, now],
    )
    .await?;
    Ok(Some(enter(tx, kind, run, worker, now, lease_until).await?))
}

async fn enter(
    tx: &mut Tx,
    kind: RunKind,
    run: RunRef,
    worker: &str,
    now: i64,
    lease_until: i64,
) -> Result<Participation, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            AssertSqlSafe(format!(
                "INSERT INTO {} (run_id, worker, status, joined_at, lease_until) VALUES ($1, $2, 'working', $3, $4)
                 RETURNING id",
                kind.workers()
            )),
            args![run.id, worker, now, lease_until],
        )
        .await?;
    Ok(Participation {
        run_id: run.id,
        participant_id: row.id,
        as_of: run.as_of,
    })
}

/// Extends a working participant's lease; one already finished or declared lapsed keeps its state.
pub async fn renew(tx: &mut Tx, kind: RunKind, participant_id: i64, lease_until: i64) -> Result<(), StoreError> {
    tx.execute(
        AssertSqlSafe(format!(
            "UPDATE {} SET lease_until = $1 WHERE id = $2 AND status = 'working'",
            kind.workers()
        )),
        args![lease_until, participant_id],
    )
    .await?;
    Ok(())
}

/// Adds what one batch did to a participant's counts. Called in the batch's own transaction, last before its
/// commit: a count exists exactly when its work is committed, and the participant's row, which its lease
/// renewals also write, is held only for the commit.
pub async fn add_counts(tx: &mut Tx, kind: RunKind, participant_id: i64, counts: Counts) -> Result<(), StoreError> {
    if counts == [0; 4] {
        return Ok(());
    }
    let [a, b, c, d] = kind.counters();
    tx.execute(
        AssertSqlSafe(format!(
            "UPDATE {} SET {a} = {a} + $1, {b} = {b} + $2, {c} = {c} + $3, {d} = {d} + $4 WHERE id = $5",
            kind.workers()
        )),
        args![counts[0], counts[1], counts[2], counts[3], participant_id],
    )
    .await?;
    Ok(())
}

/// Records a participant's end: its error (if it failed) becomes the run's unless the run has one already, and
/// the run's counts become the sums over all its participants, the lapsed ones included, whose counts were
/// recorded batch by batch ([`add_counts`]). When no participant is left working, the run ends: `completed`,
/// or `failed` if any participant failed. Answers the run's final status when this call ended it.
pub async fn finish(
    tx: &mut Tx,
    kind: RunKind,
    participation: &Participation,
    error: Option<&str>,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let (runs, workers) = (kind.runs(), kind.workers());
    let sums = kind
        .counters()
        .map(|counter| {
            format!("{counter} = (SELECT COALESCE(SUM(w.{counter}), 0) FROM {workers} w WHERE w.run_id = $2)")
        })
        .join(", ");
    // The run's row first, as joining locks it: from here no one can join this run until the commit. Every
    // other participant's counts were committed with its batches, so the sums hold all that is committed.
    tx.execute(
        AssertSqlSafe(format!(
            "UPDATE {runs} SET {sums}, error = COALESCE(error, $1) WHERE id = $2"
        )),
        args![error, participation.run_id],
    )
    .await?;
    let status = if error.is_some() { "failed" } else { "finished" };
    tx.execute(
        AssertSqlSafe(format!(
            "UPDATE {workers} SET status = $1, finished_at = $2 WHERE id = $3"
        )),
        args![status, now, participation.participant_id],
    )
    .await?;
    let working: CountRow = tx
        .fetch_one(
            AssertSqlSafe(format!(
                "SELECT COUNT(*) AS n FROM {workers} WHERE run_id = $1 AND status = 'working'"
            )),
            args![participation.run_id],
        )
        .await?;
    if working.n > 0 {
        return Ok(None);
    }
    #[derive(sqlx::FromRow)]
    struct StatusRow {
        status: String,
    }
    let ended: Option<StatusRow> = tx
        .fetch_optional(
            AssertSqlSafe(format!(
                "UPDATE {runs} SET status = CASE WHEN error IS NULL THEN 'completed' ELSE 'failed' END,
                     finished_at = $1
                 WHERE id = $2 AND status = 'running'
                 RETURNING status"
            )),
            args![now, participation.run_id],
        )
        .await?;
    Ok(ended.map(|row| row.status))
}

/// One participant of a billing run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BillingWorkerRow {
    pub worker: String,
    pub status: String,
    pub joined_at: i64,
    pub finished_at: Option<i64>,
    pub periods_due: i64,
    pub periods_closed: i64,
    pub periods_failed: i64,
    pub invoices_issued: i64,
}

/// A billing run's participants in the order they joined.
pub async fn billing_workers(tx: &mut Tx, run_id: i64) -> Result<Vec<BillingWorkerRow>, StoreError> {
    tx.fetch_all(
        "SELECT worker, status, joined_at, finished_at, periods_due, periods_closed, periods_failed, invoices_issued
         FROM billing_run_workers WHERE run_id = $1 ORDER BY id",
        args![run_id],
    )
    .await
}
