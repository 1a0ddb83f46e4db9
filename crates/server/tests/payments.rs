//! Received payments through `/payments` and their application to invoices (customer-classes §5.7), with
//! items 2 and 4 of the worked example §7.1.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

/// One xDR of a `POST /xdrs` batch.
#[allow(clippy::too_many_arguments)]
fn xdr(party: i64, key: &str, at: &str, kind: &str, service: &str, rate: &str, qty: &str, amount: &str) -> Value {
    json!({"party_id": party, "external_id": key, "occurred_at": at, "kind": kind, "service": service,
           "rate_code": rate, "quantity": qty, "amount": amount})
}

async fn post_xdrs(app: &TestApp, xdrs: Vec<Value>) {
    let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": xdrs})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
}

async fn payment_xdrs(app: &TestApp, party: i64) -> Vec<Value> {
    let answer = app
        .get(&format!("/api/v1/xdrs?party_id={party}&kind=payment"), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

fn payment(party: i64, amount: &str, received_at: &str) -> Value {
    json!({"party_id": party, "amount": amount, "currency": "EUR", "received_at": received_at})
}

async fn pay(app: &TestApp, token: &str, body: Value) -> Value {
    let answer = app.post("/api/v1/payments", token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body
}

/// A customer with the February invoice of 50.00 issued (INV-000001) and the March charges booked.
async fn with_february_invoice(app: &TestApp) -> (i64, Value) {
    let (party, listed) = app.section_7_1_february().await;
    let february = app.invoice(&listed["id"]).await;
    assert_eq!(february["open_amount"], json!("50.00000"));
    assert_eq!(february["status"], json!("unpaid"));
    (party, february)
}

on_both_backends! {
    async fn the_worked_example_payment_and_march_close(app) {
        let (party, february) = with_february_invoice(app).await;

        // §7.1 item 2: 50.00 settles the February invoice, 10.00 stays as credit.
        let result = pay(app, &app.admin, payment(party, "60.00", "2025-03-10T11:00:00+01:00")).await;
        assert_eq!(result["allocations"], json!([{"invoice_id": february["id"], "amount": "50.00000"}]));
        assert_eq!(result["unallocated"], json!("10.00000"));
        let paid = app.invoice(&february["id"]).await;
        assert_eq!(paid["open_amount"], json!("0.00000"));
        assert_eq!(paid["status"], json!("paid"));
        assert_eq!(paid["allocations"][0]["amount"], json!("50.00000"), "{}", paid["allocations"]);
        assert_eq!(paid["allocations"][0]["source"]["xdr_id"], result["xdr_id"]);

        let booked = payment_xdrs(app, party).await;
        assert_eq!(booked.len(), 1);
        assert_eq!(booked[0]["id"], result["xdr_id"]);
        assert_eq!(booked[0]["service"], json!("payment"));
        assert_eq!(booked[0]["quantity"], json!("1.00000"));
        assert_eq!(booked[0]["amount"], json!("-60.00000"));
        assert_eq!(booked[0]["occurred_at"], json!("2025-03-10T10:00:00Z"));
        assert_eq!(booked[0]["late"], json!(false));

        // §7.1 item 4: the March close consumes the 10.00 credit.
        app.bill("2025-04-01T04:00:00Z").await;
        let list = app.invoices_of(party).await;
        assert_eq!(list.len(), 2);
        let march = app.invoice(&list[1]["id"]).await;
        assert_eq!(march["number"], json!("INV-000002"));
        assert_eq!(march["total"], json!("78.96000"));
        assert_eq!(march["previous_balance"], json!("50.00000"));
        assert_eq!(march["payments"], json!("-60.00000"));
        assert_eq!(march["out_of_turn"], json!("0.00000"));
        assert_eq!(march["amount_due"], json!("68.96000"));
        assert_eq!(march["credit_carried"], json!("0.00000"));
        assert_eq!(march["open_amount"], json!("68.96000"));
        assert_eq!(march["status"], json!("partially_paid"));
        assert_eq!(
            march["allocations"],
            json!([{"source": {"kind": "payment", "xdr_id": result["xdr_id"]}, "amount": "10.00000",
                    "at": "2025-04-01T04:00:00Z"}])
        );

        // The credit is used up: a later payment of 68.96 pays the March invoice exactly.
        let rest = pay(app, &app.admin, payment(party, "68.96", "2025-04-10T09:00:00Z")).await;
        assert_eq!(rest["allocations"], json!([{"invoice_id": march["id"], "amount": "68.96000"}]));
        assert_eq!(rest["unallocated"], json!("0.00000"));
        assert_eq!(app.invoice(&march["id"]).await["status"], json!("paid"));
    }
}

on_both_backends! {
    async fn named_invoice_first_then_oldest_first(app) {
        let (party, february) = with_february_invoice(app).await;
        app.bill("2025-04-01T04:00:00Z").await;
        let list = app.invoices_of(party).await;
        let march = app.invoice(&list[1]["id"]).await;
        assert_eq!(march["open_amount"], json!("78.96000"));
        assert_eq!(march["status"], json!("unpaid"));

        // Named: the March invoice, though February is older.
        let mut body = payment(party, "30", "2025-04-02T10:00:00Z");
        body["invoice_id"] = march["id"].clone();
        let named = pay(app, &app.admin, body).await;
        assert_eq!(named["allocations"], json!([{"invoice_id": march["id"], "amount": "30.00000"}]));
        assert_eq!(named["unallocated"], json!("0.00000"));
        let after = app.invoice(&march["id"]).await;
        assert_eq!(after["open_amount"], json!("48.96000"));
        assert_eq!(after["status"], json!("partially_paid"));
        assert_eq!(app.invoice(&february["id"]).await["status"], json!("unpaid"));

        // Named but larger than its open amount: the rest goes to the other invoices, oldest first.
        let mut body = payment(party, "60", "2025-04-03T10:00:00Z");
        body["invoice_id"] = march["id"].clone();
        let spill = pay(app, &app.admin, body).await;
        assert_eq!(
            spill["allocations"],
            json!([{"invoice_id": march["id"], "amount": "48.96000"},
                   {"invoice_id": february["id"], "amount": "11.04000"}])
        );
        assert_eq!(app.invoice(&march["id"]).await["status"], json!("paid"));
        let feb = app.invoice(&february["id"]).await;
        assert_eq!(feb["open_amount"], json!("38.96000"));
        assert_eq!(feb["status"], json!("partially_paid"));

        // Unnamed and more than everything open: the surplus is credit.
        let surplus = pay(app, &app.admin, payment(party, "40", "2025-04-04T10:00:00Z")).await;
        assert_eq!(surplus["allocations"], json!([{"invoice_id": february["id"], "amount": "38.96000"}]));
        assert_eq!(surplus["unallocated"], json!("1.04000"));
        assert_eq!(app.invoice(&february["id"]).await["status"], json!("paid"));
    }
}

on_both_backends! {
    async fn unnamed_payments_go_oldest_first(app) {
        let (party, february) = with_february_invoice(app).await;
        app.bill("2025-04-01T04:00:00Z").await;
        let march = app.invoices_of(party).await[1].clone();
        let result = pay(app, &app.admin, payment(party, "100", "2025-04-02T10:00:00Z")).await;
        assert_eq!(
            result["allocations"],
            json!([{"invoice_id": february["id"], "amount": "50.00000"},
                   {"invoice_id": march["id"], "amount": "50.00000"}])
        );
        assert_eq!(result["unallocated"], json!("0.00000"));
        assert_eq!(app.invoice(&february["id"]).await["status"], json!("paid"));
        let march = app.invoice(&march["id"]).await;
        assert_eq!(march["open_amount"], json!("28.96000"));
        assert_eq!(march["status"], json!("partially_paid"));
    }
}

on_both_backends! {
    async fn external_ids_make_resending_safe(app) {
        let (party, february) = with_february_invoice(app).await;
        let mut body = payment(party, "20", "2025-03-10T11:00:00+01:00");
        body["external_id"] = json!("bank-1");
        let first = pay(app, &app.admin, body.clone()).await;
        assert_eq!(first["allocations"], json!([{"invoice_id": february["id"], "amount": "20.00000"}]));

        // The identical re-send answers the same result and books nothing more.
        let again = pay(app, &app.admin, body.clone()).await;
        assert_eq!(again, first);
        assert_eq!(payment_xdrs(app, party).await.len(), 1);
        assert_eq!(app.invoice(&february["id"]).await["open_amount"], json!("30.00000"));

        // Another body under the same key is a conflict, and nothing changes.
        let mut other = body.clone();
        other["amount"] = json!("25");
        let conflict = app.post("/api/v1/payments", &app.admin, other).await;
        assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text);
        let mut named = body;
        named["invoice_id"] = february["id"].clone();
        let conflict = app.post("/api/v1/payments", &app.admin, named).await;
        assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text);
        assert_eq!(payment_xdrs(app, party).await.len(), 1);
        assert_eq!(app.invoice(&february["id"]).await["open_amount"], json!("30.00000"));
    }
}

on_both_backends! {
    async fn invalid_payments_write_nothing(app) {
        let (party, february) = with_february_invoice(app).await;
        let other_party = app.berlin_customer(&app.admin, &february["class_id"]).await;
        app.section_7_1_february_charge(other_party).await;
        app.bill("2025-03-01T05:00:00Z").await;
        let foreign = app.invoices_of(other_party).await[0].clone();

        let cases = [
            (payment(party, "-5", "2025-03-10T10:00:00Z"), "amount", "out_of_range"),
            (payment(party, "0", "2025-03-10T10:00:00Z"), "amount", "out_of_range"),
            (payment(party, "1.000001", "2025-03-10T10:00:00Z"), "amount", "invalid"),
            (payment(party, "5", "yesterday"), "received_at", "invalid"),
            (payment(party, "5", "2025-01-31T10:00:00Z"), "received_at", "before_activation"),
            (json!({"party_id": party, "amount": "5", "currency": "USD", "received_at": "2025-03-10T10:00:00Z"}),
             "currency", "currency_mismatch"),
            (json!({"party_id": party, "amount": "5", "currency": "EUR", "received_at": "2025-03-10T10:00:00Z",
                    "invoice_id": foreign["id"]}), "invoice_id", "not_found"),
            (json!({"party_id": party, "amount": "5", "currency": "EUR"}), "received_at", "required"),
            (json!({"party_id": party, "amount": "5", "currency": "EUR", "received_at": "2025-03-10T10:00:00Z",
                    "note": "x"}), "note", "unknown_field"),
        ];
        for (body, field, code) in cases {
            let answer = app.post("/api/v1/payments", &app.admin, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", answer.text);
            assert!(answer.has_error(field, code), "{body}: {}", answer.text);
        }
        assert!(payment_xdrs(app, party).await.is_empty());
        assert_eq!(app.invoice(&february["id"]).await["open_amount"], json!("50.00000"));
        assert_eq!(app.invoice(&foreign["id"]).await["open_amount"], json!("50.00000"));
    }
}

on_both_backends! {
    async fn resellers_pay_only_for_their_own_parties(app) {
        let (party, february) = with_february_invoice(app).await;
        let (_, token) = app.reseller_with_user("Alpha").await;
        let answer = app
            .post("/api/v1/payments", &token, payment(party, "10", "2025-03-10T10:00:00Z"))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
        let missing = app
            .post("/api/v1/payments", &app.admin, payment(999_999, "10", "2025-03-10T10:00:00Z"))
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
        assert!(payment_xdrs(app, party).await.is_empty());
        assert_eq!(app.invoice(&february["id"]).await["status"], json!("unpaid"));
    }
}

on_both_backends! {
    async fn a_negative_invoice_becomes_credit_for_older_and_later_invoices(app) {
        let (party, february) = with_february_invoice(app).await;
        // March: a credit of 84.03361 net, −100.00 with VAT, so the March invoice is negative (§5.7 rule 4).
        post_xdrs(
            app,
            vec![xdr(party, "m1", "2025-03-05T00:00:00+01:00", "credit", "voice", "GOODWILL", "1", "-84.03361")],
        )
        .await;
        // A second credit cancels the net 66.34812 of the March charges booked by `with_february_invoice`.
        post_xdrs(
            app,
            vec![xdr(party, "m2", "2025-03-06T00:00:00+01:00", "credit", "voice", "GOODWILL", "1", "-66.34812")],
        )
        .await;
        app.bill("2025-04-01T04:00:00Z").await;
        let march = app.invoice(&app.invoices_of(party).await[1]["id"]).await;
        assert_eq!(march["total"], json!("-100.00000"), "{march}");
        assert_eq!(march["open_amount"], json!("0.00000"));
        assert_eq!(march["status"], json!("nothing_due"));

        // 50.00 of its credit pays February at once, at the close instant.
        let feb = app.invoice(&february["id"]).await;
        assert_eq!(feb["status"], json!("paid"));
        assert_eq!(
            feb["allocations"],
            json!([{"source": {"kind": "invoice", "invoice_id": march["id"]}, "amount": "50.00000",
                    "at": "2025-04-01T04:00:00Z"}])
        );

        // The other 50.00 is credit: a payment now finds nothing open, and the April invoice (50.00) consumes
        // the older credit first.
        let result = pay(app, &app.admin, payment(party, "10", "2025-04-02T10:00:00Z")).await;
        assert_eq!(result["allocations"], json!([]));
        assert_eq!(result["unallocated"], json!("10.00000"));
        post_xdrs(
            app,
            vec![xdr(party, "a1", "2025-04-01T00:00:00+02:00", "recurring", "sip_trunk", "TRUNK-M", "1", "42.01681")],
        )
        .await;
        app.bill("2025-05-01T04:00:00Z").await;
        let april = app.invoice(&app.invoices_of(party).await[2]["id"]).await;
        assert_eq!(april["total"], json!("50.00000"));
        assert_eq!(april["open_amount"], json!("0.00000"));
        assert_eq!(april["status"], json!("paid"));
        assert_eq!(april["allocations"][0]["source"]["invoice_id"], march["id"]);
        assert_eq!(april["allocations"].as_array().map(Vec::len), Some(1));
    }
}

on_both_backends! {
    async fn small_remainders_within_the_threshold_are_not_collected(app) {
        let template = app.standard_template().await;
        let class = app
            .class(
                &app.admin,
                json!({
                    "name": "Threshold", "currency": "EUR",
                    "regular_invoices": {"enabled": true, "template_id": template,
                                         "payment_terms": {"type": "net", "days": 15}, "collection_threshold": "5.00"},
                    "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}},
                }),
            )
            .await;
        let party = app.berlin_customer(&app.admin, &class["id"]).await;
        app.section_7_1_february_charge(party).await;
        app.bill("2025-03-01T05:00:00Z").await;
        let february = app.invoices_of(party).await[0].clone();
        assert_eq!(february["status"], json!("unpaid"));

        let partial = pay(app, &app.admin, payment(party, "44", "2025-03-10T10:00:00Z")).await;
        assert_eq!(partial["unallocated"], json!("0.00000"));
        let after = app.invoice(&february["id"]).await;
        assert_eq!(after["open_amount"], json!("6.00000"));
        assert_eq!(after["status"], json!("partially_paid"));

        pay(app, &app.admin, payment(party, "1", "2025-03-11T10:00:00Z")).await;
        let after = app.invoice(&february["id"]).await;
        assert_eq!(after["open_amount"], json!("5.00000"));
        assert_eq!(after["status"], json!("do_not_collect"));

        pay(app, &app.admin, payment(party, "5", "2025-03-12T10:00:00Z")).await;
        assert_eq!(app.invoice(&february["id"]).await["status"], json!("paid"));
    }
}
