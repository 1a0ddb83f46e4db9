//! `classbill purge` run as an operator runs it, on SQLite: the xDR detail of a closed, paid period is
//! summarised with every total kept, a second run changes nothing, and bad requests fail in one sentence
//! without changing anything.

mod common;

use std::path::Path;

use classbill_engine::{Actor, Engine, NewCustomer};
use classbill_store::Store;
use common::{block_on, describe, invoicing_class, run, run_ok};
use jiff::Timestamp;
use serde_json::json;

/// What a purge must keep: Σ amount of the ledger, each invoice's total and open amount; and the record count.
async fn books(url: &str) -> ((i64, Vec<(String, i64, i64)>), i64) {
    let store = Store::connect(url).await.expect("database opens");
    let mut tx = store.read().await.expect("read transaction");
    let (balance, records): (i64, i64) = tx
        .fetch_one("SELECT CAST(SUM(amount) AS BIGINT), COUNT(*) FROM xdrs", Vec::new())
        .await
        .expect("ledger sums");
    let invoices: Vec<(String, i64, i64)> = tx
        .fetch_all(
            "SELECT number, total, open_amount FROM invoices ORDER BY number",
            Vec::new(),
        )
        .await
        .expect("invoices");
    drop(tx);
    store.close().await;
    ((balance, invoices), records)
}

async fn open_period(url: &str) -> i64 {
    let store = Store::connect(url).await.expect("database opens");
    let mut tx = store.read().await.expect("read transaction");
    let (id,): (i64,) = tx
        .fetch_one("SELECT MIN(id) FROM billing_periods WHERE status = 'open'", Vec::new())
        .await
        .expect("an open period");
    drop(tx);
    store.close().await;
    id
}

/// A Berlin customer billed for February (a trunk and three calls) whose invoice is paid in full.
fn billed_and_paid(dir: &Path, url: &str) {
    run_ok(dir, url, &["migrate"]);
    let party = block_on(async {
        let store = Store::connect(url).await.expect("database opens");
        let engine = Engine::new(store.clone());
        let now = Timestamp::now();
        let class = invoicing_class(&engine, "Retained", "19", json!({}), now).await;
        let customer = engine
            .create_customer(
                &Actor::system(),
                NewCustomer {
                    name: "Retained customer".to_owned(),
                    currency: Some("EUR".to_owned()),
                    class_id: Some(class),
                    time_zone: Some("Europe/Berlin".to_owned()),
                    activated_at: Some("2025-01-31T23:00:00Z".parse().expect("instant")),
                    ..NewCustomer::default()
                },
                now,
            )
            .await
            .expect("customer created");
        store.close().await;
        customer.id
    });
    let lines = [
        "party_id,external_id,occurred_at,kind,service,rate_code,description,quantity,amount".to_owned(),
        format!("{party},t-1,2025-02-01T00:00:00+01:00,recurring,sip_trunk,TRUNK-M,,1,42.01681"),
        format!("{party},c-1,2025-02-03T09:00:00+01:00,usage,voice,DE-FIX,,10,1.23456"),
        format!("{party},c-2,2025-02-04T09:00:00+01:00,usage,voice,DE-FIX,,12,2.00001"),
        format!("{party},c-3,2025-02-05T09:00:00+01:00,usage,voice,DE-FIX,,5,0.5"),
    ];
    std::fs::write(dir.join("feb.csv"), lines.join("\n") + "\n").expect("file written");
    run_ok(
        dir,
        url,
        &["import", "xdrs", "feb.csv", "--as-of", "2025-02-20T00:00:00Z"],
    );
    run_ok(dir, url, &["bill-run", "--as-of", "2025-03-01T05:00:00Z"]);
    block_on(async {
        let ((_, invoices), _) = books(url).await;
        assert_eq!(invoices.len(), 1, "{invoices:?}");
        let open = invoices[0].2;
        let store = Store::connect(url).await.expect("database opens");
        let engine = Engine::new(store.clone());
        let amount = format!("{}.{:05}", open / 100_000, open % 100_000);
        engine
            .post_payment(
                &Actor::system(),
                &json!({"party_id": party, "amount": amount, "currency": "EUR",
                        "received_at": "2025-03-10T10:00:00Z"}),
                Timestamp::now(),
            )
            .await
            .expect("payment posted");
        store.close().await;
    });
}

fn stdout_line(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Fails with exit status 1, nothing on stdout and one sentence on stderr containing `reason`.
fn fails_in_one_sentence(dir: &Path, url: &str, args: &[&str], reason: &str) {
    let output = run(dir, url, args);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {}", describe(&output));
    assert_eq!(stdout_line(&output), "", "{args:?}: {}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: {}", describe(&output));
    assert!(lines[0].contains(reason), "{args:?}: {}", describe(&output));
}

#[test]
fn purge_summarises_a_paid_period_once_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("purge.db").display());
    billed_and_paid(dir.path(), &url);
    let (kept, records) = block_on(books(&url));
    let as_of = "2025-06-01T00:00:00Z";

    // Bad requests change nothing.
    fails_in_one_sentence(
        dir.path(),
        &url,
        &["purge", "--before", "2025-07-01", "--as-of", as_of],
        "after the as_of date",
    );
    let open = block_on(open_period(&url)).to_string();
    fails_in_one_sentence(dir.path(), &url, &["purge", "--period", &open], "only closed periods");
    let usage = run(dir.path(), &url, &["purge"]);
    assert_eq!(usage.status.code(), Some(2), "{}", describe(&usage));
    assert_eq!(block_on(books(&url)), (kept.clone(), records));

    // The three calls become one summary record; the ledger sum and the invoice stay as they were.
    let output = run_ok(dir.path(), &url, &["purge", "--before", "2025-03-01", "--as-of", as_of]);
    assert_eq!(
        stdout_line(&output),
        "periods purged 1, left unsettled 0; records removed 2, summary records 1",
        "{}",
        describe(&output)
    );
    assert_eq!(block_on(books(&url)), (kept.clone(), records - 2));

    let again = run_ok(dir.path(), &url, &["purge", "--before", "2025-03-01", "--as-of", as_of]);
    assert_eq!(
        stdout_line(&again),
        "periods purged 0, left unsettled 0; records removed 0, summary records 0",
        "{}",
        describe(&again)
    );
    assert_eq!(block_on(books(&url)), (kept, records - 2));
}
