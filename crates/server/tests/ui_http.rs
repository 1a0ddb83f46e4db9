//! The web UI over plain HTTP (no browser): sessions, CSRF tokens, double submits and escaping.

mod support;
mod ui_support;

use classbill_engine::PageRequest;
use classbill_engine::classes::ClassListFilter;
use classbill_store::args;
use reqwest::StatusCode;
use ui_support::UiClient;

async fn class_count(app: &support::TestApp) -> usize {
    let admin = app.engine.authenticate_token(&app.admin).await.expect("admin");
    let page = PageRequest::new(Some(1000), None).expect("page");
    app.engine
        .list_classes(&admin, ClassListFilter::default(), page)
        .await
        .expect("classes")
        .items
        .len()
}

on_both_backends! {
    async fn ui_form_without_or_with_a_wrong_csrf_token_is_refused(app) {
        let ui = UiClient::login(app, "admin").await;
        let before = class_count(app).await;
        let refused = ui.post("/classes/new", &[("name", "No token")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.html.contains("security token"), "{}", refused.html);
        let wrong = ui.post("/classes/new", &[("name", "Wrong token"), ("csrf", "0123")]).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        let logout = ui.post("/logout", &[]).await;
        assert_eq!(logout.status, StatusCode::FORBIDDEN, "logout is a form like any other");
        assert_eq!(class_count(app).await, before, "nothing was saved");
        let csrf = ui.get("/classes/new").await.csrf();
        let created = ui.post("/classes/new", &[("name", "With token"), ("business_model", "universal"), ("csrf", &csrf)]).await;
        created.saved_class_path();
        assert_eq!(class_count(app).await, before + 1);
    }
}

on_both_backends! {
    async fn ui_expired_session_leads_to_the_login_page(app) {
        let ui = UiClient::login(app, "admin").await;
        let csrf = ui.get("/classes").await.csrf();
        let mut tx = app.engine.store.write().await.expect("write");
        tx.execute("UPDATE web_sessions SET expires_at = $1", args![0_i64]).await.expect("expired");
        tx.commit().await.expect("commit");
        let page = ui.get("/classes?name=x").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(page.location.as_deref(), Some("/login?next=%2Fclasses%3Fname%3Dx"));
        let before = class_count(app).await;
        let post = ui.post("/classes/new", &[("name", "Late"), ("csrf", &csrf)]).await;
        assert_eq!(post.status, StatusCode::SEE_OTHER);
        assert!(post.location.as_deref().unwrap_or("").starts_with("/login"));
        assert_eq!(class_count(app).await, before, "nothing was saved");
        let login = ui.get("/login").await;
        assert!(login.html.contains("Log in to Classbill"));
    }
}

on_both_backends! {
    async fn ui_double_submitted_forms_save_once(app) {
        let ui = UiClient::login(app, "admin").await;
        let csrf = ui.get("/classes/new").await.csrf();
        let form = [("name", "Twice"), ("business_model", "universal"), ("currency", "EUR"), ("csrf", csrf.as_str())];
        let before = class_count(app).await;
        let first = ui.post("/classes/new", &form).await;
        let edit_path = first.saved_class_path();
        let second = ui.post("/classes/new", &form).await;
        assert_eq!(second.status, StatusCode::OK);
        assert!(second.html.contains("id=\"name-error\""), "the name is marked: {}", second.html);
        assert_eq!(class_count(app).await, before + 1);

        let edit = [("name", "Twice"), ("business_model", "universal"), ("description", "edited"),
                    ("revision", "1"), ("csrf", csrf.as_str())];
        let saved = ui.post(&edit_path, &edit).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let again = ui.post(&edit_path, &[("name", "Twice"), ("business_model", "universal"),
                    ("description", "edited again"), ("revision", "1"), ("csrf", csrf.as_str())]).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(again.html.contains("id=\"stale\""), "{}", again.html);
        assert!(again.html.contains("<code>description</code>"), "the message names what changed");
        let editor = ui.get(&edit_path).await;
        assert!(editor.html.contains("revision 2"), "one revision was added, not two");
    }
}

on_both_backends! {
    async fn ui_script_in_names_is_shown_escaped_and_long_texts_are_refused(app) {
        let ui = UiClient::login(app, "admin").await;
        let csrf = ui.get("/classes/new").await.csrf();
        let name = "<script>alert(1)</script>";
        let created = ui.post("/classes/new", &[("name", name), ("business_model", "universal"),
                      ("description", "<b>bold</b>"), ("csrf", csrf.as_str())]).await;
        created.saved_class_path();
        let list = ui.get("/classes").await;
        assert!(list.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{}", list.html);
        assert!(!list.html.contains(name) && !list.html.contains("<b>bold</b>"));
        let csp = list.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));

        let before = class_count(app).await;
        let long = "x".repeat(5000);
        let refused = ui.post("/classes/new", &[("name", "Long"), ("business_model", "universal"),
                      ("description", long.as_str()), ("csrf", csrf.as_str())]).await;
        assert_eq!(refused.status, StatusCode::OK);
        assert!(refused.html.contains("id=\"description-error\""), "{}", refused.html);
        assert_eq!(class_count(app).await, before, "nothing half-saved");
    }
}

