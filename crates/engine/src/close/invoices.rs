//! Reading invoices (`/invoices`, customer-classes §5.6) with their lines computed from their xDRs, and the
//! owners' number sequences (`/invoice-sequences`).

use std::str::FromStr;

use classbill_domain::invoice_math::{ChargeXdr, InvoiceLine, invoice_lines};
use classbill_domain::tax::{TaxLine, XdrKind};
use classbill_domain::{Money, Owner, Percent};
use classbill_store::invoices::{self as store_invoices, InvoiceFilter, InvoiceRow, SequenceRow, Series};
use classbill_store::{StoreError, close as store_close, instants};
use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::{Actor, Role};
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

/// One invoice line (§5.6 rule 1); the tax fields only on tax lines.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceLineView {
    pub kind: String,
    pub service: String,
    pub rate_code: Option<String>,
    pub quantity: Money,
    pub amount: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_rate_percent: Option<Percent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_base: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_amount: Option<Money>,
    /// On tax lines: reverse charge applies (rate 0; the customer accounts for the tax).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse_charge: Option<bool>,
    /// On tax lines: the supply is outside the scope of the tax (rate 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_scope: Option<bool>,
    /// On reverse-charge and outside-scope tax lines: the note the invoice prints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The note printed on a reverse-charge tax line.
const REVERSE_CHARGE_NOTE: &str = "Reverse charge: the recipient accounts for the tax";
/// The note printed on an outside-scope tax line.
const OUTSIDE_SCOPE_NOTE: &str = "Outside the scope of the tax";

/// An invoice as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceView {
    pub id: i64,
    pub number: String,
    /// `regular`, `oot`, `recurring_fees` or `credit_note`.
    pub kind: String,
    pub party_id: i64,
    pub class_id: i64,
    pub class_revision: i64,
    /// The class document and party overrides the invoice was issued under.
    #[schema(value_type = Object)]
    pub settings_snapshot: serde_json::Value,
    pub period_id: Option<i64>,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
    pub due_date: String,
    pub net_total: Money,
    pub tax_total: Money,
    pub rounding: Money,
    pub total: Money,
    pub previous_balance: Money,
    pub payments: Money,
    pub out_of_turn: Money,
    pub amount_due: Money,
    pub credit_carried: Money,
    pub open_amount: Money,
    pub status: String,
    pub review_state: String,
    pub card_only: bool,
    /// The exempt party's `tax_exemption_reason`, frozen at the close and printed on the invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_exemption_reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Present on a single invoice (`GET /invoices/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<InvoiceLineView>>,
    /// The payments and credit applied to it (§5.7); present on a single invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocations: Option<Vec<crate::payments::AllocationView>>,
}

impl InvoiceView {
    fn from_row(row: InvoiceRow) -> EngineResult<Self> {
        let settings_snapshot: serde_json::Value = serde_json::from_str(&row.settings_snapshot)?;
        let tax_exemption_reason = settings_snapshot["tax_exemption_reason"].as_str().map(str::to_owned);
        Ok(InvoiceView {
            id: row.id,
            number: row.number,
            kind: row.kind,
            party_id: row.party_id,
            class_id: row.class_id,
            class_revision: row.class_revision,
            settings_snapshot,
            period_id: row.period_id,
            issue_date: row.issue_date,
            due_date: row.due_date,
            net_total: Money(row.net_total),
            tax_total: Money(row.tax_total),
            rounding: Money(row.rounding),
            total: Money(row.total),
            previous_balance: Money(row.previous_balance),
            payments: Money(row.payments),
            out_of_turn: Money(row.out_of_turn),
            amount_due: Money(row.amount_due),
            credit_carried: Money(row.credit_carried),
            open_amount: Money(row.open_amount),
            status: row.status,
            review_state: row.review_state,
            card_only: row.card_only,
            tax_exemption_reason,
            created_at: instants::from_micros(row.created_at)?,
            lines: None,
            allocations: None,
        })
    }
}

/// What `GET /invoices` may be narrowed to.
#[derive(Debug, Clone, Default)]
pub struct InvoiceListFilter {
    pub party_id: Option<i64>,
    pub status: Option<String>,
    pub kind: Option<String>,
    /// `not_required`, `under_review`, `approved` or `auto_approved`: the review queue is `under_review`.
    pub review_state: Option<String>,
}

