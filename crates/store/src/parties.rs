//! Customers and resellers: one table, one id space.

use crate::{AssertSqlSafe, StoreError, Tx, args};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartyRow {
    pub id: i64,
    pub kind: String,
    pub owner_reseller_id: Option<i64>,
    pub name: String,
    pub currency: String,
    pub class_id: i64,
    pub billing_period: String,
    pub time_zone: String,
    pub activated_at: i64,
    pub prepaid: bool,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub tax_registered: bool,
    pub tax_exempt: bool,
    pub tax_exemption_reason: Option<String>,
    pub status: String,
    pub custom_fields: String,
    pub overrides: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const PARTY_COLUMNS: &str = "id, kind, owner_reseller_id, name, currency, class_id, billing_period, time_zone, \
    activated_at, prepaid, country, email, phone, tax_id, tax_registered, tax_exempt, tax_exemption_reason, status, \
    custom_fields, overrides, created_at, updated_at";

/// A party about to be stored; `id` is assigned by the database.
#[derive(Debug, Clone)]
pub struct NewParty {
    pub kind: &'static str,
    pub owner_reseller_id: Option<i64>,
    pub name: String,
    pub currency: String,
    pub class_id: i64,
    pub billing_period: String,
    pub time_zone: String,
    pub activated_at: i64,
    pub prepaid: bool,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub tax_registered: bool,
    pub tax_exempt: bool,
    pub tax_exemption_reason: Option<String>,
    pub custom_fields: serde_json::Value,
    pub overrides: serde_json::Value,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

pub async fn insert(tx: &mut Tx, p: NewParty) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO parties (kind, owner_reseller_id, name, currency, class_id, billing_period, time_zone,
                 activated_at, prepaid, country, email, phone, tax_id, tax_registered, tax_exempt,
                 tax_exemption_reason, custom_fields, overrides, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)
             RETURNING id",
            args![
                p.kind,
                p.owner_reseller_id,
                p.name,
                p.currency,
                p.class_id,
                p.billing_period,
                p.time_zone,
                p.activated_at,
                p.prepaid,
                p.country,
                p.email,
                p.phone,
                p.tax_id,
                p.tax_registered,
                p.tax_exempt,
                p.tax_exemption_reason,
                p.custom_fields.to_string(),
                p.overrides.to_string(),
                p.created_at
            ],
        )
        .await?;
    Ok(row.id)
}

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<PartyRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!("SELECT {PARTY_COLUMNS} FROM parties WHERE id = $1")),
        args![id],
    )
    .await
}

/// Parties of one kind in id order after `after_id`; `owner` restricts to one owner (`Some(None)` = the
/// administrator's direct parties).
pub async fn list(
    tx: &mut Tx,
    kind: &str,
    owner: Option<Option<i64>>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<PartyRow>, StoreError> {
    let (restrict, owner_id) = match owner {
        None => (false, None),
        Some(id) => (true, id),
    };
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {PARTY_COLUMNS} FROM parties
             WHERE kind = $1 AND ($2 = FALSE OR COALESCE(owner_reseller_id, 0) = COALESCE($3, 0))
               AND ($4 IS NULL OR id > $4)
             ORDER BY id LIMIT $5"
        )),
        args![kind, restrict, owner_id, after_id, limit],
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberCounts {
    pub customers: i64,
    pub resellers: i64,
}

pub async fn member_counts(tx: &mut Tx, class_id: i64) -> Result<MemberCounts, StoreError> {
    tx.fetch_one(
        "SELECT COALESCE(SUM(CASE WHEN kind = 'customer' THEN 1 ELSE 0 END), 0) AS customers,
                COALESCE(SUM(CASE WHEN kind = 'reseller' THEN 1 ELSE 0 END), 0) AS resellers
         FROM parties WHERE class_id = $1",
        args![class_id],
    )
    .await
}

/// The members of a class with what preview and validation need to know about them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberFacts {
    pub id: i64,
    pub kind: String,
    pub currency: String,
    pub custom_fields: String,
    pub overrides: String,
}

pub async fn member_facts(tx: &mut Tx, class_id: i64) -> Result<Vec<MemberFacts>, StoreError> {
    tx.fetch_all(
        "SELECT id, kind, currency, custom_fields, overrides FROM parties WHERE class_id = $1 ORDER BY id",
        args![class_id],
    )
    .await
}
