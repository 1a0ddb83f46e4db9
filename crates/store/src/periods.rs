//! Billing periods (customer-classes §5.2): one row per party and period, created as they are first needed.

use crate::db::in_list;
use crate::packed::fetch_packed;
use crate::{Arg, AssertSqlSafe, Backend, StoreError, Tx, args};

/// Read in rows or packed ([`crate::packed`]): the fields are in the order of [`PERIOD_COLUMNS`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct PeriodRow {
    pub id: i64,
    pub party_id: i64,
    pub start_at: i64,
    pub end_at: i64,
    pub status: String,
    pub class_revision: Option<i64>,
    pub frozen_at: Option<i64>,
    pub close_error: Option<String>,
    pub created_at: i64,
    /// The instant the period closes at, fixed when it is frozen (§5.3).
    pub close_at: Option<i64>,
}

pub(crate) const PERIOD_COLUMNS: &str =
    "id, party_id, start_at, end_at, status, class_revision, frozen_at, close_error, created_at, close_at";

/// Rows per multi-row INSERT.
const INSERT_BATCH: usize = 500;

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<PeriodRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!("SELECT {PERIOD_COLUMNS} FROM billing_periods WHERE id = $1")),
        args![id],
    )
    .await
}

/// The party's latest stored period.
pub async fn last_of_party(tx: &mut Tx, party_id: i64) -> Result<Option<PeriodRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!(
            "SELECT {PERIOD_COLUMNS} FROM billing_periods WHERE party_id = $1 ORDER BY start_at DESC LIMIT 1"
        )),
        args![party_id],
    )
    .await
}

/// The party's periods that overlap `[from_us, to_us]`, oldest first.
pub async fn overlapping(tx: &mut Tx, party_id: i64, from_us: i64, to_us: i64) -> Result<Vec<PeriodRow>, StoreError> {
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {PERIOD_COLUMNS} FROM billing_periods
             WHERE party_id = $1 AND end_at > $2 AND start_at <= $3 ORDER BY start_at"
        )),
        args![party_id, from_us, to_us],
    )
    .await
}

/// The latest stored period of each of these parties (parties without periods are skipped).
pub async fn last_of_parties(tx: &mut Tx, party_ids: &[i64]) -> Result<Vec<PeriodRow>, StoreError> {
    let mut rows = Vec::with_capacity(party_ids.len());
    for chunk in party_ids.chunks(INSERT_BATCH) {
        let from = format!(
            "FROM billing_periods b
             WHERE b.party_id IN ({}) AND b.start_at =
                 (SELECT MAX(l.start_at) FROM billing_periods l WHERE l.party_id = b.party_id)",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(fetch_packed::<PeriodRow>(tx, PERIOD_COLUMNS, &from, values).await?);
    }
    Ok(rows)
}

/// The periods of these parties that overlap `[from_us, to_us]` and, in the same read, each party's last period
/// ([`last_of_parties`]), by party and start: what an ingest batch needs to place its records and to see which
/// periods are missing.
pub async fn around_many(
    tx: &mut Tx,
    party_ids: &[i64],
    from_us: i64,
    to_us: i64,
) -> Result<Vec<PeriodRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in party_ids.chunks(INSERT_BATCH) {
        let from = format!(
            "FROM billing_periods b WHERE b.party_id IN ({}) AND ((b.end_at > $1 AND b.start_at <= $2)
                 OR b.start_at = (SELECT MAX(l.start_at) FROM billing_periods l WHERE l.party_id = b.party_id))",
            in_list(3, chunk.len())
        );
        let mut values = args![from_us, to_us];
        values.extend(chunk.iter().map(|&id| Arg::from(id)));
        rows.extend(fetch_packed::<PeriodRow>(tx, PERIOD_COLUMNS, &from, values).await?);
    }
    rows.sort_unstable_by_key(|row| (row.party_id, row.start_at));
    Ok(rows)
}

/// The party's latest period that is still open.
pub async fn latest_open(tx: &mut Tx, party_id: i64) -> Result<Option<PeriodRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!(
            "SELECT {PERIOD_COLUMNS} FROM billing_periods WHERE party_id = $1 AND status = 'open'
             ORDER BY start_at DESC LIMIT 1"
        )),
        args![party_id],
    )
    .await
}

