//! Customers and resellers: one table, one id space.

use std::sync::LazyLock;

use crate::db::in_list;
use crate::packed::fetch_packed;
use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

/// Read in rows or packed ([`crate::packed`]): the fields are in the order of [`PARTY_COLUMNS`].
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
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
    #[serde(deserialize_with = "crate::packed::flag")]
    pub prepaid: bool,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    #[serde(deserialize_with = "crate::packed::flag")]
    pub tax_registered: bool,
    #[serde(deserialize_with = "crate::packed::flag")]
    pub tax_exempt: bool,
    pub tax_exemption_reason: Option<String>,
    pub status: String,
    #[serde(deserialize_with = "crate::packed::flag")]
    pub blocked: bool,
    pub custom_fields: String,
    pub overrides: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Where the schedule of the current `billing_period` and `time_zone` starts, after a change (§5.2 rule 4).
    pub period_anchor: Option<i64>,
}

const PARTY_COLUMNS: &str = "id, kind, owner_reseller_id, name, currency, class_id, billing_period, time_zone, \
    activated_at, prepaid, country, email, phone, tax_id, tax_registered, tax_exempt, tax_exemption_reason, status, \
    blocked, custom_fields, overrides, created_at, updated_at, period_anchor";

/// What the ledger needs of a party to take its xDRs in and place them in periods: who owns it, its currency and
/// its period schedule. Reading only these keeps the party lookup of every ingest batch small.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PartyBilling {
    pub id: i64,
    pub owner_reseller_id: Option<i64>,
    pub currency: String,
    pub billing_period: String,
    pub time_zone: String,
    pub activated_at: i64,
    pub status: String,
    pub period_anchor: Option<i64>,
}

/// The columns of [`PartyBilling`], in its field order.
const BILLING_COLUMNS: &str =
    "id, owner_reseller_id, currency, billing_period, time_zone, activated_at, status, period_anchor";

impl PartyRow {
    pub fn billing(&self) -> PartyBilling {
        PartyBilling {
            id: self.id,
            owner_reseller_id: self.owner_reseller_id,
            currency: self.currency.clone(),
            billing_period: self.billing_period.clone(),
            time_zone: self.time_zone.clone(),
            activated_at: self.activated_at,
            status: self.status.clone(),
            period_anchor: self.period_anchor,
        }
    }
}

/// How many ids one `IN (...)` list carries; well below the bound-parameter limits of both backends.
pub const ID_BATCH: usize = 500;

/// The editable state of a party, written on create and on every update.
#[derive(Debug, Clone)]
pub struct PartyFields {
    pub name: String,
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
}

/// A party about to be stored; `id` is assigned by the database.
#[derive(Debug, Clone)]
pub struct NewParty {
    pub kind: &'static str,
    pub owner_reseller_id: Option<i64>,
    pub currency: String,
    pub fields: PartyFields,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

/// The lower-cased name that substring search compares against.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

pub async fn insert(tx: &mut Tx, p: NewParty) -> Result<i64, StoreError> {
    let f = p.fields;
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO parties (kind, owner_reseller_id, name, name_key, currency, class_id, billing_period,
                 time_zone, activated_at, prepaid, country, email, phone, tax_id, tax_registered, tax_exempt,
                 tax_exemption_reason, custom_fields, overrides, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)
             RETURNING id",
            args![
                p.kind,
                p.owner_reseller_id,
                f.name.clone(),
                name_key(&f.name),
                p.currency,
                f.class_id,
                f.billing_period,
                f.time_zone,
                f.activated_at,
                f.prepaid,
                f.country,
                f.email,
                f.phone,
                f.tax_id,
                f.tax_registered,
                f.tax_exempt,
                f.tax_exemption_reason,
                f.custom_fields.to_string(),
                f.overrides.to_string(),
                p.created_at
            ],
        )
        .await?;
    Ok(row.id)
}

/// Rewrites the editable state of a party.
pub async fn update(tx: &mut Tx, id: i64, f: &PartyFields, at_us: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE parties SET name = $1, name_key = $2, class_id = $3, billing_period = $4, time_zone = $5,
             activated_at = $6, prepaid = $7, country = $8, email = $9, phone = $10, tax_id = $11,
             tax_registered = $12, tax_exempt = $13, tax_exemption_reason = $14, custom_fields = $15,
             overrides = $16, updated_at = $17
         WHERE id = $18",
        args![
            f.name.clone(),
            name_key(&f.name),
            f.class_id,
            f.billing_period.clone(),
            f.time_zone.clone(),
            f.activated_at,
            f.prepaid,
            f.country.clone(),
            f.email.clone(),
            f.phone.clone(),
            f.tax_id.clone(),
            f.tax_registered,
            f.tax_exempt,
            f.tax_exemption_reason.clone(),
            f.custom_fields.to_string(),
            f.overrides.to_string(),
            at_us,
            id
        ],
    )
    .await?;
    Ok(())
}

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<PartyRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!("SELECT {PARTY_COLUMNS} FROM parties WHERE id = $1")),
        args![id],
    )
    .await
}

