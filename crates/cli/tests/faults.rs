//! Faults (issue 10, item 3) against the real binary, a real SQLite file, a real PostgreSQL, a real SMTP
//! receiver and a webhook receiver, one module each under `faults/`: a collection run killed between any two
//! commits and by SIGKILL (`collection_run`), `serve` and `worker` killed while they deliver e-mail
//! (`delivery`), the SMTP server and the webhook receiver down for a while (`receivers_down`), PostgreSQL
//! restarted under a bill run, a collection run and a delivery pass (`postgres_restart`), the disk holding the
//! SQLite file running full during an import (`disk_full`), and `serve` killed during a bill run requested over
//! its API, then started again (`serve_killed`). After each: no invoice twice, no number gap, no xDR lost, every
//! event fired once and every message delivered, at least once (see `delivery`). This file holds the datasets
//! they share.

#[path = "faults/collection_run.rs"]
mod collection_run;
mod common;
#[path = "faults/delivery.rs"]
mod delivery;
#[path = "faults/disk_full.rs"]
mod disk_full;
#[path = "faults/postgres_restart.rs"]
mod postgres_restart;
#[path = "faults/receivers_down.rs"]
mod receivers_down;
#[path = "faults/serve_killed.rs"]
mod serve_killed;

use std::path::Path;
use std::process::{Command, Output};

use classbill_engine::{Actor, Engine, NewCustomer};
use classbill_store::{Record, Store};
use classbill_testkit::{Backend, TestDatabase, database_url};
use common::{block_on, classbill, copy_of, describe};
use jiff::Timestamp;
use serde_json::json;
use tempfile::TempDir;

/// Customers of the dunning dataset; every fifth pays in full before anything is due, every fifth after that
/// pays a little, the others nothing.
const DUNNING_CUSTOMERS: usize = 30;
/// Closes the February periods of both datasets (monthly, 6 h close delay).
const BILLED_AT: &str = "2025-03-02T00:00:00Z";
/// Every event of the dunning ladder (reminders up to the suspension) is due then.
const COLLECT_AT: &str = "2025-04-30T00:00:00Z";
/// Parties per collection batch: small, so that a run has many commits to be killed between.
const COLLECTION_BATCH: &str = "4";

fn instant(text: &str) -> Timestamp {
    text.parse().expect("an RFC 3339 instant")
}

async fn query<T: Record>(url: &str, sql: &'static str) -> Vec<T> {
    let store = Store::connect(url).await.expect("database opens");
    let mut tx = store.read().await.expect("read transaction");
    let rows = tx
        .fetch_all(sql, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(tx);
    store.close().await;
    rows
}

async fn count(url: &str, sql: &'static str) -> i64 {
    let rows: Vec<(i64,)> = query(url, sql).await;
    rows[0].0
}

// ---- datasets --------------------------------------------------------------------------------------------

/// A prepared database that tests copy instead of loading it again: a SQLite file, or a PostgreSQL database
/// used as the template of `CREATE DATABASE`.
struct Dataset {
    backend: Backend,
    dir: TempDir,
    /// The SQLite file, or the URL of the PostgreSQL template database.
    source: String,
    _db: Option<TestDatabase>,
}

impl Dataset {
    fn prepare<F, Fut>(backend: Backend, load: F) -> Dataset
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let path = dir.path().join("template.db");
                block_on(load(format!("sqlite://{}", path.display())));
                Dataset {
                    backend,
                    source: path.display().to_string(),
                    dir,
                    _db: None,
                }
            }
            Backend::Postgres => {
                let db = block_on(database_url(Backend::Postgres));
                block_on(load(db.url.clone()));
                Dataset {
                    backend,
                    source: db.url.clone(),
                    dir,
                    _db: Some(db),
                }
            }
        }
    }

    /// A new database holding the dataset.
    fn copy(&self, name: &str) -> String {
        match self.backend {
            Backend::Sqlite => copy_of(Path::new(&self.source), self.dir.path(), &format!("{name}.db")),
            Backend::Postgres => block_on(clone_postgres(&self.source, name)),
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `CREATE DATABASE <template>_<name> TEMPLATE <template>` on the template's server.
async fn clone_postgres(template_url: &str, name: &str) -> String {
    use sqlx::Connection;
    let (server, template) = template_url.rsplit_once('/').expect("a database URL");
    let clone = format!("{template}_{name}").replace('-', "_");
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("the maintenance database opens");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{clone}\" TEMPLATE \"{template}\""
    )))
    .execute(&mut admin)
    .await
    .expect("the dataset is cloned");
    admin.close().await.expect("closed");
    format!("{server}/{clone}")
}

async fn open_engine(url: &str) -> (Store, Engine) {
    let store = Store::connect(url).await.expect("database opens");
    let engine = Engine::new(store.clone());
    engine.initialize(Timestamp::now()).await.expect("schema");
    (store, engine)
}

