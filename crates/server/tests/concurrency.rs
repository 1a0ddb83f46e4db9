//! Writes that race each other (issue 10 item 4): fifty xDR batches at once, payments and a bulk class
//! assignment arriving while a billing run closes the same parties, and two administrators saving one class.
//! Afterwards the ledger is recomputed from what the test itself sent and must match to the last unit.

mod support;

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, units};
use tokio::task::JoinSet;

const CUSTOMERS: usize = 10;
const BATCHES: usize = 50;
const PER_BATCH: usize = 10;
/// Each customer pays this much while the run closes March.
const PAYMENT: &str = "5.00";
const PAYMENT_UNITS: i64 = 500_000;

/// Classes with the same untaxed regular invoices, so the bulk assignment cannot change an amount.
async fn plain_class(app: &TestApp, name: &str) -> i64 {
    let template = app.standard_template().await;
    app.class(
        &app.admin,
        json!({"name": name, "currency": "EUR", "regular_invoices": {"enabled": true, "template_id": template}}),
    )
    .await["id"]
        .as_i64()
        .expect("class id")
}

/// An answer and the body that was sent.
type Sent = (StatusCode, Value, Value);

/// Posts `body` to `path` from a client of its own, so that many requests are in flight at once.
fn post_concurrently(app: &TestApp, requests: &mut JoinSet<Sent>, path: &str, body: Value) {
    let url = format!("{}{path}", app.base);
    let token = app.admin.clone();
    requests.spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null), body)
    });
}

/// Batch `batch`: ten usage records spread over the customers, with amounts of two decimals (so an untaxed
/// invoice needs no rounding) that differ from batch to batch.
fn batch_rows(parties: &[i64], batch: usize) -> Vec<(i64, String, i64)> {
    (0..PER_BATCH)
        .map(|n| {
            let party = parties[(batch + n) % parties.len()];
            let cents = i64::try_from((batch * 37 + n * 11) % 500 + 1).expect("small");
            (party, format!("b{batch}-{n}"), cents * 1_000)
        })
        .collect()
}

fn batch_body(rows: &[(i64, String, i64)], batch: usize) -> Value {
    let xdrs: Vec<Value> = rows
        .iter()
        .map(|(party, key, amount)| {
            json!({"party_id": party, "external_id": key, "kind": "usage", "service": "voice",
                   "occurred_at": format!("2025-03-{:02}T10:00:00Z", batch % 28 + 1),
                   "quantity": "1", "amount": format!("{}.{:02}", amount / 100_000, amount % 100_000 / 1_000)})
        })
        .collect();
    json!({ "xdrs": xdrs })
}

