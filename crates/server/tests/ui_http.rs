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
        let (form_cookie, csrf) = ui_support::login_form(&client, &app.base).await;
        let answer = client
            .post(format!("{}/login", app.base))
            .header("cookie", &form_cookie)
            .form(&[("login", "admin"), ("password", "not the password"), ("csrf", &csrf)])
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert!(ui_support::set_cookie(answer.headers(), "classbill_session").is_none());
        assert!(answer.text().await.expect("body").contains("Wrong login or password."));
        let unknown = client
            .post(format!("{}/login", app.base))
            .header("cookie", &form_cookie)
            .form(&[("login", "nobody"), ("password", "not the password"), ("csrf", &csrf)])
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

/// The number of rows of the notification log on a page.
fn log_rows(html: &str) -> usize {
    html.matches("data-notification-id=").count()
}

/// A class of `token`'s owner sending `payment_received` by e-mail and SMS, its customer `name` with an e-mail
/// address and no phone, and a payment: two messages, an e-mail waiting for delivery and a skipped SMS.
async fn paid_customer(app: &support::TestApp, token: &str, name: &str) -> i64 {
    use serde_json::json;
    let class = app
        .class(
            token,
            json!({"name": format!("Notified {name}"), "currency": "EUR",
               "notifications": {"events": {"payment_received": {"email": true, "sms": true}}}}),
        )
        .await;
    let customer = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "class_id": class["id"],
               "email": "someone@example.com", "activated_at": "2025-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(customer.status, StatusCode::CREATED, "{}", customer.text);
    let party = customer.body["id"].as_i64().expect("customer id");
    let paid = app
        .post(
            "/api/v1/payments",
            token,
            json!({"party_id": party, "amount": "5", "currency": "EUR",
               "received_at": "2025-04-20T10:00:00Z"}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.text);
    party
}

on_both_backends! {
    async fn ui_notification_log_filters_and_shows_a_reseller_only_its_own_messages(app) {
        let operator = paid_customer(app, &app.admin, "<b>Operator</b> customer").await;
        let (_, token) = app.reseller_with_user("Alpha").await;
        let own = paid_customer(app, &token, "Alpha customer").await;

        let ui = UiClient::login(app, "admin").await;
        let all = ui.get("/notifications").await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.html);
        assert!(all.html.contains("href=\"/notifications\" aria-current=\"page\""), "linked in the navigation");
        assert_eq!(log_rows(&all.html), 4, "{}", all.html);
        assert!(all.html.contains("&lt;b&gt;Operator&lt;&#x2f;b&gt; customer") && !all.html.contains("<b>Operator"));
        assert!(all.html.contains(&format!("party {operator} has no phone number")), "{}", all.html);
        let ids: Vec<i64> = all.html.split("data-notification-id=\"").skip(1)
            .map(|rest| rest[..rest.find('"').expect("id ends")].parse().expect("an id")).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
        let api = app.get("/api/v1/notifications", &app.admin).await;
        assert_eq!(api.body["items"][0]["id"].as_i64(), Some(ids[0]), "the same log as the API");

        let sms = ui.get("/notifications?channel=sms").await;
        assert_eq!(log_rows(&sms.html), 2);
        assert_eq!(sms.html.matches("data-status=\"skipped\"").count(), 2, "{}", sms.html);
        let pending = ui.get("/notifications?status=pending&channel=email").await;
        assert_eq!(log_rows(&pending.html), 2);
        assert!(pending.html.contains("someone@example.com"));
        let of_party = ui.get(&format!("/notifications?event=payment_received&party_id={operator}")).await;
        assert_eq!(log_rows(&of_party.html), 2);
        assert!(!of_party.html.contains("Alpha customer"));
        assert_eq!(log_rows(&ui.get("/notifications?event=invoice_issued").await.html), 0);
        let refused = ui.get("/notifications?event=nonsense&channel=fax").await;
        assert_eq!(refused.status, StatusCode::OK);
        assert!(refused.html.contains("not a notification event") && refused.html.contains("must be one of email"));
        assert_eq!(log_rows(&refused.html), 0);

        let reseller = UiClient::login(app, "alpha-user").await;
        let mine = reseller.get("/notifications").await;
        assert_eq!(mine.status, StatusCode::OK);
        assert_eq!(log_rows(&mine.html), 2, "{}", mine.html);
        assert!(mine.html.contains(&format!("&#x2f;customers&#x2f;{own}\">Alpha customer</a>")), "{}", mine.html);
        assert!(!mine.html.contains("Operator"), "{}", mine.html);
        assert!(!mine.html.contains(&format!("party {operator} ")));
        assert_eq!(log_rows(&reseller.get("/notifications?status=skipped").await.html), 1);
        let foreign = reseller.get(&format!("/notifications?party_id={operator}")).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "as GET /api/v1/notifications answers");
        assert!(!foreign.html.contains("Operator"));
    }
}

