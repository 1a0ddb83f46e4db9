//! Tax amounts on top of a base, inside a gross amount, and at payment.

use crate::money::Money;
use crate::percent::Percent;
use crate::rounding::{ArithmeticError, checked_sub, round_half_away_at_5, sum_money};

use super::{CustomTax, TaxBases, TaxLine, VAT_NAME};

/// 100 percent in [`Percent`] units: the denominator of a rate.
const HUNDRED_PERCENT: i128 = 100 * Percent::UNITS_PER_PERCENT as i128;

/// A named rate, as applied at payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRate {
    pub name: String,
    pub rate_percent: Percent,
}

impl TaxRate {
    /// The single rate of `fixed_vat` or `generic_vat`.
    pub fn vat(rate_percent: Percent) -> TaxRate {
        TaxRate {
            name: VAT_NAME.to_owned(),
            rate_percent,
        }
    }
}

/// `base × rate / 100`, exact, then half away from zero at five decimals.
fn tax_on_top(base: Money, rate: Percent) -> Result<Money, ArithmeticError> {
    let numerator = i128::from(base.0)
        .checked_mul(i128::from(rate.units()))
        .ok_or(ArithmeticError::Overflow)?;
    round_half_away_at_5(numerator, HUNDRED_PERCENT)
}

/// `amount × rate / (100 + total_rate)`, exact, then half away from zero at five decimals.
fn tax_inside(amount: Money, rate: Percent, total_rate: i128) -> Result<Money, ArithmeticError> {
    let numerator = i128::from(amount.0)
        .checked_mul(i128::from(rate.units()))
        .ok_or(ArithmeticError::Overflow)?;
    let denominator = HUNDRED_PERCENT
        .checked_add(total_rate)
        .ok_or(ArithmeticError::Overflow)?;
    round_half_away_at_5(numerator, denominator)
}

/// `fixed_vat` exclusive: tax = B_all × r / 100, added on top (`amount` = tax, `base` = B_all).
pub fn fixed_vat_exclusive(base_all: Money, rate: Percent) -> Result<TaxLine, ArithmeticError> {
    let tax = tax_on_top(base_all, rate)?;
    Ok(TaxLine {
        name: VAT_NAME.to_owned(),
        rate_percent: rate,
        base: base_all,
        tax_amount: tax,
        amount: tax,
        reverse_charge: false,
        outside_scope: false,
    })
}

/// `fixed_vat` inclusive: the gross G already holds the tax; tax = G × r / (100 + r), `base` = G − tax and
/// `amount` = 0.
pub fn fixed_vat_inclusive(gross: Money, rate: Percent) -> Result<TaxLine, ArithmeticError> {
    let tax = tax_inside(gross, rate, i128::from(rate.units()))?;
    Ok(TaxLine {
        name: VAT_NAME.to_owned(),
        rate_percent: rate,
        base: checked_sub(gross, tax)?,
        tax_amount: tax,
        amount: Money::ZERO,
        reverse_charge: false,
        outside_scope: false,
    })
}

/// `fixed_vat` over the `all` base, on top or inclusive.
pub fn fixed_vat(bases: &TaxBases, rate: Percent, inclusive: bool) -> Result<TaxLine, ArithmeticError> {
    if inclusive {
        fixed_vat_inclusive(bases.all, rate)
    } else {
        fixed_vat_exclusive(bases.all, rate)
    }
}

/// `custom`: one line per selected tax, in the given order, each on its own scope's base and never on another
/// tax.
pub fn custom_taxes(bases: &TaxBases, taxes: &[CustomTax]) -> Result<Vec<TaxLine>, ArithmeticError> {
    taxes
        .iter()
        .map(|tax| {
            let base = bases.for_scope(tax.scope);
            let amount = tax_on_top(base, tax.rate_percent)?;
            Ok(TaxLine {
                name: tax.name.clone(),
                rate_percent: tax.rate_percent,
                base,
                tax_amount: amount,
                amount,
                reverse_charge: false,
                outside_scope: false,
            })
        })
        .collect()
}

/// Taxes at payment (prepaid, `tax_timing` = `at_payment`): for a payment of P and rates r_i with sum R, each
/// tax_i = P × r_i / (100 + R); every line carries `base` = P − Σ tax_i and `amount` = tax_i. P is the amount
/// paid, positive; the tax xDRs then reduce the funds the payment created. No rates, no lines.
pub fn taxes_at_payment(payment: Money, rates: &[TaxRate]) -> Result<Vec<TaxLine>, ArithmeticError> {
    let mut total_rate: i128 = 0;
    for rate in rates {
        total_rate = total_rate
            .checked_add(i128::from(rate.rate_percent.units()))
            .ok_or(ArithmeticError::Overflow)?;
    }
    let amounts = rates
        .iter()
        .map(|rate| tax_inside(payment, rate.rate_percent, total_rate))
        .collect::<Result<Vec<Money>, ArithmeticError>>()?;
    let base = checked_sub(payment, sum_money(amounts.iter().copied())?)?;
    Ok(rates
        .iter()
        .zip(amounts)
        .map(|(rate, amount)| TaxLine {
            name: rate.name.clone(),
            rate_percent: rate.rate_percent,
            base,
            tax_amount: amount,
            amount,
            reverse_charge: false,
            outside_scope: false,
        })
        .collect())
}
