//! `classbill backup` and `classbill restore` (issue 10, backups): a database with classes, customers, xDRs and
//! invoices made by a real bill run is backed up with the binary, restored into a new SQLite file or a new
//! PostgreSQL database, and the restored copy holds the same rows; neither command ever overwrites.

mod common;

use std::path::Path;

use classbill_engine::{Actor, Engine, NewCustomer};
use classbill_store::Store;
use classbill_testkit::{Backend, TestDatabase, database_url};
use common::{block_on, run_fails, run_ok};
use jiff::Timestamp;
use serde_json::json;

const CUSTOMERS: usize = 12;
/// Every January period of the dataset is due then.
const AS_OF: &str = "2025-02-02T00:00:00Z";

/// Two invoicing classes, customers in both with January usage, closed by a real `classbill bill-run`.
async fn load_dataset(url: &str) {
    let store = Store::connect(url).await.expect("database opens");
    let engine = Engine::new(store.clone());
    let now = Timestamp::now();
    engine.initialize(now).await.expect("schema");
    let system = Actor::system();
    let mut class_ids = Vec::new();
    for (name, rate) in [("Business", "19"), ("Residential", "7")] {
        class_ids.push(common::invoicing_class(&engine, name, rate, json!({}), now).await);
    }
    let mut xdrs = Vec::new();
    for n in 0..CUSTOMERS {
        let customer = engine
            .create_customer(
                &system,
                NewCustomer {
                    name: format!("Customer {n}"),
                    currency: Some("EUR".to_owned()),
                    class_id: Some(class_ids[n % class_ids.len()]),
                    time_zone: Some("Europe/Berlin".to_owned()),
                    billing_period: Some("monthly".to_owned()),
                    activated_at: Some("2025-01-01T00:00:00+01:00".parse().expect("instant")),
                    ..NewCustomer::default()
                },
                now,
            )
            .await
            .expect("customer created");
        for (k, day) in ["2025-01-05", "2025-01-17", "2025-01-28"].iter().enumerate() {
            xdrs.push(json!({
                "party_id": customer.id,
                "external_id": format!("call-{n}-{k}"),
                "occurred_at": format!("{day}T10:00:00Z"),
                "kind": "usage",
                "service": "voice",
                "quantity": "1",
                "amount": format!("{}.{:05}", n + k + 1, (n * 7919 + k * 104_729) % 100_000),
            }));
        }
    }
    engine
        .ingest_xdrs(&system, &json!({ "xdrs": xdrs }), now)
        .await
        .expect("xDRs stored");
    store.close().await;
}

/// What a restored database must hold exactly as the original did: row counts of the billing tables and every
/// invoice with its number and amounts.
#[derive(Debug, PartialEq, Eq)]
struct Contents {
    counts: Vec<(&'static str, i64)>,
    invoices: Vec<(i64, String, i64, i64)>,
    xdr_total: i64,
}

async fn contents(url: &str) -> Contents {
    let store = Store::connect(url).await.expect("database opens");
    let mut tx = store.read().await.expect("read transaction");
    let mut counts = Vec::new();
    for (name, sql) in [
        ("classes", "SELECT count(*) FROM customer_classes"),
        ("customers", "SELECT count(*) FROM parties WHERE kind = 'customer'"),
        ("invoices", "SELECT count(*) FROM invoices"),
        ("xdrs", "SELECT count(*) FROM xdrs"),
        ("periods", "SELECT count(*) FROM billing_periods"),
        ("users", "SELECT count(*) FROM users"),
    ] {
        let (count,): (i64,) = tx.fetch_one(sql, Vec::new()).await.expect("count");
        counts.push((name, count));
    }
    let invoices: Vec<(i64, String, i64, i64)> = tx
        .fetch_all(
            "SELECT party_id, number, net_total, total FROM invoices ORDER BY party_id, number",
            Vec::new(),
        )
        .await
        .expect("invoices");
    let (xdr_total,): (i64,) = tx
        .fetch_one("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM xdrs", Vec::new())
        .await
        .expect("xDR total");
    drop(tx);
    store.close().await;
    Contents {
        counts,
        invoices,
        xdr_total,
    }
}

fn count(contents: &Contents, name: &str) -> i64 {
    contents.counts.iter().find(|(n, _)| *n == name).map_or(0, |(_, c)| *c)
}

/// Loads the dataset, bills January with the binary, and answers what the database then holds.
fn billed_database(dir: &Path, backend: Backend) -> (TestDatabase, Contents) {
    let source = block_on(database_url(backend));
    block_on(load_dataset(&source.url));
    run_ok(dir, &source.url, &["bill-run", "--as-of", AS_OF]);
    let original = block_on(contents(&source.url));
    assert_eq!(count(&original, "classes"), 3, "the Default class and two more");
    assert_eq!(count(&original, "customers"), CUSTOMERS as i64);
    assert!(
        count(&original, "invoices") >= CUSTOMERS as i64,
        "every customer was invoiced: {original:?}"
    );
    assert!(
        count(&original, "xdrs") > (CUSTOMERS * 3) as i64,
        "usage and tax xDRs: {original:?}"
    );
    (source, original)
}

#[test]
fn a_sqlite_backup_restores_into_a_new_file_with_every_row() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (source, original) = billed_database(dir.path(), Backend::Sqlite);
    let backup = dir.path().join("nightly.backup");
    let backup_arg = backup.to_str().expect("UTF-8 path");

