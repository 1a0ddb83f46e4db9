//! Managing users and API tokens through `/users`: disabling and revoking take effect at the next request, a
//! password reset answers a password that signs in, and reseller users manage their own reseller's users only.

mod support;

use classbill_engine::NewUserRole;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let answer = app.post("/api/v1/users", token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body
}

async fn patch(app: &TestApp, token: &str, id: &Value, body: Value) -> reqwest::StatusCode {
    app.send(
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(token),
        Some(body),
        None,
    )
    .await
    .status
}

async fn token_ids(app: &TestApp, user: &Value) -> Vec<Value> {
    let answer = app.get(&format!("/api/v1/users/{user}/tokens"), &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["id"].clone())
        .collect()
}

on_both_backends! {
    async fn disable_revoke_and_reset_take_effect_at_once(app) {
        let created = create(app, &app.admin, json!({"login": "ops", "password": "first password", "role": "admin"})).await;
        let id = created["id"].clone();
        assert_eq!(created["role"], json!("admin"));
        assert_eq!(created["disabled"], json!(false));
        assert!(created.get("password").is_none(), "a chosen password is never echoed");

        let again = app.post("/api/v1/users", &app.admin, json!({"login": "ops", "role": "admin"})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
        assert!(again.has_error("login", "login_taken"), "{}", again.text);
        let bad = app
            .post("/api/v1/users", &app.admin, json!({"login": "x", "password": "short", "role": "owner"}))
            .await;
        assert!(bad.has_error("role", "invalid"), "{}", bad.text);
        let bad = app.post("/api/v1/users", &app.admin, json!({"login": "x", "password": "short", "role": "reseller",
                                                                "reseller_id": 999})).await;
        assert!(bad.has_error("password", "too_short"), "{}", bad.text);

        let list = app.get("/api/v1/users", &app.admin).await;
        let logins: Vec<&Value> = list.body["items"].as_array().expect("items").iter().map(|u| &u["login"]).collect();
        assert_eq!(logins, [&json!("admin"), &json!("ops")]);
        assert!(list.text.find("password").is_none(), "{}", list.text);

        // Disabling refuses the user's token on the very next request; enabling lets it in again.
        let token = app.engine.create_token("ops", Timestamp::now()).await.expect("token");
        assert_eq!(app.get("/api/v1/users", &token).await.status, StatusCode::OK);
        let ops = app.engine.authenticate_token(&token).await.expect("ops");
        let session = app.engine.open_web_session(&ops, Timestamp::now()).await.expect("session");
        assert!(app.engine.web_session(&session.id, Timestamp::now()).await.is_ok());
        assert_eq!(patch(app, &app.admin, &id, json!({"disabled": true})).await, StatusCode::OK);
        assert_eq!(app.get("/api/v1/users", &token).await.status, StatusCode::UNAUTHORIZED);
        assert!(app.engine.web_session(&session.id, Timestamp::now()).await.is_err());
        assert!(app.engine.authenticate_password("ops", "first password").await.is_err());
        assert_eq!(patch(app, &app.admin, &id, json!({"disabled": false})).await, StatusCode::OK);
        assert_eq!(app.get("/api/v1/users", &token).await.status, StatusCode::OK);

        // Revoking one token leaves the other working.
        let second = app.engine.create_token("ops", Timestamp::now()).await.expect("token");
        let ids = token_ids(app, &id).await;
        assert_eq!(ids.len(), 2);
        let revoked = app.delete(&format!("/api/v1/users/{id}/tokens/{}", ids[0]), &app.admin).await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
        assert_eq!(app.get("/api/v1/users", &token).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.get("/api/v1/users", &second).await.status, StatusCode::OK);
        let tokens = app.get(&format!("/api/v1/users/{id}/tokens"), &app.admin).await;
        assert!(tokens.body["items"][0]["revoked_at"].is_string(), "{}", tokens.text);
        assert!(tokens.body["items"][1]["revoked_at"].is_null(), "{}", tokens.text);
        assert!(!tokens.text.contains("cb_"), "token values never leave the server");
        let admin = app.engine.authenticate_token(&app.admin).await.expect("admin");
        let other_users_token =
            app.delete(&format!("/api/v1/users/{}/tokens/{}", admin.user_id, ids[1]), &app.admin).await;
        assert_eq!(other_users_token.status, StatusCode::NOT_FOUND);

        // A reset answers a new password once; it signs in, the old one no longer does.
        let reset = app.post(&format!("/api/v1/users/{id}/reset-password"), &app.admin, json!({})).await;
        assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
        let password = reset.body["password"].as_str().expect("new password").to_owned();
        assert!(password.len() >= 16);
        let actor = app.engine.authenticate_password("ops", &password).await.expect("new password signs in");
        assert_eq!(actor.login, "ops");
        assert!(app.engine.authenticate_password("ops", "first password").await.is_err());

        // One's own account stays usable: no self-disabling.
        let own = app
            .send(reqwest::Method::PATCH, &format!("/api/v1/users/{}", admin.user_id), Some(&app.admin),
                  Some(json!({"disabled": true})), None)
            .await;
        assert!(own.has_error("disabled", "own_account"), "{}", own.text);

        // Every change is in the audit log.
        let log = app.get("/api/v1/audit-log", &app.admin).await;
        let actions: Vec<(String, String)> = log.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["object_type"] == json!("user") || e["object_type"] == json!("api_token"))
            .map(|e| (e["action"].as_str().unwrap_or("").to_owned(), e["object_type"].as_str().unwrap_or("").to_owned()))
            .collect();
        assert_eq!(actions.len(), 5, "{actions:?}");
        assert!(actions.contains(&("create".to_owned(), "user".to_owned())));
        assert!(actions.contains(&("revoke_token".to_owned(), "api_token".to_owned())));
        assert!(actions.contains(&("reset_password".to_owned(), "user".to_owned())));
        assert!(!log.text.contains(&password), "the audit log never holds a password");
    }
}

