//! Customer-class rules of the specification (§1–§3, §6) exercised through the HTTP API on both backends:
//! the defaults of §2.0, every validation rule V1–V34, the save warnings, the write semantics of PUT and
//! PATCH, the Default class, deletion, and the guarantee that an invalid write changes nothing.

mod support;

#[path = "class_rules/defaults_and_writes.rs"]
mod defaults_and_writes;
#[path = "class_rules/header_rules.rs"]
mod header_rules;
#[path = "class_rules/invoice_rules.rs"]
mod invoice_rules;
#[path = "class_rules/lifecycle.rs"]
mod lifecycle;
#[path = "class_rules/reference_rules.rs"]
mod reference_rules;
#[path = "class_rules/warnings.rs"]
mod warnings;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

pub const CLASSES: &str = "/api/v1/customer-classes";

pub fn class_path(id: i64) -> String {
    format!("{CLASSES}/{id}")
}

/// The `id` of a created object.
pub fn id_of(object: &Value) -> i64 {
    object["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("an object with an id: {object}"))
}

/// The `revision` of a class document.
pub fn revision_of(class: &Value) -> i64 {
    class["revision"]
        .as_i64()
        .unwrap_or_else(|| panic!("a class with a revision: {class}"))
}

/// The error entries of a problem document.
pub fn errors_of(answer: &Answer) -> Vec<Value> {
    answer.body["errors"].as_array().cloned().unwrap_or_default()
}

/// The message of the error at `field` with `code`, if the answer lists one.
pub fn message_of(answer: &Answer, field: &str, code: &str) -> Option<String> {
    errors_of(answer)
        .into_iter()
        .find(|e| e["field"] == json!(field) && e["code"] == json!(code))
        .and_then(|e| e["message"].as_str().map(str::to_owned))
}

/// Asserts a 422 problem document that lists `field`/`code` (with exactly `message` when given).
pub fn assert_violation(answer: &Answer, field: &str, code: &str, message: Option<&str>) {
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "expected 422 for {field}/{code}: {}",
        answer.text
    );
    let content_type = answer
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type}"
    );
    let Some(found) = message_of(answer, field, code) else {
        panic!("no error {field}/{code} in {}", answer.text);
    };
    if let Some(message) = message {
        assert_eq!(found, message, "message of {field}/{code}");
    }
}

/// Like [`assert_violation`], and that error is the only one listed.
pub fn assert_only_violation(answer: &Answer, field: &str, code: &str, message: Option<&str>) {
    assert_violation(answer, field, code, message);
    assert_eq!(
        answer.error_codes(),
        vec![(field.to_owned(), code.to_owned())],
        "exactly one violation expected: {}",
        answer.text
    );
}

/// Asserts a 2xx answer without any error.
pub fn assert_accepted(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
}

/// `POST /customer-classes` as `token`.
pub async fn create(app: &TestApp, token: &str, body: Value) -> Answer {
    app.post(CLASSES, token, body).await
}

