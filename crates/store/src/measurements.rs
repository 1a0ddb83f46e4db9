//! Samples of measured services (customer-classes §5.11): one row per party, metric and instant. A sample sent
//! again for the same key replaces the stored one.

use crate::db::{rows_per_statement, value_rows};
use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MeasurementRow {
    pub party_id: i64,
    pub metric: String,
    /// Microseconds since the epoch.
    pub at: i64,
    pub value: i64,
    pub created_at: i64,
}

/// A sample about to be stored; `at` in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMeasurement {
    pub party_id: i64,
    pub metric: String,
    pub at: i64,
    pub value: i64,
}

const COLUMNS: &str = "party_id, metric, at, value, created_at";

/// Stores `rows`, replacing any stored sample with the same `(party_id, metric, at)`. The rows must carry
/// distinct keys: one statement may not touch the same row twice.
pub async fn upsert_many(tx: &mut Tx, rows: &[NewMeasurement], created_at: i64) -> Result<(), StoreError> {
    for chunk in rows.chunks(rows_per_statement(5)) {
        let mut sql = format!(
            "INSERT INTO measurements ({COLUMNS}) VALUES {}",
            value_rows(chunk.len(), 5)
        );
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for m in chunk {
            values.extend([
                Arg::from(m.party_id),
                Arg::from(m.metric.clone()),
                Arg::from(m.at),
                Arg::from(m.value),
                Arg::from(created_at),
            ]);
        }
        sql.push_str(
            " ON CONFLICT (party_id, metric, at) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
        );
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

/// What a list of one party's samples may be narrowed to; `from` inclusive, `to` exclusive (microseconds).
#[derive(Debug, Clone, Default)]
pub struct MeasurementFilter {
    pub metric: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// One party's samples ordered by instant, then metric, after the `(at, metric)` key `after`.
pub async fn list(
    tx: &mut Tx,
    party_id: i64,
    f: &MeasurementFilter,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<MeasurementRow>, StoreError> {
    let (after_at, after_metric) = match after {
        Some((at, metric)) => (Some(at), Some(metric)),
        None => (None, None),
    };
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM measurements
             WHERE party_id = $1
               AND ($2 IS NULL OR metric = $2)
               AND ($3 IS NULL OR at >= $3)
               AND ($4 IS NULL OR at < $4)
               AND ($5 IS NULL OR at > $5 OR (at = $5 AND metric > $6))
             ORDER BY at, metric LIMIT +$7"
        )),
        args![party_id, f.metric.clone(), f.from, f.to, after_at, after_metric, limit],
    )
    .await
}

/// Windows per statement: three parameters each.
const WINDOW_BATCH: usize = 300;

/// The samples of several parties, each within its own window `[start, end)` given as `(party_id, start, end)`:
/// what the period close of a batch aggregates, read with one statement per [`WINDOW_BATCH`] windows. Ordered by
/// party, metric and instant.
pub async fn samples_in_windows(tx: &mut Tx, windows: &[(i64, i64, i64)]) -> Result<Vec<MeasurementRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in windows.chunks(WINDOW_BATCH) {
        let conditions: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(party_id = ${} AND at >= ${} AND at < ${})",
                    3 * i + 1,
                    3 * i + 2,
                    3 * i + 3
                )
            })
            .collect();
        let sql = format!(
            "SELECT party_id, metric, at, value, created_at FROM measurements WHERE {} ORDER BY party_id, metric, at",
            conditions.join(" OR ")
        );
        let values: Vec<Arg> = chunk
            .iter()
            .flat_map(|&(party, start, end)| [Arg::from(party), Arg::from(start), Arg::from(end)])
            .collect();
        rows.extend(tx.fetch_all::<MeasurementRow>(AssertSqlSafe(sql), values).await?);
    }
    Ok(rows)
}
