//! The audit log: who changed what, when. Written in the same transaction as the change.

use crate::{StoreError, Tx, args};

#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub at_us: i64,
    pub user_id: Option<i64>,
    pub actor_name: &'a str,
    pub owner_reseller_id: Option<i64>,
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: String,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub user_id: Option<i64>,
    pub actor_name: String,
    pub owner_reseller_id: Option<i64>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: String,
}

pub async fn record(tx: &mut Tx, entry: NewAuditEntry<'_>) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (at, user_id, actor_name, owner_reseller_id, action, object_type, object_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            entry.at_us,
            entry.user_id,
            entry.actor_name,
            entry.owner_reseller_id,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.details.to_string()
        ],
    )
    .await?;
    Ok(())
}

/// Newest first. `owner` limits the log to one reseller's entries (`Some(None)` = administrator's only).
pub async fn list(
    tx: &mut Tx,
    owner: Option<Option<i64>>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let (restrict, owner_id) = match owner {
        None => (false, None),
        Some(id) => (true, id),
    };
    tx.fetch_all(
        "SELECT id, at, user_id, actor_name, owner_reseller_id, action, object_type, object_id, details
         FROM audit_log
         WHERE ($1 = FALSE OR COALESCE(owner_reseller_id, 0) = COALESCE($2, 0))
           AND ($3 IS NULL OR id < $3)
         ORDER BY id DESC LIMIT +$4",
        args![restrict, owner_id, before_id, limit],
    )
    .await
}
