//! Period close and billing runs through `/billing-runs`, `/invoices` and `/invoice-sequences`
//! (customer-classes §5.3, §5.6) with the worked examples of §7.1, §7.2, §7.3 and §7.6.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, merge};

async fn customer(app: &TestApp, token: &str, body: Value) -> i64 {
    let answer = app.post("/api/v1/customers", token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

/// One xDR of a `POST /xdrs` batch; the fields in the order of the import file.
#[allow(clippy::too_many_arguments)]
fn xdr(
    party: i64,
    key: &str,
    at: &str,
    kind: &str,
    service: &str,
    rate: Option<&str>,
    qty: &str,
    amount: &str,
) -> Value {
    json!({"party_id": party, "external_id": key, "occurred_at": at, "kind": kind, "service": service,
           "rate_code": rate, "quantity": qty, "amount": amount})
}

async fn post_xdrs(app: &TestApp, token: &str, xdrs: Vec<Value>) {
    let answer = app.post("/api/v1/xdrs", token, json!({"xdrs": xdrs})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
}

/// Starts a run and waits for its end; answers the finished run.
async fn bill(app: &TestApp, as_of: &str) -> Value {
    let answer = app
        .post("/api/v1/billing-runs", &app.admin, json!({"as_of": as_of}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}: {}", app.backend, answer.text);
    assert!(["queued", "running", "completed"].contains(&answer.body["status"].as_str().unwrap_or("")));
    let id = answer.body["id"].as_i64().expect("run id");
    for _ in 0..200 {
        let run = app.get(&format!("/api/v1/billing-runs/{id}"), &app.admin).await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.text);
        if run.body["status"] == json!("completed") || run.body["status"] == json!("failed") {
            return run.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{}: billing run {id} did not finish", app.backend);
}

async fn invoices_of(app: &TestApp, token: &str, party: i64) -> Vec<Value> {
    let answer = app.get(&format!("/api/v1/invoices?party_id={party}"), token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

/// The §7.1 customer: Europe/Berlin, monthly, first period = March 2025.
async fn berlin_customer(app: &TestApp, class_id: &Value) -> i64 {
    customer(
        app,
        &app.admin,
        json!({"name": "Customer 1001", "currency": "EUR", "class_id": class_id, "time_zone": "Europe/Berlin",
               "billing_period": "monthly", "activated_at": "2025-03-01T00:00:00+01:00"}),
    )
    .await
}

fn fixed_vat(rate: &str, inclusive: bool) -> Value {
    json!({"taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": rate, "inclusive": inclusive}}})
}

fn line_summary(invoice: &Value) -> Vec<(String, String, String, String)> {
    invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap_or("").to_owned(),
                l["rate_code"].as_str().unwrap_or("").to_owned(),
                l["quantity"].as_str().unwrap_or("").to_owned(),
                l["amount"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn owned(rows: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .map(|(a, b, c, d)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned(), (*d).to_owned()))
        .collect()
}

on_both_backends! {
    async fn the_march_close_of_the_worked_example(app) {
        let class = app.invoicing_class(&app.admin, "Business EU", "EUR", fixed_vat("19", false)).await;
        let party = berlin_customer(app, &class["id"]).await;
        app.section_7_1_march_charges(party).await;

        let early = bill(app, "2025-04-01T03:59:59Z").await;
        assert_eq!(early["status"], json!("completed"), "{early}");
        assert_eq!((early["periods_closed"].clone(), early["invoices_issued"].clone()), (json!(0), json!(0)));
        assert!(invoices_of(app, &app.admin, party).await.is_empty());

        let run = bill(app, "2025-04-01T04:00:00Z").await;
        assert_eq!(run["status"], json!("completed"), "{run}");
        assert_eq!(run["periods_closed"], json!(1), "{run}");
        assert_eq!(run["invoices_issued"], json!(1), "{run}");
        assert_eq!(run["failures"], json!([]));

        let periods = app.get(&format!("/api/v1/periods?party_id={party}"), &app.admin).await;
        let march = &periods.body["items"][0];
        assert_eq!(march["start"], json!("2025-02-28T23:00:00Z"));
        assert_eq!(march["end"], json!("2025-03-31T22:00:00Z"));
        assert_eq!(march["status"], json!("closed"));

        let list = invoices_of(app, &app.admin, party).await;
        assert_eq!(list.len(), 1);
        let inv = app.invoice(&list[0]["id"]).await;
        assert_eq!(inv["number"], json!("INV-000001"));
        assert_eq!(inv["kind"], json!("regular"));
        assert_eq!(inv["period_id"], march["id"]);
        assert_eq!(inv["class_id"], class["id"]);
        assert_eq!(inv["issue_date"], json!("2025-04-01"));
        assert_eq!(inv["due_date"], json!("2025-04-16"));
        assert_eq!(inv["net_total"], json!("66.34812"));
        assert_eq!(inv["tax_total"], json!("12.60614"));
        assert_eq!(inv["rounding"], json!("0.00574"));
        assert_eq!(inv["total"], json!("78.96000"));
        assert_eq!(inv["previous_balance"], json!("0.00000"));
        assert_eq!(inv["payments"], json!("0.00000"));
        assert_eq!(inv["out_of_turn"], json!("0.00000"));
        assert_eq!(inv["amount_due"], json!("78.96000"));
        assert_eq!(inv["credit_carried"], json!("0.00000"));
        assert_eq!(inv["open_amount"], json!("78.96000"));
        assert_eq!(inv["status"], json!("unpaid"));
        assert_eq!(inv["review_state"], json!("not_required"));
        assert_eq!(
            line_summary(&inv),
            owned(&[
                ("recurring", "TRUNK-M", "1.00000", "29.90000"),
                ("usage", "DE-FIX", "412.00000", "12.34567"),
                ("usage", "DE-MOB", "1203.00000", "20.00001"),
                ("usage", "INTL-AT", "96.00000", "5.11244"),
                ("usage", "SMS-DE", "9.00000", "0.99000"),
                ("credit", "GOODWILL", "1.00000", "-2.00000"),
                ("tax", "", "1.00000", "12.60614"),
                ("rounding", "", "1.00000", "0.00574"),
            ])
        );
        let tax = &inv["lines"][6];
        assert_eq!(
            (tax["tax_name"].clone(), tax["tax_rate_percent"].clone(), tax["tax_base"].clone(), tax["tax_amount"].clone()),
            (json!("VAT"), json!("19"), json!("66.34812"), json!("12.60614"))
        );
        assert!(inv["lines"][0].get("tax_name").is_none());

        // The close booked its tax and rounding xDRs on the period and attached every xDR to the invoice.
        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={party}"), &app.admin).await;
        let items = xdrs.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 8);
        assert!(items.iter().all(|x| x["invoice_id"] == inv["id"] && x["period_id"] == march["id"]));
        assert_eq!(items[6]["external_id"], json!(format!("close:{}:S3:1", march["id"])));

        let again = bill(app, "2025-04-01T04:00:00Z").await;
        assert_eq!((again["periods_closed"].clone(), again["invoices_issued"].clone()), (json!(0), json!(0)));
        assert_eq!(invoices_of(app, &app.admin, party).await.len(), 1);
        let sequence = app.get("/api/v1/invoice-sequences/administrator", &app.admin).await;
        assert_eq!(sequence.body, json!({"owner": "administrator", "prefix": "INV-", "next_number": 2}));
    }
}

on_both_backends! {
    async fn the_close_uses_the_class_revision_current_when_it_freezes(app) {
        let class = app.invoicing_class(&app.admin, "Business EU", "EUR", fixed_vat("19", false)).await;
        let party = berlin_customer(app, &class["id"]).await;
        app.section_7_1_march_charges(party).await;
        let revision = class["revision"].as_i64().expect("revision");
        let patched = app
            .patch(
                &format!("/api/v1/customer-classes/{}", class["id"]),
                &app.admin,
                json!({"taxation": {"fixed_vat": {"rate_percent": "20"}}}),
                revision,
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);

        bill(app, "2025-04-01T04:00:00Z").await;
        let list = invoices_of(app, &app.admin, party).await;
        let inv = app.invoice(&list[0]["id"]).await;
        assert_eq!(inv["class_revision"], json!(revision + 1));
        assert_eq!(inv["tax_total"], json!("13.26962"));
        assert_eq!(inv["rounding"], json!("0.00226"));
        assert_eq!(inv["total"], json!("79.62000"));
        assert_eq!(inv["settings_snapshot"]["class"]["taxation"]["fixed_vat"]["rate_percent"], json!("20"));
    }
}

on_both_backends! {
    async fn inclusive_vat_rounds_half_away_from_zero(app) {
        let mut extra = fixed_vat("20", true);
        merge(&mut extra, json!({
            "general_info": {"rounding_method": "half_away_from_zero"},
            "regular_invoices": {"payment_terms": {"type": "due_upon_receipt"}},
        }));
        let class = app.invoicing_class(&app.admin, "Retail AT", "EUR", extra).await;
        let party = customer(
            app,
            &app.admin,
            json!({"name": "Customer 1002", "currency": "EUR", "class_id": class["id"], "time_zone": "Europe/Vienna",
                   "billing_period": "weekly", "activated_at": "2025-06-11T14:30:00+02:00"}),
        )
        .await;
        post_xdrs(app, &app.admin, vec![
            xdr(party, "r", "2025-06-11T15:00:00+02:00", "recurring", "plan", None, "1", "9.99"),
            xdr(party, "d1", "2025-06-12T10:00:00+02:00", "usage", "data", None, "1", "1.23456"),
            xdr(party, "d2", "2025-06-13T10:00:00+02:00", "usage", "data", None, "1", "0.98765"),
            xdr(party, "d3", "2025-06-14T10:00:00+02:00", "usage", "data", None, "1", "1.11111"),
        ]).await;
        assert_eq!(bill(app, "2025-06-16T03:59:59Z").await["periods_closed"], json!(0));
        assert_eq!(bill(app, "2025-06-16T04:00:00Z").await["periods_closed"], json!(1));
        let list = invoices_of(app, &app.admin, party).await;
        let inv = app.invoice(&list[0]["id"]).await;
        assert_eq!(inv["total"], json!("13.32000"));
        assert_eq!(inv["rounding"], json!("-0.00332"));
        assert_eq!(inv["net_total"], json!("11.10277"));
        assert_eq!(inv["tax_total"], json!("2.22055"));
        assert_eq!((inv["issue_date"].clone(), inv["due_date"].clone()), (json!("2025-06-16"), json!("2025-06-16")));
        let tax = inv["lines"].as_array().expect("lines").iter().find(|l| l["kind"] == json!("tax")).expect("tax line").clone();
        assert_eq!(
            (tax["amount"].clone(), tax["tax_amount"].clone(), tax["tax_base"].clone()),
            (json!("0.00000"), json!("2.22055"), json!("11.10277"))
        );
    }
}

on_both_backends! {
    async fn custom_taxes_per_scope_with_special_rounding(app) {
        let mut ids = Vec::new();
        for (name, rate, scope) in [("State sales tax", "6.25", "all"), ("Telecom excise", "3", "usage"),
                                    ("Regulatory recovery", "1.5", "recurring")] {
            let answer = app
                .post("/api/v1/custom-taxes", &app.admin, json!({"name": name, "rate_percent": rate, "scope": scope}))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
            ids.push(answer.body["id"].clone());
        }
        let extra = json!({"general_info": {"rounding_method": "special"},
                           "taxation": {"method": "custom", "custom_tax_ids": ids}});
        let class = app.invoicing_class(&app.admin, "US Telecom", "USD", extra).await;
        let party = customer(
            app,
            &app.admin,
            json!({"name": "Customer 1003", "currency": "USD", "class_id": class["id"], "time_zone": "America/Chicago",
                   "billing_period": "monthly", "activated_at": "2025-05-01T00:00:00-05:00"}),
        )
        .await;
        post_xdrs(app, &app.admin, vec![
            xdr(party, "u", "2025-05-02T10:00:00-05:00", "usage", "voice", None, "1", "100.12345"),
            xdr(party, "o", "2025-05-03T10:00:00-05:00", "one_time", "setup", None, "1", "15"),
            xdr(party, "r", "2025-05-04T10:00:00-05:00", "recurring", "line", None, "1", "40"),
            xdr(party, "c", "2025-05-05T10:00:00-05:00", "credit", "voice", None, "1", "-5"),
            xdr(party, "l", "2025-05-06T10:00:00-05:00", "late_fee", "collections", None, "1", "2"),
        ]).await;
        assert_eq!(bill(app, "2025-06-02T00:00:00Z").await["periods_closed"], json!(1));
        let list = invoices_of(app, &app.admin, party).await;
        let inv = app.invoice(&list[0]["id"]).await;
        assert_eq!(inv["tax_total"], json!("13.43642"));
        assert_eq!(inv["total"], json!("165.55000"));
        assert_eq!(inv["rounding"], json!("-0.00987"));
        let taxes: Vec<(Value, Value, Value)> = inv["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .filter(|l| l["kind"] == json!("tax"))
            .map(|l| (l["tax_name"].clone(), l["tax_base"].clone(), l["amount"].clone()))
            .collect();
        assert_eq!(taxes, vec![
            (json!("State sales tax"), json!("150.12345"), json!("9.38272")),
            (json!("Telecom excise"), json!("115.12345"), json!("3.45370")),
            (json!("Regulatory recovery"), json!("40.00000"), json!("0.60000")),
        ]);
    }
}

on_both_backends! {
    async fn numbers_are_gapless_per_owner_and_resellers_see_their_own_invoices(app) {
        let admin_class = app.invoicing_class(&app.admin, "Business EU", "EUR", json!({})).await;
        let (reseller, token) = app.reseller_with_user("Alpha").await;
        let reseller_class = app.invoicing_class(&token, "Alpha Gold", "EUR", json!({})).await;
        let patched = app
            .raw(reqwest::Method::PATCH, &format!("/api/v1/invoice-sequences/{reseller}"))
            .bearer_auth(&token)
            .json(&json!({"prefix": "A-", "next_number": 7}))
            .send()
            .await
            .expect("patch sent");
        let patched = TestApp::read(patched).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
        let back = app
            .raw(reqwest::Method::PATCH, &format!("/api/v1/invoice-sequences/{reseller}"))
            .bearer_auth(&token)
            .json(&json!({"next_number": 3}))
            .send()
            .await
            .expect("patch sent");
        assert_eq!(TestApp::read(back).await.status, StatusCode::UNPROCESSABLE_ENTITY);

        let mut own = Vec::new();
        let mut theirs = Vec::new();
        for n in 0..2 {
            own.push(customer(app, &app.admin, json!({"name": format!("Direct {n}"), "currency": "EUR",
                "class_id": admin_class["id"], "activated_at": "2025-03-01T00:00:00Z"})).await);
            theirs.push(customer(app, &token, json!({"name": format!("Alpha {n}"), "currency": "EUR",
                "class_id": reseller_class["id"], "activated_at": "2025-03-01T00:00:00Z"})).await);
        }
        for party in own.iter().chain(&theirs) {
            post_xdrs(app, &app.admin, vec![xdr(*party, "a", "2025-03-05T00:00:00Z", "usage", "voice", None, "1", "1.5")]).await;
        }
        let run = bill(app, "2025-04-01T06:00:00Z").await;
        assert_eq!(run["invoices_issued"], json!(4), "{run}");

        let numbers = |list: Vec<Value>| list.iter().map(|i| i["number"].as_str().unwrap_or("").to_owned()).collect::<Vec<_>>();
        let mut admin_numbers = Vec::new();
        for party in &own {
            admin_numbers.extend(numbers(invoices_of(app, &app.admin, *party).await));
        }
        assert_eq!(admin_numbers, ["INV-000001", "INV-000002"]);
        let mut reseller_numbers = Vec::new();
        for party in &theirs {
            reseller_numbers.extend(numbers(invoices_of(app, &token, *party).await));
        }
        assert_eq!(reseller_numbers, ["A-000007", "A-000008"]);

        let visible = app.get("/api/v1/invoices", &token).await;
        let parties: Vec<i64> = visible.body["items"].as_array().expect("items").iter()
            .filter_map(|i| i["party_id"].as_i64()).collect();
        assert_eq!(parties, theirs);
        let hidden = invoices_of(app, &app.admin, own[0]).await;
        assert_eq!(app.get(&format!("/api/v1/invoices/{}", hidden[0]["id"]), &token).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/v1/invoices?party_id={}", own[0]), &token).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/invoice-sequences/administrator", &token).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/billing-runs", &token).await.status, StatusCode::FORBIDDEN);
        let refused = app.post("/api/v1/billing-runs", &token, json!({"as_of": "2025-05-01T00:00:00Z"})).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
}

on_both_backends! {
    async fn an_external_tax_engine_leaves_the_period_closing_with_a_named_error(app) {
        let secret = app
            .send(reqwest::Method::PUT, "/api/v1/secrets/tax-engine", Some(&app.admin),
                  Some(json!({"value": "very-secret-value-123"})), None)
            .await;
        assert_eq!(secret.status, StatusCode::NO_CONTENT, "{}", secret.text);
        let extra = json!({"taxation": {"method": "external", "external": {
            "endpoint_url": "https://tax.example.com/v1", "timeout_ms": 5000, "secret_ref": "tax-engine",
            "prices_include_tax": false}}});
        let class = app.invoicing_class(&app.admin, "External", "EUR", extra).await;
        let party = berlin_customer(app, &class["id"]).await;
        app.section_7_1_march_charges(party).await;

        let run = bill(app, "2025-04-01T04:00:00Z").await;
        assert_eq!(run["status"], json!("completed"), "{run}");
        assert_eq!((run["periods_due"].clone(), run["periods_failed"].clone()), (json!(1), json!(1)), "{run}");
        let failure = &run["failures"][0];
        assert_eq!(failure["party_id"], json!(party));
        // The engine cannot be reached (no TLS to an unknown host): a permanent failure, not retried.
        assert!(failure["error"].as_str().unwrap_or("").starts_with("tax_engine_failed: "), "{run}");
        // Recorded once, by the batch that failed it, on the run's only worker.
        assert_eq!(run["failures"].as_array().map(Vec::len), Some(1), "{run}");
        let worker = &run["workers"][0];
        assert_eq!(
            ["periods_due", "periods_closed", "periods_failed", "invoices_issued"].map(|field| worker[field].clone()),
            [json!(1), json!(0), json!(1), json!(0)],
            "{run}"
        );

        let period = app.get(&format!("/api/v1/periods/{}", failure["period_id"]), &app.admin).await;
        assert_eq!(period.body["status"], json!("closing"));
        assert_eq!(period.body["close_error"], failure["error"]);
        assert!(invoices_of(app, &app.admin, party).await.is_empty());
        // Late xDRs of the frozen period join the next one.
        let late = app
            .post("/api/v1/xdrs", &app.admin, json!({"as_of": "2025-04-02T00:00:00Z", "xdrs": [
                xdr(party, "late", "2025-03-30T00:00:00Z", "usage", "voice", None, "1", "1")]}))
            .await;
        assert_eq!(late.body["items"][0]["late"], json!(true), "{}", late.text);
        let list = app.get("/api/v1/billing-runs", &app.admin).await;
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    }
}

on_both_backends! {
    async fn generic_vat_chooses_the_rate_by_country_and_reverse_charges_businesses(app) {
        for (country, rate) in [("DE", "19"), ("AT", "20")] {
            let answer = app
                .post("/api/v1/vat-rates", &app.admin, json!({"country": country, "rate_percent": rate, "zone": "EU"}))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        }
        let extra = json!({"taxation": {"method": "generic_vat", "generic_vat": {"home_country": "DE", "inclusive": false}}});
        let class = app.invoicing_class(&app.admin, "EU wide", "EUR", extra).await;
        let consumer = customer(app, &app.admin, json!({"name": "AT consumer", "currency": "EUR", "class_id": class["id"],
            "country": "AT", "activated_at": "2025-03-01T00:00:00Z"})).await;
        let business = customer(app, &app.admin, json!({"name": "AT business", "currency": "EUR", "class_id": class["id"],
            "country": "AT", "tax_id": "ATU12345678", "tax_registered": true, "activated_at": "2025-03-01T00:00:00Z"})).await;
        for party in [consumer, business] {
            post_xdrs(app, &app.admin, vec![xdr(party, "a", "2025-03-05T00:00:00Z", "usage", "voice", None, "1", "10")]).await;
        }
        assert_eq!(bill(app, "2025-04-01T06:00:00Z").await["invoices_issued"], json!(2));

        let consumer_invoice = app.invoice(&invoices_of(app, &app.admin, consumer).await[0]["id"]).await;
        assert_eq!(consumer_invoice["tax_total"], json!("2.00000"));
        assert_eq!(consumer_invoice["total"], json!("12.00000"));
        let business_invoice = app.invoice(&invoices_of(app, &app.admin, business).await[0]["id"]).await;
        assert_eq!(business_invoice["total"], json!("10.00000"));
        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={business}&kind=tax"), &app.admin).await;
        let tax = &xdrs.body["items"][0];
        assert_eq!((tax["amount"].clone(), tax["reverse_charge"].clone()), (json!("0.00000"), json!(true)), "{}", xdrs.text);
    }
}

on_both_backends! {
    async fn externally_billed_postpaid_balances_are_reset_without_tax_or_invoice(app) {
        let mut extra = fixed_vat("19", false);
        merge(&mut extra, json!({"general_info": {"billed_externally": true, "reset_balance_each_period": true,
                                                  "hide_reset_xdr": true}}));
        let class = app.invoicing_class(&app.admin, "Billed elsewhere", "EUR", extra).await;
        let party = customer(app, &app.admin, json!({"name": "Wholesale", "currency": "EUR", "class_id": class["id"],
            "activated_at": "2025-03-01T00:00:00Z"})).await;
        post_xdrs(app, &app.admin, vec![
            xdr(party, "a", "2025-03-05T00:00:00Z", "usage", "voice", None, "1", "10"),
            xdr(party, "b", "2025-03-06T00:00:00Z", "usage", "voice", None, "1", "2.5"),
        ]).await;
        let run = bill(app, "2025-04-01T06:00:00Z").await;
        assert_eq!((run["periods_closed"].clone(), run["invoices_issued"].clone()), (json!(1), json!(0)), "{run}");
        assert!(invoices_of(app, &app.admin, party).await.is_empty());
        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={party}"), &app.admin).await;
        let items = xdrs.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 3, "{}", xdrs.text);
        let reset = &items[2];
        assert_eq!(
            (reset["kind"].clone(), reset["service"].clone(), reset["amount"].clone(), reset["hidden"].clone()),
            (json!("adjustment"), json!("balance_reset"), json!("-12.50000"), json!(true))
        );
        assert_eq!(reset["period_id"], items[0]["period_id"]);
        assert_eq!(reset["occurred_at"], json!("2025-04-01T00:00:00Z"));
    }
}

/// The parties a pass at `as_of` claims, as its progress reports them.
async fn parties_claimed(app: &TestApp, as_of: &str) -> u64 {
    let claimed = std::sync::atomic::AtomicU64::new(0);
    let observe = |progress: &classbill_engine::CloseProgress| {
        claimed.fetch_max(progress.parties_claimed, std::sync::atomic::Ordering::Relaxed);
    };
    let options = classbill_engine::CloseOptions {
        batch_size: 2,
        on_commit: Some(&observe),
    };
    let at: jiff::Timestamp = as_of.parse().expect("instant");
    app.engine
        .run_billing_with(at, at, options)
        .await
        .expect("the pass runs");
    claimed.into_inner()
}

on_both_backends! {
    async fn a_scheduler_tick_only_visits_parties_with_billing_work(app) {
        let class = app.invoicing_class(&app.admin, "Business EU", "EUR", fixed_vat("19", false)).await;
        let parties = [
            berlin_customer(app, &class["id"]).await,
            berlin_customer(app, &class["id"]).await,
            berlin_customer(app, &class["id"]).await,
        ];
        // Nothing stored yet: every party needs its periods.
        assert_eq!(parties_claimed(app, "2025-03-15T00:00:00Z").await, 3);
        // Each is inside its open March period with nothing ended: a tick has nothing to look at.
        assert_eq!(parties_claimed(app, "2025-03-20T00:00:00Z").await, 0);
        // March has ended: every party is due, and once closed (April stored), quiet again.
        assert_eq!(parties_claimed(app, "2025-04-01T04:00:00Z").await, 3);
        assert_eq!(invoices_of(app, &app.admin, parties[0]).await.len(), 1);
        assert_eq!(parties_claimed(app, "2025-04-10T00:00:00Z").await, 0);
    }
}

on_both_backends! {
    /// A run over more batches than it has lanes (two on PostgreSQL, where batches close side by side): every
    /// batch is frozen and closed once, every party gets one invoice, and the numbers have no gap.
    async fn a_run_in_many_batches_closes_each_once_with_gapless_numbers(app) {
        let class = app.invoicing_class(&app.admin, "Business EU", "EUR", fixed_vat("19", false)).await;
        let mut parties = Vec::new();
        for n in 0..7 {
            let party = berlin_customer(app, &class["id"]).await;
            post_xdrs(app, &app.admin, vec![
                xdr(party, &format!("m{n}"), "2025-03-10T12:00:00Z", "usage", "voice", None, "1", "10"),
            ]).await;
            parties.push(party);
        }
        let stages = std::sync::Mutex::new(Vec::new());
        let observe = |progress: &classbill_engine::CloseProgress| {
            stages.lock().expect("stages").push((progress.batch, progress.stage));
        };
        let options = classbill_engine::CloseOptions { batch_size: 2, on_commit: Some(&observe) };
        let at: jiff::Timestamp = "2025-04-01T04:00:00Z".parse().expect("instant");
        let summary = app.engine.run_billing_with(at, at, options).await.expect("the run");
        assert_eq!((summary.periods_closed, summary.invoices_issued), (7, 7), "{}: {summary:?}", app.backend);

        let mut stages = stages.into_inner().expect("stages");
        stages.sort_by_key(|(batch, stage)| (*batch, *stage == classbill_engine::CloseStage::Closed));
        let expected: Vec<_> = (1..=4)
            .flat_map(|b| [(b, classbill_engine::CloseStage::Frozen), (b, classbill_engine::CloseStage::Closed)])
            .collect();
        assert_eq!(stages, expected, "{}", app.backend);

        let mut numbers = Vec::new();
        for party in parties {
            let invoices = invoices_of(app, &app.admin, party).await;
            assert_eq!(invoices.len(), 1, "{}: party {party}: {invoices:?}", app.backend);
            numbers.push(invoices[0]["number"].as_str().expect("number").to_owned());
        }
        numbers.sort();
        let gapless: Vec<String> = (1..=7).map(|n| format!("INV-{n:06}")).collect();
        assert_eq!(numbers, gapless, "{}", app.backend);

        // On SQLite each batch moves the invoices' one `AUTOINCREMENT` counter past the ids it takes.
        if app.backend == classbill_testkit::Backend::Sqlite {
            let mut tx = app.engine.store.write().await.expect("a transaction");
            let counters: Vec<(i64,)> = tx
                .fetch_all("SELECT seq FROM sqlite_sequence WHERE name = 'invoices'", Vec::new())
                .await
                .expect("the counters");
            assert_eq!(counters, vec![(7,)]);
        }
    }
}

/// A party some other write holds (here a transaction locking its row, as a payment does) when the run reaches
/// it is waited for and closed by that run, not skipped. Only PostgreSQL has row locks; SQLite's single
/// writer makes the run wait for the whole transaction instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_a_party_another_transaction_holds() {
    let app = TestApp::start(classbill_testkit::Backend::Postgres).await;
    let class = app
        .invoicing_class(&app.admin, "Business EU", "EUR", fixed_vat("19", false))
        .await;
    let held = berlin_customer(&app, &class["id"]).await;
    let other = berlin_customer(&app, &class["id"]).await;
    assert_eq!(parties_claimed(&app, "2025-03-15T00:00:00Z").await, 2);

    let lock = app.hold_party(held).await;
    let at: jiff::Timestamp = "2025-04-01T04:00:00Z".parse().expect("instant");
    let engine = app.engine.clone();
    let run = tokio::spawn(async move { engine.run_billing(at, at).await });
    // The run closes the free party and then waits for the held one.
    for _ in 0..200 {
        if invoices_of(&app, &app.admin, other).await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(invoices_of(&app, &app.admin, other).await.len(), 1);
    assert!(!run.is_finished(), "the run waits for the held party");
    lock.commit().await.expect("released");
    let summary = run.await.expect("the run task").expect("the run");
    assert_eq!(summary.invoices_issued, 2);
    assert_eq!(invoices_of(&app, &app.admin, held).await.len(), 1);
}

async fn run_view(app: &TestApp, id: i64) -> Value {
    let run = app.get(&format!("/api/v1/billing-runs/{id}"), &app.admin).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    run.body
}

/// The counts of a run's participant that is killed after committing its batches, before it could end its share,
/// stay with the run: the worker that completes the run after the lease has lapsed adds nothing, and the run
/// counts each invoice once. The participant is stopped while it waits for the run's row, which the test holds
/// locked, after the last batch committed; only PostgreSQL has row locks (SQLite's single writer would hold back
/// the batches as well). `crates/cli/tests/faults/serve_killed.rs` kills a whole server on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_killed_before_it_ends_keeps_the_counts_of_its_batches() {
    use classbill_engine::Actor;

    let app = TestApp::start(classbill_testkit::Backend::Postgres).await;
    let class = app
        .invoicing_class(&app.admin, "Business EU", "EUR", fixed_vat("19", false))
        .await;
    let free = berlin_customer(&app, &class["id"]).await;
    let held = berlin_customer(&app, &class["id"]).await;
    assert_eq!(parties_claimed(&app, "2025-03-15T00:00:00Z").await, 2);
    let at: jiff::Timestamp = "2025-04-01T04:00:00Z".parse().expect("instant");
    let run = app
        .engine
        .request_billing_run(&Actor::system(), at, at)
        .await
        .expect("queued");

    // The participant closes the free party, then waits for the held one.
    let party_lock = app.hold_party(held).await;
    let engine = app.engine.clone();
    let participant = tokio::spawn(async move { engine.work_on_runs("worker-killed", move || at).await });
    for _ in 0..200 {
        if invoices_of(&app, &app.admin, free).await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(invoices_of(&app, &app.admin, free).await.len(), 1);
    // Its first batch is counted as it commits, long before the participant ends.
    assert_eq!(run_view(&app, run.id).await["workers"][0]["invoices_issued"], json!(1));

    // With the run's row held, it closes the other party and then cannot end its share.
    let mut run_lock = app.engine.store.write().await.expect("a transaction");
    run_lock
        .execute(
            "SELECT id FROM billing_runs WHERE id = $1 FOR UPDATE",
            classbill_store::args![run.id],
        )
        .await
        .expect("the run is locked");
    party_lock.commit().await.expect("party released");
    for _ in 0..200 {
        if run_view(&app, run.id).await["workers"][0]["invoices_issued"] == json!(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!participant.is_finished(), "the participant waits for the run's row");
    participant.abort();
    assert!(participant.await.expect_err("killed").is_cancelled());
    run_lock.commit().await.expect("run released");

    let dead = run_view(&app, run.id).await;
    assert_eq!(dead["status"], json!("running"), "{dead}");
    assert_eq!(dead["workers"][0]["status"], json!("working"), "{dead}");

    // Once its lease has lapsed, another worker takes its share over, finds nothing left and completes the run.
    let later = at.checked_add(jiff::SignedDuration::from_mins(1)).expect("instant");
    let share = app
        .engine
        .work_on_runs("worker-b", move || later)
        .await
        .expect("poll")
        .expect("took over");
    assert_eq!(share.run_id, run.id);
    let done = run_view(&app, run.id).await;
    assert_eq!(done["status"], json!("completed"), "{done}");
    let counts = |view: &Value| {
        ["periods_due", "periods_closed", "periods_failed", "invoices_issued"].map(|field| view[field].clone())
    };
    let workers: Vec<(Value, Value, [Value; 4])> = done["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| (w["worker"].clone(), w["status"].clone(), counts(w)))
        .collect();
    let (two, zero) = (json!(2), json!(0));
    assert_eq!(
        workers,
        [
            (
                json!("worker-killed"),
                json!("lapsed"),
                [two.clone(), two.clone(), zero.clone(), two.clone()]
            ),
            (
                json!("worker-b"),
                json!("finished"),
                [zero.clone(), zero.clone(), zero.clone(), zero.clone()]
            ),
        ],
        "{done}"
    );
    assert_eq!(counts(&done), [two.clone(), two.clone(), zero, two], "{done}");
    assert_eq!(invoices_of(&app, &app.admin, held).await.len(), 1);
}
