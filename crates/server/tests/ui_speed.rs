//! Server time of the main UI pages with 1,000 classes and 100,000 customers, for docs/benchmarks.md. It prints
//! the figures and asserts only that the pages answer; run it with
//! `cargo test --release -p classbill-server --test ui_speed -- --ignored --nocapture`.

mod support;
mod ui_support;

use std::time::Instant;

use classbill_engine::NewCustomer;
use classbill_store::args;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::json;
use support::TestApp;
use ui_support::UiClient;

const CLASSES: usize = 1_000;
const CUSTOMERS: i64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement that seeds 100,000 customers; run on demand for docs/benchmarks.md"]
async fn ui_pages_with_a_thousand_classes_and_a_hundred_thousand_customers() {
    let app = TestApp::start(classbill_testkit::Backend::Sqlite).await;
    let admin = app.engine.authenticate_token(&app.admin).await.unwrap();
    let mut first_class = 0;
    for n in 0..CLASSES {
        let body = json!({"name": format!("Class {n:04}"), "currency": "EUR",
                          "description": format!("Benchmark class number {n}")});
        let written = app.engine.create_class(&admin, body, Timestamp::now()).await.unwrap();
        if n == 0 {
            first_class = written.class.id;
        }
    }
    let seed = NewCustomer {
        name: "Customer".to_owned(),
        currency: Some("EUR".to_owned()),
        class_id: Some(first_class),
        ..NewCustomer::default()
    };
    let seed = app
        .engine
        .create_customer(&admin, seed, Timestamp::now())
        .await
        .unwrap()
        .id;
    // The other customers are copies of the first, written in one statement.
    let mut tx = app.engine.store.write().await.unwrap();
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
         INSERT INTO parties (kind, owner_reseller_id, name, name_key, currency, class_id, billing_period, time_zone,
                              activated_at, prepaid, status, custom_fields, overrides, created_at, updated_at)
         SELECT p.kind, p.owner_reseller_id, p.name || ' ' || n.i, p.name_key || ' ' || n.i, p.currency, p.class_id,
                p.billing_period, p.time_zone, p.activated_at, p.prepaid, p.status, p.custom_fields, p.overrides,
                p.created_at, p.updated_at
         FROM parties p, n WHERE p.id = $1",
        args![seed, CUSTOMERS - 1],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let ui = UiClient::login(&app, "admin").await;
    let pages = [
        "/classes".to_owned(),
        "/classes?name=class+09".to_owned(),
        format!("/classes/{first_class}"),
        "/classes/new".to_owned(),
        "/customers".to_owned(),
        format!("/customers?class_id={first_class}&name=customer+99"),
        format!("/customers/{seed}"),
        format!("/customers/{seed}/effective"),
    ];
    for page in &pages {
        ui.get(page).await; // warm-up
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let answer = ui.get(page).await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(answer.status, StatusCode::OK, "{page}");
        }
        times.sort_by(f64::total_cmp);
        println!("{page}: median {:.1} ms, max {:.1} ms", times[2], times[4]);
    }
}
