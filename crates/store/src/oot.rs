//! Out-of-turn invoices (customer-classes §5.10): the idempotency record of each request, what the checks of
//! rule 2 read about the xDRs a request names, and the amount due an issued invoice ends up with.

use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

/// A stored request: the hash of the body it was issued for and the invoice it issued.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OotRequestRow {
    pub body_hash: String,
    pub invoice_id: i64,
}

/// The request the party made with this key, if any.
pub async fn find(tx: &mut Tx, party_id: i64, key: &str) -> Result<Option<OotRequestRow>, StoreError> {
    tx.fetch_optional(
        "SELECT body_hash, invoice_id FROM oot_requests WHERE party_id = $1 AND idempotency_key = $2",
        args![party_id, key],
    )
    .await
}

/// Records the invoice a request issued. A concurrent request with the same key makes this a unique violation.
pub async fn insert(
    tx: &mut Tx,
    party_id: i64,
    key: &str,
    body_hash: &str,
    invoice_id: i64,
    created_at: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO oot_requests (party_id, idempotency_key, body_hash, invoice_id, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        args![party_id, key, body_hash, invoice_id, created_at],
    )
    .await?;
    Ok(())
}

/// What rule 2 checks of a named xDR: whose it is, its kind, the invoice it is on and its period's status.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct XdrFacts {
    pub id: i64,
    pub party_id: i64,
    pub kind: String,
    pub invoice_id: Option<i64>,
    pub invoice_number: Option<String>,
    pub period_id: i64,
    pub period_status: String,
}

/// The facts of the stored xDRs among `ids`, in id order; unknown ids are left out.
pub async fn xdr_facts(tx: &mut Tx, ids: &[i64]) -> Result<Vec<XdrFacts>, StoreError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(crate::parties::ID_BATCH) {
        let list: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT x.id, x.party_id, x.kind, x.invoice_id, i.number AS invoice_number, x.period_id,
                 b.status AS period_status
             FROM xdrs x
             JOIN billing_periods b ON b.id = x.period_id
             LEFT JOIN invoices i ON i.id = x.invoice_id
             WHERE x.id IN ({})",
            list.join(", ")
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(tx.fetch_all::<XdrFacts>(AssertSqlSafe(sql), values).await?);
    }
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// An out-of-turn invoice is not balance-aware: what it asks for is its open amount once the party's credit
/// has been applied at issue (§5.6 rule 4).
pub async fn settle_amount_due(tx: &mut Tx, invoice_id: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE invoices SET amount_due = open_amount WHERE id = $1",
        args![invoice_id],
    )
    .await?;
    Ok(())
}
