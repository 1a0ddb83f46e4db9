//! The objects classes reference (invoice templates, notification sets, custom taxes, custom fields, VAT
//! rates): their life cycle, the "in use" protection, who sees and changes them, and the audit log.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

const TEMPLATES: &str = "/api/v1/invoice-templates";
const SETS: &str = "/api/v1/notification-sets";
const TAXES: &str = "/api/v1/custom-taxes";
const FIELDS: &str = "/api/v1/custom-fields";
const VAT: &str = "/api/v1/vat-rates";
const CLASSES: &str = "/api/v1/customer-classes";

const SOURCE: &str = "#set page(paper: \"a4\")\n= Invoice {{ invoice_number }}\n";

/// A catalog PATCH is a plain merge patch; it takes no `If-Match`.
async fn merge(app: &TestApp, path: &str, token: &str, body: Value) -> Answer {
    app.send(Method::PATCH, path, Some(token), Some(body), None).await
}

async fn created(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let answer = app.post(path, token, body).await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{} POST {path}: {}",
        app.backend,
        answer.text
    );
    answer.body
}

async fn created_id(app: &TestApp, path: &str, token: &str, body: Value) -> i64 {
    created(app, path, token, body).await["id"].as_i64().expect("an id")
}

/// Every item of a catalog list, walking all pages.
async fn all(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = format!("{path}?limit=1000");
    loop {
        let page = app.get(&url, token).await;
        assert_eq!(page.status, StatusCode::OK, "GET {url}: {}", page.text);
        items.extend(page.body["items"].as_array().expect("items").iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => url = format!("{path}?limit=1000&cursor={cursor}"),
            None => return items,
        }
    }
}

fn ids_of(items: &[Value]) -> Vec<i64> {
    items.iter().map(|item| item["id"].as_i64().expect("an id")).collect()
}

