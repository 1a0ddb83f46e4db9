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

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<UserRow>, StoreError> {
    tx.fetch_optional(
        crate::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")),
        args![id],
    )
    .await
}

/// Users in id order after `after_id`; with `reseller_id`, only that reseller's users.
pub async fn list(
    tx: &mut Tx,
    reseller_id: Option<i64>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<UserRow>, StoreError> {
    tx.fetch_all(
        crate::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users
             WHERE ($1 IS NULL OR reseller_id = $1) AND ($2 IS NULL OR id > $2)
             ORDER BY id LIMIT +$3"
        )),
        args![reseller_id, after_id, limit],
    )
    .await
}

/// Writes the changeable fields of a user.
pub async fn update(tx: &mut Tx, user: &UserRow) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE users SET role = $2, reseller_id = $3, personal_data_access = $4, disabled = $5 WHERE id = $1",
        args![
            user.id,
            user.role.clone(),
            user.reseller_id,
            user.personal_data_access,
            user.disabled
        ],
    )
    .await?;
    Ok(())
}

pub async fn set_password_hash(tx: &mut Tx, id: i64, password_hash: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        args![id, password_hash],
    )
    .await?;
    Ok(())
}

/// Ends every web session of the user, so a new password or role takes effect at the next request.
pub async fn end_web_sessions(tx: &mut Tx, user_id: i64) -> Result<u64, StoreError> {
    tx.execute("DELETE FROM web_sessions WHERE user_id = $1", args![user_id])
        .await
}

/// An API token without its hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The user's tokens, oldest first, revoked ones included.
pub async fn tokens_of(tx: &mut Tx, user_id: i64) -> Result<Vec<TokenRow>, StoreError> {
    tx.fetch_all(
        "SELECT id, user_id, created_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY id",
        args![user_id],
    )
    .await
}

pub async fn token(tx: &mut Tx, id: i64) -> Result<Option<TokenRow>, StoreError> {
    tx.fetch_optional(
        "SELECT id, user_id, created_at, revoked_at FROM api_tokens WHERE id = $1",
        args![id],
    )
    .await
}

/// Marks a live token revoked; answers whether it was live.
pub async fn revoke_token(tx: &mut Tx, id: i64, at_us: i64) -> Result<bool, StoreError> {
    let changed = tx
        .execute(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            args![id, at_us],
        )
        .await?;
    Ok(changed > 0)
}
