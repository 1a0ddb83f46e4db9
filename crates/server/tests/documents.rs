//! Invoice documents: uploaded Typst templates compiled on upload (a broken one refused with its line), and
//! `/invoices/{id}/pdf` and `/invoices/{id}/html` for the March invoice of worked example §7.1
//! (customer-classes §2.4, §6 rule 3).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::TestApp;

/// A small valid template showing what the tests look for.
const OWN_TEMPLATE: &str = "#let invoice = json(\"invoice.json\")\n\
    = Rechnung #invoice.number\n\
    Summe: #invoice.totals.total #invoice.currency\n\
    Zu zahlen: #invoice.totals.amount_due\n";

/// The text layer of a PDF, as `pdftotext` (poppler-utils, installed by `scripts/test.sh`) reads it.
fn pdf_text(pdf: &[u8]) -> String {
    let mut child = Command::new("pdftotext")
        .args(["-layout", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) is installed");
    child.stdin.take().expect("stdin").write_all(pdf).expect("pdf written");
    let output = child.wait_with_output().expect("pdftotext ran");
    assert!(output.status.success(), "pdftotext failed");
    String::from_utf8(output.stdout).expect("utf-8 text")
}

async fn upload_template(app: &TestApp, token: &str, name: &str, source: &str) -> support::Answer {
    app.post(
        "/api/v1/invoice-templates",
        token,
        json!({"name": name, "source": source}),
    )
    .await
}

/// The §7.1 class "Business EU" with the given template, and customer 1001 with its March charges; with a
/// custom field `contract_no`, the class enables it and the customer holds `C-2025-0042`.
async fn section_7_1_customer(app: &TestApp, token: &str, template: i64, contract_field: Option<i64>) -> i64 {
    let enabled: Vec<i64> = contract_field.into_iter().collect();
    let class = app
        .class(
            token,
            json!({"name": "Business EU", "currency": "EUR",
                   "regular_invoices": {"enabled": true, "template_id": template,
                                        "payment_terms": {"type": "net", "days": 15}},
                   "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}},
                   "custom_fields": {"enabled_field_ids": enabled}}),
        )
        .await;
    let values = if contract_field.is_some() {
        json!({"contract_no": "C-2025-0042"})
    } else {
        json!({})
    };
    let answer = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": "Berlin Dental GmbH", "currency": "EUR", "class_id": class["id"],
                   "time_zone": "Europe/Berlin", "billing_period": "monthly", "country": "DE",
                   "tax_id": "DE123456789", "activated_at": "2025-03-01T00:00:00+01:00",
                   "custom_fields": values}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    let party = answer.body["id"].as_i64().expect("customer id");
    app.section_7_1_march_charges(party).await;
    party
}

/// Closes March (at 2025-04-01T04:00:00Z, §7.1 item 1) and answers the party's invoice id.
async fn close_march(app: &TestApp, party: i64) -> i64 {
    let answer = app
        .post(
            "/api/v1/billing-runs",
            &app.admin,
            json!({"as_of": "2025-04-01T04:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}: {}", app.backend, answer.text);
    let run = answer.body["id"].as_i64().expect("run id");
    for _ in 0..200 {
        let state = app.get(&format!("/api/v1/billing-runs/{run}"), &app.admin).await;
        if state.body["status"] == json!("completed") {
            assert_eq!(state.body["failures"], json!([]), "{}", state.text);
            let list = app.get(&format!("/api/v1/invoices?party_id={party}"), &app.admin).await;
            return list.body["items"][0]["id"].as_i64().expect("an invoice");
        }
        assert_ne!(state.body["status"], json!("failed"), "{}", state.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{}: billing run {run} did not finish", app.backend);
}

/// `GET path` answering the status, the content type and the raw body.
async fn download(app: &TestApp, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app
        .raw(Method::GET, path)
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, response.bytes().await.expect("body").to_vec())
}

on_both_backends! {
    async fn a_broken_template_is_refused_with_the_line_of_its_error(app) {
        let broken = "#let invoice = json(\"invoice.json\")\n= Invoice #invoice.number\n#table(columns: 2,\n";
        let refused = upload_template(app, &app.admin, "Broken", broken).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert_eq!(refused.error_codes(), [("source".to_owned(), "invalid_template".to_owned())]);
        let message = refused.body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.starts_with("line 3, column "), "{message}");
        assert!(message.contains("unclosed delimiter"), "{message}");

        // A field the invoice does not have fails when compiled against the sample invoice.
        let unknown = upload_template(app, &app.admin, "Unknown", "#let invoice = json(\"invoice.json\")\n\n#invoice.grand_total\n").await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.text);
        assert!(unknown.body["errors"][0]["message"].as_str().unwrap_or("").starts_with("line 3,"), "{}", unknown.text);

        let list = app.get("/api/v1/invoice-templates", &app.admin).await;
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1), "only Standard: {}", list.text);

        let good = upload_template(app, &app.admin, "Own", OWN_TEMPLATE).await;
        assert_eq!(good.status, StatusCode::CREATED, "{}", good.text);
        let id = good.body["id"].as_i64().expect("template id");
        let patched = app
            .send(Method::PATCH, &format!("/api/v1/invoice-templates/{id}"), Some(&app.admin),
                  Some(json!({"source": "#let x = (\n"})), None)
            .await;
        assert_eq!(patched.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", patched.text);
        assert!(patched.body["errors"][0]["message"].as_str().unwrap_or("").starts_with("line 1,"), "{}", patched.text);
        let kept = app.get(&format!("/api/v1/invoice-templates/{id}"), &app.admin).await;
        assert_eq!(kept.body["source"], json!(OWN_TEMPLATE));
    }
}

