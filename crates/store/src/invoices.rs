//! Invoices (customer-classes §5.6), the gapless number sequence of each owner (§5.3) and the close-time
//! writes on periods and xDRs that go with issuing them.

use crate::db::{in_list, rows_per_statement, value_rows};
use crate::{Arg, AssertSqlSafe, Backend, StoreError, Tx, args};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub party_id: i64,
    pub owner_reseller_id: Option<i64>,
    pub class_id: i64,
    pub class_revision: i64,
    pub settings_snapshot: String,
    pub period_id: Option<i64>,
    pub issue_date: String,
    pub due_date: String,
    pub net_total: i64,
    pub tax_total: i64,
    pub rounding: i64,
    pub total: i64,
    pub previous_balance: i64,
    pub payments: i64,
    pub out_of_turn: i64,
    pub amount_due: i64,
    pub credit_carried: i64,
    pub open_amount: i64,
    pub status: String,
    pub review_state: String,
    pub card_only: bool,
    pub created_at: i64,
}

const INVOICE_COLUMNS: &str = "id, number, kind, party_id, owner_reseller_id, class_id, class_revision, \
    settings_snapshot, period_id, issue_date, due_date, net_total, tax_total, rounding, total, previous_balance, \
    payments, out_of_turn, amount_due, credit_carried, open_amount, status, review_state, card_only, created_at";

/// An invoice about to be stored, under an id from [`allocate_ids`].
pub type NewInvoice = InvoiceRow;

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

/// Stores one invoice under a new id; answers the id.
pub async fn insert(tx: &mut Tx, i: &NewInvoice) -> Result<i64, StoreError> {
    let mut invoice = i.clone();
    invoice.id = allocate_ids(tx, 1).await?[0];
    insert_many(tx, &[&invoice]).await?;
    Ok(invoice.id)
}

/// Takes `count` new invoice ids, in increasing order, before the invoices are stored: a close attaches its
/// records to them before it reserves the invoice numbers, so that the owner's sequence is held for less of the
/// transaction. PostgreSQL draws them from the identity's sequence; on SQLite (one writer) the `AUTOINCREMENT`
/// counter is moved past them.
pub async fn allocate_ids(tx: &mut Tx, count: usize) -> Result<Vec<i64>, StoreError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let n = i64::try_from(count).unwrap_or(i64::MAX);
    match tx.backend() {
        Backend::Postgres => {
            let rows: Vec<IdRow> = tx
                .fetch_all(
                    "SELECT nextval('invoices_id_seq') AS id FROM generate_series(1, $1) ORDER BY 1",
                    args![n],
                )
                .await?;
            Ok(rows.into_iter().map(|r| r.id).collect())
        }
        Backend::Sqlite => {
            tx.execute(
                // The maximum stays a scalar subquery: as the select's own aggregate it would yield a row (and
                // a second counter) even where the counter exists.
                "INSERT INTO sqlite_sequence (name, seq) SELECT 'invoices', (SELECT COALESCE(MAX(id), 0) FROM invoices)
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'invoices')",
                Vec::new(),
            )
            .await?;
            let last: IdRow = tx
                .fetch_one(
                    "UPDATE sqlite_sequence SET seq = seq + $1 WHERE name = 'invoices' RETURNING seq AS id",
                    args![n],
                )
                .await?;
            Ok((last.id - n + 1..=last.id).collect())
        }
    }
}

/// Stores invoices, each under its id from [`allocate_ids`], with multi-row statements.
pub async fn insert_many(tx: &mut Tx, invoices: &[&NewInvoice]) -> Result<(), StoreError> {
    const COLUMNS: usize = 25;
    for chunk in invoices.chunks(rows_per_statement(COLUMNS)) {
        let sql = format!(
            "INSERT INTO invoices (id, number, kind, party_id, owner_reseller_id, class_id, class_revision, \
             settings_snapshot, period_id, issue_date, due_date, net_total, tax_total, rounding, total, \
             previous_balance, payments, out_of_turn, amount_due, credit_carried, open_amount, status, \
             review_state, card_only, created_at) VALUES {}",
            value_rows(chunk.len(), COLUMNS)
        );
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for i in chunk {
            values.extend(args![
                i.id,
                i.number.clone(),
                i.kind.clone(),
                i.party_id,
                i.owner_reseller_id,
                i.class_id,
                i.class_revision,
                i.settings_snapshot.clone(),
                i.period_id,
                i.issue_date.clone(),
                i.due_date.clone(),
                i.net_total,
                i.tax_total,
                i.rounding,
                i.total,
                i.previous_balance,
                i.payments,
                i.out_of_turn,
                i.amount_due,
                i.credit_carried,
                i.open_amount,
                i.status.clone(),
                i.review_state.clone(),
                i.card_only,
                i.created_at,
            ]);
        }
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<InvoiceRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1")),
        args![id],
    )
    .await
}

