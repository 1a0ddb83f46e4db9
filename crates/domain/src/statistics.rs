//! Statistics files of a closed period (customer-classes §5.12): the full CSV of the period's xDRs and its
//! summary per service and kind. RFC 4180, UTF-8, a header row, commas, LF line ends, `.` as decimal point and
//! five fraction digits for amounts and quantities.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::money::{MONEY_FRACTION_DIGITS, Money};

/// The header of the full file.
pub const FULL_HEADER: &str = "xdr_id,external_id,occurred_at_utc,occurred_at_local,kind,service,rate_code,\
description,quantity,amount,currency,invoice_number,late";

/// The header of the summary file.
pub const SUMMARY_HEADER: &str = "service,kind,xdr_count,quantity,amount";

/// One xDR of the period as the files show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatisticsRow {
    pub xdr_id: i64,
    pub external_id: Option<String>,
    pub occurred_at: Timestamp,
    pub kind: String,
    pub service: String,
    pub rate_code: Option<String>,
    pub description: Option<String>,
    pub quantity: Money,
    pub amount: Money,
    /// ISO code of the party's currency.
    pub currency: String,
    /// The number of the invoice carrying the xDR, if any.
    pub invoice_number: Option<String>,
    pub late: bool,
    /// Hidden xDRs (the balance reset under `hide_reset_xdr`) are left out of both files.
    pub hidden: bool,
}

/// The names of the two files of one party and period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatisticsFileNames {
    pub full: String,
    pub summary: String,
}

/// `<party_id>_<first local date>_<last local date>_full.csv` and `…_summary.csv`.
pub fn file_names(party_id: i64, first_local_date: Date, last_local_date: Date) -> StatisticsFileNames {
    let stem = format!("{party_id}_{first_local_date}_{last_local_date}");
    StatisticsFileNames {
        full: format!("{stem}_full.csv"),
        summary: format!("{stem}_summary.csv"),
    }
}

/// A field as RFC 4180 wants it: quoted, with quotes doubled, when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn push_line(out: &mut String, fields: &[String]) {
    out.push_str(&fields.join(","));
    out.push('\n');
}

/// A count of 10⁻⁵ units held in 128 bits, printed with five fraction digits.
fn decimal(units: i128) -> String {
    let scale = 10_u128.pow(MONEY_FRACTION_DIGITS);
    let magnitude = units.unsigned_abs();
    let sign = if units < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = MONEY_FRACTION_DIGITS as usize
    )
}

/// The shown rows, ordered by `occurred_at`, then `xdr_id`.
fn shown(rows: &[StatisticsRow]) -> Vec<&StatisticsRow> {
    let mut shown: Vec<&StatisticsRow> = rows.iter().filter(|r| !r.hidden).collect();
    shown.sort_by_key(|r| (r.occurred_at, r.xdr_id));
    shown
}

/// The full file: one line per shown xDR, `occurred_at_local` with the offset `zone` has at that instant.
pub fn full_csv(rows: &[StatisticsRow], zone: &TimeZone) -> String {
    let mut out = String::from(FULL_HEADER);
    out.push('\n');
    for row in shown(rows) {
        let local = row.occurred_at.display_with_offset(zone.to_offset(row.occurred_at));
        push_line(
            &mut out,
            &[
                row.xdr_id.to_string(),
                field(row.external_id.as_deref().unwrap_or("")),
                row.occurred_at.to_string(),
                local.to_string(),
                field(&row.kind),
                field(&row.service),
                field(row.rate_code.as_deref().unwrap_or("")),
                field(row.description.as_deref().unwrap_or("")),
                row.quantity.to_string(),
                row.amount.to_string(),
                field(&row.currency),
                field(row.invoice_number.as_deref().unwrap_or("")),
                row.late.to_string(),
            ],
        );
    }
    out
}

#[derive(Default)]
struct Totals {
    count: u64,
    quantity: i128,
    amount: i128,
}

/// The summary file: one line per `(service, kind)` sorted by service then kind, then
/// `TOTAL,,<xdr count>,,<amount>`.
pub fn summary_csv(rows: &[StatisticsRow]) -> String {
    let mut groups: BTreeMap<(&str, &str), Totals> = BTreeMap::new();
    let mut total = Totals::default();
    for row in rows.iter().filter(|r| !r.hidden) {
        let group = groups.entry((row.service.as_str(), row.kind.as_str())).or_default();
        for totals in [&mut *group, &mut total] {
            totals.count += 1;
            totals.quantity += i128::from(row.quantity.0);
            totals.amount += i128::from(row.amount.0);
        }
    }
    let mut out = String::from(SUMMARY_HEADER);
    out.push('\n');
    for ((service, kind), totals) in &groups {
        push_line(
            &mut out,
            &[
                field(service),
                field(kind),
                totals.count.to_string(),
                decimal(totals.quantity),
                decimal(totals.amount),
            ],
        );
    }
    push_line(
        &mut out,
        &[
            "TOTAL".to_owned(),
            String::new(),
            total.count.to_string(),
            String::new(),
            decimal(total.amount),
        ],
    );
    out
}