    run_ok(dir.path(), &source.url, &["backup", "--to", backup_arg]);
    run_fails(
        dir.path(),
        &source.url,
        &["backup", "--to", backup_arg],
        "already exists",
    );

    let restored_url = format!("sqlite://{}", dir.path().join("restored.db").display());
    run_ok(dir.path(), &restored_url, &["restore", "--from", backup_arg]);
    assert_eq!(block_on(contents(&restored_url)), original);
    // The restored file is a working installation: the binary opens it and bills on from there.
    run_ok(dir.path(), &restored_url, &["migrate"]);
    run_ok(dir.path(), &restored_url, &["bill-run", "--as-of", AS_OF]);
    assert_eq!(block_on(contents(&restored_url)), original, "nothing was due twice");

    // Restoring never replaces a database, and a backup only restores into its own kind of database.
    run_fails(
        dir.path(),
        &restored_url,
        &["restore", "--from", backup_arg],
        "already exists",
    );
    let pg_target = block_on(database_url(Backend::Postgres));
    run_fails(
        dir.path(),
        &pg_target.url,
        &["restore", "--from", backup_arg],
        "is not a PostgreSQL backup",
    );
    let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
    run_fails(
        dir.path(),
        &missing,
        &[
            "backup",
            "--to",
            dir.path().join("other.backup").to_str().expect("UTF-8"),
        ],
        "no such database file",
    );
    assert!(
        !dir.path().join("missing.db").exists(),
        "a backup never creates its source"
    );
}

#[test]
fn a_postgres_backup_restores_into_an_empty_database_with_every_row() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (source, original) = billed_database(dir.path(), Backend::Postgres);
    let backup = dir.path().join("nightly.dump");
    let backup_arg = backup.to_str().expect("UTF-8 path");

    run_ok(dir.path(), &source.url, &["backup", "--to", backup_arg]);
    run_fails(
        dir.path(),
        &source.url,
        &["backup", "--to", backup_arg],
        "already exists",
    );

    let target = block_on(database_url(Backend::Postgres));
    run_ok(dir.path(), &target.url, &["restore", "--from", backup_arg]);
    assert_eq!(block_on(contents(&target.url)), original);
    run_ok(dir.path(), &target.url, &["migrate"]);
    run_ok(dir.path(), &target.url, &["bill-run", "--as-of", AS_OF]);
    assert_eq!(block_on(contents(&target.url)), original, "nothing was due twice");

    // A database that holds anything is never restored into, and a dump is not a SQLite file.
    run_fails(dir.path(), &target.url, &["restore", "--from", backup_arg], "not empty");
    let sqlite_target = format!("sqlite://{}", dir.path().join("from-pg.db").display());
    run_fails(
        dir.path(),
        &sqlite_target,
        &["restore", "--from", backup_arg],
        "is not a SQLite backup",
    );
}
