//! xDR kinds and the taxable bases they form per tax scope (§5.1).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::class::TaxScope;
use crate::money::Money;
use crate::rounding::{ArithmeticError, money_from_units};

/// The kind of an xDR (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum XdrKind {
    Usage,
    OneTime,
    MeasuredService,
    ReactivationFee,
    Recurring,
    Credit,
    LateFee,
    Adjustment,
    Tax,
    Rounding,
    Payment,
}

impl XdrKind {
    /// Every kind, in the order of §5.1.
    pub const ALL: [XdrKind; 11] = [
        XdrKind::Usage,
        XdrKind::OneTime,
        XdrKind::MeasuredService,
        XdrKind::ReactivationFee,
        XdrKind::Recurring,
        XdrKind::Credit,
        XdrKind::LateFee,
        XdrKind::Adjustment,
        XdrKind::Tax,
        XdrKind::Rounding,
        XdrKind::Payment,
    ];

    /// The spelling used in storage, JSON and statistics files.
    pub fn as_str(self) -> &'static str {
        match self {
            XdrKind::Usage => "usage",
            XdrKind::OneTime => "one_time",
            XdrKind::MeasuredService => "measured_service",
            XdrKind::ReactivationFee => "reactivation_fee",
            XdrKind::Recurring => "recurring",
            XdrKind::Credit => "credit",
            XdrKind::LateFee => "late_fee",
            XdrKind::Adjustment => "adjustment",
            XdrKind::Tax => "tax",
            XdrKind::Rounding => "rounding",
            XdrKind::Payment => "payment",
        }
    }

    /// Whether the kind's amounts count in an invoice total (every kind but `payment`).
    pub fn counts_in_invoice_total(self) -> bool {
        self != XdrKind::Payment
    }

    /// Whether the kind belongs to the taxable base of `scope`.
    pub fn is_taxed_in(self, scope: TaxScope) -> bool {
        use XdrKind::*;
        match scope {
            TaxScope::All => matches!(
                self,
                Usage | OneTime | MeasuredService | ReactivationFee | Recurring | Credit
            ),
            TaxScope::Usage => matches!(self, Usage | OneTime | MeasuredService | ReactivationFee),
            TaxScope::Recurring => self == Recurring,
        }
    }
}

impl fmt::Display for XdrKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored or submitted kind that is not one of §5.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown xDR kind {0:?}")]
pub struct UnknownXdrKind(pub String);

impl FromStr for XdrKind {
    type Err = UnknownXdrKind;

    /// Reads the spelling of [`XdrKind::as_str`].
    fn from_str(text: &str) -> Result<XdrKind, UnknownXdrKind> {
        XdrKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownXdrKind(text.to_owned()))
    }
}

/// The taxable bases of one tax computation: sums of the amounts of the kinds each scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaxBases {
    pub all: Money,
    pub usage: Money,
    pub recurring: Money,
}

impl TaxBases {
    /// Sums `(kind, amount)` lines into the three bases; kinds outside every scope are ignored.
    pub fn from_lines(lines: impl IntoIterator<Item = (XdrKind, Money)>) -> Result<TaxBases, ArithmeticError> {
        let (mut all, mut usage, mut recurring) = (0_i128, 0_i128, 0_i128);
        for (kind, amount) in lines {
            let amount = i128::from(amount.0);
            for (scope, sum) in [
                (TaxScope::All, &mut all),
                (TaxScope::Usage, &mut usage),
                (TaxScope::Recurring, &mut recurring),
            ] {
                if kind.is_taxed_in(scope) {
                    *sum = sum.checked_add(amount).ok_or(ArithmeticError::Overflow)?;
                }
            }
        }
        Ok(TaxBases {
            all: money_from_units(all)?,
            usage: money_from_units(usage)?,
            recurring: money_from_units(recurring)?,
        })
    }

    /// The base of `scope`.
    pub fn for_scope(&self, scope: TaxScope) -> Money {
        match scope {
            TaxScope::All => self.all,
            TaxScope::Usage => self.usage,
            TaxScope::Recurring => self.recurring,
        }
    }
}
