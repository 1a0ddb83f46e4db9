//! Credit notes (`/invoices/{id}/credit-notes`, `/credit-note-sequences/{owner}`) against the §7.1 March
//! invoice: the whole invoice with exactly the negative of its tax, chosen lines taxed at the invoice's rate,
//! the allocation of the credit, the ledger afterwards, the document, and every refusal.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, units};

async fn credit(app: &TestApp, token: &str, invoice: &Value, body: Value) -> support::Answer {
    app.post(&format!("/api/v1/invoices/{invoice}/credit-notes"), token, body)
        .await
}

/// The party's balance (§5.1): the sum of all its xDR amounts.
async fn balance(app: &TestApp, party: i64) -> i64 {
    let answer = app
        .get(&format!("/api/v1/xdrs?party_id={party}&limit=1000"), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let items = answer.body["items"].as_array().expect("items");
    assert!(answer.body["next_cursor"].is_null(), "one page holds every xDR");
    items.iter().map(|x| units(&x["amount"])).sum()
}

on_both_backends! {
    async fn a_whole_credit_note_mirrors_the_march_invoice(app) {
        let (party, march) = app.section_7_1_billed().await;
        assert_eq!(balance(app, party).await, 6_896_000);
        let answer = credit(app, &app.admin, &march["id"],
            json!({"reason": "tariff applied twice", "as_of": "2025-04-05T10:00:00Z"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
        let note = &answer.body["credit_note"];
        assert_eq!(note["number"], json!("CN-000001"));
        assert_eq!(note["kind"], json!("credit_note"));
        assert_eq!(note["issue_date"], json!("2025-04-05"));
        assert_eq!(note["net_total"], json!("-66.34812"));
        assert_eq!(note["tax_total"], json!("-12.60614"));
        assert_eq!(note["rounding"], json!("-0.00574"));
        assert_eq!(note["total"], json!("-78.96000"));
        assert_eq!(note["status"], json!("nothing_due"));
        let tax = note["lines"].as_array().expect("lines").iter()
            .find(|l| l["kind"] == json!("tax")).expect("a tax line").clone();
        assert_eq!(tax["tax_rate_percent"], json!("19"), "{tax}");
        assert_eq!(tax["tax_base"], json!("-66.34812"));
        assert_eq!(tax["tax_amount"], json!("-12.60614"));
        assert_eq!(answer.body["credited_invoice_number"], json!("INV-000002"));
        assert_eq!(answer.body["reason"], json!("tariff applied twice"));
        // The credit pays the open 68.96 of March; the 10.00 March took from earlier credit comes back.
        assert_eq!(answer.body["allocations"], json!([{"invoice_id": march["id"], "amount": "68.96000"}]));
        assert_eq!(answer.body["unallocated"], json!("10.00000"));

        let corrected = app.invoice(&march["id"]).await;
        assert_eq!(corrected["open_amount"], json!("0.00000"));
        assert_eq!(corrected["status"], json!("paid"));
        assert_eq!(balance(app, party).await, 6_896_000 - 7_896_000);

        // Listed under the invoice, and among the invoices by kind.
        let listed = app.get(&format!("/api/v1/invoices/{}/credit-notes", march["id"]), &app.admin).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
        assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
        assert_eq!(listed.body[0]["credit_note"]["id"], note["id"]);
        let by_kind = app.get(&format!("/api/v1/invoices?party_id={party}&kind=credit_note"), &app.admin).await;
        assert_eq!(by_kind.body["items"].as_array().map(Vec::len), Some(1), "{}", by_kind.text);

        // The document says what it is and what it corrects.
        let html = app.raw(Method::GET, &format!("/api/v1/invoices/{}/html", note["id"]))
            .bearer_auth(&app.admin).send().await.expect("html");
        assert_eq!(html.status(), StatusCode::OK);
        let html = html.text().await.expect("html text");
        assert!(html.contains("Credit note") && html.contains("INV-000002") && html.contains("-78.96"), "{html}");
        let pdf = app.raw(Method::GET, &format!("/api/v1/invoices/{}/pdf", note["id"]))
            .bearer_auth(&app.admin).send().await.expect("pdf");
        assert_eq!(pdf.status(), StatusCode::OK);
        assert!(pdf.bytes().await.expect("pdf bytes").starts_with(b"%PDF"));

        // The accounting exports of April: both documents in the journal, the tax netting to zero.
        let journal = app.get("/api/v1/reports/invoice-journal?from=2025-04-01&to=2025-04-30", &app.admin).await;
        assert_eq!(journal.status, StatusCode::OK, "{}", journal.text);
        let kinds: Vec<(Value, Value)> = journal.body["rows"].as_array().expect("rows").iter()
            .map(|r| (r["kind"].clone(), r["total"].clone())).collect();
        assert_eq!(kinds, vec![(json!("regular"), json!("78.96000")), (json!("credit_note"), json!("-78.96000"))]);
        assert_eq!(journal.body["totals"]["EUR"]["total"], json!("0.00000"), "{}", journal.text);
        let tax = app.get("/api/v1/reports/tax?from=2025-04-01&to=2025-04-30", &app.admin).await;
        assert_eq!(tax.body["totals"]["EUR"]["tax_amount"], json!("0.00000"), "{}", tax.text);
        assert_eq!(tax.body["totals"]["EUR"]["taxable_base"], json!("0.00000"), "{}", tax.text);

        // The April invoice carries the correction in its balance: 68.96 owed, 78.96 credited, 10.00 carried.
        app.bill("2025-05-01T04:00:00Z").await;
        let april = app.get(&format!("/api/v1/invoices?party_id={party}&kind=regular"), &app.admin).await;
        let april = app.invoice(&april.body["items"][2]["id"]).await;
        assert_eq!(april["previous_balance"], json!("68.96000"), "{april}");
        assert_eq!(april["out_of_turn"], json!("-78.96000"));
        assert_eq!(april["credit_carried"], json!("10.00000"));

        // Nothing is credited twice, and the correction stands.
        let again = credit(app, &app.admin, &march["id"], json!({"reason": "again"})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
        assert_eq!(again.body["code"], json!("fully_credited"));
        let void = app.post(&format!("/api/v1/invoices/{}/void", march["id"]), &app.admin,
            json!({"reason": "mistake"})).await;
        assert_eq!(void.status, StatusCode::CONFLICT, "{}", void.text);
        assert_eq!(void.body["code"], json!("credited"));
        let void_note = app.post(&format!("/api/v1/invoices/{}/void", note["id"]), &app.admin,
            json!({"reason": "mistake"})).await;
        assert_eq!(void_note.body["code"], json!("not_voidable"), "{}", void_note.text);
        let of_note = credit(app, &app.admin, &note["id"], json!({"reason": "x"})).await;
        assert_eq!(of_note.body["code"], json!("not_creditable"), "{}", of_note.text);
    }
}

on_both_backends! {
    async fn chosen_lines_are_taxed_at_the_invoice_rate(app) {
        let (party, march) = app.section_7_1_billed().await;
        let lines = app.get(&format!("/api/v1/xdrs?party_id={party}&limit=1000"), &app.admin).await;
        let items = lines.body["items"].as_array().expect("items");
        let id_of = |rate: &str| items.iter().find(|x| x["rate_code"] == json!(rate)).expect(rate)["id"].clone();
        let de_mob = id_of("DE-MOB");
        let february = id_of("TRUNK-M");

        // Bad lines: one of another invoice, one named twice; nothing is booked.
        let refused = credit(app, &app.admin, &march["id"],
            json!({"reason": "x", "xdr_ids": [february, de_mob, de_mob]})).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert!(refused.has_error("xdr_ids[2]", "duplicate"), "{}", refused.text);
        let refused = credit(app, &app.admin, &march["id"], json!({"reason": "x", "xdr_ids": [february]})).await;
        assert!(refused.has_error("xdr_ids[0]", "not_on_invoice"), "{}", refused.text);
        let refused = credit(app, &app.admin, &march["id"], json!({"xdr_ids": [de_mob], "lines": 1})).await;
        assert!(refused.has_error("reason", "required") && refused.has_error("lines", "unknown_field"), "{}", refused.text);
        let sequence = app.get("/api/v1/credit-note-sequences/administrator", &app.admin).await;
        assert_eq!(sequence.body["next_number"], json!(1), "{}", sequence.text);

        // DE-MOB 20.00001: VAT 19 % = 3.8000019 → 3.80000; U = 23.80001 → 23.81 away from zero.
        let answer = credit(app, &app.admin, &march["id"],
            json!({"reason": "mobile minutes disputed", "xdr_ids": [de_mob], "as_of": "2025-04-05T10:00:00Z"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
        let note = &answer.body["credit_note"];
        assert_eq!(note["net_total"], json!("-20.00001"));
        assert_eq!(note["tax_total"], json!("-3.80000"));
        assert_eq!(note["rounding"], json!("-0.00999"));
        assert_eq!(note["total"], json!("-23.81000"));
        assert_eq!(answer.body["allocations"], json!([{"invoice_id": march["id"], "amount": "23.81000"}]));
        assert_eq!(answer.body["unallocated"], json!("0.00000"));
        let corrected = app.invoice(&march["id"]).await;
        assert_eq!(corrected["open_amount"], json!("45.15000"));
        assert_eq!(corrected["status"], json!("partially_paid"));

        let twice = credit(app, &app.admin, &march["id"], json!({"reason": "x", "xdr_ids": [de_mob]})).await;
        assert!(twice.has_error("xdr_ids[0]", "already_credited"), "{}", twice.text);
        // The rest of the lines: 66.34812 − 20.00001 = 46.34811, VAT 8.8061409 → 8.80614, U 55.15425 → 55.16.
        let rest = credit(app, &app.admin, &march["id"], json!({"reason": "the rest"})).await;
        assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.text);
        assert_eq!(rest.body["credit_note"]["number"], json!("CN-000002"));
        assert_eq!(rest.body["credit_note"]["net_total"], json!("-46.34811"));
        assert_eq!(rest.body["credit_note"]["tax_total"], json!("-8.80614"));
        assert_eq!(rest.body["credit_note"]["total"], json!("-55.16000"));
        assert_eq!(rest.body["allocations"], json!([{"invoice_id": march["id"], "amount": "45.15000"}]));
        assert_eq!(rest.body["unallocated"], json!("10.01000"));
    }
}

on_both_backends! {
    async fn credit_note_numbers_and_who_may_credit(app) {
        let (_, march) = app.section_7_1_billed().await;
        let path = "/api/v1/credit-note-sequences/administrator";
        let taken = app.send(Method::PATCH, path, Some(&app.admin), Some(json!({"prefix": "INV-"})), None).await;
        assert!(taken.has_error("prefix", "prefix_taken"), "{}", taken.text);
        let moved = app.send(Method::PATCH, path, Some(&app.admin),
            Some(json!({"prefix": "GS-", "next_number": 100})), None).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
        let back = app.send(Method::PATCH, path, Some(&app.admin), Some(json!({"next_number": 99})), None).await;
        assert!(back.has_error("next_number", "out_of_range"), "{}", back.text);

        // A reseller never sees the operator's invoice.
        let (_, reseller) = app.reseller_with_user("Reseller A").await;
        let hidden = credit(app, &reseller, &march["id"], json!({"reason": "x"})).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text);
        assert_eq!(app.get(path, &reseller).await.status, StatusCode::NOT_FOUND);

        let answer = credit(app, &app.admin, &march["id"], json!({"reason": "goodwill"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.body["credit_note"]["number"], json!("GS-000100"));
        let sequence = app.get(path, &app.admin).await;
        assert_eq!(sequence.body, json!({"owner": "administrator", "prefix": "GS-", "next_number": 101}));
        // Invoices keep their own sequence.
        let invoices = app.get("/api/v1/invoice-sequences/administrator", &app.admin).await;
        assert_eq!(invoices.body["next_number"], json!(3), "{}", invoices.text);
    }
}
