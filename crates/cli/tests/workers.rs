//! `classbill worker` processes share one billing run (issue 9 item 3, interfaces.md `serve --no-worker`): a
//! `serve --no-worker` process only queues the run requested over its API, three workers take it, split its
//! parties and add up their counts, and a worker killed mid-run leaves the run to be completed by the others,
//! its counts kept.
//!
//! PostgreSQL only: the parties of a run are split by row claims (`FOR NO KEY UPDATE SKIP LOCKED`) between
//! processes writing at the same time; SQLite has one writer at a time, so there is nothing to split there.
//!
//! `CLASSBILL_WORKERS_TEST_CUSTOMERS` sets the customers of the shared run (default [`DEFAULT_CUSTOMERS`]).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use classbill_engine::workers::worker_name_of;
use classbill_engine::{Actor, Engine, NewCustomer};
use classbill_store::Store;
use classbill_testkit::{Backend, database_url};
use common::process::{Background, free_port, request};
use common::{assert_gapless, block_on, numbers_by_owner};
use jiff::Timestamp;
use serde_json::{Value, json};
use tempfile::TempDir;

/// Customers of the shared run unless `CLASSBILL_WORKERS_TEST_CUSTOMERS` says otherwise: the largest count the
/// test handles within about four minutes in a debug build on two cores.
const DEFAULT_CUSTOMERS: usize = 20_000;
/// Customers of the run a worker is killed in: enough for the run to outlast the kill.
const KILL_CUSTOMERS: usize = 4_000;
/// The billed month is January 2025; its periods are due at this instant (6 h close delay), February's not.
const AS_OF: &str = "2025-02-02T00:00:00Z";
const ACTIVATED_AT: &str = "2025-01-01T00:00:00Z";
/// Longer than a worker's lease (`RUN_LEASE`) plus the passes themselves.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

fn customers() -> usize {
    std::env::var("CLASSBILL_WORKERS_TEST_CUSTOMERS")
        .ok()
        .map(|n| n.parse().expect("CLASSBILL_WORKERS_TEST_CUSTOMERS is a number"))
        .unwrap_or(DEFAULT_CUSTOMERS)
}

/// Customers created (and xDRs stored) side by side: PostgreSQL takes them in parallel.
const CREATORS: usize = 8;

/// An invoicing class (PDFs on demand, so that no worker spends the run rendering), `count` monthly customers
/// from January with two usage xDRs each, and an administrator; answers the administrator's API token.
async fn load_dataset(url: &str, count: usize) -> String {
    let store = Store::connect(url).await.expect("database opens");
    let engine = Engine::new(store.clone());
    let now = Timestamp::now();
    engine.initialize(now).await.expect("schema");
    let class_id =
        common::invoicing_class(&engine, "Invoiced", "19", json!({"pdf_generation": "on_demand"}), now).await;
    let creating = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for creator in 0..CREATORS {
        let engine = engine.clone();
        tasks.spawn(async move {
            let mut created = Vec::new();
            for n in (creator..count).step_by(CREATORS) {
                let customer = engine
                    .create_customer(
                        &Actor::system(),
                        NewCustomer {
                            name: format!("Customer {n}"),
                            class_id: Some(class_id),
                            time_zone: Some("UTC".to_owned()),
                            billing_period: Some("monthly".to_owned()),
                            activated_at: Some(ACTIVATED_AT.parse().expect("instant")),
                            ..NewCustomer::default()
                        },
                        now,
                    )
                    .await
                    .expect("customer created");
                created.push((n, customer.id));
            }
            created
        });
    }
    let mut customers = Vec::with_capacity(count);
    while let Some(created) = tasks.join_next().await {
        customers.extend(created.expect("creator task"));
    }
    eprintln!("{count} customers created in {:.1} s", creating.elapsed().as_secs_f64());
    let ingesting = Instant::now();
    let xdrs: Vec<Value> = customers
        .iter()
        .flat_map(|&(n, party)| {
            ["2025-01-10", "2025-01-20"].iter().enumerate().map(move |(k, day)| {
                json!({
                    "party_id": party,
                    "external_id": format!("u-{n}-{k}"),
                    "occurred_at": format!("{day}T10:00:00Z"),
                    "kind": "usage",
                    "service": "voice",
                    "quantity": "1",
                    "amount": format!("{}.{:05}", n % 40, (n * 7919 + k) % 100_000),
                })
            })
        })
        .collect();
    // Side by side too, in transactions of 1,000 rows.
    let chunks: Vec<Value> = xdrs.chunks(1_000).map(|chunk| json!({ "xdrs": chunk })).collect();
    let chunks = std::sync::Arc::new(chunks);
    let mut tasks = tokio::task::JoinSet::new();
    for ingester in 0..CREATORS {
        let engine = engine.clone();
        let chunks = chunks.clone();
        tasks.spawn(async move {
            let mut stored = 0;
            for body in chunks.iter().skip(ingester).step_by(CREATORS) {
                stored += engine
                    .ingest_xdrs(&Actor::system(), body, now)
                    .await
                    .expect("xDRs stored")
                    .len();
            }
            stored
        });
    }
    let mut stored = 0;
    while let Some(ingested) = tasks.join_next().await {
        stored += ingested.expect("ingest task");
    }
    assert_eq!(stored, count * 2, "every xDR is stored");
    eprintln!("{stored} xDRs stored in {:.1} s", ingesting.elapsed().as_secs_f64());
    let token = common::admin_token(&engine, now).await;
    store.close().await;
    token
}

