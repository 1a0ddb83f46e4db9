//! The ledger partitioned by month on PostgreSQL, with its idempotency keys in `xdr_keys` (issue 9, item 3):
//! records land in the partition of their UTC month, a stray instant in the default partition, and a key is
//! stored once whichever way it arrives (the API, an import batch, a close step), on both backends.
//!
//! The months each story writes are its own: the process remembers which months have a partition, so two
//! stories writing the same month into two databases would see only the first one create it.
//!
//! Partitions are made before a write, in a transaction of their own, never inside the write: the story of
//! eight batches racing into a month without a partition checks that they all land and none deadlocks.

mod support;

use classbill_engine::{Actor, ImportRow, IngestMemo};
use classbill_store::close::{EngineXdr, insert_engine_xdrs};
use classbill_store::statistics::{MeasuredXdr, insert_measured};
use classbill_store::xdrs::{NewXdr, find_by_keys, insert_many};
use classbill_store::{Backend, retention, xdr_partitions};
use classbill_testkit::Backend as TestBackend;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, import_usage};
use tokio::task::JoinSet;

const XDRS: &str = "/api/v1/xdrs";

fn usage(party_id: i64, external_id: &str, occurred_at: &str) -> Value {
    json!({"party_id": party_id, "external_id": external_id, "occurred_at": occurred_at, "kind": "usage",
           "service": "voice", "quantity": "1", "amount": "0.5", "currency": "EUR"})
}