/// A party beside the stored document of its class, as one statement reads them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartyWithClass {
    #[sqlx(flatten)]
    pub party: PartyRow,
    pub class_revision: i64,
    pub class_document: String,
}

/// The party `id` and its class's document in one statement, so a read that needs nothing else can run
/// outside a transaction ([`crate::Store::read_single`]).
pub async fn get_with_class(tx: &mut Tx, id: i64) -> Result<Option<PartyWithClass>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {}, c.revision AS class_revision, c.document AS class_document
             FROM parties p JOIN customer_classes c ON c.id = p.class_id WHERE p.id = $1",
            party_columns_of("p")
        )
    });
    tx.fetch_optional(SQL.as_str(), args![id]).await
}

/// [`PARTY_COLUMNS`] of the party table under `alias`, for statements that join other tables.
fn party_columns_of(alias: &str) -> String {
    PARTY_COLUMNS
        .split(',')
        .map(|column| format!("{alias}.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything the effective settings of a party are made of, in one statement: the party, its class's
/// document, its owning reseller's contact facts and the fingerprint of the installation settings
/// ([`crate::settings::FINGERPRINT`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartyForEffective {
    #[sqlx(flatten)]
    pub party: PartyRow,
    pub class_revision: i64,
    pub class_document: String,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub owner_time_zone: Option<String>,
    pub settings_fingerprint: Option<String>,
}

pub async fn get_for_effective(tx: &mut Tx, id: i64) -> Result<Option<PartyForEffective>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {}, c.revision AS class_revision, c.document AS class_document,
                 o.name AS owner_name, o.email AS owner_email, o.time_zone AS owner_time_zone,
                 ({}) AS settings_fingerprint
             FROM parties p JOIN customer_classes c ON c.id = p.class_id
                 LEFT JOIN parties o ON o.id = p.owner_reseller_id
             WHERE p.id = $1",
            party_columns_of("p"),
            crate::settings::FINGERPRINT
        )
    });
    tx.fetch_optional(SQL.as_str(), args![id]).await
}

/// The parties with these ids (missing ids are skipped), loaded [`ID_BATCH`] at a time.
pub async fn get_many(tx: &mut Tx, ids: &[i64]) -> Result<Vec<PartyRow>, StoreError> {
    columns_of_many(tx, PARTY_COLUMNS, ids).await
}

/// [`get_many`] with only the [`PartyBilling`] columns.
pub async fn billing_many(tx: &mut Tx, ids: &[i64]) -> Result<Vec<PartyBilling>, StoreError> {
    columns_of_many(tx, BILLING_COLUMNS, ids).await
}

async fn columns_of_many<T: serde::de::DeserializeOwned>(
    tx: &mut Tx,
    columns: &str,
    ids: &[i64],
) -> Result<Vec<T>, StoreError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ID_BATCH) {
        let from = format!("FROM parties WHERE id IN ({})", in_list(1, chunk.len()));
        let args: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(fetch_packed::<T>(tx, columns, &from, args).await?);
    }
    Ok(rows)
}

/// Moves these parties into `class_id` with one statement per [`ID_BATCH`] ids.
pub async fn set_class_many(tx: &mut Tx, ids: &[i64], class_id: i64, at_us: i64) -> Result<u64, StoreError> {
    let mut changed = 0;
    for chunk in ids.chunks(ID_BATCH) {
        let sql = format!(
            "UPDATE parties SET class_id = $1, updated_at = $2 WHERE id IN ({})",
            in_list(3, chunk.len())
        );
        let mut args = args![class_id, at_us];
        args.extend(chunk.iter().map(|&id| Arg::from(id)));
        changed += tx.execute(AssertSqlSafe(sql), args).await?;
    }
    Ok(changed)
}

/// Replaces the stored custom-field values of one party.
pub async fn set_custom_fields(
    tx: &mut Tx,
    id: i64,
    custom_fields: &serde_json::Value,
    at_us: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE parties SET custom_fields = $1, updated_at = $2 WHERE id = $3",
        args![custom_fields.to_string(), at_us, id],
    )
    .await?;
    Ok(())
}

/// Records where the schedule of a changed `billing_period` or `time_zone` starts.
pub async fn set_period_anchor(tx: &mut Tx, id: i64, anchor_us: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE parties SET period_anchor = $1 WHERE id = $2",
        args![anchor_us, id],
    )
    .await?;
    Ok(())
}

