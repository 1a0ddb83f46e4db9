//! Refunds (`/customers/{id}/refunds`, `/resellers/{id}/refunds`): unallocated credit returned to a party,
//! booked as a positive `payment` xDR, taken from the oldest credit first, netted by the next regular invoice
//! and announced to the owner's webhooks as `refund_requested`. Worked example: the 10.00 credit the §7.1
//! payment leaves.

mod support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode as HttpStatus;
use classbill_engine::notifications::DeliveryConfig;
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, units};

/// Every xDR of the party (one page is enough here).
async fn xdrs_of(app: &TestApp, party: i64) -> Vec<Value> {
    let answer = app
        .get(&format!("/api/v1/xdrs?party_id={party}&limit=1000"), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

async fn pay(app: &TestApp, token: &str, party: i64, amount: &str, at: &str) -> Value {
    let answer = app
        .post(
            "/api/v1/payments",
            token,
            json!({"party_id": party, "amount": amount, "currency": "EUR", "received_at": at}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body
}

fn refunds_path(party: i64) -> String {
    format!("/api/v1/customers/{party}/refunds")
}

#[derive(Clone, Default)]
struct Hooks {
    received: Arc<Mutex<Vec<Bytes>>>,
}

async fn receive_hook(State(hooks): State<Hooks>, body: Bytes) -> HttpStatus {
    hooks.received.lock().expect("lock").push(body);
    HttpStatus::NO_CONTENT
}

/// A webhook endpoint of `token`'s owner pointing at a real receiver on 127.0.0.1.
async fn webhook_endpoint(app: &TestApp, token: &str, hooks: &Hooks) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let addr = listener.local_addr().expect("address");
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive_hook))
        .with_state(hooks.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.expect("receiver runs") });
    let secret = app
        .send(
            Method::PUT,
            "/api/v1/secrets/refund-hook",
            Some(token),
            Some(json!({"value": "whsec-refunds"})),
            None,
        )
        .await;
    assert!(secret.status.is_success(), "{}", secret.text);
    let endpoint = app
        .post(
            "/api/v1/webhook-endpoints",
            token,
            json!({"url": format!("http://{addr}/hook"), "secret_ref": "refund-hook"}),
        )
        .await;
    assert_eq!(endpoint.status, StatusCode::CREATED, "{}", endpoint.text);
}

