//! The lines of a credit note: the credited charges booked again with the opposite sign, and their taxes.
//! A credit for the whole invoice mirrors the original's tax and rounding records exactly, so its total is the
//! original's with the opposite sign to the last unit. A credit for chosen lines is taxed by the close's own
//! computation under the settings the invoice was issued with, and refused when that would tax at another rate
//! than the invoice did.

use std::collections::{HashMap, HashSet};

use classbill_domain::class::{TaxMethod, settings_from_json};
use classbill_domain::invoice_math::InvoiceTotals;
use classbill_domain::party::PartyOverrides;
use classbill_domain::{FieldError, Money};
use classbill_store::close::{self as store_close, EngineXdr};
use classbill_store::invoices::InvoiceRow;
use classbill_store::parties::PartyRow;
use classbill_store::xdrs::{self, XdrRow};
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde_json::Value;

use super::corrupt;
use crate::close::compute::{charges_of, price_out_of_turn};
use crate::error::{EngineError, EngineResult};
use crate::ledger::ParsedXdr;

/// Kinds that are not charges of an invoice: its own taxes and rounding, and payments.
const NOT_CHARGES: &[&str] = &["tax", "rounding", "payment"];

pub(super) struct Booked {
    pub xdr_ids: Vec<i64>,
    pub totals: InvoiceTotals,
}

/// The key of the record that credits xDR `id`: (party, key) is unique, so no line is credited twice.
fn credit_key(id: i64) -> String {
    format!("credit-note:xdr:{id}")
}

/// The charges to credit: the named ones, each checked, or every one not credited yet.
fn choose<'a>(
    charges: &[&'a XdrRow],
    credited: &HashSet<String>,
    named: Option<&[i64]>,
    original: &InvoiceRow,
) -> EngineResult<Vec<&'a XdrRow>> {
    let Some(ids) = named else {
        return Ok(charges
            .iter()
            .filter(|row| !credited.contains(&credit_key(row.id)))
            .copied()
            .collect());
    };
    let by_id: HashMap<i64, &XdrRow> = charges.iter().map(|row| (row.id, *row)).collect();
    let mut chosen = Vec::with_capacity(ids.len());
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match by_id.get(id) {
            None => errors.push(FieldError::new(
                format!("xdr_ids[{i}]"),
                "not_on_invoice",
                format!("xDR {id} is not a charge of invoice {}", original.number),
            )),
            Some(_) if credited.contains(&credit_key(*id)) => errors.push(FieldError::new(
                format!("xdr_ids[{i}]"),
                "already_credited",
                format!("xDR {id} of invoice {} is already credited", original.number),
            )),
            Some(row) => chosen.push(*row),
        }
    }
    if errors.is_empty() {
        Ok(chosen)
    } else {
        Err(EngineError::Invalid(errors))
    }
}

