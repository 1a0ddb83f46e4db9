//! Users (administrators and reseller users) and their API tokens. Only hashes are stored.

use crate::{StoreError, Tx, args};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub login: String,
    pub password_hash: String,
    pub role: String,
    pub reseller_id: Option<i64>,
    pub personal_data_access: bool,
    pub disabled: bool,
    pub created_at: i64,
}

const USER_COLUMNS: &str = "id, login, password_hash, role, reseller_id, personal_data_access, disabled, created_at";

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

pub async fn insert(
    tx: &mut Tx,
    login: &str,
    password_hash: &str,
    role: &str,
    reseller_id: Option<i64>,
    created_at_us: i64,
) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO users (login, password_hash, role, reseller_id, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            args![login, password_hash, role, reseller_id, created_at_us],
        )
        .await?;
    Ok(row.id)
}

pub async fn by_login(tx: &mut Tx, login: &str) -> Result<Option<UserRow>, StoreError> {
    tx.fetch_optional(
        crate::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1")),
        args![login],
    )
    .await
}

pub async fn insert_token(tx: &mut Tx, user_id: i64, token_hash: &str, created_at_us: i64) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
            args![user_id, token_hash, created_at_us],
        )
        .await?;
    Ok(row.id)
}

/// The enabled user owning a live token with this hash.
pub async fn by_token_hash(tx: &mut Tx, token_hash: &str) -> Result<Option<UserRow>, StoreError> {
    tx.fetch_optional(
        "SELECT u.id, u.login, u.password_hash, u.role, u.reseller_id, u.personal_data_access, u.disabled,
                u.created_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = FALSE",
        args![token_hash],
    )
    .await
}

#[derive(sqlx::FromRow)]
struct AccessRow {
    personal_data_access: bool,
}

/// Whether the user may read personal-data custom-field values; false for unknown users.
pub async fn personal_data_access(tx: &mut Tx, user_id: i64) -> Result<bool, StoreError> {
    let row: Option<AccessRow> = tx
        .fetch_optional("SELECT personal_data_access FROM users WHERE id = $1", args![user_id])
        .await?;
    Ok(row.is_some_and(|r| r.personal_data_access))
}
