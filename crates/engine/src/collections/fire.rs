//! Firing one due event of a schedule (§5.8 rules 2–3, §5.9 table): it fires when its condition holds at its
//! own due instant, else it is dropped. Effects are dated with the event's due instant, so a late run books
//! what an on-time run would have.

use classbill_domain::class::AutoCharge;
use classbill_domain::collections::CollectionEvent;
use classbill_store::allocations;
use classbill_store::collections::{self as store_collections, Action, ItemRow};
use classbill_store::invoices::{self as store_invoices, InvoiceRow};
use classbill_store::{Tx, instants, parties, xdrs};
use jiff::Timestamp;
use jiff::civil::Date;

use super::fees::{self, Fee};
use super::status::{Cause, refresh_status, set_status};
use super::{class_of, corrupt, policy_of};
use crate::error::EngineResult;
use crate::notifications::{self, EmitCache, Event};

/// Whether the event fired or was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Fired,
    Dropped,
}

/// Days from `from` to `to`.
fn days_between(from: &str, to: &str) -> EngineResult<i64> {
    let from: Date = from.parse().map_err(corrupt)?;
    let to: Date = to.parse().map_err(corrupt)?;
    Ok(i64::from(from.until(to).map_err(corrupt)?.get_days()))
}

/// The date of the invoice's `step` (the action a notice announces).
async fn step_date(tx: &mut Tx, invoice_id: i64, step: CollectionEvent) -> EngineResult<Option<String>> {
    Ok(store_collections::items_of_invoice(tx, invoice_id)
        .await?
        .into_iter()
        .find(|item| item.event == step.as_str())
        .map(|item| item.local_date))
}

/// The invoice event of `key` for this item, with the ladder variables of §5.13.
fn ladder_event(key: &'static str, invoice: &InvoiceRow, item: &ItemRow, action_date: &str) -> EngineResult<Event> {
    Ok(Event::for_invoice(key, invoice)
        .occurrence(item.local_date.clone())
        .with("action_date", action_date)
        .with("days_left", days_between(&item.local_date, action_date)?))
}

/// Takes the ledger's open-periods lock exclusively, before the transaction writes anything, when it may fire a
/// termination of one of these invoices due at or before `until_us`. A termination ends periods under that lock
/// ([`store_collections::end_periods_at`]); asked for only then, after the transaction had updated invoices, it
/// waited for a payment holding the lock shared while that payment waited for one of those invoices, a deadlock
/// PostgreSQL breaks by failing one of the two.
pub(super) async fn hold_periods_for_terminations(tx: &mut Tx, invoice_ids: &[i64], until_us: i64) -> EngineResult<()> {
    let termination = CollectionEvent::Termination.as_str();
    if store_collections::any_pending(tx, invoice_ids, termination, until_us).await? {
        xdrs::hold_open_periods(tx).await?;
    }
    Ok(())
}