/// An owner's invoice number sequence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SequenceView {
    /// `administrator` or the reseller id.
    pub owner: String,
    pub prefix: String,
    pub next_number: i64,
}

fn corrupt(e: impl std::fmt::Display) -> EngineError {
    EngineError::Store(StoreError::Corrupt(e.to_string()))
}

/// The lines of an invoice from the xDRs attached to it.
/// The invoice with its lines (without its allocations), read in `tx`; `None` when there is none or `visible`
/// refuses its row.
pub(crate) async fn invoice_with_lines(
    tx: &mut classbill_store::Tx,
    id: i64,
    visible: impl FnOnce(&InvoiceRow) -> bool,
) -> EngineResult<Option<InvoiceView>> {
    let Some(row) = store_invoices::get(tx, id).await?.filter(visible) else {
        return Ok(None);
    };
    let mut view = InvoiceView::from_row(row)?;
    view.lines = Some(lines_of(tx, &view).await?);
    Ok(Some(view))
}

async fn lines_of(tx: &mut classbill_store::Tx, invoice: &InvoiceView) -> EngineResult<Vec<InvoiceLineView>> {
    let mut charges = Vec::new();
    let mut taxes = Vec::new();
    for row in store_close::xdrs_of_invoice(tx, invoice.id).await? {
        let kind = XdrKind::from_str(&row.kind).map_err(corrupt)?;
        match kind {
            XdrKind::Rounding | XdrKind::Payment => {}
            XdrKind::Tax => taxes.push(super::compute::booked_tax(&row)),
            _ => charges.push(ChargeXdr {
                id: row.id,
                occurred_at: instants::from_micros(row.occurred_at)?,
                kind,
                service: row.service,
                rate_code: row.rate_code,
                quantity: row.quantity,
                amount: Money(row.amount),
            }),
        }
    }
    let lines = invoice_lines(&charges, &taxes, invoice.rounding).map_err(corrupt)?;
    // A tax line groups the tax xDRs of one (name, rate); it carries a note when any of them does.
    let flagged = |line: &InvoiceLine, flag: fn(&TaxLine) -> bool| {
        line.tax.as_ref().map(|fields| {
            taxes.iter().any(|xdr| {
                xdr.tax.name == fields.tax_name && xdr.tax.rate_percent == fields.tax_rate_percent && flag(&xdr.tax)
            })
        })
    };
    Ok(lines
        .into_iter()
        .map(|line| {
            let reverse_charge = flagged(&line, |tax| tax.reverse_charge);
            let outside_scope = flagged(&line, |tax| tax.outside_scope);
            let note = match (reverse_charge, outside_scope) {
                (Some(true), _) => Some(REVERSE_CHARGE_NOTE.to_owned()),
                (_, Some(true)) => Some(OUTSIDE_SCOPE_NOTE.to_owned()),
                _ => None,
            };
            InvoiceLineView {
                kind: line.kind.as_str().to_owned(),
                service: line.service,
                rate_code: line.rate_code,
                quantity: Money(line.quantity),
                amount: line.amount,
                tax_name: line.tax.as_ref().map(|t| t.tax_name.clone()),
                tax_rate_percent: line.tax.as_ref().map(|t| t.tax_rate_percent),
                tax_base: line.tax.as_ref().map(|t| t.tax_base),
                tax_amount: line.tax.as_ref().map(|t| t.tax_amount),
                reverse_charge,
                outside_scope,
                note,
            }
        })
        .collect())
}

/// `administrator` → 0, a reseller id → itself.
fn parse_owner(text: &str) -> EngineResult<i64> {
    let not_found = || EngineError::NotFound(format!("invoice sequence {text} not found"));
    if text == "administrator" {
        return Ok(0);
    }
    text.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(not_found)
}

fn owner_text(key: i64) -> String {
    if key == 0 {
        "administrator".to_owned()
    } else {
        key.to_string()
    }
}