/// A class of `token`'s owner with out-of-turn invoices (`oot_enabled`), its monthly Berlin customer activated
/// 2025-03-01, and three March usage xDRs; answers (customer id, xDR ids).
async fn customer_with_usage(app: &support::TestApp, token: &str, oot_enabled: bool) -> (i64, Vec<i64>) {
    use serde_json::json;
    let template = app.standard_template().await;
    let class = app
        .class(token, json!({"name": format!("OOT {oot_enabled}"), "currency": "EUR",
            "regular_invoices": {"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 15}},
            "out_of_turn_invoices": {"enabled": oot_enabled, "template_id": template,
                                     "payment_terms": {"type": "net", "days": 14}},
            "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}}}))
        .await;
    let customer = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": "Customer 1001", "currency": "EUR", "class_id": class["id"],
               "time_zone": "Europe/Berlin", "billing_period": "monthly",
               "activated_at": "2025-03-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(customer.status, StatusCode::CREATED, "{}", customer.text);
    let party = customer.body["id"].as_i64().expect("customer id");
    let xdrs: Vec<serde_json::Value> = [
        ("x2", "DE-FIX", "12.34567"),
        ("x4", "DE-MOB", "20.00001"),
        ("x5", "INTL-AT", "5.11244"),
    ]
    .iter()
    .map(|(key, rate, amount)| {
        json!({"party_id": party, "external_id": key, "occurred_at": "2025-03-11T17:40:00+01:00",
                 "kind": "usage", "service": "voice", "rate_code": rate, "quantity": "60", "amount": amount})
    })
    .collect();
    let posted = app.post("/api/v1/xdrs", &app.admin, json!({ "xdrs": xdrs })).await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.text);
    let ids = posted.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|x| x["id"].as_i64().expect("id"))
        .collect();
    (party, ids)
}

/// The value of the hidden field `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name}: {html}")) + marker.len();
    html[start..start + html[start..].find('"').expect("value ends")].to_owned()
}

on_both_backends! {
    async fn ui_out_of_turn_invoice_from_the_customer_page_is_issued_once(app) {
        let (party, xdrs) = customer_with_usage(app, &app.admin, true).await;
        let ui = UiClient::login(app, "admin").await;
        let page = ui.get(&format!("/customers/{party}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(page.html.contains("id=\"oot-form\""), "{}", page.html);
        for id in &xdrs {
            assert!(page.html.contains(&format!("name=\"xdr_id\" value=\"{id}\"")), "xDR {id} offered");
            assert!(page.html.contains(&format!("<label for=\"oot-xdr-{id}\">")), "each checkbox is labelled");
        }
        assert!(page.html.contains("<label for=\"item2_unit_price\">"), "three item rows");
        let csrf = page.csrf();
        let key = hidden(&page.html, "idempotency_key");
        let path = format!("/customers/{party}/out-of-turn");

        let (x0, x1) = (xdrs[0].to_string(), xdrs[1].to_string());
        let bad = [("csrf", csrf.as_str()), ("idempotency_key", key.as_str()), ("xdr_id", x0.as_str()),
                   ("item0_kind", "one_time"), ("item0_service", "setup"), ("item0_quantity", "two"),
                   ("item0_unit_price", "7.50"), ("item1_kind", "credit"), ("item1_description", "<i>Goodwill</i>")];
        let refused = ui.post(&path, &bad).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
        assert!(refused.html.contains("id=\"item0_quantity-error\""), "{}", refused.html);
        assert!(refused.html.contains("id=\"item1_service-error\""), "the second row lacks its service");
        assert!(refused.html.contains("value=\"&lt;i&gt;Goodwill&lt;&#x2f;i&gt;\""), "kept and escaped");
        assert!(refused.html.contains(&format!("value=\"{x0}\" id=\"oot-xdr-{x0}\" checked")), "still ticked");
        assert_eq!(hidden(&refused.html, "idempotency_key"), key, "the same request when sent again");
        let oot = app.get(&format!("/api/v1/invoices?party_id={party}&kind=oot"), &app.admin).await;
        assert_eq!(oot.body["items"], serde_json::json!([]), "nothing written");

        let good = [("csrf", csrf.as_str()), ("idempotency_key", key.as_str()), ("xdr_id", x0.as_str()),
                    ("xdr_id", x1.as_str()), ("item0_kind", "one_time"), ("item0_description", "Installation"),
                    ("item0_service", "setup"), ("item0_rate_code", "SETUP"), ("item0_quantity", "2"),
                    ("item0_unit_price", "7.50"), ("item1_kind", "one_time")];
        let issued = ui.post(&path, &good).await;
        assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.html);
        let location = issued.location.clone().expect("to the invoice");
        let twice = ui.post(&path, &good).await;
        assert_eq!(twice.location, Some(location.clone()), "a double submit answers the same invoice");
        let oot = app.get(&format!("/api/v1/invoices?party_id={party}&kind=oot"), &app.admin).await;
        let items = oot.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}", oot.text);
        assert_eq!(location, format!("/invoices/{}?issued=1", items[0]["id"]));
        // 12.34567 + 20.00001 + 2 × 7.50 = 47.34568 net, 19 % VAT on top, rounded to cents.
        assert_eq!(items[0]["net_total"], serde_json::json!("47.34568"), "{}", oot.text);
        let shown = ui.get(&location).await;
        assert!(shown.html.contains("id=\"issued\"") && shown.html.contains("SETUP"), "{}", shown.html);

        let after = ui.get(&format!("/customers/{party}")).await;
        assert!(!after.html.contains(&format!("name=\"xdr_id\" value=\"{x0}\"")));
        assert!(!after.html.contains(&format!("name=\"xdr_id\" value=\"{x1}\"")), "invoiced charges are gone");
        assert!(after.html.contains(&format!("name=\"xdr_id\" value=\"{}\"", xdrs[2])), "the third is still open");
        assert_ne!(hidden(&after.html, "idempotency_key"), key, "a new form, a new key");
    }
}

