//! Invoice amounts (§5.6): the grouped lines, the totals with their single rounding, and the balance-aware
//! fields of regular invoices.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::class::RoundingMethod;
use crate::money::{MONEY_SCALE, Money};
use crate::percent::Percent;
use crate::rounding::{ArithmeticError, checked_add, checked_sub, money_from_units, round, sum_money};
use crate::tax::{TaxLine, XdrKind};

/// The `service` of engine-made tax lines.
pub const TAX_SERVICE: &str = "tax";
/// The `service` of the rounding line.
pub const ROUNDING_SERVICE: &str = "rounding";

/// An xDR on the invoice other than a tax or the rounding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeXdr {
    pub id: i64,
    pub occurred_at: Timestamp,
    pub kind: XdrKind,
    pub service: String,
    pub rate_code: Option<String>,
    /// In 10⁻⁵ units, like [`Money`].
    pub quantity: i64,
    pub amount: Money,
}

/// A tax xDR on the invoice: its id (for ordering) and its tax fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxXdr {
    pub id: i64,
    pub tax: TaxLine,
}

/// The tax fields of a tax line on an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceTaxFields {
    pub tax_name: String,
    pub tax_rate_percent: Percent,
    pub tax_base: Money,
    pub tax_amount: Money,
}

/// One printed invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub kind: XdrKind,
    pub service: String,
    pub rate_code: Option<String>,
    /// In 10⁻⁵ units; a tax line counts its xDRs, each of quantity 1.
    pub quantity: i64,
    pub amount: Money,
    /// Present on tax lines only.
    pub tax: Option<InvoiceTaxFields>,
}

/// The totals of an invoice (§5.6 rule 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceTotals {
    /// U: the sum of the invoice's xDR amounts without the rounding.
    pub unrounded: Money,
    pub tax_total: Money,
    pub net_total: Money,
    pub total: Money,
    /// `total` − U, the amount of the rounding xDR.
    pub rounding: Money,
}

/// An invoice's lines with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceAmounts {
    pub lines: Vec<InvoiceLine>,
    pub totals: InvoiceTotals,
}

/// The balance-aware fields of a regular invoice (§5.6 rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceSummary {
    pub previous_balance: Money,
    pub payments: Money,
    pub out_of_turn: Money,
    /// B = previous_balance + payments + out_of_turn + total: the balance at period end.
    pub period_end_balance: Money,
    pub amount_due: Money,
    pub credit_carried: Money,
}

/// Why invoice amounts could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceMathError {
    #[error(transparent)]
    Arithmetic(#[from] ArithmeticError),
    #[error("xDR {id} of kind {} cannot be a charge line", kind.as_str())]
    NotACharge { id: i64, kind: XdrKind },
}

fn check_charges(charges: &[ChargeXdr]) -> Result<(), InvoiceMathError> {
    match charges
        .iter()
        .find(|xdr| matches!(xdr.kind, XdrKind::Tax | XdrKind::Rounding | XdrKind::Payment))
    {
        Some(xdr) => Err(InvoiceMathError::NotACharge {
            id: xdr.id,
            kind: xdr.kind,
        }),
        None => Ok(()),
    }
}

/// U, `tax_total`, `net_total`, the rounded `total` and the `rounding`, with the class precision and method.
pub fn invoice_totals(
    charges: &[ChargeXdr],
    taxes: &[TaxXdr],
    precision: u8,
    method: RoundingMethod,
) -> Result<InvoiceTotals, InvoiceMathError> {
    check_charges(charges)?;
    let unrounded = sum_money(
        charges
            .iter()
            .map(|xdr| xdr.amount)
            .chain(taxes.iter().map(|xdr| xdr.tax.amount)),
    )?;
    let tax_total = sum_money(taxes.iter().map(|xdr| xdr.tax.tax_amount))?;
    let total = round(unrounded, precision, method)?;
    Ok(InvoiceTotals {
        unrounded,
        tax_total,
        net_total: checked_sub(unrounded, tax_total)?,
        total,
        rounding: checked_sub(total, unrounded)?,
    })
}

/// The invoice lines in print order (§5.6 rule 1): one line per `(kind, service, rate_code)` of the charges,
/// ordered by the earliest `occurred_at` of the group and then by its smallest xDR id; one line per
/// `(tax_name, tax_rate_percent)` ordered by the group's smallest xDR id; then the rounding line unless the
/// rounding is zero.
pub fn invoice_lines(
    charges: &[ChargeXdr],
    taxes: &[TaxXdr],
    rounding: Money,
) -> Result<Vec<InvoiceLine>, InvoiceMathError> {
    check_charges(charges)?;
    let mut lines = charge_lines(charges)?;
    lines.extend(tax_lines(taxes)?);
    if rounding != Money::ZERO {
        lines.push(InvoiceLine {
            kind: XdrKind::Rounding,
            service: ROUNDING_SERVICE.to_owned(),
            rate_code: None,
            quantity: MONEY_SCALE,
            amount: rounding,
            tax: None,
        });
    }
    Ok(lines)
}

