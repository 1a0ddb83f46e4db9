//! Collections (customer-classes §5.8, §5.9): what follows an invoice's issue — its credit and its frozen
//! schedule — the collection runs that fire the schedule, the release of limitations and suspensions when an
//! invoice is settled, and the party status those actions add up to.

mod fees;
mod fire;
mod plan;
mod release;
mod review;
mod runs;
mod status;

use classbill_domain::class::{AutoCharge, ClassSettings, InvoicePolicy};
use classbill_store::collections as store_collections;
use classbill_store::invoices::{self as store_invoices, InvoiceRow};
use classbill_store::{StoreError, Tx, instants};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::notifications::{self, Event};

pub(crate) use release::after_allocation;
pub use runs::{CollectionOptions, CollectionRunSummary, CollectionRunView, DEFAULT_COLLECTION_BATCH};
pub(crate) use status::{Cause, refresh_status};

/// Everything that follows the storing of a newly issued invoice, in its transaction: the party's credit is
/// applied to it (§5.7 rule 3) and its collection schedule is computed from its policy and the installation
/// calendar and frozen (§5.9). `at_us` is the issue instant.
pub(crate) async fn after_issue(tx: &mut Tx, invoice_id: i64, at_us: i64, now: Timestamp) -> EngineResult<()> {
    let now_us = instants::to_micros(now);
    crate::payments::apply_credit(tx, invoice_id, at_us, now_us).await?;
    let invoice = store_invoices::get(tx, invoice_id)
        .await?
        .ok_or_else(|| corrupt(format!("invoice {invoice_id} vanished")))?;
    plan::freeze_schedule(tx, &invoice).await?;
    if invoice.review_state == "under_review" {
        let event = Event::for_invoice("invoice_under_review", &invoice);
        return notifications::emit(tx, &event, now).await;
    }
    announce(tx, &invoice, now).await
}

/// What issue (or, for an invoice held in review, approval) announces: the invoice e-mail of its tab and the
/// `on_issue` charge request.
async fn announce(tx: &mut Tx, invoice: &InvoiceRow, now: Timestamp) -> EngineResult<()> {
    let key = if invoice.kind == "regular" {
        "invoice_issued"
    } else {
        "oot_invoice_issued"
    };
    notifications::emit(tx, &Event::for_invoice(key, invoice), now).await?;
    let class = class_of(invoice)?;
    if policy_of(&class, invoice).auto_charge == AutoCharge::OnIssue {
        crate::charges::request_charge(tx, invoice, 1, now).await?;
    }
    Ok(())
}

fn corrupt(e: impl std::fmt::Display) -> EngineError {
    EngineError::Store(StoreError::Corrupt(e.to_string()))
}

/// The class settings an invoice was issued under, from its settings snapshot.
fn class_of(invoice: &InvoiceRow) -> EngineResult<ClassSettings> {
    let snapshot: serde_json::Value = serde_json::from_str(&invoice.settings_snapshot)?;
    serde_json::from_value(snapshot["class"].clone())
        .map_err(|e| corrupt(format!("settings snapshot of invoice {}: {e}", invoice.id)))
}

/// The §2.3 policy of the tab the invoice came from: regular, or out-of-turn for OOT and recurring-fee invoices.
fn policy_of(class: &ClassSettings, invoice: &InvoiceRow) -> InvoicePolicy {
    if invoice.kind == "regular" {
        class.regular_invoices.policy()
    } else {
        class.out_of_turn_invoices.policy()
    }
}

/// One event of an invoice's schedule (`/invoices/{id}/collection-schedule`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleItemView {
    /// `due_reminder`, `charge_request`, `resend`, `overdue`, `late_fee`, `limitation_notice`, `limitation`,
    /// `suspension_notice`, `suspension`, `termination_notice` or `termination`.
    pub event: String,
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// The instant the event becomes due: its date's local midnight.
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    /// `pending`, `fired`, `dropped` or `cancelled`.
    pub state: String,
    /// The `as_of` of the collection run that fired it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fired_at: Option<Timestamp>,
}

/// An invoice's collection schedule, frozen at issue, ordered by `due_at` (ties in firing order).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectionScheduleView {
    pub invoice_id: i64,
    pub items: Vec<ScheduleItemView>,
}

/// One change of a party's status (§5.9 rule 2).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusChangeView {
    pub from_status: String,
    pub to_status: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `limitation`, `suspension`, `termination`, `release`, `block` or `unblock`.
    pub cause: String,
    pub invoice_id: Option<i64>,
}

impl crate::Engine {
    /// `GET /invoices/{id}/collection-schedule`; visible when the invoice is.
    pub async fn collection_schedule(&self, actor: &Actor, invoice_id: i64) -> EngineResult<CollectionScheduleView> {
        let mut tx = self.store.read().await?;
        store_invoices::get(&mut tx, invoice_id)
            .await?
            .filter(|row| actor.sees(classbill_domain::Owner::from_reseller_id(row.owner_reseller_id)))
            .ok_or_else(|| EngineError::NotFound(format!("invoice {invoice_id} not found")))?;
        let items = store_collections::items_of_invoice(&mut tx, invoice_id)
            .await?
            .into_iter()
            .map(|row| {
                Ok(ScheduleItemView {
                    event: row.event,
                    date: row.local_date,
                    due_at: instants::from_micros(row.due_at)?,
                    state: row.state,
                    fired_at: row.fired_at.map(instants::from_micros).transpose()?,
                })
            })
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(CollectionScheduleView { invoice_id, items })
    }

    /// `GET /customers/{id}/status-history` and `/resellers/{id}/status-history`: the party's status changes,
    /// oldest first.
    pub async fn status_history(&self, actor: &Actor, party_id: i64) -> EngineResult<Vec<StatusChangeView>> {
        let mut tx = self.store.read().await?;
        crate::ledger::visible_party(&mut tx, actor, party_id).await?;
        store_collections::status_history(&mut tx, party_id)
            .await?
            .into_iter()
            .map(|row| {
                Ok(StatusChangeView {
                    from_status: row.from_status,
                    to_status: row.to_status,
                    at: instants::from_micros(row.at)?,
                    cause: row.cause,
                    invoice_id: row.invoice_id,
                })
            })
            .collect()
    }
}