on_both_backends! {
    async fn the_10_00_credit_left_by_the_worked_example_payment_is_refunded(app) {
        let (party, february) = app.section_7_1_february().await;
        let hooks = Hooks::default();
        webhook_endpoint(app, &app.admin, &hooks).await;

        // §7.1 item 2: 50.00 pays February, 10.00 is left as credit.
        let payment = pay(app, &app.admin, party, "60.00", "2025-03-10T11:00:00+01:00").await;
        assert_eq!(payment["unallocated"], json!("10.00000"));

        let body = json!({"amount": "10", "as_of": "2025-03-12T09:00:00Z", "reason": "customer asked",
                          "external_id": "refund-1", "currency": "EUR"});
        let refund = app.post(&refunds_path(party), &app.admin, body.clone()).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}: {}", app.backend, refund.text);
        let xdr_id = refund.body["xdr_id"].clone();
        assert_eq!(refund.body["party_id"], json!(party));
        assert_eq!(refund.body["amount"], json!("10.00000"));
        assert_eq!(refund.body["currency"], json!("EUR"));
        assert_eq!(refund.body["occurred_at"], json!("2025-03-12T09:00:00Z"));
        assert_eq!(refund.body["sources"], json!([{"kind": "payment", "xdr_id": payment["xdr_id"], "amount": "10.00000"}]));
        assert_eq!(refund.body["remaining_credit"], json!("0.00000"));

        // Booked as a reversed payment: a positive `payment` xDR of service `refund` in the March period.
        let payments: Vec<Value> = xdrs_of(app, party).await.into_iter().filter(|x| x["kind"] == "payment").collect();
        assert_eq!(payments.len(), 2, "{payments:?}");
        let booked = payments.iter().find(|x| x["id"] == xdr_id).expect("the refund xDR");
        assert_eq!(booked["service"], json!("refund"));
        assert_eq!(booked["amount"], json!("10.00000"));
        assert_eq!(booked["quantity"], json!("1.00000"));
        assert_eq!(booked["late"], json!(false));

        // The identical re-send answers the same refund with 200; another body under the key is 409.
        let again = app.post(&refunds_path(party), &app.admin, body.clone()).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.body, refund.body);
        let mut other = body;
        other["amount"] = json!("5");
        let conflict = app.post(&refunds_path(party), &app.admin, other).await;
        assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text);

        // Nothing is left to refund.
        let more = app.post(&refunds_path(party), &app.admin, json!({"amount": "0.01"})).await;
        assert_eq!(more.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", more.text);
        assert!(more.has_error("amount", "exceeds_credit"), "{}", more.text);
        assert!(more.text.contains("0.00000 EUR"), "the message names the credit: {}", more.text);

        let listed = app.get(&refunds_path(party), &app.admin).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
        assert_eq!(listed.body["items"], json!([refund.body.clone()]));

        // The March close: no credit left to consume, and the balance forward nets the refund
        // (payments −60 + 10 = −50): 50.00 + (−50.00) + 78.96 = 78.96.
        app.bill("2025-04-01T04:00:00Z").await;
        let march = app.invoice(&app.invoices_of(party).await[1]["id"]).await;
        assert_eq!(march["total"], json!("78.96000"));
        assert_eq!(march["previous_balance"], json!("50.00000"));
        assert_eq!(march["payments"], json!("-50.00000"));
        assert_eq!(march["amount_due"], json!("78.96000"));
        assert_eq!(march["credit_carried"], json!("0.00000"));
        assert_eq!(march["open_amount"], json!("78.96000"));
        assert_eq!(march["status"], json!("unpaid"));
        assert_eq!(march["allocations"], json!([]));
        assert!(
            march["lines"].as_array().expect("lines").iter().all(|l| l["service"] != "refund"),
            "a refund is not an invoice line: {}", march["lines"]
        );
        assert_eq!(app.invoice(&february["id"]).await["status"], json!("paid"));
        // The ledger agrees: Σ amount of every xDR is what the March invoice asks.
        let balance: i64 = xdrs_of(app, party).await.iter().map(|x| units(&x["amount"])).sum();
        assert_eq!(balance, units(&march["amount_due"]));

        // The payments export shows the refund as money going back: what stays received is 50.00, all of it
        // allocated, and no credit is left.
        let export = app.get("/api/v1/reports/payments?from=2025-03-01&to=2025-03-31", &app.admin).await;
        assert_eq!(export.status, StatusCode::OK, "{}", export.text);
        let refunded = export.body["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|row| row["xdr_id"] == xdr_id)
            .cloned()
            .expect("the refund is listed");
        assert_eq!(refunded["amount"], json!("-10.00000"));
        let totals = &export.body["totals"]["EUR"];
        assert_eq!(totals["amount"], json!("50.00000"));
        assert_eq!(totals["allocated"], json!("50.00000"));
        assert_eq!(totals["unallocated"], json!("0.00000"));

        // The payment system hears of it, always (no class setting is involved).
        let report = app
            .engine
            .deliver_outbox(&DeliveryConfig { smtp_url: None }, Timestamp::now())
            .await
            .expect("a delivery pass");
        assert!(report.sent >= 1, "{report:?}");
        let received = hooks.received.lock().expect("lock").clone();
        let events: Vec<Value> = received
            .iter()
            .map(|body| serde_json::from_slice(body).expect("JSON body"))
            .filter(|event: &Value| event["event"] == "refund_requested")
            .collect();
        assert_eq!(events.len(), 1, "{received:?}");
        assert_eq!(events[0]["subject_id"], xdr_id);
        assert_eq!(events[0]["party_id"], json!(party));
        assert_eq!(events[0]["data"]["xdr_id"], xdr_id);
        assert_eq!(events[0]["data"]["amount"], json!("10.00000"));
        assert_eq!(events[0]["data"]["currency"], json!("EUR"));
        assert_eq!(events[0]["data"]["reason"], json!("customer asked"));

        let audit = app.get("/api/v1/audit-log?limit=1000", &app.admin).await;
        let entry = audit.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| e["object_type"] == "refund")
            .cloned()
            .expect("the refund is audited");
        assert_eq!(entry["object_id"], json!(xdr_id.to_string()));
        assert_eq!(entry["details"]["amount"], json!("10.00000"));
    }
}