/// Totals and lines together; the line amounts add up to `total`.
pub fn invoice_amounts(
    charges: &[ChargeXdr],
    taxes: &[TaxXdr],
    precision: u8,
    method: RoundingMethod,
) -> Result<InvoiceAmounts, InvoiceMathError> {
    let totals = invoice_totals(charges, taxes, precision, method)?;
    let lines = invoice_lines(charges, taxes, totals.rounding)?;
    Ok(InvoiceAmounts { lines, totals })
}

/// The balance-aware fields: B = previous_balance + payments + out_of_turn + total, `amount_due` = max(0, B),
/// `credit_carried` = max(0, −B).
pub fn balance_summary(
    previous_balance: Money,
    payments: Money,
    out_of_turn: Money,
    total: Money,
) -> Result<BalanceSummary, ArithmeticError> {
    let balance = sum_money([previous_balance, payments, out_of_turn, total])?;
    let credit = money_from_units(-i128::from(balance.0))?;
    Ok(BalanceSummary {
        previous_balance,
        payments,
        out_of_turn,
        period_end_balance: balance,
        amount_due: balance.max(Money::ZERO),
        credit_carried: credit.max(Money::ZERO),
    })
}

/// Sums of one group of xDRs with the keys that order it.
struct Group {
    earliest: Timestamp,
    smallest_id: i64,
    line: InvoiceLine,
}

fn charge_lines(charges: &[ChargeXdr]) -> Result<Vec<InvoiceLine>, ArithmeticError> {
    let mut groups: HashMap<(XdrKind, &str, Option<&str>), Group> = HashMap::new();
    for xdr in charges {
        let key = (xdr.kind, xdr.service.as_str(), xdr.rate_code.as_deref());
        match groups.get_mut(&key) {
            Some(group) => {
                group.earliest = group.earliest.min(xdr.occurred_at);
                group.smallest_id = group.smallest_id.min(xdr.id);
                group.line.quantity = group
                    .line
                    .quantity
                    .checked_add(xdr.quantity)
                    .ok_or(ArithmeticError::Overflow)?;
                group.line.amount = checked_add(group.line.amount, xdr.amount)?;
            }
            None => {
                groups.insert(
                    key,
                    Group {
                        earliest: xdr.occurred_at,
                        smallest_id: xdr.id,
                        line: InvoiceLine {
                            kind: xdr.kind,
                            service: xdr.service.clone(),
                            rate_code: xdr.rate_code.clone(),
                            quantity: xdr.quantity,
                            amount: xdr.amount,
                            tax: None,
                        },
                    },
                );
            }
        }
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by_key(|group| (group.earliest, group.smallest_id));
    Ok(groups.into_iter().map(|group| group.line).collect())
}

fn tax_lines(taxes: &[TaxXdr]) -> Result<Vec<InvoiceLine>, ArithmeticError> {
    let mut groups: HashMap<(&str, Percent), Group> = HashMap::new();
    for xdr in taxes {
        let key = (xdr.tax.name.as_str(), xdr.tax.rate_percent);
        let group = groups.entry(key).or_insert_with(|| Group {
            earliest: Timestamp::MIN,
            smallest_id: xdr.id,
            line: InvoiceLine {
                kind: XdrKind::Tax,
                service: TAX_SERVICE.to_owned(),
                rate_code: None,
                quantity: 0,
                amount: Money::ZERO,
                tax: Some(InvoiceTaxFields {
                    tax_name: xdr.tax.name.clone(),
                    tax_rate_percent: xdr.tax.rate_percent,
                    tax_base: Money::ZERO,
                    tax_amount: Money::ZERO,
                }),
            },
        });
        group.smallest_id = group.smallest_id.min(xdr.id);
        let line = &mut group.line;
        line.quantity = line
            .quantity
            .checked_add(MONEY_SCALE)
            .ok_or(ArithmeticError::Overflow)?;
        line.amount = checked_add(line.amount, xdr.tax.amount)?;
        if let Some(fields) = line.tax.as_mut() {
            fields.tax_base = checked_add(fields.tax_base, xdr.tax.base)?;
            fields.tax_amount = checked_add(fields.tax_amount, xdr.tax.tax_amount)?;
        }
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by_key(|group| group.smallest_id);
    Ok(groups.into_iter().map(|group| group.line).collect())
}
