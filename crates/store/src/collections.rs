//! Collections (customer-classes §5.8, §5.9): invoices' frozen schedules, the active limitation and suspension
//! of each invoice, the party status history, and collection runs.

use crate::db::{in_list, rows_per_statement, value_rows};
use crate::xdrs::hold_open_periods;
use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

/// One planned event of an invoice's schedule, as stored at issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub invoice_id: i64,
    pub party_id: i64,
    pub event: String,
    pub firing_rank: i64,
    pub local_date: String,
    pub due_at: i64,
    /// `pending`, or `dropped` for an event superseded from the start.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ItemRow {
    pub id: i64,
    pub invoice_id: i64,
    pub party_id: i64,
    pub event: String,
    pub firing_rank: i64,
    pub local_date: String,
    pub due_at: i64,
    pub state: String,
    pub fired_at: Option<i64>,
}

const ITEM_COLUMNS: &str = "id, invoice_id, party_id, event, firing_rank, local_date, due_at, state, fired_at";

/// Stores schedule items in the order given, with multi-row statements.
pub async fn insert_items(tx: &mut Tx, items: &[NewItem]) -> Result<(), StoreError> {
    const COLUMNS: usize = 7;
    for chunk in items.chunks(rows_per_statement(COLUMNS)) {
        let sql = format!(
            "INSERT INTO collection_items (invoice_id, party_id, event, firing_rank, local_date, due_at, state) \
             VALUES {}",
            value_rows(chunk.len(), COLUMNS)
        );
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for item in chunk {
            values.extend(args![
                item.invoice_id,
                item.party_id,
                item.event.as_str(),
                item.firing_rank,
                item.local_date.as_str(),
                item.due_at,
                item.state.as_str()
            ]);
        }
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

/// An invoice's schedule by `due_at`, ties in firing order.
pub async fn items_of_invoice(tx: &mut Tx, invoice_id: i64) -> Result<Vec<ItemRow>, StoreError> {
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM collection_items WHERE invoice_id = $1 ORDER BY due_at, firing_rank, id"
        )),
        args![invoice_id],
    )
    .await
}

#[derive(sqlx::FromRow)]
struct PartyIdRow {
    party_id: i64,
}

/// Up to `limit` parties above `after_id` with a pending event due at or before `as_of_us` on an invoice that
/// is not held in review, in id order.
pub async fn parties_due(tx: &mut Tx, after_id: i64, as_of_us: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<PartyIdRow> = tx
        .fetch_all(
            "SELECT DISTINCT c.party_id FROM collection_items c JOIN invoices i ON i.id = c.invoice_id
             WHERE c.state = 'pending' AND c.due_at <= $1 AND c.party_id > $2 AND i.review_state <> 'under_review'
             ORDER BY c.party_id LIMIT +$3",
            args![as_of_us, after_id, limit],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.party_id).collect())
}

/// The pending events due at or before `as_of_us` of these parties' invoices not held in review, in the order
/// they fire: by party, then `due_at`, then firing rank.
pub async fn due_items(tx: &mut Tx, party_ids: &[i64], as_of_us: i64) -> Result<Vec<ItemRow>, StoreError> {
    if party_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {} FROM collection_items c JOIN invoices i ON i.id = c.invoice_id
         WHERE c.state = 'pending' AND c.due_at <= $1 AND i.review_state <> 'under_review' AND c.party_id IN ({})
         ORDER BY c.party_id, c.due_at, c.firing_rank, c.id",
        ITEM_COLUMNS
            .split(", ")
            .map(|column| format!("c.{column}"))
            .collect::<Vec<_>>()
            .join(", "),
        in_list(2, party_ids.len())
    );
    let mut values = vec![Arg::from(as_of_us)];
    values.extend(party_ids.iter().map(|&id| Arg::from(id)));
    tx.fetch_all(AssertSqlSafe(sql), values).await
}

/// Whether any of these invoices has a pending `event` due at or before `until_us`.
pub async fn any_pending(tx: &mut Tx, invoice_ids: &[i64], event: &str, until_us: i64) -> Result<bool, StoreError> {
    if invoice_ids.is_empty() {
        return Ok(false);
    }
    let sql = format!(
        "SELECT id FROM collection_items
         WHERE state = 'pending' AND event = $1 AND due_at <= $2 AND invoice_id IN ({}) LIMIT 1",
        in_list(3, invoice_ids.len())
    );
    let mut values = vec![Arg::from(event), Arg::from(until_us)];
    values.extend(invoice_ids.iter().map(|&id| Arg::from(id)));
    Ok(tx.fetch_optional::<(i64,)>(AssertSqlSafe(sql), values).await?.is_some())
}