/// A database with `count` customers, a `serve --no-worker` process and three workers on it.
struct Cluster {
    dir: TempDir,
    url: String,
    token: String,
    port: u16,
    /// Killed with the cluster.
    _server: Background,
    workers: Vec<Background>,
}

fn cluster(count: usize) -> Cluster {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = block_on(database_url(Backend::Postgres));
    let loading = Instant::now();
    let token = block_on(load_dataset(&db.url, count));
    eprintln!("{count} customers loaded in {:.1} s", loading.elapsed().as_secs_f64());
    let port = free_port();
    let server = Background::serve(dir.path(), &db.url, port, &["--no-worker"], "serve");
    let workers = (0..3)
        .map(|n| Background::start(dir.path(), &db.url, &["worker"], &format!("worker-{n}")))
        .collect();
    Cluster {
        dir,
        url: db.url,
        token,
        port,
        _server: server,
        workers,
    }
}

impl Cluster {
    /// Requests a billing run over the API; the server only queues it.
    fn request_run(&self) -> i64 {
        let (status, accepted) = request(
            self.port,
            "POST",
            "/api/v1/billing-runs",
            &self.token,
            Some(&json!({"as_of": AS_OF})),
        )
        .expect("the server answers");
        assert_eq!(status, 202, "{accepted}");
        assert_eq!(accepted["status"], "queued");
        accepted["id"].as_i64().expect("run id")
    }

    fn run(&self, id: i64) -> Value {
        let (status, run) = request(
            self.port,
            "GET",
            &format!("/api/v1/billing-runs/{id}"),
            &self.token,
            None,
        )
        .expect("the server answers");
        assert_eq!(status, 200, "{run}");
        run
    }

