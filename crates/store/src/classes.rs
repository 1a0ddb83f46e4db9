//! Customer classes: the document as JSON plus the columns that lists filter and sort on, the references
//! the document makes, and the revision history.

use crate::{AssertSqlSafe, StoreError, Tx, args};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClassRow {
    pub id: i64,
    pub owner_reseller_id: Option<i64>,
    pub owner_name: Option<String>,
    pub name: String,
    pub name_key: String,
    pub is_default: bool,
    pub currency: Option<String>,
    pub business_model: String,
    pub description: String,
    pub archive_xdrs: bool,
    pub invoices: String,
    pub taxation_method: String,
    pub revision: i64,
    pub document: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub member_count: i64,
}

const CLASS_SELECT: &str = "SELECT c.id, c.owner_reseller_id, r.name AS owner_name, c.name, c.name_key, c.is_default,
        c.currency, c.business_model, c.description, c.archive_xdrs, c.invoices, c.taxation_method, c.revision,
        c.document, c.created_at, c.updated_at, c.member_count
    FROM customer_classes c LEFT JOIN parties r ON r.id = c.owner_reseller_id";

/// The stored form of a class; list columns are derived from the document by the caller.
#[derive(Debug, Clone)]
pub struct ClassRecord {
    pub owner_reseller_id: Option<i64>,
    pub name: String,
    pub name_key: String,
    pub is_default: bool,
    pub currency: Option<String>,
    pub business_model: String,
    pub description: String,
    pub archive_xdrs: bool,
    pub invoices: String,
    pub taxation_method: String,
    pub document: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

pub async fn insert(tx: &mut Tx, c: &ClassRecord, at_us: i64) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO customer_classes (owner_reseller_id, name, name_key, is_default, currency, business_model,
                 description, archive_xdrs, invoices, taxation_method, revision, document, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, $12) RETURNING id",
            args![
                c.owner_reseller_id,
                c.name.as_str(),
                c.name_key.as_str(),
                c.is_default,
                c.currency.clone(),
                c.business_model.as_str(),
                c.description.as_str(),
                c.archive_xdrs,
                c.invoices.as_str(),
                c.taxation_method.as_str(),
                c.document.to_string(),
                at_us
            ],
        )
        .await?;
    Ok(row.id)
}

/// Stores a new revision if the class is still at `expected_revision`; false when someone else was faster.
pub async fn update(
    tx: &mut Tx,
    id: i64,
    expected_revision: i64,
    c: &ClassRecord,
    at_us: i64,
) -> Result<bool, StoreError> {
    let changed = tx
        .execute(
            "UPDATE customer_classes SET name = $1, name_key = $2, business_model = $3, description = $4,
                 archive_xdrs = $5, invoices = $6, taxation_method = $7, document = $8, updated_at = $9,
                 revision = revision + 1
             WHERE id = $10 AND revision = $11",
            args![
                c.name.as_str(),
                c.name_key.as_str(),
                c.business_model.as_str(),
                c.description.as_str(),
                c.archive_xdrs,
                c.invoices.as_str(),
                c.taxation_method.as_str(),
                c.document.to_string(),
                at_us,
                id,
                expected_revision
            ],
        )
        .await?;
    Ok(changed == 1)
}

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<ClassRow>, StoreError> {
    tx.fetch_optional(AssertSqlSafe(format!("{CLASS_SELECT} WHERE c.id = $1")), args![id])
        .await
}

/// The stored document of a class and the revision it is at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClassDocumentRow {
    pub id: i64,
    pub revision: i64,
    pub document: String,
}

/// [`get`] for readers that need only the settings: without the member count, which costs a walk over the
/// class's members.
pub async fn document(tx: &mut Tx, id: i64) -> Result<Option<ClassDocumentRow>, StoreError> {
    tx.fetch_optional(
        "SELECT id, revision, document FROM customer_classes WHERE id = $1",
        args![id],
    )
    .await
}