/// Sets the manual block flag; the status that follows from it is stored by the status rule.
pub async fn set_blocked(tx: &mut Tx, id: i64, blocked: bool, at_us: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE parties SET blocked = $1, updated_at = $2 WHERE id = $3",
        args![blocked, at_us, id],
    )
    .await?;
    Ok(())
}

/// What a party list may be narrowed to. `owner` restricts to one owner (`Some(None)` = the administrator's
/// direct parties).
#[derive(Debug, Clone, Default)]
pub struct PartyFilter {
    pub kind: Option<String>,
    pub owner: Option<Option<i64>>,
    pub class_id: Option<i64>,
    pub status: Option<String>,
    pub currency: Option<String>,
    /// Substring of the lower-cased name.
    pub name: Option<String>,
}

/// Parties in id order after `after_id`.
pub async fn list(
    tx: &mut Tx,
    f: &PartyFilter,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<PartyRow>, StoreError> {
    let (restrict, owner_id) = match f.owner {
        None => (false, None),
        Some(id) => (true, id),
    };
    let name_pattern = f.name.as_ref().map(|n| format!("%{}%", escape_like(n)));
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {PARTY_COLUMNS} FROM parties
             WHERE ($1 IS NULL OR kind = $1)
               AND ($2 = FALSE OR COALESCE(owner_reseller_id, 0) = COALESCE($3, 0))
               AND ($4 IS NULL OR class_id = $4)
               AND ($5 IS NULL OR status = $5)
               AND ($6 IS NULL OR currency = $6)
               AND ($7 IS NULL OR name_key LIKE $7 ESCAPE '\\')
               AND ($8 IS NULL OR id > $8)
             ORDER BY id LIMIT +$9"
        )),
        args![
            f.kind.clone(),
            restrict,
            owner_id,
            f.class_id,
            f.status.clone(),
            f.currency.clone(),
            name_pattern,
            after_id,
            limit
        ],
    )
    .await
}

/// The order of [`list_ordered`]: by name (ties by id) or by id alone, ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartyOrder {
    pub by_name: bool,
    pub descending: bool,
}

/// Parties in `order` after the row whose `(name_key, id)` is `after` (the name part is unused in id order);
/// the filters are those of [`list`].
pub async fn list_ordered(
    tx: &mut Tx,
    f: &PartyFilter,
    order: PartyOrder,
    after: Option<(String, i64)>,
    limit: i64,
) -> Result<Vec<PartyRow>, StoreError> {
    let (restrict, owner_id) = match f.owner {
        None => (false, None),
        Some(id) => (true, id),
    };
    let name_pattern = f.name.as_ref().map(|n| format!("%{}%", escape_like(n)));
    let (beyond, direction) = if order.descending { ("<", "DESC") } else { (">", "ASC") };
    let (after_key, after_id) = after.map_or((None, None), |(key, id)| (Some(key), Some(id)));
    let mut args = args![
        f.kind.clone(),
        restrict,
        owner_id,
        f.class_id,
        f.status.clone(),
        f.currency.clone(),
        name_pattern
    ];
    let (position, sort, limit_at) = if order.by_name {
        args.extend(args![after_key, after_id, limit]);
        (
            format!("($9 IS NULL OR name_key {beyond} $8 OR (name_key = $8 AND id {beyond} $9))"),
            format!("name_key {direction}, id {direction}"),
            10,
        )
    } else {
        args.extend(args![after_id, limit]);
        (format!("($8 IS NULL OR id {beyond} $8)"), format!("id {direction}"), 9)
    };
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {PARTY_COLUMNS} FROM parties
             WHERE ($1 IS NULL OR kind = $1)
               AND ($2 = FALSE OR COALESCE(owner_reseller_id, 0) = COALESCE($3, 0))
               AND ($4 IS NULL OR class_id = $4)
               AND ($5 IS NULL OR status = $5)
               AND ($6 IS NULL OR currency = $6)
               AND ($7 IS NULL OR name_key LIKE $7 ESCAPE '\\')
               AND {position}
             ORDER BY {sort} LIMIT +${limit_at}"
        )),
        args,
    )
    .await
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
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

/// Replaces a party's personal data (erasure): its name, contacts and tax id, and its custom values.
pub async fn erase_personal(
    tx: &mut Tx,
    id: i64,
    name: &str,
    custom_fields: &str,
    at_us: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE parties SET name = $1, name_key = $2, email = NULL, phone = NULL, tax_id = NULL,
             custom_fields = $3, updated_at = $4
         WHERE id = $5",
        args![name, name_key(name), custom_fields, at_us, id],
    )
    .await?;
    Ok(())
}
