//! The external tax engine's contract (§5.5): the lines sent to it and the reading of its answer. The HTTP
//! exchange itself is the engine's; everything here is pure so the permanent errors are decided in one place.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::invoice_math::{ChargeXdr, InvoiceMathError, invoice_lines};
use crate::money::{DecimalError, MONEY_FRACTION_DIGITS, Money, write_fixed_point};
use crate::percent::Percent;

use super::TaxLine;
use crate::class::TaxScope;

/// One line of the request: the taxable xDRs of one `(kind, service, rate_code)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalLine {
    pub line_id: String,
    pub kind: String,
    pub service: String,
    pub rate_code: Option<String>,
    pub quantity: Quantity,
    pub amount: Money,
}

/// A quantity as the request prints it: without trailing zeros (`"412"`, `"7.5"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(pub i64);

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed_point(f, self.0.into(), MONEY_FRACTION_DIGITS, true)
    }
}

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The request lines: the charges taxed in scope `all`, grouped and ordered like invoice lines (§5.6 rule 1)
/// and numbered `L1`, `L2`, …
pub fn external_lines(charges: &[ChargeXdr]) -> Result<Vec<ExternalLine>, InvoiceMathError> {
    let taxable: Vec<ChargeXdr> = charges
        .iter()
        .filter(|charge| charge.kind.is_taxed_in(TaxScope::All))
        .cloned()
        .collect();
    Ok(invoice_lines(&taxable, &[], Money::ZERO)?
        .into_iter()
        .enumerate()
        .map(|(n, line)| ExternalLine {
            line_id: format!("L{}", n + 1),
            kind: line.kind.as_str().to_owned(),
            service: line.service,
            rate_code: line.rate_code,
            quantity: Quantity(line.quantity),
            amount: line.amount,
        })
        .collect())
}

#[derive(Deserialize)]
struct Answer {
    request_id: String,
    taxes: Vec<AnswerTax>,
}

#[derive(Deserialize)]
struct AnswerTax {
    line_id: Option<String>,
    name: String,
    rate_percent: String,
    base: String,
    amount: String,
}

/// Why an answer of the engine cannot be used. Each is permanent: asking again would get the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalAnswerError {
    #[error("the answer is not the expected JSON: {0}")]
    Unparsable(String),
    #[error("the answer is for request {found}, not {expected}")]
    ChangedRequestId { expected: String, found: String },
    #[error("taxes[{index}].line_id {line_id} was not sent")]
    UnknownLine { index: usize, line_id: String },
    #[error("taxes[{index}].{field}: {error}")]
    BadNumber {
        index: usize,
        field: &'static str,
        error: DecimalError,
    },
    #[error("taxes[{index}].name must not be empty")]
    MissingName { index: usize },
}

/// Reads the engine's answer to `request_id` over `lines` into tax lines: `tax_amount` = the engine's amount,
/// `amount` the same on top or 0 when the prices already include the tax.
pub fn read_external_answer(
    body: &str,
    request_id: &str,
    lines: &[ExternalLine],
    prices_include_tax: bool,
) -> Result<Vec<TaxLine>, ExternalAnswerError> {
    let answer: Answer = serde_json::from_str(body).map_err(|e| ExternalAnswerError::Unparsable(e.to_string()))?;
    if answer.request_id != request_id {
        return Err(ExternalAnswerError::ChangedRequestId {
            expected: request_id.to_owned(),
            found: answer.request_id,
        });
    }
    let sent: HashSet<&str> = lines.iter().map(|line| line.line_id.as_str()).collect();
    answer
        .taxes
        .into_iter()
        .enumerate()
        .map(|(index, tax)| {
            if let Some(line_id) = tax.line_id
                && !sent.contains(line_id.as_str())
            {
                return Err(ExternalAnswerError::UnknownLine { index, line_id });
            }
            if tax.name.trim().is_empty() {
                return Err(ExternalAnswerError::MissingName { index });
            }
            let number =
                |field: &'static str, error: DecimalError| ExternalAnswerError::BadNumber { index, field, error };
            let rate_percent = Percent::parse(&tax.rate_percent).map_err(|e| number("rate_percent", e))?;
            let base = Money::parse(&tax.base).map_err(|e| number("base", e))?;
            let tax_amount = Money::parse(&tax.amount).map_err(|e| number("amount", e))?;
            Ok(TaxLine {
                name: tax.name,
                rate_percent,
                base,
                tax_amount,
                amount: if prices_include_tax { Money::ZERO } else { tax_amount },
                reverse_charge: false,
                outside_scope: false,
            })
        })
        .collect()
}