/// The Default class of an owner (`None` = the administrator).
pub async fn default_of(tx: &mut Tx, owner_reseller_id: Option<i64>) -> Result<Option<ClassRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!(
            "{CLASS_SELECT} WHERE c.is_default = TRUE AND COALESCE(c.owner_reseller_id, 0) = COALESCE($1, 0)"
        )),
        args![owner_reseller_id],
    )
    .await
}

pub async fn name_taken(
    tx: &mut Tx,
    owner_reseller_id: Option<i64>,
    name_key: &str,
    except_id: Option<i64>,
) -> Result<bool, StoreError> {
    let row: Option<IdRow> = tx
        .fetch_optional(
            "SELECT id FROM customer_classes
             WHERE COALESCE(owner_reseller_id, 0) = COALESCE($1, 0) AND name_key = $2 AND ($3 IS NULL OR id <> $3)",
            args![owner_reseller_id, name_key, except_id],
        )
        .await?;
    Ok(row.is_some())
}

/// Serialises writers of one class: a class edit that checks its members (V6, V31) and an assignment that adds
/// one. SQLite has one writer already; PostgreSQL takes the row lock until the transaction ends.
pub async fn lock(tx: &mut Tx, id: i64) -> Result<(), StoreError> {
    if tx.backend() == crate::Backend::Postgres {
        let _: Option<IdRow> = tx
            .fetch_optional("SELECT id FROM customer_classes WHERE id = $1 FOR UPDATE", args![id])
            .await?;
    }
    Ok(())
}

pub async fn delete(tx: &mut Tx, id: i64) -> Result<bool, StoreError> {
    Ok(tx
        .execute("DELETE FROM customer_classes WHERE id = $1", args![id])
        .await?
        == 1)
}

/// List filters; every `Some` narrows the result.
#[derive(Debug, Clone, Default)]
pub struct ClassFilter {
    /// Only classes of this owner (`Some(None)` = administrator classes).
    pub owner: Option<Option<i64>>,
    /// Substring of `name_key`, already lower-cased.
    pub name: Option<String>,
    pub business_model: Option<String>,
    /// `Some(None)` = classes without currency.
    pub currency: Option<Option<String>>,
    /// Classes without currency or with this one.
    pub currency_or_none: Option<String>,
    pub invoices: Option<String>,
    pub taxation_method: Option<String>,
}

/// One row of the class list: the columns stored beside the document, without the document itself, which a
/// list never shows and which would make every page carry several kilobytes per class.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClassListRow {
    pub id: i64,
    pub owner_reseller_id: Option<i64>,
    pub owner_name: Option<String>,
    pub name: String,
    pub name_key: String,
    pub is_default: bool,
    pub currency: Option<String>,
    pub business_model: String,
    pub description: String,
    pub archive_xdrs: bool,
    pub invoices: String,
    pub taxation_method: String,
    pub revision: i64,
    pub member_count: i64,
}

const CLASS_LIST_SELECT: &str = "SELECT c.id, c.owner_reseller_id, r.name AS owner_name, c.name, c.name_key,
        c.is_default, c.currency, c.business_model, c.description, c.archive_xdrs, c.invoices, c.taxation_method,
        c.revision, c.member_count
    FROM customer_classes c LEFT JOIN parties r ON r.id = c.owner_reseller_id";

