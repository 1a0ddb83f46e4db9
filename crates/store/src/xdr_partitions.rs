//! The monthly partitions of the xDR ledger on PostgreSQL (migration 0025). Partitions are made ahead of the
//! writes that fill them, each in a short transaction of its own and never inside a write of records: creating a
//! partition locks the whole ledger, and a writer that did so while other writers held the ledger and waited for
//! it would deadlock with them. Rows of a month without a partition land in `xdrs_default`, so a write never
//! waits for, or fails with, the making of a partition. SQLite has one unpartitioned table and nothing here
//! applies to it.

use std::collections::BTreeSet;
use std::sync::Mutex;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use crate::{AssertSqlSafe, Backend, Store, StoreError, Tx, args};

/// A UTC month, counted as `year * 12 + month - 1`, so that consecutive months are consecutive numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XdrMonth(i32);

impl XdrMonth {
    /// The UTC month holding the instant `micros` (microseconds since the epoch).
    pub fn of(micros: i64) -> Option<XdrMonth> {
        let at = Timestamp::from_microsecond(micros).ok()?;
        let civil = TimeZone::UTC.to_datetime(at);
        Some(XdrMonth(i32::from(civil.year()) * 12 + i32::from(civil.month()) - 1))
    }

    fn year(self) -> i16 {
        i16::try_from(self.0.div_euclid(12)).unwrap_or(i16::MAX)
    }

    fn month(self) -> i8 {
        i8::try_from(self.0.rem_euclid(12) + 1).unwrap_or(1)
    }

    /// The partition's name, `xdrs_YYYY_MM`, the form migration 0025 gave the months it found.
    pub fn table(self) -> String {
        format!("xdrs_{:04}_{:02}", self.year(), self.month())
    }

    /// The first microsecond of the month.
    fn start(self) -> Option<i64> {
        let first = Date::new(self.year(), self.month(), 1).ok()?;
        let at = TimeZone::UTC.to_timestamp(first.to_datetime(Time::midnight())).ok()?;
        Some(at.as_microsecond())
    }
}

/// How far before the month of the write a record's month may lie and still get a partition of its own. Late
/// records and imports of past months stay within it; an instant further off (a typo in a year, a clock
/// error) goes to the default partition instead of creating a partition for one stray row.
const MONTHS_BACK: i32 = 36;

/// How far after the month of the write.
const MONTHS_AHEAD: i32 = 3;

/// Partitions are named by four-digit years; this keeps every partition's name and bounds in that range.
const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 9998;

/// The months of `occurred_at` instants that deserve a partition when written at `now`.
pub fn months_to_partition(occurred_at: impl IntoIterator<Item = i64>, now: i64) -> BTreeSet<XdrMonth> {
    let Some(current) = XdrMonth::of(now) else {
        return BTreeSet::new();
    };
    occurred_at
        .into_iter()
        .filter_map(XdrMonth::of)
        .filter(|m| m.0 >= current.0 - MONTHS_BACK && m.0 <= current.0 + MONTHS_AHEAD)
        .filter(|m| (FIRST_YEAR * 12..(LAST_YEAR + 1) * 12).contains(&m.0))
        .collect()
}

/// Months whose partition was seen to exist, or which were found to be settled in the default partition. A
/// month reaches either state once and keeps it, so after the first write of a month every later write finds
/// it here and costs no statement. The cache belongs to the process, which serves one database: a second
/// database in the same process could only be told that a month is settled when it is not, which sends that
/// month's rows to its default partition, never loses them. A partition this transaction creates itself is
/// not entered, since the transaction may still roll back; the next write finds it in the catalogue.
static SETTLED: Mutex<BTreeSet<XdrMonth>> = Mutex::new(BTreeSet::new());

fn unsettled(months: &BTreeSet<XdrMonth>) -> Vec<XdrMonth> {
    let settled = SETTLED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    months.iter().filter(|m| !settled.contains(m)).copied().collect()
}

fn settle(month: XdrMonth) {
    SETTLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(month);
}

#[derive(sqlx::FromRow)]
struct NameRow {
    name: String,
}

#[derive(sqlx::FromRow)]
struct LockedRow {
    locked: bool,
}

#[derive(sqlx::FromRow)]
struct TakenRow {
    taken: bool,
}

