//! Out-of-turn invoices (customer-classes §5.10) and charge requests with their results (§5.8 rule 5),
//! driven through the HTTP API on both backends.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;

/// A class with regular and out-of-turn invoices (Standard template, OOT net 14), fixed VAT 19 % exclusive,
/// precision 2 away from zero; `oot` is merged into its `out_of_turn_invoices` tab.
async fn business_eu(app: &TestApp, token: &str, oot: Value) -> Value {
    business_eu_with(app, token, oot, json!({})).await
}

/// [`business_eu`] with more top-level keys of the class document.
async fn business_eu_with(app: &TestApp, token: &str, oot: Value, extra: Value) -> Value {
    let template = app.standard_template().await;
    let mut tab = json!({"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 14}});
    for (key, value) in oot.as_object().expect("an object") {
        tab[key] = value.clone();
    }
    let mut document = json!({
        "name": "Business EU", "currency": "EUR",
        "regular_invoices": {"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 15}},
        "out_of_turn_invoices": tab,
        "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}},
    });
    for (key, value) in extra.as_object().expect("an object") {
        document[key] = value.clone();
    }
    app.class(token, document).await
}

/// A monthly Europe/Berlin customer activated 2025-03-01 (March is its first period).
async fn customer(app: &TestApp, token: &str, class_id: &Value) -> i64 {
    let answer = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": "Customer 1001", "currency": "EUR", "class_id": class_id, "time_zone": "Europe/Berlin",
                   "billing_period": "monthly", "activated_at": "2025-03-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

/// Three March usage xDRs of §7.1; answers their ids in order.
async fn march_usage(app: &TestApp, party: i64) -> Vec<i64> {
    let rows = [
        ("x2", "2025-03-03T10:12:00+01:00", "DE-FIX", "412", "12.34567"),
        ("x4", "2025-03-11T17:40:00+01:00", "DE-MOB", "1203", "20.00001"),
        ("x5", "2025-03-19T08:05:00+01:00", "INTL-AT", "96", "5.11244"),
    ];
    let xdrs: Vec<Value> = rows
        .iter()
        .map(|(key, at, rate, quantity, amount)| {
            json!({"party_id": party, "external_id": key, "occurred_at": at, "kind": "usage", "service": "voice",
                   "rate_code": rate, "quantity": quantity, "amount": amount})
        })
        .collect();
    let answer = app.post("/api/v1/xdrs", &app.admin, json!({ "xdrs": xdrs })).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|x| x["id"].as_i64().expect("xDR id"))
        .collect()
}

fn oot_path(party: i64) -> String {
    format!("/api/v1/customers/{party}/out-of-turn-invoices")
}

/// A request for xDRs 2 and 4 of §7.1 plus a set-up fee of 2 × 7.50 and a goodwill credit of 2.50.
fn two_xdrs_and_two_items(key: &str, xdr_ids: &[i64]) -> Value {
    json!({
        "idempotency_key": key,
        "as_of": "2025-03-20T10:00:00Z",
        "xdr_ids": [xdr_ids[0], xdr_ids[1]],
        "items": [
            {"kind": "one_time", "description": "Installation", "service": "setup", "rate_code": "SETUP",
             "quantity": "2", "unit_price": "7.50"},
            {"kind": "credit", "description": "Goodwill", "service": "voice", "rate_code": "GOODWILL",
             "quantity": "1", "unit_price": "2.5"},
        ],
    })
}

async fn issue(app: &TestApp, token: &str, party: i64, body: Value) -> Value {
    let answer = app.post(&oot_path(party), token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body
}

async fn xdr_count(app: &TestApp, party: i64) -> usize {
    let answer = app.get(&format!("/api/v1/xdrs?party_id={party}"), &app.admin).await;
    answer.body["items"].as_array().expect("items").len()
}

/// The `(kind, service, rate_code, amount)` of an invoice's lines.
fn lines(invoice: &Value) -> Vec<(String, String, String, String)> {
    invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            let text = |key: &str| l[key].as_str().unwrap_or("").to_owned();
            (text("kind"), text("service"), text("rate_code"), text("amount"))
        })
        .collect()
}

on_both_backends! {
    async fn an_oot_invoice_taxes_two_xdrs_and_two_items_and_leaves_the_regular_invoice(app) {
        let class = business_eu(app, &app.admin, json!({})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let ids = march_usage(app, party).await;

        let oot = issue(app, &app.admin, party, two_xdrs_and_two_items("oot-1", &ids)).await;
        // Charges 12.34567 + 20.00001 + 2 × 7.50 − 2.50 = 44.84568; VAT 19 % = 8.5206792 → 8.52068;
        // U = 53.36636 → 53.37, rounding +0.00364.
        assert_eq!(oot["kind"], "oot");
        assert_eq!(oot["number"], "INV-000001");
        assert_eq!(oot["issue_date"], "2025-03-20");
        assert_eq!(oot["due_date"], "2025-04-03");
        assert_eq!(oot["net_total"], "44.84568");
        assert_eq!(oot["tax_total"], "8.52068");
        assert_eq!(oot["rounding"], "0.00364");
        assert_eq!(oot["total"], "53.37000");
        assert_eq!(oot["open_amount"], "53.37000");
        assert_eq!(oot["amount_due"], "53.37000");
        assert_eq!(oot["previous_balance"], "0.00000");
        assert_eq!(oot["status"], "unpaid");
        assert_eq!(oot["period_id"], Value::Null);
        assert_eq!(oot["settings_snapshot"]["class_id"], class["id"]);
        let tax = oot["lines"].as_array().expect("lines").iter().find(|l| l["kind"] == "tax").expect("a tax line").clone();
        assert_eq!(tax["tax_name"], "VAT");
        assert_eq!(tax["tax_rate_percent"], "19");
        assert_eq!(tax["tax_base"], "44.84568");
        assert_eq!(tax["amount"], "8.52068");
        let expected = [
            ("usage", "voice", "DE-FIX", "12.34567"),
            ("usage", "voice", "DE-MOB", "20.00001"),
            ("one_time", "setup", "SETUP", "15.00000"),
            ("credit", "voice", "GOODWILL", "-2.50000"),
            ("tax", "tax", "", "8.52068"),
            ("rounding", "rounding", "", "0.00364"),
        ];
        let expected: Vec<(String, String, String, String)> = expected
            .iter()
            .map(|(a, b, c, d)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned(), (*d).to_owned()))
            .collect();
        assert_eq!(lines(&oot), expected, "{}", app.backend);

        // The items are xDRs of the March period, the named xDRs now carry the invoice.
        let items = app.get(&format!("/api/v1/xdrs?party_id={party}&kind=one_time"), &app.admin).await;
        assert_eq!(items.body["items"][0]["amount"], "15.00000", "{}", items.text);
        assert_eq!(items.body["items"][0]["invoice_id"], oot["id"]);
        assert_eq!(items.body["items"][0]["occurred_at"], "2025-03-20T10:00:00Z");

        // The March close bills only xDR 5; the OOT amounts count in the balance, not on the invoice.
        app.bill("2025-04-01T06:00:00Z").await;
        let regular = app.invoices_of(party).await.into_iter().find(|i| i["kind"] == "regular").expect("regular");
        let regular = app.invoice(&regular["id"]).await;
        // 5.11244 + VAT 0.97136 = 6.0838 → 6.09.
        assert_eq!(regular["number"], "INV-000002");
        assert_eq!(regular["total"], "6.09000", "{}", regular);
        assert_eq!(regular["out_of_turn"], "53.37000");
        assert_eq!(regular["amount_due"], "59.46000");
        let rates: Vec<String> = lines(&regular).into_iter().map(|l| l.2).collect();
        assert_eq!(rates, ["INTL-AT", "", ""], "{}", app.backend);

        // Statistics keep every xDR of the period, each with the invoice carrying it.
        let period = regular["period_id"].clone();
        let csv = app.get(&format!("/api/v1/periods/{period}/statistics/full.csv"), &app.admin).await;
        assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
        let row_of = |id: i64| csv.text.lines().find(|l| l.starts_with(&format!("{id},"))).map(str::to_owned);
        assert!(row_of(ids[0]).expect("xDR 2 in statistics").ends_with(",INV-000001,false"), "{}", csv.text);
        assert!(row_of(ids[1]).expect("xDR 4 in statistics").ends_with(",INV-000001,false"), "{}", csv.text);
        assert!(row_of(ids[2]).expect("xDR 5 in statistics").ends_with(",INV-000002,false"), "{}", csv.text);
        assert!(csv.text.contains(",one_time,setup,SETUP,"), "{}", csv.text);
    }
}

on_both_backends! {
    async fn a_class_without_oot_invoices_refuses_with_409(app) {
        let class = app.class(&app.admin, json!({"name": "Retail AT", "currency": "EUR"})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let answer = app
            .post(&oot_path(party), &app.admin, json!({"idempotency_key": "k", "items": [
                {"kind": "one_time", "service": "setup", "quantity": "1", "unit_price": "10"}]}))
            .await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}: {}", app.backend, answer.text);
        assert_eq!(answer.body["detail"], "out-of-turn invoices are disabled for class \"Retail AT\"");
        assert_eq!(answer.body["errors"][0]["field"], "out_of_turn_invoices.enabled");
        assert_eq!(xdr_count(app, party).await, 0, "nothing was written");
    }
}

on_both_backends! {
    async fn xdrs_already_invoiced_are_refused_and_nothing_is_written(app) {
        let class = business_eu(app, &app.admin, json!({})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let ids = march_usage(app, party).await;
        issue(app, &app.admin, party, two_xdrs_and_two_items("first", &ids)).await;
        let xdrs_before = xdr_count(app, party).await;

        let answer = app
            .post(&oot_path(party), &app.admin, json!({"idempotency_key": "second", "xdr_ids": [ids[1], ids[2], 999_999],
                "items": [{"kind": "one_time", "service": "setup", "quantity": "1", "unit_price": "10"}]}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", app.backend, answer.text);
        let errors = answer.body["errors"].as_array().expect("errors").clone();
        assert_eq!(errors.len(), 2, "{}", answer.text);
        assert_eq!(errors[0]["field"], "xdr_ids[0]");
        assert_eq!(errors[0]["message"], format!("xDR {} is already on invoice INV-000001", ids[1]));
        assert_eq!(errors[1]["field"], "xdr_ids[2]");
        assert_eq!(errors[1]["code"], "not_found");
        assert_eq!(xdr_count(app, party).await, xdrs_before, "the item was not booked");
        assert_eq!(app.invoices_of(party).await.len(), 1);

        // The first xDR alone is refused on its own too.
        let answer = app
            .post(&oot_path(party), &app.admin, json!({"idempotency_key": "third", "xdr_ids": [ids[0]]}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("xdr_ids[0]", "already_invoiced"), "{}", answer.text);
        assert_eq!(answer.body["errors"][0]["message"], format!("xDR {} is already on invoice INV-000001", ids[0]));

        // Taxes and payments are not charges; the sequence did not move for any refusal.
        let payment = app
            .post("/api/v1/payments", &app.admin,
                  json!({"party_id": party, "amount": "1", "currency": "EUR", "received_at": "2025-03-05T00:00:00Z"}))
            .await;
        let payment_id = payment.body["xdr_id"].as_i64().expect("payment xDR");
        let answer = app
            .post(&oot_path(party), &app.admin, json!({"idempotency_key": "fourth", "xdr_ids": [payment_id]}))
            .await;
        assert!(answer.has_error("xdr_ids[0]", "not_invoiceable"), "{}", answer.text);
        let sequence = app.get("/api/v1/invoice-sequences/administrator", &app.admin).await;
        assert_eq!(sequence.body["next_number"], 2, "{}", sequence.text);
    }
}

on_both_backends! {
    async fn the_same_key_and_body_answer_the_same_invoice_and_another_body_is_409(app) {
        let class = business_eu(app, &app.admin, json!({})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let ids = march_usage(app, party).await;
        let first = issue(app, &app.admin, party, two_xdrs_and_two_items("again", &ids)).await;

        let again = app.post(&oot_path(party), &app.admin, two_xdrs_and_two_items("again", &ids)).await;
        assert_eq!(again.status, StatusCode::OK, "{}: {}", app.backend, again.text);
        assert_eq!(again.body["id"], first["id"]);
        assert_eq!(again.body["total"], first["total"]);

        let mut other = two_xdrs_and_two_items("again", &ids);
        other["items"][0]["quantity"] = json!("3");
        let answer = app.post(&oot_path(party), &app.admin, other).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}: {}", app.backend, answer.text);
        assert_eq!(answer.body["code"], "idempotency_key_conflict");
        assert_eq!(app.invoices_of(party).await.len(), 1);
    }
}

on_both_backends! {
    async fn only_users_of_the_owner_issue_and_other_resellers_see_nothing(app) {
        let (_, alpha) = app.reseller_with_user("Alpha").await;
        let (_, beta) = app.reseller_with_user("Beta").await;
        let class = business_eu(app, &beta, json!({})).await;
        let party = customer(app, &beta, &class["id"]).await;
        let body = json!({"idempotency_key": "k", "as_of": "2025-03-20T10:00:00Z",
            "items": [{"kind": "one_time", "service": "setup", "quantity": "1", "unit_price": "10"}]});

        let answer = app.post(&oot_path(party), &alpha, body.clone()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}: {}", app.backend, answer.text);
        let answer = app.post(&format!("/api/v1/resellers/{party}/out-of-turn-invoices"), &beta, body.clone()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "a customer is not a reseller: {}", answer.text);
        let answer = app.post(&oot_path(party), &app.admin, body.clone()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}: {}", app.backend, answer.text);
        assert_eq!(xdr_count(app, party).await, 0);

        let issued = issue(app, &beta, party, body).await;
        // 10.00 + VAT 1.90; the reseller's own sequence.
        assert_eq!(issued["total"], "11.90000");
        assert_eq!(issued["number"], "INV-000001");
        let seen = app.get(&format!("/api/v1/invoices/{}", issued["id"]), &alpha).await;
        assert_eq!(seen.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn unallocated_credit_pays_the_oot_invoice_at_issue(app) {
        let class = business_eu(app, &app.admin, json!({})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let payment = app
            .post("/api/v1/payments", &app.admin,
                  json!({"party_id": party, "amount": "20", "currency": "EUR", "received_at": "2025-03-05T00:00:00Z"}))
            .await;
        assert_eq!(payment.status, StatusCode::CREATED, "{}", payment.text);
        assert_eq!(payment.body["unallocated"], "20.00000");

        // 15.00 + VAT 2.85 = 17.85, paid from the 20.00 credit.
        let oot = issue(app, &app.admin, party, json!({"idempotency_key": "paid", "as_of": "2025-03-20T10:00:00Z",
            "items": [{"kind": "one_time", "service": "setup", "quantity": "1", "unit_price": "15"}]})).await;
        assert_eq!(oot["total"], "17.85000");
        assert_eq!(oot["open_amount"], "0.00000");
        assert_eq!(oot["amount_due"], "0.00000");
        assert_eq!(oot["status"], "paid");
        assert_eq!(oot["allocations"][0]["amount"], "17.85000", "{}", oot);
        assert_eq!(oot["allocations"][0]["source"]["xdr_id"], payment.body["xdr_id"]);

        // The remaining 2.15 pays the next one in part.
        let next = issue(app, &app.admin, party, json!({"idempotency_key": "part", "as_of": "2025-03-21T10:00:00Z",
            "items": [{"kind": "one_time", "service": "setup", "quantity": "1", "unit_price": "10"}]})).await;
        assert_eq!(next["total"], "11.90000");
        assert_eq!(next["open_amount"], "9.75000");
        assert_eq!(next["amount_due"], "9.75000");
        assert_eq!(next["status"], "partially_paid");
    }
}

/// An endpoint of the administrator receiving integration events (nothing listens there; the outbox is
/// what the tests read).
async fn admin_webhook(app: &TestApp) {
    let secret = app
        .send(
            Method::PUT,
            "/api/v1/secrets/hook-key",
            Some(&app.admin),
            Some(json!({"value": "whsec-1"})),
            None,
        )
        .await;
    assert!(secret.status.is_success(), "{}", secret.text);
    let endpoint = app
        .post(
            "/api/v1/webhook-endpoints",
            &app.admin,
            json!({"url": "http://127.0.0.1:9/hook", "secret_ref": "hook-key"}),
        )
        .await;
    assert_eq!(endpoint.status, StatusCode::CREATED, "{}", endpoint.text);
}

async fn log(app: &TestApp, party: i64, event: &str) -> Vec<Value> {
    let answer = app
        .get(
            &format!("/api/v1/notifications?party_id={party}&event={event}"),
            &app.admin,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

async fn charge_result(app: &TestApp, body: Value) -> Value {
    let answer = app.post("/api/v1/charge-results", &app.admin, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
    answer.body
}

on_both_backends! {
    async fn an_on_issue_charge_request_is_paid_by_its_first_result(app) {
        admin_webhook(app).await;
        let class = business_eu_with(app, &app.admin, json!({"auto_charge": "on_issue"}),
            json!({"notifications": {"events": {"oot_invoice_issued": {"webhook": true}}}})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let ids = march_usage(app, party).await;
        let oot = issue(app, &app.admin, party, two_xdrs_and_two_items("charged", &ids)).await;
        assert_eq!(oot["status"], "unpaid");

        let requested = log(app, party, "charge_requested").await;
        assert_eq!(requested.len(), 1, "{}: {requested:?}", app.backend);
        assert_eq!(requested[0]["channel"], "webhook");
        assert_eq!(requested[0]["recipient"], "http://127.0.0.1:9/hook");
        let issued = log(app, party, "oot_invoice_issued").await;
        assert_eq!(issued.len(), 1, "{}: {issued:?}", app.backend);
        assert_eq!(issued[0]["channel"], "webhook");
        let request_id = format!("chr_{}_1", oot["id"]);

        let result = charge_result(app, json!({"request_id": request_id, "outcome": "succeeded",
            "at": "2025-03-20T11:00:00Z"})).await;
        assert_eq!(result["outcome"], "succeeded");
        assert_eq!(result["amount"], "53.37000");
        assert_eq!(result["attempt"], 1);
        let payment = result["payment_xdr_id"].clone();
        assert!(payment.is_i64(), "{result}");
        let paid = app.invoice(&oot["id"]).await;
        assert_eq!(paid["status"], "paid");
        assert_eq!(paid["open_amount"], "0.00000");
        assert_eq!(paid["allocations"][0]["source"]["xdr_id"], payment);
        let payments = app.get(&format!("/api/v1/xdrs?party_id={party}&kind=payment"), &app.admin).await;
        assert_eq!(payments.body["items"][0]["amount"], "-53.37000", "{}", payments.text);
        assert_eq!(payments.body["items"][0]["occurred_at"], "2025-03-20T11:00:00Z");

        // Only the first result counts.
        let second = charge_result(app, json!({"request_id": request_id, "outcome": "failed",
            "at": "2025-03-20T12:00:00Z", "reason": "card declined"})).await;
        assert_eq!(second["outcome"], "succeeded");
        assert_eq!(second["payment_xdr_id"], payment);
        assert_eq!(log(app, party, "auto_charge_failed").await.len(), 0);
        let payments = app.get(&format!("/api/v1/xdrs?party_id={party}&kind=payment"), &app.admin).await;
        assert_eq!(payments.body["items"].as_array().map(Vec::len), Some(1), "{}", payments.text);

        let unknown = app
            .post("/api/v1/charge-results", &app.admin,
                  json!({"request_id": "chr_0_1", "outcome": "succeeded", "at": "2025-03-20T11:00:00Z"}))
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
        let (_, other) = app.reseller_with_user("Gamma").await;
        let hidden = app
            .post("/api/v1/charge-results", &other,
                  json!({"request_id": request_id, "outcome": "failed", "at": "2025-03-20T11:00:00Z"}))
            .await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text);
    }
}

on_both_backends! {
    async fn a_failed_charge_emits_auto_charge_failed_and_later_results_are_ignored(app) {
        admin_webhook(app).await;
        let class = business_eu(app, &app.admin, json!({"auto_charge": "on_issue"})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let oot = issue(app, &app.admin, party, json!({"idempotency_key": "declined", "as_of": "2025-03-20T10:00:00Z",
            "items": [{"kind": "one_time", "service": "setup", "quantity": "1", "unit_price": "10"}]})).await;
        let request_id = format!("chr_{}_1", oot["id"]);

        let failed = charge_result(app, json!({"request_id": request_id, "outcome": "failed",
            "at": "2025-03-20T11:00:00Z", "reason": "card declined"})).await;
        assert_eq!(failed["outcome"], "failed");
        assert_eq!(failed["reason"], "card declined");
        assert_eq!(failed["payment_xdr_id"], Value::Null);
        let messages = log(app, party, "auto_charge_failed").await;
        assert_eq!(messages.len(), 1, "{}: {messages:?}", app.backend);
        assert_eq!(messages[0]["channel"], "email");
        assert_eq!(messages[0]["status"], "skipped", "the customer has no e-mail address");

        let late = charge_result(app, json!({"request_id": request_id, "outcome": "succeeded",
            "at": "2025-03-20T12:00:00Z"})).await;
        assert_eq!(late["outcome"], "failed");
        let still = app.invoice(&oot["id"]).await;
        assert_eq!(still["status"], "unpaid");
        assert_eq!(still["open_amount"], "11.90000");
        let payments = app.get(&format!("/api/v1/xdrs?party_id={party}&kind=payment"), &app.admin).await;
        assert_eq!(payments.body["items"], json!([]), "{}", payments.text);
    }
}

on_both_backends! {
    async fn bad_bodies_list_every_error(app) {
        let class = business_eu(app, &app.admin, json!({})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let answer = app
            .post(&oot_path(party), &app.admin, json!({"as_of": "yesterday", "xdr_ids": ["x"], "items": [
                {"kind": "usage", "service": "voice", "quantity": "0", "unit_price": "-1"}]}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", app.backend, answer.text);
        for (field, code) in [
            ("idempotency_key", "required"),
            ("as_of", "invalid_type"),
            ("xdr_ids[0]", "invalid_type"),
            ("items[0].kind", "invalid"),
            ("items[0].quantity", "out_of_range"),
            ("items[0].unit_price", "out_of_range"),
        ] {
            assert!(answer.has_error(field, code), "{field} {code}: {}", answer.text);
        }
        let early = app
            .post(&oot_path(party), &app.admin, json!({"idempotency_key": "early", "as_of": "2025-02-01T00:00:00Z",
                "items": [{"kind": "one_time", "service": "setup", "quantity": "1", "unit_price": "1"}]}))
            .await;
        assert!(early.has_error("as_of", "before_activation"), "{}", early.text);
        let charge = app.post("/api/v1/charge-results", &app.admin, json!({"outcome": "maybe"})).await;
        assert_eq!(charge.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", charge.text);
        for (field, code) in [("request_id", "required"), ("outcome", "invalid"), ("at", "required")] {
            assert!(charge.has_error(field, code), "{field} {code}: {}", charge.text);
        }
    }
}

on_both_backends! {
    async fn a_prepaid_customer_taxed_at_payment_gets_no_tax_on_its_oot_invoice(app) {
        let class = business_eu_with(app, &app.admin, json!({}),
            json!({"taxation": {"method": "fixed_vat", "tax_timing": "at_payment",
                                "fixed_vat": {"rate_percent": "19", "inclusive": false}}})).await;
        let answer = app
            .post("/api/v1/customers", &app.admin,
                  json!({"name": "Prepaid", "currency": "EUR", "class_id": class["id"], "prepaid": true,
                         "time_zone": "Europe/Berlin", "activated_at": "2025-03-01T00:00:00+01:00"}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let prepaid = answer.body["id"].as_i64().expect("customer id");
        let postpaid = customer(app, &app.admin, &class["id"]).await;
        let body = json!({"idempotency_key": "k", "as_of": "2025-03-20T10:00:00Z",
            "items": [{"kind": "one_time", "service": "setup", "quantity": "3", "unit_price": "3.333335"}]});
        assert_eq!(app.post(&oot_path(prepaid), &app.admin, body).await.status, StatusCode::UNPROCESSABLE_ENTITY);

        let body = json!({"idempotency_key": "k", "as_of": "2025-03-20T10:00:00Z",
            "items": [{"kind": "one_time", "service": "setup", "quantity": "3", "unit_price": "3.33333"}]});
        // 3 × 3.33333 = 9.99999 → total 10.00 (away from zero), no tax.
        let untaxed = issue(app, &app.admin, prepaid, body.clone()).await;
        assert_eq!([&untaxed["tax_total"], &untaxed["total"], &untaxed["rounding"]],
                   [&json!("0.00000"), &json!("10.00000"), &json!("0.00001")]);
        assert!(lines(&untaxed).iter().all(|l| l.0 != "tax"), "{untaxed}");
        // A postpaid member of the class is taxed on issue: 9.99999 × 19 % = 1.8999981 → 1.90000.
        let taxed = issue(app, &app.admin, postpaid, body).await;
        assert_eq!([&taxed["tax_total"], &taxed["total"]], [&json!("1.90000"), &json!("11.90000")]);
    }
}

on_both_backends! {
    async fn xdrs_of_a_closed_period_are_refused(app) {
        let class = business_eu_with(app, &app.admin, json!({}), json!({"regular_invoices": {"enabled": false}})).await;
        let party = customer(app, &app.admin, &class["id"]).await;
        let ids = march_usage(app, party).await;
        app.bill("2025-04-01T06:00:00Z").await;
        assert_eq!(app.invoices_of(party).await.len(), 0, "no regular invoice: the xDRs stay uninvoiced");

        let answer = app
            .post(&oot_path(party), &app.admin, json!({"idempotency_key": "late", "xdr_ids": [ids[0]]}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", app.backend, answer.text);
        assert!(answer.has_error("xdr_ids[0]", "period_frozen"), "{}", answer.text);
        let message = answer.body["errors"][0]["message"].as_str().expect("message");
        assert!(message.starts_with(&format!("xDR {} belongs to billing period ", ids[0])), "{message}");
        assert!(message.contains("which is closed"), "{message}");

        // Items of a later instant go to the open April period.
        let april = issue(app, &app.admin, party, json!({"idempotency_key": "april", "as_of": "2025-04-02T10:00:00Z",
            "items": [{"kind": "one_time", "service": "setup", "quantity": "1", "unit_price": "10"}]})).await;
        assert_eq!(april["issue_date"], "2025-04-02");
        assert_eq!(april["total"], "11.90000");
    }
}