on_both_backends! {
    async fn refunds_take_the_oldest_credit_first_and_never_more_than_there_is(app) {
        let (party, _) = app.section_7_1_february().await;
        let first = pay(app, &app.admin, party, "60.00", "2025-03-10T11:00:00+01:00").await;
        let second = pay(app, &app.admin, party, "15", "2025-03-11T10:00:00Z").await;
        assert_eq!(second["unallocated"], json!("15.00000"));

        let refund = app.post(&refunds_path(party), &app.admin, json!({"amount": "12", "as_of": "2025-03-12T10:00:00Z"})).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text);
        assert_eq!(
            refund.body["sources"],
            json!([{"kind": "payment", "xdr_id": first["xdr_id"], "amount": "10.00000"},
                   {"kind": "payment", "xdr_id": second["xdr_id"], "amount": "2.00000"}])
        );
        assert_eq!(refund.body["remaining_credit"], json!("13.00000"));

        // More than the 13.00 left: refused, and nothing is written.
        let before = xdrs_of(app, party).await.len();
        let too_much = app.post(&refunds_path(party), &app.admin, json!({"amount": "13.00001"})).await;
        assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", too_much.text);
        assert!(too_much.has_error("amount", "exceeds_credit"), "{}", too_much.text);
        assert!(too_much.text.contains("13.00000 EUR"), "{}", too_much.text);
        assert_eq!(xdrs_of(app, party).await.len(), before);

        // The March close consumes only what is left (13.00, from the second payment), never the refunded credit.
        app.bill("2025-04-01T04:00:00Z").await;
        let march = app.invoice(&app.invoices_of(party).await[1]["id"]).await;
        assert_eq!(march["payments"], json!("-63.00000"));
        assert_eq!(march["amount_due"], json!("65.96000"));
        assert_eq!(march["open_amount"], json!("65.96000"));
        assert_eq!(march["status"], json!("partially_paid"));
        assert_eq!(
            march["allocations"],
            json!([{"source": {"kind": "payment", "xdr_id": second["xdr_id"]}, "amount": "13.00000",
                    "at": "2025-04-01T04:00:00Z"}])
        );
        let refunded = app.post(&refunds_path(party), &app.admin, json!({"amount": "0.00001"})).await;
        assert!(refunded.has_error("amount", "exceeds_credit"), "{}", refunded.text);
    }
}

