//! The shape every export shares: rows, then sums per currency; written as JSON or as CSV.

use std::collections::BTreeMap;

use classbill_domain::Money;
use classbill_store::StoreError;
use serde::Serialize;

use crate::error::{EngineError, EngineResult};

/// A row of an export and its CSV cells, in the order of [`Line::HEADER`].
pub(super) trait Line: Serialize {
    const HEADER: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// The sums of one currency; the CSV `TOTAL` line has the same columns as the rows.
pub(super) trait Totals: Serialize + Default {
    fn total_cells(&self, currency: &str) -> Vec<String>;
}

pub(super) struct Table<R, T> {
    pub rows: Vec<R>,
    /// By currency code.
    pub totals: BTreeMap<String, T>,
}

impl<R: Line, T: Totals> Table<R, T> {
    pub fn json(&self) -> EngineResult<(Vec<serde_json::Value>, serde_json::Value)> {
        let rows = self
            .rows
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, serde_json::to_value(&self.totals)?))
    }

    pub fn csv(&self) -> String {
        let mut out = String::new();
        push_line(&mut out, R::HEADER.iter().map(|h| (*h).to_owned()));
        for row in &self.rows {
            push_line(&mut out, row.cells());
        }
        for (currency, totals) in &self.totals {
            push_line(&mut out, totals.total_cells(currency));
        }
        out
    }
}

/// RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled.
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn push_line(out: &mut String, cells: impl IntoIterator<Item = String>) {
    let cells: Vec<String> = cells.into_iter().map(|c| cell(&c)).collect();
    out.push_str(&cells.join(","));
    out.push('\n');
}

/// A sum beyond the range of money means the stored amounts are wrong.
fn overflow() -> EngineError {
    EngineError::Store(StoreError::Corrupt("a report sum exceeds the range of money".into()))
}

/// Adds `amount` to a running sum.
pub(super) fn add(sum: &mut Money, amount: i64) -> EngineResult<()> {
    sum.0 = sum.0.checked_add(amount).ok_or_else(overflow)?;
    Ok(())
}

/// `-amount`, as what a payment xDR (stored negative) received.
pub(super) fn negated(amount: i64) -> EngineResult<Money> {
    amount.checked_neg().map(Money).ok_or_else(overflow)
}

/// A `TOTAL` line: the label, `currency` at `currency_column`, the given cells from `first_sum_column` on, and
/// empty cells elsewhere, `width` cells in all.
pub(super) fn total_line(
    width: usize,
    currency_column: usize,
    currency: &str,
    first_sum_column: usize,
    sums: Vec<String>,
) -> Vec<String> {
    let mut cells = vec![String::new(); width];
    cells[0] = "TOTAL".to_owned();
    cells[currency_column] = currency.to_owned();
    for (offset, sum) in sums.into_iter().enumerate() {
        if let Some(slot) = cells.get_mut(first_sum_column + offset) {
            *slot = sum;
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_with_separators_are_quoted() {
        assert_eq!(cell("Müller, \"GmbH\""), "\"Müller, \"\"GmbH\"\"\"");
        assert_eq!(cell("plain"), "plain");
    }

    #[test]
    fn total_line_places_currency_and_sums() {
        assert_eq!(
            total_line(5, 1, "EUR", 3, vec!["1.00000".into(), "2.00000".into()]),
            ["TOTAL", "EUR", "", "1.00000", "2.00000"]
        );
    }
}
