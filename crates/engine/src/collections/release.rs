//! Release (§5.9 rules 3 and 4): after every allocation (§5.7 rule 5) an invoice that became `paid` or `void`,
//! or `do_not_collect` under `restore_on_partial_within_threshold`, ends its limitation and suspension and
//! cancels the rest of its schedule. Leaving `suspended` costs the releasing invoice's reactivation fee;
//! leaving `limited` costs nothing.

use classbill_store::collections as store_collections;
use classbill_store::invoices::InvoiceRow;
use classbill_store::{Tx, instants, parties};
use jiff::Timestamp;

use super::fees::{self, Fee};
use super::status::{Cause, refresh_status};
use super::{class_of, corrupt, policy_of};
use crate::error::EngineResult;
use crate::notifications::{self, Event};

/// Evaluates release for `invoice` (as it was before the allocation) now that its status is `status`;
/// `at_us` is the instant the release happens at.
pub(crate) async fn after_allocation(
    tx: &mut Tx,
    invoice: &InvoiceRow,
    status: &str,
    at_us: i64,
    now: Timestamp,
) -> EngineResult<()> {
    let class = class_of(invoice)?;
    let policy = policy_of(&class, invoice);
    let releases =
        matches!(status, "paid" | "void") || (status == "do_not_collect" && policy.restore_on_partial_within_threshold);
    if !releases {
        if status == "do_not_collect" {
            store_collections::cancel_invoice(tx, invoice.id).await?;
        }
        return Ok(());
    }
    store_collections::cancel_invoice(tx, invoice.id).await?;
    if !store_collections::release(tx, invoice.id).await? {
        return Ok(());
    }
    let cause = Cause {
        name: "release",
        invoice_id: Some(invoice.id),
        at_us,
    };
    let (before, after) = refresh_status(tx, invoice.party_id, cause, now).await?;
    let left = |step: &str| before == step && after != "suspended" && after != step;
    if !left("suspended") && !left("limited") {
        return Ok(());
    }
    let at = instants::from_micros(at_us)?;
    let mut restored = Event::for_invoice("service_restored", invoice)
        .occurrence(at_us.to_string())
        .with("action_date", at.to_string());
    if before == "suspended"
        && let Some(fee) = policy.collection.reactivation_fee
    {
        let party = parties::get(tx, invoice.party_id)
            .await?
            .ok_or_else(|| corrupt(format!("party {} vanished", invoice.party_id)))?;
        let fee = Fee {
            kind: "reactivation_fee",
            amount: fee,
            invoice,
            party: &party,
            class: &class,
            at,
        };
        let booked = fees::book(tx, &fee, now).await?;
        restored = restored.with("fee_amount", booked.to_string());
    }
    notifications::emit(tx, &restored, now).await
}
