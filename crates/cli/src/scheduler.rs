//! The real-clock trigger of `classbill serve` (interfaces.md): once a minute it makes the xDR partitions of the
//! months ahead and empties the log of billing changes that no reader needs any more (PostgreSQL), closes every period due now and fires every collection event due now, through the
//! same engine methods as `classbill bill-run`, `classbill collections` and `POST /billing-runs`,
//! `POST /collection-runs`. Concurrent servers on one PostgreSQL database split the work between them
//! (customer-classes §5.3).

use std::time::Duration;

use classbill_engine::Engine;
use classbill_store::{billing_changes, instants, xdr_partitions};
use jiff::Timestamp;

/// How often the scheduler looks for due periods.
const TICK: Duration = Duration::from_secs(60);

/// Runs until the task is dropped; a failed pass is logged and the next tick tries again.
pub async fn run(engine: Engine) {
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = Timestamp::now();
        if let Err(error) = xdr_partitions::ensure_ahead(&engine.store, instants::to_micros(now)).await {
            tracing::error!(%error, "making the xDR partitions of the months ahead failed");
        }
        if let Err(error) = billing_changes::prune(&engine.store).await {
            tracing::error!(%error, "emptying the log of billing changes failed");
        }
        match engine.run_billing(now, now).await {
            Ok(summary) if summary.periods_due > 0 => tracing::info!(
                closed = summary.periods_closed,
                failed = summary.periods_failed,
                invoices = summary.invoices_issued,
                "scheduled close"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "scheduled close failed"),
        }
        match engine.run_collections(now, now).await {
            Ok(summary) if summary.events_due > 0 => tracing::info!(
                fired = summary.events_fired,
                dropped = summary.events_dropped,
                "scheduled collection run"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "scheduled collection run failed"),
        }
    }
}