/// Settles one pending item as `fired` or `dropped` at the run's `as_of`; answers false when it was no
/// longer pending (settled meanwhile).
pub async fn settle(tx: &mut Tx, item_id: i64, state: &str, as_of_us: i64) -> Result<bool, StoreError> {
    let fired_at = (state == "fired").then_some(as_of_us);
    let changed = tx
        .execute(
            "UPDATE collection_items SET state = $1, fired_at = $2 WHERE id = $3 AND state = 'pending'",
            args![state, fired_at, item_id],
        )
        .await?;
    Ok(changed == 1)
}

/// Cancels the invoice's pending events (release, §5.9 rule 3).
pub async fn cancel_invoice(tx: &mut Tx, invoice_id: i64) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE collection_items SET state = 'cancelled' WHERE invoice_id = $1 AND state = 'pending'",
        args![invoice_id],
    )
    .await
}

/// Cancels every pending event of the party (termination, §5.9 rule 5).
pub async fn cancel_party(tx: &mut Tx, party_id: i64) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE collection_items SET state = 'cancelled' WHERE party_id = $1 AND state = 'pending'",
        args![party_id],
    )
    .await
}

/// Drops the invoice's pending events of these kinds due at or before `at_us` (passed during review).
pub async fn drop_passed(tx: &mut Tx, invoice_id: i64, events: &[&str], at_us: i64) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE collection_items SET state = 'dropped'
         WHERE invoice_id = $1 AND state = 'pending' AND due_at <= $2 AND event IN ({})",
        in_list(3, events.len())
    );
    let mut values = vec![Arg::from(invoice_id), Arg::from(at_us)];
    values.extend(events.iter().map(|&e| Arg::from(e)));
    tx.execute(AssertSqlSafe(sql), values).await
}

/// Which step of the ladder an invoice holds active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Limitation,
    Suspension,
}

impl Action {
    fn column(self) -> &'static str {
        match self {
            Action::Limitation => "limited_at",
            Action::Suspension => "suspended_at",
        }
    }
}

/// Makes the action active on the invoice from `at_us` (kept if it already is).
pub async fn activate(tx: &mut Tx, invoice_id: i64, action: Action, at_us: i64) -> Result<(), StoreError> {
    let column = action.column();
    tx.execute(
        AssertSqlSafe(format!(
            "UPDATE invoices SET {column} = COALESCE({column}, $1) WHERE id = $2"
        )),
        args![at_us, invoice_id],
    )
    .await?;
    Ok(())
}