on_both_backends! {
    async fn ui_out_of_turn_refusals_and_who_sees_the_action(app) {
        let (disabled, _) = customer_with_usage(app, &app.admin, false).await;
        let ui = UiClient::login(app, "admin").await;
        let page = ui.get(&format!("/customers/{disabled}")).await;
        let form = [("csrf", page.csrf()), ("idempotency_key", hidden(&page.html, "idempotency_key")),
                    ("item0_kind", "one_time".to_owned()), ("item0_service", "setup".to_owned()),
                    ("item0_quantity", "1".to_owned()), ("item0_unit_price", "10".to_owned())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = ui.post(&format!("/customers/{disabled}/out-of-turn"), &form).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
        assert!(refused.html.contains("id=\"oot-errors\"")
            && refused.html.contains("out-of-turn invoices are disabled for class &quot;OOT false&quot;"), "{}", refused.html);
        let none = app.get(&format!("/api/v1/invoices?party_id={disabled}"), &app.admin).await;
        assert_eq!(none.body["items"], serde_json::json!([]));
        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={disabled}"), &app.admin).await;
        assert_eq!(xdrs.body["items"].as_array().map(Vec::len), Some(3), "no item was booked");

        let (_, token) = app.reseller_with_user("Alpha").await;
        let (theirs, _) = customer_with_usage(app, &token, true).await;
        let operator_view = ui.get(&format!("/customers/{theirs}")).await;
        assert_eq!(operator_view.status, StatusCode::OK);
        assert!(!operator_view.html.contains("id=\"oot-form\""), "only users of the owner see the action");
        let denied = ui.post(&format!("/customers/{theirs}/out-of-turn"), &form).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.html);
        let reseller = UiClient::login(app, "alpha-user").await;
        let own = reseller.get(&format!("/customers/{theirs}")).await;
        assert!(own.html.contains("id=\"oot-form\""), "{}", own.html);
        assert_eq!(reseller.get(&format!("/customers/{disabled}")).await.status, StatusCode::NOT_FOUND);
        let csrf = own.csrf();
        let foreign = reseller.post(&format!("/customers/{disabled}/out-of-turn"),
                                    &[("csrf", csrf.as_str()), ("idempotency_key", "k")]).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn ui_credit_note_from_the_invoice_page(app) {
        let (party, id) = issued_invoice(app, serde_json::json!({})).await;
        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={party}&kind=recurring"), &app.admin).await;
        let charge = xdrs.body["items"][0]["id"].as_i64().expect("the charge").to_string();
        let ui = UiClient::login(app, "admin").await;
        let page = ui.get(&format!("/invoices/{id}")).await;
        assert!(page.html.contains("id=\"credit-form\"") && page.html.contains("No credit notes issued"), "{}", page.html);
        assert!(page.html.contains(&format!("name=\"xdr_id\" value=\"{charge}\"")), "{}", page.html);
        assert!(page.html.contains("<label for=\"credit-reason\">Reason</label>"));
        let csrf = page.csrf();
        let path = format!("/invoices/{id}/credit-notes");

        let no_reason = ui.post(&path, &[("csrf", csrf.as_str()), ("reason", " "), ("xdr_id", charge.as_str())]).await;
        assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_reason.html);
        assert!(no_reason.html.contains("id=\"credit-reason-error\"") && no_reason.html.contains("aria-invalid=\"true\""));
        assert!(no_reason.html.contains(&format!("id=\"credit-xdr-{charge}\" checked")), "the choice is kept");
        let notes = app.get(&format!("/api/v1/invoices/{id}/credit-notes"), &app.admin).await;
        assert_eq!(notes.body, serde_json::json!([]), "nothing written: {}", notes.text);

        let reason = "<script>alert(1)</script> wrong trunk";
        let issued = ui.post(&path, &[("csrf", csrf.as_str()), ("reason", reason), ("xdr_id", charge.as_str())]).await;
        assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.html);
        let notes = app.get(&format!("/api/v1/invoices/{id}/credit-notes"), &app.admin).await;
        let note = notes.body[0]["credit_note"]["id"].as_i64().expect("one credit note");
        assert!(notes.body[0]["credit_note"]["total"].as_str().is_some_and(|t| t.starts_with('-')), "{}", notes.text);
        assert_eq!(issued.location, Some(format!("/invoices/{id}?credited={note}")));
        let shown = ui.get(&format!("/invoices/{id}?credited={note}")).await;
        assert!(shown.html.contains("id=\"credited\""));
        assert!(shown.html.contains(&format!("<a href=\"/invoices/{note}\">")), "{}", shown.html);
        assert!(shown.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; wrong trunk") && !shown.html.contains(reason));

        let again = ui.post(&path, &[("csrf", csrf.as_str()), ("reason", "again"), ("xdr_id", charge.as_str())]).await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.html);
        assert!(again.html.contains("id=\"credit-xdr_ids-error\""), "{}", again.html);
        let notes = app.get(&format!("/api/v1/invoices/{id}/credit-notes"), &app.admin).await;
        assert_eq!(notes.body.as_array().map(Vec::len), Some(1), "credited once");
        let credit_note = ui.get(&format!("/invoices/{note}")).await;
        assert_eq!(credit_note.status, StatusCode::OK);
        assert!(!credit_note.html.contains("id=\"credit-notes\""), "a credit note is not credited again");

        app.reseller_with_user("Alpha").await;
        let reseller = UiClient::login(app, "alpha-user").await;
        let csrf = reseller.get("/invoices").await.csrf();
        let foreign = reseller.post(&path, &[("csrf", csrf.as_str()), ("reason", "mine")]).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    }
}

