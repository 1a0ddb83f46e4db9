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
