//! The writes and reads of a period close (customer-classes §5.3), set-based per batch of parties.

use crate::periods::PeriodRow;
use crate::xdrs::XdrRow;
use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

/// Ids of the parties activated at or before `at_us`, in id order.
pub async fn party_ids_active_at(tx: &mut Tx, at_us: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<IdRow> = tx
        .fetch_all(
            "SELECT id FROM parties WHERE activated_at <= $1 ORDER BY id",
            args![at_us],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Ids of the parties with a period left `closing` by a failed close, in id order.
pub async fn party_ids_closing(tx: &mut Tx) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<IdRow> = tx
        .fetch_all(
            "SELECT DISTINCT party_id AS id FROM billing_periods WHERE status = 'closing' ORDER BY party_id",
            vec![],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

fn in_list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The not yet closed periods of these parties that ended at or before `end_us`, by party and start.
pub async fn unclosed_ended(tx: &mut Tx, party_ids: &[i64], end_us: i64) -> Result<Vec<PeriodRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in party_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "SELECT id, party_id, start_at, end_at, status, class_revision, frozen_at, close_error, created_at
             FROM billing_periods
             WHERE status <> 'closed' AND end_at <= $1 AND party_id IN ({})
             ORDER BY party_id, start_at",
            in_list(2, chunk.len())
        );
        let mut values = args![end_us];
        values.extend(chunk.iter().map(|&id| Arg::from(id)));
        rows.extend(tx.fetch_all::<PeriodRow>(AssertSqlSafe(sql), values).await?);
    }
    Ok(rows)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FrozenRow {
    pub id: i64,
    pub class_revision: Option<i64>,
    pub settings_snapshot: Option<String>,
}

/// The stored snapshot of these periods (set by an earlier freeze).
pub async fn snapshots(tx: &mut Tx, period_ids: &[i64]) -> Result<Vec<FrozenRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in period_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "SELECT id, class_revision, settings_snapshot FROM billing_periods WHERE id IN ({})",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(tx.fetch_all::<FrozenRow>(AssertSqlSafe(sql), values).await?);
    }
    Ok(rows)
}

/// S1: the period stops taking xDRs and keeps the class revision and the settings it closes under.
pub async fn freeze(tx: &mut Tx, id: i64, revision: i64, snapshot: &str, at_us: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE billing_periods SET status = 'closing', class_revision = $1, settings_snapshot = $2,
             frozen_at = COALESCE(frozen_at, $3), close_error = NULL
         WHERE id = $4",
        args![revision, snapshot, at_us, id],
    )
    .await?;
    Ok(())
}

/// Records why a close stopped; the period stays `closing`.
pub async fn fail(tx: &mut Tx, id: i64, error: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE billing_periods SET status = 'closing', close_error = $1 WHERE id = $2",
        args![error, id],
    )
    .await?;
    Ok(())
}

/// S12 for many periods at once.
pub async fn mark_closed(tx: &mut Tx, period_ids: &[i64]) -> Result<(), StoreError> {
    for chunk in period_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "UPDATE billing_periods SET status = 'closed', close_error = NULL WHERE id IN ({})",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

/// Every xDR of these periods, by period and id.
pub async fn xdrs_of_periods(tx: &mut Tx, period_ids: &[i64]) -> Result<Vec<XdrRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in period_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "SELECT {} FROM xdrs x JOIN parties p ON p.id = x.party_id WHERE x.period_id IN ({})
             ORDER BY x.period_id, x.id",
            crate::xdrs::XDR_COLUMNS,
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(tx.fetch_all::<XdrRow>(AssertSqlSafe(sql), values).await?);
    }
    Ok(rows)
}

/// The xDRs of an invoice, in id order.
pub async fn xdrs_of_invoice(tx: &mut Tx, invoice_id: i64) -> Result<Vec<XdrRow>, StoreError> {
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {} FROM xdrs x JOIN parties p ON p.id = x.party_id WHERE x.invoice_id = $1 ORDER BY x.id",
            crate::xdrs::XDR_COLUMNS
        )),
        args![invoice_id],
    )
    .await
}

#[derive(sqlx::FromRow)]
struct SumRow {
    total: Option<i64>,
}

/// Σ `amount` of the party's xDRs of the periods that start before `start_us`: the balance at that period's
/// start (§5.1).
pub async fn balance_before(tx: &mut Tx, party_id: i64, start_us: i64) -> Result<i64, StoreError> {
    let row: SumRow = tx
        .fetch_one(
            "SELECT CAST(SUM(x.amount) AS BIGINT) AS total FROM xdrs x
             JOIN billing_periods b ON b.id = x.period_id
             WHERE x.party_id = $1 AND b.start_at < $2",
            args![party_id, start_us],
        )
        .await?;
    Ok(row.total.unwrap_or(0))
}

/// An xDR the engine books at close: a tax, the rounding or a balance reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineXdr {
    pub party_id: i64,
    pub period_id: i64,
    pub occurred_at: i64,
    pub kind: String,
    pub service: String,
    pub amount: i64,
    /// Deterministic per period, step and position, so a repeated step books nothing twice.
    pub external_id: String,
    pub hidden: bool,
    pub tax_name: Option<String>,
    pub tax_rate_percent: Option<i64>,
    pub tax_base: Option<i64>,
    pub tax_amount: Option<i64>,
    pub reverse_charge: Option<bool>,
    pub outside_scope: Option<bool>,
}

/// Books engine xDRs (quantity 1); a key that is already stored is skipped. Answers the ids of the rows stored
/// now.
pub async fn insert_engine_xdrs(tx: &mut Tx, rows: &[EngineXdr], created_at: i64) -> Result<Vec<i64>, StoreError> {
    const COLUMNS: usize = 17;
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(crate::xdrs::INSERT_BATCH / 2) {
        let mut sql = String::from(
            "INSERT INTO xdrs (party_id, period_id, occurred_at, kind, service, quantity, amount, external_id, \
             hidden, late, tax_name, tax_rate_percent, tax_base, tax_amount, reverse_charge, outside_scope, \
             created_at) VALUES ",
        );
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for (i, x) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&in_list(i * COLUMNS + 1, COLUMNS));
            sql.push(')');
            values.extend([
                Arg::from(x.party_id),
                Arg::from(x.period_id),
                Arg::from(x.occurred_at),
                Arg::from(x.kind.clone()),
                Arg::from(x.service.clone()),
                Arg::from(100_000_i64),
                Arg::from(x.amount),
                Arg::from(x.external_id.clone()),
                Arg::from(x.hidden),
                Arg::from(false),
                Arg::from(x.tax_name.clone()),
                Arg::from(x.tax_rate_percent),
                Arg::from(x.tax_base),
                Arg::from(x.tax_amount),
                Arg::Bool(x.reverse_charge),
                Arg::Bool(x.outside_scope),
                Arg::from(created_at),
            ]);
        }
        sql.push_str(" ON CONFLICT (party_id, external_id) WHERE external_id IS NOT NULL DO NOTHING RETURNING id");
        ids.extend(
            tx.fetch_all::<IdRow>(AssertSqlSafe(sql), values)
                .await?
                .into_iter()
                .map(|r| r.id),
        );
    }
    ids.sort_unstable();
    Ok(ids)
}