/// These invoices in id order; ids that do not exist are left out.
pub async fn get_many(tx: &mut Tx, ids: &[i64]) -> Result<Vec<InvoiceRow>, StoreError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE id IN ({}) ORDER BY id",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(tx.fetch_all::<InvoiceRow>(AssertSqlSafe(sql), values).await?);
    }
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// What an invoice list may be narrowed to; `owner` as in `parties::PartyFilter` (`Some(None)` = the
/// operator's own parties).
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub party_id: Option<i64>,
    pub owner: Option<Option<i64>>,
    pub status: Option<String>,
    pub kind: Option<String>,
    /// `not_required`, `under_review`, `approved` or `auto_approved`.
    pub review_state: Option<String>,
}

/// Invoices in id order after `after_id`.
pub async fn list(
    tx: &mut Tx,
    f: &InvoiceFilter,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<InvoiceRow>, StoreError> {
    let (restrict, owner_id) = match f.owner {
        None => (false, None),
        Some(id) => (true, id),
    };
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices
             WHERE ($1 IS NULL OR party_id = $1)
               AND ($2 = FALSE OR COALESCE(owner_reseller_id, 0) = COALESCE($3, 0))
               AND ($4 IS NULL OR status = $4)
               AND ($5 IS NULL OR kind = $5)
               AND ($6 IS NULL OR id > $6)
               AND ($8 IS NULL OR review_state = $8)
             ORDER BY id LIMIT +$7"
        )),
        args![
            f.party_id,
            restrict,
            owner_id,
            f.status.clone(),
            f.kind.clone(),
            after_id,
            limit,
            f.review_state.clone()
        ],
    )
    .await
}

/// A gapless numbering of one owner's documents: invoices of every kind share one (§5.6 rule 5), credit notes
/// have their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    Invoices,
    CreditNotes,
}

impl Series {
    fn table(self) -> &'static str {
        match self {
            Series::Invoices => "invoice_sequences",
            Series::CreditNotes => "credit_note_sequences",
        }
    }

    /// The prefix of an owner that never set one.
    pub fn default_prefix(self) -> &'static str {
        match self {
            Series::Invoices => "INV-",
            Series::CreditNotes => "CN-",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SequenceRow {
    pub owner_key: i64,
    pub prefix: String,
    pub next_number: i64,
}

/// The owner's sequence in `series`; a missing row reads as the default (its prefix, next number 1).
pub async fn sequence(tx: &mut Tx, series: Series, owner_key: i64) -> Result<SequenceRow, StoreError> {
    let sql = format!(
        "SELECT owner_key, prefix, next_number FROM {} WHERE owner_key = $1",
        series.table()
    );
    let row = tx.fetch_optional(AssertSqlSafe(sql), args![owner_key]).await?;
    Ok(row.unwrap_or(SequenceRow {
        owner_key,
        prefix: series.default_prefix().to_owned(),
        next_number: 1,
    }))
}

/// Stores the owner's prefix and next number in `series`.
pub async fn put_sequence(tx: &mut Tx, series: Series, row: &SequenceRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO {table} (owner_key, prefix, next_number) VALUES ($1, $2, $3)
         ON CONFLICT (owner_key) DO UPDATE SET prefix = excluded.prefix, next_number = excluded.next_number",
        table = series.table()
    );
    tx.execute(
        AssertSqlSafe(sql),
        args![row.owner_key, row.prefix.clone(), row.next_number],
    )
    .await?;
    Ok(())
}

/// Reserves `count` consecutive numbers of the owner's sequence in `series` with one statement and answers the
/// prefix and the first reserved number. The row lock it takes holds until the transaction ends, so the numbers
/// stay gapless when that transaction also stores the documents.
pub async fn reserve_numbers(
    tx: &mut Tx,
    series: Series,
    owner_key: i64,
    count: i64,
) -> Result<(String, i64), StoreError> {
    let sql = format!(
        "INSERT INTO {table} (owner_key, prefix, next_number) VALUES ($1, $2, 1 + $3)
         ON CONFLICT (owner_key) DO UPDATE SET next_number = {table}.next_number + $3
         RETURNING owner_key, prefix, next_number",
        table = series.table()
    );
    let row: SequenceRow = tx
        .fetch_one(AssertSqlSafe(sql), args![owner_key, series.default_prefix(), count])
        .await?;
    Ok((row.prefix, row.next_number - count))
}

