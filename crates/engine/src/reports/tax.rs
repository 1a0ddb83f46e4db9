//! The tax summary: the tax xDRs of the invoices issued in the range (void ones left out), summed per tax
//! name, rate, country of the invoiced party and currency. Reverse-charge and outside-scope bases are kept
//! apart from the taxable base, since no tax is charged on them.

use std::collections::BTreeMap;

use classbill_domain::{Money, Percent};
use classbill_store::{Tx, reports};
use jiff::civil::Date;
use serde::Serialize;

use super::table::{Line, Table, Totals, add, total_line};
use crate::error::EngineResult;

/// The four sums of a tax row and of a currency's totals.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct TaxSums {
    taxable_base: Money,
    tax_amount: Money,
    reverse_charge_base: Money,
    outside_scope_base: Money,
}

impl TaxSums {
    fn add(&mut self, row: &reports::TaxRow) -> EngineResult<()> {
        let base = row.tax_base.unwrap_or(0);
        let bucket = if row.reverse_charge == Some(true) {
            &mut self.reverse_charge_base
        } else if row.outside_scope == Some(true) {
            &mut self.outside_scope_base
        } else {
            &mut self.taxable_base
        };
        add(bucket, base)?;
        add(&mut self.tax_amount, row.tax_amount.unwrap_or(0))
    }

    fn sums(&self) -> Vec<String> {
        [
            self.taxable_base,
            self.tax_amount,
            self.reverse_charge_base,
            self.outside_scope_base,
        ]
        .iter()
        .map(Money::to_string)
        .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct TaxLine {
    tax_name: String,
    rate_percent: Percent,
    /// The invoiced party's country; null when it has none.
    country: Option<String>,
    currency: String,
    #[serde(flatten)]
    sums: TaxSums,
}

impl Line for TaxLine {
    const HEADER: &'static [&'static str] = &[
        "tax_name",
        "rate_percent",
        "country",
        "currency",
        "taxable_base",
        "tax_amount",
        "reverse_charge_base",
        "outside_scope_base",
    ];

    fn cells(&self) -> Vec<String> {
        let mut cells = vec![
            self.tax_name.clone(),
            self.rate_percent.to_string(),
            self.country.clone().unwrap_or_default(),
            self.currency.clone(),
        ];
        cells.extend(self.sums.sums());
        cells
    }
}

pub(super) type TaxTotals = TaxSums;

impl Totals for TaxSums {
    fn total_cells(&self, currency: &str) -> Vec<String> {
        total_line(TaxLine::HEADER.len(), 3, currency, 4, self.sums())
    }
}

type Key = (String, i64, Option<String>, String);

pub(super) async fn build(
    tx: &mut Tx,
    owner: Option<Option<i64>>,
    from: Date,
    to: Date,
) -> EngineResult<Table<TaxLine, TaxTotals>> {
    let mut groups: BTreeMap<Key, TaxSums> = BTreeMap::new();
    let mut totals: BTreeMap<String, TaxSums> = BTreeMap::new();
    for row in reports::taxes(tx, owner, &from.to_string(), &to.to_string()).await? {
        let key = (
            row.tax_name.clone().unwrap_or_default(),
            row.tax_rate_percent.unwrap_or(0),
            row.country.clone(),
            row.currency.clone(),
        );
        groups.entry(key).or_default().add(&row)?;
        totals.entry(row.currency.clone()).or_default().add(&row)?;
    }
    let rows = groups
        .into_iter()
        .map(|((tax_name, rate, country, currency), sums)| TaxLine {
            tax_name,
            rate_percent: Percent::from_units(rate),
            country,
            currency,
            sums,
        })
        .collect();
    Ok(Table { rows, totals })
}
