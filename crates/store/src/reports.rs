//! The reads behind the accounting exports: invoices issued in a range of local dates, payments received,
//! open receivables and the tax xDRs of issued invoices. Each row carries its party's currency (invoices have
//! none of their own) and is narrowed to one owner when `owner` is `Some` (`Some(None)` = the operator's own
//! parties), as in `invoices::InvoiceFilter`.

use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

/// The owner restriction as bound parameters: whether to restrict, and to which reseller (none = operator).
fn owner_args(owner: Option<Option<i64>>) -> (bool, Option<i64>) {
    match owner {
        None => (false, None),
        Some(id) => (true, id),
    }
}

/// One issued invoice of the journal.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JournalRow {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub party_id: i64,
    pub party_name: String,
    pub currency: String,
    pub issue_date: String,
    pub due_date: String,
    pub net_total: i64,
    pub tax_total: i64,
    pub total: i64,
    pub status: String,
}

/// Invoices with an issue date in `[from, to]` (`YYYY-MM-DD`, compared as text), by issue date then id.
pub async fn journal(
    tx: &mut Tx,
    owner: Option<Option<i64>>,
    from: &str,
    to: &str,
) -> Result<Vec<JournalRow>, StoreError> {
    let (restrict, owner_id) = owner_args(owner);
    tx.fetch_all(
        "SELECT i.id, i.number, i.kind, i.party_id, p.name AS party_name, p.currency, i.issue_date, i.due_date,
                i.net_total, i.tax_total, i.total, i.status
         FROM invoices i JOIN parties p ON p.id = i.party_id
         WHERE i.issue_date >= $1 AND i.issue_date <= $2
           AND ($3 = FALSE OR COALESCE(i.owner_reseller_id, 0) = COALESCE($4, 0))
         ORDER BY i.issue_date, i.id",
        args![from, to, restrict, owner_id],
    )
    .await
}

/// One received payment: a `payment` xDR with its party's zone, so the caller can tell its local date.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentRow {
    pub xdr_id: i64,
    pub party_id: i64,
    pub party_name: String,
    pub currency: String,
    pub time_zone: String,
    pub external_id: Option<String>,
    pub occurred_at: i64,
    /// Negative: a payment lowers what the party owes.
    pub amount: i64,
}

/// Payment xDRs with `occurred_at` in `[from_us, until_us)`, by instant then id.
pub async fn payments(
    tx: &mut Tx,
    owner: Option<Option<i64>>,
    from_us: i64,
    until_us: i64,
) -> Result<Vec<PaymentRow>, StoreError> {
    let (restrict, owner_id) = owner_args(owner);
    tx.fetch_all(
        "SELECT x.id AS xdr_id, x.party_id, p.name AS party_name, p.currency, p.time_zone, x.external_id,
                x.occurred_at, x.amount
         FROM xdrs x JOIN parties p ON p.id = x.party_id
         WHERE x.kind = 'payment' AND x.occurred_at >= $1 AND x.occurred_at < $2
           AND ($3 = FALSE OR COALESCE(p.owner_reseller_id, 0) = COALESCE($4, 0))
         ORDER BY x.occurred_at, x.id",
        args![from_us, until_us, restrict, owner_id],
    )
    .await
}

/// One allocation made from a payment xDR.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentAllocationRow {
    pub source_xdr_id: i64,
    pub invoice_id: i64,
    pub invoice_number: String,
    pub amount: i64,
    pub at: i64,
}

/// The allocations made from these payment xDRs, in the order they were made.
pub async fn allocations_of_payments(tx: &mut Tx, xdr_ids: &[i64]) -> Result<Vec<PaymentAllocationRow>, StoreError> {
    let mut found = Vec::new();
    for chunk in xdr_ids.chunks(crate::parties::ID_BATCH) {
        let list: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT a.source_xdr_id, a.invoice_id, i.number AS invoice_number, a.amount, a.at
             FROM allocations a JOIN invoices i ON i.id = a.invoice_id
             WHERE a.source_xdr_id IN ({})
             ORDER BY a.id",
            list.join(", ")
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        found.extend(tx.fetch_all::<PaymentAllocationRow>(AssertSqlSafe(sql), values).await?);
    }
    Ok(found)
}

/// One invoice still to be paid, for the ageing buckets.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReceivableRow {
    pub id: i64,
    pub owner_reseller_id: Option<i64>,
    pub currency: String,
    pub due_date: String,
    pub open_amount: i64,
}

/// Invoices issued up to `to` (inclusive) that are not void and have an open amount, by id.
pub async fn receivables(tx: &mut Tx, owner: Option<Option<i64>>, to: &str) -> Result<Vec<ReceivableRow>, StoreError> {
    let (restrict, owner_id) = owner_args(owner);
    tx.fetch_all(
        "SELECT i.id, i.owner_reseller_id, p.currency, i.due_date, i.open_amount
         FROM invoices i JOIN parties p ON p.id = i.party_id
         WHERE i.status <> 'void' AND i.open_amount > 0 AND i.issue_date <= $1
           AND ($2 = FALSE OR COALESCE(i.owner_reseller_id, 0) = COALESCE($3, 0))
         ORDER BY i.id",
        args![to, restrict, owner_id],
    )
    .await
}

/// One tax xDR on an invoice, with the country and currency of the invoiced party.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TaxRow {
    pub tax_name: Option<String>,
    pub tax_rate_percent: Option<i64>,
    pub tax_base: Option<i64>,
    pub tax_amount: Option<i64>,
    pub reverse_charge: Option<bool>,
    pub outside_scope: Option<bool>,
    pub country: Option<String>,
    pub currency: String,
}

/// The tax xDRs of the invoices issued in `[from, to]` that are not void.
pub async fn taxes(tx: &mut Tx, owner: Option<Option<i64>>, from: &str, to: &str) -> Result<Vec<TaxRow>, StoreError> {
    let (restrict, owner_id) = owner_args(owner);
    tx.fetch_all(
        "SELECT x.tax_name, x.tax_rate_percent, x.tax_base, x.tax_amount, x.reverse_charge, x.outside_scope,
                p.country, p.currency
         FROM xdrs x JOIN invoices i ON i.id = x.invoice_id JOIN parties p ON p.id = i.party_id
         WHERE x.kind = 'tax' AND i.status <> 'void' AND i.issue_date >= $1 AND i.issue_date <= $2
           AND ($3 = FALSE OR COALESCE(i.owner_reseller_id, 0) = COALESCE($4, 0))
         ORDER BY x.id",
        args![from, to, restrict, owner_id],
    )
    .await
}