/// Attaches these xDRs to an invoice.
pub async fn attach_xdrs(tx: &mut Tx, invoice_id: i64, xdr_ids: &[i64]) -> Result<(), StoreError> {
    attach_xdrs_many(tx, &[(invoice_id, xdr_ids)]).await
}

/// Attaches the xDRs of several invoices (`(invoice_id, xdr_ids)`) with set-based statements over many xDRs
/// instead of one per invoice.
pub async fn attach_xdrs_many(tx: &mut Tx, invoices: &[(i64, &[i64])]) -> Result<(), StoreError> {
    let pairs: Vec<(i64, i64)> = invoices
        .iter()
        .flat_map(|(invoice_id, xdr_ids)| xdr_ids.iter().map(move |&xdr_id| (xdr_id, *invoice_id)))
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    if tx.backend() == Backend::Postgres {
        // Two arrays make one statement of one shape at any count. A list of rows makes a statement per count,
        // and for some counts PostgreSQL settled on a generic plan that scans the whole ledger: at a million
        // customers those were a third of the attach's time.
        // A party may bill millions of records in a period; chunks keep each message to a few megabytes.
        for chunk in pairs.chunks(ATTACH_CHUNK) {
            let xdr_ids = bigint_array(chunk.iter().map(|p| p.0));
            let invoice_ids = bigint_array(chunk.iter().map(|p| p.1));
            tx.execute(
                "UPDATE xdrs SET invoice_id = a.invoice_id
                 FROM unnest(CAST($1 AS BIGINT[]), CAST($2 AS BIGINT[])) AS a (xdr_id, invoice_id)
                 WHERE xdrs.id = a.xdr_id",
                args![xdr_ids, invoice_ids],
            )
            .await?;
        }
        return Ok(());
    }
    for chunk in pairs.chunks(rows_per_statement(2)) {
        let sql = format!(
            "WITH attached (xdr_id, invoice_id) AS (VALUES {})
             UPDATE xdrs SET invoice_id = attached.invoice_id FROM attached WHERE xdrs.id = attached.xdr_id",
            value_rows(chunk.len(), 2)
        );
        let values: Vec<Arg> = chunk
            .iter()
            .flat_map(|&(xdr_id, invoice_id)| [Arg::from(xdr_id), Arg::from(invoice_id)])
            .collect();
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

/// Pairs per attach statement on PostgreSQL.
const ATTACH_CHUNK: usize = 100_000;

/// PostgreSQL's text form of a `BIGINT[]`, bound as text and cast by the statement.
fn bigint_array(values: impl Iterator<Item = i64>) -> String {
    let mut text = String::from("{");
    for (i, value) in values.enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&value.to_string());
    }
    text.push('}');
    text
}

/// What a credit note corrects.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CreditNoteLink {
    pub invoice_id: i64,
    pub credited_invoice_id: i64,
    pub reason: String,
}

pub async fn insert_credit_note_link(
    tx: &mut Tx,
    invoice_id: i64,
    credited_invoice_id: i64,
    reason: &str,
    created_at: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO credit_notes (invoice_id, credited_invoice_id, reason, created_at) VALUES ($1, $2, $3, $4)",
        args![invoice_id, credited_invoice_id, reason, created_at],
    )
    .await?;
    Ok(())
}

pub async fn credit_note_link(tx: &mut Tx, invoice_id: i64) -> Result<Option<CreditNoteLink>, StoreError> {
    tx.fetch_optional(
        "SELECT invoice_id, credited_invoice_id, reason FROM credit_notes WHERE invoice_id = $1",
        args![invoice_id],
    )
    .await
}

/// The ids of the credit notes correcting an invoice, oldest first.
pub async fn credit_notes_of(tx: &mut Tx, credited_invoice_id: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<IdRow> = tx
        .fetch_all(
            "SELECT invoice_id AS id FROM credit_notes WHERE credited_invoice_id = $1 ORDER BY invoice_id",
            args![credited_invoice_id],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
