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
