//! The external tax engine (§5.5) against a real HTTP server on 127.0.0.1 that the test scripts: the request
//! contract, retries of transient failures, permanent errors that leave the period `closing`, and the retry
//! that resumes the close once the engine answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as HttpStatus};
use axum::routing::post;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::*;
use crate::on_both_backends;
use crate::support::TestApp;

/// What the scripted engine answers to one request.
#[derive(Clone)]
enum Reply {
    /// A VAT on line L1 and a document-level levy, echoing the request id.
    Taxes,
    Status(u16),
    Body(String),
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<(HeaderMap, Value)>>,
}

impl Script {
    fn answer_next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.replies.lock().expect("script").extend(replies);
    }

    fn received(&self) -> Vec<(HeaderMap, Value)> {
        self.received.lock().expect("received").clone()
    }
}

fn taxes_for(request_id: &Value) -> Value {
    json!({"request_id": request_id, "taxes": [
        {"line_id": "L1", "name": "VAT", "jurisdiction": "DE", "rate_percent": "19", "base": "29.90000",
         "amount": "5.681"},
        {"line_id": null, "name": "Levy", "jurisdiction": "DE-BE", "rate_percent": "1", "base": "66.34812",
         "amount": "0.66348"},
    ]})
}

async fn handle(State(script): State<Arc<Script>>, headers: HeaderMap, body: String) -> (HttpStatus, String) {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let reply = script
        .replies
        .lock()
        .expect("script")
        .pop_front()
        .unwrap_or(Reply::Taxes);
    script
        .received
        .lock()
        .expect("received")
        .push((headers, request.clone()));
    match reply {
        Reply::Taxes => (HttpStatus::OK, taxes_for(&request["request_id"]).to_string()),
        Reply::Status(code) => (HttpStatus::from_u16(code).expect("status"), "unavailable".to_owned()),
        Reply::Body(text) => (HttpStatus::OK, text),
    }
}

/// Starts the scripted engine on 127.0.0.1 and answers its URL.
async fn start_engine() -> (Arc<Script>, String) {
    let script = Arc::new(Script::default());
    let router = Router::new().route("/tax", post(handle)).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let url = format!("http://{}/tax", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("engine serves") });
    (script, url)
}

/// The §7.1 customer in a class taxed by the engine at `url`, with the March charges; retries are 1 ms apart.
async fn externally_taxed_customer(app: &TestApp, url: &str) -> (Value, i64) {
    externally_taxed_customer_with(app, url, json!({})).await
}

/// [`externally_taxed_customer`] in a class with `extra` merged into its document.
async fn externally_taxed_customer_with(app: &TestApp, url: &str, extra: Value) -> (Value, i64) {
    let settings = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/settings",
            Some(&app.admin),
            Some(json!({"tax.retry_base_ms": 1})),
            None,
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.text);
    put_secret(app, "tax-engine", "very-secret-value-123").await;
    let mut document = json!({"taxation": {"method": "external", "external": {
        "endpoint_url": url, "timeout_ms": 5000, "secret_ref": "tax-engine", "prices_include_tax": false}}});
    merge(&mut document, extra);
    let class = invoicing_class(app, "External", "EUR", document).await;
    let party = berlin_customer(app, &class).await;
    app.section_7_1_march_charges(party).await;
    (class, party)
}

fn assert_engine_taxes(invoice: &Value) {
    assert_eq!(
        tax_lines(invoice),
        vec![
            row(["VAT", "19", "29.90000", "5.68100", "5.68100"]),
            row(["Levy", "1", "66.34812", "0.66348", "0.66348"]),
        ]
    );
    // U = 66.34812 + 6.34448 = 72.69260 → 72.70 away from zero.
    assert_eq!(
        totals(invoice),
        ["72.70000", "0.00740", "66.34812", "6.34448"].map(String::from)
    );
}

