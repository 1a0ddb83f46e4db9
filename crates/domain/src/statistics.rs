//! Statistics files of a closed period (customer-classes §5.12): the full CSV of the period's xDRs and its
//! summary per service and kind. RFC 4180, UTF-8, a header row, commas, LF line ends, `.` as decimal point and
//! five fraction digits for amounts and quantities.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::money::{MONEY_FRACTION_DIGITS, Money, write_fixed_point};

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

/// One line of a file, written field by field straight into the file's text.
struct Line<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Line<'a> {
    fn start(out: &'a mut String) -> Self {
        Line { out, first: true }
    }

    fn separate(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    /// Free text as RFC 4180 wants it: quoted, with quotes doubled, when it holds a comma, a quote or a line
    /// break.
    fn text(mut self, text: &str) -> Self {
        self.separate();
        if text.contains([',', '"', '\n', '\r']) {
            self.out.push('"');
            self.out.push_str(&text.replace('"', "\"\""));
            self.out.push('"');
        } else {
            self.out.push_str(text);
        }
        self
    }

    /// A value whose printed form never needs quoting: a number, an instant, a flag.
    fn value(mut self, value: impl fmt::Display) -> Self {
        self.separate();
        // Writing into a `String` cannot fail.
        let _ = write!(self.out, "{value}");
        self
    }

    fn end(self) {
        self.out.push('\n');
    }
}

/// A sum of 10⁻⁵ units held in 128 bits, printed as amounts are: five fraction digits.
struct Sum(i128);

impl fmt::Display for Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed_point(f, self.0, MONEY_FRACTION_DIGITS, false)
    }
}

/// The shown rows, ordered by `occurred_at`, then `xdr_id`.
fn shown(rows: &[StatisticsRow]) -> Vec<&StatisticsRow> {
    let mut shown: Vec<&StatisticsRow> = rows.iter().filter(|r| !r.hidden).collect();
    shown.sort_by_key(|r| (r.occurred_at, r.xdr_id));
    shown
}

/// The full file: one line per shown xDR, `occurred_at_local` with the offset `zone` has at that instant.
pub fn full_csv(rows: &[StatisticsRow], zone: &TimeZone) -> String {
    // A line of generated usage is some 130 bytes; one reservation spares the string its doublings.
    let mut out = String::with_capacity(FULL_HEADER.len() + 1 + 130 * rows.len());
    out.push_str(FULL_HEADER);
    out.push('\n');
    for row in shown(rows) {
        let local = row.occurred_at.display_with_offset(zone.to_offset(row.occurred_at));
        Line::start(&mut out)
            .value(row.xdr_id)
            .text(row.external_id.as_deref().unwrap_or(""))
            .value(row.occurred_at)
            .value(local)
            .text(&row.kind)
            .text(&row.service)
            .text(row.rate_code.as_deref().unwrap_or(""))
            .text(row.description.as_deref().unwrap_or(""))
            .value(row.quantity)
            .value(row.amount)
            .text(&row.currency)
            .text(row.invoice_number.as_deref().unwrap_or(""))
            .value(row.late)
            .end();
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
        Line::start(&mut out)
            .text(service)
            .text(kind)
            .value(totals.count)
            .value(Sum(totals.quantity))
            .value(Sum(totals.amount))
            .end();
    }
    Line::start(&mut out)
        .text("TOTAL")
        .text("")
        .value(total.count)
        .text("")
        .value(Sum(total.amount))
        .end();
    out
}