/// Ordered by `name_key` bytewise, then id; `after` is the (name_key, id) of the previous page's last row.
pub async fn list(
    tx: &mut Tx,
    f: &ClassFilter,
    after: Option<(String, i64)>,
    limit: i64,
) -> Result<Vec<ClassListRow>, StoreError> {
    let (owner_restrict, owner_id) = match f.owner {
        None => (false, None),
        Some(id) => (true, id),
    };
    let (currency_restrict, currency) = match &f.currency {
        None => (false, None),
        Some(c) => (true, c.clone()),
    };
    let name_pattern = f.name.as_ref().map(|n| format!("%{}%", escape_like(n)));
    let (after_key, after_id) = match after {
        Some((k, id)) => (Some(k), Some(id)),
        None => (None, None),
    };
    // SQLite prepares a statement again at every run when a bound value may change its plan, which a LIKE
    // pattern does; the list without a name filter leaves the pattern out so its prepared statement is reused.
    let name_condition = if name_pattern.is_some() {
        "c.name_key LIKE $3 ESCAPE '\\'"
    } else {
        "$3 IS NULL"
    };
    tx.fetch_all(
        AssertSqlSafe(format!(
            "{CLASS_LIST_SELECT}
             WHERE ($1 = FALSE OR COALESCE(c.owner_reseller_id, 0) = COALESCE($2, 0))
               AND {name_condition}
               AND ($4 IS NULL OR c.business_model = $4)
               AND ($5 = FALSE OR COALESCE(c.currency, '') = COALESCE($6, ''))
               AND ($7 IS NULL OR c.currency IS NULL OR c.currency = $7)
               AND ($8 IS NULL OR c.invoices = $8)
               AND ($9 IS NULL OR c.taxation_method = $9)
               AND ($10 IS NULL OR c.name_key > $10 OR (c.name_key = $10 AND c.id > $11))
             ORDER BY c.name_key, c.id
             LIMIT +$12"
        )),
        args![
            owner_restrict,
            owner_id,
            name_pattern,
            f.business_model.clone(),
            currency_restrict,
            currency,
            f.currency_or_none.clone(),
            f.invoices.clone(),
            f.taxation_method.clone(),
            after_key,
            after_id,
            limit
        ],
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

/// Replaces the set of objects a class points at (`kind` e.g. `template`, `ref` the id or key as text).
pub async fn set_references(tx: &mut Tx, class_id: i64, refs: &[(&str, String)]) -> Result<(), StoreError> {
    tx.execute("DELETE FROM class_references WHERE class_id = $1", args![class_id])
        .await?;
    for (kind, reference) in refs {
        tx.execute(
            "INSERT INTO class_references (class_id, kind, ref) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            args![class_id, *kind, reference.as_str()],
        )
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// How many classes point at this object.
pub async fn referencing_count(tx: &mut Tx, kind: &str, reference: &str) -> Result<i64, StoreError> {
    let row: CountRow = tx
        .fetch_one(
            "SELECT COUNT(*) AS n FROM class_references WHERE kind = $1 AND ref = $2",
            args![kind, reference],
        )
        .await?;
    Ok(row.n)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevisionRow {
    pub class_id: i64,
    pub revision: i64,
    pub owner_reseller_id: Option<i64>,
    pub author_type: String,
    pub author_user_id: Option<i64>,
    pub author_name: String,
    pub at: i64,
    pub change_note: Option<String>,
    pub snapshot: String,
    pub diff: String,
}

pub async fn insert_revision(tx: &mut Tx, r: &RevisionRow) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO class_revisions (class_id, revision, owner_reseller_id, author_type, author_user_id,
             author_name, at, change_note, snapshot, diff)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        args![
            r.class_id,
            r.revision,
            r.owner_reseller_id,
            r.author_type.as_str(),
            r.author_user_id,
            r.author_name.as_str(),
            r.at,
            r.change_note.clone(),
            r.snapshot.as_str(),
            r.diff.as_str()
        ],
    )
    .await?;
    Ok(())
}

const REVISION_COLUMNS: &str =
    "class_id, revision, owner_reseller_id, author_type, author_user_id, author_name, at, change_note, snapshot, diff";

/// Newest first, below `before_revision` when given.
pub async fn revisions(
    tx: &mut Tx,
    class_id: i64,
    before_revision: Option<i64>,
    limit: i64,
) -> Result<Vec<RevisionRow>, StoreError> {
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {REVISION_COLUMNS} FROM class_revisions
             WHERE class_id = $1 AND ($2 IS NULL OR revision < $2) ORDER BY revision DESC LIMIT +$3"
        )),
        args![class_id, before_revision, limit],
    )
    .await
}

pub async fn revision(tx: &mut Tx, class_id: i64, revision: i64) -> Result<Option<RevisionRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!(
            "SELECT {REVISION_COLUMNS} FROM class_revisions WHERE class_id = $1 AND revision = $2"
        )),
        args![class_id, revision],
    )
    .await
}