on_both_backends! {
    async fn external_engine_request_and_taxes(app) {
        let (script, url) = start_engine().await;
        let (class, party) = externally_taxed_customer(app, &url).await;
        let run = bill(app, "2025-04-01T04:00:00Z").await;
        assert_eq!(run["invoices_issued"], json!(1), "{run}");
        let invoice = only_invoice(app, party).await;
        assert_engine_taxes(&invoice);

        let received = script.received();
        assert_eq!(received.len(), 1);
        let (headers, body) = &received[0];
        let request_id = format!("close-{party}-{}", invoice["period_id"]);
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(header("authorization"), "Bearer very-secret-value-123");
        assert_eq!(header("idempotency-key"), request_id);
        assert_eq!(header("content-type"), "application/json");
        let line = |id: &str, kind: &str, service: &str, rate: &str, quantity: &str, amount: &str| {
            json!({"line_id": id, "kind": kind, "service": service, "rate_code": rate, "quantity": quantity,
                   "amount": amount})
        };
        assert_eq!(body, &json!({
            "request_id": request_id, "document": "regular_invoice", "currency": "EUR",
            "invoice_date": "2025-04-01",
            "period": {"start": "2025-02-28T23:00:00Z", "end": "2025-03-31T22:00:00Z"},
            "prices_include_tax": false,
            "party": {"id": party, "type": "customer", "country": null, "postal_code": null, "tax_id": null,
                      "tax_registered": false, "business_model": class["business_model"]},
            "lines": [
                line("L1", "recurring", "sip_trunk", "TRUNK-M", "1", "29.90000"),
                line("L2", "usage", "voice", "DE-FIX", "412", "12.34567"),
                line("L3", "usage", "voice", "DE-MOB", "1203", "20.00001"),
                line("L4", "usage", "voice", "INTL-AT", "96", "5.11244"),
                line("L5", "usage", "sms", "SMS-DE", "9", "0.99000"),
                line("L6", "credit", "voice", "GOODWILL", "1", "-2.00000"),
            ],
        }));
    }
}

on_both_backends! {
    async fn external_engine_failures_are_retried_until_it_answers(app) {
        let (script, url) = start_engine().await;
        let (_, party) = externally_taxed_customer(app, &url).await;
        script.answer_next([Reply::Status(503), Reply::Status(503), Reply::Status(503), Reply::Taxes]);
        let run = bill(app, "2025-04-01T04:00:00Z").await;
        assert_eq!((run["invoices_issued"].clone(), run["periods_failed"].clone()), (json!(1), json!(0)), "{run}");
        assert_engine_taxes(&only_invoice(app, party).await);
        let received = script.received();
        assert_eq!(received.len(), 4);
        let keys: Vec<_> = received.iter().map(|(h, _)| h.get("idempotency-key").cloned()).collect();
        assert!(keys.iter().all(|k| k == &keys[0]), "one idempotency key for every attempt");
    }
}

/// Bills, expects the close to fail with `tax_engine_failed` naming `reason`, and checks nothing was issued.
async fn expect_failed_close(app: &TestApp, party: i64, failure: &Value, reason: &str) {
    assert_eq!(failure["party_id"], json!(party));
    let error = failure["error"].as_str().unwrap_or("");
    assert!(
        error.starts_with("tax_engine_failed: ") && error.contains(reason),
        "{error}"
    );
    let period = period_of(app, &failure["period_id"]).await;
    assert_eq!(
        (period["status"].clone(), period["close_error"].clone()),
        (json!("closing"), failure["error"].clone())
    );
    assert_eq!(invoice_count(app, party).await, 0);
    assert!(
        tax_xdrs(app, party).await.is_empty(),
        "no tax is booked from a refused answer"
    );
}

on_both_backends! {
    async fn external_engine_bad_answers_fail_the_close_until_it_recovers(app) {
        let (script, url) = start_engine().await;
        let (_, party) = externally_taxed_customer(app, &url).await;
        script.answer_next([Reply::Body("{not json".to_owned())]);
        let run = bill(app, "2025-04-01T04:00:00Z").await;
        assert_eq!((run["periods_failed"].clone(), run["invoices_issued"].clone()), (json!(1), json!(0)), "{run}");
        expect_failed_close(app, party, &run["failures"][0], "not the expected JSON").await;

        let bad_answers = [
            (json!({"request_id": "close-0-0", "taxes": []}).to_string(), "not close-"),
            (json!({"request_id": format!("close-{party}-{}", run["failures"][0]["period_id"]), "taxes": [
                {"line_id": "L9", "name": "VAT", "rate_percent": "19", "base": "1", "amount": "0.19"}]}).to_string(),
             "taxes[0].line_id L9 was not sent"),
            (json!({"request_id": format!("close-{party}-{}", run["failures"][0]["period_id"]), "taxes": [
                {"line_id": "L1", "name": "VAT", "rate_percent": "19", "base": "1", "amount": "0.190001"}]}).to_string(),
             "taxes[0].amount: at most 5 fraction digits"),
        ];
        for (body, reason) in bad_answers {
            script.answer_next([Reply::Body(body)]);
            let retried = app.engine.retry_closing(Timestamp::now()).await.expect("retry runs");
            assert_eq!(retried.periods_failed, 1, "{reason}");
            let failure = serde_json::to_value(&retried.failures[0]).expect("failure");
            expect_failed_close(app, party, &failure, reason).await;
        }
        // Other 4xx answers are permanent: one attempt, no retry.
        script.answer_next([Reply::Status(400)]);
        let before = script.received().len();
        let retried = app.engine.retry_closing(Timestamp::now()).await.expect("retry runs");
        let failure = serde_json::to_value(&retried.failures[0]).expect("failure");
        expect_failed_close(app, party, &failure, "HTTP 400").await;
        assert_eq!(script.received().len(), before + 1);

        // The engine is fixed: the retry resumes the close.
        let retried = app.engine.retry_closing(Timestamp::now()).await.expect("retry runs");
        assert_eq!((retried.periods_closed, retried.invoices_issued), (1, 1));
        assert_engine_taxes(&only_invoice(app, party).await);
        assert_eq!(period_of(app, &run["failures"][0]["period_id"]).await["status"], json!("closed"));
    }
}