/// The names of the partitions `xdrs` has now.
async fn partition_names(tx: &mut Tx) -> Result<BTreeSet<String>, StoreError> {
    let rows: Vec<NameRow> = tx
        .fetch_all(
            "SELECT CAST(c.relname AS TEXT) AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = CAST('xdrs' AS regclass)",
            Vec::new(),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// How long making a partition waits for the writers holding the ledger before it gives up until the next try.
/// Far below PostgreSQL's `deadlock_timeout` (1 s by default): while it waits, new writers queue behind it, and
/// it must be the one to yield before any of them could be chosen as a deadlock's victim.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '200ms'";

/// SQLSTATE of a lock not granted within `lock_timeout`.
const LOCK_NOT_AVAILABLE: &str = "55P03";
/// SQLSTATE of rows of the default partition that the new partition's range would take.
const CHECK_VIOLATION: &str = "23514";

/// Makes the missing partitions of `months` on PostgreSQL, in a transaction of its own; does nothing on SQLite.
/// Call it before a write of records, never inside one. One process makes partitions at a time (a
/// transaction-level advisory lock; a process that finds it taken leaves the work to the holder). A month that
/// already has rows in the default partition keeps them there: PostgreSQL refuses a partition that rows of the
/// default one belong to, and moving them would lock the whole ledger. When the writers of the moment hold the
/// ledger longer than [`LOCK_TIMEOUT`] the attempt is dropped, and the next write or the scheduler tries again.
pub async fn ensure_xdr_partitions(store: &Store, months: &BTreeSet<XdrMonth>) -> Result<(), StoreError> {
    if store.backend() != Backend::Postgres {
        return Ok(());
    }
    let missing = unsettled(months);
    if missing.is_empty() {
        return Ok(());
    }
    let mut tx = store.write().await?;
    match make_partitions(&mut tx, missing).await {
        Ok(()) => tx.commit().await,
        Err(StoreError::Database(sqlx::Error::Database(e)))
            if e.code()
                .is_some_and(|code| code == LOCK_NOT_AVAILABLE || code == CHECK_VIOLATION) =>
        {
            tracing::info!(reason = %e, "xDR partitions not made this time");
            tx.rollback().await
        }
        Err(e) => Err(e),
    }
}

/// [`ensure_xdr_partitions`] for the months of records about to be written at `now` (microseconds).
pub async fn ensure_for_records(
    store: &Store,
    occurred_at: impl IntoIterator<Item = i64>,
    now: i64,
) -> Result<(), StoreError> {
    if store.backend() != Backend::Postgres {
        return Ok(());
    }
    ensure_xdr_partitions(store, &months_to_partition(occurred_at, now)).await
}

/// [`ensure_xdr_partitions`] for the month of `now` (microseconds) and the months after it up to
/// [`MONTHS_AHEAD`]: the scheduler's part, so that the records of the months to come find their partition made.
pub async fn ensure_ahead(store: &Store, now: i64) -> Result<(), StoreError> {
    let Some(current) = XdrMonth::of(now) else {
        return Ok(());
    };
    let months = (0..=MONTHS_AHEAD).map(|ahead| XdrMonth(current.0 + ahead)).collect();
    ensure_xdr_partitions(store, &months).await
}

async fn make_partitions(tx: &mut Tx, mut missing: Vec<XdrMonth>) -> Result<(), StoreError> {
    let existing = partition_names(tx).await?;
    missing.retain(|m| {
        let found = existing.contains(&m.table());
        if found {
            settle(*m);
        }
        !found
    });
    if missing.is_empty() {
        return Ok(());
    }
    let locked: LockedRow = tx
        .fetch_one(
            "SELECT pg_try_advisory_xact_lock(hashtext('classbill.xdr_partitions')) AS locked",
            Vec::new(),
        )
        .await?;
    if !locked.locked {
        return Ok(());
    }
    tx.execute(LOCK_TIMEOUT, Vec::new()).await?;
    // Another process may have made some since the first look.
    let existing = partition_names(tx).await?;
    for month in missing {
        if existing.contains(&month.table()) {
            continue;
        }
        let (Some(from), Some(to)) = (month.start(), XdrMonth(month.0 + 1).start()) else {
            continue;
        };
        let taken: TakenRow = tx
            .fetch_one(
                "SELECT EXISTS (SELECT 1 FROM xdrs_default WHERE occurred_at >= $1 AND occurred_at < $2) AS taken",
                args![from, to],
            )
            .await?;
        if taken.taken {
            settle(month);
            continue;
        }
        tx.execute(
            AssertSqlSafe(format!(
                "CREATE TABLE {} PARTITION OF xdrs FOR VALUES FROM ({from}) TO ({to})",
                month.table()
            )),
            Vec::new(),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{XdrMonth, months_to_partition};

    /// 2025-03-01T00:00:00Z in microseconds.
    const MARCH_2025: i64 = 1_740_787_200_000_000;

    #[test]
    fn months_are_utc_and_bounded_in_microseconds() {
        let march = XdrMonth::of(MARCH_2025).expect("in range");
        assert_eq!(march.table(), "xdrs_2025_03");
        assert_eq!(march.start(), Some(MARCH_2025));
        assert_eq!(XdrMonth::of(MARCH_2025 - 1).expect("in range").table(), "xdrs_2025_02");
        assert_eq!(XdrMonth(march.0 + 10).table(), "xdrs_2026_01");
        assert_eq!(XdrMonth(march.0 + 10).start(), Some(1_767_225_600_000_000));
    }

    #[test]
    fn far_instants_get_no_partition_of_their_own() {
        let far_future = MARCH_2025 + 200 * 366 * 86_400 * 1_000_000;
        let months = months_to_partition([MARCH_2025 - 1, MARCH_2025, far_future, -5], MARCH_2025);
        let names: Vec<String> = months.iter().map(|m| m.table()).collect();
        assert_eq!(names, ["xdrs_2025_02", "xdrs_2025_03"]);
    }
}
