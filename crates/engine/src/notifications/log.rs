//! `/notifications`: the delivery log, one entry per outbox message with its attempts.

use classbill_domain::Owner;
use classbill_domain::class::{CLASS_EVENT_KEYS, INTEGRATION_EVENT_KEYS, OPERATOR_EVENT_KEYS};
use classbill_store::outbox::{self, LogFilter, MessageRow};
use classbill_store::{instants, parties};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::{Actor, Role};
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

const STATUSES: &[&str] = &["pending", "sent", "dead", "skipped"];
const CHANNELS: &[&str] = &["email", "sms", "webhook"];

/// One message of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    /// The event key (§5.13).
    pub event: String,
    /// `email`, `sms` or `webhook`.
    pub channel: String,
    pub party_id: Option<i64>,
    /// E-mail address, phone number or webhook URL; null when there was none.
    pub recipient: Option<String>,
    /// `pending`, `sent`, `dead` (given up) or `skipped` (nowhere to send it; `last_error` says why).
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When a pending message is tried next.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
    /// Every attempt, oldest first (only on `GET /notifications/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptView>>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `sent` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
}

/// Filters of `GET /notifications`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    pub party_id: Option<i64>,
    pub event: Option<String>,
    pub status: Option<String>,
    /// `email`, `sms` or `webhook`.
    pub channel: Option<String>,
}

fn instant(us: Option<i64>) -> EngineResult<Option<Timestamp>> {
    Ok(us.map(instants::from_micros).transpose()?)
}

fn view_of(row: MessageRow) -> EngineResult<NotificationView> {
    Ok(NotificationView {
        id: row.id,
        event: row.event_key,
        channel: row.channel,
        party_id: row.party_id,
        recipient: row.recipient,
        next_attempt_at: if row.status == "pending" {
            instant(row.next_attempt_at)?
        } else {
            None
        },
        status: row.status,
        attempts: row.attempts,
        last_error: row.last_error,
        created_at: instants::from_micros(row.created_at)?,
        sent_at: instant(row.sent_at)?,
        attempt_log: None,
    })
}

/// Administrators see every message; a reseller user those about parties its reseller owns.
fn visible(actor: &Actor, row: &MessageRow) -> bool {
    actor.sees(Owner::from_reseller_id(row.owner_reseller_id))
}

impl crate::Engine {
    /// `GET /notifications`: newest first.
    pub async fn list_notifications(
        &self,
        actor: &Actor,
        filter: NotificationFilter,
        page: PageRequest,
    ) -> EngineResult<Page<NotificationView>> {
        let known_event = |key: &str| {
            CLASS_EVENT_KEYS.contains(&key)
                || OPERATOR_EVENT_KEYS.contains(&key)
                || INTEGRATION_EVENT_KEYS.contains(&key)
        };
        let mut errors = Vec::new();
        if filter.event.as_deref().is_some_and(|e| !known_event(e)) {
            errors.push(classbill_domain::FieldError::new(
                "event",
                "out_of_range",
                "not a notification event",
            ));
        }
        if filter.status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
            errors.push(classbill_domain::FieldError::new(
                "status",
                "out_of_range",
                format!("must be one of {}", STATUSES.join(", ")),
            ));
        }
        if filter.channel.as_deref().is_some_and(|c| !CHANNELS.contains(&c)) {
            errors.push(classbill_domain::FieldError::new(
                "channel",
                "out_of_range",
                format!("must be one of {}", CHANNELS.join(", ")),
            ));
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        let mut tx = self.store.read().await?;
        if let Some(party_id) = filter.party_id {
            let sees = parties::get(&mut tx, party_id)
                .await?
                .is_some_and(|p| actor.sees(crate::parties::owner_of(&p)));
            if !sees {
                return Err(EngineError::NotFound(format!("party {party_id} not found")));
            }
        }
        let log_filter = LogFilter {
            owner_reseller_id: match actor.role {
                Role::Administrator => None,
                Role::Reseller(id) => Some(Some(id)),
            },
            party_id: filter.party_id,
            event_key: filter.event,
            status: filter.status,
            channel: filter.channel,
        };
        let rows = outbox::list(&mut tx, &log_filter, page.cursor_id()?, page.limit + 1).await?;
        let views = rows.into_iter().map(view_of).collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }

    /// `GET /notifications/{id}`: one message with every attempt made.
    pub async fn get_notification(&self, actor: &Actor, id: i64) -> EngineResult<NotificationView> {
        let mut tx = self.store.read().await?;
        let row = outbox::get(&mut tx, id)
            .await?
            .filter(|row| visible(actor, row))
            .ok_or_else(|| EngineError::NotFound(format!("notification {id} not found")))?;
        let attempts = outbox::attempts(&mut tx, id)
            .await?
            .into_iter()
            .map(|a| {
                Ok(AttemptView {
                    attempt: a.attempt,
                    at: instants::from_micros(a.at)?,
                    outcome: a.outcome,
                    error: a.error,
                })
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let mut view = view_of(row)?;
        view.attempt_log = Some(attempts);
        Ok(view)
    }
}