/// Ends the invoice's active limitation and suspension; answers whether any was active.
pub async fn release(tx: &mut Tx, invoice_id: i64) -> Result<bool, StoreError> {
    let changed = tx
        .execute(
            "UPDATE invoices SET limited_at = NULL, suspended_at = NULL
             WHERE id = $1 AND (limited_at IS NOT NULL OR suspended_at IS NOT NULL)",
            args![invoice_id],
        )
        .await?;
    Ok(changed > 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ActiveActions {
    pub limited: i64,
    pub suspended: i64,
}

/// How many of the party's invoices hold a limitation or a suspension active.
pub async fn active_actions(tx: &mut Tx, party_id: i64) -> Result<ActiveActions, StoreError> {
    tx.fetch_one(
        "SELECT COALESCE(SUM(CASE WHEN limited_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS limited,
                COALESCE(SUM(CASE WHEN suspended_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS suspended
         FROM invoices WHERE party_id = $1",
        args![party_id],
    )
    .await
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ActiveRow {
    pub limited_at: Option<i64>,
    pub suspended_at: Option<i64>,
}

/// The invoice's active actions.
pub async fn actions_of(tx: &mut Tx, invoice_id: i64) -> Result<ActiveRow, StoreError> {
    tx.fetch_one(
        "SELECT limited_at, suspended_at FROM invoices WHERE id = $1",
        args![invoice_id],
    )
    .await
}

/// A change of a party's status.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatusChange {
    pub id: i64,
    pub party_id: i64,
    pub from_status: String,
    pub to_status: String,
    pub at: i64,
    pub cause: String,
    pub invoice_id: Option<i64>,
    pub created_at: i64,
}

/// Stores the party's new status and the change in its history.
pub async fn change_status(tx: &mut Tx, change: &StatusChange) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE parties SET status = $1 WHERE id = $2",
        args![change.to_status.as_str(), change.party_id],
    )
    .await?;
    tx.execute(
        "INSERT INTO party_status_changes (party_id, from_status, to_status, at, cause, invoice_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            change.party_id,
            change.from_status.as_str(),
            change.to_status.as_str(),
            change.at,
            change.cause.as_str(),
            change.invoice_id,
            change.created_at
        ],
    )
    .await?;
    Ok(())
}

/// The party's status history, oldest first.
pub async fn status_history(tx: &mut Tx, party_id: i64) -> Result<Vec<StatusChange>, StoreError> {
    tx.fetch_all(
        "SELECT id, party_id, from_status, to_status, at, cause, invoice_id, created_at
         FROM party_status_changes WHERE party_id = $1 ORDER BY id",
        args![party_id],
    )
    .await
}

/// Ends the party's period that contains `at_us` at that instant and removes its later periods that are still
/// empty and open (termination, §5.9 rule 5).
pub async fn end_periods_at(tx: &mut Tx, party_id: i64, at_us: i64) -> Result<(), StoreError> {
    // Writes of records in flight commit first; the DELETE below, a statement of its own, then sees their records
    // and keeps those periods.
    hold_open_periods(tx).await?;
    tx.execute(
        "DELETE FROM billing_periods
         WHERE party_id = $1 AND start_at >= $2 AND status = 'open'
           AND NOT EXISTS (SELECT 1 FROM xdrs x WHERE x.period_id = billing_periods.id)",
        args![party_id, at_us],
    )
    .await?;
    tx.execute(
        "UPDATE billing_periods SET end_at = $2
         WHERE party_id = $1 AND start_at < $2 AND end_at > $2 AND status = 'open'",
        args![party_id, at_us],
    )
    .await?;
    Ok(())
}

/// Sets the instant an invoice held in review is approved automatically.
pub async fn set_review_due(tx: &mut Tx, invoice_id: i64, at_us: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE invoices SET review_due_at = $1 WHERE id = $2",
        args![at_us, invoice_id],
    )
    .await?;
    Ok(())
}

/// Ends the review of an invoice held in it; answers false when it was not (approved meanwhile).
pub async fn end_review(tx: &mut Tx, invoice_id: i64, state: &str) -> Result<bool, StoreError> {
    let changed = tx
        .execute(
            "UPDATE invoices SET review_state = $1 WHERE id = $2 AND review_state = 'under_review'",
            args![state, invoice_id],
        )
        .await?;
    Ok(changed == 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ReviewDue {
    pub id: i64,
    pub party_id: i64,
    pub review_due_at: i64,
}

/// Up to `limit` invoices above `after_id` held in review whose automatic approval is due at `as_of_us`.
pub async fn reviews_due(tx: &mut Tx, after_id: i64, as_of_us: i64, limit: i64) -> Result<Vec<ReviewDue>, StoreError> {
    tx.fetch_all(
        "SELECT id, party_id, review_due_at FROM invoices
         WHERE review_state = 'under_review' AND review_due_at <= $1 AND id > $2 ORDER BY id LIMIT +$3",
        args![as_of_us, after_id, limit],
    )
    .await
}

/// Collection runs (`/collection-runs`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub as_of: i64,
    pub status: String,
    pub events_due: i64,
    pub events_fired: i64,
    pub events_dropped: i64,
    pub approvals: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const RUN_COLUMNS: &str = "id, as_of, status, events_due, events_fired, events_dropped, approvals, error, \
    created_at, started_at, finished_at";

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

pub async fn insert_run(tx: &mut Tx, as_of: i64, created_at: i64) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO collection_runs (as_of, status, created_at) VALUES ($1, 'queued', $2) RETURNING id",
            args![as_of, created_at],
        )
        .await?;
    Ok(row.id)
}

pub async fn get_run(tx: &mut Tx, id: i64) -> Result<Option<RunRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!("SELECT {RUN_COLUMNS} FROM collection_runs WHERE id = $1")),
        args![id],
    )
    .await
}

/// Runs in id order after `after_id`.
pub async fn list_runs(tx: &mut Tx, after_id: Option<i64>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM collection_runs WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT +$2"
        )),
        args![after_id, limit],
    )
    .await
}
