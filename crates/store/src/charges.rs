//! Charge requests (customer-classes §5.8 rule 5): each `charge_requested` event sent to the charge connector,
//! and the first result it reported.

use crate::{StoreError, Tx, args};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChargeRequestRow {
    pub request_id: String,
    pub invoice_id: i64,
    pub party_id: i64,
    pub amount: i64,
    pub currency: String,
    pub attempt: i64,
    pub requested_at: i64,
    /// `succeeded` or `failed`; null while no result has arrived.
    pub outcome: Option<String>,
    pub outcome_at: Option<i64>,
    pub reason: Option<String>,
    pub payment_xdr_id: Option<i64>,
}

const COLUMNS: &str = "request_id, invoice_id, party_id, amount, currency, attempt, requested_at, outcome, \
    outcome_at, reason, payment_xdr_id";

/// A request about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChargeRequest {
    pub request_id: String,
    pub invoice_id: i64,
    pub party_id: i64,
    pub amount: i64,
    pub currency: String,
    pub attempt: i64,
}

/// Stores a request; answers false when this request id is already stored (nothing is changed then).
pub async fn insert(tx: &mut Tx, request: &NewChargeRequest, requested_at: i64) -> Result<bool, StoreError> {
    let written = tx
        .execute(
            "INSERT INTO charge_requests (request_id, invoice_id, party_id, amount, currency, attempt, requested_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
            args![
                request.request_id.clone(),
                request.invoice_id,
                request.party_id,
                request.amount,
                request.currency.clone(),
                request.attempt,
                requested_at
            ],
        )
        .await?;
    Ok(written == 1)
}

pub async fn get(tx: &mut Tx, request_id: &str) -> Result<Option<ChargeRequestRow>, StoreError> {
    tx.fetch_optional(
        crate::AssertSqlSafe(format!("SELECT {COLUMNS} FROM charge_requests WHERE request_id = $1")),
        args![request_id],
    )
    .await
}

/// The first result of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeResult<'a> {
    pub outcome: &'a str,
    pub at: i64,
    pub reason: Option<&'a str>,
}

/// Records the result unless one is recorded already; answers whether this one was. The row lock the update
/// takes makes a concurrent second result wait, then find the first one recorded.
pub async fn record_result(
    tx: &mut Tx,
    request_id: &str,
    result: &ChargeResult<'_>,
    recorded_at: i64,
) -> Result<bool, StoreError> {
    let written = tx
        .execute(
            "UPDATE charge_requests SET outcome = $1, outcome_at = $2, reason = $3, result_recorded_at = $4
             WHERE request_id = $5 AND outcome IS NULL",
            args![result.outcome, result.at, result.reason, recorded_at, request_id],
        )
        .await?;
    Ok(written == 1)
}

/// Links the payment a succeeded charge booked.
pub async fn set_payment(tx: &mut Tx, request_id: &str, payment_xdr_id: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE charge_requests SET payment_xdr_id = $1 WHERE request_id = $2",
        args![payment_xdr_id, request_id],
    )
    .await?;
    Ok(())
}