/// Signs in to the UI of the server at `base` as `login`; answers the session cookie.
async fn session_cookie(client: &reqwest::Client, base: &str, login: &str) -> String {
    let (form_cookie, csrf) = ui_support::login_form(client, base).await;
    let response = client
        .post(format!("{base}/login"))
        .header("cookie", &form_cookie)
        .form(&[
            ("login", login),
            ("password", ui_support::PASSWORD),
            ("next", "/classes"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("login sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = ui_support::set_cookie(response.headers(), "classbill_session").expect("session cookie");
    cookie.split(';').next().unwrap_or_default().to_owned()
}

/// With every database connection held, a page answers 503 "busy" (as the API does), not 500.
async fn ui_pages_answer_503_busy_while_the_pool_is_exhausted(backend: classbill_testkit::Backend) {
    let db = classbill_testkit::database_url(backend).await;
    let limits = classbill_store::PoolLimits {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_millis(300),
    };
    let store = classbill_store::Store::connect_with(&db.url, Some(limits))
        .await
        .expect("database opens");
    let engine = classbill_engine::Engine::new(store.clone());
    let now = jiff::Timestamp::now();
    engine.initialize(now).await.expect("schema migrates");
    engine
        .add_user(
            "admin",
            ui_support::PASSWORD,
            classbill_engine::NewUserRole::Administrator,
            now,
        )
        .await
        .expect("user");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        classbill_server::serve(engine, listener, std::future::pending())
            .await
            .expect("server runs");
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = session_cookie(&client, &base, "admin").await;
    let get = |path: &str| client.get(format!("{base}{path}")).header("cookie", &cookie).send();
    assert_eq!(get("/notifications").await.expect("sent").status(), StatusCode::OK);

    let held = store.read().await.expect("the only connection");
    for path in ["/notifications", "/classes"] {
        let busy = get(path).await.expect("sent");
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE, "{backend}: {path}");
        assert_eq!(
            busy.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let html = busy.text().await.expect("body");
        assert!(html.contains("busy") && html.contains("Try again"), "{html}");
    }
    drop(held);
    assert_eq!(
        get("/notifications").await.expect("sent").status(),
        StatusCode::OK,
        "{backend}: served again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_pages_answer_503_busy_while_the_pool_is_exhausted_on_sqlite() {
    ui_pages_answer_503_busy_while_the_pool_is_exhausted(classbill_testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_pages_answer_503_busy_while_the_pool_is_exhausted_on_postgres() {
    ui_pages_answer_503_busy_while_the_pool_is_exhausted(classbill_testkit::Backend::Postgres).await;
}

/// The ids of the class rows of a list page, top to bottom.
fn class_rows(html: &str) -> Vec<i64> {
    html.split("data-class-id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("id ends")].parse().expect("an id"))
        .collect()
}

on_both_backends! {
    async fn ui_class_list_sorts_by_every_column_and_pages_a_sorted_view(app) {
        use serde_json::json;
        let kept = json!({"archive_xdrs": false});
        let a = app.class(&app.admin, json!({"name": "Sort a", "currency": "USD", "description": "middle",
                                             "general_info": kept})).await;
        let b = app.class(&app.admin, json!({"name": "Sort B", "currency": "EUR", "description": "zulu",
                                             "business_model": "mobile", "general_info": kept})).await;
        let c = app.class(&app.admin, json!({"name": "Sort c", "description": "Alpha"})).await;
        let (a, b, c) = (a["id"].as_i64().expect("id"), b["id"].as_i64().expect("id"), c["id"].as_i64().expect("id"));
        for _ in 0..2 {
            let member = app.post("/api/v1/customers", &app.admin,
                json!({"name": "Member", "currency": "EUR", "class_id": b})).await;
            assert_eq!(member.status, StatusCode::CREATED, "{}", member.text);
        }
        let ui = UiClient::login(app, "admin").await;
        let default = ui.get("/classes?name=sort").await;
        assert_eq!(class_rows(&default.html), [a, b, c], "by name, ignoring case");
        assert!(default.html.contains("aria-sort=\"ascending\""), "{}", default.html);
        let cases: [(&str, [i64; 3]); 8] = [
            ("sort=name&dir=desc", [c, b, a]),
            ("sort=currency", [c, b, a]),
            ("sort=description", [c, a, b]),
            ("sort=description&dir=desc", [b, a, c]),
            ("sort=members&dir=desc", [b, a, c]),
            ("sort=business_model", [b, a, c]),
            ("sort=archive_xdrs&dir=desc", [c, a, b]),
            ("sort=managed_by", [a, b, c]),
        ];
        for (query, order) in cases {
            let page = ui.get(&format!("/classes?name=sort&{query}")).await;
            assert_eq!(page.status, StatusCode::OK, "{query}");
            assert_eq!(class_rows(&page.html), order, "{query}");
        }
        let members = ui.get("/classes?name=sort&sort=members").await;
        assert!(members.html.contains("aria-sort=\"ascending\"><a href=\"/classes?name=sort&amp;managed_by=&amp;business_model=&amp;currency=&amp;invoices=&amp;taxation_method=&amp;sort=members&amp;dir=desc"),
                "the sorted column's heading flips the order: {}", members.html);
        assert!(members.html.contains("name=\"sort\" value=\"members\""), "a new search keeps the order");
        let refused = ui.get("/classes?sort=password").await;
        assert!(refused.html.contains("cannot sort by") && class_rows(&refused.html).is_empty());

        let admin = app.engine.authenticate_token(&app.admin).await.expect("admin");
        for n in 0..50 {
            app.engine.create_class(&admin, json!({"name": format!("Sort p{n:02}"), "description": format!("d{n:02}")}),
                                    jiff::Timestamp::now()).await.expect("class");
        }
        let first = ui.get("/classes?name=sort&sort=description&dir=desc").await;
        let rows = class_rows(&first.html);
        assert_eq!(rows.len(), 50);
        assert_eq!(rows[0], b, "zulu first");
        let marker = "rel=\"next\"";
        let next = &first.html[..first.html.find(marker).expect("a next page")];
        let href = &next[next.rfind("href=\"").expect("href") + 6..];
        let href = href[..href.find('"').expect("ends")].replace("&amp;", "&").replace("&#x2f;", "/");
        assert!(href.contains("page=2"), "{href}");
        let second = ui.get(&href).await;
        let rest = class_rows(&second.html);
        assert_eq!(rest.len(), 3, "53 classes in all: {}", second.html);
        assert_eq!(rest.last(), Some(&c), "Alpha last when descending");
        assert!(!second.html.contains(marker));
    }
}

/// The ids of the party rows of a list page, top to bottom.
fn party_rows(html: &str) -> Vec<i64> {
    html.split("data-party-id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("id ends")].parse().expect("an id"))
        .collect()
}

/// Follows the page's "Next page" link; `None` on the last page.
async fn next_page(ui: &UiClient, html: &str) -> Option<ui_support::Page> {
    let end = html.find("rel=\"next\"")?;
    let link = &html[..end];
    let href = &link[link.rfind("href=\"").expect("href") + 6..];
    let href = href[..href.find('"').expect("ends")]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/");
    Some(ui.get(&href).await)
}

on_both_backends! {
    async fn ui_customer_list_sorts_by_name_and_id_across_pages(app) {
        let admin = app.engine.authenticate_token(&app.admin).await.expect("admin");
        let create = |name: String| {
            let engine = app.engine.clone();
            let admin = admin.clone();
            async move {
                let customer = classbill_engine::NewCustomer {
                    name,
                    currency: Some("EUR".to_owned()),
                    ..classbill_engine::NewCustomer::default()
                };
                engine.create_customer(&admin, customer, jiff::Timestamp::now()).await.expect("customer").id
            }
        };
        let z = create("Sortme z".to_owned()).await;
        let mut same = Vec::new();
        for _ in 0..51 {
            same.push(create("Sortme same".to_owned()).await);
        }
        let a = create("sortme A".to_owned()).await;
        let ui = UiClient::login(app, "admin").await;

        let by_id = ui.get("/customers?name=sortme").await;
        assert!(by_id.html.contains("aria-sort=\"ascending\"><a href=\"/customers?name=sortme"), "{}", by_id.html);
        let first = party_rows(&by_id.html);
        assert_eq!(first.len(), 50);
        assert_eq!((first[0], first[1]), (z, same[0]), "id order by default");

        let mut by_name = party_rows(&ui.get("/customers?name=sortme&sort=name").await.html);
        let page = ui.get("/customers?name=sortme&sort=name").await;
        let second = next_page(&ui, &page.html).await.expect("a second page");
        by_name.extend(party_rows(&second.html));
        assert!(next_page(&ui, &second.html).await.is_none());
        let mut expected = vec![a];
        expected.extend(&same);
        expected.push(z);
        assert_eq!(by_name, expected, "name order ignores case; equal names by id, across the page break");

        let page = ui.get("/customers?name=sortme&sort=name&dir=desc").await;
        assert!(page.html.contains("aria-sort=\"descending\""));
        let mut descending = party_rows(&page.html);
        descending.extend(party_rows(&next_page(&ui, &page.html).await.expect("a second page").html));
        expected.reverse();
        assert_eq!(descending, expected);
        let newest = party_rows(&ui.get("/customers?name=sortme&sort=id&dir=desc").await.html);
        assert_eq!(newest[0], a);
        let refused = ui.get("/customers?sort=password").await;
        assert!(refused.html.contains("cannot sort by"), "{}", refused.html);
    }
}
