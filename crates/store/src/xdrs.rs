//! The ledger of rated records (customer-classes §5.1). Ingest writes inside the caller's transaction with COPY on
//! PostgreSQL and multi-row INSERTs on SQLite; reads join the party for its currency and owner.

use std::future::Future as _;
use std::task::Poll;

use crate::db::{in_list, rows_per_statement, value_rows};
use crate::packed::fetch_packed;
use crate::{Arg, AssertSqlSafe, Backend, Store, StoreError, Tx, args};

/// Read in rows or packed ([`crate::packed`]): the fields are in the order of [`XDR_COLUMNS`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
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
    #[serde(deserialize_with = "crate::packed::flag")]
    pub hidden: bool,
    #[serde(deserialize_with = "crate::packed::flag")]
    pub late: bool,
    pub tax_name: Option<String>,
    pub tax_rate_percent: Option<i64>,
    pub tax_base: Option<i64>,
    pub tax_amount: Option<i64>,
    #[serde(deserialize_with = "crate::packed::maybe_flag")]
    pub reverse_charge: Option<bool>,
    #[serde(deserialize_with = "crate::packed::maybe_flag")]
    pub outside_scope: Option<bool>,
    pub created_at: i64,
    /// The party's currency.
    pub currency: String,
}

pub const XDR_COLUMNS: &str = "x.id, x.party_id, x.period_id, x.occurred_at, x.kind, x.service, x.rate_code, \
    x.description, x.quantity, x.amount, x.external_id, x.invoice_id, x.hidden, x.late, x.tax_name, \
    x.tax_rate_percent, x.tax_base, x.tax_amount, x.reverse_charge, x.outside_scope, x.created_at, p.currency";

/// Rows per multi-row INSERT of the close's writes and per id list.
pub const INSERT_BATCH: usize = 500;

/// Rows per multi-row INSERT of a bulk write on SQLite (some 6,500 values, bound by position: see
/// `sqlite_params`); longer statements only take longer to parse.
const LOAD_BATCH: usize = 500;

/// Keys per idempotency lookup (two parameters each).
const KEY_BATCH: usize = 400;

/// The columns bulk writes fill, in order; the rest keep their defaults.
const LOAD_COLUMNS: &str = "party_id, period_id, occurred_at, kind, service, rate_code, description, quantity, amount, external_id, late, \
     hidden, created_at";

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

/// The next id of the ledger on PostgreSQL, for statements that draw ids before they write. The sequence is named
/// as a constant: looked up with `pg_get_serial_sequence` inside a select list it was looked up per row, and
/// drawing 10,000 ids took 37 ms instead of 4.
pub(crate) const NEXT_XDR_ID: &str = "nextval('xdrs_id_seq')";

/// Fewer rows than this go to PostgreSQL as one multi-row INSERT rather than a COPY: a COPY was measured to
/// take some 44 ms however few rows it carried (local TCP, PostgreSQL 15), which made every single-row write
/// such as a late fee cost that much; an INSERT of a few rows takes a fraction of a millisecond.
const COPY_MIN_ROWS: usize = 64;

/// Stores `rows` and answers their ids in the order given: on PostgreSQL the ids of a large load are drawn from
/// the table's sequence first and the rows sent with one COPY; small loads, and every load on SQLite, use
/// multi-row INSERTs. On PostgreSQL the keys of keyed rows go to `xdr_keys`, which holds the idempotency keys
/// there (migration 0025); a key already stored fails the load with a unique violation, as SQLite's unique index
/// does. The rows land in the partitions of their months made so far ([`crate::xdr_partitions`]).
///
/// The periods the rows name are the caller's to vouch for, in place of the foreign key the ledger does not have:
/// it read them in this transaction after [`share_open_periods`] (on SQLite, inside its write transaction), or knows
/// them unchanged since it read them ([`crate::billing_changes::since`]). Reading them once more here, as
/// [`guard_periods`] does, took nearly a tenth of the database's time in a large import.
pub async fn insert_many(tx: &mut Tx, rows: &[NewXdr], created_at: i64) -> Result<Vec<i64>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = match tx {
        Tx::Postgres(pg) if rows.len() >= COPY_MIN_ROWS => {
            // One array rather than a row per id: decoding 10,000 rows cost the client more than drawing them
            // cost the server.
            let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT ARRAY(SELECT {NEXT_XDR_ID} FROM generate_series(1, $1))"
            )))
            .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
            .fetch_one(&mut **pg)
            .await?;
            copy_in(pg, "xdrs", rows, Some(&ids), created_at).await?;
            ids
        }
        _ => insert_rows(tx, "xdrs", rows, created_at).await?,
    };
    if matches!(tx, Tx::Postgres(_)) {
        let keys: Vec<(i64, &str, i64)> = rows
            .iter()
            .zip(&ids)
            .filter_map(|(x, &id)| x.external_id.as_deref().map(|key| (x.party_id, key, id)))
            .collect();
        insert_keys(tx, &keys).await?;
    }
    Ok(ids)
}

