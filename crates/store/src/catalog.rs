//! Objects that classes point at, stored as JSON documents of one `kind` each (see the migration).

use crate::{AssertSqlSafe, StoreError, Tx, args};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CatalogRow {
    pub id: i64,
    pub kind: String,
    pub owner_reseller_id: Option<i64>,
    pub name_key: String,
    pub shared: bool,
    pub builtin: bool,
    pub document: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const CATALOG_COLUMNS: &str =
    "id, kind, owner_reseller_id, name_key, shared, builtin, document, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct CatalogRecord {
    pub kind: &'static str,
    pub owner_reseller_id: Option<i64>,
    pub name_key: String,
    pub shared: bool,
    pub builtin: bool,
    pub document: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

pub async fn insert(tx: &mut Tx, r: &CatalogRecord, at_us: i64) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO catalog_objects (kind, owner_reseller_id, name_key, shared, builtin, document, created_at,
                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            args![
                r.kind,
                r.owner_reseller_id,
                r.name_key.as_str(),
                r.shared,
                r.builtin,
                r.document.to_string(),
                at_us
            ],
        )
        .await?;
    Ok(row.id)
}

pub async fn update(tx: &mut Tx, id: i64, r: &CatalogRecord, at_us: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE catalog_objects SET name_key = $1, shared = $2, document = $3, updated_at = $4 WHERE id = $5",
        args![r.name_key.as_str(), r.shared, r.document.to_string(), at_us, id],
    )
    .await?;
    Ok(())
}

pub async fn get(tx: &mut Tx, kind: &str, id: i64) -> Result<Option<CatalogRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!(
            "SELECT {CATALOG_COLUMNS} FROM catalog_objects WHERE kind = $1 AND id = $2"
        )),
        args![kind, id],
    )
    .await
}

pub async fn by_key(
    tx: &mut Tx,
    kind: &str,
    owner_reseller_id: Option<i64>,
    name_key: &str,
) -> Result<Option<CatalogRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!(
            "SELECT {CATALOG_COLUMNS} FROM catalog_objects
             WHERE kind = $1 AND COALESCE(owner_reseller_id, 0) = COALESCE($2, 0) AND name_key = $3"
        )),
        args![kind, owner_reseller_id, name_key],
    )
    .await
}

/// Objects of one kind in id order. `visible_to` = a reseller sees its own and shared administrator
/// objects; `None` lists everything.
pub async fn list(
    tx: &mut Tx,
    kind: &str,
    visible_to: Option<i64>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<CatalogRow>, StoreError> {
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {CATALOG_COLUMNS} FROM catalog_objects
             WHERE kind = $1
               AND ($2 IS NULL OR owner_reseller_id = $2 OR (owner_reseller_id IS NULL AND shared = TRUE))
               AND ($3 IS NULL OR id > $3)
             ORDER BY id LIMIT +$4"
        )),
        args![kind, visible_to, after_id, limit],
    )
    .await
}

pub async fn delete(tx: &mut Tx, kind: &str, id: i64) -> Result<bool, StoreError> {
    Ok(tx
        .execute(
            "DELETE FROM catalog_objects WHERE kind = $1 AND id = $2",
            args![kind, id],
        )
        .await?
        == 1)
}

/// Secrets are write-only: they can be stored and checked for existence, never listed with their value.
pub async fn put_secret(
    tx: &mut Tx,
    owner_reseller_id: Option<i64>,
    name: &str,
    value: &str,
    at_us: i64,
) -> Result<(), StoreError> {
    let updated = tx
        .execute(
            "UPDATE secrets SET value = $1, updated_at = $2
             WHERE COALESCE(owner_reseller_id, 0) = COALESCE($3, 0) AND name = $4",
            args![value, at_us, owner_reseller_id, name],
        )
        .await?;
    if updated == 0 {
        tx.execute(
            "INSERT INTO secrets (owner_reseller_id, name, value, updated_at) VALUES ($1, $2, $3, $4)",
            args![owner_reseller_id, name, value, at_us],
        )
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct NameRow {
    name: String,
}

pub async fn secret_names(tx: &mut Tx, owner_reseller_id: Option<i64>) -> Result<Vec<String>, StoreError> {
    let rows: Vec<NameRow> = tx
        .fetch_all(
            "SELECT name FROM secrets WHERE COALESCE(owner_reseller_id, 0) = COALESCE($1, 0) ORDER BY name",
            args![owner_reseller_id],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

#[derive(sqlx::FromRow)]
struct ValueRow {
    value: String,
}

/// The value of an owner's secret, for the engine's own outgoing calls only.
pub async fn secret_value(
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