on_both_backends! {
    async fn ui_reseller_user_sees_no_trace_of_the_operators_objects(app) {
        let operator_class = app.post("/api/v1/customer-classes", &app.admin, serde_json::json!({"name": "Operator only"})).await;
        let class_id = operator_class.body["id"].as_i64().expect("class id");
        let customer = app.post("/api/v1/customers", &app.admin,
            serde_json::json!({"name": "Operator customer", "currency": "EUR"})).await;
        let customer_id = customer.body["id"].as_i64().expect("customer id");
        let (_, _token) = app.reseller_with_user("Alpha").await;

        let ui = UiClient::login(app, "alpha-user").await;
        let classes = ui.get("/classes").await;
        assert_eq!(classes.status, StatusCode::OK);
        assert!(!classes.html.contains("Operator only"), "{}", classes.html);
        assert_eq!(ui.get(&format!("/classes/{class_id}")).await.status, StatusCode::NOT_FOUND);
        assert!(!ui.get("/customers").await.html.contains("Operator customer"));
        assert_eq!(ui.get(&format!("/customers/{customer_id}/effective")).await.status, StatusCode::NOT_FOUND);
        let editor = ui.get("/classes/new").await;
        assert!(!editor.html.contains("name=\"managed_by\""), "a reseller user does not choose the owner");
    }
}

on_both_backends! {
    async fn ui_wrong_password_keeps_the_login_page(app) {
        let client = reqwest::Client::new();
        let answer = client
            .post(format!("{}/login", app.base))
            .form(&[("login", "admin"), ("password", "not the password")])
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert!(answer.headers().get("set-cookie").is_none());
        assert!(answer.text().await.expect("body").contains("Wrong login or password."));
        let unknown = client
            .post(format!("{}/login", app.base))
            .form(&[("login", "nobody"), ("password", "not the password")])
            .send()
            .await
            .expect("sent");
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    }
}

