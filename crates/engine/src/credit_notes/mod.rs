//! Credit notes: the correction of an issued invoice, in full or for chosen lines. A credit note is an invoice
//! of kind `credit_note` with a negative total, numbered from the owner's credit-note sequence. Its lines are
//! the credited charges booked again with the opposite sign in the party's open period, so the ledger balance
//! and the next regular invoice see the correction; its taxes are the original's at the same rates. Its credit
//! pays the corrected invoice first and then the party's other open invoices (customer-classes §5.7); what is
//! left stays unallocated credit. Everything happens in one write transaction.

mod input;
mod lines;

use classbill_domain::{Money, Owner};
use classbill_store::close::{self as store_close, Held};
use classbill_store::invoices::{self as store_invoices, InvoiceRow, NewInvoice, Series};
use classbill_store::parties::PartyRow;
use classbill_store::{StoreError, Tx, allocations, instants};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::close::InvoiceView;
use crate::error::{EngineError, EngineResult};
use crate::payments::{PaymentAllocation, Source, spread};

/// The kinds of invoice a credit note may correct.
const CREDITABLE: &[&str] = &["regular", "oot", "recurring_fees"];

/// A credit note as the API shows it: the document itself (an invoice of kind `credit_note`) and what it did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditNoteView {
    pub credit_note: InvoiceView,
    pub credited_invoice_id: i64,
    pub credited_invoice_number: String,
    pub reason: String,
    /// The invoices its credit paid, the corrected one first.
    pub allocations: Vec<PaymentAllocation>,
    /// What stays as unallocated credit of the party.
    pub unallocated: Money,
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> EngineError {
    EngineError::Store(StoreError::Corrupt(e.to_string()))
}

impl crate::Engine {
    /// `POST /invoices/{id}/credit-notes {reason, xdr_ids?, as_of?}`: users of the invoice's owner.
    pub async fn issue_credit_note(
        &self,
        actor: &Actor,
        invoice_id: i64,
        body: &Value,
        now: Timestamp,
    ) -> EngineResult<CreditNoteView> {
        let request = input::parse(body).map_err(EngineError::Invalid)?;
        let mut tx = self.store.write().await?;
        allocations::lock_invoice(&mut tx, invoice_id).await?;
        let original = store_invoices::get(&mut tx, invoice_id)
            .await?
            .filter(|row| actor.sees(Owner::from_reseller_id(row.owner_reseller_id)))
            .ok_or_else(|| EngineError::NotFound(format!("invoice {invoice_id} not found")))?;
        if actor.owner() != Owner::from_reseller_id(original.owner_reseller_id) {
            return Err(EngineError::forbidden(
                "only users of the invoice's owner issue its credit notes",
            ));
        }
        check_creditable(&original)?;
        let party = classbill_store::parties::get(&mut tx, original.party_id)
            .await?
            .ok_or_else(|| {
                corrupt(format!(
                    "party {} of invoice {invoice_id} is missing",
                    original.party_id
                ))
            })?;
        let as_of = request.as_of.unwrap_or(now);
        if instants::to_micros(as_of) < party.activated_at {
            return Err(EngineError::invalid(
                "as_of",
                "before_activation",
                "lies before the party's activated_at",
            ));
        }
        // The close claims its parties the same way, so it never bills the credit lines while they are written.
        if store_close::claim_parties(&mut tx, &[party.id], Held::Skip)
            .await?
            .is_empty()
        {
            return Err(EngineError::conflict(
                "being_closed",
                "a billing run or another request is issuing this party's invoices; try again shortly",
            ));
        }
        let id = issue(&mut tx, actor, &party, &original, &request, as_of, now).await?;
        tx.commit().await?;
        self.credit_note(actor, id).await
    }

    /// `GET /invoices/{id}/credit-notes`: the credit notes issued against an invoice, oldest first.
    pub async fn list_credit_notes(&self, actor: &Actor, invoice_id: i64) -> EngineResult<Vec<CreditNoteView>> {
        self.get_invoice(actor, invoice_id).await?;
        let ids = {
            let mut tx = self.store.read().await?;
            store_invoices::credit_notes_of(&mut tx, invoice_id).await?
        };
        let mut views = Vec::with_capacity(ids.len());
        for id in ids {
            views.push(self.credit_note(actor, id).await?);
        }
        Ok(views)
    }

