//! What an invoice document shows, gathered from the stored invoice, its xDRs, its party, its owner and the
//! settings it was issued under, with every amount formatted for display.

use classbill_domain::Money;
use classbill_domain::class::ClassSettings;
use classbill_domain::party::PartyOverrides;
use classbill_domain::period::time_zone;
use classbill_render::{
    ChargeLine, CustomFieldValue, InvoiceDocument, PartyDetails, PeriodDates, ServiceGroup, TaxLine, Totals,
};
use classbill_store::invoices as store_invoices;
use classbill_store::parties::PartyRow;
use classbill_store::{StoreError, Tx, instants, parties, periods};
use serde_json::Value;

use crate::close::{InvoiceLineView, InvoiceView};
use crate::error::{EngineError, EngineResult};
use crate::installation::InstallationSettings;
use crate::parties::{enabled_fields, stored_values};

/// The settings an invoice was issued under (§6 rule 3).
pub(super) struct IssuedUnder {
    pub class: ClassSettings,
    pub overrides: PartyOverrides,
    /// Set when the party was tax exempt at the freeze: its reason, possibly empty.
    pub tax_exemption_reason: Option<String>,
}

impl IssuedUnder {
    pub fn of(invoice: &InvoiceView) -> EngineResult<IssuedUnder> {
        let snapshot = &invoice.settings_snapshot;
        let unreadable = |e: serde_json::Error| corrupt(format!("settings snapshot of invoice {}: {e}", invoice.id));
        Ok(IssuedUnder {
            class: serde_json::from_value(snapshot["class"].clone()).map_err(unreadable)?,
            overrides: match &snapshot["overrides"] {
                Value::Null => PartyOverrides::default(),
                overrides => serde_json::from_value(overrides.clone()).map_err(unreadable)?,
            },
            tax_exemption_reason: snapshot["tax_exemption_reason"].as_str().map(str::to_owned),
        })
    }

    /// The template the invoice's tab named: the party's override, else the class's.
    pub fn template_id(&self, kind: &str) -> Option<i64> {
        if kind == "regular" {
            self.overrides
                .regular_invoice_template_id
                .or(self.class.regular_invoices.template_id)
        } else {
            self.overrides
                .oot_invoice_template_id
                .or(self.class.out_of_turn_invoices.template_id)
        }
    }
}

/// A stored record that does not fit what the engine wrote, or rendering machinery that broke.
pub(super) fn corrupt(message: String) -> EngineError {
    EngineError::Store(StoreError::Corrupt(message))
}

/// An amount with at least the class's fraction digits and no trailing zeros beyond them: with precision 2,
/// `29.90000` shows as `29.90` and `12.34567` as `12.34567`, so the lines still add up to the total.
pub(super) fn display_amount(amount: Money, precision: usize) -> String {
    let full = amount.to_string();
    let Some((whole, fraction)) = full.split_once('.') else {
        return full;
    };
    let digits = fraction.trim_end_matches('0').len().max(precision).min(fraction.len());
    if digits == 0 {
        whole.to_owned()
    } else {
        format!("{whole}.{}", &fraction[..digits])
    }
}

struct Formatter {
    precision: usize,
}

impl Formatter {
    fn amount(&self, amount: Money) -> String {
        display_amount(amount, self.precision)
    }

    fn quantity(&self, quantity: Money) -> String {
        display_amount(quantity, 0)
    }
}

fn party_details(row: &PartyRow) -> PartyDetails {
    PartyDetails {
        name: row.name.clone(),
        account: Some(row.id.to_string()),
        country: row.country.clone(),
        email: row.email.clone(),
        phone: row.phone.clone(),
        tax_id: row.tax_id.clone(),
    }
}

/// The issuer: the reseller owning the party, or the operator under the installation's sender name. The
/// operator's details take a dozen reads of the installation settings, so a batch of invoices reads them once
/// into `operator`.
async fn seller(tx: &mut Tx, party: &PartyRow, operator: &mut Option<PartyDetails>) -> EngineResult<PartyDetails> {
    if let Some(reseller_id) = party.owner_reseller_id {
        let reseller = parties::get(tx, reseller_id)
            .await?
            .ok_or_else(|| corrupt(format!("reseller {reseller_id} of party {} is missing", party.id)))?;
        return Ok(PartyDetails {
            account: None,
            ..party_details(&reseller)
        });
    }
    if let Some(operator) = operator {
        return Ok(operator.clone());
    }
    let sender = InstallationSettings::load(tx).await?.default_sender;
    let details = PartyDetails {
        name: sender.name.unwrap_or_default(),
        email: sender.address,
        ..PartyDetails::default()
    };
    *operator = Some(details.clone());
    Ok(details)
}

