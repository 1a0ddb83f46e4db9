//! Who executes queued billing and collection runs (interfaces.md `classbill worker`, `serve --no-worker`).
//!
//! A queued run is taken atomically by one process, so it is never started twice; other workers then join it
//! while it is running. Every participant runs the whole pass ([`crate::Engine::run_billing`] or
//! [`crate::Engine::run_collections`]): the passes claim parties with `SKIP LOCKED` on PostgreSQL, so the
//! participants split the parties between them. Each batch a participant commits adds its counts to the
//! participant's row in the same transaction; whenever a participant ends, the run's counts become the sums
//! over all its participants.
//!
//! A participant holds a lease it renews while it works. A worker killed mid-run stops renewing; once its lease
//! has lapsed, the next worker that polls joins the run in its place and its pass picks up whatever the dead
//! one had claimed (frozen periods are finished from S2, as after any crash). The run completes when no
//! participant is left working. What a killed participant had committed stays committed and counted, so the
//! run's counts are what it really did: a batch the kill interrupted is neither done nor counted, and whoever
//! finishes it counts it.

use std::time::Duration;

use classbill_store::instants;
use classbill_store::run_workers::{self, Participation, RunKind};
use jiff::{SignedDuration, Timestamp};

use crate::error::EngineResult;

/// How long a participant's claim on its share of a run holds without being renewed.
pub const RUN_LEASE: SignedDuration = SignedDuration::from_secs(20);

/// How often a working participant renews its lease; well inside [`RUN_LEASE`], so that a slow commit does not
/// make a live worker look dead.
const LEASE_RENEWAL: Duration = Duration::from_secs(5);

/// How this process is named among the participants of a run: its host and process id.
pub fn worker_name() -> String {
    worker_name_of(std::process::id())
}

/// How process `pid` of this host is named among the participants of a run.
pub fn worker_name_of(pid: u32) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() { "localhost".to_owned() } else { host };
    format!("{host}:{pid}")
}

/// When a lease taken or renewed at `now` lapses, in microseconds.
fn lease_end(now: Timestamp) -> i64 {
    let lease = i64::try_from(RUN_LEASE.as_micros()).unwrap_or(i64::MAX);
    instants::to_micros(now).saturating_add(lease)
}

/// How a process enters a run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry {
    /// Take this run if it is still queued.
    Take(i64),
    /// Take the oldest queued run.
    Queued,
    /// Join the oldest running run this worker may share.
    Join,
}

/// Which run a worker's poll took part in, and how its share ended.
#[derive(Debug)]
pub struct RunShare {
    /// `billing` or `collection`.
    pub kind: &'static str,
    pub run_id: i64,
    /// Why this worker's share failed, if it did.
    pub error: Option<crate::EngineError>,
}

impl crate::Engine {
    /// Enters a run of `kind` as `worker` at `now`; `None` when there is no such run to enter.
    pub(crate) async fn enter_run(
        &self,
        kind: RunKind,
        entry: Entry,
        worker: &str,
        now: Timestamp,
    ) -> EngineResult<Option<Participation>> {
        let now_us = instants::to_micros(now);
        let lease_until = lease_end(now);
        let mut tx = self.store.write().await?;
        let participation = match entry {
            Entry::Take(id) => run_workers::take(&mut tx, kind, id, worker, now_us, lease_until).await?,
            Entry::Queued => run_workers::take_queued(&mut tx, kind, worker, now_us, lease_until).await?,
            Entry::Join => run_workers::join_running(&mut tx, kind, worker, now_us, lease_until).await?,
        };
        tx.commit().await?;
        Ok(participation)
    }

    /// Drives `work` to its end while renewing the participant's lease beside it. Both are polled together, so
    /// a renewal waiting for SQLite's one writer never stalls the work that holds it.
    pub(crate) async fn under_lease<T>(
        &self,
        kind: RunKind,
        participation: &Participation,
        clock: &impl Fn() -> Timestamp,
        work: impl Future<Output = T>,
    ) -> T {
        let renewing = async {
            loop {
                tokio::time::sleep(LEASE_RENEWAL).await;
                let until = lease_end(clock());
                let renewed = async {
                    let mut tx = self.store.write().await?;
                    run_workers::renew(&mut tx, kind, participation.participant_id, until).await?;
                    tx.commit().await?;
                    EngineResult::Ok(())
                };
                if let Err(error) = renewed.await {
                    tracing::warn!(run = participation.run_id, %error, "run lease not renewed");
                }
            }
        };
        tokio::select! {
            result = work => result,
            () = renewing => unreachable!("lease renewal loops until the work ends"),
        }
    }

    /// One poll of a worker: takes the oldest queued billing run, else joins a running one, else does the same
    /// for collection runs, and works on it until its share is done. `None` when there was nothing to do.
    pub async fn work_on_runs(&self, worker: &str, clock: impl Fn() -> Timestamp) -> EngineResult<Option<RunShare>> {
        for kind in [RunKind::Billing, RunKind::Collection] {
            for entry in [Entry::Queued, Entry::Join] {
                let Some(participation) = self.enter_run(kind, entry, worker, clock()).await? else {
                    continue;
                };
                let (name, outcome) = match kind {
                    RunKind::Billing => ("billing", self.share_billing_run(participation, &clock).await.map(drop)),
                    RunKind::Collection => (
                        "collection",
                        self.share_collection_run(participation, &clock).await.map(drop),
                    ),
                };
                return Ok(Some(RunShare {
                    kind: name,
                    run_id: participation.run_id,
                    error: outcome.err(),
                }));
            }
        }
        Ok(None)
    }
}