on_both_backends! {
    async fn ui_save_and_add_a_copy_starts_a_new_class_from_the_saved_one(app) {
        let ui = UiClient::login(app, "admin").await;
        let csrf = ui.get("/classes/new").await.csrf();
        let saved = ui
            .post(
                "/classes/new",
                &[("name", "Silver"), ("business_model", "sip_trunking"), ("description", "copied text"),
                  ("action", "save_copy"), ("csrf", csrf.as_str())],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let copy = ui.get(saved.location.as_deref().expect("to the copy")).await;
        assert!(copy.html.contains("value=\"Copy of Silver\""), "{}", copy.html);
        assert!(copy.html.contains("copied text") && copy.html.contains("value=\"sip_trunking\" selected"));
        assert!(copy.html.contains("action=\"/classes/new\""), "the copy is a new class");
    }
}

/// A Berlin customer of a class with regular invoices (Standard template, net 15, reminders 7 and 3 days before
/// the due date, `regular` merged into the tab) and its February invoice, issued by a billing run on 2025-03-01;
/// answers (customer id, invoice id).
async fn issued_invoice(app: &support::TestApp, regular: serde_json::Value) -> (i64, i64) {
    use serde_json::json;
    let template = app.standard_template().await;
    let mut tab = json!({"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 15},
                         "due_reminder_days": [7, 3]});
    if let (Some(target), Some(more)) = (tab.as_object_mut(), regular.as_object()) {
        target.extend(more.clone());
    }
    let class = app
        .class(
            &app.admin,
            json!({"name": "Business EU", "currency": "EUR", "regular_invoices": tab,
               "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}}}),
        )
        .await;
    let customer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": "Customer 1001", "currency": "EUR", "class_id": class["id"], "time_zone": "Europe/Berlin",
                     "billing_period": "monthly", "activated_at": "2025-02-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(customer.status, StatusCode::CREATED, "{}", customer.text);
    let party = customer.body["id"].as_i64().expect("customer id");
    let xdr = json!({"party_id": party, "external_id": "f1", "occurred_at": "2025-02-01T00:00:00+01:00",
                     "kind": "recurring", "service": "sip_trunk", "rate_code": "TRUNK-M", "quantity": "1",
                     "amount": "42.01681"});
    let posted = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [xdr]})).await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.text);
    let run = app
        .post(
            "/api/v1/billing-runs",
            &app.admin,
            json!({"as_of": "2025-03-01T05:00:00Z"}),
        )
        .await;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.text);
    let run_id = run.body["id"].as_i64().expect("run id");
    let mut completed = false;
    for _ in 0..400 {
        let state = app.get(&format!("/api/v1/billing-runs/{run_id}"), &app.admin).await;
        assert_ne!(state.body["status"], json!("failed"), "{}", state.text);
        if state.body["status"] == json!("completed") {
            assert_eq!(state.body["failures"], json!([]), "{}", state.text);
            completed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(completed, "{}: the billing run finishes", app.backend);
    let list = app.get(&format!("/api/v1/invoices?party_id={party}"), &app.admin).await;
    let invoice = list.body["items"][0]["id"].as_i64().expect("the February invoice");
    (party, invoice)
}

on_both_backends! {
    async fn ui_invoice_list_and_page_show_an_issued_invoice_with_its_timeline(app) {
        let (party, id) = issued_invoice(app, serde_json::json!({})).await;
        let ui = UiClient::login(app, "admin").await;
        let list = ui.get("/invoices").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.html.contains(&format!("href=\"/invoices/{id}\"")), "{}", list.html);
        assert!(list.html.contains("Customer 1001") && list.html.contains("50.00000"), "{}", list.html);
        assert!(list.html.contains("2025-03-01") && list.html.contains("2025-03-16"), "issue and due date");
        let filtered = ui.get(&format!("/invoices?party_id={party}&kind=oot")).await;
        assert!(!filtered.html.contains(&format!("href=\"/invoices/{id}\"")), "the kind filter applies");
        let queue = ui.get("/invoices?review_state=under_review").await;
        assert!(!queue.html.contains(&format!("href=\"/invoices/{id}\"")), "not held in review");

        let page = ui.get(&format!("/invoices/{id}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(page.html.contains("42.01681") && page.html.contains("sip_trunk"), "the lines: {}", page.html);
        assert!(page.html.contains("id=\"timeline\""));
        let schedule = app.get(&format!("/api/v1/invoices/{id}/collection-schedule"), &app.admin).await;
        let items = schedule.body["items"].as_array().expect("schedule items");
        assert!(!items.is_empty(), "{}", schedule.text);
        for item in items {
            let date = item["date"].as_str().expect("date");
            assert!(page.html.contains(date), "the timeline shows {date}: {}", page.html);
        }
        assert_eq!(page.html.matches("data-state=\"pending\"").count(), items.len(), "nothing fired yet");
        assert!(!page.html.contains("id=\"approve\""), "nothing to approve");
        assert!(page.html.contains(&format!("href=\"/invoices/{id}/pdf\"")));

        let pdf = ui.get(&format!("/invoices/{id}/pdf")).await;
        assert_eq!(pdf.status, StatusCode::OK);
        assert_eq!(pdf.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/pdf"));
        assert!(pdf.html.starts_with("%PDF"));
        let document = ui.get(&format!("/invoices/{id}/document")).await;
        assert_eq!(document.status, StatusCode::OK);
        assert!(document.html.contains("42.01681"), "{}", document.html);
        let csp = document.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'self'"), "{csp}");

        let customer = ui.get(&format!("/customers/{party}")).await;
        assert!(customer.html.contains(&format!("href=\"/invoices?party_id={party}\"")), "{}", customer.html);
        assert!(customer.html.contains("id=\"status-history\"") && customer.html.contains("No status changes yet."));
    }
}

on_both_backends! {
    async fn ui_approve_releases_an_invoice_held_in_review_and_needs_the_csrf_token(app) {
        let (_, id) = issued_invoice(app, serde_json::json!({"email_delivery": "after_review"})).await;
        let ui = UiClient::login(app, "admin").await;
        let queue = ui.get("/invoices?review_state=under_review").await;
        assert!(queue.html.contains(&format!("href=\"/invoices/{id}\"")), "{}", queue.html);
        let api_queue = app.get("/api/v1/invoices?review_state=under_review", &app.admin).await;
        assert_eq!(api_queue.body["items"].as_array().map(Vec::len), Some(1), "{}", api_queue.text);
        let page = ui.get(&format!("/invoices/{id}")).await;
        assert!(page.html.contains("id=\"approve\""), "{}", page.html);

        let refused = ui.post(&format!("/invoices/{id}/approve"), &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let held = app.get(&format!("/api/v1/invoices/{id}"), &app.admin).await;
        assert_eq!(held.body["review_state"], serde_json::json!("under_review"));

        let approved = ui.post(&format!("/invoices/{id}/approve"), &[("csrf", page.csrf().as_str())]).await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.html);
        let released = app.get(&format!("/api/v1/invoices/{id}"), &app.admin).await;
        assert_eq!(released.body["review_state"], serde_json::json!("approved"));
        let after = ui.get(&format!("/invoices/{id}")).await;
        assert!(!after.html.contains("id=\"approve\""));
        // Approved long after the due date: the overdue step fires at once, the passed reminders are dropped.
        assert!(after.html.contains("data-state=\"fired\"") && after.html.contains("✔ fired"), "{}", after.html);
        assert!(after.html.contains("data-state=\"dropped\"") && after.html.contains("<s>due reminder</s>"));
        assert!(!ui.get("/invoices?review_state=under_review").await.html.contains(&format!("href=\"/invoices/{id}\"")));
        let again = ui.post(&format!("/invoices/{id}/approve"), &[("csrf", page.csrf().as_str())]).await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "approved once only");
    }
}

on_both_backends! {
    async fn ui_reseller_user_cannot_open_the_operators_invoice(app) {
        let (party, id) = issued_invoice(app, serde_json::json!({"email_delivery": "after_review"})).await;
        app.reseller_with_user("Alpha").await;
        let ui = UiClient::login(app, "alpha-user").await;
        let list = ui.get("/invoices").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(!list.html.contains(&format!("href=\"/invoices/{id}\"")) && !list.html.contains("Customer 1001"));
        for path in ["", "/pdf", "/document"] {
            let page = ui.get(&format!("/invoices/{id}{path}")).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "/invoices/{id}{path}");
        }
        let csrf = list.csrf();
        let approve = ui.post(&format!("/invoices/{id}/approve"), &[("csrf", csrf.as_str())]).await;
        assert_eq!(approve.status, StatusCode::NOT_FOUND);
        let foreign_party = ui.get(&format!("/invoices?party_id={party}")).await;
        assert_eq!(foreign_party.status, StatusCode::NOT_FOUND, "as GET /api/v1/invoices answers");
        assert!(!foreign_party.html.contains("Customer 1001"));
        let held = app.get(&format!("/api/v1/invoices/{id}"), &app.admin).await;
        assert_eq!(held.body["review_state"], serde_json::json!("under_review"));
        let calendar = ui.get("/calendar").await;
        assert_eq!(calendar.status, StatusCode::FORBIDDEN, "administrators only");
        assert!(!list.html.contains("href=\"/calendar\""), "no calendar link for a reseller user");
    }
}

on_both_backends! {
    async fn ui_calendar_edit_round_trip_with_errors_next_to_the_fields(app) {
        let ui = UiClient::login(app, "admin").await;
        let page = ui.get("/calendar").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.html.contains("value=\"saturday\" checked") && page.html.contains("value=\"sunday\" checked"));
        assert!(!page.html.contains("value=\"friday\" checked"));
        let csrf = page.csrf();

        let saved = ui.post("/calendar", &[("csrf", csrf.as_str()), ("non_working_weekdays", "friday"),
                             ("non_working_weekdays", "sunday"), ("holidays", "2026-12-26\r\n2026-12-25\r\n\r\n2026-12-25")]).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let stored = app.get("/api/v1/calendar", &app.admin).await;
        assert_eq!(stored.body, serde_json::json!({"non_working_weekdays": ["friday", "sunday"],
                                                   "holidays": ["2026-12-25", "2026-12-26"]}));
        let shown = ui.get(saved.location.as_deref().expect("back to the calendar")).await;
        assert!(shown.html.contains("id=\"saved\""));
        assert!(shown.html.contains("value=\"friday\" checked") && !shown.html.contains("value=\"saturday\" checked"));
        assert!(shown.html.contains("2026-12-25\n2026-12-26</textarea>"), "{}", shown.html);

        let all: Vec<(&str, &str)> = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
            .iter().map(|day| ("non_working_weekdays", *day)).collect();
        let mut form = vec![("csrf", csrf.as_str()), ("holidays", "2026-02-30\nlater")];
        form.extend(all);
        let refused = ui.post("/calendar", &form).await;
        assert_eq!(refused.status, StatusCode::OK);
        assert!(refused.html.contains("id=\"non_working_weekdays-error\""), "{}", refused.html);
        assert!(refused.html.contains("id=\"holidays-error\"") && refused.html.contains("aria-invalid=\"true\""));
        assert!(refused.html.contains("2026-02-30\nlater</textarea>"), "the input is kept: {}", refused.html);
        let unchanged = app.get("/api/v1/calendar", &app.admin).await;
        assert_eq!(unchanged.body, stored.body, "nothing saved");
        let no_token = ui.post("/calendar", &[("non_working_weekdays", "monday"), ("holidays", "")]).await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    }
}
