//! The work of `classbill worker` on the real clock: queued billing and collection runs (shared with the other
//! workers of the database, see `classbill_engine::workers`), queued invoice PDFs and outbox delivery. `serve`
//! and `demo` do the same in-process unless `--no-worker` is given. Besides executing the runs requested over
//! their own API at once, they then take runs other processes queued and join runs whose participants died, so
//! that a run left `running` by a killed server is finished by the same server started again.

use std::time::Duration;

use classbill_engine::Engine;
use classbill_engine::notifications::{DeliveryConfig, DeliveryReport};
use classbill_engine::workers::worker_name;
use jiff::Timestamp;

/// Pause between passes that found nothing to do; a pass itself does everything that is due.
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

/// Takes or joins queued and running billing and collection runs until the task is dropped. After a share of a
/// run it looks again at once: another run may be waiting, or a participant of this one may have died. A run
/// this process already works on (one its API request started) is never joined a second time by it: the
/// participants are named by host and process id.
pub(crate) async fn run_queued_forever(engine: Engine) {
    let worker = worker_name();
    loop {
        match engine.work_on_runs(&worker, Timestamp::now).await {
            Ok(Some(share)) => {
                match share.error {
                    None => tracing::info!(kind = share.kind, run = share.run_id, "share of a run done"),
                    Some(error) => {
                        tracing::error!(kind = share.kind, run = share.run_id, %error, "share of a run failed")
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "looking for queued runs failed"),
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `classbill worker`: runs, PDFs and delivery side by side, until interrupted.
pub(crate) async fn run(engine: Engine, config: DeliveryConfig) {
    eprintln!("executing queued runs and delivering notifications; stop with Ctrl-C");
    tokio::select! {
        () = deliver_forever(engine.clone(), config) => {}
        () = run_queued_forever(engine) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
