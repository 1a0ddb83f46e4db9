//! Data retention (`POST /purges`): the xDR detail of closed, settled periods is summarised while every invoice,
//! balance, report and statistics file stays identical; unsettled and open periods are left alone, and a second
//! purge changes nothing.

mod support;

use std::collections::BTreeMap;

use classbill_engine::NewUserRole;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, units};

fn money(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    format!("{sign}{}.{:05}", units.abs() / 100_000, units.abs() % 100_000)
}

async fn customer(app: &TestApp, class_id: &Value, name: &str) -> i64 {
    let answer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": name, "currency": "EUR", "class_id": class_id, "time_zone": "Europe/Berlin",
                   "billing_period": "monthly", "activated_at": "2025-02-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

/// One xDR of a `POST /xdrs` batch.
#[allow(clippy::too_many_arguments)]
fn xdr(party: i64, key: &str, at: &str, kind: &str, service: &str, rate: &str, qty: &str, amount: &str) -> Value {
    json!({"party_id": party, "external_id": key, "occurred_at": at, "kind": kind, "service": service,
           "rate_code": rate, "quantity": qty, "amount": amount})
}

/// Posts a batch; xDRs of a period already closed join the period open at 2025-03-15.
async fn post_xdrs(app: &TestApp, xdrs: Vec<Value>) {
    let answer = app
        .post(
            "/api/v1/xdrs",
            &app.admin,
            json!({"xdrs": xdrs, "as_of": "2025-03-15T00:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
}

/// February: a trunk and three calls.
async fn february(app: &TestApp, party: i64) {
    let p = |suffix: &str| format!("{party}-{suffix}");
    post_xdrs(
        app,
        vec![
            xdr(
                party,
                &p("f1"),
                "2025-02-01T00:00:00+01:00",
                "recurring",
                "sip_trunk",
                "TRUNK-M",
                "1",
                "42.01681",
            ),
            xdr(
                party,
                &p("f2"),
                "2025-02-03T09:00:00+01:00",
                "usage",
                "voice",
                "DE-FIX",
                "10",
                "1.23456",
            ),
            xdr(
                party,
                &p("f3"),
                "2025-02-04T09:00:00+01:00",
                "usage",
                "voice",
                "DE-FIX",
                "12",
                "2.00001",
            ),
            xdr(
                party,
                &p("f4"),
                "2025-02-05T09:00:00+01:00",
                "usage",
                "voice",
                "DE-FIX",
                "5",
                "0.5",
            ),
        ],
    )
    .await;
}

/// March, after the February close: the §7.1 charges, two more calls and two more messages; and two February
/// calls that arrive late (so they join March).
async fn march(app: &TestApp, party: i64) {
    let p = |suffix: &str| format!("{party}-{suffix}");
    app.section_7_1_march_charges(party).await;
    post_xdrs(
        app,
        vec![
            xdr(
                party,
                &p("m1"),
                "2025-03-04T09:00:00+01:00",
                "usage",
                "voice",
                "DE-FIX",
                "7",
                "0.77777",
            ),
            xdr(
                party,
                &p("m2"),
                "2025-03-05T09:00:00+01:00",
                "usage",
                "voice",
                "DE-FIX",
                "3",
                "0.33333",
            ),
            xdr(
                party,
                &p("m3"),
                "2025-03-22T12:00:00+01:00",
                "usage",
                "sms",
                "SMS-DE",
                "2",
                "0.22",
            ),
            xdr(
                party,
                &p("m4"),
                "2025-03-23T12:00:00+01:00",
                "usage",
                "sms",
                "SMS-DE",
                "1",
                "0.11",
            ),
            xdr(
                party,
                &p("l1"),
                "2025-02-20T10:00:00+01:00",
                "usage",
                "voice",
                "DE-FIX",
                "4",
                "0.4",
            ),
            xdr(
                party,
                &p("l2"),
                "2025-02-21T10:00:00+01:00",
                "usage",
                "voice",
                "DE-FIX",
                "6",
                "0.6",
            ),
        ],
    )
    .await;
}

async fn list(app: &TestApp, path: &str) -> Vec<Value> {
    let answer = app.get(path, &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

async fn invoices_of(app: &TestApp, party: i64) -> Vec<Value> {
    let mut full = Vec::new();
    for item in list(app, &format!("/api/v1/invoices?party_id={party}")).await {
        let answer = app.get(&format!("/api/v1/invoices/{}", item["id"]), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        full.push(answer.body);
    }
    full
}

async fn periods_of(app: &TestApp, party: i64) -> Vec<Value> {
    list(app, &format!("/api/v1/periods?party_id={party}")).await
}

async fn xdrs_of_period(app: &TestApp, period: &Value) -> Vec<Value> {
    list(app, &format!("/api/v1/xdrs?period_id={}&limit=1000", period["id"])).await
}

async fn pay(app: &TestApp, party: i64, amount: i64) {
    let answer = app
        .post(
            "/api/v1/payments",
            &app.admin,
            json!({"party_id": party, "amount": money(amount), "currency": "EUR",
                   "received_at": "2025-04-10T10:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
}

/// Everything a purge must leave identical: every invoice with its lines and allocations, every party's
/// balance (Σ amount of its xDRs), the accounting exports and the statistics files of every closed period.
#[derive(Debug, Clone, PartialEq)]
struct Books {
    invoices: Vec<Value>,
    balances: BTreeMap<i64, i64>,
    reports: Vec<String>,
    statistics: Vec<String>,
}

async fn books(app: &TestApp, parties: &[i64]) -> (Books, usize) {
    let mut invoices = Vec::new();
    let mut balances = BTreeMap::new();
    let mut statistics = Vec::new();
    let mut records = 0;
    for &party in parties {
        invoices.extend(invoices_of(app, party).await);
        let mut balance = 0;
        for period in periods_of(app, party).await {
            let xdrs = xdrs_of_period(app, &period).await;
            records += xdrs.len();
            balance += xdrs.iter().map(|x| units(&x["amount"])).sum::<i64>();
            if period["status"] == "closed" {
                for file in ["summary", "full"] {
                    let answer = app
                        .get(
                            &format!("/api/v1/periods/{}/statistics/{file}.csv", period["id"]),
                            &app.admin,
                        )
                        .await;
                    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
                    statistics.push(answer.text);
                }
            }
        }
        balances.insert(party, balance);
    }
    let range = "from=2025-01-01&to=2025-12-31";
    let mut reports = Vec::new();
    for path in [
        format!("invoice-journal?{range}"),
        format!("payments?{range}"),
        format!("tax?{range}"),
        "ageing?to=2025-06-01".to_owned(),
        format!("invoice-journal?{range}&format=csv"),
    ] {
        let answer = app.get(&format!("/api/v1/reports/{path}"), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        reports.push(answer.text);
    }
    (
        Books {
            invoices,
            balances,
            reports,
            statistics,
        },
        records,
    )
}

async fn purge(app: &TestApp, body: Value) -> Value {
    let answer = app.post("/api/v1/purges", &app.admin, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
    answer.body
}

on_both_backends! {
    async fn purging_settled_periods_keeps_every_total_and_summary(app) {
        let class = app
            .invoicing_class(
                &app.admin,
                "Business EU",
                "EUR",
                json!({"taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}}}),
            )
            .await;
        let paying = customer(app, &class["id"], "Pays everything").await;
        let late_payer = customer(app, &class["id"], "Pays February only").await;
        february(app, paying).await;
        february(app, late_payer).await;
        app.bill("2025-03-01T05:00:00Z").await;
        march(app, paying).await;
        march(app, late_payer).await;
        app.bill("2025-04-01T04:00:00Z").await;
        // The paying customer settles both invoices; the other one only February.
        let open = |invoices: &[Value]| invoices.iter().map(|i| units(&i["open_amount"])).collect::<Vec<_>>();
        let paying_open = open(&invoices_of(app, paying).await);
        pay(app, paying, paying_open.iter().sum()).await;
        pay(app, late_payer, open(&invoices_of(app, late_payer).await)[0]).await;
        let statuses: Vec<Value> = invoices_of(app, paying).await.iter().map(|i| i["status"].clone()).collect();
        assert_eq!(statuses, vec![json!("paid"), json!("paid")]);
        let statuses: Vec<Value> = invoices_of(app, late_payer).await.iter().map(|i| i["status"].clone()).collect();
        assert_eq!(statuses, vec![json!("paid"), json!("unpaid")]);

        let parties = [paying, late_payer];
        let (before, records_before) = books(app, &parties).await;
        let unsettled_march = periods_of(app, late_payer).await[1].clone();
        let unsettled_xdrs = xdrs_of_period(app, &unsettled_march).await;
        let open_april = periods_of(app, paying).await[2].clone();
        assert_eq!(open_april["status"], json!("open"));

        // Bad input changes nothing: a date after the as_of date, an open period, an unsettled one, a reseller.
        let future = app
            .post("/api/v1/purges", &app.admin, json!({"before": "2025-06-02", "as_of": "2025-06-01T12:00:00Z"}))
            .await;
        assert_eq!(future.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", future.text);
        assert!(future.has_error("before", "out_of_range"), "{}", future.text);
        let not_closed = app.post("/api/v1/purges", &app.admin, json!({"period_id": open_april["id"]})).await;
        assert_eq!(not_closed.status, StatusCode::CONFLICT, "{}", not_closed.text);
        assert!(not_closed.text.contains("not_closed"), "{}", not_closed.text);
        let not_settled = app.post("/api/v1/purges", &app.admin, json!({"period_id": unsettled_march["id"]})).await;
        assert_eq!(not_settled.status, StatusCode::CONFLICT, "{}", not_settled.text);
        assert!(not_settled.text.contains("INV-"), "names the open invoice: {}", not_settled.text);
        let missing = app.post("/api/v1/purges", &app.admin, json!({"period_id": 999_999})).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
        assert!(app.post("/api/v1/purges", &app.admin, json!({})).await.has_error("before", "required"));
        let reseller = app.user("reseller-user", NewUserRole::Reseller(app.reseller("Alpha", None).await)).await;
        let forbidden = app.post("/api/v1/purges", &reseller, json!({"before": "2025-05-01"})).await;
        assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "{}", forbidden.text);
        assert_eq!(books(app, &parties).await, (before.clone(), records_before));

        // February of both and March of the paying customer: calls 3→1 (February), calls 3→1, late calls 2→1
        // and messages 3→1 (March).
        let summary = purge(app, json!({"before": "2025-05-01", "as_of": "2025-06-01T00:00:00Z"})).await;
        assert_eq!(
            summary,
            json!({"periods_purged": 3, "periods_unsettled": 1, "records_removed": 9, "summary_records": 5})
        );
        let (after, records_after) = books(app, &parties).await;
        assert_eq!(after, before);
        assert_eq!(records_after, records_before - 9);
        assert_eq!(xdrs_of_period(app, &unsettled_march).await, unsettled_xdrs);

        let february = periods_of(app, paying).await[0].clone();
        let calls: Vec<Value> = xdrs_of_period(app, &february)
            .await
            .into_iter()
            .filter(|x| x["service"] == "voice")
            .collect();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0]["quantity"], json!("27.00000"));
        assert_eq!(calls[0]["amount"], json!("3.73457"));
        assert_eq!(calls[0]["description"], json!("purged: 3 records"));
        assert_eq!(calls[0]["occurred_at"], json!("2025-02-03T08:00:00Z"));
        let audit = list(app, "/api/v1/audit-log?limit=1000").await;
        let purged = audit.iter().filter(|e| e["action"] == "purge_xdr_detail").count();
        assert_eq!(purged, 3);

        // A second purge finds nothing left to merge.
        let again = purge(app, json!({"before": "2025-05-01", "as_of": "2025-06-01T00:00:00Z"})).await;
        assert_eq!(
            again,
            json!({"periods_purged": 0, "periods_unsettled": 1, "records_removed": 0, "summary_records": 0})
        );
        assert_eq!(books(app, &parties).await, (before.clone(), records_after));

        // Once March is paid, naming its period purges it too, with the same guarantees.
        pay(app, late_payer, units(&invoices_of(app, late_payer).await[1]["open_amount"])).await;
        let (paid, records_paid) = books(app, &parties).await;
        let one = purge(app, json!({"period_id": unsettled_march["id"]})).await;
        assert_eq!(
            one,
            json!({"periods_purged": 1, "periods_unsettled": 0, "records_removed": 5, "summary_records": 3})
        );
        assert_eq!(books(app, &parties).await, (paid, records_paid - 5));
    }
}

on_both_backends! {
    async fn records_of_a_credited_invoice_keep_their_detail(app) {
        let template = app.standard_template().await;
        let class = app
            .class(
                &app.admin,
                json!({"name": "Business EU", "currency": "EUR",
                       "regular_invoices": {"enabled": true, "template_id": template},
                       "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}}}),
            )
            .await;
        let party = customer(app, &class["id"], "Credited").await;
        february(app, party).await;
        app.bill("2025-03-01T05:00:00Z").await;
        let invoice = invoices_of(app, party).await[0].clone();
        pay(app, party, units(&invoice["open_amount"])).await;
        let period = periods_of(app, party).await[0].clone();
        let detail = xdrs_of_period(app, &period).await;
        let call = detail.iter().find(|x| x["service"] == "voice").expect("a call").clone();
        // One call is credited: a credit note names it by its id.
        let note = app
            .post(
                &format!("/api/v1/invoices/{}/credit-notes", invoice["id"]),
                &app.admin,
                json!({"reason": "wrong rate", "xdr_ids": [call["id"]], "as_of": "2025-03-05T00:00:00Z"}),
            )
            .await;
        assert_eq!(note.status, StatusCode::CREATED, "{}: {}", app.backend, note.text);

        let summary = purge(app, json!({"before": "2025-03-01", "as_of": "2025-06-01T00:00:00Z"})).await;
        assert_eq!(summary["records_removed"], json!(0), "{summary}");
        assert_eq!(xdrs_of_period(app, &period).await, detail);
    }
}