/// Reads a class as `token`; panics unless 200.
pub async fn read(app: &TestApp, token: &str, id: i64) -> Value {
    let answer = app.get(&class_path(id), token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

/// `PATCH` against the class's current revision.
pub async fn patch_current(app: &TestApp, token: &str, id: i64, body: Value) -> Answer {
    let revision = revision_of(&read(app, token, id).await);
    app.patch(&class_path(id), token, body, revision).await
}

/// `PUT` against the class's current revision.
pub async fn put_current(app: &TestApp, token: &str, id: i64, body: Value) -> Answer {
    let revision = revision_of(&read(app, token, id).await);
    app.put(&class_path(id), token, body, revision).await
}

/// A `PATCH` with an explicit content type.
pub async fn patch_as(app: &TestApp, id: i64, content_type: &str, body: &Value, revision: i64) -> Answer {
    let response = app
        .raw(Method::PATCH, &class_path(id))
        .bearer_auth(&app.admin)
        .header(CONTENT_TYPE, content_type)
        .header("If-Match", format!("\"{revision}\""))
        .body(body.to_string())
        .send()
        .await
        .expect("request sent");
    TestApp::read(response).await
}

/// Creates a top-level reseller through the API, as the administrator, in `class_id` (its Default when None).
pub async fn reseller_in(app: &TestApp, name: &str, currency: &str, class_id: Option<i64>) -> Value {
    let mut body = json!({"name": name, "currency": currency});
    if let Some(class_id) = class_id {
        body["class_id"] = json!(class_id);
    }
    let answer = app.post("/api/v1/resellers", &app.admin, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "reseller creation: {}", answer.text);
    answer.body
}

/// Creates an object of a catalog collection (`/api/v1/custom-taxes`, …) as `token`; panics unless 201.
pub async fn catalog_object(app: &TestApp, token: &str, collection: &str, body: Value) -> i64 {
    let answer = app.post(collection, token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{collection}: {}", answer.text);
    id_of(&answer.body)
}

/// The id of the administrator's Default class, found through the list.
pub async fn administrator_default(app: &TestApp) -> i64 {
    let list = app
        .get(&format!("{CLASSES}?managed_by=administrator&name=default"), &app.admin)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let defaults: Vec<&Value> = list.body["items"]
        .as_array()
        .map(|items| items.iter().filter(|c| c["is_default"] == json!(true)).collect())
        .unwrap_or_default();
    assert_eq!(defaults.len(), 1, "one administrator Default: {}", list.text);
    id_of(defaults[0])
}

/// Every class event with its default channels (§2.8).
pub fn default_events() -> Value {
    let mut events = serde_json::Map::new();
    for key in [
        "invoice_due_soon",
        "invoice_overdue",
        "late_fee_applied",
        "limitation_upcoming",
        "service_limited",
        "suspension_upcoming",
        "service_suspended",
        "service_restored",
        "termination_upcoming",
        "customer_terminated",
        "auto_charge_failed",
    ] {
        events.insert(key.to_owned(), json!({"email": true, "sms": false, "webhook": false}));
    }
    events.insert(
        "payment_received".to_owned(),
        json!({"email": false, "sms": false, "webhook": false}),
    );
    for key in [
        "invoice_issued",
        "oot_invoice_issued",
        "invoice_resent",
        "statistics_ready",
    ] {
        events.insert(key.to_owned(), json!({"email": null, "sms": false, "webhook": false}));
    }
    Value::Object(events)
}

/// The collection ladder at its defaults.
pub fn default_collection() -> Value {
    json!({
        "resend_after_due_days": [], "late_fee": null, "limit_after_days": null, "limit_notice_days": [],
        "suspend_after_days": null, "suspend_notice_days": [], "reactivation_fee": null,
        "terminate_after_days": null, "terminate_notice_days": []
    })
}

/// The editable document of §2.0 with every default, for a class named `name` of the administrator.
pub fn default_document(name: &str) -> Value {
    json!({
        "name": name,
        "managed_by": {"type": "administrator"},
        "business_model": "universal",
        "currency": null,
        "description": "",
        "notification_sender": {"name": null, "address": null},
        "general_info": {
            "archive_xdrs": true, "statistics_email": "none", "billed_externally": false,
            "reset_balance_each_period": false, "hide_reset_xdr": false, "rounding_precision": 2,
            "rounding_method": "away_from_zero",
            "period_closure": {"mode": "after_delay", "extra_delay_hours": 0}
        },
        "regular_invoices": {
            "enabled": false, "template_id": null, "pdf_generation": "end_of_period",
            "email_delivery": "never", "review_hold_days": null, "payment_terms": {"type": "due_upon_receipt"},
            "due_reminder_days": [], "auto_charge": "off", "auto_charge_retry_days": [],
            "collection_threshold": null, "restore_on_partial_within_threshold": false,
            "collection": default_collection()
        },
        "out_of_turn_invoices": {
            "enabled": false, "template_id": null, "email_delivery": "never",
            "separate_recurring_fee_invoice": false, "payment_terms": {"type": "due_upon_receipt"},
            "due_reminder_days": [], "auto_charge": "off", "auto_charge_retry_days": [],
            "collection_threshold": null, "restore_on_partial_within_threshold": false,
            "collection": default_collection()
        },
        "taxation": {
            "method": "none", "tax_timing": "end_of_period", "fixed_vat": null, "custom_tax_ids": [],
            "generic_vat": null, "external": null
        },
        "measured_services": {"metrics": []},
        "notifications": {"notification_set_id": null, "events": default_events()},
        "custom_fields": {"enabled_field_ids": []}
    })
}

/// The editable part of a class answer: without the read-only header and `warnings`.
pub fn editable_part(class: &Value) -> Value {
    let mut document = class.clone();
    if let Some(map) = document.as_object_mut() {
        for key in [
            "id",
            "revision",
            "is_default",
            "member_count",
            "created_at",
            "updated_at",
            "warnings",
        ] {
            map.remove(key);
        }
    }
    document
}

/// The warnings of a write answer as `(field, code)` pairs.
pub fn warning_codes(answer: &Answer) -> Vec<(String, String)> {
    answer.body["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("a warnings array: {}", answer.text))
        .iter()
        .map(|w| {
            (
                w["field"].as_str().unwrap_or_default().to_owned(),
                w["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
