//! Billing runs (`/billing-runs`): one row per run with its counts, one row per period that failed to close.
//! Who executes a run, and how its counts add up, is in [`crate::run_workers`].

use crate::{StoreError, Tx, args};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub as_of: i64,
    pub status: String,
    pub periods_due: i64,
    pub periods_closed: i64,
    pub periods_failed: i64,
    pub invoices_issued: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const RUN_COLUMNS: &str = "id, as_of, status, periods_due, periods_closed, periods_failed, invoices_issued, error, \
    created_at, started_at, finished_at";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FailureRow {
    pub party_id: i64,
    pub period_id: i64,
    pub error: String,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

/// A new run in status `queued`.
pub async fn insert(tx: &mut Tx, as_of: i64, created_at: i64) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO billing_runs (as_of, status, created_at) VALUES ($1, 'queued', $2) RETURNING id",
            args![as_of, created_at],
        )
        .await?;
    Ok(row.id)
}

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<RunRow>, StoreError> {
    tx.fetch_optional(
        sqlx::AssertSqlSafe(format!("SELECT {RUN_COLUMNS} FROM billing_runs WHERE id = $1")),
        args![id],
    )
    .await
}

/// Runs in id order after `after_id`.
pub async fn list(tx: &mut Tx, after_id: Option<i64>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
    tx.fetch_all(
        sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM billing_runs WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT +$2"
        )),
        args![after_id, limit],
    )
    .await
}

pub async fn add_failure(tx: &mut Tx, run_id: i64, f: &FailureRow) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO billing_run_failures (run_id, party_id, period_id, error) VALUES ($1, $2, $3, $4)",
        args![run_id, f.party_id, f.period_id, f.error.clone()],
    )
    .await?;
    Ok(())
}

pub async fn failures(tx: &mut Tx, run_id: i64) -> Result<Vec<FailureRow>, StoreError> {
    tx.fetch_all(
        "SELECT party_id, period_id, error FROM billing_run_failures WHERE run_id = $1 ORDER BY period_id",
        args![run_id],
    )
    .await
}