/// Posts one batch and answers the stored items.
async fn post(app: &TestApp, items: Vec<Value>) -> Vec<Value> {
    let answer = app.post(XDRS, &app.admin, json!({ "xdrs": items })).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

async fn count(app: &TestApp, sql: &'static str, party: i64) -> i64 {
    let mut tx = app.engine.store.read().await.expect("read");
    let (n,): (i64,) = tx.fetch_one(sql, classbill_store::args![party]).await.expect(sql);
    n
}

async fn records_of(app: &TestApp, party: i64) -> i64 {
    count(app, "SELECT COUNT(*) FROM xdrs WHERE party_id = $1", party).await
}

/// On PostgreSQL every stored key has its row in `xdr_keys` naming the record that carries it; SQLite keeps
/// the key on the record only.
async fn assert_keys_match_records(app: &TestApp, party: i64) {
    if app.backend != TestBackend::Postgres {
        return;
    }
    let keyed = count(
        app,
        "SELECT COUNT(*) FROM xdrs WHERE party_id = $1 AND external_id IS NOT NULL",
        party,
    )
    .await;
    let matched = count(
        app,
        "SELECT COUNT(*) FROM xdr_keys k JOIN xdrs x
           ON x.id = k.xdr_id AND x.party_id = k.party_id AND x.external_id = k.external_id
         WHERE k.party_id = $1",
        party,
    )
    .await;
    let keys = count(app, "SELECT COUNT(*) FROM xdr_keys WHERE party_id = $1", party).await;
    assert_eq!((matched, keys), (keyed, keyed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_records_land_in_the_partition_of_their_month_and_stray_ones_in_the_default() {
    let app = TestApp::start(TestBackend::Postgres).await;
    let party = app.utc_customer("Months", "2026-05-01T00:00:00Z").await;
    let items = post(
        &app,
        vec![
            usage(party, "m-1", "2026-05-31T23:59:59Z"),
            usage(party, "m-2", "2026-06-01T00:00:00Z"),
            usage(party, "m-3", "2026-06-20T08:00:00Z"),
        ],
    )
    .await;
    let period_id = items[0]["period_id"].as_i64().expect("period");

    // Two centuries ahead of the write: no partition of its own, so the default one takes it.
    let now = Timestamp::now().as_microsecond();
    let mut tx = app.engine.store.write().await.expect("write");
    let far = NewXdr {
        party_id: party,
        period_id,
        occurred_at: 7_258_118_400_000_000, // 2200-01-01T00:00:00Z
        kind: "usage".to_owned(),
        service: "voice".to_owned(),
        rate_code: None,
        description: None,
        quantity: 100_000,
        amount: 1,
        external_id: Some("m-far".to_owned()),
        late: false,
    };
    insert_many(&mut tx, &[far], now).await.expect("stored");
    tx.commit().await.expect("commit");

    let mut tx = app.engine.store.read().await.expect("read");
    let placed: Vec<(String, String)> = tx
        .fetch_all(
            "SELECT external_id, CAST(CAST(tableoid AS regclass) AS TEXT) FROM xdrs WHERE party_id = $1
             ORDER BY occurred_at",
            classbill_store::args![party],
        )
        .await
        .expect("placement");
    let placed: Vec<(&str, &str)> = placed.iter().map(|(k, t)| (k.as_str(), t.as_str())).collect();
    assert_eq!(
        placed,
        [
            ("m-1", "xdrs_2026_05"),
            ("m-2", "xdrs_2026_06"),
            ("m-3", "xdrs_2026_06"),
            ("m-far", "xdrs_default")
        ]
    );
    drop(tx);
    assert_keys_match_records(&app, party).await;

    // A month whose rows already sit in the default partition stays there: a later write of that month
    // neither fails nor moves them.
    let mut tx = app.engine.store.write().await.expect("write");
    tx.execute(
        "INSERT INTO xdrs_default (id, party_id, period_id, occurred_at, kind, service, quantity, amount, created_at)
         VALUES (nextval(pg_get_serial_sequence('xdrs', 'id')), $1, $2, 1785542400000000, 'usage', 'voice', 1, 1, 0)",
        classbill_store::args![party, period_id],
    )
    .await
    .expect("a row of August 2026 written straight into the default partition");
    tx.commit().await.expect("commit");
    post(&app, vec![usage(party, "m-4", "2026-08-02T00:00:00Z")]).await;
    let in_default = count(
        &app,
        "SELECT COUNT(*) FROM xdrs_default WHERE party_id = $1 AND occurred_at >= 1785542400000000",
        party,
    )
    .await;
    assert_eq!(in_default, 3, "the far record and both August records");
}

on_both_backends! {
    async fn a_key_sent_again_through_the_api_or_an_import_is_stored_once(app) {
        let party = app.utc_customer("Resend", "2026-02-01T00:00:00Z").await;
        let first = post(app, vec![usage(party, "r-1", "2026-02-03T00:00:00Z"), usage(party, "r-2", "2026-02-04T00:00:00Z")]).await;
        let again = post(app, vec![usage(party, "r-1", "2026-02-03T00:00:00Z"), usage(party, "r-2", "2026-02-04T00:00:00Z")]).await;
        assert_eq!(first, again, "{}: a re-send answers the stored records", app.backend);
        assert_eq!(records_of(app, party).await, 2);

        // Import batches large enough for COPY on PostgreSQL, the second repeating the first and adding one.
        let as_of: Timestamp = "2026-03-01T00:00:00Z".parse().expect("instant");
        let now = Timestamp::now();
        let batch: Vec<ImportRow> = (0..100)
            .map(|i| import_usage(i + 2, party, &format!("i-{i}"), "2026-02-10T00:00:00Z"))
            .collect();
        let mut memo = IngestMemo::default();
        let outcome =
            app.engine.import_xdrs(&Actor::system(), &batch, &mut memo, (as_of, now)).await.expect("imported");
        assert_eq!((outcome.accepted, outcome.rejected.len()), (100, 0));
        let mut repeated = batch.clone();
        repeated.push(import_usage(102, party, "i-100", "2026-02-11T00:00:00Z"));
        let outcome =
            app.engine.import_xdrs(&Actor::system(), &repeated, &mut memo, (as_of, now)).await.expect("imported");
        assert_eq!((outcome.accepted, outcome.rejected.len()), (101, 0));
        assert_eq!(records_of(app, party).await, 103, "{}", app.backend);
        assert_keys_match_records(app, party).await;

        // A write that bypasses the engine's check still cannot store a key twice.
        let period_id = first[0]["period_id"].as_i64().expect("period");
        let mut tx = app.engine.store.write().await.expect("write");
        let twice = NewXdr {
            party_id: party,
            period_id,
            occurred_at: 1_770_681_600_000_000, // 2026-02-10T00:00:00Z
            kind: "usage".to_owned(),
            service: "data".to_owned(),
            rate_code: None,
            description: None,
            quantity: 1,
            amount: 1,
            external_id: Some("i-7".to_owned()),
            late: false,
        };
        let refused = insert_many(&mut tx, &[twice], now.as_microsecond()).await.expect_err("a stored key");
        assert!(refused.is_unique_violation(), "{}: {refused}", app.backend);
        tx.rollback().await.expect("rollback");
        assert_eq!(records_of(app, party).await, 103);
    }
}

on_both_backends! {
    async fn a_repeated_close_step_books_its_keys_once(app) {
        let party = app.utc_customer("Steps", "2026-09-01T00:00:00Z").await;
        let items = post(app, vec![usage(party, "s-0", "2026-09-02T00:00:00Z")]).await;
        let period_id = items[0]["period_id"].as_i64().expect("period");
        let at = 1_790_812_800_000_000; // 2026-10-01T00:00:00Z, the period's end
        let now = Timestamp::now().as_microsecond();
        let tax = |key: &str| EngineXdr {
            kind: "tax".to_owned(),
            service: "vat".to_owned(),
            amount: 19,
            ..EngineXdr::template(party, period_id, at - 1, key.to_owned())
        };
        let measured = MeasuredXdr {
            party_id: party,
            period_id,
            occurred_at: at - 1,
            service: "storage".to_owned(),
            rate_code: "GB".to_owned(),
            quantity: 300_000,
            amount: 7,
            description: "storage".to_owned(),
            external_id: format!("close:{period_id}:S2:storage"),
        };
        for round in 0..2 {
            let mut tx = app.engine.store.write().await.expect("write");
            let booked = insert_engine_xdrs(&mut tx, &[tax("t-1"), tax("t-2"), tax("t-1")], now).await.expect("booked");
            assert_eq!(booked.len(), if round == 0 { 2 } else { 0 }, "{} round {round}", app.backend);
            insert_measured(&mut tx, std::slice::from_ref(&measured), now).await.expect("measured");
            tx.commit().await.expect("commit");
        }
        assert_eq!(records_of(app, party).await, 4);
        assert_keys_match_records(app, party).await;
    }
}

on_both_backends! {
    async fn retention_forgets_the_keys_of_the_records_it_summarises(app) {
        let party = app.utc_customer("Summary", "2026-10-01T00:00:00Z").await;
        let items = post(app, vec![
            usage(party, "d-1", "2026-10-02T00:00:00Z"),
            usage(party, "d-2", "2026-10-03T00:00:00Z"),
            usage(party, "d-3", "2026-10-04T00:00:00Z"),
        ]).await;
        let period_id = items[0]["period_id"].as_i64().expect("period");
        let keys: Vec<(i64, String)> = ["d-1", "d-2", "d-3"].iter().map(|k| (party, (*k).to_owned())).collect();

        let mut tx = app.engine.store.write().await.expect("write");
        let groups = retention::detail_groups(&mut tx, period_id).await.expect("groups");
        assert_eq!(groups.len(), 1);
        let deleted = retention::summarise(&mut tx, period_id, &groups[0], "3 records").await.expect("summarised");
        assert_eq!(deleted, 2);
        assert!(find_by_keys(&mut tx, &keys).await.expect("lookup").is_empty());
        tx.commit().await.expect("commit");
        assert_eq!(records_of(app, party).await, 1);
        assert_keys_match_records(app, party).await;
        if app.engine.store.backend() == Backend::Postgres {
            assert_eq!(count(app, "SELECT COUNT(*) FROM xdr_keys WHERE party_id = $1", party).await, 0);
        }

        // As before the ledger was partitioned, a key retention let go is taken again.
        post(app, vec![usage(party, "d-2", "2026-10-03T00:00:00Z")]).await;
        assert_eq!(records_of(app, party).await, 2);
        assert_keys_match_records(app, party).await;
    }
}

/// The partitions each row of `party` sits in, with their row counts.
async fn placement(app: &TestApp, party: i64) -> Vec<(String, i64)> {
    let mut tx = app.engine.store.read().await.expect("read");
    tx.fetch_all(
        "SELECT CAST(CAST(tableoid AS regclass) AS TEXT), COUNT(*) FROM xdrs WHERE party_id = $1
         GROUP BY tableoid ORDER BY 1",
        classbill_store::args![party],
    )
    .await
    .expect("placement")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_racing_into_a_month_without_partition_all_land() {
    const BATCHES: usize = 8;
    const PER_BATCH: usize = 200;
    let app = TestApp::start(TestBackend::Postgres).await;
    let mut parties = Vec::new();
    for n in 0..BATCHES {
        parties.push(app.utc_customer(&format!("Racer {n}"), "2026-04-01T00:00:00Z").await);
    }
    let mut requests = JoinSet::new();
    for (n, party) in parties.iter().enumerate() {
        let items: Vec<Value> = (0..PER_BATCH)
            .map(|i| {
                usage(
                    *party,
                    &format!("race-{n}-{i}"),
                    &format!("2026-04-{:02}T10:00:00Z", i % 28 + 1),
                )
            })
            .collect();
        let url = format!("{}{XDRS}", app.base);
        let token = app.admin.clone();
        requests.spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "xdrs": items }))
                .send()
                .await
                .expect("request sent");
            (response.status(), response.text().await.unwrap_or_default())
        });
    }
    while let Some(answer) = requests.join_next().await {
        let (status, text) = answer.expect("request task");
        assert_eq!(status, StatusCode::CREATED, "{text}");
    }
    for party in &parties {
        let placed = placement(&app, *party).await;
        let total: i64 = placed.iter().map(|(_, n)| n).sum();
        assert_eq!(
            total,
            i64::try_from(PER_BATCH).expect("small"),
            "party {party}: {placed:?}"
        );
        assert!(
            placed
                .iter()
                .all(|(table, _)| table == "xdrs_2026_04" || table == "xdrs_default"),
            "party {party}: {placed:?}"
        );
        assert_keys_match_records(&app, *party).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_partitions_of_the_months_ahead_are_made_before_any_record() {
    let app = TestApp::start(TestBackend::Postgres).await;
    let now: Timestamp = "2030-01-15T12:00:00Z".parse().expect("instant");
    xdr_partitions::ensure_ahead(&app.engine.store, now.as_microsecond())
        .await
        .expect("partitions made");
    let mut tx = app.engine.store.read().await.expect("read");
    let names: Vec<(String,)> = tx
        .fetch_all(
            "SELECT CAST(c.relname AS TEXT) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = CAST('xdrs' AS regclass) AND c.relname LIKE 'xdrs_2030_%' ORDER BY 1",
            Vec::new(),
        )
        .await
        .expect("partitions");
    let names: Vec<&str> = names.iter().map(|(n,)| n.as_str()).collect();
    assert_eq!(names, ["xdrs_2030_01", "xdrs_2030_02", "xdrs_2030_03", "xdrs_2030_04"]);
}
