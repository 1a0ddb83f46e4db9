//! `classbill purge`: data retention from the command line, the same use case `POST /api/v1/purges` runs for an
//! administrator. Each period is purged in its own transaction, so an interrupted purge can simply be run again.

use classbill_engine::{Actor, Engine};
use jiff::Timestamp;
use jiff::civil::Date;

#[derive(clap::Args)]
pub struct PurgeArgs {
    /// Purge every closed, fully settled period that ends by the start of this date (YYYY-MM-DD) in its
    /// party's time zone.
    #[arg(long, required_unless_present = "period")]
    before: Option<Date>,
    /// Purge only this period; one that is not closed or not settled is refused and nothing changes.
    #[arg(long)]
    period: Option<i64>,
    /// The instant the purge acts at (RFC 3339); default now. `--before` may not lie after its date.
    #[arg(long)]
    as_of: Option<Timestamp>,
}

pub async fn run(engine: &Engine, args: PurgeArgs) -> anyhow::Result<()> {
    let now = args.as_of.unwrap_or_else(Timestamp::now);
    let actor = Actor::system();
    let summary = match (args.period, args.before) {
        (Some(id), before) => engine.purge_period_detail(&actor, id, before, now).await,
        (None, Some(before)) => engine.purge_xdr_detail(&actor, before, now).await,
        (None, None) => anyhow::bail!("give --before DATE or --period ID"),
    }
    .map_err(crate::explain)?;
    println!(
        "periods purged {}, left unsettled {}; records removed {}, summary records {}",
        summary.periods_purged, summary.periods_unsettled, summary.records_removed, summary.summary_records
    );
    Ok(())
}
