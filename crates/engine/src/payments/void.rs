//! Voiding an invoice (customer-classes §5.7 `void`): a user of its owner cancels it with a reason; collection
//! stops, the credit allocated to it becomes unallocated again, and the ledger (its xDRs) stays as it is.

use classbill_domain::Owner;
use classbill_store::invoices as store_invoices;
use classbill_store::{StoreError, allocations, instants};
use jiff::Timestamp;
use serde_json::json;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::close::InvoiceView;
use crate::error::{EngineError, EngineResult};

/// The longest reason kept.
const MAX_REASON: usize = 500;

impl crate::Engine {
    /// `POST /invoices/{id}/void {reason, as_of?}`.
    pub async fn void_invoice(
        &self,
        actor: &Actor,
        id: i64,
        reason: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> EngineResult<InvoiceView> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(EngineError::invalid(
                "reason",
                "required",
                format!("say why the invoice is voided (1 to {MAX_REASON} characters)"),
            ));
        }
        let not_found = || EngineError::NotFound(format!("invoice {id} not found"));
        let mut tx = self.store.write().await?;
        allocations::lock_invoice(&mut tx, id).await?;
        let invoice = store_invoices::get(&mut tx, id)
            .await?
            .filter(|row| actor.sees(Owner::from_reseller_id(row.owner_reseller_id)))
            .ok_or_else(not_found)?;
        if actor.owner() != Owner::from_reseller_id(invoice.owner_reseller_id) {
            return Err(EngineError::forbidden("only users of the invoice's owner void it"));
        }
        if invoice.status == "void" {
            return Err(EngineError::conflict(
                "already_void",
                format!("invoice {} is already void", invoice.number),
            ));
        }
        if invoice.kind == "credit_note" {
            return Err(EngineError::conflict(
                "not_voidable",
                format!(
                    "{} is a credit note, which stands once issued; bill the amount again instead",
                    invoice.number
                ),
            ));
        }
        if crate::credit_notes::is_credited(&mut tx, id).await? {
            return Err(EngineError::conflict(
                "credited",
                format!(
                    "invoice {} is corrected by a credit note; correct what is left with another credit note",
                    invoice.number
                ),
            ));
        }
        if allocations::credit_used(&mut tx, id).await? {
            return Err(EngineError::conflict(
                "credit_in_use",
                format!(
                    "the credit of invoice {} already pays other invoices; issue a correction instead",
                    invoice.number
                ),
            ));
        }
        let party = classbill_store::parties::get(&mut tx, invoice.party_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("party {} of invoice {id} is missing", invoice.party_id)))?;
        let issued = invoice
            .issue_date
            .parse::<jiff::civil::Date>()
            .map_err(|e| StoreError::Corrupt(format!("issue date of invoice {id}: {e}")))?;
        if instants::to_micros(at) < crate::ledger::start_of_date(issued, &party.time_zone)? {
            return Err(EngineError::invalid(
                "as_of",
                "before_issue",
                format!(
                    "lies before the issue date {} of invoice {}",
                    invoice.issue_date, invoice.number
                ),
            ));
        }
        let returned = allocations::remove_to_invoice(&mut tx, id).await?;
        allocations::set_open(&mut tx, id, 0, "void").await?;
        let at_us = instants::to_micros(at);
        crate::collections::after_allocation(&mut tx, &invoice, "void", at_us, now).await?;
        let returned_total: i64 = returned.iter().map(|a| a.amount).sum();
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "void",
                object_type: "invoice",
                object_id: id.to_string(),
                owner_reseller_id: invoice.owner_reseller_id,
                details: json!({
                    "number": invoice.number,
                    "reason": reason,
                    "at": at.to_string(),
                    "returned_credit": classbill_domain::Money(returned_total),
                    "removed_allocations": returned.iter().map(|a| json!({
                        "source_xdr_id": a.source_xdr_id,
                        "source_invoice_id": a.source_invoice_id,
                        "amount": classbill_domain::Money(a.amount),
                    })).collect::<Vec<_>>(),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        self.get_invoice(actor, id).await
    }
}
