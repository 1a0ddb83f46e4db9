//! Custom-field values on customers and resellers (customer-classes §5.14): checked per type against the
//! definitions enabled on the party's class, defaults, mandatory fields, hidden and masked values.

mod support;

use classbill_engine::NewUserRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

const CUSTOMERS: &str = "/api/v1/customers";

fn id_of(answer: &Answer) -> i64 {
    answer.body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("an id in {}", answer.text))
}

async fn field(app: &TestApp, body: Value) -> i64 {
    let answer = app.post("/api/v1/custom-fields", &app.admin, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    id_of(&answer)
}

async fn patch(app: &TestApp, token: &str, id: i64, body: Value) -> Answer {
    app.send(
        Method::PATCH,
        &format!("{CUSTOMERS}/{id}"),
        Some(token),
        Some(body),
        None,
    )
    .await
}

/// A class "Retail AT" with one field of each type enabled; answers the class id.
async fn retail_at(app: &TestApp) -> i64 {
    let mut enabled = Vec::new();
    for body in [
        json!({"key": "contract_no", "label": "Contract", "type": "text",
               "properties": {"max_length": 8, "pattern": "[A-Z]{2}[0-9]+"}}),
        json!({"key": "seats", "label": "Seats", "type": "number", "properties": {"min": "1", "max": "500", "decimals": 1}}),
        json!({"key": "signed_on", "label": "Signed", "type": "date", "properties": {"min": "2020-01-01"}}),
        json!({"key": "seen_at", "label": "Seen", "type": "datetime"}),
        json!({"key": "tier", "label": "Tier", "type": "list", "properties": {"options": ["Gold", "Silver"]},
               "default": "Silver"}),
    ] {
        enabled.push(field(app, body).await);
    }
    app.class(
        &app.admin,
        json!({"name": "Retail AT", "currency": "EUR",
        "custom_fields": {"enabled_field_ids": enabled}}),
    )
    .await["id"]
        .as_i64()
        .expect("class id")
}

async fn customer_count(app: &TestApp) -> usize {
    app.get(&format!("{CUSTOMERS}?limit=1000"), &app.admin).await.body["items"]
        .as_array()
        .expect("items")
        .len()
}

on_both_backends! {
    async fn values_are_checked_by_type_and_properties(app) {
        let class = retail_at(app).await;
        for (key, value, code) in [
            ("contract_no", json!("ab12"), "invalid"),
            ("contract_no", json!("AB123456789"), "out_of_range"),
            ("contract_no", json!(12), "invalid_type"),
            ("seats", json!("12.25"), "out_of_range"),
            ("seats", json!("0"), "out_of_range"),
            ("seats", json!("many"), "invalid"),
            ("seats", json!(3), "invalid_type"),
            ("signed_on", json!("2019-12-31"), "out_of_range"),
            ("signed_on", json!("2021-02-30"), "invalid"),
            ("seen_at", json!("2025-01-01 10:00"), "invalid"),
            ("tier", json!("gold"), "invalid"),
            ("tier", json!(["Gold"]), "invalid_type"),
        ] {
            let answer = app
                .post(CUSTOMERS, &app.admin,
                    json!({"name": "Typed", "class_id": class, "custom_fields": {key: value}}))
                .await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{key} {value}: {}", answer.text);
            let field = format!("custom_fields.{key}");
            assert!(answer.has_error(&field, code), "{key} {value}: {}", answer.text);
        }
        assert_eq!(customer_count(app).await, 0, "nothing was written");

        let answer = app
            .post(CUSTOMERS, &app.admin, json!({"name": "Typed", "class_id": class, "custom_fields": {
                "contract_no": "AB12", "seats": "12.5", "signed_on": "2024-02-29",
                "seen_at": "2025-01-01T10:00:00+01:00", "tier": ""}}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        // Instants are stored in UTC; an empty value takes the default.
        assert_eq!(answer.body["custom_fields"], json!({"contract_no": "AB12", "seats": "12.5",
            "signed_on": "2024-02-29", "seen_at": "2025-01-01T09:00:00Z", "tier": "Silver"}));

        // The same checks on update, and null removes a value.
        let id = id_of(&answer);
        let answer = patch(app, &app.admin, id, json!({"custom_fields": {"seats": "1000"}})).await;
        assert!(answer.has_error("custom_fields.seats", "out_of_range"), "{}", answer.text);
        let answer = patch(app, &app.admin, id, json!({"custom_fields": {"seats": null, "tier": "Gold"}})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["custom_fields"]["tier"], json!("Gold"));
        assert!(answer.body["custom_fields"].get("seats").is_none(), "{}", answer.text);
    }
}

on_both_backends! {
    async fn a_field_not_enabled_on_the_class_cannot_be_written(app) {
        let class = retail_at(app).await;
        field(app, json!({"key": "vat_note", "label": "VAT note", "type": "text"})).await;
        let answer = app
            .post(CUSTOMERS, &app.admin, json!({"name": "X", "class_id": class, "custom_fields": {"vat_note": "x"}}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert_eq!(
            answer.body["errors"],
            json!([{"field": "custom_fields.vat_note", "code": "not_enabled",
                    "message": "not enabled for class \"Retail AT\""}])
        );
        assert_eq!(customer_count(app).await, 0);
    }
}

on_both_backends! {
    async fn mandatory_fields_need_a_value_unless_they_have_a_default(app) {
        let required = field(app, json!({"key": "contract_no", "label": "Contract", "type": "text", "mandatory": true}))
            .await;
        let defaulted = field(app, json!({"key": "segment", "label": "Segment", "type": "text", "mandatory": true,
            "default": "retail"}))
            .await;
        let class = app.class(&app.admin, json!({"name": "Business EU", "currency": "EUR",
            "custom_fields": {"enabled_field_ids": [required, defaulted]}}))
            .await["id"]
            .as_i64()
            .unwrap();
        let answer = app.post(CUSTOMERS, &app.admin, json!({"name": "Without", "class_id": class})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert_eq!(
            answer.body["errors"],
            json!([{"field": "custom_fields.contract_no", "code": "required",
                    "message": "required by class \"Business EU\""}])
        );
        let answer = app
            .post(CUSTOMERS, &app.admin, json!({"name": "Empty", "class_id": class, "custom_fields": {"contract_no": ""}}))
            .await;
        assert!(answer.has_error("custom_fields.contract_no", "required"), "{}", answer.text);
        assert_eq!(customer_count(app).await, 0);

        let answer = app
            .post(CUSTOMERS, &app.admin, json!({"name": "With", "class_id": class, "custom_fields": {"contract_no": "C-7"}}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.body["custom_fields"], json!({"contract_no": "C-7", "segment": "retail"}));
        // Removing a mandatory value is refused; removing a defaulted one brings the default back.
        let id = id_of(&answer);
        let answer = patch(app, &app.admin, id, json!({"custom_fields": {"contract_no": null}})).await;
        assert!(answer.has_error("custom_fields.contract_no", "required"), "{}", answer.text);
        let answer = patch(app, &app.admin, id, json!({"custom_fields": {"segment": null}})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["custom_fields"]["segment"], json!("retail"));
    }
}

on_both_backends! {
    async fn values_of_fields_the_class_disables_are_hidden_but_kept(app) {
        let note = field(app, json!({"key": "note", "label": "Note", "type": "text"})).await;
        let with_note = app.class(&app.admin, json!({"name": "With note", "currency": "EUR",
            "custom_fields": {"enabled_field_ids": [note]}}))
            .await["id"]
            .as_i64()
            .unwrap();
        let without = app.class(&app.admin, json!({"name": "Without note", "currency": "EUR"})).await["id"]
            .as_i64()
            .unwrap();
        let answer = app
            .post(CUSTOMERS, &app.admin, json!({"name": "N", "class_id": with_note, "custom_fields": {"note": "keep me"}}))
            .await;
        let id = id_of(&answer);
        let answer = patch(app, &app.admin, id, json!({"class_id": without})).await;
        assert_eq!(answer.body["custom_fields"], json!({}), "{}", answer.text);
        let answer = patch(app, &app.admin, id, json!({"class_id": with_note})).await;
        assert_eq!(answer.body["custom_fields"], json!({"note": "keep me"}), "{}", answer.text);
    }
}

on_both_backends! {
    async fn personal_data_is_masked_for_reseller_users_without_the_permission(app) {
        let phone = field(app, json!({"key": "private_phone", "label": "Private phone", "type": "text",
            "personal_data": true}))
            .await;
        let plan = field(app, json!({"key": "plan", "label": "Plan", "type": "text"})).await;
        let reseller = app.post("/api/v1/resellers", &app.admin, json!({"name": "R", "currency": "EUR"})).await;
        let reseller = id_of(&reseller);
        let plain_user = app.user("plain", NewUserRole::Reseller(reseller)).await;
        let trusted_user = app.user("trusted", NewUserRole::Reseller(reseller)).await;
        let mut tx = app.engine.store.write().await.expect("write");
        tx.execute("UPDATE users SET personal_data_access = TRUE WHERE login = $1", classbill_store::args!["trusted"])
            .await
            .expect("granted");
        tx.commit().await.expect("commit");

        let class = app.class(&plain_user, json!({"name": "Private", "custom_fields": {"enabled_field_ids": [phone, plan]}}))
            .await["id"]
            .as_i64()
            .unwrap();
        let answer = app
            .post(CUSTOMERS, &plain_user, json!({"name": "Masked", "currency": "EUR", "class_id": class,
                "custom_fields": {"private_phone": "+43 660 1234567", "plan": "basic"}}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.body["custom_fields"], json!({"private_phone": "***", "plan": "basic"}));
        let id = id_of(&answer);
        let path = format!("{CUSTOMERS}/{id}");
        let shown = app.get(&path, &plain_user).await;
        assert_eq!(shown.body["custom_fields"]["private_phone"], json!("***"));
        let listed = app.get(CUSTOMERS, &plain_user).await;
        assert_eq!(listed.body["items"][0]["custom_fields"]["private_phone"], json!("***"));
        let shown = app.get(&path, &trusted_user).await;
        assert_eq!(shown.body["custom_fields"]["private_phone"], json!("+43 660 1234567"));
        let shown = app.get(&path, &app.admin).await;
        assert_eq!(shown.body["custom_fields"]["private_phone"], json!("+43 660 1234567"));

        // Sending the masked document back changes the other fields and keeps the hidden value.
        let mut document = app.get(&path, &plain_user).await.body;
        document["custom_fields"]["plan"] = json!("premium");
        let answer = patch(app, &plain_user, id, json!({"custom_fields": document["custom_fields"].clone()})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["custom_fields"], json!({"private_phone": "***", "plan": "premium"}));
        let shown = app.get(&path, &trusted_user).await;
        assert_eq!(shown.body["custom_fields"], json!({"private_phone": "+43 660 1234567", "plan": "premium"}));
        // Users with the permission write the value itself.
        let answer = patch(app, &trusted_user, id, json!({"custom_fields": {"private_phone": "+43 1 5550000"}})).await;
        assert_eq!(answer.body["custom_fields"]["private_phone"], json!("+43 1 5550000"), "{}", answer.text);
    }
}
