//! Every record of the ledger names a party and a billing period that exist. The ledger has no foreign keys
//! (migrations 0029 and 0034): a write of records takes, on PostgreSQL, an advisory lock shared before it reads
//! its periods (the engine's own records check theirs again), so a termination that removes a party's empty
//! future periods waits for a write into one of them and then keeps it. The same lock makes a close's freeze wait
//! for a write into the period it freezes, whose record is then billed rather than left behind in a closed period.
//! Transactions take their parties' claims before the lock, and one that holds it exclusively takes it before it
//! writes, so none waits for another in a circle.

mod support;

use std::time::Duration;

use classbill_store::close::{EngineXdr, Held, claim_parties, insert_engine_xdrs};
use classbill_store::xdrs::{self, NewXdr, insert_many};
use classbill_store::{StoreError, args, collections};
use classbill_testkit::Backend;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, units};

/// A customer billed monthly in UTC from January 2026, in the class `class_id` (the default class when null), with
/// one record in April, so that its periods from January to April are stored; answers its id and the ids of those
/// periods in order.
async fn customer_with_periods(app: &TestApp, class_id: Value) -> (i64, Vec<i64>) {
    let mut customer =
        json!({"name": "Jana", "currency": "EUR", "time_zone": "UTC", "activated_at": "2026-01-01T00:00:00Z"});
    if !class_id.is_null() {
        customer["class_id"] = class_id;
    }
    let answer = app.post("/api/v1/customers", &app.admin, customer).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let party = answer.body["id"].as_i64().expect("customer id");
    let april = json!({"party_id": party, "external_id": "apr", "occurred_at": "2026-04-10T00:00:00Z",
                       "kind": "usage", "service": "voice", "quantity": "1", "amount": "1"});
    let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [april]})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    (party, periods_of(app, party).await)
}

async fn periods_of(app: &TestApp, party: i64) -> Vec<i64> {
    let mut tx = app.engine.store.read().await.expect("read");
    let rows: Vec<(i64,)> = tx
        .fetch_all(
            "SELECT id FROM billing_periods WHERE party_id = $1 ORDER BY start_at",
            args![party],
        )
        .await
        .expect("periods");
    rows.into_iter().map(|(id,)| id).collect()
}

fn record(party_id: i64, period_id: i64, external_id: &str) -> NewXdr {
    NewXdr {
        party_id,
        period_id,
        occurred_at: 1_772_323_200_000_000, // 2026-03-01T00:00:00Z
        kind: "usage".to_owned(),
        service: "voice".to_owned(),
        rate_code: None,
        description: None,
        quantity: 100_000,
        amount: 100_000,
        external_id: Some(external_id.to_owned()),
        late: false,
    }
}

/// Starts a write of records as the ingest does: the lock first, then the periods it names.
async fn writer_of_records(app: &TestApp) -> classbill_store::Tx {
    let mut writer = app.engine.store.write().await.expect("write");
    xdrs::share_open_periods(&mut writer).await.expect("shared");
    writer
}