/// On PostgreSQL, the advisory lock between the writes of records into open billing periods and the changes that
/// end a period's openness: its freeze by a close (`open` → `closing`) and a termination's removal or shortening
/// of periods. Writers hold it shared ([`share_open_periods`]) and so never wait for one another; those changes
/// hold it exclusively ([`hold_open_periods`]). Row locks could not serve: the lock a write may take on a period
/// without blocking other writers (`FOR KEY SHARE`) does not conflict with the freeze's update of its status, and
/// taking one per period wrote every period's tuple (a sixth of an import). Order, so that no two transactions wait
/// for each other: a transaction claims its parties' rows (`close::claim_parties`) before it takes this lock, and
/// an exclusive holder takes it before it writes anything a writer of records might wait for.
const OPEN_PERIODS_LOCK: &str = "hashtext('classbill.open_periods')";

/// Taken by a write of records before it reads the open periods it writes into, on PostgreSQL: a freeze or a
/// termination either committed before, and the read sees it, or waits for this transaction to commit, and then
/// sees its records (a close bills them; a termination keeps the period). SQLite runs one writer at a time.
pub async fn share_open_periods(tx: &mut Tx) -> Result<(), StoreError> {
    lock_open_periods(tx, "pg_advisory_xact_lock_shared").await
}

/// Taken, on PostgreSQL, by a transaction about to end the openness of periods (see [`OPEN_PERIODS_LOCK`]):
/// waits for the writes of records in flight and holds new ones back until it commits. It must be taken before
/// the periods to change are read, and after any row lock that a writer may hold while it waits for the shared
/// lock (a close claims its parties first).
pub async fn hold_open_periods(tx: &mut Tx) -> Result<(), StoreError> {
    lock_open_periods(tx, "pg_advisory_xact_lock").await
}

/// Takes [`OPEN_PERIODS_LOCK`] with one of PostgreSQL's transaction-level advisory lock functions.
async fn lock_open_periods(tx: &mut Tx, function: &str) -> Result<(), StoreError> {
    if tx.backend() != Backend::Postgres {
        return Ok(());
    }
    let sql = format!("SELECT {function}({OPEN_PERIODS_LOCK})");
    tx.execute(AssertSqlSafe(sql), Vec::new()).await?;
    Ok(())
}

/// Makes sure that the periods records about to be written name exist and stay until the transaction ends, for
/// writers that did not read them under the lock ([`insert_many`]'s callers did): [`share_open_periods`] on
/// PostgreSQL (again, if the writer took it already; SQLite runs one writer at a time) and a plain read of the
/// periods, once per batch. The ledger has no foreign keys (migrations 0029 and 0034), because their check per
/// row took two thirds of a large write's time on PostgreSQL and a seventh on SQLite. Parties are never deleted.
pub(crate) async fn guard_periods(tx: &mut Tx, period_ids: impl Iterator<Item = i64>) -> Result<(), StoreError> {
    share_open_periods(tx).await?;
    let mut ids: Vec<i64> = period_ids.collect();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(INSERT_BATCH) {
        let sql = format!(
            "SELECT id FROM billing_periods WHERE id IN ({})",
            in_list(1, chunk.len())
        );
        let found: Vec<IdRow> = tx
            .fetch_all(AssertSqlSafe(sql), chunk.iter().map(|&id| Arg::from(id)).collect())
            .await?;
        if found.len() < chunk.len() {
            let found: std::collections::HashSet<i64> = found.into_iter().map(|row| row.id).collect();
            let gone = chunk.iter().find(|id| !found.contains(id)).copied().unwrap_or_default();
            return Err(StoreError::Removed(format!("billing_periods row {gone}")));
        }
    }
    Ok(())
}

/// After a bulk load, refreshes PostgreSQL's statistics of the ledger and its periods. PostgreSQL plans from
/// sampled statistics that autovacuum refreshes on its own schedule; a bill run started right after an import
/// was otherwise planned as if the ledger were still empty and scanned it whole for every batch (58 s instead of
/// 22 s at 20,000 customers). The sample is bounded, so this takes about as long at any size. SQLite keeps no
/// statistics unless asked to, and plans from its indexes.
pub async fn refresh_statistics(store: &Store) -> Result<(), StoreError> {
    if store.backend() != Backend::Postgres {
        return Ok(());
    }
    let mut tx = store.write().await?;
    tx.execute("ANALYZE xdrs, billing_periods", vec![]).await?;
    tx.commit().await
}

