//! Classes, parties, xDRs and closes for the taxation stories.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;

/// A class with regular invoices on (Standard template, net 15) plus `extra` merged in.
pub async fn invoicing_class(app: &TestApp, name: &str, currency: &str, extra: Value) -> Value {
    let template = app.standard_template().await;
    let mut body = json!({
        "name": name, "currency": currency,
        "regular_invoices": {"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 15}},
    });
    merge(&mut body, extra);
    app.class(&app.admin, body).await
}

pub fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

pub fn fixed_vat(rate: &str, inclusive: bool) -> Value {
    json!({"taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": rate, "inclusive": inclusive}}})
}

pub async fn customer(app: &TestApp, body: Value) -> i64 {
    let answer = app.post("/api/v1/customers", &app.admin, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

/// A customer of `class` in UTC, monthly, active from 2025-03-01, with `extra` attributes.
pub async fn march_customer(app: &TestApp, class: &Value, name: &str, extra: Value) -> i64 {
    let mut body = json!({"name": name, "currency": "EUR", "class_id": class["id"],
                          "activated_at": "2025-03-01T00:00:00Z"});
    merge(&mut body, extra);
    customer(app, body).await
}

/// The §7.1 customer: Europe/Berlin, monthly, first period = March 2025.
pub async fn berlin_customer(app: &TestApp, class: &Value) -> i64 {
    customer(
        app,
        json!({"name": "Customer 1001", "currency": "EUR", "class_id": class["id"], "time_zone": "Europe/Berlin",
               "billing_period": "monthly", "activated_at": "2025-03-01T00:00:00+01:00"}),
    )
    .await
}

/// One xDR of a `POST /xdrs` batch, without rate code and with quantity 1.
pub fn xdr(party: i64, key: &str, at: &str, kind: &str, service: &str, amount: &str) -> Value {
    json!({"party_id": party, "external_id": key, "occurred_at": at, "kind": kind, "service": service,
           "quantity": "1", "amount": amount})
}

pub async fn post_xdrs(app: &TestApp, xdrs: Vec<Value>) {
    let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": xdrs})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
}

/// Waits for a billing run to finish and answers it.
async fn finished(app: &TestApp, id: i64) -> Value {
    for _ in 0..600 {
        let run = app.get(&format!("/api/v1/billing-runs/{id}"), &app.admin).await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.text);
        if run.body["status"] == json!("completed") || run.body["status"] == json!("failed") {
            return run.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{}: billing run {id} did not finish", app.backend);
}

/// Runs the billing at `as_of` through `POST /billing-runs` and answers the finished run.
pub async fn bill(app: &TestApp, as_of: &str) -> Value {
    let answer = app
        .post("/api/v1/billing-runs", &app.admin, json!({"as_of": as_of}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}: {}", app.backend, answer.text);
    finished(app, answer.body["id"].as_i64().expect("run id")).await
}

/// The party's only invoice, read with its lines.
pub async fn only_invoice(app: &TestApp, party: i64) -> Value {
    let list = app.get(&format!("/api/v1/invoices?party_id={party}"), &app.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}: {}", app.backend, list.text);
    let answer = app
        .get(&format!("/api/v1/invoices/{}", items[0]["id"]), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

pub async fn invoice_count(app: &TestApp, party: i64) -> usize {
    let list = app.get(&format!("/api/v1/invoices?party_id={party}"), &app.admin).await;
    list.body["items"].as_array().map_or(0, Vec::len)
}

/// The tax lines of an invoice as `(tax_name, tax_rate_percent, tax_base, tax_amount, amount)`.
pub fn tax_lines(invoice: &Value) -> Vec<[String; 5]> {
    invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|line| line["kind"] == json!("tax"))
        .map(|line| {
            ["tax_name", "tax_rate_percent", "tax_base", "tax_amount", "amount"]
                .map(|field| line[field].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

pub fn row(fields: [&str; 5]) -> [String; 5] {
    fields.map(str::to_owned)
}

/// The `(total, rounding, net_total, tax_total)` of an invoice.
pub fn totals(invoice: &Value) -> [String; 4] {
    ["total", "rounding", "net_total", "tax_total"].map(|field| invoice[field].as_str().unwrap_or("").to_owned())
}

/// The party's tax xDRs.
pub async fn tax_xdrs(app: &TestApp, party: i64) -> Vec<Value> {
    let answer = app
        .get(&format!("/api/v1/xdrs?party_id={party}&kind=tax"), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

pub async fn put_secret(app: &TestApp, name: &str, value: &str) {
    let answer = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/secrets/{name}"),
            Some(&app.admin),
            Some(json!({"value": value})),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
}

pub async fn vat_rate(app: &TestApp, country: &str, rate: &str, zone: Option<&str>) -> i64 {
    let answer = app
        .post(
            "/api/v1/vat-rates",
            &app.admin,
            json!({"country": country, "rate_percent": rate, "zone": zone}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body["id"].as_i64().expect("vat rate id")
}

pub async fn custom_tax(app: &TestApp, name: &str, rate: &str, scope: &str) -> i64 {
    let answer = app
        .post(
            "/api/v1/custom-taxes",
            &app.admin,
            json!({"name": name, "rate_percent": rate, "scope": scope}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body["id"].as_i64().expect("custom tax id")
}

pub async fn period_of(app: &TestApp, id: &Value) -> Value {
    let answer = app.get(&format!("/api/v1/periods/{id}"), &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}
