//! The invoice journal: every invoice issued in the range, one row each. Void invoices are listed with their
//! status but left out of the sums, since they no longer claim anything.

use std::collections::BTreeMap;

use classbill_domain::Money;
use classbill_store::{Tx, reports};
use jiff::civil::Date;
use serde::Serialize;

use super::table::{Line, Table, Totals, add, total_line};
use crate::error::EngineResult;

#[derive(Debug, Clone, Serialize)]
pub(super) struct JournalLine {
    id: i64,
    number: String,
    kind: String,
    party_id: i64,
    party_name: String,
    issue_date: String,
    due_date: String,
    currency: String,
    net_total: Money,
    tax_total: Money,
    /// Gross.
    total: Money,
    status: String,
}

impl Line for JournalLine {
    const HEADER: &'static [&'static str] = &[
        "id",
        "number",
        "kind",
        "party_id",
        "party_name",
        "issue_date",
        "due_date",
        "currency",
        "net_total",
        "tax_total",
        "total",
        "status",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.number.clone(),
            self.kind.clone(),
            self.party_id.to_string(),
            self.party_name.clone(),
            self.issue_date.clone(),
            self.due_date.clone(),
            self.currency.clone(),
            self.net_total.to_string(),
            self.tax_total.to_string(),
            self.total.to_string(),
            self.status.clone(),
        ]
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct JournalTotals {
    /// Invoices counted in the sums (all but void ones).
    invoices: i64,
    net_total: Money,
    tax_total: Money,
    total: Money,
}

impl Totals for JournalTotals {
    fn total_cells(&self, currency: &str) -> Vec<String> {
        total_line(
            JournalLine::HEADER.len(),
            7,
            currency,
            8,
            vec![
                self.net_total.to_string(),
                self.tax_total.to_string(),
                self.total.to_string(),
            ],
        )
    }
}

pub(super) async fn build(
    tx: &mut Tx,
    owner: Option<Option<i64>>,
    from: Date,
    to: Date,
) -> EngineResult<Table<JournalLine, JournalTotals>> {
    let found = reports::journal(tx, owner, &from.to_string(), &to.to_string()).await?;
    let mut totals: BTreeMap<String, JournalTotals> = BTreeMap::new();
    let mut rows = Vec::with_capacity(found.len());
    for row in found {
        let sums = totals.entry(row.currency.clone()).or_default();
        if row.status != "void" {
            sums.invoices += 1;
            add(&mut sums.net_total, row.net_total)?;
            add(&mut sums.tax_total, row.tax_total)?;
            add(&mut sums.total, row.total)?;
        }
        rows.push(JournalLine {
            id: row.id,
            number: row.number,
            kind: row.kind,
            party_id: row.party_id,
            party_name: row.party_name,
            issue_date: row.issue_date,
            due_date: row.due_date,
            currency: row.currency,
            net_total: Money(row.net_total),
            tax_total: Money(row.tax_total),
            total: Money(row.total),
            status: row.status,
        });
    }
    Ok(Table { rows, totals })
}
