//! The ledger of rated records (customer-classes §5.1). Ingest writes with multi-row INSERTs inside the
//! caller's transaction; reads join the party for its currency and owner.

use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct XdrRow {
    pub id: i64,
    pub party_id: i64,
    pub period_id: i64,
    pub occurred_at: i64,
    pub kind: String,
    pub service: String,
    pub rate_code: Option<String>,
    pub description: Option<String>,
    pub quantity: i64,
    pub amount: i64,
    pub external_id: Option<String>,
    pub invoice_id: Option<i64>,
    pub hidden: bool,
    pub late: bool,
    pub tax_name: Option<String>,
    pub tax_rate_percent: Option<i64>,
    pub tax_base: Option<i64>,
    pub tax_amount: Option<i64>,
    pub reverse_charge: Option<bool>,
    pub outside_scope: Option<bool>,
    pub created_at: i64,
    /// The party's currency.
    pub currency: String,
}

pub const XDR_COLUMNS: &str = "x.id, x.party_id, x.period_id, x.occurred_at, x.kind, x.service, x.rate_code, \
    x.description, x.quantity, x.amount, x.external_id, x.invoice_id, x.hidden, x.late, x.tax_name, \
    x.tax_rate_percent, x.tax_base, x.tax_amount, x.reverse_charge, x.outside_scope, x.created_at, p.currency";

/// Rows per multi-row INSERT: 13 parameters each stays far below both backends' parameter limits.
pub const INSERT_BATCH: usize = 500;

/// Keys per idempotency lookup (two parameters each).
const KEY_BATCH: usize = 400;

/// A record about to be stored; the database assigns `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewXdr {
    pub party_id: i64,
    pub period_id: i64,
    pub occurred_at: i64,
    pub kind: String,
    pub service: String,
    pub rate_code: Option<String>,
    pub description: Option<String>,
    pub quantity: i64,
    pub amount: i64,
    pub external_id: Option<String>,
    pub late: bool,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

/// Stores `rows` and answers their ids in the order given. Ids of one statement are assigned in VALUES order
/// on both backends, so the ascending list of returned ids lines up with the rows.
pub async fn insert_many(tx: &mut Tx, rows: &[NewXdr], created_at: i64) -> Result<Vec<i64>, StoreError> {
    const COLUMNS: usize = 13;
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(INSERT_BATCH) {
        let mut sql = String::from(
            "INSERT INTO xdrs (party_id, period_id, occurred_at, kind, service, rate_code, description, quantity, \
             amount, external_id, late, hidden, created_at) VALUES ",
        );
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for (i, x) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let first = i * COLUMNS + 1;
            let row: Vec<String> = (first..first + COLUMNS).map(|n| format!("${n}")).collect();
            sql.push('(');
            sql.push_str(&row.join(", "));
            sql.push(')');
            values.extend([
                Arg::from(x.party_id),
                Arg::from(x.period_id),
                Arg::from(x.occurred_at),
                Arg::from(x.kind.clone()),
                Arg::from(x.service.clone()),
                Arg::from(x.rate_code.clone()),
                Arg::from(x.description.clone()),
                Arg::from(x.quantity),
                Arg::from(x.amount),
                Arg::from(x.external_id.clone()),
                Arg::from(x.late),
                Arg::from(false),
                Arg::from(created_at),
            ]);
        }
        sql.push_str(" RETURNING id");
        let mut chunk_ids: Vec<i64> = tx
            .fetch_all::<IdRow>(AssertSqlSafe(sql), values)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// The stored records with these ids, in id order.
pub async fn get_many(tx: &mut Tx, ids: &[i64]) -> Result<Vec<XdrRow>, StoreError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(INSERT_BATCH) {
        let list: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT {XDR_COLUMNS} FROM xdrs x JOIN parties p ON p.id = x.party_id WHERE x.id IN ({}) ORDER BY x.id",
            list.join(", ")
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(tx.fetch_all::<XdrRow>(AssertSqlSafe(sql), values).await?);
    }
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// The stored records carrying any of these `(party_id, external_id)` keys.
pub async fn find_by_keys(tx: &mut Tx, keys: &[(i64, String)]) -> Result<Vec<XdrRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(KEY_BATCH) {
        let pairs: Vec<String> = (0..chunk.len())
            .map(|i| format!("(CAST(${} AS BIGINT), CAST(${} AS TEXT))", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = format!(
            "SELECT {XDR_COLUMNS} FROM xdrs x JOIN parties p ON p.id = x.party_id
             WHERE x.external_id IS NOT NULL AND (x.party_id, x.external_id) IN (VALUES {})",
            pairs.join(", ")
        );
        let mut values = Vec::with_capacity(chunk.len() * 2);
        for (party_id, external_id) in chunk {
            values.push(Arg::from(*party_id));
            values.push(Arg::from(external_id.clone()));
        }
        rows.extend(tx.fetch_all::<XdrRow>(AssertSqlSafe(sql), values).await?);
    }
    Ok(rows)
}

/// What an xDR list may be narrowed to; `owner` as in `parties::PartyFilter`. Instants are microseconds,
/// `from` inclusive and `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct XdrFilter {
    pub party_id: Option<i64>,
    pub period_id: Option<i64>,
    pub kind: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub owner: Option<Option<i64>>,
}

/// Records in id order after `after_id`.
pub async fn list(tx: &mut Tx, f: &XdrFilter, after_id: Option<i64>, limit: i64) -> Result<Vec<XdrRow>, StoreError> {
    let (restrict, owner_id) = match f.owner {
        None => (false, None),
        Some(id) => (true, id),
    };
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {XDR_COLUMNS} FROM xdrs x JOIN parties p ON p.id = x.party_id
             WHERE ($1 IS NULL OR x.party_id = $1)
               AND ($2 IS NULL OR x.period_id = $2)
               AND ($3 IS NULL OR x.kind = $3)
               AND ($4 IS NULL OR x.occurred_at >= $4)
               AND ($5 IS NULL OR x.occurred_at < $5)
               AND ($6 = FALSE OR COALESCE(p.owner_reseller_id, 0) = COALESCE($7, 0))
               AND ($8 IS NULL OR x.id > $8)
             ORDER BY x.id LIMIT $9"
        )),
        args![
            f.party_id,
            f.period_id,
            f.kind.clone(),
            f.from,
            f.to,
            restrict,
            owner_id,
            after_id,
            limit
        ],
    )
    .await
}
