//! Notification sets in the web UI and the preview of their templates: a browser story on SQLite (errors beside
//! their field, the preview with the sample customer, the HTML body framed without scripts, what a reseller
//! sees), plus the form and the preview over plain HTTP and `POST /api/v1/notification-sets/preview` on both
//! backends.

mod browser;
mod support;
mod ui_support;

use browser::{browser, click, click_css, click_to_load, fill, log_in, start_driver, text, value, wait_for};
use classbill_engine::NewUserRole;
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use ui_support::UiClient;

const SETS: &str = "/api/v1/notification-sets";

/// The stored set named `name`, as the administrator's API lists it.
async fn stored_set(app: &TestApp, name: &str) -> Option<Value> {
    let list = app.get(&format!("{SETS}?limit=1000"), &app.admin).await;
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["name"] == json!(name))
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_is_written_checked_previewed_and_hidden_from_resellers_in_a_browser() {
    let app = TestApp::start(classbill_testkit::Backend::Sqlite).await;
    let reseller = app.reseller("Alpha", None).await;
    app.user("alpha-user", NewUserRole::Reseller(reseller)).await;
    let driver = start_driver().await;
    let admin = browser(&driver).await;
    log_in(&admin, &app, "admin").await;

    // From the navigation to a new set.
    click_css(&admin, "header.top a[href='/notification-sets']").await;
    wait_for(&admin, "#notification-sets").await;
    assert!(text(&admin, "#notification-sets").await.contains("standard"));
    click(&admin, "add-set").await;
    wait_for(&admin, "#name").await;
    fill(&admin, "name", "Dunning").await;
    click_css(&admin, "#event-invoice_overdue > summary").await;
    fill(
        &admin,
        "events-invoice_overdue-subject",
        "Overdue: {{ invoice_number }} for {{ customer_name }}",
    )
    .await;
    fill(
        &admin,
        "events-invoice_overdue-text",
        "Dear {{ party_name }},\n{{ open_amount }} {{ currency }} are open.",
    )
    .await;
    let html = "<p>Hello <b>{{ party_name }}</b></p><script>parent.document.title = 'taken'</script>";
    fill(&admin, "events-invoice_overdue-html", html).await;
    fill(&admin, "events-invoice_overdue-sms", "{{ invoice_number }} is overdue").await;
    click_to_load(&admin, "#save").await;

    // The unknown variable is named beside its field, with its line; the rest of the input is kept.
    let error = text(&admin, "#events-invoice_overdue-subject-error").await;
    assert!(error.contains("line 1") && error.contains("customer_name"), "{error}");
    assert!(stored_set(&app, "Dunning").await.is_none(), "nothing saved");
    assert_eq!(value(&admin, "name").await, "Dunning");
    assert_eq!(value(&admin, "events-invoice_overdue-html").await, html);
    assert_eq!(
        value(&admin, "events-invoice_overdue-text").await,
        "Dear {{ party_name }},\n{{ open_amount }} {{ currency }} are open."
    );

    // Fixed, then previewed with the sample customer and invoice.
    fill(
        &admin,
        "events-invoice_overdue-subject",
        "Overdue: {{ invoice_number }} for {{ party_name }}",
    )
    .await;
    click(&admin, "preview-button").await;
    wait_for(&admin, "#preview-result").await;
    assert_eq!(
        text(&admin, "#preview-invoice_overdue .subject").await,
        "Overdue: INV-2025-0042 for Example Customer Ltd"
    );
    assert!(
        text(&admin, "#preview-invoice_overdue .text")
            .await
            .contains("119.00000 EUR are open")
    );
    assert_eq!(
        text(&admin, "#preview-invoice_overdue .sms").await,
        "INV-2025-0042 is overdue"
    );
    assert!(
        admin.find(Locator::Id("preview-errors")).await.is_err(),
        "the fixed texts are valid"
    );
    // The HTML body is shown in a sandboxed frame: it renders, and its script does not run.
    let frame = admin
        .find(Locator::Css("#preview-invoice_overdue iframe.html"))
        .await
        .unwrap();
    assert_eq!(frame.attr("sandbox").await.unwrap().as_deref(), Some(""));
    frame.enter_frame().await.unwrap();
    let body = wait_for(&admin, "body").await.text().await.unwrap();
    assert_eq!(body, "Hello Example Customer Ltd");
    admin.enter_parent_frame().await.unwrap();
    assert_ne!(admin.title().await.unwrap(), "taken");

    click_to_load(&admin, "#save").await;
    wait_for(&admin, "#saved").await;
    let stored = stored_set(&app, "Dunning").await.expect("saved");
    let texts = &stored["events"]["invoice_overdue"];
    assert_eq!(
        texts["subject"],
        json!("Overdue: {{ invoice_number }} for {{ party_name }}")
    );
    assert_eq!(
        texts["text"],
        json!("Dear {{ party_name }},\n{{ open_amount }} {{ currency }} are open."),
        "line breaks are stored as the API takes them"
    );
    assert_eq!(
        stored["events"].as_object().map(|events| events.len()),
        Some(1),
        "events left empty fall back to the standard set"
    );
    assert_eq!(stored["owner"], json!({"type": "administrator"}));
    let id = stored["id"].as_i64().expect("id");

    // A reseller user lists neither the set nor reaches it; the shared standard set is there, read-only.
    let alpha = browser(&driver).await;
    log_in(&alpha, &app, "alpha-user").await;
    alpha.goto(&format!("{}/notification-sets", app.base)).await.unwrap();
    let list = text(&alpha, "#notification-sets").await;
    assert!(!list.contains("Dunning") && list.contains("standard"), "{list}");
    alpha
        .goto(&format!("{}/notification-sets/{id}", app.base))
        .await
        .unwrap();
    assert!(text(&alpha, "h1").await.contains("Not found"));
    alpha.goto(&format!("{}/notification-sets", app.base)).await.unwrap();
    click_css(&alpha, "#notification-sets a[href^='/notification-sets/']").await;
    wait_for(&alpha, "#read-only").await;
    assert!(alpha.find(Locator::Id("save")).await.is_err(), "no save button");

    admin.close().await.unwrap();
    alpha.close().await.unwrap();
}

