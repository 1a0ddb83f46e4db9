//! The web UI in headless Chromium, driven through chromedriver. It runs on SQLite only, to stay fast: the
//! pages call the same engine methods whose behaviour on PostgreSQL the HTTP tests cover.
//!
//! With `CLASSBILL_SCREENSHOTS=1` the test also saves the main pages to `docs/screenshots/`.

mod browser;
mod support;
mod ui_support;

use std::time::Duration;

use browser::{
    browser, by_id, choose, click, click_css, click_to_load, fill, log_in, shown, start_driver, submit, text, value,
    wait_for,
};
use classbill_engine::{NewCustomer, NewUserRole};
use fantoccini::{Client, Locator};
use jiff::Timestamp;
use serde_json::json;
use support::TestApp;

async fn screenshot(browser: &Client, name: &str) {
    if std::env::var("CLASSBILL_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let png = browser.screenshot().await.expect("screenshot");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/screenshots");
        std::fs::create_dir_all(dir).expect("screenshot folder");
        std::fs::write(format!("{dir}/{name}.png"), png).expect("screenshot saved");
    }
}

/// Opens the class editor's tab `key`.
async fn tab(browser: &Client, key: &str) {
    click(browser, &format!("tab-{key}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_administrator_and_reseller_stories_in_a_browser() {
    let app = TestApp::start(classbill_testkit::Backend::Sqlite).await;
    let admin = app.engine.authenticate_token(&app.admin).await.unwrap();
    let mut customers = Vec::new();
    for name in ["Ada Ltd", "Bea GmbH", "Cyd SA"] {
        let customer = NewCustomer {
            name: name.to_owned(),
            currency: Some("EUR".to_owned()),
            ..NewCustomer::default()
        };
        customers.push(
            app.engine
                .create_customer(&admin, customer, Timestamp::now())
                .await
                .unwrap()
                .id,
        );
    }
    let templates = app.get("/api/v1/invoice-templates", &app.admin).await;
    let template = templates.body["items"][0]["id"].to_string();
    let reseller = app.reseller("Alpha", None).await;
    app.user("alpha-user", NewUserRole::Reseller(reseller)).await;

    let driver = start_driver().await;
    let first = browser(&driver).await;
    log_in(&first, &app, "admin").await;
    assert_eq!(first.current_url().await.unwrap().path(), "/classes");

    // A class through every tab, with one mistake.
    first.goto(&format!("{}/classes/new", app.base)).await.unwrap();
    fill(&first, "name", "Gold").await;
    fill(&first, "currency", "EUR").await;
    fill(&first, "description", "Business customers").await;
    fill(&first, "general_info-rounding_precision", "9").await;
    tab(&first, "regular_invoices").await;
    assert!(
        !shown(&first, "regular_invoices-payment_terms-type").await,
        "hidden while invoices are off"
    );
    click(&first, "regular_invoices-enabled").await;
    fill(&first, "regular_invoices-template_id", &template).await;
    choose(&first, "regular_invoices-payment_terms-type", "net").await;
    assert!(
        shown(&first, "regular_invoices-payment_terms-days").await,
        "net days appear with net terms"
    );
    fill(&first, "regular_invoices-payment_terms-days", "15").await;
    tab(&first, "out_of_turn_invoices").await;
    click(&first, "out_of_turn_invoices-enabled").await;
    fill(&first, "out_of_turn_invoices-template_id", &template).await;
    tab(&first, "taxation").await;
    choose(&first, "taxation-method", "fixed_vat").await;
    fill(&first, "taxation-fixed_vat-rate_percent", "19").await;
    tab(&first, "measured_services").await;
    choose(&first, "measured_services-metrics-0--metric", "active_calls").await;
    fill(&first, "measured_services-metrics-0--price_per_item", "1.5").await;
    tab(&first, "notifications").await;
    click(&first, "notifications-events-invoice_due_soon-sms").await;
    tab(&first, "custom_fields").await;
    screenshot(&first, "class-editor").await;
    submit(&first, "save").await;
    let error = text(&first, "#general_info-rounding_precision-error").await;
    assert!(!error.is_empty(), "the error sits beside its field");
    assert!(
        shown(&first, "general_info-rounding_precision-error").await,
        "its tab is open"
    );
    screenshot(&first, "class-validation").await;
    assert_eq!(
        value(&first, "taxation-fixed_vat-rate_percent").await,
        "19",
        "the other input is kept"
    );
    fill(&first, "general_info-rounding_precision", "2").await;
    submit(&first, "save").await;
    assert!(text(&first, "#saved").await.contains("Saved"));
    let action = by_id(&first, "class-form").await.attr("action").await.unwrap().unwrap();
    let class_id: i64 = action.rsplit('/').next().unwrap().parse().unwrap();

    // The list shows it with the §2.10 columns.
    first.goto(&format!("{}/classes?name=gold", app.base)).await.unwrap();
    let row = text(&first, &format!("tr[data-class-id='{class_id}']")).await;
    for column in [
        "Gold",
        "EUR",
        "Administrator",
        "universal",
        "yes",
        "regular_and_out_of_turn",
        "fixed_vat",
        "Business customers",
    ] {
        assert!(row.contains(column), "{column} in {row}");
    }
    screenshot(&first, "class-list").await;

    // Two editors at once: the later save is told who changed what.
    let second = browser(&driver).await;
    log_in(&second, &app, "admin").await;
    for editor in [&first, &second] {
        editor.goto(&format!("{}/classes/{class_id}", app.base)).await.unwrap();
    }
    fill(&second, "description", "Changed in the second browser").await;
    submit(&second, "save").await;
    fill(&first, "description", "Changed in the first browser").await;
    submit(&first, "save").await;
    let stale = text(&first, "#stale").await;
    assert!(stale.contains("admin") && stale.contains("description"), "{stale}");
    screenshot(&first, "stale-revision").await;

    // "Preview impact" asks the engine without saving.
    tab(&first, "taxation").await;
    fill(&first, "taxation-fixed_vat-rate_percent", "20").await;
    click(&first, "preview-button").await;
    let preview = wait_for(&first, "#preview-result").await.text().await.unwrap();
    assert!(
        preview.contains("taxation.fixed_vat.rate_percent") && preview.contains("Members"),
        "{preview}"
    );

    // Bulk "move to class", then the effective settings of one of them.
    first.goto(&format!("{}/customers", app.base)).await.unwrap();
    for id in &customers {
        click_css(&first, &format!("tr[data-party-id='{id}'] input[type=checkbox]")).await;
    }
    choose(&first, "move-class", &class_id.to_string()).await;
    click_css(&first, "form[action='/customers/move'] button").await;
    wait_for(&first, "#move-outcomes").await;
    let outcomes = text(&first, "#move-outcomes").await;
    assert_eq!(outcomes.matches("assigned").count(), 3, "{outcomes}");
    screenshot(&first, "customers").await;
    first
        .goto(&format!("{}/customers/{}/effective", app.base, customers[0]))
        .await
        .unwrap();
    let effective = text(&first, "#effective").await;
    assert!(effective.contains("taxation.fixed_vat.rate_percent") && effective.contains(&format!("class {class_id}")));
    screenshot(&first, "effective-settings").await;

    // A reseller user sees none of the operator's classes.
    click_css(&second, "form.logout button").await;
    log_in(&second, &app, "alpha-user").await;
    second.goto(&format!("{}/classes", app.base)).await.unwrap();
    let list = text(&second, "#classes").await;
    assert!(!list.contains("Gold"), "{list}");
    second.goto(&format!("{}/classes/{class_id}", app.base)).await.unwrap();
    assert!(text(&second, "h1").await.contains("Not found"));

    // An invoice held in review: its page shows the timeline, and Approve releases it.
    let invoice = invoice_held_in_review(&app).await;
    first
        .goto(&format!("{}/invoices?review_state=under_review", app.base))
        .await
        .unwrap();
    click_css(&first, &format!("tr[data-invoice-id='{invoice}'] a")).await;
    wait_for(&first, "#approve").await;
    assert!(text(&first, "#timeline").await.contains("pending"));
    // The invoice document is framed into the page under its own headers, and renders there.
    by_id(&first, "document").await.enter_frame().await.unwrap();
    let document = wait_for(&first, "body").await.text().await.unwrap();
    assert!(document.contains("Reviewed customer"), "{document}");
    first.enter_parent_frame().await.unwrap();
    screenshot(&first, "invoice").await;
    click_to_load(&first, "#approve").await;
    assert!(text(&first, ".heading .meta").await.contains("review: approved"));
    assert!(text(&first, "#approved").await.contains("Approved"));
    assert!(
        first.find(Locator::Id("approve")).await.is_err(),
        "nothing left to approve"
    );
    let stored = app.get(&format!("/api/v1/invoices/{invoice}"), &app.admin).await;
    assert_eq!(stored.body["review_state"], json!("approved"));

    // A credit note from the invoice page: refused without a reason, then issued for the ticked charge.
    click(&first, "credit-issue").await;
    wait_for(&first, "#credit-reason-error").await;
    fill(&first, "credit-reason", "Trunk billed twice").await;
    click_css(&first, "#credit-charges input[type=checkbox]").await;
    click(&first, "credit-issue").await;
    wait_for(&first, "#credited").await;
    assert!(text(&first, "#credit-note-list").await.contains("Trunk billed twice"));
    let notes = app
        .get(&format!("/api/v1/invoices/{invoice}/credit-notes"), &app.admin)
        .await;
    assert_eq!(notes.body.as_array().map(Vec::len), Some(1), "{}", notes.text);

    // The notification log is one click away, and the class list sorts by a column heading.
    click_css(&first, "header.top a[href='/notifications']").await;
    wait_for(&first, "#notifications").await;
    assert!(text(&first, "h1").await.contains("Notification log"));
    first.goto(&format!("{}/classes", app.base)).await.unwrap();
    for order in ["ascending", "descending"] {
        click_css(&first, "a[data-sort='members']").await;
        let heading = format!("th[aria-sort='{order}'] a[data-sort='members']");
        wait_for(&first, &heading).await;
    }

    first.close().await.unwrap();
    second.close().await.unwrap();
}

/// A customer of a class whose invoices wait for review, and its February invoice from a billing run on
/// 2025-03-01; answers the invoice id.
async fn invoice_held_in_review(app: &TestApp) -> i64 {
    let template = app.standard_template().await;
    let class = app
        .class(
            &app.admin,
            json!({"name": "Reviewed", "currency": "EUR",
                   "regular_invoices": {"enabled": true, "template_id": template, "email_delivery": "after_review",
                                        "payment_terms": {"type": "net", "days": 15}, "due_reminder_days": [3]}}),
        )
        .await;
    let customer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": "Reviewed customer", "currency": "EUR", "class_id": class["id"],
                   "billing_period": "monthly", "time_zone": "Europe/Berlin", "activated_at": "2025-02-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(customer.status, reqwest::StatusCode::CREATED, "{}", customer.text);
    let party = customer.body["id"].as_i64().expect("customer id");
    let xdr = json!({"party_id": party, "external_id": "r1", "occurred_at": "2025-02-01T00:00:00+01:00",
                     "kind": "recurring", "service": "sip_trunk", "rate_code": "TRUNK-M", "quantity": "1",
                     "amount": "10"});
    assert!(
        app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [xdr]}))
            .await
            .status
            .is_success()
    );
    let run = app
        .post(
            "/api/v1/billing-runs",
            &app.admin,
            json!({"as_of": "2025-03-01T05:00:00Z"}),
        )
        .await;
    let run_id = run.body["id"].as_i64().expect("run id");
    for _ in 0..400 {
        let state = app.get(&format!("/api/v1/billing-runs/{run_id}"), &app.admin).await;
        if state.body["status"] == json!("completed") {
            assert_eq!(state.body["failures"], json!([]), "{}", state.text);
            break;
        }
        assert_ne!(state.body["status"], json!("failed"), "{}", state.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let list = app.get(&format!("/api/v1/invoices?party_id={party}"), &app.admin).await;
    list.body["items"][0]["id"].as_i64().expect("the February invoice")
}