/// The period's first and last local day.
async fn period_dates(tx: &mut Tx, period_id: i64, zone: &str) -> EngineResult<Option<PeriodDates>> {
    let Some(period) = periods::get(tx, period_id).await? else {
        return Ok(None);
    };
    let zone = time_zone(zone).map_err(|e| corrupt(e.to_string()))?;
    let local_date =
        |us: i64| -> EngineResult<String> { Ok(instants::from_micros(us)?.to_zoned(zone.clone()).date().to_string()) };
    Ok(Some(PeriodDates {
        start: local_date(period.start_at)?,
        end: local_date(period.end_at - 1)?,
    }))
}

/// Charge lines grouped by service, each group where its first line stood.
fn service_groups(lines: &[InvoiceLineView], format: &Formatter) -> Vec<ServiceGroup> {
    let mut groups: Vec<(String, Vec<ChargeLine>, Money)> = Vec::new();
    for line in lines.iter().filter(|l| l.tax_name.is_none() && l.kind != "rounding") {
        let position = match groups.iter().position(|(service, ..)| *service == line.service) {
            Some(position) => position,
            None => {
                groups.push((line.service.clone(), Vec::new(), Money(0)));
                groups.len() - 1
            }
        };
        let (_, group_lines, subtotal) = &mut groups[position];
        group_lines.push(ChargeLine {
            kind: line.kind.clone(),
            rate_code: line.rate_code.clone(),
            quantity: format.quantity(line.quantity),
            amount: format.amount(line.amount),
        });
        *subtotal = Money(subtotal.0 + line.amount.0);
    }
    groups
        .into_iter()
        .map(|(service, lines, subtotal)| ServiceGroup {
            service,
            lines,
            subtotal: format.amount(subtotal),
        })
        .collect()
}

fn notes(taxes: &[TaxLine], tax_exemption_reason: Option<&str>) -> Vec<String> {
    let mut notes = Vec::new();
    if taxes.iter().any(|t| t.reverse_charge) {
        notes.push("Reverse charge: the recipient of the services is liable for the VAT.".to_owned());
    }
    if taxes.iter().any(|t| t.outside_scope) {
        notes.push("The services are outside the scope of VAT of the issuer's country.".to_owned());
    }
    match tax_exemption_reason.map(str::trim) {
        Some("") => notes.push("Tax exempt.".to_owned()),
        Some(reason) => notes.push(format!("Tax exempt: {reason}")),
        None => {}
    }
    notes
}

/// The party's values of the custom fields enabled on its class and marked visible to the end user (§5.14
/// rule 4), in the class's order.
async fn visible_custom_fields(
    tx: &mut Tx,
    class: &ClassSettings,
    party: &PartyRow,
) -> EngineResult<Vec<CustomFieldValue>> {
    let values = stored_values(&party.custom_fields)?;
    Ok(enabled_fields(tx, &class.custom_fields.enabled_field_ids)
        .await?
        .into_iter()
        .filter(|definition| definition.visible_to_end_user)
        .filter_map(|definition| {
            let value = values.get(&definition.key)?.as_str()?.to_owned();
            (!value.is_empty()).then_some(CustomFieldValue {
                label: definition.label,
                value,
            })
        })
        .collect())
}