fn assert_in_use(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
    assert_eq!(answer.body["code"], json!("in_use"), "{}", answer.text);
    assert_eq!(
        answer.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
}

/// The class is saved with `patch` applied, from whatever revision it is at.
async fn edit_class(app: &TestApp, id: i64, patch: Value) {
    let path = format!("{CLASSES}/{id}");
    let revision = app.get(&path, &app.admin).await.body["revision"]
        .as_i64()
        .expect("revision");
    let answer = app.patch(&path, &app.admin, patch, revision).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

on_both_backends! {
    async fn the_built_in_standard_template_and_standard_notification_set_exist_and_are_shared(app) {
        let templates = all(app, TEMPLATES, &app.admin).await;
        let standard: Vec<&Value> = templates.iter().filter(|t| t["name"] == json!("Standard")).collect();
        assert_eq!(standard.len(), 1, "{} {templates:?}", app.backend);
        assert_eq!(standard[0]["shared"], json!(true));
        assert_eq!(standard[0]["owner"], json!({"type": "administrator"}));
        assert!(standard[0]["source"].as_str().is_some_and(|s| !s.trim().is_empty()));

        let sets = all(app, SETS, &app.admin).await;
        let set: Vec<&Value> = sets.iter().filter(|s| s["name"] == json!("standard")).collect();
        assert_eq!(set.len(), 1, "{sets:?}");
        assert_eq!(set[0]["shared"], json!(true));
        assert_eq!(set[0]["owner"], json!({"type": "administrator"}));
        let events = set[0]["events"].as_object().expect("events per key");
        let overdue = &events["invoice_overdue"];
        for part in ["subject", "text", "html", "sms"] {
            assert!(overdue[part].is_string(), "{part} of {overdue}");
        }

        // Neither can be removed, renamed or unshared: classes and new parties rely on them.
        let (_r, r_user) = app.reseller_with_user("Alpha").await;
        for (path, id, name) in [
            (TEMPLATES, standard[0]["id"].as_i64().unwrap(), "Standard"),
            (SETS, set[0]["id"].as_i64().unwrap(), "standard"),
        ] {
            let item = format!("{path}/{id}");
            let deleted = app.delete(&item, &app.admin).await;
            assert_eq!(deleted.status, StatusCode::CONFLICT, "{item}: {}", deleted.text);
            let renamed = merge(app, &item, &app.admin, json!({"name": "Something else"})).await;
            assert_eq!(renamed.status, StatusCode::UNPROCESSABLE_ENTITY, "{item}: {}", renamed.text);
            let unshared = merge(app, &item, &app.admin, json!({"shared": false})).await;
            assert_eq!(unshared.status, StatusCode::UNPROCESSABLE_ENTITY, "{item}: {}", unshared.text);
            let still = app.get(&item, &r_user).await;
            assert_eq!(still.status, StatusCode::OK, "{item}: {}", still.text);
            assert_eq!(still.body["name"], json!(name));
            assert_eq!(still.body["shared"], json!(true));
        }
        assert!(app.standard_template().await > 0);
    }
}

on_both_backends! {
    async fn invoice_templates_are_created_listed_read_changed_and_deleted(app) {
        let template = created(app, TEMPLATES, &app.admin, json!({"name": "Compact", "source": SOURCE})).await;
        let id = template["id"].as_i64().unwrap();
        assert_eq!(template["name"], json!("Compact"), "{}", app.backend);
        assert_eq!(template["source"], json!(SOURCE));
        assert_eq!(template["owner"], json!({"type": "administrator"}));
        assert_eq!(template["shared"], json!(false));

        let path = format!("{TEMPLATES}/{id}");
        let read = app.get(&path, &app.admin).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        assert_eq!(read.body, template);
        assert!(ids_of(&all(app, TEMPLATES, &app.admin).await).contains(&id));

        let changed = merge(app, &path, &app.admin, json!({"name": "Compact 2", "shared": true})).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(changed.body["name"], json!("Compact 2"));
        assert_eq!(changed.body["source"], json!(SOURCE));
        assert_eq!(changed.body["shared"], json!(true));
        assert_eq!(app.get(&path, &app.admin).await.body["name"], json!("Compact 2"));

        // Names are unique per owner, case-insensitively.
        let twin = app.post(TEMPLATES, &app.admin, json!({"name": "compact 2", "source": SOURCE})).await;
        assert_eq!(twin.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", twin.text);
        assert!(twin.has_error("name", "name_taken"), "{}", twin.text);
        let empty = app.post(TEMPLATES, &app.admin, json!({"name": "Empty", "source": "  "})).await;
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", empty.text);
        assert!(empty.error_codes().iter().any(|(field, _)| field == "source"), "{}", empty.text);

        // Paging one at a time walks the same list in id order.
        let everything = ids_of(&all(app, TEMPLATES, &app.admin).await);
        let mut walked = Vec::new();
        let mut url = format!("{TEMPLATES}?limit=1");
        loop {
            let page = app.get(&url, &app.admin).await;
            walked.extend(ids_of(page.body["items"].as_array().expect("items")));
            assert!(walked.len() <= everything.len(), "{walked:?}");
            match page.body["next_cursor"].as_str() {
                Some(cursor) => url = format!("{TEMPLATES}?limit=1&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(walked, everything);
        assert!(everything.windows(2).all(|w| w[0] < w[1]), "{everything:?}");

        let deleted = app.delete(&path, &app.admin).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
        assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::NOT_FOUND);
        assert!(!ids_of(&all(app, TEMPLATES, &app.admin).await).contains(&id));
        assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn notification_sets_are_created_listed_read_changed_and_deleted(app) {
        let set = created(
            app,
            SETS,
            &app.admin,
            json!({
                "name": "Friendly",
                "events": {"invoice_overdue": {"subject": "Reminder", "text": "Please pay {{ invoice_number }}", "html": "<p>Please pay</p>", "sms": "Please pay"}},
            }),
        )
        .await;
        let id = set["id"].as_i64().unwrap();
        assert_eq!(set["owner"], json!({"type": "administrator"}), "{}", app.backend);
        assert_eq!(set["shared"], json!(false));
        assert_eq!(set["events"]["invoice_overdue"]["subject"], json!("Reminder"));
        assert_eq!(set["events"]["invoice_overdue"]["sms"], json!("Please pay"));

        let path = format!("{SETS}/{id}");
        assert_eq!(app.get(&path, &app.admin).await.body, set);
        assert!(ids_of(&all(app, SETS, &app.admin).await).contains(&id));

        let changed = merge(
            app,
            &path,
            &app.admin,
            json!({"events": {"payment_received": {"subject": "Thanks", "text": "Received", "html": "", "sms": ""}}}),
        )
        .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(changed.body["events"]["payment_received"]["subject"], json!("Thanks"));
        assert_eq!(changed.body["events"]["invoice_overdue"]["subject"], json!("Reminder"));

        let unknown = app.post(SETS, &app.admin, json!({"name": "Odd", "events": {"moon_landing": {}}})).await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.text);
        assert!(unknown.has_error("events.moon_landing", "unknown_event"), "{}", unknown.text);

        // A class may use it; the set is then shown in the class.
        let class = app.class(&app.admin, json!({"name": "Friendly class", "notifications": {"notification_set_id": id}})).await;
        assert_eq!(class["notifications"]["notification_set_id"], json!(id));
        edit_class(app, class["id"].as_i64().unwrap(), json!({"notifications": {"notification_set_id": null}})).await;

        assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn custom_taxes_are_created_listed_read_changed_and_deleted(app) {
        let tax = created(app, TAXES, &app.admin, json!({"name": "State sales tax", "rate_percent": "6.25", "scope": "all"})).await;
        let id = tax["id"].as_i64().unwrap();
        assert_eq!(tax["name"], json!("State sales tax"), "{}", app.backend);
        assert_eq!(tax["rate_percent"], json!("6.25"));
        assert_eq!(tax["scope"], json!("all"));
        assert_eq!(tax["owner"], json!({"type": "administrator"}));

        let path = format!("{TAXES}/{id}");
        assert_eq!(app.get(&path, &app.admin).await.body, tax);
        assert!(ids_of(&all(app, TAXES, &app.admin).await).contains(&id));

        let changed = merge(app, &path, &app.admin, json!({"rate_percent": "7.0000", "scope": "usage"})).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(changed.body["rate_percent"], json!("7"));
        assert_eq!(changed.body["scope"], json!("usage"));
        assert_eq!(changed.body["name"], json!("State sales tax"));

        for (body, field) in [
            (json!({"name": "Too high", "rate_percent": "100.5", "scope": "all"}), "rate_percent"),
            (json!({"name": "Odd scope", "rate_percent": "1", "scope": "everything"}), "scope"),
            (json!({"name": "", "rate_percent": "1", "scope": "all"}), "name"),
            (json!({"name": "STATE SALES TAX", "rate_percent": "1", "scope": "all"}), "name"),
        ] {
            let refused = app.post(TAXES, &app.admin, body.clone()).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", refused.text);
            assert!(refused.error_codes().iter().any(|(f, _)| f == field), "{body}: {}", refused.text);
        }

        assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn custom_fields_are_created_listed_read_changed_and_deleted(app) {
        let field = created(
            app,
            FIELDS,
            &app.admin,
            json!({"key": "contract_no", "label": "Contract number", "type": "text", "properties": {"max_length": 20}}),
        )
        .await;
        let id = field["id"].as_i64().unwrap();
        assert_eq!(field["key"], json!("contract_no"), "{}", app.backend);
        assert_eq!(field["label"], json!("Contract number"));
        assert_eq!(field["type"], json!("text"));
        assert_eq!(field["object"], json!("customer"));
        assert_eq!(field["mandatory"], json!(false));
        assert_eq!(field["properties"]["max_length"], json!(20));

        let path = format!("{FIELDS}/{id}");
        assert_eq!(app.get(&path, &app.admin).await.body, field);
        assert!(ids_of(&all(app, FIELDS, &app.admin).await).contains(&id));

        let changed = merge(app, &path, &app.admin, json!({"label": "Contract", "mandatory": true, "default": "none"})).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(changed.body["label"], json!("Contract"));
        assert_eq!(changed.body["mandatory"], json!(true));
        assert_eq!(changed.body["default"], json!("none"));
        assert_eq!(changed.body["properties"]["max_length"], json!(20));
        assert_eq!(app.get(&path, &app.admin).await.body, changed.body);

        let retyped = merge(app, &path, &app.admin, json!({"type": "number", "properties": null})).await;
        assert_eq!(retyped.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", retyped.text);
        assert!(retyped.has_error("type", "immutable"), "{}", retyped.text);
        let twin = app.post(FIELDS, &app.admin, json!({"key": "contract_no", "label": "Again", "type": "text"})).await;
        assert_eq!(twin.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", twin.text);
        let account = app.post(FIELDS, &app.admin, json!({"object": "account", "key": "acc", "label": "A", "type": "text"})).await;
        assert!(account.has_error("object", "unsupported"), "{}", account.text);

        assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn vat_rates_are_created_listed_read_changed_and_deleted(app) {
        let rate = created(app, VAT, &app.admin, json!({"country": "DE", "rate_percent": "19", "zone": "EU"})).await;
        let id = rate["id"].as_i64().unwrap();
        assert_eq!(rate["country"], json!("DE"), "{}", app.backend);
        assert_eq!(rate["rate_percent"], json!("19"));
        assert_eq!(rate["zone"], json!("EU"));

        let path = format!("{VAT}/{id}");
        assert_eq!(app.get(&path, &app.admin).await.body, rate);
        assert!(ids_of(&all(app, VAT, &app.admin).await).contains(&id));

        let changed = merge(app, &path, &app.admin, json!({"rate_percent": "19.5", "zone": null})).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(changed.body["rate_percent"], json!("19.5"));
        assert_eq!(changed.body["zone"], Value::Null);
        assert_eq!(changed.body["country"], json!("DE"));

        let moved = merge(app, &path, &app.admin, json!({"country": "AT"})).await;
        assert_eq!(moved.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", moved.text);
        assert!(moved.has_error("country", "immutable"), "{}", moved.text);
        let twin = app.post(VAT, &app.admin, json!({"country": "DE", "rate_percent": "7"})).await;
        assert_eq!(twin.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", twin.text);
        let bad = app.post(VAT, &app.admin, json!({"country": "Germany", "rate_percent": "101"})).await;
        assert!(bad.has_error("country", "invalid") && bad.has_error("rate_percent", "out_of_range"), "{}", bad.text);

        assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::NOT_FOUND);
        // The country is free again.
        created(app, VAT, &app.admin, json!({"country": "DE", "rate_percent": "19"})).await;
    }
}

on_both_backends! {
    async fn an_invoice_template_used_by_a_class_cannot_be_deleted_until_the_class_lets_go(app) {
        let template = created_id(app, TEMPLATES, &app.admin, json!({"name": "Mine", "source": SOURCE})).await;
        let class = app
            .class(
                &app.admin,
                json!({
                    "name": "Templated",
                    "regular_invoices": {"enabled": true, "template_id": template},
                    "out_of_turn_invoices": {"enabled": true, "template_id": template},
                }),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let path = format!("{TEMPLATES}/{template}");
        assert_in_use(&app.delete(&path, &app.admin).await);
        // Still referenced by the out-of-turn tab.
        edit_class(app, class, json!({"regular_invoices": {"enabled": false, "template_id": null}})).await;
        assert_in_use(&app.delete(&path, &app.admin).await);
        assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::OK, "{}", app.backend);
        edit_class(app, class, json!({"out_of_turn_invoices": {"enabled": false, "template_id": null}})).await;
        let deleted = app.delete(&path, &app.admin).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    }
}

on_both_backends! {
    async fn a_custom_tax_used_by_a_class_cannot_be_deleted_until_the_class_lets_go(app) {
        let (_r, r_user) = app.reseller_with_user("Alpha").await;
        // A shared administrator tax used by a reseller's class.
        let tax = created_id(
            app,
            TAXES,
            &app.admin,
            json!({"name": "Excise", "rate_percent": "3", "scope": "usage", "shared": true}),
        )
        .await;
        let other = created_id(app, TAXES, &app.admin, json!({"name": "Other", "rate_percent": "1", "scope": "all", "shared": true})).await;
        let class = app
            .class(&r_user, json!({"name": "Taxed", "taxation": {"method": "custom", "custom_tax_ids": [tax, other]}}))
            .await["id"]
            .as_i64()
            .unwrap();
        let path = format!("{TAXES}/{tax}");
        assert_in_use(&app.delete(&path, &app.admin).await);
        assert_in_use(&app.delete(&format!("{TAXES}/{other}"), &app.admin).await);
        edit_class(app, class, json!({"taxation": {"custom_tax_ids": [other]}})).await;
        let deleted = app.delete(&path, &app.admin).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{} {}", app.backend, deleted.text);
        assert_in_use(&app.delete(&format!("{TAXES}/{other}"), &app.admin).await);
        // Deleting the class releases the rest.
        assert_eq!(app.delete(&format!("{CLASSES}/{class}"), &r_user).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&format!("{TAXES}/{other}"), &app.admin).await.status, StatusCode::NO_CONTENT);
    }
}

on_both_backends! {
    async fn a_custom_field_enabled_on_a_class_cannot_be_deleted_until_the_class_disables_it(app) {
        let field = created_id(app, FIELDS, &app.admin, json!({"key": "region", "label": "Region", "type": "list", "properties": {"options": ["north", "south"]}})).await;
        let class = app
            .class(&app.admin, json!({"name": "Fielded", "custom_fields": {"enabled_field_ids": [field]}}))
            .await["id"]
            .as_i64()
            .unwrap();
        let path = format!("{FIELDS}/{field}");
        assert_in_use(&app.delete(&path, &app.admin).await);
        assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::OK, "{}", app.backend);
        edit_class(app, class, json!({"custom_fields": {"enabled_field_ids": []}})).await;
        let deleted = app.delete(&path, &app.admin).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    }
}

on_both_backends! {
    async fn a_vat_rate_used_as_home_country_cannot_be_deleted_until_the_class_lets_go(app) {
        let de = created_id(app, VAT, &app.admin, json!({"country": "DE", "rate_percent": "19", "zone": "EU"})).await;
        let at = created_id(app, VAT, &app.admin, json!({"country": "AT", "rate_percent": "20", "zone": "EU"})).await;
        let class = app
            .class(&app.admin, json!({"name": "EU VAT", "taxation": {"method": "generic_vat", "generic_vat": {"home_country": "DE"}}}))
            .await["id"]
            .as_i64()
            .unwrap();
        assert_in_use(&app.delete(&format!("{VAT}/{de}"), &app.admin).await);
        // Another country stays free.
        assert_eq!(app.delete(&format!("{VAT}/{at}"), &app.admin).await.status, StatusCode::NO_CONTENT, "{}", app.backend);
        // Leaving generic VAT drops the reference.
        edit_class(app, class, json!({"taxation": {"method": "none"}})).await;
        let stored = app.get(&format!("{CLASSES}/{class}"), &app.admin).await;
        assert_eq!(stored.body["taxation"]["generic_vat"], Value::Null, "{}", stored.text);
        let deleted = app.delete(&format!("{VAT}/{de}"), &app.admin).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    }
}

on_both_backends! {
    async fn reseller_users_see_their_own_and_shared_administrator_objects_only(app) {
        let (r, r_user) = app.reseller_with_user("Alpha").await;
        let (q, q_user) = app.reseller_with_user("Beta").await;
        let standard = app.standard_template().await;
        let private = created_id(app, TEMPLATES, &app.admin, json!({"name": "Operator only", "source": SOURCE})).await;
        let shared = created_id(app, TEMPLATES, &app.admin, json!({"name": "Operator shared", "source": SOURCE, "shared": true})).await;
        let mine = created(app, TEMPLATES, &r_user, json!({"name": "Alpha layout", "source": SOURCE})).await;
        assert_eq!(mine["owner"], json!({"type": "reseller", "reseller_id": r}), "{}", app.backend);
        assert_eq!(mine["shared"], json!(false));
        let mine = mine["id"].as_i64().unwrap();
        let theirs = created_id(app, TEMPLATES, &q_user, json!({"name": "Beta layout", "source": SOURCE})).await;
        // The administrator may create an object for a reseller.
        let given = created(
            app,
            TEMPLATES,
            &app.admin,
            json!({"name": "Given to Alpha", "source": SOURCE, "owner": {"type": "reseller", "reseller_id": r}}),
        )
        .await;
        assert_eq!(given["owner"], json!({"type": "reseller", "reseller_id": r}));
        let given = given["id"].as_i64().unwrap();

        let mut listed = ids_of(&all(app, TEMPLATES, &r_user).await);
        listed.sort_unstable();
        let mut expected = vec![standard, shared, mine, given];
        expected.sort_unstable();
        assert_eq!(listed, expected);
        let mut listed = ids_of(&all(app, TEMPLATES, &app.admin).await);
        listed.sort_unstable();
        let mut expected = vec![standard, private, shared, mine, theirs, given];
        expected.sort_unstable();
        assert_eq!(listed, expected);

        for id in [private, theirs] {
            let path = format!("{TEMPLATES}/{id}");
            assert_eq!(app.get(&path, &r_user).await.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(merge(app, &path, &r_user, json!({"name": "Mine now"})).await.status, StatusCode::NOT_FOUND);
            assert_eq!(app.delete(&path, &r_user).await.status, StatusCode::NOT_FOUND);
        }
        assert_eq!(app.get(&format!("{TEMPLATES}/{mine}"), &q_user).await.status, StatusCode::NOT_FOUND);

        // Shared administrator objects are read-only for resellers.
        for id in [standard, shared] {
            let path = format!("{TEMPLATES}/{id}");
            assert_eq!(app.get(&path, &r_user).await.status, StatusCode::OK);
            let patched = merge(app, &path, &r_user, json!({"source": "= mine"})).await;
            assert_eq!(patched.status, StatusCode::FORBIDDEN, "{path}: {}", patched.text);
            let deleted = app.delete(&path, &r_user).await;
            assert_eq!(deleted.status, StatusCode::FORBIDDEN, "{path}: {}", deleted.text);
            assert_ne!(app.get(&path, &app.admin).await.body["source"], json!("= mine"));
        }
        let shared_tax = created_id(app, TAXES, &app.admin, json!({"name": "Shared", "rate_percent": "5", "scope": "all", "shared": true})).await;
        let patched = merge(app, &format!("{TAXES}/{shared_tax}"), &r_user, json!({"rate_percent": "0"})).await;
        assert_eq!(patched.status, StatusCode::FORBIDDEN, "{}", patched.text);
        assert_eq!(app.get(&format!("{TAXES}/{shared_tax}"), &r_user).await.body["rate_percent"], json!("5"));

        // Their own objects they manage fully.
        let path = format!("{TEMPLATES}/{mine}");
        let renamed = merge(app, &path, &r_user, json!({"name": "Alpha layout 2"})).await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
        let reowned = merge(app, &path, &r_user, json!({"owner": {"type": "reseller", "reseller_id": q}})).await;
        assert_eq!(reowned.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reowned.text);
        let reshared = merge(app, &path, &r_user, json!({"shared": true})).await;
        assert_eq!(reshared.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reshared.text);
        let foreign = app
            .post(TEMPLATES, &r_user, json!({"name": "For Beta", "source": SOURCE, "owner": {"type": "reseller", "reseller_id": q}}))
            .await;
        assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", foreign.text);
        assert!(all(app, TEMPLATES, &q_user).await.iter().all(|t| t["name"] != json!("For Beta")));
        let own_tax = created_id(app, TAXES, &r_user, json!({"name": "Alpha levy", "rate_percent": "2", "scope": "recurring"})).await;
        assert_eq!(app.delete(&format!("{TAXES}/{own_tax}"), &r_user).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&path, &r_user).await.status, StatusCode::NO_CONTENT);

        // Classes may only reference what their owner sees.
        let refused = app
            .post(CLASSES, &r_user, json!({"name": "Borrowed", "regular_invoices": {"enabled": true, "template_id": theirs}}))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert!(refused.has_error("regular_invoices.template_id", "not_visible"), "{}", refused.text);
        let refused = app
            .post(CLASSES, &r_user, json!({"name": "Borrowed", "regular_invoices": {"enabled": true, "template_id": private}}))
            .await;
        assert!(refused.has_error("regular_invoices.template_id", "not_visible"), "{}", refused.text);
        let refused = app
            .post(CLASSES, &app.admin, json!({"name": "Borrowed", "regular_invoices": {"enabled": true, "template_id": given}}))
            .await;
        assert!(refused.has_error("regular_invoices.template_id", "not_visible"), "{}", refused.text);
        app.class(&r_user, json!({"name": "Shared layout", "regular_invoices": {"enabled": true, "template_id": shared}})).await;
    }
}

on_both_backends! {
    async fn custom_fields_and_vat_rates_are_read_by_everyone_and_written_by_administrators_only(app) {
        let (_r, r_user) = app.reseller_with_user("Alpha").await;
        let field = created_id(app, FIELDS, &app.admin, json!({"key": "region", "label": "Region", "type": "text"})).await;
        let rate = created_id(app, VAT, &app.admin, json!({"country": "FR", "rate_percent": "20", "zone": "EU"})).await;

        assert!(ids_of(&all(app, FIELDS, &r_user).await).contains(&field), "{}", app.backend);
        assert!(ids_of(&all(app, VAT, &r_user).await).contains(&rate));
        assert_eq!(app.get(&format!("{FIELDS}/{field}"), &r_user).await.status, StatusCode::OK);
        assert_eq!(app.get(&format!("{VAT}/{rate}"), &r_user).await.status, StatusCode::OK);

        let refused = app.post(FIELDS, &r_user, json!({"key": "own", "label": "Own", "type": "text"})).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        let refused = app.post(VAT, &r_user, json!({"country": "IT", "rate_percent": "22"})).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        for path in [format!("{FIELDS}/{field}"), format!("{VAT}/{rate}")] {
            let patched = merge(app, &path, &r_user, json!({"label": "Mine", "rate_percent": "1"})).await;
            assert_eq!(patched.status, StatusCode::FORBIDDEN, "{path}: {}", patched.text);
            let deleted = app.delete(&path, &r_user).await;
            assert_eq!(deleted.status, StatusCode::FORBIDDEN, "{path}: {}", deleted.text);
            assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::OK);
        }
        assert!(all(app, FIELDS, &app.admin).await.iter().all(|f| f["key"] != json!("own")));
        assert!(all(app, VAT, &app.admin).await.iter().all(|v| v["country"] != json!("IT")));
        // A reseller's class may still enable the installation-wide field.
        app.class(&r_user, json!({"name": "With region", "custom_fields": {"enabled_field_ids": [field]}})).await;
    }
}

on_both_backends! {
    async fn the_audit_log_shows_who_changed_what_to_administrators_all_and_to_resellers_their_own(app) {
        let (r, r_user) = app.reseller_with_user("Alpha").await;
        let (q, q_user) = app.reseller_with_user("Beta").await;
        let admin_id = app.engine.authenticate_token(&app.admin).await.unwrap().user_id;
        let r_user_id = app.engine.authenticate_token(&r_user).await.unwrap().user_id;

        let admin_template = created_id(app, TEMPLATES, &app.admin, json!({"name": "Operator", "source": SOURCE})).await;
        let r_tax = created_id(app, TAXES, &r_user, json!({"name": "Alpha levy", "rate_percent": "2", "scope": "all"})).await;
        let q_template = created_id(app, TEMPLATES, &q_user, json!({"name": "Beta layout", "source": SOURCE})).await;
        let r_class = app.class(&r_user, json!({"name": "Alpha class"})).await["id"].as_i64().unwrap();
        let edited = app.patch(&format!("{CLASSES}/{r_class}"), &app.admin, json!({"description": "checked"}), 1).await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
        assert_eq!(app.delete(&format!("{TAXES}/{r_tax}"), &r_user).await.status, StatusCode::NO_CONTENT);
        let secret = app.send(
            Method::PUT,
            "/api/v1/secrets/tax-engine",
            Some(&r_user),
            Some(json!({"value": "very-secret-value-123"})),
            None,
        )
        .await;
        assert_eq!(secret.status, StatusCode::NO_CONTENT, "{}", secret.text);

        let everything = all(app, "/api/v1/audit-log", &app.admin).await;
        let has = |entries: &[Value], action: &str, object_type: &str, id: i64| {
            entries.iter().any(|e| {
                e["action"] == json!(action) && e["object_type"] == json!(object_type) && e["object_id"] == json!(id.to_string())
            })
        };
        assert!(has(&everything, "create", "invoice_template", admin_template), "{} {everything:?}", app.backend);
        assert!(has(&everything, "create", "invoice_template", q_template));
        assert!(has(&everything, "create", "custom_tax", r_tax));
        assert!(has(&everything, "delete", "custom_tax", r_tax));
        assert!(has(&everything, "create", "customer_class", r_class));
        assert!(has(&everything, "update", "customer_class", r_class));
        // Newest first.
        let ids: Vec<i64> = everything.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
        // Who did it.
        let update = everything
            .iter()
            .find(|e| e["action"] == json!("update") && e["object_id"] == json!(r_class.to_string()))
            .unwrap();
        assert_eq!(update["user_id"], json!(admin_id));
        assert_eq!(update["actor"], json!("admin"));
        assert!(update["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{update}");
        let created_tax = everything
            .iter()
            .find(|e| e["action"] == json!("create") && e["object_id"] == json!(r_tax.to_string()))
            .unwrap();
        assert_eq!(created_tax["user_id"], json!(r_user_id));
        assert_eq!(created_tax["actor"], json!("alpha-user"));
        // Secrets are logged by name, never by value.
        assert!(!serde_json::to_string(&everything).unwrap().contains("very-secret-value-123"));
        assert!(everything.iter().any(|e| e["object_type"] == json!("secret") && e["object_id"] == json!("tax-engine")));

        let own = all(app, "/api/v1/audit-log", &r_user).await;
        assert!(has(&own, "create", "custom_tax", r_tax));
        assert!(has(&own, "delete", "custom_tax", r_tax));
        assert!(has(&own, "create", "customer_class", r_class));
        assert!(has(&own, "update", "customer_class", r_class));
        assert!(!has(&own, "create", "invoice_template", admin_template));
        assert!(!has(&own, "create", "invoice_template", q_template));
        assert!(own.iter().all(|e| e["owner_reseller_id"] == json!(r)), "{own:?}");
        assert!(!serde_json::to_string(&own).unwrap().contains("very-secret-value-123"));

        let theirs = all(app, "/api/v1/audit-log", &q_user).await;
        assert!(has(&theirs, "create", "invoice_template", q_template));
        assert!(theirs.iter().all(|e| e["owner_reseller_id"] == json!(q)), "{theirs:?}");
        assert!(!has(&theirs, "create", "custom_tax", r_tax));

        // Paging walks the log without gaps or repeats.
        let first = app.get("/api/v1/audit-log?limit=2", &app.admin).await;
        let cursor = first.body["next_cursor"].as_str().expect("more entries").to_owned();
        let second = app.get(&format!("/api/v1/audit-log?limit=2&cursor={cursor}"), &app.admin).await;
        let walked: Vec<i64> = [first.body["items"].clone(), second.body["items"].clone()]
            .iter()
            .flat_map(|items| items.as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()))
            .collect();
        assert_eq!(walked, ids[..4].to_vec());
        let limit = app.get("/api/v1/audit-log?limit=1001", &app.admin).await;
        assert!(limit.has_error("limit", "out_of_range"), "{}", limit.text);
    }
}