on_both_backends! {
    async fn external_engine_unavailable_after_six_attempts(app) {
        let (script, url) = start_engine().await;
        let (_, party) = externally_taxed_customer(app, &url).await;
        script.answer_next([429, 408, 500, 502, 503, 504].map(Reply::Status));
        let run = bill(app, "2025-04-01T04:00:00Z").await;
        expect_failed_close(app, party, &run["failures"][0], "HTTP 504 Gateway Timeout (after 6 attempts)").await;
        assert_eq!(script.received().len(), 6);
    }
}

/// The lines of a request to the engine as `(kind, service, rate_code)`.
fn requested_lines(body: &Value) -> Vec<(String, String, String)> {
    body["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| ["kind", "service", "rate_code"].map(|key| line[key].as_str().unwrap_or("").to_owned()))
        .map(|[kind, service, rate]| (kind, service, rate))
        .collect()
}

on_both_backends! {
    async fn the_recurring_fee_invoice_asks_the_engine_separately_and_nothing_is_taxed_twice(app) {
        let (script, url) = start_engine().await;
        let template = app.standard_template().await;
        let (_, party) = externally_taxed_customer_with(app, &url, json!({"out_of_turn_invoices": {
            "enabled": true, "template_id": template, "separate_recurring_fee_invoice": true, "auto_charge": "on_issue",
            "payment_terms": {"type": "net", "days": 5}}})).await;
        let run = bill(app, "2025-04-01T04:00:00Z").await;
        assert_eq!(run["invoices_issued"], json!(2), "{run}");

        let received = script.received();
        assert_eq!(received.len(), 2, "one request per invoice");
        let regular = &received[0].1;
        let fees = &received[1].1;
        let period = regular["request_id"].as_str().expect("request id").to_owned();
        assert!(period.starts_with(&format!("close-{party}-")), "{period}");
        assert_eq!((regular["document"].clone(), fees["document"].clone()),
                   (json!("regular_invoice"), json!("recurring_fees_invoice")));
        assert_eq!(fees["request_id"], json!(format!("{period}-recurring")));
        assert_eq!(received[1].0.get("idempotency-key").and_then(|v| v.to_str().ok()), Some(&*format!("{period}-recurring")));
        let trunk = ("recurring".to_owned(), "sip_trunk".to_owned(), "TRUNK-M".to_owned());
        assert_eq!(requested_lines(fees), vec![trunk.clone()]);
        assert!(!requested_lines(regular).contains(&trunk), "{regular}");
        assert_eq!(requested_lines(regular).len(), 5);

        let list = app.invoices_of(party).await;
        let invoices: Vec<Value> = read_invoices(app, &list).await;
        let by_kind = |kind: &str| invoices.iter().find(|i| i["kind"] == json!(kind)).expect(kind).clone();
        // Each invoice carries the engine's answer to its own request: VAT 5.681 on its L1 and the 0.66348 levy.
        let fee_invoice = by_kind("recurring_fees");
        assert_eq!(totals(&fee_invoice), ["36.25000", "0.00552", "29.90000", "6.34448"].map(String::from));
        let regular_invoice = by_kind("regular");
        // 36.44812 net + 6.34448 = 42.79260 → 42.80.
        assert_eq!(totals(&regular_invoice), ["42.80000", "0.00740", "36.44812", "6.34448"].map(String::from));
        assert_eq!(regular_invoice["out_of_turn"], json!("36.25000"));
    }
}

/// Every invoice of `list` read with its lines.
async fn read_invoices(app: &TestApp, list: &[Value]) -> Vec<Value> {
    let mut invoices = Vec::new();
    for item in list {
        invoices.push(app.invoice(&item["id"]).await);
    }
    invoices
}

/// Sends an out-of-turn invoice request for one setup fee of 29.90 under `key` at 2025-03-15.
async fn setup_fee_invoice(app: &TestApp, party: i64, key: &str) -> crate::support::Answer {
    app.post(
        &format!("/api/v1/customers/{party}/out-of-turn-invoices"),
        &app.admin,
        json!({"idempotency_key": key, "as_of": "2025-03-15T12:00:00Z", "items": [
            {"kind": "one_time", "description": "Installation", "service": "setup", "rate_code": "SETUP",
             "quantity": "1", "unit_price": "29.90"}]}),
    )
    .await
}

on_both_backends! {
    async fn an_out_of_turn_invoice_is_taxed_by_the_external_engine(app) {
        let (script, url) = start_engine().await;
        let template = app.standard_template().await;
        let (class, party) = externally_taxed_customer_with(app, &url, json!({"out_of_turn_invoices": {
            "enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 14}}})).await;
        let issued = setup_fee_invoice(app, party, "setup-1").await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
        assert_eq!(issued.body["kind"], json!("oot"));
        assert_eq!(totals(&issued.body), ["36.25000", "0.00552", "29.90000", "6.34448"].map(String::from));
        assert_eq!(tax_lines(&issued.body), vec![
            row(["VAT", "19", "29.90000", "5.68100", "5.68100"]),
            row(["Levy", "1", "66.34812", "0.66348", "0.66348"]),
        ]);

        let received = script.received();
        assert_eq!(received.len(), 1);
        let (headers, body) = &received[0];
        let request_id = format!("oot-{party}-setup-1");
        assert_eq!(headers.get("idempotency-key").and_then(|v| v.to_str().ok()), Some(request_id.as_str()));
        assert_eq!(body, &json!({
            "request_id": request_id, "document": "oot_invoice", "currency": "EUR", "invoice_date": "2025-03-15",
            "period": null, "prices_include_tax": false,
            "party": {"id": party, "type": "customer", "country": null, "postal_code": null, "tax_id": null,
                      "tax_registered": false, "business_model": class["business_model"]},
            "lines": [{"line_id": "L1", "kind": "one_time", "service": "setup", "rate_code": "SETUP", "quantity": "1",
                       "amount": "29.90000"}],
        }));

        // A re-send answers the same invoice without asking the engine again.
        let again = setup_fee_invoice(app, party, "setup-1").await;
        assert_eq!((again.status, again.body["id"].clone()), (StatusCode::OK, issued.body["id"].clone()));
        assert_eq!(script.received().len(), 1);
    }
}

on_both_backends! {
    async fn a_failing_engine_refuses_the_out_of_turn_invoice_and_writes_nothing(app) {
        let (script, url) = start_engine().await;
        let template = app.standard_template().await;
        let (_, party) = externally_taxed_customer_with(app, &url, json!({"out_of_turn_invoices": {
            "enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 14}}})).await;
        let xdrs_before = app.get(&format!("/api/v1/xdrs?party_id={party}"), &app.admin).await.body["items"].clone();

        script.answer_next([Reply::Body("{not json".to_owned())]);
        let refused = setup_fee_invoice(app, party, "setup-2").await;
        assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.text);
        assert_eq!(refused.body["code"], json!("tax_engine_failed"));
        assert!(refused.body["detail"].as_str().unwrap_or("").contains("not the expected JSON"), "{}", refused.text);
        // Transient failures are retried like the close's; six of them give up.
        script.answer_next([429, 408, 500, 502, 503, 504].map(Reply::Status));
        let refused = setup_fee_invoice(app, party, "setup-2").await;
        assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.text);
        assert!(refused.body["detail"].as_str().unwrap_or("").contains("after 6 attempts"), "{}", refused.text);
        assert_eq!(invoice_count(app, party).await, 0);
        let xdrs_after = app.get(&format!("/api/v1/xdrs?party_id={party}"), &app.admin).await.body["items"].clone();
        assert_eq!(xdrs_after, xdrs_before, "the items of a refused request are not booked");

        // The engine recovers: the same request now issues the invoice.
        let issued = setup_fee_invoice(app, party, "setup-2").await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
        assert_eq!(issued.body["tax_total"], json!("6.34448"));
        assert_eq!(script.received().len(), 8);
    }
}