    /// Polls the run until `done` holds for it.
    fn wait_for(&self, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let run = self.run(id);
            if done(&run) {
                return run;
            }
            assert!(
                started.elapsed() < RUN_DEADLINE,
                "run {id}: {what} did not happen in time: {run:#}; logs in {}",
                self.dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn completed(run: &Value) -> bool {
    run["status"] == "completed" || run["status"] == "failed"
}

fn count(run: &Value, field: &str) -> i64 {
    run[field].as_i64().unwrap_or_else(|| panic!("{field} in {run}"))
}

/// The run closed every one of `customers` periods, each with an invoice, and its workers' counts add up to the
/// run's: a worker's counts are what it committed, even when it was killed.
fn assert_run_counts(run: &Value, customers: usize) {
    let n = i64::try_from(customers).expect("count");
    let fields = ["periods_due", "periods_closed", "periods_failed", "invoices_issued"];
    assert_eq!(fields.map(|field| count(run, field)), [n, n, 0, n], "{run:#}");
    let workers = run["workers"].as_array().expect("workers");
    for field in fields {
        let sum: i64 = workers.iter().map(|w| count(w, field)).sum();
        assert_eq!(
            sum,
            count(run, field),
            "the workers' {field} add up to the run's: {run:#}"
        );
    }
}

/// How many invoices the database holds.
async fn invoices_in(url: &str) -> i64 {
    let store = Store::connect(url).await.expect("database opens");
    let mut tx = store.read().await.expect("read transaction");
    let (n,): (i64,) = tx
        .fetch_one("SELECT COUNT(*) FROM invoices", Vec::new())
        .await
        .expect("invoices");
    drop(tx);
    store.close().await;
    n
}

/// Every customer's January period closed exactly once, with exactly one invoice; the numbers are gapless.
async fn assert_each_party_billed_once(url: &str, customers: usize) {
    let store = Store::connect(url).await.expect("database opens");
    let mut tx = store.read().await.expect("read transaction");
    let january: i64 = classbill_store::instants::to_micros(ACTIVATED_AT.parse().expect("instant"));
    let periods: Vec<(i64, String, i64)> = tx
        .fetch_all(
            "SELECT b.party_id, b.status, COUNT(i.id)
             FROM billing_periods b JOIN parties p ON p.id = b.party_id LEFT JOIN invoices i ON i.period_id = b.id
             WHERE p.kind = 'customer' AND b.start_at = $1
             GROUP BY b.id, b.party_id, b.status ORDER BY b.party_id",
            classbill_store::args![january],
        )
        .await
        .expect("periods");
    let invoices: Vec<(i64, i64)> = tx
        .fetch_all(
            "SELECT party_id, COUNT(*) FROM invoices GROUP BY party_id ORDER BY party_id",
            Vec::new(),
        )
        .await
        .expect("invoices");
    let sequences: Vec<(i64, i64)> = tx
        .fetch_all(
            "SELECT owner_key, next_number FROM invoice_sequences ORDER BY owner_key",
            Vec::new(),
        )
        .await
        .expect("sequences");
    drop(tx);
    store.close().await;
    assert_eq!(periods.len(), customers, "one January period per customer");
    for (party, status, issued) in &periods {
        assert_eq!((status.as_str(), *issued), ("closed", 1), "party {party}");
    }
    assert_eq!(invoices.len(), customers, "every customer has an invoice");
    assert!(invoices.iter().all(|(_, n)| *n == 1), "no party has two invoices");
    assert_gapless(&sequences, &numbers_by_owner(url).await);
}

#[test]
fn three_workers_share_a_billing_run_requested_from_a_server_without_worker() {
    let customers = customers();
    let cluster = cluster(customers);
    let started = Instant::now();
    let id = cluster.request_run();
    // The server does not execute it: it stays queued until a worker takes it.
    let run = cluster.wait_for(id, "completion", completed);
    eprintln!(
        "run of {customers} customers by three workers: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(run["status"], "completed", "{run:#}");
    assert_eq!(run["error"], Value::Null);
    assert_run_counts(&run, customers);
    let workers = run["workers"].as_array().expect("workers");
    let names: BTreeSet<String> = workers
        .iter()
        .map(|w| w["worker"].as_str().expect("name").to_owned())
        .collect();
    let expected: BTreeSet<String> = cluster
        .workers
        .iter()
        .map(|worker| worker_name_of(worker.pid()))
        .collect();
    assert_eq!(names, expected, "all three workers took part: {run:#}");
    for worker in workers {
        assert_eq!(worker["status"], "finished", "{worker}");
        assert!(
            count(worker, "periods_closed") > 0,
            "every worker closed some parties: {run:#}"
        );
    }
    let checking = Instant::now();
    block_on(assert_each_party_billed_once(&cluster.url, customers));
    eprintln!("invoices checked in {:.1} s", checking.elapsed().as_secs_f64());
}

#[test]
fn a_worker_killed_mid_run_leaves_the_run_to_the_others() {
    let mut cluster = cluster(KILL_CUSTOMERS);
    let id = cluster.request_run();
    let run = cluster.wait_for(id, "three workers joining", |run| {
        completed(run)
            || run["workers"]
                .as_array()
                .is_some_and(|w| w.iter().filter(|w| w["status"] == "working").count() == 3)
    });
    assert_eq!(run["status"], "running", "the run outlasts the joining: {run:#}");
    let victim = &mut cluster.workers[1];
    let victim_name = worker_name_of(victim.pid());
    victim.kill();
    let run = cluster.wait_for(id, "completion", completed);
    assert_eq!(run["status"], "completed", "{run:#}");
    let workers = run["workers"].as_array().expect("workers");
    let statuses: Vec<(&str, &str)> = workers
        .iter()
        .map(|w| {
            (
                w["worker"].as_str().expect("name"),
                w["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert!(
        statuses.contains(&(victim_name.as_str(), "lapsed")),
        "the killed worker's share lapsed: {run:#}"
    );
    assert!(
        statuses
            .iter()
            .all(|(name, status)| *name == victim_name || *status == "finished"),
        "{run:#}"
    );
    assert_run_counts(&run, KILL_CUSTOMERS);
    assert_eq!(
        count(&run, "invoices_issued"),
        block_on(invoices_in(&cluster.url)),
        "the run counts every invoice in the database: {run:#}"
    );
    block_on(assert_each_party_billed_once(&cluster.url, KILL_CUSTOMERS));
}