on_both_backends! {
    async fn an_engine_record_naming_a_period_that_does_not_exist_is_refused(app) {
        let (party, periods) = customer_with_periods(app, Value::Null).await;
        let missing = periods.iter().max().expect("periods") + 1_000;
        let mut tx = app.engine.store.write().await.expect("write");
        let fee = EngineXdr {
            kind: "fee".to_owned(),
            service: "late_fee".to_owned(),
            amount: 100_000,
            ..EngineXdr::template(party, missing, 1_772_323_200_000_000, "nowhere".to_owned())
        };
        let refused = insert_engine_xdrs(&mut tx, &[fee], 0).await;
        match refused {
            Err(StoreError::Removed(what)) => assert_eq!(what, format!("billing_periods row {missing}")),
            other => panic!("{}: {other:?}", app.backend),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_termination_waits_for_a_write_into_an_empty_period_and_keeps_it() {
    let app = TestApp::start(Backend::Postgres).await;
    let (party, periods) = customer_with_periods(&app, Value::Null).await;
    let [_, february, march, april] = periods[..] else {
        panic!("four periods expected, found {periods:?}");
    };

    // A writer puts a record into the empty March period and holds its transaction open.
    let mut writer = writer_of_records(&app).await;
    insert_many(&mut writer, &[record(party, march, "mar")], 0)
        .await
        .expect("stored");

    // Meanwhile the party is terminated in mid-February: its later periods that are open and empty go.
    let store = app.engine.store.clone();
    let termination = tokio::spawn(async move {
        let mut tx = store.write().await.expect("write");
        let mid_february = Timestamp::from_second(1_771_113_600).expect("instant"); // 2026-02-15
        collections::end_periods_at(&mut tx, party, mid_february.as_microsecond())
            .await
            .expect("ended");
        tx.commit().await.expect("committed");
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !termination.is_finished(),
        "the termination waits for the write into March"
    );
    writer.commit().await.expect("committed");
    termination.await.expect("termination");

    assert_eq!(
        periods_of(&app, party).await,
        [periods[0], february, march, april],
        "March holds a record now and April held one before, so both stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_close_waits_for_a_write_into_the_period_it_freezes_and_bills_the_record() {
    let app = TestApp::start(Backend::Postgres).await;
    let class = app.invoicing_class(&app.admin, "Invoiced", "EUR", json!({})).await;
    let (party, periods) = customer_with_periods(&app, class["id"].clone()).await;
    let march = periods[2];

    // A writer puts a record into the open March period and holds its transaction open.
    let mut writer = writer_of_records(&app).await;
    let ids = insert_many(&mut writer, &[record(party, march, "mar")], 0)
        .await
        .expect("stored");

    // Meanwhile a billing run closes January to March.
    let engine = app.engine.clone();
    let at: Timestamp = "2026-04-20T00:00:00Z".parse().expect("instant");
    let run = tokio::spawn(async move { engine.run_billing(at, at).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !run.is_finished(),
        "the run waits for the write into March before it freezes March"
    );
    writer.commit().await.expect("committed");
    run.await.expect("the run task").expect("the run");

    let mut tx = app.engine.store.read().await.expect("read");
    let (invoice_id,): (Option<i64>,) = tx
        .fetch_one("SELECT invoice_id FROM xdrs WHERE id = $1", args![ids[0]])
        .await
        .expect("the record");
    let (status,): (String,) = tx
        .fetch_one("SELECT status FROM billing_periods WHERE id = $1", args![march])
        .await
        .expect("March");
    assert_eq!(status, "closed");
    assert!(invoice_id.is_some(), "March's invoice bills the record");
}

/// How many transactions on the test's database wait for an advisory lock (the ledger's open-periods lock is the
/// only one); the cluster serves other tests' databases too.
async fn waiting_for_the_ledger_lock(app: &TestApp) -> i64 {
    let mut tx = app.engine.store.read().await.expect("read");
    let (waiting,): (i64,) = tx
        .fetch_one(
            "SELECT COUNT(*) FROM pg_locks
             WHERE locktype = 'advisory' AND NOT granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            vec![],
        )
        .await
        .expect("pg_locks");
    waiting
}

async fn until_waiting_for_the_ledger_lock(app: &TestApp) {
    for _ in 0..200 {
        if waiting_for_the_ledger_lock(app).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing waited for the ledger's lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_collection_run_that_terminates_takes_the_ledger_lock_before_it_writes() {
    let app = TestApp::start(Backend::Postgres).await;
    let class = app
        .invoicing_class(
            &app.admin,
            "Terminating",
            "EUR",
            json!({"regular_invoices": {"collection": {"terminate_after_days": 1}}}),
        )
        .await;
    let (party, _) = customer_with_periods(&app, class["id"].clone()).await;
    let march = json!({"party_id": party, "external_id": "mar", "occurred_at": "2026-03-10T00:00:00Z",
                       "kind": "usage", "service": "voice", "quantity": "1", "amount": "5"});
    let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [march]})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    app.bill("2026-04-20T00:00:00Z").await;
    let invoice = app
        .invoices_of(party)
        .await
        .into_iter()
        .find(|i| units(&i["open_amount"]) > 0);
    let invoice_id = invoice.expect("the March invoice")["id"].as_i64().expect("id");

    // A write of records holds the lock shared while the run fires the invoice's overdue event and, a day
    // later, the party's termination.
    let mut writer = writer_of_records(&app).await;
    let engine = app.engine.clone();
    let at: Timestamp = "2026-05-20T00:00:00Z".parse().expect("instant");
    let run = tokio::spawn(async move { engine.run_collections(at, at).await });
    until_waiting_for_the_ledger_lock(&app).await;

    // The run waits before it has written anything: the writer can still take the invoice the overdue event
    // updates. Asked for the lock only at the termination, the run would hold that invoice already, and a writer
    // waiting for it would deadlock with the run.
    let free: Result<Vec<(i64,)>, _> = writer
        .fetch_all(
            "SELECT id FROM invoices WHERE id = $1 FOR UPDATE NOWAIT",
            args![invoice_id],
        )
        .await;
    assert!(free.is_ok(), "the invoice is free while the run waits: {free:?}");
    writer.rollback().await.expect("rolled back");
    let summary = run.await.expect("the run task").expect("the run");
    assert_eq!(summary.events_fired, 2, "overdue and termination: {summary:?}");

    let customer = app.get(&format!("/api/v1/customers/{party}"), &app.admin).await;
    assert_eq!(customer.body["status"], json!("closed"), "{}", customer.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_payment_claims_its_party_before_it_takes_the_ledger_lock() {
    let app = TestApp::start(Backend::Postgres).await;
    let (party, _) = customer_with_periods(&app, Value::Null).await;

    // A close holds the party's claim, as it does while it waits for the lock exclusively.
    let mut close = app.engine.store.write().await.expect("write");
    let claimed = claim_parties(&mut close, &[party], Held::Wait).await.expect("claimed");
    assert_eq!(claimed, [party]);
    let mut ledger = app.engine.store.write().await.expect("write");
    xdrs::hold_open_periods(&mut ledger).await.expect("held");

    // The payment waits for the claim without holding the ledger's lock shared, so the close could take it.
    let request = reqwest::Client::new()
        .post(format!("{}/api/v1/payments", app.base))
        .bearer_auth(&app.admin)
        .json(&json!({"party_id": party, "amount": "1", "currency": "EUR", "received_at": "2026-04-11T00:00:00Z"}));
    let payment = tokio::spawn(async move {
        let answer = request.send().await.expect("answered");
        (answer.status(), answer.text().await.expect("body"))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!payment.is_finished(), "the payment waits for the party's claim");
    assert_eq!(
        waiting_for_the_ledger_lock(&app).await,
        0,
        "the payment does not queue for the ledger's lock before it has its party"
    );
    ledger.commit().await.expect("released");
    close.commit().await.expect("released");
    let (status, body) = payment.await.expect("the payment task");
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
