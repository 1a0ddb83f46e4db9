//! Payments, credit sources and their allocations to invoices (customer-classes §5.7).

use crate::db::in_list;
use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

/// A credit source with credit left: a payment xDR or an invoice with a negative total.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenCredit {
    pub source_xdr_id: Option<i64>,
    pub source_invoice_id: Option<i64>,
    pub remaining: i64,
}

/// The party's credit sources with credit left (after allocations and refunds), oldest first (FIFO by the
/// instant they were recorded).
pub async fn open_credits(tx: &mut Tx, party_id: i64) -> Result<Vec<OpenCredit>, StoreError> {
    tx.fetch_all(
        "SELECT source_xdr_id, source_invoice_id, remaining FROM (
             SELECT x.id AS source_xdr_id, CAST(NULL AS BIGINT) AS source_invoice_id,
                 CAST(-x.amount - COALESCE((SELECT SUM(a.amount) FROM allocations a WHERE a.source_xdr_id = x.id), 0)
                     - COALESCE((SELECT SUM(r.amount) FROM refund_sources r WHERE r.source_xdr_id = x.id), 0)
                     AS BIGINT) AS remaining,
                 x.created_at AS at, x.id AS tie
             FROM xdrs x WHERE x.party_id = $1 AND x.kind = 'payment'
             UNION ALL
             SELECT CAST(NULL AS BIGINT), i.id,
                 CAST(-i.total - COALESCE((SELECT SUM(a.amount) FROM allocations a WHERE a.source_invoice_id = i.id), 0)
                     - COALESCE((SELECT SUM(r.amount) FROM refund_sources r WHERE r.source_invoice_id = i.id), 0)
                     AS BIGINT),
                 i.created_at, i.id
             FROM invoices i WHERE i.party_id = $1 AND i.total < 0 AND i.status <> 'void'
         ) c
         WHERE remaining > 0
         ORDER BY at, tie",
        args![party_id],
    )
    .await
}

#[derive(sqlx::FromRow)]
struct PartyIdRow {
    party_id: i64,
}

/// Which of these parties have unallocated credit ([`open_credits`] not empty), with one statement per
/// [`crate::parties::ID_BATCH`] parties: issuing skips the credit step for the others.
pub async fn parties_with_credit(tx: &mut Tx, party_ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    let mut found = Vec::new();
    for chunk in party_ids.chunks(crate::parties::ID_BATCH) {
        let list = in_list(1, chunk.len());
        let sql = format!(
            "SELECT DISTINCT party_id FROM (
                 SELECT x.party_id,
                     CAST(-x.amount - COALESCE((SELECT SUM(a.amount) FROM allocations a WHERE a.source_xdr_id = x.id), 0)
                         - COALESCE((SELECT SUM(r.amount) FROM refund_sources r WHERE r.source_xdr_id = x.id), 0)
                         AS BIGINT) AS remaining
                 FROM xdrs x WHERE x.party_id IN ({list}) AND x.kind = 'payment'
                 UNION ALL
                 SELECT i.party_id,
                     CAST(-i.total - COALESCE((SELECT SUM(a.amount) FROM allocations a WHERE a.source_invoice_id = i.id), 0)
                         - COALESCE((SELECT SUM(r.amount) FROM refund_sources r WHERE r.source_invoice_id = i.id), 0)
                         AS BIGINT)
                 FROM invoices i WHERE i.party_id IN ({list}) AND i.total < 0 AND i.status <> 'void'
             ) c
             WHERE remaining > 0"
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        let rows: Vec<PartyIdRow> = tx.fetch_all(AssertSqlSafe(sql), values).await?;
        found.extend(rows.into_iter().map(|r| r.party_id));
    }
    found.sort_unstable();
    Ok(found)
}

/// An invoice still to be paid.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenInvoice {
    pub id: i64,
    pub open_amount: i64,
    pub card_only: bool,
}

/// The party's invoices with an open amount, any status but `void`, oldest first (issue date, then number).
pub async fn open_invoices(tx: &mut Tx, party_id: i64) -> Result<Vec<OpenInvoice>, StoreError> {
    tx.fetch_all(
        "SELECT id, open_amount, card_only FROM invoices
         WHERE party_id = $1 AND open_amount > 0 AND status <> 'void'
         ORDER BY issue_date, number, id",
        args![party_id],
    )
    .await
}

