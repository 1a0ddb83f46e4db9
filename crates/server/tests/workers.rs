//! How workers take and share queued runs (interfaces.md `classbill worker`), on both backends: a queued run
//! is taken once, the participants are listed with their counts, and a participant whose lease lapsed is
//! taken over so that the run completes. The processes themselves are in `crates/cli/tests/workers.rs`.

mod support;

use classbill_engine::{Actor, EngineError};
use classbill_store::run_workers::{self, RunKind};
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::json;
use support::TestApp;

/// March of the §7.1 customer is due then.
const AS_OF: &str = "2025-04-01T04:00:00Z";

fn at(text: &str) -> Timestamp {
    text.parse().expect("instant")
}

/// The §7.1 customer, February billed and March booked, so that a run at [`AS_OF`] has one period to close.
async fn one_due_period(app: &TestApp) -> i64 {
    app.section_7_1_february().await.0
}

async fn run_view(app: &TestApp, id: i64) -> serde_json::Value {
    let run = app.get(&format!("/api/v1/billing-runs/{id}"), &app.admin).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    run.body
}

on_both_backends! {
    async fn a_queued_run_is_taken_by_one_worker_and_never_started_twice(app) {
        one_due_period(app).await;
        let now = at("2025-04-02T00:00:00Z");
        let run = app.engine.request_billing_run(&Actor::system(), at(AS_OF), now).await.expect("queued");
        assert_eq!(run.status, "queued");
        let share = app.engine.work_on_runs("worker-a", || now).await.expect("poll").expect("a run to work on");
        assert_eq!((share.kind, share.run_id), ("billing", run.id));
        assert!(share.error.is_none(), "{:?}", share.error);
        // Nothing is left to take or join, and the finished run cannot be started again.
        assert!(app.engine.work_on_runs("worker-b", || now).await.expect("poll").is_none());
        match app.engine.execute_billing_run(run.id, || now).await {
            Err(EngineError::Conflict { .. }) => {}
            other => panic!("{}: a taken run is not started again: {other:?}", app.backend),
        }
        match app.engine.execute_billing_run(run.id + 1000, || now).await {
            Err(EngineError::NotFound(_)) => {}
            other => panic!("{}: an unknown run is not found: {other:?}", app.backend),
        }
        let view = run_view(app, run.id).await;
        assert_eq!(view["status"], "completed", "{view}");
        assert_eq!(view["periods_closed"], 1, "{view}");
        assert_eq!(view["invoices_issued"], 1, "{view}");
        let workers = view["workers"].as_array().expect("workers");
        assert_eq!(workers.len(), 1, "{view}");
        assert_eq!(workers[0]["worker"], "worker-a");
        assert_eq!(workers[0]["status"], "finished");
        assert_eq!(workers[0]["periods_closed"], 1);
        assert_eq!(workers[0]["invoices_issued"], 1);
    }
}

on_both_backends! {
    async fn a_participant_whose_lease_lapsed_is_taken_over_and_the_run_completes(app) {
        let party = one_due_period(app).await;
        let now = at("2025-04-02T00:00:00Z");
        let run = app.engine.request_billing_run(&Actor::system(), at(AS_OF), now).await.expect("queued");
        // A worker takes the run and dies at once: its lease lapses a minute later and it never reports.
        let mut tx = app.engine.store.write().await.expect("write");
        let now_us = classbill_store::instants::to_micros(now);
        let minute = 60_000_000;
        let dead = run_workers::take_queued(&mut tx, RunKind::Billing, "worker-dead", now_us, now_us + minute)
            .await
            .expect("taken")
            .expect("the queued run");
        tx.commit().await.expect("commit");
        assert_eq!(dead.run_id, run.id);

        // A second worker joins while the first one's lease still holds: it does the work, but the run waits.
        let share = app.engine.work_on_runs("worker-b", || now).await.expect("poll").expect("joined");
        assert_eq!(share.run_id, run.id);
        let view = run_view(app, run.id).await;
        assert_eq!(view["status"], "running", "{view}");
        assert_eq!(app.invoices_of(party).await.len(), 2, "February's and March's");
        // It does not join again while nobody's lease has lapsed.
        assert!(app.engine.work_on_runs("worker-b", || now).await.expect("poll").is_none());

        // Once the lease has lapsed, the next poll takes the dead worker's share over and the run completes.
        let later = now.checked_add(SignedDuration::from_mins(2)).expect("instant");
        let share = app.engine.work_on_runs("worker-b", || later).await.expect("poll").expect("took over");
        assert_eq!(share.run_id, run.id);
        let view = run_view(app, run.id).await;
        assert_eq!(view["status"], "completed", "{view}");
        let statuses: Vec<(&str, &str)> = view["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .map(|w| (w["worker"].as_str().expect("name"), w["status"].as_str().expect("status")))
            .collect();
        assert_eq!(
            statuses,
            [("worker-dead", "lapsed"), ("worker-b", "finished"), ("worker-b", "finished")],
            "{view}"
        );
        assert_eq!(view["invoices_issued"], 1, "{view}");
        assert_eq!(app.invoices_of(party).await.len(), 2, "March's invoice is issued once");
    }
}

on_both_backends! {
    async fn a_queued_collection_run_is_taken_by_a_worker(app) {
        let now = at("2025-04-02T00:00:00Z");
        let run = app.engine.request_collection_run(&Actor::system(), at(AS_OF), now).await.expect("queued");
        let share = app.engine.work_on_runs("worker-a", || now).await.expect("poll").expect("a run to work on");
        assert_eq!((share.kind, share.run_id), ("collection", run.id));
        let view = app.get(&format!("/api/v1/collection-runs/{}", run.id), &app.admin).await;
        assert_eq!(view.body["status"], json!("completed"), "{}", view.text);
        assert!(app.engine.work_on_runs("worker-b", || now).await.expect("poll").is_none());
    }
}
