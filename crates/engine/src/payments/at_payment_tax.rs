//! Taxes at payment (§5.5, last paragraph): a prepaid customer whose taxation has `tax_timing` = `at_payment`
//! is taxed on each payment, at the payment instant, instead of at the close (which then skips S3).

use classbill_domain::class::{TaxMethod, TaxTiming, Taxation};
use classbill_domain::party::PartyOverrides;
use classbill_domain::tax::{PartyTaxAttributes, TaxRate, VatDecision, XdrKind, choose_vat_rate, taxes_at_payment};
use classbill_domain::{FieldError, Money, invoice_math::TAX_SERVICE};
use classbill_store::close::{self as store_close, EngineXdr};
use classbill_store::parties::PartyRow;
use classbill_store::{StoreError, Tx, catalog, classes, xdrs};

use crate::catalog::{CustomTaxDocument, kinds};
use crate::error::{EngineError, EngineResult};

/// The taxation in force now: the party's override of the whole tab, else its class's.
async fn taxation_of(tx: &mut Tx, party: &PartyRow) -> EngineResult<Taxation> {
    if let Some(taxation) = PartyOverrides::from_json(&party.overrides)?.taxation {
        return Ok(taxation);
    }
    let class = classes::get(tx, party.class_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("class {} is missing", party.class_id)))?;
    Ok(crate::classes::settings_of(&class)?.taxation)
}

fn unusable(message: String) -> EngineError {
    EngineError::Invalid(vec![FieldError::new("party_id", "tax_configuration", message)])
}

/// The rates applied at payment, with the reverse-charge and outside-scope flags of a generic VAT choice.
async fn rates_of(tx: &mut Tx, party: &PartyRow, taxation: &Taxation) -> EngineResult<(Vec<TaxRate>, bool, bool)> {
    match taxation.method {
        TaxMethod::FixedVat => {
            let vat = taxation
                .fixed_vat
                .ok_or_else(|| unusable("the taxation selects fixed_vat without its settings".to_owned()))?;
            Ok((vec![TaxRate::vat(vat.rate_percent)], false, false))
        }
        TaxMethod::Custom => {
            let mut rates = Vec::new();
            for id in &taxation.custom_tax_ids {
                let row = catalog::get(tx, kinds::CUSTOM_TAX, *id)
                    .await?
                    .ok_or_else(|| unusable(format!("custom tax {id} of the taxation is missing")))?;
                let tax: CustomTaxDocument = serde_json::from_str(&row.document)?;
                rates.push(TaxRate {
                    name: tax.name,
                    rate_percent: tax.rate_percent,
                });
            }
            Ok((rates, false, false))
        }
        TaxMethod::GenericVat => {
            let vat = taxation
                .generic_vat
                .as_ref()
                .ok_or_else(|| unusable("the taxation selects generic_vat without its settings".to_owned()))?;
            let table = crate::catalog::vat_rate_table(tx).await?;
            let attributes = PartyTaxAttributes {
                country: party.country.clone(),
                tax_id: party.tax_id.clone(),
                tax_registered: party.tax_registered,
                tax_exempt: party.tax_exempt,
            };
            let decision =
                choose_vat_rate(&vat.home_country, &attributes, &table).map_err(|e| unusable(e.to_string()))?;
            let flags = (
                matches!(decision, VatDecision::ReverseCharge { .. }),
                matches!(decision, VatDecision::OutsideScope { .. }),
            );
            Ok((
                decision.rate_percent().map(TaxRate::vat).into_iter().collect(),
                flags.0,
                flags.1,
            ))
        }
        TaxMethod::None | TaxMethod::External => Ok((Vec::new(), false, false)),
    }
}

/// Books the taxes of a payment of `paid` by `party`, booked as xDR `payment_xdr_id`, when the party is taxed at
/// payment: one tax xDR per rate at the payment's instant and in the payment's period, reducing the funds. A
/// refund is a negative `paid`, and its taxes are negative. Their keys `payment:<xdr id>:tax:<n>` tie them to
/// the payment. Answers the tax booked.
pub(super) async fn book(
    tx: &mut Tx,
    party: &PartyRow,
    payment_xdr_id: i64,
    paid: Money,
    created_us: i64,
) -> EngineResult<Money> {
    // Postpaid customers and all resellers are always taxed at the close (§2.6).
    if party.kind != "customer" || !party.prepaid || party.tax_exempt {
        return Ok(Money::ZERO);
    }
    let taxation = taxation_of(tx, party).await?;
    if taxation.tax_timing != TaxTiming::AtPayment {
        return Ok(Money::ZERO);
    }
    let (rates, reverse_charge, outside_scope) = rates_of(tx, party, &taxation).await?;
    if rates.is_empty() {
        return Ok(Money::ZERO);
    }
    let lines = taxes_at_payment(paid, &rates).map_err(|e| unusable(format!("amounts out of range: {e}")))?;
    let booked = classbill_domain::rounding::sum_money(lines.iter().map(|line| line.amount))
        .map_err(|e| unusable(format!("amounts out of range: {e}")))?;
    let payment = xdrs::get_many(tx, &[payment_xdr_id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt(format!("payment xDR {payment_xdr_id} is missing")))?;
    let rows: Vec<EngineXdr> = lines
        .into_iter()
        .enumerate()
        .map(|(n, line)| EngineXdr {
            party_id: party.id,
            period_id: payment.period_id,
            occurred_at: payment.occurred_at,
            kind: XdrKind::Tax.as_str().to_owned(),
            service: TAX_SERVICE.to_owned(),
            amount: line.amount.0,
            external_id: format!("payment:{payment_xdr_id}:tax:{}", n + 1),
            hidden: false,
            tax_name: Some(line.name),
            tax_rate_percent: Some(line.rate_percent.units()),
            tax_base: Some(line.base.0),
            tax_amount: Some(line.tax_amount.0),
            reverse_charge: Some(reverse_charge),
            outside_scope: Some(outside_scope),
        })
        .collect();
    store_close::insert_engine_xdrs(tx, &rows, created_us).await?;
    Ok(booked)
}