/// One allocation about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAllocation {
    pub party_id: i64,
    pub source_xdr_id: Option<i64>,
    pub source_invoice_id: Option<i64>,
    pub invoice_id: i64,
    pub amount: i64,
    pub at: i64,
}

pub async fn insert(tx: &mut Tx, a: &NewAllocation, created_at: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO allocations (party_id, source_xdr_id, source_invoice_id, invoice_id, amount, at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            a.party_id,
            a.source_xdr_id,
            a.source_invoice_id,
            a.invoice_id,
            a.amount,
            a.at,
            created_at
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AllocationRow {
    pub id: i64,
    pub source_xdr_id: Option<i64>,
    pub source_invoice_id: Option<i64>,
    pub invoice_id: i64,
    pub amount: i64,
    pub at: i64,
}

/// The allocations made from the credit of a (negative) invoice, in the order they were made.
pub async fn from_invoice(tx: &mut Tx, source_invoice_id: i64) -> Result<Vec<AllocationRow>, StoreError> {
    tx.fetch_all(
        "SELECT id, source_xdr_id, source_invoice_id, invoice_id, amount, at FROM allocations
         WHERE source_invoice_id = $1 ORDER BY id",
        args![source_invoice_id],
    )
    .await
}

/// The allocations made to an invoice, in the order they were made.
pub async fn of_invoice(tx: &mut Tx, invoice_id: i64) -> Result<Vec<AllocationRow>, StoreError> {
    tx.fetch_all(
        "SELECT id, source_xdr_id, source_invoice_id, invoice_id, amount, at FROM allocations
         WHERE invoice_id = $1 ORDER BY id",
        args![invoice_id],
    )
    .await
}

/// Sets an invoice's open amount and status.
pub async fn set_open(tx: &mut Tx, invoice_id: i64, open_amount: i64, status: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE invoices SET open_amount = $2, status = $3 WHERE id = $1",
        args![invoice_id, open_amount, status.to_owned()],
    )
    .await?;
    Ok(())
}

/// A posted payment as stored for idempotent re-sends.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentRow {
    pub xdr_id: i64,
    pub party_id: i64,
    pub invoice_id: Option<i64>,
    pub result: String,
}

pub async fn insert_payment(tx: &mut Tx, p: &PaymentRow, created_at: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO payments (xdr_id, party_id, invoice_id, result, created_at) VALUES ($1, $2, $3, $4, $5)",
        args![p.xdr_id, p.party_id, p.invoice_id, p.result.clone(), created_at],
    )
    .await?;
    Ok(())
}

pub async fn payment(tx: &mut Tx, xdr_id: i64) -> Result<Option<PaymentRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe("SELECT xdr_id, party_id, invoice_id, result FROM payments WHERE xdr_id = $1".to_owned()),
        args![xdr_id],
    )
    .await
}

/// Takes the invoice's row lock for the rest of the transaction, so that its open amount read next is the
/// latest committed one and no concurrent allocation can change it meanwhile (a no-op on SQLite, whose writer
/// is single).
pub async fn lock_invoice(tx: &mut Tx, invoice_id: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE invoices SET open_amount = open_amount WHERE id = $1",
        args![invoice_id],
    )
    .await?;
    Ok(())
}

/// Removes every allocation made to the invoice (void, §5.7): their credit is unallocated again. Answers the
/// removed rows, which the caller records in the audit log.
pub async fn remove_to_invoice(tx: &mut Tx, invoice_id: i64) -> Result<Vec<AllocationRow>, StoreError> {
    let rows = of_invoice(tx, invoice_id).await?;
    tx.execute("DELETE FROM allocations WHERE invoice_id = $1", args![invoice_id])
        .await?;
    Ok(rows)
}

#[derive(sqlx::FromRow)]
struct CountRow {
    uses: i64,
}

/// Whether credit of this (negative) invoice was allocated to other invoices or refunded.
pub async fn credit_used(tx: &mut Tx, invoice_id: i64) -> Result<bool, StoreError> {
    let row: CountRow = tx
        .fetch_one(
            "SELECT CAST(COUNT(*) AS BIGINT) AS uses FROM (
                 SELECT id FROM allocations WHERE source_invoice_id = $1
                 UNION ALL SELECT id FROM refund_sources WHERE source_invoice_id = $1
             ) u",
            args![invoice_id],
        )
        .await?;
    Ok(row.uses > 0)
}
