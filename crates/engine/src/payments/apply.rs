//! Applying credit to invoices (customer-classes §5.7 rules 1–5) and the status an invoice has afterwards.

use classbill_domain::Money;
use classbill_store::allocations::{self, NewAllocation};
use classbill_store::invoices::{self as store_invoices, InvoiceRow};
use classbill_store::{Tx, instants};
use serde_json::Value;

use crate::error::{EngineError, EngineResult};

/// Where allocated credit comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    Xdr(i64),
    Invoice(i64),
}

/// The collection threshold frozen in the invoice's settings snapshot, for the tab the invoice belongs to.
fn threshold_of(invoice: &InvoiceRow) -> Option<i64> {
    let snapshot: Value = serde_json::from_str(&invoice.settings_snapshot).ok()?;
    let tab = if invoice.kind == "regular" {
        "regular_invoices"
    } else {
        "out_of_turn_invoices"
    };
    let value = snapshot["class"][tab]["collection_threshold"].clone();
    serde_json::from_value::<Option<Money>>(value)
        .ok()
        .flatten()
        .map(|m| m.0)
}

/// The §5.7 status of an invoice with this open amount.
pub(crate) fn status_for(invoice: &InvoiceRow, open: i64) -> String {
    status_under(invoice, open, || threshold_of(invoice))
}

/// [`status_for`] with the collection threshold given by a caller that holds the parsed settings; `threshold` is
/// only asked when the status depends on it.
fn status_under(invoice: &InvoiceRow, open: i64, threshold: impl FnOnce() -> Option<i64>) -> String {
    let status = if invoice.status == "void" {
        "void"
    } else if invoice.total <= 0 {
        "nothing_due"
    } else if open <= 0 {
        "paid"
    } else if threshold().is_some_and(|t| open <= t) {
        "do_not_collect"
    } else if invoice.status == "overdue" {
        "overdue"
    } else if open < invoice.total {
        "partially_paid"
    } else {
        "unpaid"
    };
    status.to_owned()
}

async fn invoice(tx: &mut Tx, id: i64) -> EngineResult<InvoiceRow> {
    store_invoices::get(tx, id)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("invoice {id} not found")))
}

/// Allocates up to `amount` of `source` to one invoice and recomputes its status; answers the amount taken.
async fn allocate_to(
    tx: &mut Tx,
    source: Source,
    invoice_id: i64,
    amount: i64,
    at_us: i64,
    now_us: i64,
) -> EngineResult<i64> {
    allocations::lock_invoice(tx, invoice_id).await?;
    let row = invoice(tx, invoice_id).await?;
    if row.status == "void" || row.open_amount <= 0 || amount <= 0 {
        return Ok(0);
    }
    let take = amount.min(row.open_amount);
    let (source_xdr_id, source_invoice_id) = match source {
        Source::Xdr(id) => (Some(id), None),
        Source::Invoice(id) => (None, Some(id)),
    };
    allocations::insert(
        tx,
        &NewAllocation {
            party_id: row.party_id,
            source_xdr_id,
            source_invoice_id,
            invoice_id,
            amount: take,
            at: at_us,
        },
        now_us,
    )
    .await?;
    let open = row.open_amount - take;
    let status = status_for(&row, open);
    allocations::set_open(tx, invoice_id, open, &status).await?;
    // §5.7 rule 5: release is evaluated after every allocation, at the instant the credit counts from.
    crate::collections::after_allocation(tx, &row, &status, at_us, instants::from_micros(now_us)?).await?;
    Ok(take)
}

/// Spreads `amount` of credit from `source` over the party's invoices: the named one first (rule 1), then the
/// open ones oldest first, `card_only` ones skipped (rule 2). Answers the allocations made; the rest stays
/// unallocated credit (rule 3).
pub(crate) async fn spread(
    tx: &mut Tx,
    party_id: i64,
    source: Source,
    amount: i64,
    named: Option<i64>,
    at_us: i64,
    now_us: i64,
) -> EngineResult<Vec<(i64, i64)>> {
    let mut left = amount;
    let mut made = Vec::new();
    if let Some(id) = named {
        let taken = allocate_to(tx, source, id, left, at_us, now_us).await?;
        if taken > 0 {
            made.push((id, taken));
            left -= taken;
        }
    }
    let skip = match source {
        Source::Invoice(id) => Some(id),
        Source::Xdr(_) => None,
    };
    for open in allocations::open_invoices(tx, party_id).await? {
        if left <= 0 {
            break;
        }
        if open.card_only || Some(open.id) == named || Some(open.id) == skip {
            continue;
        }
        let taken = allocate_to(tx, source, open.id, left, at_us, now_us).await?;
        if taken > 0 {
            made.push((open.id, taken));
            left -= taken;
        }
    }
    Ok(made)
}

/// The open amount and status of a newly issued invoice before any credit is applied: its total (never below
/// zero), and the status that open amount gives.
pub(crate) fn opening(invoice: &InvoiceRow) -> (i64, String) {
    let open = invoice.total.max(0);
    (open, status_for(invoice, open))
}

/// [`opening`] of an invoice whose class's collection threshold (for its tab) the caller has parsed already.
pub(crate) fn opening_under(invoice: &InvoiceRow, threshold: Option<i64>) -> (i64, String) {
    let open = invoice.total.max(0);
    (open, status_under(invoice, open, || threshold))
}

/// Whether [`apply_credit`] has more to do for a newly issued invoice than set its [`opening`] amount: a negative
/// total is spread as credit, and a positive one that is not `card_only` takes the credit of a party that has
/// some.
pub(crate) fn credit_applies(invoice: &InvoiceRow, party_has_credit: bool) -> bool {
    invoice.total < 0 || (invoice.total > 0 && !invoice.card_only && party_has_credit)
}

/// Issue-time credit application (§5.7 rules 3 and 4) for a newly stored invoice: its open amount starts at
/// its total; with a positive total and not `card_only`, the party's unallocated credit is consumed into it in
/// FIFO order; a negative total becomes credit applied at once to the party's older open invoices. The
/// invoice's `open_amount` and `status` are set accordingly. Allocations are dated `at_us`.
pub(crate) async fn apply_credit(tx: &mut Tx, invoice_id: i64, at_us: i64, now_us: i64) -> EngineResult<()> {
    let row = invoice(tx, invoice_id).await?;
    let (open, status) = opening(&row);
    allocations::set_open(tx, invoice_id, open, &status).await?;
    if row.total < 0 {
        spread(
            tx,
            row.party_id,
            Source::Invoice(invoice_id),
            -row.total,
            None,
            at_us,
            now_us,
        )
        .await?;
        return Ok(());
    }
    if row.total == 0 || row.card_only {
        return Ok(());
    }
    for credit in allocations::open_credits(tx, row.party_id).await? {
        let source = match (credit.source_xdr_id, credit.source_invoice_id) {
            (Some(id), _) => Source::Xdr(id),
            (None, Some(id)) => Source::Invoice(id),
            (None, None) => continue,
        };
        if let Source::Invoice(id) = source
            && id == invoice_id
        {
            continue;
        }
        let taken = allocate_to(tx, source, invoice_id, credit.remaining, at_us, now_us).await?;
        if taken < credit.remaining {
            break;
        }
    }
    Ok(())
}
