//! Webhook endpoints: where an owner's signed webhook deliveries go.

use crate::{StoreError, Tx, args};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: i64,
    pub owner_reseller_id: Option<i64>,
    pub url: String,
    pub secret_ref: String,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

pub async fn insert(
    tx: &mut Tx,
    owner_reseller_id: Option<i64>,
    url: &str,
    secret_ref: &str,
    created_at: i64,
) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO webhook_endpoints (owner_reseller_id, url, secret_ref, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
            args![owner_reseller_id, url, secret_ref, created_at],
        )
        .await?;
    Ok(row.id)
}

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<EndpointRow>, StoreError> {
    tx.fetch_optional(
        "SELECT id, owner_reseller_id, url, secret_ref, created_at FROM webhook_endpoints WHERE id = $1",
        args![id],
    )
    .await
}

/// Endpoints in id order after `after_id`; `owner` = only that owner's (`Some(None)` = the operator's).
pub async fn list(
    tx: &mut Tx,
    owner: Option<Option<i64>>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<EndpointRow>, StoreError> {
    let (owner_filtered, owner_id) = match owner {
        Some(owner) => (true, owner),
        None => (false, None),
    };
    tx.fetch_all(
        "SELECT id, owner_reseller_id, url, secret_ref, created_at FROM webhook_endpoints
         WHERE ($1 = FALSE OR COALESCE(owner_reseller_id, 0) = COALESCE($2, 0)) AND ($3 IS NULL OR id > $3)
         ORDER BY id LIMIT +$4",
        args![owner_filtered, owner_id, after_id, limit],
    )
    .await
}

/// Every endpoint of one owner (null = the operator).
pub async fn of_owner(tx: &mut Tx, owner_reseller_id: Option<i64>) -> Result<Vec<EndpointRow>, StoreError> {
    list(tx, Some(owner_reseller_id), None, i64::MAX).await
}

pub async fn delete(tx: &mut Tx, id: i64) -> Result<bool, StoreError> {
    Ok(tx
        .execute("DELETE FROM webhook_endpoints WHERE id = $1", args![id])
        .await?
        == 1)
}

#[derive(sqlx::FromRow)]
struct ValueRow {
    value: String,
}

/// The signing secret an endpoint names, read only to sign a delivery; `None` when it was never stored.
pub async fn signing_secret(
    tx: &mut Tx,
    owner_reseller_id: Option<i64>,
    name: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<ValueRow> = tx
        .fetch_optional(
            "SELECT value FROM secrets WHERE COALESCE(owner_reseller_id, 0) = COALESCE($1, 0) AND name = $2",
            args![owner_reseller_id, name],
        )
        .await?;
    Ok(row.map(|r| r.value))
}
