//! Whether parties or billing periods were written since a point in time, so that a reader holding their rows
//! across transactions can tell whether they are still as stored. SQLite counts every write of them in one row
//! (migration 0028): it has one writer at a time, so a counter that stood still means nothing changed. PostgreSQL
//! runs writers side by side and logs the transaction of every statement that updates or deletes them (migration
//! 0031); a reader compares the log with the snapshot it last read under, which also names the transactions that
//! were still open then.

use crate::{Backend, Store, StoreError, Tx, xdrs};

/// Where a reader stood among the billing writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// SQLite: the counter.
    Count(i64),
    /// PostgreSQL: a snapshot in its text form (`xmin:xmax:xip,…`).
    Snapshot(String),
}

#[derive(sqlx::FromRow)]
struct Count {
    changes: i64,
}

#[derive(sqlx::FromRow)]
struct Since {
    snapshot: String,
    unchanged: bool,
}

/// At the start of a transaction that will write records into open periods: whether no party or billing period was
/// changed since `mark` (never, without one), and the mark to check the next transaction against once this one
/// has written ([`after_own_writes`]). On PostgreSQL it first takes the lock that writers of records hold
/// ([`xdrs::share_open_periods`]): a freeze of periods has then either committed, and is found, or waits for this
/// transaction.
pub async fn since(tx: &mut Tx, mark: Option<&Mark>) -> Result<(bool, Mark), StoreError> {
    match tx.backend() {
        Backend::Sqlite => {
            let now = count(tx).await?;
            Ok((mark == Some(&Mark::Count(now)), Mark::Count(now)))
        }
        Backend::Postgres => {
            xdrs::share_open_periods(tx).await?;
            // A transaction the last snapshot did not see as committed is either in it as in progress or at
            // or past its xmax; every such one has an xid at or past its xmin, which the index finds.
            let since: Since = match mark {
                Some(Mark::Snapshot(last)) => {
                    tx.fetch_one(
                        "SELECT CAST(pg_current_snapshot() AS TEXT) AS snapshot,
                                NOT EXISTS (SELECT 1 FROM billing_change_log
                                            WHERE xid >= pg_snapshot_xmin(CAST($1 AS pg_snapshot))
                                              AND NOT pg_visible_in_snapshot(xid, CAST($1 AS pg_snapshot)))
                                AND (SELECT pruned_below FROM billing_change_log_horizon WHERE id = 1)
                                    <= pg_snapshot_xmin(CAST($1 AS pg_snapshot)) AS unchanged",
                        vec![last.into()],
                    )
                    .await?
                }
                _ => {
                    tx.fetch_one(
                        "SELECT CAST(pg_current_snapshot() AS TEXT) AS snapshot, FALSE AS unchanged",
                        vec![],
                    )
                    .await?
                }
            };
            Ok((since.unchanged, Mark::Snapshot(since.snapshot)))
        }
    }
}

/// The mark after the transaction's own writes of records and new periods, from the one [`since`] answered. On
/// SQLite those writes moved the counter; PostgreSQL does not log them.
pub async fn after_own_writes(tx: &mut Tx, begun: Mark) -> Result<Mark, StoreError> {
    match begun {
        Mark::Count(_) => Ok(Mark::Count(count(tx).await?)),
        Mark::Snapshot(_) => Ok(begun),
    }
}

async fn count(tx: &mut Tx) -> Result<i64, StoreError> {
    Ok(tx
        .fetch_one::<Count>("SELECT changes FROM billing_changes WHERE id = 1", vec![])
        .await?
        .changes)
}

/// Empties PostgreSQL's log up to the transactions every snapshot sees as ended, and moves the horizon there, so
/// that a reader whose mark is older reads everything again. Nothing to do on SQLite.
pub async fn prune(store: &Store) -> Result<(), StoreError> {
    if store.backend() != Backend::Postgres {
        return Ok(());
    }
    let mut tx = store.write().await?;
    tx.execute(
        "WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS below),
              pruned AS (DELETE FROM billing_change_log WHERE xid < (SELECT below FROM horizon))
         UPDATE billing_change_log_horizon SET pruned_below = (SELECT below FROM horizon)
         WHERE id = 1 AND pruned_below < (SELECT below FROM horizon)",
        vec![],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
