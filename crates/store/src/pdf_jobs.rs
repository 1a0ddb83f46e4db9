//! The queue of invoice PDFs to render (`pdf_jobs`).

use crate::db::in_list;
use crate::{Arg, AssertSqlSafe, Backend, StoreError, Tx, args};

/// One invoice PDF to queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewJob {
    pub invoice_id: i64,
    /// Renderable at once (`end_of_period`), else held until [`release`].
    pub ready: bool,
}

/// Jobs queued per statement: 4 bound values each, about 1,000 in all (SQLite binds a `$n` by walking the
/// statement's list of names, a cost that grows with the square of the values per statement).
const INSERT_BATCH: usize = 250;

/// Queues invoices' PDFs under this pass, one multi-row statement per [`INSERT_BATCH`]; an invoice already
/// queued keeps its job.
pub async fn enqueue(tx: &mut Tx, jobs: &[NewJob], pass_key: &str, at_us: i64) -> Result<(), StoreError> {
    const COLUMNS: usize = 4;
    for chunk in jobs.chunks(INSERT_BATCH) {
        let mut sql = String::from("INSERT INTO pdf_jobs (invoice_id, pass_key, ready, created_at) VALUES ");
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for (n, job) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&in_list(n * COLUMNS + 1, COLUMNS));
            sql.push(')');
            values.extend(args![job.invoice_id, pass_key, job.ready, at_us]);
        }
        sql.push_str(" ON CONFLICT (invoice_id) DO NOTHING");
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

/// Makes the postponed jobs of a finished pass renderable, and those queued before `before_us` by passes that
/// never finished.
pub async fn release(tx: &mut Tx, pass_key: &str, before_us: i64) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE pdf_jobs SET ready = TRUE WHERE NOT ready AND (pass_key = $1 OR created_at < $2)",
        args![pass_key, before_us],
    )
    .await
}

#[derive(sqlx::FromRow)]
struct JobRow {
    invoice_id: i64,
}

/// Claims up to `limit` ready jobs that have failed fewer than `max_attempts` times and that no other worker
/// holds at `now`, oldest invoice first, holding them until `claimed_until`. PostgreSQL skips rows another
/// transaction is claiming; SQLite has a single writer.
pub async fn claim_ready(
    tx: &mut Tx,
    now: i64,
    claimed_until: i64,
    max_attempts: i64,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let lock = match tx.backend() {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut rows: Vec<JobRow> = tx
        .fetch_all(
            AssertSqlSafe(format!(
                "UPDATE pdf_jobs SET claimed_until = $2
                 WHERE invoice_id IN (
                     SELECT invoice_id FROM pdf_jobs
                     WHERE ready AND attempts < $3 AND (claimed_until IS NULL OR claimed_until <= $1)
                     ORDER BY invoice_id LIMIT +$4 {lock})
                 RETURNING invoice_id"
            )),
            args![now, claimed_until, max_attempts, limit],
        )
        .await?;
    rows.sort_by_key(|r| r.invoice_id);
    Ok(rows.into_iter().map(|r| r.invoice_id).collect())
}

/// Removes the jobs of invoices whose PDF is kept, with one statement per claim.
pub async fn done(tx: &mut Tx, invoice_ids: &[i64]) -> Result<(), StoreError> {
    for chunk in invoice_ids.chunks(INSERT_BATCH) {
        let sql = format!("DELETE FROM pdf_jobs WHERE invoice_id IN ({})", in_list(1, chunk.len()));
        let values = chunk.iter().map(|&id| Arg::from(id)).collect();
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

pub async fn failed(tx: &mut Tx, invoice_id: i64, error: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE pdf_jobs SET attempts = attempts + 1, last_error = $1 WHERE invoice_id = $2",
        args![error, invoice_id],
    )
    .await?;
    Ok(())
}