/// The document of an issued invoice (its view must carry its lines). `operator` keeps the operator's details
/// between the invoices of a batch; `None` the first time.
pub(super) async fn invoice_document(
    tx: &mut Tx,
    invoice: &InvoiceView,
    issued_under: &IssuedUnder,
    operator: &mut Option<PartyDetails>,
) -> EngineResult<InvoiceDocument> {
    let format = Formatter {
        precision: usize::try_from(issued_under.class.general_info.rounding_precision).unwrap_or(2),
    };
    let party = parties::get(tx, invoice.party_id).await?.ok_or_else(|| {
        corrupt(format!(
            "party {} of invoice {} is missing",
            invoice.party_id, invoice.id
        ))
    })?;
    let lines = invoice.lines.as_deref().unwrap_or_default();
    let taxes: Vec<TaxLine> = lines
        .iter()
        .filter_map(|line| {
            let name = line.tax_name.clone()?;
            let rate = line.tax_rate_percent.unwrap_or_default();
            Some(TaxLine {
                name,
                rate_percent: rate.to_string(),
                base: format.amount(line.tax_base.unwrap_or_default()),
                amount: format.amount(line.tax_amount.unwrap_or_default()),
                reverse_charge: line.reverse_charge.unwrap_or(false),
                outside_scope: line.outside_scope.unwrap_or(false),
            })
        })
        .collect();
    // Inclusive taxes are the ones whose amount is already inside the lines (§5.6 rule 1).
    let prices_include_tax = lines
        .iter()
        .any(|l| l.tax_name.is_some() && l.amount.0 == 0 && l.tax_amount.is_some_and(|t| t.0 != 0));
    let period = match invoice.period_id {
        Some(id) => period_dates(tx, id, &party.time_zone).await?,
        None => None,
    };
    // Only a credit note names the invoice it credits.
    let link = if invoice.kind == "credit_note" {
        store_invoices::credit_note_link(tx, invoice.id).await?
    } else {
        None
    };
    let credited_invoice = match link {
        Some(link) => store_invoices::get(tx, link.credited_invoice_id)
            .await?
            .map(|credited| credited.number),
        None => None,
    };
    Ok(InvoiceDocument {
        number: invoice.number.clone(),
        kind: invoice.kind.clone(),
        issue_date: invoice.issue_date.clone(),
        due_date: invoice.due_date.clone(),
        credited_invoice,
        period,
        currency: party.currency.clone(),
        seller: seller(tx, &party, operator).await?,
        customer: party_details(&party),
        groups: service_groups(lines, &format),
        notes: notes(&taxes, issued_under.tax_exemption_reason.as_deref()),
        taxes,
        totals: Totals {
            net_total: format.amount(invoice.net_total),
            tax_total: format.amount(invoice.tax_total),
            rounding: format.amount(invoice.rounding),
            total: format.amount(invoice.total),
            previous_balance: format.amount(invoice.previous_balance),
            payments: format.amount(invoice.payments),
            out_of_turn: format.amount(invoice.out_of_turn),
            amount_due: format.amount(invoice.amount_due),
            credit_carried: format.amount(invoice.credit_carried),
            open_amount: format.amount(invoice.open_amount),
        },
        prices_include_tax,
        card_only: invoice.card_only,
        custom_fields: visible_custom_fields(tx, &issued_under.class, &party).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_show_the_class_precision_and_every_significant_digit() {
        let shown = |units: i64, precision: usize| display_amount(Money(units), precision);
        assert_eq!(shown(2_990_000, 2), "29.90");
        assert_eq!(shown(1_234_567, 2), "12.34567");
        assert_eq!(shown(-200_000, 2), "-2.00");
        assert_eq!(shown(574, 2), "0.00574");
        assert_eq!(shown(0, 2), "0.00");
        assert_eq!(shown(41_200_000, 0), "412");
        assert_eq!(shown(150_000, 0), "1.5");
        assert_eq!(shown(7_896_000, 5), "78.96000");
    }

    #[test]
    fn reverse_charge_and_exemption_are_noted() {
        let tax = |reverse_charge: bool| TaxLine {
            name: "VAT".to_owned(),
            rate_percent: "0".to_owned(),
            base: "10.00".to_owned(),
            amount: "0.00".to_owned(),
            reverse_charge,
            outside_scope: false,
        };
        assert!(notes(&[tax(false)], None).is_empty());
        assert_eq!(notes(&[tax(true)], None).len(), 1);
        assert!(notes(&[tax(true)], None)[0].starts_with("Reverse charge"));
        assert_eq!(notes(&[], Some(" ")), ["Tax exempt."]);
        assert_eq!(notes(&[], Some("§ 4 Nr. 11 UStG")), ["Tax exempt: § 4 Nr. 11 UStG"]);
    }
}
