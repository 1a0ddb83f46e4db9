//! Accounting exports (`/reports/{kind}`, `classbill report`): the invoice journal, payments received, the
//! ageing of receivables and the tax summary, as JSON or CSV. Every amount is summed exactly from the stored
//! invoices and xDRs, so the exports reconcile with the ledger to the last 10⁻⁵ unit.

mod ageing;
mod journal;
mod payments;
mod table;
mod tax;

use std::str::FromStr;

use classbill_domain::FieldError;
use jiff::civil::Date;
use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::{Actor, Role};
use crate::error::{EngineError, EngineResult};
use table::Table;

/// Which export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    InvoiceJournal,
    Payments,
    Ageing,
    Tax,
}

impl ReportKind {
    pub const ALL: [ReportKind; 4] = [
        ReportKind::InvoiceJournal,
        ReportKind::Payments,
        ReportKind::Ageing,
        ReportKind::Tax,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::InvoiceJournal => "invoice-journal",
            ReportKind::Payments => "payments",
            ReportKind::Ageing => "ageing",
            ReportKind::Tax => "tax",
        }
    }
}

impl FromStr for ReportKind {
    type Err = EngineError;

    /// An unknown kind is a resource that does not exist: 404.
    fn from_str(text: &str) -> EngineResult<Self> {
        ReportKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| EngineError::NotFound(format!("report {text} not found")))
    }
}

/// How the export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    #[default]
    Json,
    Csv,
}

/// A validated request for one export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub kind: ReportKind,
    /// First local date of the range; the ageing report needs none (it looks at `to` only).
    pub from: Option<Date>,
    /// Last local date of the range, inclusive.
    pub to: Date,
    pub format: ReportFormat,
}

fn parse_date(field: &str, text: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Date> {
    let text = text?;
    let parsed = (text.len() == 10).then(|| text.parse::<Date>().ok()).flatten();
    if parsed.is_none() {
        errors.push(FieldError::new(field, "invalid_date", "must be a date YYYY-MM-DD"));
    }
    parsed
}

impl ReportQuery {
    /// Checks the kind (404 when unknown), then every parameter at once (422 naming each bad one).
    pub fn parse(kind: &str, from: Option<&str>, to: Option<&str>, format: Option<&str>) -> EngineResult<Self> {
        let kind = kind.parse::<ReportKind>()?;
        let mut errors = Vec::new();
        let from_date = parse_date("from", from, &mut errors);
        if from.is_none() && kind != ReportKind::Ageing {
            errors.push(FieldError::new(
                "from",
                "required",
                "the first date of the range is required",
            ));
        }
        let to_date = parse_date("to", to, &mut errors);
        if to.is_none() {
            errors.push(FieldError::new(
                "to",
                "required",
                "the last date of the range is required",
            ));
        }
        if let (Some(first), Some(last)) = (from_date, to_date)
            && first > last
        {
            errors.push(FieldError::new("to", "before_from", "must not lie before `from`"));
        }
        let format = match format {
            None | Some("json") => ReportFormat::Json,
            Some("csv") => ReportFormat::Csv,
            Some(other) => {
                errors.push(FieldError::new(
                    "format",
                    "invalid",
                    format!("`{other}` is not one of csv, json"),
                ));
                ReportFormat::Json
            }
        };
        match to_date {
            Some(to) if errors.is_empty() => Ok(ReportQuery {
                kind,
                from: from_date,
                to,
                format,
            }),
            _ => Err(EngineError::Invalid(errors)),
        }
    }
}

/// An export as JSON: `{report, from, to, rows, totals}`; money as decimal strings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportDocument {
    /// `invoice-journal`, `payments`, `ageing` or `tax`.
    pub report: String,
    /// `YYYY-MM-DD`; null for an ageing report asked without it.
    pub from: Option<String>,
    pub to: String,
    /// The report's rows; their fields are described in docs/reports.md.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Value>,
    /// Sums per currency code.
    #[schema(value_type = Object)]
    pub totals: serde_json::Value,
}

enum Body {
    Journal(Table<journal::JournalLine, journal::JournalTotals>),
    Payments(Table<payments::PaymentLine, payments::PaymentTotals>),
    Ageing(Table<ageing::AgeingLine, ageing::AgeingTotals>),
    Tax(Table<tax::TaxLine, tax::TaxTotals>),
}

/// A computed export, ready to be written as JSON or CSV.
pub struct Report {
    kind: ReportKind,
    from: Option<Date>,
    to: Date,
    body: Body,
}

impl Report {
    pub fn document(&self) -> EngineResult<ReportDocument> {
        let (rows, totals) = match &self.body {
            Body::Journal(table) => table.json()?,
            Body::Payments(table) => table.json()?,
            Body::Ageing(table) => table.json()?,
            Body::Tax(table) => table.json()?,
        };
        Ok(ReportDocument {
            report: self.kind.as_str().to_owned(),
            from: self.from.map(|d| d.to_string()),
            to: self.to.to_string(),
            rows,
            totals,
        })
    }

    /// A header line, one line per row, then one `TOTAL` line per currency.
    pub fn csv(&self) -> String {
        match &self.body {
            Body::Journal(table) => table.csv(),
            Body::Payments(table) => table.csv(),
            Body::Ageing(table) => table.csv(),
            Body::Tax(table) => table.csv(),
        }
    }

    /// The name a CSV download of it goes by: `<kind>_[<from>_]<to>.csv`.
    pub fn csv_file_name(&self) -> String {
        let from = self.from.map(|d| format!("{d}_")).unwrap_or_default();
        format!("{}_{from}{}.csv", self.kind.as_str(), self.to)
    }
}

impl crate::Engine {
    /// One export over what the actor sees: administrators every owner's invoices and payments, a reseller user
    /// its own parties' only (the visibility of `GET /invoices`).
    pub async fn report(&self, actor: &Actor, query: &ReportQuery) -> EngineResult<Report> {
        let owner = match actor.role {
            Role::Administrator => None,
            Role::Reseller(own) => Some(Some(own)),
        };
        let mut tx = self.store.read().await?;
        let from = query.from.unwrap_or(query.to);
        let body = match query.kind {
            ReportKind::InvoiceJournal => Body::Journal(journal::build(&mut tx, owner, from, query.to).await?),
            ReportKind::Payments => Body::Payments(payments::build(&mut tx, owner, from, query.to).await?),
            ReportKind::Ageing => Body::Ageing(ageing::build(&mut tx, owner, query.to).await?),
            ReportKind::Tax => Body::Tax(tax::build(&mut tx, owner, from, query.to).await?),
        };
        Ok(Report {
            kind: query.kind,
            from: query.from,
            to: query.to,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kind_is_not_found() {
        assert!(matches!(
            ReportQuery::parse("balance", Some("2025-01-01"), Some("2025-01-31"), None),
            Err(EngineError::NotFound(_))
        ));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let Err(EngineError::Invalid(errors)) =
            ReportQuery::parse("tax", Some("2025-1-1"), Some("2025-02-30"), Some("xml"))
        else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["from", "to", "format"]);
    }

    #[test]
    fn from_must_not_follow_to_and_ageing_needs_no_from() {
        assert!(ReportQuery::parse("payments", Some("2025-03-02"), Some("2025-03-01"), None).is_err());
        assert!(ReportQuery::parse("payments", None, Some("2025-03-01"), None).is_err());
        let ageing = ReportQuery::parse("ageing", None, Some("2025-03-01"), Some("csv")).unwrap();
        assert_eq!(ageing.from, None);
        assert_eq!(ageing.format, ReportFormat::Csv);
    }
}
