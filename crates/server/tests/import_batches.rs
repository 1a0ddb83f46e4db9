//! The batches of one import share what they have read of parties and periods ([`IngestMemo`]) and read it again
//! when a party or a period was written in between: a record of a period that was closed between two batches
//! still joins the open period as late (§5.1). On PostgreSQL a write that grows the periods table by half or more
//! refreshes its statistics, so that a fresh installation's first import is not planned as if it were empty.

mod support;

use classbill_engine::{Actor, IngestMemo};
use classbill_store::periods::{self, NewPeriod};
use classbill_testkit::Backend;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, import_usage};

async fn record(app: &TestApp, party: i64, external_id: &str) -> Value {
    let answer = app.get(&format!("/api/v1/xdrs?party_id={party}"), &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let items = answer.body["items"].as_array().expect("items");
    items
        .iter()
        .find(|x| x["external_id"] == json!(external_id))
        .cloned()
        .unwrap_or_else(|| panic!("{}: {external_id} is not stored", app.backend))
}

on_both_backends! {
    async fn a_period_closed_between_two_batches_sends_the_next_records_to_the_open_period(app) {
        let answer = app
            .post(
                "/api/v1/customers",
                &app.admin,
                json!({"name": "Ilse", "currency": "EUR", "time_zone": "UTC",
                       "activated_at": "2026-07-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let party = answer.body["id"].as_i64().expect("customer id");
        let window = ("2026-09-30T00:00:00Z".parse::<Timestamp>().expect("as_of"), Timestamp::now());
        let mut memo = IngestMemo::default();

        let first = [import_usage(2, party, "aug-1", "2026-08-10T12:00:00Z")];
        let outcome = app.engine.import_xdrs(&Actor::system(), &first, &mut memo, window).await.expect("imported");
        assert_eq!((outcome.accepted, outcome.rejected.len()), (1, 0));
        let august = record(app, party, "aug-1").await;
        assert_eq!(august["late"], json!(false));

        app.bill("2026-09-30T00:00:00Z").await;

        let second = [import_usage(3, party, "aug-2", "2026-08-20T12:00:00Z")];
        let outcome = app.engine.import_xdrs(&Actor::system(), &second, &mut memo, window).await.expect("imported");
        assert_eq!((outcome.accepted, outcome.rejected.len()), (1, 0));
        let late = record(app, party, "aug-2").await;
        assert_eq!(late["late"], json!(true), "{}: {late}", app.backend);
        assert_ne!(late["period_id"], august["period_id"], "the closed August period takes no more records");
    }
}

/// What PostgreSQL's planner believes the periods table holds: -1 until it is first analyzed.
async fn planned_periods(tx: &mut classbill_store::Tx) -> f64 {
    let (known,): (f64,) = tx
        .fetch_one(
            "SELECT CAST(reltuples AS DOUBLE PRECISION) FROM pg_class WHERE oid = 'billing_periods'::regclass",
            Vec::new(),
        )
        .await
        .expect("reltuples");
    known
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_write_that_grows_the_periods_by_half_refreshes_their_statistics() {
    let app = TestApp::start(Backend::Postgres).await;
    let answer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": "Greta", "currency": "EUR", "time_zone": "UTC", "activated_at": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let party = answer.body["id"].as_i64().expect("customer id");
    let hours = |from: i64, count: i64| -> Vec<NewPeriod> {
        (from..from + count)
            .map(|hour| NewPeriod {
                party_id: party,
                start_at: hour * 3_600_000_000,
                end_at: (hour + 1) * 3_600_000_000,
            })
            .collect()
    };
    let mut tx = app.engine.store.write().await.expect("write");
    let before = planned_periods(&mut tx).await;

    periods::insert_many(&mut tx, &hours(0, 10), 0).await.expect("stored");
    assert_eq!(
        planned_periods(&mut tx).await,
        before,
        "ten periods leave the statistics alone"
    );

    periods::insert_many(&mut tx, &hours(10, 1_500), 0)
        .await
        .expect("stored");
    let after = planned_periods(&mut tx).await;
    assert!(
        after >= 1_510.0,
        "the planner counts the new periods: {before} -> {after}"
    );
    tx.commit().await.expect("committed");
}
