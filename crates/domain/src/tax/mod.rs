//! Taxation (§5.5): taxable bases per scope, the tax lines of `fixed_vat`, `custom` and `generic_vat`, the
//! external engine's request lines and answer, and the taxes booked at payment for prepaid customers.
//!
//! Rates are [`Percent`] values in 10⁻⁴ percent, amounts [`Money`] in 10⁻⁵ units. A tax of r percent on a base
//! B is the exact fraction B·r_units / 1 000 000 (or over 1 000 000 + R_units when the tax is inside the amount),
//! rounded half away from zero at the fifth decimal. Negative bases give negative tax; taxes never compound.

mod compute;
mod external;
mod generic_vat;
mod scope;

pub use compute::{TaxRate, custom_taxes, fixed_vat, fixed_vat_exclusive, fixed_vat_inclusive, taxes_at_payment};
pub use external::{ExternalAnswerError, ExternalLine, Quantity, external_lines, read_external_answer};
pub use generic_vat::{PartyTaxAttributes, VatDecision, VatRateRow, choose_vat_rate, generic_vat};
pub use scope::{TaxBases, UnknownXdrKind, XdrKind};

use serde::Serialize;

use crate::class::TaxScope;
use crate::money::Money;
use crate::percent::Percent;
use crate::rounding::ArithmeticError;

/// The `tax_name` of `fixed_vat` and `generic_vat` tax lines.
pub const VAT_NAME: &str = "VAT";

/// One computed tax: the fields of a tax xDR (§5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxLine {
    /// `"VAT"`, or the custom tax's name.
    pub name: String,
    pub rate_percent: Percent,
    /// The taxed base: the scope's base on top, the net amount for inclusive taxes, P − Σ taxes at payment.
    pub base: Money,
    /// The tax itself, rounded half away from zero at five decimals.
    pub tax_amount: Money,
    /// What the tax adds to the invoice or the balance: the tax on top, 0 when inclusive or reverse charged.
    pub amount: Money,
    pub reverse_charge: bool,
    pub outside_scope: bool,
}

/// A custom tax selected by a class (§2.6): always on top of its scope's base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomTax {
    pub name: String,
    pub rate_percent: Percent,
    pub scope: TaxScope,
}

/// Why taxes could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxError {
    #[error(transparent)]
    Arithmetic(#[from] ArithmeticError),
    #[error("the home country {0} is not in the VAT rate table")]
    UnknownHomeCountry(String),
}