/// Fires or drops one pending item and settles it at the run's `as_of`; `None` when it was settled meanwhile
/// (cancelled by an earlier event of the same run, or taken by a concurrent run). `emit` keeps what announcing
/// reads (class and effective settings) across the events of one transaction.
pub(super) async fn fire(
    tx: &mut Tx,
    emit: &mut EmitCache,
    item: &ItemRow,
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<Option<Outcome>> {
    let invoice = store_invoices::get(tx, item.invoice_id)
        .await?
        .ok_or_else(|| corrupt(format!("invoice {} vanished", item.invoice_id)))?;
    let party = parties::get(tx, item.party_id)
        .await?
        .ok_or_else(|| corrupt(format!("party {} vanished", item.party_id)))?;
    let event: CollectionEvent = item.event.parse().map_err(corrupt)?;
    let open = invoice.open_amount > 0 && invoice.status != "void";
    let collectable = open && invoice.status != "do_not_collect";
    // Rule 1: the ladder's steps need an overdue invoice out of review and a party not terminated.
    let overdue = invoice.status == "overdue" && invoice.review_state != "under_review" && party.status != "closed";
    let fires = match event {
        CollectionEvent::DueReminder => matches!(invoice.status.as_str(), "unpaid" | "partially_paid"),
        CollectionEvent::ChargeRequest => open,
        CollectionEvent::Resend | CollectionEvent::Overdue | CollectionEvent::LateFee => collectable,
        _ => overdue,
    };
    let outcome = if fires { Outcome::Fired } else { Outcome::Dropped };
    let state = if fires { "fired" } else { "dropped" };
    if !store_collections::settle(tx, item.id, state, instants::to_micros(as_of)).await? {
        return Ok(None);
    }
    if !fires {
        return Ok(Some(outcome));
    }
    let at = instants::from_micros(item.due_at)?;
    let cause = |name| Cause {
        name,
        invoice_id: Some(invoice.id),
        at_us: item.due_at,
    };
    let event_out = match event {
        CollectionEvent::DueReminder => ladder_event("invoice_due_soon", &invoice, item, &invoice.due_date)?,
        CollectionEvent::ChargeRequest => {
            let attempt = charge_attempt(tx, &invoice).await?;
            crate::charges::request_charge(tx, &invoice, attempt, now).await?;
            return Ok(Some(outcome));
        }
        CollectionEvent::Resend => Event::for_invoice("invoice_resent", &invoice).occurrence(item.local_date.clone()),
        CollectionEvent::Overdue => {
            allocations::set_open(tx, invoice.id, invoice.open_amount, "overdue").await?;
            Event::for_invoice("invoice_overdue", &invoice).with("action_date", item.local_date.as_str())
        }
        CollectionEvent::LateFee => {
            let class = class_of(&invoice)?;
            let Some(amount) = policy_of(&class, &invoice).collection.late_fee else {
                return Ok(Some(outcome));
            };
            let fee = Fee {
                kind: "late_fee",
                amount,
                invoice: &invoice,
                party: &party,
                class: &class,
                at,
            };
            let booked = fees::book(tx, &fee, now).await?;
            Event::for_invoice("late_fee_applied", &invoice)
                .with("fee_amount", booked.to_string())
                .with("action_date", item.local_date.as_str())
        }
        CollectionEvent::LimitationNotice => {
            let date = step_date(tx, invoice.id, CollectionEvent::Limitation).await?;
            ladder_event(
                "limitation_upcoming",
                &invoice,
                item,
                date.as_deref().unwrap_or_default(),
            )?
        }
        CollectionEvent::SuspensionNotice => {
            let date = step_date(tx, invoice.id, CollectionEvent::Suspension).await?;
            ladder_event(
                "suspension_upcoming",
                &invoice,
                item,
                date.as_deref().unwrap_or_default(),
            )?
        }
        CollectionEvent::TerminationNotice => {
            let date = step_date(tx, invoice.id, CollectionEvent::Termination).await?;
            ladder_event(
                "termination_upcoming",
                &invoice,
                item,
                date.as_deref().unwrap_or_default(),
            )?
        }
        CollectionEvent::Limitation | CollectionEvent::Suspension => {
            let (action, key, name) = if event == CollectionEvent::Limitation {
                (Action::Limitation, "service_limited", "limitation")
            } else {
                (Action::Suspension, "service_suspended", "suspension")
            };
            store_collections::activate(tx, invoice.id, action, item.due_at).await?;
            refresh_status(tx, party.id, cause(name), now).await?;
            Event::for_invoice(key, &invoice).with("action_date", item.local_date.as_str())
        }
        CollectionEvent::Termination => {
            // Rule 5: final; the open period ends here and every other schedule of the party is cancelled.
            let billing = party.billing();
            crate::ledger::ensure_through(tx, &billing, at, now).await?;
            set_status(tx, &party, "closed", cause("termination"), now).await?;
            store_collections::cancel_party(tx, party.id).await?;
            store_collections::end_periods_at(tx, party.id, item.due_at).await?;
            Event::for_invoice("customer_terminated", &invoice).with("action_date", item.local_date.as_str())
        }
    };
    emit.know(&party);
    notifications::emit_with(tx, emit, &event_out, now).await?;
    Ok(Some(outcome))
}

/// The number of the charge request just fired: the invoice's fired scheduled requests, after the one made at
/// issue when the policy charges `on_issue`.
async fn charge_attempt(tx: &mut Tx, invoice: &InvoiceRow) -> EngineResult<i64> {
    let class = class_of(invoice)?;
    let at_issue = i64::from(policy_of(&class, invoice).auto_charge == AutoCharge::OnIssue);
    let fired = store_collections::items_of_invoice(tx, invoice.id)
        .await?
        .into_iter()
        .filter(|item| item.event == CollectionEvent::ChargeRequest.as_str() && item.state == "fired")
        .count();
    Ok(at_issue + i64::try_from(fired).map_err(corrupt)?)
}
