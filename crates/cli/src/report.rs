//! `classbill report`: an accounting export of the whole installation on standard output, the same document
//! `GET /api/v1/reports/{kind}` answers an administrator.

use anyhow::Context;
use clap::ValueEnum;
use classbill_engine::reports::{ReportFormat, ReportQuery};
use classbill_engine::{Actor, Engine};

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    InvoiceJournal,
    Payments,
    Ageing,
    Tax,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Json,
    Csv,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Which export.
    #[arg(value_enum)]
    kind: KindArg,
    /// First local date of the range (YYYY-MM-DD); not needed for ageing.
    #[arg(long)]
    from: Option<String>,
    /// Last local date of the range (YYYY-MM-DD), inclusive; the reference date of the ageing.
    #[arg(long)]
    to: String,
    #[arg(long, value_enum, default_value = "json")]
    format: FormatArg,
}

pub async fn run(engine: &Engine, args: ReportArgs) -> anyhow::Result<()> {
    let kind = args
        .kind
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let format = match args.format {
        FormatArg::Json => "json",
        FormatArg::Csv => "csv",
    };
    let query =
        ReportQuery::parse(&kind, args.from.as_deref(), Some(&args.to), Some(format)).map_err(crate::explain)?;
    let report = engine.report(&Actor::system(), &query).await.map_err(crate::explain)?;
    match query.format {
        ReportFormat::Json => {
            let document = report.document().map_err(crate::explain)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&document).context("cannot write the report")?
            );
        }
        ReportFormat::Csv => print!("{}", report.csv()),
    }
    Ok(())
}
