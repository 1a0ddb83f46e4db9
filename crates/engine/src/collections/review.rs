//! Review (§5.8 rule 4): a regular invoice of an `after_review` class is held `under_review`, and nothing of
//! its schedule fires, until a user of its owner approves it or a collection run reaches its automatic
//! approval (issue date + `review_hold_days`, 00:00 local). Approval then does what issue would have done:
//! the `invoice_issued` e-mail, the `on_issue` charge request, and the state changes whose dates have passed
//! fire at once, while passed reminders, notices and resends are dropped.

use classbill_domain::collections::CollectionEvent;
use classbill_store::close::Held;
use classbill_store::collections as store_collections;
use classbill_store::invoices::{self as store_invoices, InvoiceRow};
use classbill_store::{Tx, instants};
use jiff::Timestamp;

use super::corrupt;
use super::fire::{fire, hold_periods_for_terminations};
use crate::error::EngineResult;
use crate::notifications::EmitCache;

/// What approval drops when its date has passed: messages that would arrive too late to mean anything.
const DROPPED_WHEN_PASSED: [CollectionEvent; 5] = [
    CollectionEvent::DueReminder,
    CollectionEvent::Resend,
    CollectionEvent::LimitationNotice,
    CollectionEvent::SuspensionNotice,
    CollectionEvent::TerminationNotice,
];

/// Approves an invoice held in review at `at` (`approved` or `auto_approved`); answers false when it was not
/// held (approved meanwhile).
pub(super) async fn approve(
    tx: &mut Tx,
    invoice_id: i64,
    state: &str,
    at: Timestamp,
    now: Timestamp,
) -> EngineResult<bool> {
    if !store_collections::end_review(tx, invoice_id, state).await? {
        return Ok(false);
    }
    let invoice: InvoiceRow = store_invoices::get(tx, invoice_id)
        .await?
        .ok_or_else(|| corrupt(format!("invoice {invoice_id} vanished")))?;
    super::announce(tx, &invoice, now).await?;
    let at_us = instants::to_micros(at);
    let dropped: Vec<&str> = DROPPED_WHEN_PASSED.iter().map(|e| e.as_str()).collect();
    store_collections::drop_passed(tx, invoice_id, &dropped, at_us).await?;
    let mut emit = EmitCache::default();
    for item in store_collections::items_of_invoice(tx, invoice_id).await? {
        if item.state == "pending" && item.due_at <= at_us {
            fire(tx, &mut emit, &item, at, now).await?;
        }
    }
    Ok(true)
}

impl crate::Engine {
    /// `POST /invoices/{id}/approve`: a user of the invoice's owner approves an invoice held in review, at `at`.
    pub async fn approve_invoice(
        &self,
        actor: &crate::Actor,
        id: i64,
        at: Timestamp,
        now: Timestamp,
    ) -> EngineResult<crate::InvoiceView> {
        let not_found = || crate::EngineError::NotFound(format!("invoice {id} not found"));
        {
            let mut tx = self.store.write().await?;
            let invoice = store_invoices::get(&mut tx, id)
                .await?
                .filter(|row| actor.sees(classbill_domain::Owner::from_reseller_id(row.owner_reseller_id)))
                .ok_or_else(not_found)?;
            if actor.owner() != classbill_domain::Owner::from_reseller_id(invoice.owner_reseller_id) {
                return Err(crate::EngineError::forbidden(
                    "only users of the invoice's owner approve it",
                ));
            }
            if classbill_store::close::claim_parties(&mut tx, &[invoice.party_id], Held::Skip)
                .await?
                .is_empty()
            {
                return Err(crate::EngineError::conflict(
                    "being_processed",
                    "a billing or collection run is working on this party; try again when it has finished",
                ));
            }
            hold_periods_for_terminations(&mut tx, &[id], instants::to_micros(at)).await?;
            if !approve(&mut tx, id, "approved", at, now).await? {
                return Err(crate::EngineError::conflict(
                    "not_under_review",
                    format!("invoice {} is not held in review", invoice.number),
                ));
            }
            tx.commit().await?;
        }
        self.get_invoice(actor, id).await
    }
}