/// The form fields of a new set with one event's four texts.
fn set_form<'a>(csrf: &'a str, name: &'a str, event: &str, texts: [&'a str; 4]) -> Vec<(String, &'a str)> {
    let mut form = vec![("csrf".to_owned(), csrf), ("name".to_owned(), name)];
    for (part, text) in ["subject", "text", "html", "sms"].into_iter().zip(texts) {
        form.push((format!("events.{event}.{part}"), text));
    }
    form
}

async fn post_form(client: &UiClient, path: &str, form: &[(String, &str)]) -> ui_support::Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    client.post(path, &pairs).await
}

on_both_backends! {
    async fn the_form_saves_through_the_api_rules_and_each_owner_sees_its_own_sets(app) {
        let reseller = app.reseller("Beta", None).await;
        app.user("beta-user", NewUserRole::Reseller(reseller)).await;
        let admin = UiClient::login(app, "admin").await;
        let beta = UiClient::login(app, "beta-user").await;

        // An administrator set that is not shared.
        let page = admin.get("/notification-sets/new").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let csrf = page.csrf();
        let form = set_form(&csrf, "Operator only", "payment_received", ["Thanks {{ party_name }}", "", "", ""]);
        let saved = post_form(&admin, "/notification-sets/new", &form).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{} {}", app.backend, saved.html);
        let location = saved.location.expect("redirect to the set");
        assert!(location.ends_with("?saved=1"), "{location}");

        // Without the CSRF token the form is refused and nothing is written.
        let unsigned: Vec<(String, &str)> = form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
        let refused = post_form(&admin, "/notification-sets/new", &unsigned).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);

        // The reseller's own set: a syntax error comes back beside its field with the input kept.
        let csrf = beta.get("/notification-sets/new").await.csrf();
        let broken = set_form(&csrf, "Beta texts", "invoice_issued", ["Invoice {{ invoice_number }", "", "", ""]);
        let page = post_form(&beta, "/notification-sets/new", &broken).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.html.contains("id=\"events-invoice_issued-subject-error\""), "{}", page.html);
        assert!(page.html.contains("line 1"), "{}", page.html);
        assert!(page.html.contains("Invoice {{ invoice_number }</textarea>"), "the input is kept");
        let fixed = set_form(&csrf, "Beta texts", "invoice_issued", ["Invoice {{ invoice_number }}", "", "", ""]);
        let saved = post_form(&beta, "/notification-sets/new", &fixed).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{} {}", app.backend, saved.html);

        let beta_list = beta.get("/notification-sets").await.html;
        assert!(beta_list.contains("Beta texts") && !beta_list.contains("Operator only"), "{beta_list}");
        let admin_list = admin.get("/notification-sets").await.html;
        assert!(admin_list.contains("Beta texts") && admin_list.contains("Operator only"), "{admin_list}");
        let stored = app.get(SETS, &app.admin).await;
        let beta_set = stored.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|s| s["name"] == json!("Beta texts"))
            .cloned()
            .expect("stored");
        assert_eq!(beta_set["owner"], json!({"type": "reseller", "reseller_id": reseller}));
        assert_eq!(beta_set["events"]["invoice_issued"]["subject"], json!("Invoice {{ invoice_number }}"));

        // Clearing an event in the editor removes its texts.
        let id = beta_set["id"].as_i64().expect("id");
        let csrf = beta.get(&format!("/notification-sets/{id}")).await.csrf();
        let cleared = set_form(&csrf, "Beta texts", "invoice_issued", ["", "", "", ""]);
        let saved = post_form(&beta, &format!("/notification-sets/{id}"), &cleared).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{} {}", app.backend, saved.html);
        let after = app.get(&format!("{SETS}/{id}"), &app.admin).await;
        assert_eq!(after.body["events"], json!({}), "{}", after.text);

        // The UI preview answers the rendered fragment.
        let preview = post_form(
            &beta,
            "/notification-sets/preview",
            &set_form(&csrf, "", "invoice_overdue", ["Due {{ due_date }}", "", "<i>{{ party_name }}</i>", ""]),
        )
        .await;
        assert_eq!(preview.status, StatusCode::OK);
        assert!(preview.html.contains("Due 2025-03-16"), "{}", preview.html);
        assert!(
            preview.html.contains("sandbox srcdoc=\"&lt;i&gt;Example Customer Ltd&lt;&#x2f;i&gt;\""),
            "the HTML body is an escaped attribute of a sandboxed frame: {}",
            preview.html
        );
    }
}