/// Books the lines of credit note `number` for `original` in the party's period open at `as_of`; answers the
/// ids of every record booked and the credit note's totals (negative).
pub(super) async fn book(
    tx: &mut Tx,
    party: &PartyRow,
    original: &InvoiceRow,
    named: Option<&[i64]>,
    number: &str,
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<Booked> {
    let rows = store_close::xdrs_of_invoice(tx, original.id).await?;
    let charges: Vec<&XdrRow> = rows
        .iter()
        .filter(|row| !NOT_CHARGES.contains(&row.kind.as_str()))
        .collect();
    let keys: Vec<(i64, String)> = rows.iter().map(|row| (party.id, credit_key(row.id))).collect();
    let credited: HashSet<String> = xdrs::find_by_keys(tx, &keys)
        .await?
        .into_iter()
        .filter_map(|row| row.external_id)
        .collect();
    let chosen = choose(&charges, &credited, named, original)?;
    if chosen.is_empty() {
        return Err(EngineError::conflict(
            "fully_credited",
            format!("every line of invoice {} is already credited", original.number),
        ));
    }
    let whole = credited.is_empty() && chosen.len() == charges.len();

    let mirrors: Vec<ParsedXdr> = chosen
        .iter()
        .map(|row| ParsedXdr {
            party_id: party.id,
            external_id: Some(credit_key(row.id)),
            occurred_at: as_of,
            kind: row.kind.clone(),
            service: row.service.clone(),
            rate_code: row.rate_code.clone(),
            description: Some(format!(
                "{number} for {}: {}",
                original.number,
                row.description.as_deref().unwrap_or(&row.service)
            )),
            quantity: Money(-row.quantity),
            amount: Money(-row.amount),
            currency: Some(party.currency.clone()),
        })
        .collect();
    let refs: Vec<&ParsedXdr> = mirrors.iter().collect();
    let mut xdr_ids = crate::ledger::place_and_write_for(tx, party, &refs, as_of, now).await?;
    let billing = party.billing();

    let open = crate::ledger::current_open(tx, &billing, as_of, now).await?;
    let template = EngineXdr::template(
        party.id,
        open.id,
        instants::to_micros(as_of),
        format!("credit-note:{number}"),
    );
    let (engine_xdrs, totals) = if whole {
        mirror_taxes(&rows, original, &template)?
    } else {
        let new_rows = xdrs::get_many(tx, &xdr_ids).await?;
        price_chosen(tx, party, original, &rows, &new_rows, &template).await?
    };
    xdr_ids.extend(store_close::insert_engine_xdrs(tx, &engine_xdrs, instants::to_micros(now)).await?);
    Ok(Booked { xdr_ids, totals })
}

/// The original's tax and rounding records with the opposite sign, and the totals of the whole credit.
fn mirror_taxes(
    rows: &[XdrRow],
    original: &InvoiceRow,
    template: &EngineXdr,
) -> EngineResult<(Vec<EngineXdr>, InvoiceTotals)> {
    let mirrored: Vec<EngineXdr> = rows
        .iter()
        .filter(|row| row.kind == "tax" || row.kind == "rounding")
        .map(|row| EngineXdr {
            kind: row.kind.clone(),
            service: row.service.clone(),
            amount: -row.amount,
            external_id: credit_key(row.id),
            hidden: row.hidden,
            tax_name: row.tax_name.clone(),
            tax_rate_percent: row.tax_rate_percent,
            tax_base: row.tax_base.map(|base| -base),
            tax_amount: row.tax_amount.map(|amount| -amount),
            reverse_charge: row.reverse_charge,
            outside_scope: row.outside_scope,
            ..template.clone()
        })
        .collect();
    let sum_of = |wanted: fn(&str) -> bool| -> i64 {
        rows.iter()
            .filter(|row| row.kind != "payment" && wanted(&row.kind))
            .map(|row| -row.amount)
            .sum()
    };
    let net_total = sum_of(|kind| kind != "tax" && kind != "rounding");
    let tax_total = sum_of(|kind| kind == "tax");
    let rounding = sum_of(|kind| kind == "rounding");
    let total = net_total + tax_total + rounding;
    if total != -original.total {
        return Err(corrupt(format!(
            "the records of invoice {} do not add up to its total",
            original.number
        )));
    }
    let totals = InvoiceTotals {
        unrounded: Money(total - rounding),
        tax_total: Money(tax_total),
        net_total: Money(net_total),
        total: Money(total),
        rounding: Money(rounding),
    };
    Ok((mirrored, totals))
}

/// Taxes and rounding of a partial credit under the invoice's own settings, at the invoice's own rates.
async fn price_chosen(
    tx: &mut Tx,
    party: &PartyRow,
    original: &InvoiceRow,
    original_rows: &[XdrRow],
    credit_rows: &[XdrRow],
    template: &EngineXdr,
) -> EngineResult<(Vec<EngineXdr>, InvoiceTotals)> {
    let snapshot: Value = serde_json::from_str(&original.settings_snapshot)?;
    let class = settings_from_json(snapshot["class"].clone())
        .map_err(|_| corrupt(format!("the settings of invoice {} do not parse", original.number)))?;
    let overrides: PartyOverrides = serde_json::from_value(snapshot["overrides"].clone())?;
    let taxation = overrides.taxation.unwrap_or_else(|| class.taxation.clone());
    if taxation.method == TaxMethod::External {
        return Err(EngineError::conflict(
            "external_taxation",
            "the taxes of this invoice come from an external engine; credit the whole invoice instead",
        ));
    }
    let tables = crate::oot::TaxTables::load(tx, &taxation).await?;
    let taxing = tables.taxing(party, &class, &taxation);
    let price = charges_of(credit_rows)
        .and_then(|charges| price_out_of_turn(&taxing, &charges, template))
        .map_err(|error| EngineError::conflict("not_priced", error))?;
    let charged_at = |tax: &EngineXdr| {
        original_rows.iter().any(|row| {
            row.kind == "tax" && row.tax_name == tax.tax_name && row.tax_rate_percent == tax.tax_rate_percent
        })
    };
    if let Some(tax) = price.xdrs.iter().find(|x| x.kind == "tax" && !charged_at(x)) {
        return Err(EngineError::conflict(
            "rates_changed",
            format!(
                "invoice {} was not taxed with {} at this rate; credit the whole invoice instead",
                original.number,
                tax.tax_name.as_deref().unwrap_or("this tax")
            ),
        ));
    }
    Ok((price.xdrs, price.totals))
}
