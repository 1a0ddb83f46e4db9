//! Outbox delivery and queued invoice PDFs on the real clock: `classbill worker`, and in-process in `serve` and
//! `demo` unless `--no-worker` is given.

use std::time::Duration;

use classbill_engine::Engine;
use classbill_engine::notifications::{DeliveryConfig, DeliveryReport};
use jiff::Timestamp;

/// Pause between delivery passes; a pass itself sends everything that is due.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Delivers due outbox messages and renders ready PDFs until the task is dropped.
pub(crate) async fn deliver_forever(engine: Engine, config: DeliveryConfig) {
    loop {
        match engine.deliver_outbox(&config, Timestamp::now()).await {
            Ok(report) if report != DeliveryReport::default() => tracing::info!(
                sent = report.sent,
                retried = report.retried,
                dead = report.dead,
                "notifications delivered"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "notification delivery pass failed"),
        }
        match engine.render_queued_pdfs(Timestamp::now()).await {
            Ok(0) => {}
            Ok(rendered) => tracing::info!(rendered, "invoice PDFs rendered"),
            Err(error) => tracing::error!(%error, "PDF rendering pass failed"),
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `classbill worker`: delivery only, until interrupted.
pub(crate) async fn run(engine: Engine, config: DeliveryConfig) {
    eprintln!("delivering notifications; stop with Ctrl-C");
    tokio::select! {
        () = deliver_forever(engine, config) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