/// Writes `(party_id, external_id, xdr_id)` rows into PostgreSQL's `xdr_keys`: COPY for many, INSERT for few.
async fn insert_keys(tx: &mut Tx, keys: &[(i64, &str, i64)]) -> Result<(), StoreError> {
    match tx {
        Tx::Postgres(pg) if keys.len() >= COPY_MIN_ROWS => {
            copy_rows(
                pg,
                "COPY xdr_keys (party_id, external_id, xdr_id) FROM STDIN",
                keys,
                |buffer, &(party_id, external_id, xdr_id)| {
                    copy_int(buffer, party_id);
                    copy_text(buffer, Some(external_id));
                    buffer.push_str(itoa::Buffer::new().format(xdr_id));
                    buffer.push('\n');
                },
            )
            .await?;
        }
        _ => {
            for chunk in keys.chunks(rows_per_statement(3)) {
                let sql = format!(
                    "INSERT INTO xdr_keys (party_id, external_id, xdr_id) VALUES {}",
                    value_rows(chunk.len(), 3)
                );
                let mut values = Vec::with_capacity(chunk.len() * 3);
                for (party_id, external_id, xdr_id) in chunk {
                    values.extend([Arg::from(*party_id), Arg::from(*external_id), Arg::from(*xdr_id)]);
                }
                tx.execute(AssertSqlSafe(sql), values).await?;
            }
        }
    }
    Ok(())
}

/// Writes `rows` into `table`, a scratch table of the ledger's shape, the fastest way the backend offers: COPY on
/// PostgreSQL for large loads, multi-row INSERTs otherwise. Ids are the table's own. The ledger itself is written
/// with [`insert_many`], which also keeps its keys.
pub async fn bulk_load(tx: &mut Tx, table: &'static str, rows: &[NewXdr], created_at: i64) -> Result<(), StoreError> {
    match tx {
        Tx::Postgres(pg) if rows.len() >= COPY_MIN_ROWS => copy_in(pg, table, rows, None, created_at).await,
        _ => insert_rows(tx, table, rows, created_at).await.map(drop),
    }
}

/// Multi-row INSERTs of [`LOAD_BATCH`] rows; answers the ids in the order of `rows`.
async fn insert_rows(
    tx: &mut Tx,
    table: &'static str,
    rows: &[NewXdr],
    created_at: i64,
) -> Result<Vec<i64>, StoreError> {
    // Every full chunk shares one text.
    let full = (rows.len() >= LOAD_BATCH).then(|| insert_text(table, LOAD_BATCH));
    let statement = |chunk: &[NewXdr]| {
        let sql = match &full {
            Some(text) if chunk.len() == LOAD_BATCH => text.clone(),
            _ => insert_text(table, chunk.len()),
        };
        (sql, load_values(chunk, created_at))
    };
    let mut ids = Vec::with_capacity(rows.len());
    let mut chunks = rows.chunks(LOAD_BATCH);
    let mut next = chunks.next().map(statement);
    while let Some((sql, values)) = next.take() {
        let mut insert = std::pin::pin!(tx.insert_ids(AssertSqlSafe(sql), values));
        // The first poll hands the statement to the database (SQLite's own thread, or the server); the next one
        // is built while this one runs.
        let first_poll = std::future::poll_fn(|cx| Poll::Ready(insert.as_mut().poll(cx))).await;
        next = chunks.next().map(statement);
        ids.extend(match first_poll {
            Poll::Ready(done) => done?,
            Poll::Pending => insert.await?,
        });
    }
    Ok(ids)
}

/// Columns written per row by [`insert_rows`].
const LOAD_VALUES: usize = 13;

/// A multi-row INSERT into `table` of `rows` rows.
fn insert_text(table: &str, rows: usize) -> String {
    format!(
        "INSERT INTO {table} ({LOAD_COLUMNS}) VALUES {}",
        value_rows(rows, LOAD_VALUES)
    )
}