/// Customers of one class with a full dunning ladder (reminders, overdue, late fee, limitation and suspension
/// with their notices) and an e-mail address, their February invoices issued: the state a collection run
/// and the delivery worker start from.
async fn load_dunning(url: String) {
    let (store, engine) = open_engine(&url).await;
    let system = Actor::system();
    let now = Timestamp::now();
    engine
        .update_installation_settings(
            &system,
            &json!({"default_sender": {"name": "Billing", "address": "billing@example.com"},
                    "outbox.retry_base_ms": 1000}),
            now,
        )
        .await
        .expect("settings");
    let ladder = json!({
        "pdf_generation": "on_demand",
        "payment_terms": {"type": "net", "days": 15},
        "due_reminder_days": [7, 3],
        "collection": {"late_fee": "5.00", "limit_after_days": 5, "limit_notice_days": [2],
                       "suspend_after_days": 10, "suspend_notice_days": [3]},
    });
    let class_id = common::invoicing_class(&engine, "Dunning", "19", ladder, now).await;
    let mut xdrs = Vec::new();
    let mut customers = Vec::new();
    for n in 0..DUNNING_CUSTOMERS {
        let customer = engine
            .create_customer(
                &system,
                NewCustomer {
                    name: format!("Customer {n}"),
                    currency: Some("EUR".to_owned()),
                    class_id: Some(class_id),
                    time_zone: Some("Europe/Berlin".to_owned()),
                    billing_period: Some("monthly".to_owned()),
                    activated_at: Some(instant("2025-02-01T00:00:00+01:00")),
                    email: Some(format!("customer-{n}@example.com")),
                    ..NewCustomer::default()
                },
                now,
            )
            .await
            .expect("customer created");
        xdrs.push(json!({
            "party_id": customer.id, "external_id": format!("feb-{n}"), "occurred_at": "2025-02-10T10:00:00Z",
            "kind": "usage", "service": "voice", "quantity": "1", "amount": format!("{}.{:05}", 10 + n, n * 7919 % 100_000),
        }));
        customers.push(customer.id);
    }
    engine
        .ingest_xdrs(&system, &json!({ "xdrs": xdrs }), now)
        .await
        .expect("xDRs stored");
    let summary = engine
        .run_billing(instant(BILLED_AT), now)
        .await
        .expect("February billed");
    assert_eq!(summary.invoices_issued, DUNNING_CUSTOMERS as i64, "{summary:?}");
    for (n, party) in customers.iter().enumerate() {
        let amount = match n % 5 {
            0 => "1000",
            1 => "1.00",
            _ => continue,
        };
        engine
            .post_payment(
                &system,
                &json!({"party_id": party, "amount": amount, "currency": "EUR",
                        "received_at": "2025-03-05T10:00:00Z"}),
                now,
            )
            .await
            .expect("payment booked");
    }
    store.close().await;
}

/// Customers with usage in January and February, in a class that invoices with a tax: what a bill run closes.
async fn load_usage(url: String, customers: usize) {
    let (store, engine) = open_engine(&url).await;
    let system = Actor::system();
    let now = Timestamp::now();
    let class_id =
        common::invoicing_class(&engine, "Invoiced", "19", json!({"pdf_generation": "on_demand"}), now).await;
    let mut xdrs = Vec::new();
    for n in 0..customers {
        let customer = engine
            .create_customer(
                &system,
                NewCustomer {
                    name: format!("Customer {n}"),
                    currency: Some("EUR".to_owned()),
                    class_id: Some(class_id),
                    time_zone: Some("UTC".to_owned()),
                    billing_period: Some("monthly".to_owned()),
                    activated_at: Some(instant("2025-01-01T00:00:00Z")),
                    ..NewCustomer::default()
                },
                now,
            )
            .await
            .expect("customer created");
        for (k, day) in ["2025-01-10", "2025-01-20", "2025-02-10", "2025-02-20"]
            .iter()
            .enumerate()
        {
            xdrs.push(json!({
                "party_id": customer.id, "external_id": format!("u-{n}-{k}"), "occurred_at": format!("{day}T10:00:00Z"),
                "kind": "usage", "service": "voice", "quantity": "1",
                "amount": format!("{}.{:05}", (n + k) % 30 + 1, (n * 7919 + k * 104_729) % 100_000),
            }));
        }
    }
    for chunk in xdrs.chunks(1_000) {
        engine
            .ingest_xdrs(&system, &json!({ "xdrs": chunk }), now)
            .await
            .expect("xDRs stored");
    }
    store.close().await;
}

/// `classbill collections` at `COLLECT_AT` in small batches.
fn collections(dir: &Path, url: &str) -> Command {
    classbill(
        dir,
        url,
        &["collections", "--as-of", COLLECT_AT, "--batch-size", COLLECTION_BATCH],
    )
}

fn collections_ok(dir: &Path, url: &str) -> Output {
    let output = collections(dir, url).output().expect("the binary runs");
    assert!(output.status.success(), "collections: {}", describe(&output));
    output
}
