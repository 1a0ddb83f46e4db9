//! Payments received: the `payment` xDRs whose instant falls on a local date of the range in the party's own
//! time zone, each with what it paid (its allocations to invoices, made up to now) and the remainder still
//! unallocated.

use std::collections::{BTreeMap, HashMap};

use classbill_domain::Money;
use classbill_store::{Tx, instants, reports};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use super::table::{Line, Table, Totals, add, negated, total_line};
use crate::error::{EngineError, EngineResult};

#[derive(Debug, Clone, Serialize)]
pub(super) struct AllocationLine {
    invoice_id: i64,
    invoice_number: String,
    amount: Money,
    at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct PaymentLine {
    xdr_id: i64,
    external_id: Option<String>,
    party_id: i64,
    party_name: String,
    received_at: Timestamp,
    /// The local date of `received_at` in the party's time zone.
    received_date: String,
    currency: String,
    /// Positive: what was received.
    amount: Money,
    allocated: Money,
    unallocated: Money,
    allocations: Vec<AllocationLine>,
}

impl Line for PaymentLine {
    const HEADER: &'static [&'static str] = &[
        "xdr_id",
        "external_id",
        "party_id",
        "party_name",
        "received_at",
        "received_date",
        "currency",
        "amount",
        "allocated",
        "unallocated",
        "allocations",
    ];

    /// Allocations go into one cell as `number=amount` pairs separated by `;`.
    fn cells(&self) -> Vec<String> {
        let allocations: Vec<String> = self
            .allocations
            .iter()
            .map(|a| format!("{}={}", a.invoice_number, a.amount))
            .collect();
        vec![
            self.xdr_id.to_string(),
            self.external_id.clone().unwrap_or_default(),
            self.party_id.to_string(),
            self.party_name.clone(),
            self.received_at.to_string(),
            self.received_date.clone(),
            self.currency.clone(),
            self.amount.to_string(),
            self.allocated.to_string(),
            self.unallocated.to_string(),
            allocations.join(";"),
        ]
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct PaymentTotals {
    payments: i64,
    amount: Money,
    allocated: Money,
    unallocated: Money,
}

impl Totals for PaymentTotals {
    fn total_cells(&self, currency: &str) -> Vec<String> {
        total_line(
            PaymentLine::HEADER.len(),
            6,
            currency,
            7,
            vec![
                self.amount.to_string(),
                self.allocated.to_string(),
                self.unallocated.to_string(),
            ],
        )
    }
}

/// Midnight UTC of a date: the bounds of the database read, widened afterwards by a margin that covers every
/// zone's offset (at most 26 hours apart).
fn utc_micros(date: Date) -> EngineResult<i64> {
    let zoned = date
        .to_zoned(TimeZone::UTC)
        .map_err(|e| EngineError::invalid("to", "out_of_range", e.to_string()))?;
    Ok(instants::to_micros(zoned.timestamp()))
}

pub(super) async fn build(
    tx: &mut Tx,
    owner: Option<Option<i64>>,
    from: Date,
    to: Date,
) -> EngineResult<Table<PaymentLine, PaymentTotals>> {
    const MARGIN_US: i64 = 2 * 86_400 * 1_000_000;
    let day_after = to
        .checked_add(1.day())
        .map_err(|e| EngineError::invalid("to", "out_of_range", e.to_string()))?;
    let candidates = reports::payments(
        tx,
        owner,
        utc_micros(from)?.saturating_sub(MARGIN_US),
        utc_micros(day_after)?.saturating_add(MARGIN_US),
    )
    .await?;
    let mut zones: HashMap<String, TimeZone> = HashMap::new();
    let mut received = Vec::new();
    for row in candidates {
        let zone = zones
            .entry(row.time_zone.clone())
            .or_insert_with(|| TimeZone::get(&row.time_zone).unwrap_or(TimeZone::UTC));
        let at = instants::from_micros(row.occurred_at)?;
        let date = at.to_zoned(zone.clone()).date();
        if from <= date && date <= to {
            received.push((row, at, date));
        }
    }
    let ids: Vec<i64> = received.iter().map(|(row, _, _)| row.xdr_id).collect();
    let mut allocations: HashMap<i64, Vec<AllocationLine>> = HashMap::new();
    for a in reports::allocations_of_payments(tx, &ids).await? {
        allocations.entry(a.source_xdr_id).or_default().push(AllocationLine {
            invoice_id: a.invoice_id,
            invoice_number: a.invoice_number,
            amount: Money(a.amount),
            at: instants::from_micros(a.at)?,
        });
    }

    let mut totals: BTreeMap<String, PaymentTotals> = BTreeMap::new();
    let mut rows = Vec::with_capacity(received.len());
    for (row, at, date) in received {
        let made = allocations.remove(&row.xdr_id).unwrap_or_default();
        let amount = negated(row.amount)?;
        let mut allocated = Money::ZERO;
        for a in &made {
            add(&mut allocated, a.amount.0)?;
        }
        let mut unallocated = amount;
        add(&mut unallocated, negated(allocated.0)?.0)?;
        let sums = totals.entry(row.currency.clone()).or_default();
        sums.payments += 1;
        add(&mut sums.amount, amount.0)?;
        add(&mut sums.allocated, allocated.0)?;
        add(&mut sums.unallocated, unallocated.0)?;
        rows.push(PaymentLine {
            xdr_id: row.xdr_id,
            external_id: row.external_id,
            party_id: row.party_id,
            party_name: row.party_name,
            received_at: at,
            received_date: date.to_string(),
            currency: row.currency,
            amount,
            allocated,
            unallocated,
            allocations: made,
        });
    }
    Ok(Table { rows, totals })
}
