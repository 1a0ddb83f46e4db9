//! Sessions of the web UI, keyed by the SHA-256 of their id.

use crate::users::UserRow;
use crate::{StoreError, Tx, args};

pub async fn insert(
    tx: &mut Tx,
    id_hash: &str,
    user_id: i64,
    csrf_token: &str,
    created_at_us: i64,
    expires_at_us: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO web_sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        args![id_hash, user_id, csrf_token, created_at_us, expires_at_us],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub csrf_token: String,
    #[sqlx(flatten)]
    pub user: UserRow,
}

/// The live session with this id hash and its enabled user.
pub async fn live(tx: &mut Tx, id_hash: &str, now_us: i64) -> Result<Option<SessionRow>, StoreError> {
    tx.fetch_optional(
        "SELECT s.csrf_token, u.id, u.login, u.password_hash, u.role, u.reseller_id, u.personal_data_access,
                u.disabled, u.created_at
         FROM web_sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE",
        args![id_hash, now_us],
    )
    .await
}

pub async fn delete(tx: &mut Tx, id_hash: &str) -> Result<(), StoreError> {
    tx.execute("DELETE FROM web_sessions WHERE id_hash = $1", args![id_hash])
        .await?;
    Ok(())
}

/// Removes sessions that expired before `now`, so the table does not grow with every login.
pub async fn delete_expired(tx: &mut Tx, now_us: i64) -> Result<u64, StoreError> {
    tx.execute("DELETE FROM web_sessions WHERE expires_at <= $1", args![now_us])
        .await
}