/// The values of `chunk` in the order of [`LOAD_COLUMNS`].
fn load_values(chunk: &[NewXdr], created_at: i64) -> Vec<Arg> {
    let mut values = Vec::with_capacity(chunk.len() * LOAD_VALUES);
    for x in chunk {
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
    values
}

/// Bytes sent per COPY data message.
const COPY_CHUNK: usize = 1 << 20;

/// One COPY in PostgreSQL's text format; `ids`, when given, fill the `id` column.
async fn copy_in(
    pg: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &'static str,
    rows: &[NewXdr],
    ids: Option<&[i64]>,
    created_at: i64,
) -> Result<(), StoreError> {
    let columns = if ids.is_some() {
        format!("id, {LOAD_COLUMNS}")
    } else {
        LOAD_COLUMNS.to_owned()
    };
    let statement = format!("COPY {table} ({columns}) FROM STDIN");
    let mut created = itoa::Buffer::new();
    let created = format!("{}\n", created.format(created_at));
    copy_rows(pg, &statement, rows.iter().enumerate(), |buffer, (i, x)| {
        if let Some(ids) = ids {
            copy_int(buffer, ids[i]);
        }
        copy_int(buffer, x.party_id);
        copy_int(buffer, x.period_id);
        copy_int(buffer, x.occurred_at);
        copy_text(buffer, Some(&x.kind));
        copy_text(buffer, Some(&x.service));
        copy_text(buffer, x.rate_code.as_deref());
        copy_text(buffer, x.description.as_deref());
        copy_int(buffer, x.quantity);
        copy_int(buffer, x.amount);
        copy_text(buffer, x.external_id.as_deref());
        buffer.push_str(if x.late { "t\tf\t" } else { "f\tf\t" });
        buffer.push_str(&created);
    })
    .await
}

/// Streams `rows` to the `COPY … FROM STDIN` `statement` in PostgreSQL's text format, `write` appending one row
/// with its newline; the data goes out in messages of about [`COPY_CHUNK`] bytes.
async fn copy_rows<T>(
    pg: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    statement: &str,
    rows: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T),
) -> Result<(), StoreError> {
    let mut copy = pg.copy_in_raw(statement).await?;
    let mut buffer = String::with_capacity(COPY_CHUNK + 1024);
    for row in rows {
        write(&mut buffer, row);
        if buffer.len() >= COPY_CHUNK {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// An integer cell of COPY's text format followed by its tab, formatted without `fmt`'s machinery, which stood
/// out in profiles of a large import's client.
fn copy_int(buffer: &mut String, value: i64) {
    buffer.push_str(itoa::Buffer::new().format(value));
    buffer.push('\t');
}

/// A text cell of COPY's text format followed by its tab: `\N` for NULL, and the four characters that would end
/// the cell or the row escaped.
fn copy_text(buffer: &mut String, value: Option<&str>) {
    match value {
        None => buffer.push_str("\\N"),
        Some(text) if !text.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) => buffer.push_str(text),
        Some(text) => {
            for c in text.chars() {
                match c {
                    '\\' => buffer.push_str("\\\\"),
                    '\t' => buffer.push_str("\\t"),
                    '\n' => buffer.push_str("\\n"),
                    '\r' => buffer.push_str("\\r"),
                    c => buffer.push(c),
                }
            }
        }
    }
    buffer.push('\t');
}

/// The stored records with these ids, in id order.
pub async fn get_many(tx: &mut Tx, ids: &[i64]) -> Result<Vec<XdrRow>, StoreError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(INSERT_BATCH) {
        let from = format!(
            "FROM xdrs x JOIN parties p ON p.id = x.party_id WHERE x.id IN ({})",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(fetch_packed::<XdrRow>(tx, XDR_COLUMNS, &from, values).await?);
    }
    rows.sort_unstable_by_key(|r| r.id);
    Ok(rows)
}

/// The stored records carrying any of these `(party_id, external_id)` keys; on PostgreSQL found through
/// `xdr_keys`, the only unique index on the keys there.
pub async fn find_by_keys(tx: &mut Tx, keys: &[(i64, String)]) -> Result<Vec<XdrRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(KEY_BATCH) {
        let pairs: Vec<String> = (0..chunk.len())
            .map(|i| format!("(CAST(${} AS BIGINT), CAST(${} AS TEXT))", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = match tx {
            Tx::Postgres(_) | Tx::PostgresSingle(_) => format!(
                "SELECT {XDR_COLUMNS} FROM xdr_keys k JOIN xdrs x ON x.id = k.xdr_id JOIN parties p ON p.id = x.party_id
                 WHERE (k.party_id, k.external_id) IN (VALUES {})",
                pairs.join(", ")
            ),
            Tx::Sqlite(_) | Tx::SqliteSingle(_) => format!(
                "SELECT {XDR_COLUMNS} FROM xdrs x JOIN parties p ON p.id = x.party_id
                 WHERE x.external_id IS NOT NULL AND (x.party_id, x.external_id) IN (VALUES {})",
                pairs.join(", ")
            ),
        };
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
             ORDER BY x.id LIMIT +$9"
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