impl crate::Engine {
    /// `GET /invoices/{id}` with its lines; visible when its party is.
    pub async fn get_invoice(&self, actor: &Actor, id: i64) -> EngineResult<InvoiceView> {
        let mut tx = self.store.read().await?;
        let mut view = invoice_with_lines(&mut tx, id, |row| {
            actor.sees(Owner::from_reseller_id(row.owner_reseller_id))
        })
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("invoice {id} not found")))?;
        view.allocations = Some(crate::payments::allocations_of(&mut tx, id).await?);
        Ok(view)
    }

    /// `GET /invoices`: the invoices of the parties the actor sees, in id order.
    pub async fn list_invoices(
        &self,
        actor: &Actor,
        filter: InvoiceListFilter,
        page: PageRequest,
    ) -> EngineResult<Page<InvoiceView>> {
        let mut tx = self.store.read().await?;
        if let Some(id) = filter.party_id {
            crate::ledger::visible_party(&mut tx, actor, id).await?;
        }
        let store_filter = InvoiceFilter {
            party_id: filter.party_id,
            owner: match actor.role {
                Role::Administrator => None,
                Role::Reseller(own) => Some(Some(own)),
            },
            status: filter.status,
            kind: filter.kind,
            review_state: filter.review_state,
        };
        let rows = store_invoices::list(&mut tx, &store_filter, page.cursor_id()?, page.limit + 1).await?;
        let views = rows
            .into_iter()
            .map(InvoiceView::from_row)
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }

    /// `GET /invoice-sequences/{owner}` and `GET /credit-note-sequences/{owner}`: administrators see every
    /// sequence, a reseller user its own.
    pub async fn get_sequence(&self, actor: &Actor, series: Series, owner: &str) -> EngineResult<SequenceView> {
        let key = self.sequence_key(actor, owner).await?;
        let mut tx = self.store.read().await?;
        let row = store_invoices::sequence(&mut tx, series, key).await?;
        Ok(SequenceView {
            owner: owner_text(key),
            prefix: row.prefix,
            next_number: row.next_number,
        })
    }

    /// `PATCH /invoice-sequences/{owner}` and `PATCH /credit-note-sequences/{owner}`: a new prefix and/or a
    /// larger next number (numbers never go back, so no number is issued twice). The two series of an owner
    /// keep different prefixes, since invoices and credit notes share one space of numbers per owner.
    pub async fn patch_sequence(
        &self,
        actor: &Actor,
        series: Series,
        owner: &str,
        prefix: Option<String>,
        next_number: Option<i64>,
    ) -> EngineResult<SequenceView> {
        let key = self.sequence_key(actor, owner).await?;
        let mut tx = self.store.write().await?;
        let mut row: SequenceRow = store_invoices::sequence(&mut tx, series, key).await?;
        let mut errors = Vec::new();
        if let Some(prefix) = prefix {
            let other = match series {
                Series::Invoices => Series::CreditNotes,
                Series::CreditNotes => Series::Invoices,
            };
            if prefix.chars().count() > 20 || prefix.chars().any(char::is_control) {
                errors.push(classbill_domain::FieldError::new(
                    "prefix",
                    "invalid",
                    "at most 20 printable characters",
                ));
            } else if store_invoices::sequence(&mut tx, other, key).await?.prefix == prefix {
                errors.push(classbill_domain::FieldError::new(
                    "prefix",
                    "prefix_taken",
                    format!("`{prefix}` already numbers this owner's other documents"),
                ));
            }
            row.prefix = prefix;
        }
        if let Some(next) = next_number {
            if next < row.next_number {
                errors.push(classbill_domain::FieldError::new(
                    "next_number",
                    "out_of_range",
                    format!("can only grow; the next number is already {}", row.next_number),
                ));
            }
            row.next_number = next;
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        store_invoices::put_sequence(&mut tx, series, &row).await?;
        tx.commit().await?;
        Ok(SequenceView {
            owner: owner_text(key),
            prefix: row.prefix,
            next_number: row.next_number,
        })
    }

    async fn sequence_key(&self, actor: &Actor, owner: &str) -> EngineResult<i64> {
        let key = parse_owner(owner)?;
        let not_found = || EngineError::NotFound(format!("invoice sequence {owner} not found"));
        match actor.role {
            Role::Administrator if key == 0 => Ok(0),
            Role::Administrator => {
                let mut tx = self.store.read().await?;
                match classbill_store::parties::get(&mut tx, key).await? {
                    Some(party) if party.kind == "reseller" => Ok(key),
                    _ => Err(not_found()),
                }
            }
            Role::Reseller(own) if own == key => Ok(key),
            Role::Reseller(_) => Err(not_found()),
        }
    }
}