on_both_backends! {
    async fn the_preview_route_renders_each_part_with_sample_values(app) {
        let (_, beta) = app.reseller_with_user("Gamma").await;
        let document = json!({
            "name": "Anything",
            "events": {
                "suspension_upcoming": {
                    "subject": "Suspension in {{ days_left }} days",
                    "text": "{{ party_name }}: {{ open_amount }} {{ currency }} open, fee {{ fee_amount }}",
                    "html": "<p>{{ party_name }} &amp; {{ class_name }}</p>",
                    "sms": "Pay invoice {{ invoice_number }} by {{ action_date }}"
                },
                "payment_received": {"subject": "Thanks {{ invoice_number }}", "text": "{{ party_name }"}
            }
        });
        let answer = app.post(&format!("{SETS}/preview"), &beta, document.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{} {}", app.backend, answer.text);
        let rendered = &answer.body["events"]["suspension_upcoming"];
        assert_eq!(rendered["subject"], json!("Suspension in 7 days"));
        assert_eq!(
            rendered["text"],
            json!("Example Customer Ltd: 119.00000 EUR open, fee 5.00000")
        );
        assert_eq!(rendered["html"], json!("<p>Example Customer Ltd &amp; Business</p>"));
        assert_eq!(rendered["sms"], json!("Pay invoice INV-2025-0042 by 2025-04-01"));
        assert_eq!(rendered["variables"]["party_id"], json!(1001));
        assert_eq!(answer.body["valid"], json!(false));
        let codes = answer.error_codes();
        assert_eq!(
            codes,
            [
                ("events.payment_received.subject".to_owned(), "unknown_variable".to_owned()),
                ("events.payment_received.text".to_owned(), "template_syntax".to_owned()),
            ],
            "{}",
            answer.text
        );
        assert_eq!(answer.body["events"]["payment_received"]["text"], Value::Null);

        // A stored set's document is previewed as it is; nothing is written.
        let before = app.get(SETS, &app.admin).await.body["items"].as_array().map(Vec::len);
        let standard = app.get(SETS, &beta).await.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|s| s["builtin"] == json!(true))
            .cloned()
            .expect("the built-in set");
        let answer = app.post(&format!("{SETS}/preview"), &beta, standard).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["valid"], json!(true), "{}", answer.text);
        assert_eq!(
            answer.body["events"]["invoice_issued"]["subject"],
            json!("Invoice INV-2025-0042")
        );
        assert_eq!(app.get(SETS, &app.admin).await.body["items"].as_array().map(Vec::len), before);

        let malformed = app.post(&format!("{SETS}/preview"), &beta, json!({"events": {"invoice_issued": 5}})).await;
        assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", malformed.text);
        assert!(malformed.has_error("events.invoice_issued", "invalid_type"), "{}", malformed.text);
        let stranger = app
            .send(reqwest::Method::POST, &format!("{SETS}/preview"), None, Some(document), None)
            .await;
        assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
    }
}