    async fn credit_note(&self, actor: &Actor, id: i64) -> EngineResult<CreditNoteView> {
        let credit_note = self.get_invoice(actor, id).await?;
        let mut tx = self.store.read().await?;
        let link = store_invoices::credit_note_link(&mut tx, id)
            .await?
            .ok_or_else(|| corrupt(format!("credit note {id} has no credited invoice")))?;
        let credited = store_invoices::get(&mut tx, link.credited_invoice_id)
            .await?
            .ok_or_else(|| {
                corrupt(format!(
                    "invoice {} credited by {id} is missing",
                    link.credited_invoice_id
                ))
            })?;
        let made = allocations::from_invoice(&mut tx, id).await?;
        let allocated: i64 = made.iter().map(|a| a.amount).sum();
        Ok(CreditNoteView {
            unallocated: Money(-credit_note.total.0 - allocated),
            credited_invoice_id: credited.id,
            credited_invoice_number: credited.number,
            reason: link.reason,
            allocations: made
                .into_iter()
                .map(|a| PaymentAllocation {
                    invoice_id: a.invoice_id,
                    amount: Money(a.amount),
                })
                .collect(),
            credit_note,
        })
    }
}

fn check_creditable(original: &InvoiceRow) -> EngineResult<()> {
    let refuse = |code: &str, message: String| Err(EngineError::conflict(code, message));
    if !CREDITABLE.contains(&original.kind.as_str()) {
        return refuse(
            "not_creditable",
            format!("{} is a credit note; only invoices are credited", original.number),
        );
    }
    if original.status == "void" {
        return refuse(
            "invoice_void",
            format!(
                "invoice {} is void; a void invoice needs no credit note",
                original.number
            ),
        );
    }
    if original.review_state == "under_review" {
        return refuse(
            "under_review",
            format!(
                "invoice {} is still under review; approve or void it instead",
                original.number
            ),
        );
    }
    if original.total <= 0 {
        return refuse(
            "nothing_to_credit",
            format!("invoice {} has no positive total to credit", original.number),
        );
    }
    Ok(())
}

/// Books and stores the credit note of a checked request; answers its id.
async fn issue(
    tx: &mut Tx,
    actor: &Actor,
    party: &PartyRow,
    original: &InvoiceRow,
    request: &input::CreditRequest,
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<i64> {
    let owner_key = crate::close::owner_key(party.owner_reseller_id);
    let (prefix, first) = store_invoices::reserve_numbers(tx, Series::CreditNotes, owner_key, 1).await?;
    let number = format!("{prefix}{first:06}");
    let booked = lines::book(tx, party, original, request.xdr_ids.as_deref(), &number, as_of, now).await?;
    let as_of_us = instants::to_micros(as_of);
    let now_us = instants::to_micros(now);
    let (issue_date, _) = crate::close::compute::issue_and_due(as_of_us, &party.time_zone, 0).map_err(corrupt)?;
    let totals = booked.totals;
    let note = NewInvoice {
        id: 0,
        number: number.clone(),
        kind: "credit_note".to_owned(),
        party_id: party.id,
        owner_reseller_id: party.owner_reseller_id,
        class_id: original.class_id,
        class_revision: original.class_revision,
        // Issued under the settings of the invoice it corrects.
        settings_snapshot: original.settings_snapshot.clone(),
        period_id: None,
        due_date: issue_date.clone(),
        issue_date,
        net_total: totals.net_total.0,
        tax_total: totals.tax_total.0,
        rounding: totals.rounding.0,
        total: totals.total.0,
        previous_balance: 0,
        payments: 0,
        out_of_turn: 0,
        amount_due: 0,
        credit_carried: 0,
        open_amount: 0,
        status: "nothing_due".to_owned(),
        review_state: "not_required".to_owned(),
        card_only: false,
        created_at: now_us,
    };
    let note_id = store_invoices::insert(tx, &note).await?;
    // The lines leave the period's regular invoice, as the lines of an out-of-turn invoice do (§5.10 rule 5).
    store_invoices::attach_xdrs(tx, note_id, &booked.xdr_ids).await?;
    store_invoices::insert_credit_note_link(tx, note_id, original.id, &request.reason, now_us).await?;
    let made = spread(
        tx,
        party.id,
        Source::Invoice(note_id),
        -totals.total.0,
        Some(original.id),
        as_of_us,
        now_us,
    )
    .await?;
    audit::record(
        tx,
        actor,
        now,
        Change {
            action: "issue",
            object_type: "invoice",
            object_id: note_id.to_string(),
            owner_reseller_id: party.owner_reseller_id,
            details: json!({
                "kind": "credit_note",
                "number": number,
                "credited_invoice_id": original.id,
                "credited_invoice_number": original.number,
                "reason": request.reason,
                "xdr_ids": booked.xdr_ids,
                "total": totals.total,
                "allocations": made.iter().map(|&(invoice_id, amount)| json!({
                    "invoice_id": invoice_id,
                    "amount": Money(amount),
                })).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    Ok(note_id)
}

/// Whether a credit note corrects this invoice: such an invoice is not voided any more (the correction stands).
pub(crate) async fn is_credited(tx: &mut Tx, invoice_id: i64) -> EngineResult<bool> {
    Ok(!store_invoices::credit_notes_of(tx, invoice_id).await?.is_empty())
}
