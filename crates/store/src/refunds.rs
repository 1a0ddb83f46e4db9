//! Refunds: unallocated credit returned to a party, and the credit each refund took from each credit source
//! (a payment xDR or an invoice with a negative total). `allocations::open_credits` subtracts what is kept here.

use crate::{StoreError, Tx, args};

/// A refund about to be stored, with the request it answered and its answer (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    pub xdr_id: i64,
    pub party_id: i64,
    /// Positive.
    pub amount: i64,
    pub request: String,
    pub result: String,
}

/// One stored refund.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefundRow {
    pub xdr_id: i64,
    pub party_id: i64,
    pub amount: i64,
    pub request: String,
    pub result: String,
    pub created_at: i64,
}

/// Credit one refund took from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundSource {
    pub source_xdr_id: Option<i64>,
    pub source_invoice_id: Option<i64>,
    /// Positive.
    pub amount: i64,
}

/// Stores a refund and the credit it took, source by source.
pub async fn insert(
    tx: &mut Tx,
    refund: &NewRefund,
    sources: &[RefundSource],
    created_at: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO refunds (xdr_id, party_id, amount, request, result, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            refund.xdr_id,
            refund.party_id,
            refund.amount,
            refund.request.clone(),
            refund.result.clone(),
            created_at
        ],
    )
    .await?;
    for source in sources {
        tx.execute(
            "INSERT INTO refund_sources (refund_xdr_id, party_id, source_xdr_id, source_invoice_id, amount)
             VALUES ($1, $2, $3, $4, $5)",
            args![
                refund.xdr_id,
                refund.party_id,
                source.source_xdr_id,
                source.source_invoice_id,
                source.amount
            ],
        )
        .await?;
    }
    Ok(())
}

pub async fn get(tx: &mut Tx, xdr_id: i64) -> Result<Option<RefundRow>, StoreError> {
    tx.fetch_optional(
        "SELECT xdr_id, party_id, amount, request, result, created_at FROM refunds WHERE xdr_id = $1",
        args![xdr_id],
    )
    .await
}

/// The party's refunds after `after_xdr_id`, oldest first, at most `limit`.
pub async fn of_party(tx: &mut Tx, party_id: i64, after_xdr_id: i64, limit: i64) -> Result<Vec<RefundRow>, StoreError> {
    tx.fetch_all(
        "SELECT xdr_id, party_id, amount, request, result, created_at FROM refunds
         WHERE party_id = $1 AND xdr_id > $2 ORDER BY xdr_id LIMIT +$3",
        args![party_id, after_xdr_id, limit],
    )
    .await
}