on_both_backends! {
    async fn invalid_refunds_write_nothing(app) {
        let (party, _) = app.section_7_1_february().await;
        pay(app, &app.admin, party, "60.00", "2025-03-10T11:00:00+01:00").await;
        let cases = [
            (json!({"amount": "-5"}), "amount", "out_of_range"),
            (json!({"amount": "0"}), "amount", "out_of_range"),
            (json!({"amount": "1.000001"}), "amount", "invalid"),
            (json!({"amount": 5}), "amount", "invalid_type"),
            (json!({}), "amount", "required"),
            (json!({"amount": "5", "currency": "USD"}), "currency", "currency_mismatch"),
            (json!({"amount": "5", "as_of": "yesterday"}), "as_of", "invalid_type"),
            (json!({"amount": "5", "as_of": "2025-01-31T10:00:00Z"}), "as_of", "before_activation"),
            (json!({"amount": "5", "as_of": "2100-01-01T00:00:00Z"}), "as_of", "out_of_range"),
            (json!({"amount": "5", "note": "x"}), "note", "unknown_field"),
        ];
        for (body, field, code) in cases {
            let answer = app.post(&refunds_path(party), &app.admin, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", answer.text);
            assert!(answer.has_error(field, code), "{body}: {}", answer.text);
        }
        let refunds: Vec<Value> =
            xdrs_of(app, party).await.into_iter().filter(|x| x["service"] == "refund").collect();
        assert!(refunds.is_empty(), "{refunds:?}");
        assert_eq!(app.get(&refunds_path(party), &app.admin).await.body["items"], json!([]));
    }
}

on_both_backends! {
    async fn only_users_of_the_owner_refund_and_resellers_never_see_other_parties(app) {
        let (operator_party, _) = app.section_7_1_february().await;
        pay(app, &app.admin, operator_party, "60.00", "2025-03-10T11:00:00+01:00").await;
        let (alpha, alpha_token) = app.reseller_with_user("Alpha").await;
        let (_, beta_token) = app.reseller_with_user("Beta").await;

        // A reseller refunds its own customer's credit.
        let class = app.business_eu(&alpha_token).await;
        let own = app.berlin_customer(&alpha_token, &class["id"]).await;
        pay(app, &alpha_token, own, "7", "2025-03-10T10:00:00Z").await;
        let answer = app.post(&refunds_path(own), &alpha_token, json!({"amount": "7"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.body["remaining_credit"], json!("0.00000"));

        // Another reseller sees neither the customer nor its refunds; nor does one see the operator's customers.
        let foreign = app.post(&refunds_path(own), &beta_token, json!({"amount": "1"})).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.text);
        assert_eq!(app.get(&refunds_path(own), &beta_token).await.status, StatusCode::NOT_FOUND);
        let upward = app.post(&refunds_path(operator_party), &alpha_token, json!({"amount": "1"})).await;
        assert_eq!(upward.status, StatusCode::NOT_FOUND, "{}", upward.text);
        // The administrator sees the reseller's customer but is not its owner.
        let admin = app.post(&refunds_path(own), &app.admin, json!({"amount": "1"})).await;
        assert_eq!(admin.status, StatusCode::FORBIDDEN, "{}", admin.text);
        assert_eq!(app.get(&refunds_path(own), &app.admin).await.body["items"].as_array().map(Vec::len), Some(1));
        // A missing party and a party of the other kind are 404 alike.
        let missing = app.post(&refunds_path(999_999), &app.admin, json!({"amount": "1"})).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
        let wrong_kind = app.post(&refunds_path(alpha), &app.admin, json!({"amount": "1"})).await;
        assert_eq!(wrong_kind.status, StatusCode::NOT_FOUND, "{}", wrong_kind.text);

        // Credit of a reseller (a party of the operator) is refunded under /resellers.
        let reseller_credit = pay(app, &app.admin, alpha, "3", &Timestamp::now().to_string()).await;
        let refund = app
            .post(&format!("/api/v1/resellers/{alpha}/refunds"), &app.admin, json!({"amount": "3"}))
            .await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text);
        assert_eq!(refund.body["sources"][0]["xdr_id"], reseller_credit["xdr_id"]);
        let listed = app.get(&format!("/api/v1/resellers/{alpha}/refunds"), &app.admin).await;
        assert_eq!(listed.body["items"], json!([refund.body]));
        let by_reseller = app.post(&format!("/api/v1/resellers/{alpha}/refunds"), &alpha_token, json!({"amount": "1"})).await;
        assert_eq!(by_reseller.status, StatusCode::NOT_FOUND, "{}", by_reseller.text);
    }
}

on_both_backends! {
    async fn credit_of_a_negative_invoice_is_refunded_and_then_cannot_be_voided_away(app) {
        let class = app.business_eu(&app.admin).await;
        let party = app.berlin_customer(&app.admin, &class["id"]).await;
        // February: a goodwill credit of 84.03361 net, −100.00 with VAT (§5.7 rule 4: credit, nothing due).
        let credit = json!({"party_id": party, "external_id": "g1", "occurred_at": "2025-02-10T00:00:00+01:00",
            "kind": "credit", "service": "voice", "rate_code": "GOODWILL", "quantity": "1", "amount": "-84.03361"});
        let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [credit]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        app.bill("2025-03-01T05:00:00Z").await;
        let february = app.invoices_of(party).await[0].clone();
        assert_eq!(february["total"], json!("-100.00000"));
        assert_eq!(february["status"], json!("nothing_due"));

        let refund = app.post(&refunds_path(party), &app.admin, json!({"amount": "30", "as_of": "2025-03-05T10:00:00Z"})).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text);
        assert_eq!(refund.body["sources"], json!([{"kind": "invoice", "invoice_id": february["id"], "amount": "30.00000"}]));
        assert_eq!(refund.body["remaining_credit"], json!("70.00000"));

        // Part of its credit is gone to the party, so the invoice can no longer be voided.
        let void = app
            .post(&format!("/api/v1/invoices/{}/void", february["id"]), &app.admin, json!({"reason": "typo"}))
            .await;
        assert_eq!(void.status, StatusCode::CONFLICT, "{}", void.text);
        assert!(void.text.contains("credit_in_use"), "{}", void.text);
        assert_eq!(app.invoice(&february["id"]).await["status"], json!("nothing_due"));
    }
}
