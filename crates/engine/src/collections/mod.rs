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

use std::collections::{HashMap, HashSet};

use classbill_domain::class::{AutoCharge, ClassSettings, InvoicePolicy};
use classbill_store::allocations;
use classbill_store::collections as store_collections;
use classbill_store::invoices::{self as store_invoices, InvoiceRow};
use classbill_store::{StoreError, Tx, instants};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::notifications::{self, EmitCache, Event};

pub(crate) use release::after_allocation;
pub use runs::{CollectionOptions, CollectionRunSummary, CollectionRunView, DEFAULT_COLLECTION_BATCH};
pub(crate) use status::{Cause, refresh_status};

/// A newly stored invoice, as stored, and its issue instant, the instant its credit is applied at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    pub invoice: InvoiceRow,
    pub at_us: i64,
    /// The invoice was stored already open for its total with the status that gives
    /// ([`crate::payments::opening`]), so there is nothing to set when no credit applies.
    pub opened: bool,
}

/// Everything that follows the storing of newly issued invoices, in their transaction: the party's credit is
/// applied to each (§5.7 rule 3), its collection schedule is computed from its policy and the installation
/// calendar and frozen (§5.9), and its issue is announced, invoice by invoice in the order given.
///
/// The invoices of a close batch go through together, so the reads and writes they share are made once per batch
/// (one credit query, one calendar, multi-row schedule inserts); an out-of-turn invoice is a batch of one. Every
/// invoice of the batch is stored before the first is handled, so an invoice whose credit step does work
/// ([`crate::payments::credit_applies`]) must come in a batch of its own, or its credit would reach the
/// invoices stored after it.
pub(crate) async fn after_issue(tx: &mut Tx, issued: Vec<Issued>, now: Timestamp) -> EngineResult<()> {
    let now_us = instants::to_micros(now);
    let mut party_ids: Vec<i64> = issued.iter().map(|i| i.invoice.party_id).collect();
    party_ids.sort_unstable();
    party_ids.dedup();
    let with_credit: HashSet<i64> = allocations::parties_with_credit(tx, &party_ids)
        .await?
        .into_iter()
        .collect();
    let mut invoices = Vec::with_capacity(issued.len());
    for item in issued {
        let mut invoice = item.invoice;
        if crate::payments::credit_applies(&invoice, with_credit.contains(&invoice.party_id)) {
            crate::payments::apply_credit(tx, invoice.id, item.at_us, now_us).await?;
            invoice = store_invoices::get(tx, invoice.id)
                .await?
                .ok_or_else(|| corrupt(format!("invoice {} vanished", invoice.id)))?;
        } else if !item.opened {
            // Nothing to allocate: the invoice only starts open for its total.
            let (open, status) = crate::payments::opening(&invoice);
            if (open, status.as_str()) != (invoice.open_amount, invoice.status.as_str()) {
                allocations::set_open(tx, invoice.id, open, &status).await?;
                invoice.open_amount = open;
                invoice.status = status;
            }
        }
        invoices.push(invoice);
    }
    let mut followup = Followup::default();
    let parties = plan::freeze_schedules(tx, &invoices, &mut followup).await?;
    // Read after the credit step, the last change issuing makes to a party.
    followup.emit = EmitCache::knowing(parties);
    for invoice in &invoices {
        if invoice.review_state == "under_review" {
            let event = Event::for_invoice("invoice_under_review", invoice);
            notifications::emit_with(tx, &mut followup.emit, &event, now).await?;
        } else {
            announce_with(tx, &mut followup, invoice, now).await?;
        }
    }
    Ok(())
}

/// What the follow-up of a batch of issued invoices reads more than once: the class settings of each distinct
/// settings snapshot (the invoices of a close batch mostly share one, and parsing it is the dearest step of an
/// invoice's follow-up) and what the announcements read.
#[derive(Default)]
struct Followup {
    classes: HashMap<String, ClassSettings>,
    emit: EmitCache,
}

impl Followup {
    /// [`class_of`], parsed once per distinct snapshot.
    fn class_of(&mut self, invoice: &InvoiceRow) -> EngineResult<&ClassSettings> {
        if !self.classes.contains_key(&invoice.settings_snapshot) {
            let class = class_of(invoice)?;
            self.classes.insert(invoice.settings_snapshot.clone(), class);
        }
        Ok(&self.classes[&invoice.settings_snapshot])
    }
}

/// What issue (or, for an invoice held in review, approval) announces: the invoice e-mail of its tab and the
/// `on_issue` charge request.
async fn announce(tx: &mut Tx, invoice: &InvoiceRow, now: Timestamp) -> EngineResult<()> {
    announce_with(tx, &mut Followup::default(), invoice, now).await
}

/// [`announce`] sharing what it reads with the other invoices of a batch.
async fn announce_with(tx: &mut Tx, followup: &mut Followup, invoice: &InvoiceRow, now: Timestamp) -> EngineResult<()> {
    let key = if invoice.kind == "regular" {
        "invoice_issued"
    } else {
        "oot_invoice_issued"
    };
    notifications::emit_with(tx, &mut followup.emit, &Event::for_invoice(key, invoice), now).await?;
    if policy_of(followup.class_of(invoice)?, invoice).auto_charge == AutoCharge::OnIssue {
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
