//! Installation settings: one JSON value per key.

use crate::{StoreError, Tx, args};

#[derive(sqlx::FromRow)]
struct SettingRow {
    value: String,
}

pub async fn get(tx: &mut Tx, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let row: Option<SettingRow> = tx
        .fetch_optional("SELECT value FROM installation_settings WHERE key = $1", args![key])
        .await?;
    row.map(|r| serde_json::from_str(&r.value).map_err(StoreError::from))
        .transpose()
}

pub async fn put(tx: &mut Tx, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO installation_settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        args![key, value.to_string()],
    )
    .await?;
    Ok(())
}

/// A scalar subquery answering every stored setting as one text, keys in order, each value prefixed with its
/// length so that no two different sets of settings give the same text (NULL when none is stored). Readers
/// that keep something worked out from the settings compare it to tell whether that still holds.
pub const FINGERPRINT: &str = "SELECT string_agg(key || ':' || length(value) || ':' || value, ',' ORDER BY key)
    FROM installation_settings";

#[derive(sqlx::FromRow)]
struct FingerprintRow {
    fingerprint: Option<String>,
}

/// The [`FINGERPRINT`] of the stored settings.
pub async fn fingerprint(tx: &mut Tx) -> Result<Option<String>, StoreError> {
    let row: FingerprintRow = tx
        .fetch_one(
            crate::AssertSqlSafe(format!("SELECT ({FINGERPRINT}) AS fingerprint")),
            args![],
        )
        .await?;
    Ok(row.fingerprint)
}