on_both_backends! {
    async fn example_7_1_invoice_pdf_from_an_uploaded_template_is_rendered_once_and_kept(app) {
        let uploaded = upload_template(app, &app.admin, "Own", OWN_TEMPLATE).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.text);
        let template = uploaded.body["id"].as_i64().expect("template id");
        let party = section_7_1_customer(app, &app.admin, template, None).await;
        let invoice = close_march(app, party).await;

        let (status, content_type, pdf) = download(app, &format!("/api/v1/invoices/{invoice}/pdf"), &app.admin).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&pdf));
        assert_eq!(content_type, "application/pdf");
        assert!(pdf.starts_with(b"%PDF-"));
        let text = pdf_text(&pdf);
        assert!(text.contains("Rechnung INV-000001"), "{text}");
        assert!(text.contains("Summe: 78.96 EUR"), "{text}");
        assert!(text.contains("Zu zahlen: 78.96"), "{text}");

        // The document is kept: a later edit of the template does not change an issued invoice's PDF.
        let edited = app
            .send(Method::PATCH, &format!("/api/v1/invoice-templates/{template}"), Some(&app.admin),
                  Some(json!({"source": "#let invoice = json(\"invoice.json\")\nEdited #invoice.number\n"})), None)
            .await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
        let (_, _, again) = download(app, &format!("/api/v1/invoices/{invoice}/pdf"), &app.admin).await;
        assert_eq!(again, pdf);

        // Invisible to other owners: 404, like a missing invoice.
        let (_, reseller_token) = app.reseller_with_user("Alpha").await;
        let (status, content_type, _) =
            download(app, &format!("/api/v1/invoices/{invoice}/pdf"), &reseller_token).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::NOT_FOUND, "application/problem+json"));
        let (status, _, _) = download(app, &format!("/api/v1/invoices/{invoice}/html"), &reseller_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = download(app, "/api/v1/invoices/999999/pdf", &app.admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn example_7_1_invoice_with_the_standard_template_as_pdf_and_html(app) {
        let field = app
            .post("/api/v1/custom-fields", &app.admin,
                  json!({"key": "contract_no", "label": "Contract number", "type": "text", "visible_to_end_user": true}))
            .await;
        assert_eq!(field.status, StatusCode::CREATED, "{}", field.text);
        let (reseller, token) = app.reseller_with_user("Alpha Telecom").await;
        let template = app.standard_template().await;
        let party = section_7_1_customer(app, &token, template, field.body["id"].as_i64()).await;
        let invoice = close_march(app, party).await;

        let (status, _, pdf) = download(app, &format!("/api/v1/invoices/{invoice}/pdf"), &token).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&pdf));
        let text = pdf_text(&pdf);
        for expected in [
            "Alpha Telecom",
            "INV-000001",
            "Berlin Dental GmbH",
            &format!("Account {party}"),
            "DE123456789",
            "2025-03-01 – 2025-03-31",
            "2025-04-16",
            "TRUNK-M",
            "29.90",
            "12.34567",
            "-2.00",
            "VAT 19 % on 66.34812",
            "12.60614",
            "0.00574",
            "78.96 EUR",
            "Amount due",
            "Please pay 78.96 EUR by 2025-04-16",
            "Contract number",
            "C-2025-0042",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
        assert!(!text.contains(&format!("Account {reseller}")), "{text}");

        let (status, content_type, html) = download(app, &format!("/api/v1/invoices/{invoice}/html"), &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/html; charset=utf-8");
        let html = String::from_utf8(html).expect("utf-8");
        for expected in ["Alpha Telecom", "INV-000001", "VAT 19 % on 66.34812", "78.96 EUR", "C-2025-0042"] {
            assert!(html.contains(expected), "{expected:?} missing from:\n{html}");
        }
    }
}

/// A §7.1 customer of a class whose invoices render their PDF by `mode`, with March closed; answers the invoice.
async fn march_invoice_rendered(app: &TestApp, mode: &str) -> i64 {
    let template = app.standard_template().await;
    let class = app
        .class(
            &app.admin,
            json!({"name": format!("PDF {mode}"), "currency": "EUR",
                   "regular_invoices": {"enabled": true, "template_id": template, "pdf_generation": mode}}),
        )
        .await;
    let answer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": "Berlin Dental GmbH", "currency": "EUR", "class_id": class["id"],
                   "time_zone": "Europe/Berlin", "activated_at": "2025-03-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let party = answer.body["id"].as_i64().expect("customer id");
    app.section_7_1_march_charges(party).await;
    close_march(app, party).await
}

on_both_backends! {
    async fn end_of_period_and_postponed_pdfs_are_queued_by_the_run_and_on_demand_ones_wait_for_a_download(app) {
        let now = jiff::Timestamp::now();
        for mode in ["end_of_period", "postponed"] {
            let invoice = march_invoice_rendered(app, mode).await;
            assert_eq!(app.engine.render_queued_pdfs(now).await.expect("a rendering pass"), 1, "{mode}");
            assert_eq!(app.engine.render_queued_pdfs(now).await.expect("a rendering pass"), 0, "{mode}: once");
            let (status, _, pdf) = download(app, &format!("/api/v1/invoices/{invoice}/pdf"), &app.admin).await;
            assert_eq!(status, StatusCode::OK);
            assert!(pdf_text(&pdf).contains("66.35"), "{mode}: untaxed March total");
        }
        let invoice = march_invoice_rendered(app, "on_demand").await;
        assert_eq!(app.engine.render_queued_pdfs(now).await.expect("a rendering pass"), 0);
        let (status, _, pdf) = download(app, &format!("/api/v1/invoices/{invoice}/pdf"), &app.admin).await;
        assert_eq!(status, StatusCode::OK);
        assert!(pdf.starts_with(b"%PDF-"));
    }
}

on_both_backends! {
    async fn two_workers_share_the_pdf_queue_and_render_each_invoice_once(app) {
        let template = app.standard_template().await;
        let class = app
            .class(&app.admin, json!({"name": "PDF queue", "currency": "EUR",
                "regular_invoices": {"enabled": true, "template_id": template, "pdf_generation": "end_of_period"}}))
            .await;
        let mut parties = Vec::new();
        for n in 0..12 {
            let answer = app
                .post("/api/v1/customers", &app.admin,
                      json!({"name": format!("Queue {n}"), "currency": "EUR", "class_id": class["id"],
                             "time_zone": "Europe/Berlin", "activated_at": "2025-03-01T00:00:00+01:00"}))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
            let party = answer.body["id"].as_i64().expect("customer id");
            app.section_7_1_march_charges(party).await;
            parties.push(party);
        }
        close_march(app, parties[0]).await;
        // Two workers poll at once; each job is claimed by one of them.
        let now = jiff::Timestamp::now();
        let (first, second) = tokio::join!(app.engine.render_queued_pdfs(now), app.engine.render_queued_pdfs(now));
        let (first, second) = (first.expect("a pass"), second.expect("a pass"));
        assert_eq!(first + second, 12, "{first} + {second}");
        assert_eq!(app.engine.render_queued_pdfs(now).await.expect("a pass"), 0, "nothing rendered twice or left");
    }
}

on_both_backends! {
    async fn a_reverse_charged_tax_line_carries_its_note_into_the_pdf(app) {
        for (country, rate) in [("DE", "19"), ("AT", "20")] {
            let answer = app
                .post("/api/v1/vat-rates", &app.admin, json!({"country": country, "rate_percent": rate, "zone": "EU"}))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        }
        let template = app.standard_template().await;
        let class = app
            .class(&app.admin, json!({"name": "EU wide", "currency": "EUR",
                "regular_invoices": {"enabled": true, "template_id": template},
                "taxation": {"method": "generic_vat", "generic_vat": {"home_country": "DE", "inclusive": false}}}))
            .await;
        let answer = app
            .post("/api/v1/customers", &app.admin,
                  json!({"name": "Wien Labor GmbH", "currency": "EUR", "class_id": class["id"], "country": "AT",
                         "tax_id": "ATU12345678", "tax_registered": true, "time_zone": "Europe/Berlin",
                         "activated_at": "2025-03-01T00:00:00+01:00"}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let party = answer.body["id"].as_i64().expect("customer id");
        app.section_7_1_march_charges(party).await;
        let invoice = close_march(app, party).await;

        let (status, _, pdf) = download(app, &format!("/api/v1/invoices/{invoice}/pdf"), &app.admin).await;
        assert_eq!(status, StatusCode::OK);
        let text = pdf_text(&pdf);
        // The line's flag, as the invoice's lines report it, decides the label and the note.
        let lines = app.invoice(&json!(invoice)).await["lines"].clone();
        assert!(
            lines.as_array().expect("lines").iter().any(|l| l["reverse_charge"] == json!(true)),
            "{lines}"
        );
        assert!(text.contains("VAT (reverse charge) on"), "{text}");
        assert!(text.contains("Reverse charge: the recipient of the services is liable for the VAT."), "{text}");
    }
}
