//! The batches of one import share what they have read of parties and periods ([`IngestMemo`]) and read it again
//! when a party or a period was written in between: a record of a period that was closed between two batches
//! still joins the open period as late (§5.1), and on PostgreSQL a change still uncommitted while one batch ran
//! is seen by the next; a period removed in between is not written into. On PostgreSQL a write that grows the periods table by half or more
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
        let party = app.utc_customer("Ilse", "2026-07-01T00:00:00Z").await;
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

/// The party's first period: its id and bounds.
async fn first_period(app: &TestApp, party: i64) -> (i64, i64, i64) {
    let mut tx = app.engine.store.read().await.expect("read");
    tx.fetch_one(
        "SELECT id, start_at, end_at FROM billing_periods WHERE party_id = $1 ORDER BY start_at LIMIT 1",
        vec![party.into()],
    )
    .await
    .expect("a period")
}

on_both_backends! {
    async fn a_period_replaced_between_two_batches_is_read_again_and_the_next_record_joins_the_new_one(app) {
        let party = app.utc_customer("Greta", "2026-07-01T00:00:00Z").await;
        let window = ("2026-09-30T00:00:00Z".parse::<Timestamp>().expect("as_of"), Timestamp::now());
        let mut memo = IngestMemo::default();

        // An August record: July is stored too, empty, and the memo holds it, since the batch reaches back to
        // July with another party's record.
        let other = app.utc_customer("Olga", "2026-07-01T00:00:00Z").await;
        let first = [
            import_usage(2, party, "aug-1", "2026-08-10T12:00:00Z"),
            import_usage(3, other, "jul-0", "2026-07-05T12:00:00Z"),
        ];
        let outcome = app.engine.import_xdrs(&Actor::system(), &first, &mut memo, window).await.expect("imported");
        assert_eq!((outcome.accepted, outcome.rejected.len()), (2, 0));
        let (july, start_at, end_at) = first_period(app, party).await;

        // July goes and comes back under another id, as the ledger's writers see any removal of a period.
        let mut tx = app.engine.store.write().await.expect("write");
        classbill_store::xdrs::hold_open_periods(&mut tx).await.expect("held");
        tx.execute("DELETE FROM billing_periods WHERE id = $1", vec![july.into()]).await.expect("removed");
        periods::insert_many(&mut tx, &[NewPeriod { party_id: party, start_at, end_at }], 0).await.expect("made");
        tx.commit().await.expect("committed");
        let (replacement, _, _) = first_period(app, party).await;
        assert_ne!(replacement, july);

        // The records of a write name only the periods it read under the lock or knows unchanged: the removed
        // July is not among them.
        let second = [import_usage(4, party, "jul-1", "2026-07-15T12:00:00Z")];
        let outcome = app.engine.import_xdrs(&Actor::system(), &second, &mut memo, window).await.expect("imported");
        assert_eq!((outcome.accepted, outcome.rejected.len()), (1, 0), "{:?}", outcome.rejected);
        let stored = record(app, party, "jul-1").await;
        assert_eq!(stored["period_id"], json!(replacement), "{}: {stored}", app.backend);
    }
}

/// Sets the party's currency in a transaction of its own, and answers it uncommitted.
async fn change_currency(app: &TestApp, party: i64, currency: &str) -> classbill_store::Tx {
    let mut tx = app.engine.store.write().await.expect("write");
    tx.execute(
        "UPDATE parties SET currency = $1 WHERE id = $2",
        vec![currency.into(), party.into()],
    )
    .await
    .expect("currency changed");
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_party_change_open_while_a_batch_ran_is_seen_by_the_next_batch() {
    let app = TestApp::start(Backend::Postgres).await;
    let party = app.utc_customer("Hanna", "2026-07-01T00:00:00Z").await;
    let window = (
        "2026-09-30T00:00:00Z".parse::<Timestamp>().expect("as_of"),
        Timestamp::now(),
    );
    let mut memo = IngestMemo::default();
    let import = async |memo: &mut IngestMemo, external_id: &str| {
        let rows = [import_usage(2, party, external_id, "2026-08-10T12:00:00Z")];
        app.engine
            .import_xdrs(&Actor::system(), &rows, memo, window)
            .await
            .expect("import ran")
    };

    let first = import(&mut memo, "a-1").await;
    assert_eq!((first.accepted, first.rejected.len()), (1, 0));

    // Committed after the second batch began: that batch cannot see it, but the third must.
    let open = change_currency(&app, party, "USD").await;
    let second = import(&mut memo, "a-2").await;
    assert_eq!(
        (second.accepted, second.rejected.len()),
        (1, 0),
        "the change is not committed yet"
    );
    open.commit().await.expect("committed");

    let third = import(&mut memo, "a-3").await;
    assert_eq!(
        third.accepted, 0,
        "the EUR record of a USD party is refused: {:?}",
        third.rejected
    );
    assert!(third.rejected[0].reason.contains("currency"), "{:?}", third.rejected);

    // Committed between two batches, and the log emptied meanwhile: still seen.
    change_currency(&app, party, "EUR")
        .await
        .commit()
        .await
        .expect("committed");
    classbill_store::billing_changes::prune(&app.engine.store)
        .await
        .expect("pruned");
    let fourth = import(&mut memo, "a-4").await;
    assert_eq!(
        (fourth.accepted, fourth.rejected.len()),
        (1, 0),
        "{:?}",
        fourth.rejected
    );
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
    let party = app.utc_customer("Greta", "2026-01-01T00:00:00Z").await;
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
