//! The transactional outbox of notifications (customer-classes §5.13) and its attempt log.

use crate::{AssertSqlSafe, Backend, StoreError, Tx, args};

/// A message about to be written in the transaction of its cause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMessage {
    pub event_key: String,
    pub subject_id: i64,
    pub occurrence: String,
    /// `email`, `sms` or `webhook`.
    pub channel: String,
    pub webhook_endpoint_id: Option<i64>,
    pub party_id: Option<i64>,
    pub owner_reseller_id: Option<i64>,
    pub recipient: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub sms_text: Option<String>,
    pub json_body: Option<String>,
    /// `pending` for messages to deliver; `skipped` or `dead` for those that cannot be (with `last_error`).
    pub status: String,
    pub last_error: Option<String>,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub event_key: String,
    pub subject_id: i64,
    pub occurrence: String,
    pub channel: String,
    pub webhook_endpoint_id: Option<i64>,
    pub party_id: Option<i64>,
    pub owner_reseller_id: Option<i64>,
    pub recipient: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub sms_text: Option<String>,
    pub json_body: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub claimed_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

const MESSAGE_COLUMNS: &str = "id, event_key, subject_id, occurrence, channel, webhook_endpoint_id, party_id, \
    owner_reseller_id, recipient, sender, subject, text_body, html_body, sms_text, json_body, status, attempts, \
    next_attempt_at, claimed_until, last_error, created_at, sent_at";

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

/// Writes a message unless the same one (event, subject, occurrence, channel, endpoint) exists; answers its id
/// when it was written. A pending message is due at once.
pub async fn insert(tx: &mut Tx, m: &NewMessage, created_at: i64) -> Result<Option<i64>, StoreError> {
    let next_attempt_at = (m.status == "pending").then_some(created_at);
    let written: Option<IdRow> = tx
        .fetch_optional(
            "INSERT INTO outbox (event_key, subject_id, occurrence, channel, webhook_endpoint_id, party_id,
                 owner_reseller_id, recipient, sender, subject, text_body, html_body, sms_text, json_body, status,
                 next_attempt_at, last_error, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
             ON CONFLICT DO NOTHING
             RETURNING id",
            args![
                m.event_key.as_str(),
                m.subject_id,
                m.occurrence.as_str(),
                m.channel.as_str(),
                m.webhook_endpoint_id,
                m.party_id,
                m.owner_reseller_id,
                m.recipient.clone(),
                m.sender.clone(),
                m.subject.clone(),
                m.text_body.clone(),
                m.html_body.clone(),
                m.sms_text.clone(),
                m.json_body.clone(),
                m.status.as_str(),
                next_attempt_at,
                m.last_error.clone(),
                created_at
            ],
        )
        .await?;
    Ok(written.map(|row| row.id))
}

/// Claims up to `limit` pending messages due at `now` that no other worker holds, holding them until
/// `claimed_until`. PostgreSQL skips rows another transaction is claiming; SQLite has a single writer.
pub async fn claim_due(tx: &mut Tx, now: i64, claimed_until: i64, limit: i64) -> Result<Vec<MessageRow>, StoreError> {
    let lock = match tx.backend() {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    tx.fetch_all(
        AssertSqlSafe(format!(
            "UPDATE outbox SET claimed_until = $2
             WHERE id IN (
                 SELECT id FROM outbox
                 WHERE status = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
                 ORDER BY next_attempt_at, id LIMIT +$3 {lock})
             RETURNING {MESSAGE_COLUMNS}"
        )),
        args![now, claimed_until, limit],
    )
    .await
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Sent,
    /// Tried again at `next_attempt_at`.
    Retry {
        error: String,
        next_attempt_at: i64,
    },
    /// Given up: a dead letter.
    Dead {
        error: String,
    },
}

/// Stores an attempt's outcome on the message and in the attempt log, releasing the worker's claim.
pub async fn record_attempt(
    tx: &mut Tx,
    id: i64,
    attempt: i64,
    outcome: &AttemptOutcome,
    at: i64,
) -> Result<(), StoreError> {
    let (status, error, next_attempt_at, sent_at) = match outcome {
        AttemptOutcome::Sent => ("sent", None, None, Some(at)),
        AttemptOutcome::Retry { error, next_attempt_at } => {
            ("pending", Some(error.clone()), Some(*next_attempt_at), None)
        }
        AttemptOutcome::Dead { error } => ("dead", Some(error.clone()), None, None),
    };
    tx.execute(
        "UPDATE outbox SET status = $2, attempts = $3, last_error = COALESCE($4, last_error), next_attempt_at = $5,
             sent_at = $6, claimed_until = NULL
         WHERE id = $1",
        args![id, status, attempt, error.clone(), next_attempt_at, sent_at],
    )
    .await?;
    tx.execute(
        "INSERT INTO outbox_attempts (outbox_id, attempt, at, outcome, error) VALUES ($1, $2, $3, $4, $5)",
        args![
            id,
            attempt,
            at,
            if sent_at.is_some() { "sent" } else { "failed" },
            error
        ],
    )
    .await?;
    Ok(())
}

/// Filters of the delivery log; `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only rows of this owner (a reseller id); `Some(None)` = the operator's, `None` = everyone's.
    pub owner_reseller_id: Option<Option<i64>>,
    pub party_id: Option<i64>,
    pub event_key: Option<String>,
    pub status: Option<String>,
    pub channel: Option<String>,
}

/// The delivery log, newest first, before `before_id`.
pub async fn list(
    tx: &mut Tx,
    filter: &LogFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    let (owner_filtered, owner) = match filter.owner_reseller_id {
        Some(owner) => (true, owner),
        None => (false, None),
    };
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox
             WHERE ($1 = FALSE OR COALESCE(owner_reseller_id, 0) = COALESCE($2, 0))
               AND ($3 IS NULL OR party_id = $3)
               AND ($4 IS NULL OR event_key = $4)
               AND ($5 IS NULL OR status = $5)
               AND ($6 IS NULL OR channel = $6)
               AND ($7 IS NULL OR id < $7)
             ORDER BY id DESC LIMIT +$8"
        )),
        args![
            owner_filtered,
            owner,
            filter.party_id,
            filter.event_key.clone(),
            filter.status.clone(),
            filter.channel.clone(),
            before_id,
            limit
        ],
    )
    .await
}

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<MessageRow>, StoreError> {
    tx.fetch_optional(
        AssertSqlSafe(format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = $1")),
        args![id],
    )
    .await
}

/// One logged attempt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt: i64,
    pub at: i64,
    pub outcome: String,
    pub error: Option<String>,
}

/// Every attempt made for a message, in order.
pub async fn attempts(tx: &mut Tx, outbox_id: i64) -> Result<Vec<AttemptRow>, StoreError> {
    tx.fetch_all(
        "SELECT attempt, at, outcome, error FROM outbox_attempts WHERE outbox_id = $1 ORDER BY attempt",
        args![outbox_id],
    )
    .await
}
