//! Ageing of receivables as of `to`: the open amounts of the invoices issued up to `to` that are not void,
//! per owner and currency, bucketed by how many days past their due date they are at `to`. The open amounts
//! are those stored now, so payments received after `to` already lower them.

use std::collections::BTreeMap;

use classbill_domain::Money;
use classbill_store::{StoreError, Tx, reports};
use jiff::Unit;
use jiff::civil::Date;
use serde::Serialize;

use super::table::{Line, Table, Totals, add, total_line};
use crate::error::{EngineError, EngineResult};

/// The open amounts of one owner and currency by days past due.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Buckets {
    invoices: i64,
    /// Not past due at `to`.
    current: Money,
    days_1_30: Money,
    days_31_60: Money,
    days_61_90: Money,
    days_over_90: Money,
    total: Money,
}

impl Buckets {
    fn add(&mut self, days_past_due: i64, open: i64) -> EngineResult<()> {
        let bucket = match days_past_due {
            ..=0 => &mut self.current,
            1..=30 => &mut self.days_1_30,
            31..=60 => &mut self.days_31_60,
            61..=90 => &mut self.days_61_90,
            _ => &mut self.days_over_90,
        };
        add(bucket, open)?;
        add(&mut self.total, open)?;
        self.invoices += 1;
        Ok(())
    }

    fn sums(&self) -> Vec<String> {
        [
            self.current,
            self.days_1_30,
            self.days_31_60,
            self.days_61_90,
            self.days_over_90,
            self.total,
        ]
        .iter()
        .map(Money::to_string)
        .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct AgeingLine {
    /// `administrator` or the reseller id.
    owner: String,
    currency: String,
    #[serde(flatten)]
    buckets: Buckets,
}

impl Line for AgeingLine {
    const HEADER: &'static [&'static str] = &[
        "owner",
        "currency",
        "invoices",
        "current",
        "days_1_30",
        "days_31_60",
        "days_61_90",
        "days_over_90",
        "total",
    ];

    fn cells(&self) -> Vec<String> {
        let mut cells = vec![
            self.owner.clone(),
            self.currency.clone(),
            self.buckets.invoices.to_string(),
        ];
        cells.extend(self.buckets.sums());
        cells
    }
}

pub(super) type AgeingTotals = Buckets;

impl Totals for Buckets {
    fn total_cells(&self, currency: &str) -> Vec<String> {
        let mut sums = vec![self.invoices.to_string()];
        sums.extend(self.sums());
        total_line(AgeingLine::HEADER.len(), 1, currency, 2, sums)
    }
}

fn owner_text(owner_reseller_id: Option<i64>) -> String {
    owner_reseller_id.map_or_else(|| "administrator".to_owned(), |id| id.to_string())
}

/// Whole days from `due` to `at`; negative while not yet due.
fn days_past_due(due: Date, at: Date) -> EngineResult<i64> {
    let span = due
        .until((Unit::Day, at))
        .map_err(|e| EngineError::Store(StoreError::Corrupt(format!("due date {due}: {e}"))))?;
    Ok(i64::from(span.get_days()))
}

pub(super) async fn build(
    tx: &mut Tx,
    owner: Option<Option<i64>>,
    to: Date,
) -> EngineResult<Table<AgeingLine, AgeingTotals>> {
    let mut groups: BTreeMap<(Option<i64>, String), Buckets> = BTreeMap::new();
    let mut totals: BTreeMap<String, Buckets> = BTreeMap::new();
    for row in reports::receivables(tx, owner, &to.to_string()).await? {
        let due: Date = row
            .due_date
            .parse()
            .map_err(|e| EngineError::Store(StoreError::Corrupt(format!("invoice {}: due date: {e}", row.id))))?;
        let days = days_past_due(due, to)?;
        groups
            .entry((row.owner_reseller_id, row.currency.clone()))
            .or_default()
            .add(days, row.open_amount)?;
        totals.entry(row.currency).or_default().add(days, row.open_amount)?;
    }
    let rows = groups
        .into_iter()
        .map(|((owner_reseller_id, currency), buckets)| AgeingLine {
            owner: owner_text(owner_reseller_id),
            currency,
            buckets,
        })
        .collect();
    Ok(Table { rows, totals })
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn buckets_follow_days_past_due() {
        let to = date(2025, 6, 30);
        let mut buckets = Buckets::default();
        for (due, amount) in [
            (date(2025, 7, 15), 1),
            (date(2025, 6, 30), 2),
            (date(2025, 6, 29), 4),
            (date(2025, 5, 31), 8),
            (date(2025, 5, 30), 16),
            (date(2025, 4, 1), 32),
            (date(2025, 3, 31), 64),
        ] {
            buckets.add(days_past_due(due, to).unwrap(), amount).unwrap();
        }
        assert_eq!(buckets.current, Money(3));
        assert_eq!(buckets.days_1_30, Money(12));
        assert_eq!(buckets.days_31_60, Money(16));
        assert_eq!(buckets.days_61_90, Money(32));
        assert_eq!(buckets.days_over_90, Money(64));
        assert_eq!(buckets.total, Money(127));
        assert_eq!(buckets.invoices, 7);
    }
}