on_both_backends! {
    async fn reseller_users_manage_their_own_resellers_users_only(app) {
        let (alpha, alpha_token) = app.reseller_with_user("Alpha").await;
        let (_, beta_token) = app.reseller_with_user("Beta").await;
        let beta = app.engine.authenticate_token(&beta_token).await.expect("beta user");
        let admin = app.engine.authenticate_token(&app.admin).await.expect("admin");

        // Alpha's user sees itself only.
        let list = app.get("/api/v1/users", &alpha_token).await;
        let items = list.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}", list.text);
        assert_eq!(items[0]["reseller_id"], json!(alpha));

        // The operator's and the other reseller's users are not there for it.
        for id in [admin.user_id, beta.user_id] {
            assert_eq!(app.get(&format!("/api/v1/users/{id}"), &alpha_token).await.status, StatusCode::NOT_FOUND);
            assert_eq!(patch(app, &alpha_token, &json!(id), json!({"disabled": true})).await, StatusCode::NOT_FOUND);
            let reset = app.post(&format!("/api/v1/users/{id}/reset-password"), &alpha_token, json!({})).await;
            assert_eq!(reset.status, StatusCode::NOT_FOUND);
            let tokens = app.get(&format!("/api/v1/users/{id}/tokens"), &alpha_token).await;
            assert_eq!(tokens.status, StatusCode::NOT_FOUND);
            let revoke = app.delete(&format!("/api/v1/users/{id}/tokens/1"), &alpha_token).await;
            assert_eq!(revoke.status, StatusCode::NOT_FOUND);
        }
        assert_eq!(app.get("/api/v1/users", &beta_token).await.status, StatusCode::OK);

        // It creates users of its own reseller only, and no administrators.
        let admin_user = app.post("/api/v1/users", &alpha_token, json!({"login": "x", "role": "admin"})).await;
        assert_eq!(admin_user.status, StatusCode::FORBIDDEN, "{}", admin_user.text);
        let other = app
            .post("/api/v1/users", &alpha_token,
                  json!({"login": "y", "role": "reseller", "reseller_id": beta_reseller(app, &beta_token).await}))
            .await;
        assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text);
        let grant = app
            .post("/api/v1/users", &alpha_token, json!({"login": "z", "role": "reseller", "personal_data_access": true}))
            .await;
        assert_eq!(grant.status, StatusCode::FORBIDDEN, "{}", grant.text);
        let colleague = create(app, &alpha_token, json!({"login": "alpha-2", "role": "reseller"})).await;
        assert_eq!(colleague["reseller_id"], json!(alpha));
        let password = colleague["password"].as_str().expect("a chosen password is answered once");
        app.engine.authenticate_password("alpha-2", password).await.expect("signs in");

        // And manages it: disabled, it can no longer sign in; its role cannot become admin.
        assert_eq!(patch(app, &alpha_token, &colleague["id"], json!({"role": "admin"})).await, StatusCode::FORBIDDEN);
        assert_eq!(patch(app, &alpha_token, &colleague["id"], json!({"disabled": true})).await, StatusCode::OK);
        assert!(app.engine.authenticate_password("alpha-2", password).await.is_err());

        // The administrator sees everyone, and the reseller's audit log shows its own user changes.
        let all = app.get("/api/v1/users", &app.admin).await;
        assert_eq!(all.body["items"].as_array().map(Vec::len), Some(4), "{}", all.text);
        let log = app.get("/api/v1/audit-log", &alpha_token).await;
        assert!(log.body["items"].as_array().expect("items").iter().any(|e| e["object_type"] == json!("user")
            && e["object_id"] == colleague["id"].to_string().as_str()), "{}", log.text);

        // A user created by the engine (CLI path) for the same reseller is visible to it as well.
        app.engine
            .add_user("alpha-3", "a long enough password", NewUserRole::Reseller(alpha), Timestamp::now())
            .await
            .expect("created");
        let list = app.get("/api/v1/users", &alpha_token).await;
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(3), "{}", list.text);
    }
}

/// The reseller id of a reseller user's token.
async fn beta_reseller(app: &TestApp, token: &str) -> i64 {
    match app.engine.authenticate_token(token).await.expect("token").role {
        classbill_engine::Role::Reseller(id) => id,
        classbill_engine::Role::Administrator => panic!("not a reseller user"),
    }
}
