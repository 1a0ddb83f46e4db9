//! Data retention: the xDR detail of closed, settled periods replaced by one summary xDR per line group, so the
//! ledger keeps every amount (balances, invoice totals) while the individual records go.

use crate::{Backend, StoreError, Tx, args};

/// The kinds whose detail is summarised. Taxes, rounding, payments, fees and adjustments are few per period
/// and carry their own meaning (tax fields, allocations), so they stay as they are.
pub const DETAIL_KINDS: [&str; 5] = ["usage", "one_time", "recurring", "credit", "measured_service"];

/// A closed period that may hold purgeable detail.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CandidateRow {
    pub period_id: i64,
    pub party_id: i64,
    pub owner_reseller_id: Option<i64>,
    pub end_at: i64,
    pub status: String,
    /// The party's time zone, in which the period's end is compared with a date.
    pub time_zone: String,
}

const CANDIDATE_SELECT: &str = "SELECT b.id AS period_id, b.party_id, p.owner_reseller_id, b.end_at, b.status, \
    p.time_zone FROM billing_periods b JOIN parties p ON p.id = b.party_id";

/// Closed periods ending at or before `until_us` with a regular invoice, after `after_id`, by id.
pub async fn candidates(
    tx: &mut Tx,
    until_us: i64,
    after_id: i64,
    limit: i64,
) -> Result<Vec<CandidateRow>, StoreError> {
    tx.fetch_all(
        crate::AssertSqlSafe(format!(
            "{CANDIDATE_SELECT}
             WHERE b.status = 'closed' AND b.end_at <= $1 AND b.id > $2
               AND EXISTS (SELECT 1 FROM invoices i WHERE i.period_id = b.id AND i.kind = 'regular')
             ORDER BY b.id LIMIT +$3"
        )),
        args![until_us, after_id, limit],
    )
    .await
}

/// One period, locked for the rest of the transaction on PostgreSQL (SQLite has a single writer).
pub async fn lock_period(tx: &mut Tx, period_id: i64) -> Result<Option<CandidateRow>, StoreError> {
    tx.execute(
        "UPDATE billing_periods SET status = status WHERE id = $1",
        args![period_id],
    )
    .await?;
    tx.fetch_optional(
        crate::AssertSqlSafe(format!("{CANDIDATE_SELECT} WHERE b.id = $1")),
        args![period_id],
    )
    .await
}

/// An invoice of a period: issued for it or holding one of its xDRs.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PeriodInvoiceRow {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub open_amount: i64,
}

/// The invoices issued for the period and those holding any of its xDRs, by id.
pub async fn invoices_of_period(tx: &mut Tx, period_id: i64) -> Result<Vec<PeriodInvoiceRow>, StoreError> {
    tx.fetch_all(
        "SELECT i.id, i.number, i.kind, i.status, i.open_amount FROM invoices i
         WHERE i.period_id = $1
            OR i.id IN (SELECT x.invoice_id FROM xdrs x WHERE x.period_id = $1 AND x.invoice_id IS NOT NULL)
         ORDER BY i.id",
        args![period_id],
    )
    .await
}

/// xDRs of one period that share everything an invoice line, the ledger and the statistics look at.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DetailGroup {
    pub invoice_id: Option<i64>,
    pub kind: String,
    pub service: String,
    pub rate_code: Option<String>,
    pub hidden: bool,
    pub late: bool,
    pub records: i64,
    pub quantity: i64,
    pub amount: i64,
    pub earliest: i64,
    /// The group's smallest id: this row becomes the summary, so line order (earliest instant, then smallest
    /// id) stays as it was.
    pub keep_id: i64,
}

/// The period's groups of detail xDRs with more than one record, in the order of their smallest id. The
/// records of a credited invoice and of its credit notes stay apart: a credit note names the records it
/// mirrors one by one, and merging them would make credited records look uncredited.
pub async fn detail_groups(tx: &mut Tx, period_id: i64) -> Result<Vec<DetailGroup>, StoreError> {
    let kinds: Vec<String> = DETAIL_KINDS.iter().map(|k| format!("'{k}'")).collect();
    tx.fetch_all(
        crate::AssertSqlSafe(format!(
            "SELECT invoice_id, kind, service, rate_code, hidden, late, CAST(COUNT(*) AS BIGINT) AS records,
                    CAST(SUM(quantity) AS BIGINT) AS quantity, CAST(SUM(amount) AS BIGINT) AS amount,
                    MIN(occurred_at) AS earliest, MIN(id) AS keep_id
             FROM xdrs WHERE period_id = $1 AND kind IN ({})
               AND (invoice_id IS NULL OR NOT EXISTS (SELECT 1 FROM credit_notes c
                   WHERE c.invoice_id = xdrs.invoice_id OR c.credited_invoice_id = xdrs.invoice_id))
             GROUP BY invoice_id, kind, service, rate_code, hidden, late
             HAVING COUNT(*) > 1
             ORDER BY MIN(id)",
            kinds.join(", ")
        )),
        args![period_id],
    )
    .await
}

/// Turns the group's first row into its summary and deletes the other rows; answers how many were deleted.
///
/// Every key of the group goes: the summary's is cleared and the others' rows are deleted, so a record re-sent
/// under one of them is stored again, as before retention ran. On PostgreSQL the keys live in `xdr_keys`
/// (migration 0025) and are deleted there first. Nothing else refers to these rows: the columns that name an
/// xDR (payments, allocations, refunds and their sources, charge requests) all name `payment` records, which
/// are not among [`DETAIL_KINDS`].
pub async fn summarise(tx: &mut Tx, period_id: i64, group: &DetailGroup, description: &str) -> Result<u64, StoreError> {
    if tx.backend() == Backend::Postgres {
        tx.execute(
            "DELETE FROM xdr_keys k USING xdrs x
             WHERE x.period_id = $1 AND x.kind = $2 AND x.service = $3 AND x.rate_code IS NOT DISTINCT FROM $4
               AND x.invoice_id IS NOT DISTINCT FROM $5 AND x.hidden = $6 AND x.late = $7
               AND k.party_id = x.party_id AND k.external_id = x.external_id",
            args![
                period_id,
                group.kind.clone(),
                group.service.clone(),
                group.rate_code.clone(),
                group.invoice_id,
                group.hidden,
                group.late
            ],
        )
        .await?;
    }
    tx.execute(
        "UPDATE xdrs SET quantity = $2, amount = $3, occurred_at = $4, description = $5, external_id = NULL
         WHERE id = $1",
        args![group.keep_id, group.quantity, group.amount, group.earliest, description],
    )
    .await?;
    tx.execute(
        "DELETE FROM xdrs
         WHERE period_id = $1 AND id <> $2 AND kind = $3 AND service = $4 AND rate_code IS NOT DISTINCT FROM $5
           AND invoice_id IS NOT DISTINCT FROM $6 AND hidden = $7 AND late = $8",
        args![
            period_id,
            group.keep_id,
            group.kind.clone(),
            group.service.clone(),
            group.rate_code.clone(),
            group.invoice_id,
            group.hidden,
            group.late
        ],
    )
    .await
}