/// A period about to be stored; it starts `open`.
#[derive(Debug, Clone, Copy)]
pub struct NewPeriod {
    pub party_id: i64,
    pub start_at: i64,
    pub end_at: i64,
}

/// Stores new periods with multi-row INSERTs.
pub async fn insert_many(tx: &mut Tx, periods: &[NewPeriod], created_at: i64) -> Result<(), StoreError> {
    for chunk in periods.chunks(INSERT_BATCH) {
        let mut sql = String::from("INSERT INTO billing_periods (party_id, start_at, end_at, created_at) VALUES ");
        let mut values = Vec::with_capacity(chunk.len() * 4);
        for (i, p) in chunk.iter().enumerate() {
            let n = i * 4;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
            values.extend([
                Arg::from(p.party_id),
                Arg::from(p.start_at),
                Arg::from(p.end_at),
                Arg::from(created_at),
            ]);
        }
        sql.push_str(" ON CONFLICT (party_id, start_at) DO NOTHING");
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    keep_statistics_up(tx, periods.len()).await
}

/// Fewer new periods than this never refresh the planner's statistics ([`keep_statistics_up`]).
const GROWTH_TO_ANALYZE: usize = 1_000;

#[derive(sqlx::FromRow)]
struct KnownRows {
    known: f64,
}

/// On PostgreSQL, refreshes the statistics of the periods when `added` rows at least half the rows they counted.
/// A connection keeps the plans of its prepared statements, and a plan made while the table was empty (its
/// periods removed, or an installation whose planner counted it empty) reads it whole for every party list: an
/// import of 20,000 customers took 14–27 s instead of 9–12 until autovacuum came by. `ANALYZE` in this
/// transaction counts its own new rows and makes the connection plan its statements again; growth by a fraction
/// of the table leaves the estimates, which scale with the table's size, good enough.
async fn keep_statistics_up(tx: &mut Tx, added: usize) -> Result<(), StoreError> {
    if tx.backend() != Backend::Postgres || added < GROWTH_TO_ANALYZE {
        return Ok(());
    }
    let row: KnownRows = tx
        .fetch_one(
            "SELECT CAST(reltuples AS DOUBLE PRECISION) AS known FROM pg_class WHERE oid = 'billing_periods'::regclass",
            Vec::new(),
        )
        .await?;
    let added = f64::from(u32::try_from(added).unwrap_or(u32::MAX));
    if added * 2.0 >= row.known {
        tx.execute("ANALYZE billing_periods", Vec::new()).await?;
    }
    Ok(())
}

/// Moves a period to `open`, `closing` or `closed`; `frozen_at` is kept once set.
pub async fn set_status(tx: &mut Tx, id: i64, status: &str, at_us: i64) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE billing_periods SET status = $1,
             frozen_at = CASE WHEN $1 = 'open' THEN NULL ELSE COALESCE(frozen_at, $2) END
         WHERE id = $3",
        args![status, at_us, id],
    )
    .await
}

/// What a period list may be narrowed to; `owner` as in `parties::PartyFilter`.
#[derive(Debug, Clone, Default)]
pub struct PeriodFilter {
    pub party_id: Option<i64>,
    pub owner: Option<Option<i64>>,
    pub status: Option<String>,
}

/// Periods in id order after `after_id`.
pub async fn list(
    tx: &mut Tx,
    f: &PeriodFilter,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<PeriodRow>, StoreError> {
    let (restrict, owner_id) = match f.owner {
        None => (false, None),
        Some(id) => (true, id),
    };
    tx.fetch_all(
        "SELECT b.id, b.party_id, b.start_at, b.end_at, b.status, b.class_revision, b.frozen_at, b.close_error,
                b.created_at, b.close_at
         FROM billing_periods b JOIN parties p ON p.id = b.party_id
         WHERE ($1 IS NULL OR b.party_id = $1)
           AND ($2 = FALSE OR COALESCE(p.owner_reseller_id, 0) = COALESCE($3, 0))
           AND ($4 IS NULL OR b.status = $4)
           AND ($5 IS NULL OR b.id > $5)
         ORDER BY b.id LIMIT +$6",
        args![f.party_id, restrict, owner_id, f.status.clone(), after_id, limit],
    )
    .await
}
