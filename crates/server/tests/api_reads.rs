//! The API reads keep verified tokens, parsed class documents and the installation values in memory (issue 9,
//! docs/benchmarks.md). These stories check that every change still shows on the next request: changes made
//! through this server at once, and changes made by another process sharing the database (played by a second
//! engine over the same store, which tells this server's engine nothing) on the next read as well, except a
//! revoked token, which another process cannot withdraw sooner than the token cache's lifetime.

mod support;

use classbill_engine::{Engine, NewUserRole};
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;

/// A second process on the same database, with its own in-memory state.
fn other_process(app: &TestApp) -> Engine {
    Engine::new(app.engine.store.clone())
}

fn id_of(value: &Value) -> i64 {
    value["id"].as_i64().unwrap_or_else(|| panic!("an id in {value}"))
}

/// A text custom field; answers its id.
async fn text_field(app: &TestApp, key: &str) -> i64 {
    let answer = app
        .post(
            "/api/v1/custom-fields",
            &app.admin,
            json!({"key": key, "label": key, "type": "text"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    id_of(&answer.body)
}

async fn customer(app: &TestApp, body: Value) -> i64 {
    let answer = app.post("/api/v1/customers", &app.admin, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    id_of(&answer.body)
}

async fn read(app: &TestApp, path: &str) -> Value {
    let answer = app.get(path, &app.admin).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}: {path}: {}",
        app.backend,
        answer.text
    );
    answer.body
}

on_both_backends! {
    async fn class_edits_show_in_the_next_customer_read_from_this_server_or_another_process(app) {
        let note = text_field(app, "note").await;
        let plan = text_field(app, "plan").await;
        let class = app
            .class(&app.admin, json!({"name": "Gold", "currency": "EUR", "custom_fields": {"enabled_field_ids": [note]}}))
            .await;
        let class_id = id_of(&class);
        let id = customer(app, json!({"name": "Acme", "class_id": class_id,
                                      "custom_fields": {"note": "first"}})).await;
        let path = format!("/api/v1/customers/{id}");
        assert_eq!(read(app, &path).await["custom_fields"], json!({"note": "first"}));
        assert_eq!(read(app, &path).await["custom_fields"], json!({"note": "first"}), "read twice, same answer");

        // Through this server: the class now enables `plan` as well; the customer shows the value it is given.
        let patched = app
            .patch(&format!("/api/v1/customer-classes/{class_id}"), &app.admin,
                   json!({"custom_fields": {"enabled_field_ids": [note, plan]}}), 1)
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
        let written = app.send(Method::PATCH, &path, Some(&app.admin), Some(json!({"custom_fields": {"plan": "annual"}})), None).await;
        assert_eq!(written.status, StatusCode::OK, "{}", written.text);
        assert_eq!(read(app, &path).await["custom_fields"], json!({"note": "first", "plan": "annual"}));

        // Another process disables `note`: the next read through this server no longer shows it.
        let other = other_process(app);
        let admin = other.authenticate_token(&app.admin).await.expect("admin");
        other
            .patch_class(&admin, class_id, Some(2), json!({"custom_fields": {"enabled_field_ids": [plan]}}), Timestamp::now())
            .await
            .expect("class patched by the other process");
        assert_eq!(read(app, &path).await["custom_fields"], json!({"plan": "annual"}));

        // Without any field enabled the customer is read in one statement; the stored value shows again as soon
        // as its field is enabled again.
        other
            .patch_class(&admin, class_id, Some(3), json!({"custom_fields": {"enabled_field_ids": []}}), Timestamp::now())
            .await
            .expect("fields disabled");
        let plain = read(app, &path).await;
        assert_eq!((plain["custom_fields"].clone(), plain["name"].clone()), (json!({}), json!("Acme")), "{plain}");
        other
            .patch_class(&admin, class_id, Some(4), json!({"custom_fields": {"enabled_field_ids": [plan]}}), Timestamp::now())
            .await
            .expect("field enabled again");
        assert_eq!(read(app, &path).await["custom_fields"], json!({"plan": "annual"}));
    }
}

on_both_backends! {
    async fn effective_settings_follow_class_and_installation_changes_of_any_process(app) {
        let class_id = id_of(&app.class(&app.admin, json!({"name": "Gold", "currency": "EUR", "description": "one"})).await);
        let id = customer(app, json!({"name": "Acme", "class_id": class_id})).await;
        let path = format!("/api/v1/customers/{id}/effective-settings");
        let first = read(app, &path).await;
        assert_eq!(first["class_revision"], 1);
        assert_eq!(first["description"]["value"], "one");
        assert_eq!(first["installation"]["time_zone"]["value"], "UTC", "{}", first["installation"]);

        // Through this server.
        let patched = app
            .patch(&format!("/api/v1/customer-classes/{class_id}"), &app.admin, json!({"description": "two"}), 1)
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
        let settings = app
            .send(Method::PATCH, "/api/v1/settings", Some(&app.admin), Some(json!({"time_zone": "Europe/Berlin"})), None)
            .await;
        assert_eq!(settings.status, StatusCode::OK, "{}", settings.text);
        let second = read(app, &path).await;
        assert_eq!(second["class_revision"], 2);
        assert_eq!(second["description"]["value"], "two");
        assert_eq!(second["installation"]["time_zone"]["value"], "Europe/Berlin");

        // Through another process: a class edit, a setting and the calendar.
        let other = other_process(app);
        let admin = other.authenticate_token(&app.admin).await.expect("admin");
        other
            .patch_class(&admin, class_id, Some(2), json!({"description": "three"}), Timestamp::now())
            .await
            .expect("class patched by the other process");
        other
            .update_installation_settings(&admin, &json!({"time_zone": "Europe/Vienna"}), Timestamp::now())
            .await
            .expect("settings changed by the other process");
        other
            .replace_calendar(&admin, &json!({"non_working_weekdays": ["sunday"], "holidays": ["2026-12-25"]}),
                              Timestamp::now())
            .await
            .expect("calendar replaced by the other process");
        let third = read(app, &path).await;
        assert_eq!(third["class_revision"], 3);
        assert_eq!(third["description"]["value"], "three");
        let installation = &third["installation"];
        assert_eq!(installation["time_zone"]["value"], "Europe/Vienna", "{installation}");
        assert_eq!(installation["collections"]["non_working_weekdays"]["value"], json!(["sunday"]), "{installation}");
        assert_eq!(installation["collections"]["holidays"]["value"], json!(["2026-12-25"]), "{installation}");

        // A change to the party itself.
        let moved = app
            .send(Method::PATCH, &format!("/api/v1/customers/{id}"), Some(&app.admin),
                  Some(json!({"time_zone": "Asia/Tokyo"})), None)
            .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
        assert_eq!(read(app, &path).await["time_zone"]["value"], "Asia/Tokyo");
    }
}

on_both_backends! {
    async fn the_class_list_shows_new_columns_and_member_counts_at_once(app) {
        let class_id = id_of(&app.class(&app.admin, json!({"name": "Gold", "currency": "EUR"})).await);
        let row = |list: &Value| -> Value {
            list["items"].as_array().expect("items").iter().find(|c| c["id"] == class_id).cloned().expect("listed")
        };
        let list = read(app, "/api/v1/customer-classes").await;
        assert_eq!(row(&list)["member_count"], 0);
        assert_eq!(row(&list)["revision"], 1);
        customer(app, json!({"name": "Acme", "class_id": class_id})).await;
        let patched = app
            .patch(&format!("/api/v1/customer-classes/{class_id}"), &app.admin, json!({"description": "best"}), 1)
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
        let list = read(app, "/api/v1/customer-classes").await;
        let gold = row(&list);
        assert_eq!((gold["member_count"].clone(), gold["revision"].clone()), (json!(1), json!(2)));
        assert_eq!(gold["description"], "best");
        assert_eq!(gold["managed_by"], json!({"type": "administrator", "name": "Administrator"}), "{gold}");
        assert!(gold.get("document").is_none() && gold.get("general_info").is_none(), "{gold}");

        // Moves out of the class, one at a time and in bulk, show in both classes' counts.
        let silver_id = id_of(&app.class(&app.admin, json!({"name": "Silver", "currency": "EUR"})).await);
        let others = [
            customer(app, json!({"name": "Bolt", "class_id": class_id})).await,
            customer(app, json!({"name": "Cork", "class_id": class_id})).await,
        ];
        let counts = |list: &Value| -> (Value, Value) {
            let count = |id: i64| {
                let items = list["items"].as_array().expect("items");
                items.iter().find(|c| c["id"] == id).expect("listed")["member_count"].clone()
            };
            (count(class_id), count(silver_id))
        };
        assert_eq!(counts(&read(app, "/api/v1/customer-classes").await), (json!(3), json!(0)));
        let moved = app
            .send(Method::PATCH, &format!("/api/v1/customers/{}", others[0]), Some(&app.admin),
                  Some(json!({"class_id": silver_id})), None)
            .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
        assert_eq!(counts(&read(app, "/api/v1/customer-classes").await), (json!(2), json!(1)));
        let assigned = app
            .send(Method::POST, &format!("/api/v1/customer-classes/{silver_id}/members"), Some(&app.admin),
                  Some(json!({"party_ids": [others[0], others[1]]})), None)
            .await;
        assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.text);
        assert_eq!(counts(&read(app, "/api/v1/customer-classes").await), (json!(1), json!(2)));
    }
}

on_both_backends! {
    async fn a_role_change_applies_to_a_token_from_the_next_request(app) {
        let reseller = app.reseller("Alpha", None).await;
        let token = app.user("ops", NewUserRole::Administrator).await;
        assert_eq!(app.get("/api/v1/settings", &token).await.status, StatusCode::OK);
        assert_eq!(app.get("/api/v1/settings", &token).await.status, StatusCode::OK, "answered from memory now");
        let users = read(app, "/api/v1/users").await;
        let ops = users["items"].as_array().expect("items").iter().find(|u| u["login"] == "ops").cloned().expect("ops");
        let changed = app
            .send(Method::PATCH, &format!("/api/v1/users/{}", ops["id"]), Some(&app.admin),
                  Some(json!({"role": "reseller", "reseller_id": reseller})), None)
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(app.get("/api/v1/settings", &token).await.status, StatusCode::FORBIDDEN);
    }
}

on_both_backends! {
    async fn a_token_revoked_by_another_process_stops_working_within_the_cache_lifetime(app) {
        let token = app.user("ops", NewUserRole::Administrator).await;
        assert_eq!(app.get("/api/v1/settings", &token).await.status, StatusCode::OK);
        let other = other_process(app);
        let admin = other.authenticate_token(&app.admin).await.expect("admin");
        let ops = other.authenticate_token(&token).await.expect("ops");
        let tokens = other.list_tokens(&admin, ops.user_id).await.expect("tokens");
        other.revoke_token(&admin, ops.user_id, tokens[0].id, Timestamp::now()).await.expect("revoked");
        assert!(other.authenticate_token(&token).await.is_err(), "the revoking process refuses it at once");
        tokio::time::sleep(classbill_engine::TOKEN_CACHE_TTL).await;
        assert_eq!(app.get("/api/v1/settings", &token).await.status, StatusCode::UNAUTHORIZED);
    }
}