on_both_backends! {
    async fn racing_batches_payments_and_a_bulk_assignment_leave_an_exact_ledger(app) {
        let first = plain_class(app, "Before").await;
        let second = plain_class(app, "After").await;
        let mut parties = Vec::new();
        for n in 0..CUSTOMERS {
            let answer = app
                .post("/api/v1/customers", &app.admin,
                      json!({"name": format!("Racer {n}"), "currency": "EUR", "class_id": first,
                             "time_zone": "Europe/Berlin", "activated_at": "2025-03-01T00:00:00+01:00"}))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
            parties.push(answer.body["id"].as_i64().expect("customer id"));
        }

        // Fifty batches at once, then five of them again (a client retrying): each record is stored once.
        let mut expected: BTreeMap<i64, (usize, i64)> = BTreeMap::new();
        let mut requests = JoinSet::new();
        for batch in 0..BATCHES {
            let rows = batch_rows(&parties, batch);
            for (party, _, amount) in &rows {
                let entry = expected.entry(*party).or_default();
                entry.0 += 1;
                entry.1 += amount;
            }
            post_concurrently(app, &mut requests, "/api/v1/xdrs", batch_body(&rows, batch));
        }
        for batch in 0..5 {
            post_concurrently(app, &mut requests, "/api/v1/xdrs", batch_body(&batch_rows(&parties, batch), batch));
        }
        while let Some(answer) = requests.join_next().await {
            let (status, body, sent) = answer.expect("request task");
            if status == StatusCode::CONFLICT && body["code"] == json!("external_id_conflict") {
                // A retry that raced its original: nothing of it was stored, and the answer says to send it
                // again, as a client does.
                let again = app.post("/api/v1/xdrs", &app.admin, sent).await;
                assert!(again.status == StatusCode::CREATED || again.status == StatusCode::OK, "{}", again.text);
                continue;
            }
            assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status}: {body}");
        }

        // The run closes March while every customer pays and all of them move to another class.
        let run = app
            .post("/api/v1/billing-runs", &app.admin, json!({"as_of": "2025-04-01T04:00:00Z"}))
            .await;
        assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.text);
        for party in &parties {
            post_concurrently(app, &mut requests, "/api/v1/payments",
                json!({"party_id": party, "amount": PAYMENT, "currency": "EUR",
                       "received_at": "2025-04-01T02:00:00Z", "external_id": format!("pay-{party}")}));
        }
        post_concurrently(app, &mut requests, &format!("/api/v1/customer-classes/{second}/members"),
            json!({"party_ids": parties}));
        while let Some(answer) = requests.join_next().await {
            let (status, body, _) = answer.expect("request task");
            match status {
                StatusCode::CREATED => assert!(body["xdr_id"].is_i64(), "{body}"),
                StatusCode::OK => {
                    let items = body["items"].as_array().expect("assignment items");
                    assert_eq!(items.len(), CUSTOMERS, "{body}");
                    assert!(items.iter().all(|item| item["outcome"] == json!("assigned")), "{body}");
                }
                other => panic!("{other}: {body}"),
            }
        }
        let id = run.body["id"].as_i64().expect("run id");
        let finished = loop {
            let state = app.get(&format!("/api/v1/billing-runs/{id}"), &app.admin).await;
            if state.body["status"] != json!("running") && state.body["status"] != json!("queued") {
                break state.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(finished["status"], json!("completed"), "{finished}");
        assert_eq!(finished["failures"], json!([]), "{finished}");
        assert_eq!(finished["invoices_issued"], json!(CUSTOMERS), "{finished}");

        // Recomputed from what was sent: records, invoices, payments and class, party by party.
        for party in &parties {
            let (count, sum) = expected[party];
            let usage = app.get(&format!("/api/v1/xdrs?party_id={party}&kind=usage&limit=500"), &app.admin).await;
            let items = usage.body["items"].as_array().expect("xDRs");
            assert_eq!(items.len(), count, "party {party}: every record once");
            assert_eq!(items.iter().map(|x| units(&x["amount"])).sum::<i64>(), sum, "party {party}");

            let invoices = app.invoices_of(*party).await;
            assert_eq!(invoices.len(), 1, "party {party}: one March invoice");
            let invoice = app.invoice(&invoices[0]["id"]).await;
            assert_eq!(units(&invoice["net_total"]), sum, "party {party}: {invoice}");
            assert_eq!(units(&invoice["total"]), sum, "party {party}: untaxed, nothing to round: {invoice}");
            // Whether the payment came before or after the close, it is owed against this invoice once.
            assert_eq!(
                units(&invoice["open_amount"]),
                sum - PAYMENT_UNITS,
                "party {party}: {invoice}"
            );

            let paid = app.get(&format!("/api/v1/xdrs?party_id={party}&kind=payment"), &app.admin).await;
            let paid = paid.body["items"].as_array().expect("payments");
            assert_eq!(paid.len(), 1, "party {party}: the payment once");
            assert_eq!(units(&paid[0]["amount"]), -PAYMENT_UNITS, "party {party}");

            let customer = app.get(&format!("/api/v1/customers/{party}"), &app.admin).await;
            assert_eq!(customer.body["class_id"], json!(second), "party {party}");
        }
    }
}

on_both_backends! {
    async fn of_two_administrators_saving_one_revision_one_wins_and_one_is_told(app) {
        let class = app
            .class(&app.admin, json!({"name": "Shared", "currency": "EUR"}))
            .await;
        let id = class["id"].as_i64().expect("class id");
        let revision = class["revision"].as_i64().expect("revision");
        let other = app.user("second-admin", classbill_engine::NewUserRole::Administrator).await;
        let path = format!("/api/v1/customer-classes/{id}");
        let (first, second) = tokio::join!(
            app.patch(&path, &app.admin, json!({"description": "first"}), revision),
            app.patch(&path, &other, json!({"description": "second"}), revision),
        );
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{} / {}", first.text, second.text);
        let loser = if first.status == StatusCode::CONFLICT { &first } else { &second };
        assert_eq!(loser.body["code"], json!("stale_revision"), "{}", loser.text);
        let winner = if first.status == StatusCode::OK { &first } else { &second };
        let stored = app.get(&path, &app.admin).await;
        assert_eq!(stored.body["description"], winner.body["description"]);
        assert_eq!(stored.body["revision"], json!(revision + 1));
    }
}
