//! Customers and resellers through `/customers` and `/resellers` (customer-classes §4, §1.4, §5.9 rule 2):
//! defaults, currency inheritance, immutable fields, lists with filters and pagination, overrides, scoping,
//! block and unblock.

mod support;

use classbill_engine::NewUserRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

const CLASSES: &str = "/api/v1/customer-classes";
const CUSTOMERS: &str = "/api/v1/customers";
const RESELLERS: &str = "/api/v1/resellers";

fn id_of(answer: &Answer) -> i64 {
    answer.body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("an id in {}", answer.text))
}

fn ids(answer: &Answer) -> Vec<i64> {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect()
}

async fn class(app: &TestApp, token: &str, body: Value) -> i64 {
    app.class(token, body).await["id"].as_i64().expect("class id")
}

async fn created(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let answer = app.post(path, token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Answer {
    app.send(Method::PATCH, path, Some(token), Some(body), None).await
}

async fn customer_count(app: &TestApp) -> usize {
    ids(&app.get(&format!("{CUSTOMERS}?limit=1000"), &app.admin).await).len()
}

async fn administrator_default(app: &TestApp) -> i64 {
    let list = app
        .get(&format!("{CLASSES}?managed_by=administrator&name=default"), &app.admin)
        .await;
    list.body["items"][0]["id"]
        .as_i64()
        .expect("the administrator's Default")
}

on_both_backends! {
    async fn a_customer_takes_the_defaults_of_section_4(app) {
        let default = administrator_default(app).await;
        let body = created(app, CUSTOMERS, &app.admin,
            json!({"name": "  Anna Berger ", "currency": "EUR", "as_of": "2025-03-01T10:00:00+01:00"}))
            .await;
        assert_eq!(body["name"], json!("Anna Berger"));
        assert_eq!(body["class_id"], json!(default));
        assert_eq!(body["reseller_id"], Value::Null);
        assert_eq!(body["billing_period"], json!("monthly"));
        assert_eq!(body["time_zone"], json!("UTC"));
        assert_eq!(body["activated_at"], json!("2025-03-01T09:00:00Z"));
        assert_eq!(body["prepaid"], json!(false));
        assert_eq!(body["status"], json!("open"));
        assert_eq!(body["tax_registered"], json!(false));
        assert_eq!(body["tax_exempt"], json!(false));
        assert_eq!(body["custom_fields"], json!({}));
        for key in ["taxation", "regular_invoice_template_id", "oot_invoice_template_id", "invoice_email_delivery",
            "oot_invoice_email_delivery", "statistics_email", "measured_services"]
        {
            assert_eq!(body[key], Value::Null, "{key}");
        }
        let shown = app.get(&format!("{CUSTOMERS}/{}", body["id"]), &app.admin).await;
        assert_eq!(shown.body, body);

        // A reseller's customers take the reseller's time zone.
        let reseller = created(app, RESELLERS, &app.admin,
            json!({"name": "Alpha", "currency": "EUR", "time_zone": "Europe/Vienna"}))
            .await;
        let user = app.user("alpha-user", NewUserRole::Reseller(reseller["id"].as_i64().unwrap())).await;
        let body = created(app, CUSTOMERS, &user, json!({"name": "Local", "currency": "EUR", "prepaid": true})).await;
        assert_eq!(body["time_zone"], json!("Europe/Vienna"));
        assert_eq!(body["reseller_id"], reseller["id"]);
        assert_eq!(body["prepaid"], json!(true));
        assert_eq!(body["class_id"], reseller["default_class_id"]);
    }
}

on_both_backends! {
    async fn section_1_4_rule_2_currency_comes_from_the_class_or_is_required(app) {
        let eur = class(app, &app.admin, json!({"name": "Euro", "currency": "EUR"})).await;
        let body = created(app, CUSTOMERS, &app.admin, json!({"name": "Inherits", "class_id": eur})).await;
        assert_eq!(body["currency"], json!("EUR"));
        let answer = app.post(CUSTOMERS, &app.admin, json!({"name": "No currency"})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("currency", "required"), "{}", answer.text);
        let answer = app.post(CUSTOMERS, &app.admin, json!({"name": "Other", "currency": "USD", "class_id": eur})).await;
        assert!(answer.has_error("class_id", "currency_mismatch"), "{}", answer.text);
        let answer = app.post(RESELLERS, &app.admin, json!({"name": "Reseller without currency"})).await;
        assert!(answer.has_error("currency", "required"), "{}", answer.text);
        assert_eq!(customer_count(app).await, 1);
    }
}

on_both_backends! {
    async fn bad_fields_are_422_naming_the_field_and_write_nothing(app) {
        for (body, field, code) in [
            (json!({"name": "X", "currency": "EUR", "time_zone": "Mars/Olympus"}), "time_zone", "unknown_time_zone"),
            (json!({"name": "X", "currency": "XYZ"}), "currency", "unknown_currency"),
            (json!({"name": "X", "currency": "EUR", "billing_period": "yearly"}), "billing_period", "invalid"),
            (json!({"name": "", "currency": "EUR"}), "name", "invalid_length"),
            (json!({"name": "X", "currency": "EUR", "tax_id": "9".repeat(65)}), "tax_id", "out_of_range"),
            (json!({"name": "X", "currency": "EUR", "tax_exemption_reason": "r".repeat(201)}), "tax_exemption_reason",
                "out_of_range"),
            (json!({"name": "X", "currency": "EUR", "email": "not-an-address"}), "email", "invalid"),
            (json!({"name": "X", "currency": "EUR", "country": "Germany"}), "country", "invalid"),
            (json!({"name": "X", "currency": "EUR", "parent_reseller_id": 1}), "parent_reseller_id", "unknown_field"),
            (json!({"name": "X", "currency": "EUR", "reseller_id": 999_999}), "reseller_id", "not_found"),
            (json!({"name": "X", "currency": "EUR", "prepaid": "yes"}), "prepaid", "invalid_type"),
            (json!({"name": "X", "currency": "EUR", "custom_fields": {"nope": "1"}}), "custom_fields.nope",
                "not_enabled"),
            (json!({"name": "X", "currency": "EUR", "statistics_email": "weekly"}), "statistics_email",
                "invalid_type"),
            (json!({"name": "X", "currency": "EUR", "taxation": {"method": "fixed_vat"}}),
                "taxation.fixed_vat.rate_percent", "required"),
            (json!({"name": "X", "currency": "EUR", "regular_invoice_template_id": 999_999}),
                "regular_invoice_template_id", "not_visible"),
            (json!({"name": "X", "currency": "EUR", "measured_services": [{"metric": "pbx_extensions", "free_items": -1}]}),
                "measured_services[0].free_items", "out_of_range"),
        ] {
            let answer = app.post(CUSTOMERS, &app.admin, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", answer.text);
            assert!(answer.has_error(field, code), "{body}: {}", answer.text);
        }
        assert_eq!(customer_count(app).await, 0);

        let id = id_of(&app.post(CUSTOMERS, &app.admin, json!({"name": "Kept", "currency": "EUR"})).await);
        let path = format!("{CUSTOMERS}/{id}");
        let before = app.get(&path, &app.admin).await.body;
        for (body, field, code) in [
            (json!({"time_zone": "Nowhere/Special", "name": "Changed"}), "time_zone", "unknown_time_zone"),
            (json!({"currency": "USD"}), "currency", "immutable"),
            (json!({"custom_fields": {"nope": 5}}), "custom_fields.nope", "not_enabled"),
            (json!({"status": "closed"}), "status", "read_only"),
        ] {
            let answer = patch(app, &path, &app.admin, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", answer.text);
            assert!(answer.has_error(field, code), "{body}: {}", answer.text);
        }
        assert_eq!(app.get(&path, &app.admin).await.body, before);
    }
}

on_both_backends! {
    async fn reseller_id_and_parent_reseller_id_are_immutable(app) {
        let r = id_of(&app.post(RESELLERS, &app.admin, json!({"name": "R", "currency": "EUR"})).await);
        let q = id_of(&app.post(RESELLERS, &app.admin, json!({"name": "Q", "currency": "EUR"})).await);
        let sub = id_of(&app.post(RESELLERS, &app.admin, json!({"name": "Sub", "currency": "EUR", "parent_reseller_id": r})).await);
        let c = id_of(&app.post(CUSTOMERS, &app.admin, json!({"name": "C", "currency": "EUR", "reseller_id": r})).await);
        for (path, body, field) in [
            (format!("{CUSTOMERS}/{c}"), json!({"reseller_id": q}), "reseller_id"),
            (format!("{CUSTOMERS}/{c}"), json!({"reseller_id": null}), "reseller_id"),
            (format!("{RESELLERS}/{sub}"), json!({"parent_reseller_id": q}), "parent_reseller_id"),
            (format!("{RESELLERS}/{q}"), json!({"parent_reseller_id": r}), "parent_reseller_id"),
        ] {
            let answer = patch(app, &path, &app.admin, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}: {}", answer.text);
            assert_eq!(answer.body["errors"][0]["field"], json!(field));
            assert_eq!(answer.body["errors"][0]["code"], json!("immutable"));
        }
        // Repeating the stored value is no change.
        let answer = patch(app, &format!("{CUSTOMERS}/{c}"), &app.admin, json!({"reseller_id": r, "name": "C2"})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["name"], json!("C2"));
        assert_eq!(answer.body["reseller_id"], json!(r));
    }
}

on_both_backends! {
    async fn patch_is_a_merge_patch_over_the_party(app) {
        let archive_off = class(app, &app.admin,
            json!({"name": "No stats", "currency": "EUR", "general_info": {"archive_xdrs": false}})).await;
        let id = id_of(&app.post(CUSTOMERS, &app.admin,
            json!({"name": "Merge", "currency": "EUR", "email": "a@example.com", "phone": "+43 1 234",
                   "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "20"}},
                   "measured_services": [{"metric": "pbx_extensions", "free_items": 20}]}))
            .await);
        let path = format!("{CUSTOMERS}/{id}");
        let answer = patch(app, &path, &app.admin,
            json!({"phone": null, "taxation": {"fixed_vat": {"inclusive": true}}, "statistics_email": "summary",
                   "invoice_email_delivery": "after_review"}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["email"], json!("a@example.com"));
        assert_eq!(answer.body["phone"], Value::Null);
        assert_eq!(answer.body["taxation"]["method"], json!("fixed_vat"));
        assert_eq!(answer.body["taxation"]["fixed_vat"], json!({"rate_percent": "20", "inclusive": true}));
        assert_eq!(answer.body["statistics_email"], json!("summary"));
        assert_eq!(answer.body["invoice_email_delivery"], json!("after_review"));
        assert_eq!(answer.body["measured_services"], json!([{"metric": "pbx_extensions", "free_items": 20}]));

        // statistics_email needs a class that archives xDRs.
        let answer = patch(app, &path, &app.admin, json!({"class_id": archive_off, "statistics_email": "full"})).await;
        assert!(answer.has_error("statistics_email", "requires_statistics"), "{}", answer.text);
        // Back to inherit with null.
        let answer = patch(app, &path, &app.admin, json!({"taxation": null, "statistics_email": null})).await;
        assert_eq!(answer.body["taxation"], Value::Null);
        assert_eq!(answer.body["statistics_email"], Value::Null);

        // The stored overrides have exactly the keys of §4, as effective settings read them.
        let mut tx = app.engine.store.read().await.expect("read");
        let row = classbill_store::parties::get(&mut tx, id).await.expect("read").expect("stored");
        let stored: Value = serde_json::from_str(&row.overrides).expect("json");
        let mut keys: Vec<&String> = stored.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["invoice_email_delivery", "measured_services", "oot_invoice_email_delivery",
            "oot_invoice_template_id", "regular_invoice_template_id", "statistics_email", "taxation"]);
    }
}

on_both_backends! {
    async fn customer_lists_filter_and_page(app) {
        let eur = class(app, &app.admin, json!({"name": "Euro", "currency": "EUR"})).await;
        let r = id_of(&app.post(RESELLERS, &app.admin, json!({"name": "R", "currency": "EUR"})).await);
        let user = app.user("r-user", NewUserRole::Reseller(r)).await;
        let mut made = Vec::new();
        for (name, currency, class_id) in [("Ärzte Hamburg", "EUR", Some(eur)), ("Zahnarzt Wien", "EUR", None),
            ("Dental USA", "USD", None)]
        {
            let body = created(app, CUSTOMERS, &app.admin,
                json!({"name": name, "currency": currency, "class_id": class_id})).await;
            made.push(body["id"].as_i64().unwrap());
        }
        let own = created(app, CUSTOMERS, &user, json!({"name": "Reseller's own", "currency": "EUR"})).await;
        let own = own["id"].as_i64().unwrap();

        let all = ids(&app.get(&format!("{CUSTOMERS}?limit=1000"), &app.admin).await);
        assert_eq!(all, vec![made[0], made[1], made[2], own]);
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?class_id={eur}"), &app.admin).await), vec![made[0]]);
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?currency=usd"), &app.admin).await), vec![made[2]]);
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?name=ARZT"), &app.admin).await), vec![made[1]]);
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?name=ärzte"), &app.admin).await), vec![made[0]]);
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?reseller_id={r}"), &app.admin).await), vec![own]);
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?reseller_id=none"), &app.admin).await), made);
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?status=open&limit=2"), &app.admin).await).len(), 2);
        assert!(ids(&app.get(&format!("{CUSTOMERS}?status=blocked"), &app.admin).await).is_empty());
        let answer = app.get(&format!("{CUSTOMERS}?status=sleeping"), &app.admin).await;
        assert!(answer.has_error("status", "invalid"), "{}", answer.text);
        let answer = app.get(&format!("{CUSTOMERS}?limit=1001"), &app.admin).await;
        assert!(answer.has_error("limit", "out_of_range"), "{}", answer.text);

        // Keyset pages walk the whole list once.
        let mut seen = Vec::new();
        let mut path = format!("{CUSTOMERS}?limit=3");
        loop {
            let page = app.get(&path, &app.admin).await;
            seen.extend(ids(&page));
            match page.body["next_cursor"].as_str() {
                Some(cursor) => path = format!("{CUSTOMERS}?limit=3&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, all);

        // A reseller user sees its own customers only; everything else is 404.
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?limit=1000"), &user).await), vec![own]);
        assert!(ids(&app.get(&format!("{CUSTOMERS}?reseller_id=none"), &user).await).is_empty());
        for id in &made {
            let answer = app.get(&format!("{CUSTOMERS}/{id}"), &user).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND);
            let answer = patch(app, &format!("{CUSTOMERS}/{id}"), &user, json!({"name": "Taken"})).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND);
        }
        // A customer id is not a reseller and the other way round.
        assert_eq!(app.get(&format!("{RESELLERS}/{own}"), &app.admin).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("{CUSTOMERS}/{r}"), &app.admin).await.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn resellers_filter_by_parent_and_reseller_users_create_below_themselves(app) {
        let r = id_of(&app.post(RESELLERS, &app.admin, json!({"name": "Top R", "currency": "EUR"})).await);
        let q = id_of(&app.post(RESELLERS, &app.admin, json!({"name": "Top Q", "currency": "USD"})).await);
        let user = app.user("r-user", NewUserRole::Reseller(r)).await;
        let sub = created(app, RESELLERS, &user, json!({"name": "Sub of R", "currency": "EUR"})).await;
        assert_eq!(sub["parent_reseller_id"], json!(r));
        let answer = app.post(RESELLERS, &user, json!({"name": "Elsewhere", "currency": "EUR", "parent_reseller_id": q})).await;
        assert!(answer.has_error("parent_reseller_id", "forbidden_owner"), "{}", answer.text);
        let answer = app.post(CUSTOMERS, &user, json!({"name": "Elsewhere", "currency": "EUR", "reseller_id": q})).await;
        assert!(answer.has_error("reseller_id", "forbidden_owner"), "{}", answer.text);

        assert_eq!(ids(&app.get(&format!("{RESELLERS}?parent_reseller_id={r}"), &app.admin).await), vec![id_of_value(&sub)]);
        assert_eq!(ids(&app.get(&format!("{RESELLERS}?parent_reseller_id=none"), &app.admin).await), vec![r, q]);
        assert_eq!(ids(&app.get(&format!("{RESELLERS}?currency=USD"), &app.admin).await), vec![q]);
        assert_eq!(ids(&app.get(&format!("{RESELLERS}?name=of r"), &app.admin).await), vec![id_of_value(&sub)]);
        let answer = patch(app, &format!("{RESELLERS}/{}", id_of_value(&sub)), &user,
            json!({"name": "Renamed", "tax_exempt": true, "tax_exemption_reason": "export"})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["tax_exempt"], json!(true));
        assert!(answer.body["default_class_id"].is_i64());
    }
}

fn id_of_value(body: &Value) -> i64 {
    body["id"].as_i64().expect("id")
}

on_both_backends! {
    async fn block_and_unblock_set_the_status(app) {
        let r = id_of(&app.post(RESELLERS, &app.admin, json!({"name": "R", "currency": "EUR"})).await);
        let user = app.user("r-user", NewUserRole::Reseller(r)).await;
        let c = created(app, CUSTOMERS, &user, json!({"name": "C", "currency": "EUR"})).await;
        let c = id_of_value(&c);
        let path = format!("{CUSTOMERS}/{c}");

        let answer = app.post(&format!("{path}/block"), &user, json!({"as_of": "2025-04-02T08:00:00Z"})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["status"], json!("blocked"));
        assert_eq!(answer.body["blocked"], json!(true));
        assert_eq!(answer.body["updated_at"], json!("2025-04-02T08:00:00Z"));
        assert_eq!(ids(&app.get(&format!("{CUSTOMERS}?status=blocked"), &user).await), vec![c]);
        // Blocking twice is no change.
        let again = app.send(Method::POST, &format!("{path}/block"), Some(&user), None, None).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.body["status"], json!("blocked"));

        // Only users of the owner block; the administrator is not the owner of reseller R's customer.
        let answer = app.post(&format!("{path}/unblock"), &app.admin, json!({})).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
        let answer = app.send(Method::POST, &format!("{path}/unblock"), Some(&user), None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["status"], json!("open"));
        assert_eq!(answer.body["blocked"], json!(false));

        // A closed party stays closed while blocked and unblocked.
        let mut tx = app.engine.store.write().await.expect("write");
        tx.execute("UPDATE parties SET status = 'closed' WHERE id = $1", classbill_store::args![c]).await.expect("closed");
        tx.commit().await.expect("commit");
        let answer = app.post(&format!("{path}/block"), &user, json!({})).await;
        assert_eq!(answer.body["status"], json!("closed"));
        assert_eq!(answer.body["blocked"], json!(true));

        // Resellers are blocked the same way, by their owner's users.
        let answer = app.post(&format!("{RESELLERS}/{r}/block"), &app.admin, json!({})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["status"], json!("blocked"));
        let answer = app.post(&format!("{RESELLERS}/{r}/block"), &user, json!({})).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "a reseller does not see itself: {}", answer.text);
        let answer = app.post(&format!("{RESELLERS}/{r}/unblock"), &app.admin, json!({"as_of": "yesterday"})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        let answer = app.post(&format!("{RESELLERS}/{r}/unblock"), &app.admin, json!({})).await;
        assert_eq!(answer.body["status"], json!("open"));

        // Every change is in the audit log.
        let log = app.get("/api/v1/audit-log?limit=1000", &app.admin).await;
        let actions: Vec<(String, String)> = log.body["items"].as_array().unwrap().iter()
            .filter(|e| e["object_id"] == json!(c.to_string()) && e["object_type"] == json!("customer"))
            .map(|e| (e["object_type"].as_str().unwrap().to_owned(), e["action"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(actions, [("customer", "block"), ("customer", "unblock"), ("customer", "block"), ("customer", "create")]
            .map(|(t, a)| (t.to_owned(), a.to_owned())));
    }
}
