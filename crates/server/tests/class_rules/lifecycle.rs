//! Default classes (§1.2), deletion (§2.10, V34), stale revisions (V33) and the all-or-nothing guarantee of
//! invalid writes (§3).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::on_both_backends;

const BATCH_DELETE: &str = "/api/v1/customer-classes/delete";

/// The revision history of a class, newest first.
async fn revisions(app: &TestApp, id: i64) -> Vec<Value> {
    let answer = app.get(&format!("{}/revisions", class_path(id)), &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().cloned().unwrap_or_default()
}

on_both_backends! {
    async fn default_class_cannot_be_deleted_or_renamed(app) {
        let default = administrator_default(app).await;
        let answer = app.delete(&class_path(default), &app.admin).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
        assert_eq!(answer.body["code"], json!("protected_default"), "{}", answer.text);
        let answer = patch_current(app, &app.admin, default, json!({"name": "Anything"})).await;
        assert_only_violation(&answer, "name", "default_protected", Some("the Default class cannot be renamed"));

        let stored = read(app, &app.admin, default).await;
        assert_eq!(stored["name"], json!("Default"));
        assert_eq!(stored["is_default"], json!(true));
        assert_eq!(revision_of(&stored), 1);
    }
}

on_both_backends! {
    async fn every_new_reseller_gets_its_own_default_class(app) {
        let first = reseller_in(app, "North", "EUR", None).await;
        let second = reseller_in(app, "South", "EUR", None).await;
        let mut defaults = Vec::new();
        for reseller in [&first, &second] {
            let id = id_of(reseller);
            let shown = app.get(&format!("/api/v1/resellers/{id}"), &app.admin).await;
            assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
            let default = shown.body["default_class_id"]
                .as_i64()
                .unwrap_or_else(|| panic!("a default_class_id: {}", shown.text));
            let class = read(app, &app.admin, default).await;
            assert_eq!(class["is_default"], json!(true));
            assert_eq!(class["revision"], json!(1));
            assert_eq!(class["member_count"], json!(0));
            let mut expected = default_document("Default");
            expected["managed_by"] = json!({"type": "reseller", "reseller_id": id});
            assert_eq!(editable_part(&class), expected);
            defaults.push(default);
        }
        assert_ne!(defaults[0], defaults[1]);
        assert_ne!(defaults[0], administrator_default(app).await);

        // A reseller created without class_id is itself a member of the administrator's Default.
        let operator_default = administrator_default(app).await;
        assert_eq!(first["class_id"], json!(operator_default));
        assert_eq!(read(app, &app.admin, operator_default).await["member_count"], json!(2));

        // A reseller's Default is protected like the administrator's, also against its own users.
        let (reseller, token) = app.reseller_with_user("West").await;
        let shown = app.get(&format!("/api/v1/resellers/{reseller}"), &app.admin).await;
        let default = shown.body["default_class_id"].as_i64().expect("a Default class");
        let answer = app.delete(&class_path(default), &token).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
        assert_eq!(answer.body["code"], json!("protected_default"));
        let answer = patch_current(app, &token, default, json!({"name": "Mine"})).await;
        assert_only_violation(&answer, "name", "default_protected", None);

        // A subreseller created by that reseller's user lands in its owner's Default and gets one of its own.
        let answer = app
            .post(
                "/api/v1/resellers",
                &token,
                json!({"name": "West sub", "currency": "EUR", "parent_reseller_id": reseller}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.body["class_id"], json!(default));
        let sub = id_of(&answer.body);
        let sub_default = answer.body["default_class_id"].as_i64().expect("a Default class of its own");
        assert_ne!(sub_default, default);
        let class = read(app, &app.admin, sub_default).await;
        assert_eq!(class["managed_by"], json!({"type": "reseller", "reseller_id": sub}));
        assert_eq!(class["is_default"], json!(true));
        assert_eq!(read(app, &token, default).await["member_count"], json!(1));
        // The parent's users do not see it (§1.5).
        assert_eq!(app.get(&class_path(sub_default), &token).await.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn class_with_members_cannot_be_deleted(app) {
        let used = id_of(&app.class(&app.admin, json!({"name": "Used"})).await);
        reseller_in(app, "Occupant", "EUR", Some(used)).await;
        let answer = app.delete(&class_path(used), &app.admin).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
        assert_eq!(answer.body["code"], json!("in_use"), "{}", answer.text);
        assert_eq!(read(app, &app.admin, used).await["member_count"], json!(1));

        let unused = id_of(&app.class(&app.admin, json!({"name": "Unused"})).await);
        let answer = app.delete(&class_path(unused), &app.admin).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
        assert_eq!(app.get(&class_path(unused), &app.admin).await.status, StatusCode::NOT_FOUND);
        // The class is gone for good, its history is kept (§6.1), and its id is never given out again.
        let answer = app.delete(&class_path(unused), &app.admin).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
        let history = revisions(app, unused).await;
        assert_eq!(history.len(), 1, "{history:?}");
        assert_eq!(history[0]["revision"], json!(1));
        let next = app.class(&app.admin, json!({"name": "Unused"})).await;
        assert!(id_of(&next) > unused, "ids are not reused");
        assert_eq!(revisions(app, id_of(&next)).await.len(), 1);
    }
}

on_both_backends! {
    async fn batch_delete_reports_one_outcome_per_id(app) {
        let default = administrator_default(app).await;
        let used = id_of(&app.class(&app.admin, json!({"name": "Used"})).await);
        reseller_in(app, "One", "EUR", Some(used)).await;
        reseller_in(app, "Two", "EUR", Some(used)).await;
        let free = id_of(&app.class(&app.admin, json!({"name": "Free"})).await);
        let missing = 987_654;

        let answer = app.post(BATCH_DELETE, &app.admin, json!({"ids": [free, used, default, missing]})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.body["items"],
            json!([
                {"id": free, "outcome": "deleted"},
                {"id": used, "outcome": "in_use", "member_count": 2},
                {"id": default, "outcome": "protected_default"},
                {"id": missing, "outcome": "not_found"}
            ])
        );
        assert_eq!(app.get(&class_path(free), &app.admin).await.status, StatusCode::NOT_FOUND);
        assert_eq!(read(app, &app.admin, used).await["name"], json!("Used"));
        assert_eq!(read(app, &app.admin, default).await["name"], json!("Default"));

        // Classes a reseller user cannot see are not_found to it and stay in place.
        let (_reseller, token) = app.reseller_with_user("Viewer").await;
        let operator = id_of(&app.class(&app.admin, json!({"name": "Operator only"})).await);
        let own = id_of(&app.class(&token, json!({"name": "Own"})).await);
        let answer = app.post(BATCH_DELETE, &token, json!({"ids": [operator, own]})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.body["items"],
            json!([{"id": operator, "outcome": "not_found"}, {"id": own, "outcome": "deleted"}])
        );
        assert_eq!(read(app, &app.admin, operator).await["name"], json!("Operator only"));
    }
}

on_both_backends! {
    async fn invalid_writes_leave_nothing_behind(app) {
        let created = app.class(&app.admin, json!({"name": "Stable", "description": "as created"})).await;
        let id = id_of(&created);
        let before = read(app, &app.admin, id).await;

        let broken = json!({"description": "changed", "general_info": {"rounding_precision": 9}});
        let answer = app.patch(&class_path(id), &app.admin, broken.clone(), 1).await;
        assert_only_violation(&answer, "general_info.rounding_precision", "out_of_range", None);
        let answer = app.put(&class_path(id), &app.admin, json!({"name": "Stable", "description": "changed",
            "taxation": {"method": "custom"}}), 1)
            .await;
        assert_only_violation(&answer, "taxation.custom_tax_ids", "required", None);
        // A preview of the same patch saves nothing either.
        let preview = app.post(&format!("{}/preview", class_path(id)), &app.admin, broken).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
        assert_eq!(preview.body["valid"], json!(false));

        let after = app.get(&class_path(id), &app.admin).await;
        assert_eq!(after.etag().as_deref(), Some("\"1\""));
        assert_eq!(after.body, before);
        assert_eq!(revisions(app, id).await.len(), 1);

        // A failed create stores no class.
        let answer = create(app, &app.admin, json!({"name": "Ghost", "general_info": {"rounding_precision": 9}})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        let list = app.get(&format!("{CLASSES}?name=ghost"), &app.admin).await;
        assert_eq!(list.body["items"], json!([]), "{}", list.text);
        // The name stays free.
        let answer = create(app, &app.admin, json!({"name": "Ghost"})).await;
        assert_accepted(&answer, StatusCode::CREATED);
    }
}

on_both_backends! {
    async fn every_violation_is_listed(app) {
        let answer = create(app, &app.admin, json!({"name": "",
            "general_info": {"rounding_precision": 9},
            "regular_invoices": {"payment_terms": {"type": "net", "days": 0}}}))
            .await;
        assert_violation(&answer, "name", "invalid_length", None);
        assert_violation(&answer, "general_info.rounding_precision", "out_of_range", None);
        assert_violation(&answer, "regular_invoices.payment_terms.days", "out_of_range", None);
        assert_eq!(answer.error_codes().len(), 3, "{}", answer.text);

        // The same on PATCH, with rules that need the store among them.
        let taken = app.class(&app.admin, json!({"name": "Taken"})).await;
        let target = id_of(&app.class(&app.admin, json!({"name": "Target", "currency": "EUR"})).await);
        let answer = patch_current(app, &app.admin, target, json!({"name": taken["name"], "currency": "USD",
            "general_info": {"hide_reset_xdr": true}}))
            .await;
        assert_violation(&answer, "name", "name_taken", None);
        assert_violation(&answer, "currency", "immutable", None);
        assert_violation(&answer, "general_info.hide_reset_xdr", "requires_reset", None);
        assert_eq!(answer.error_codes().len(), 3, "{}", answer.text);

        // A reseller user naming another owner also hears about the rest of its mistakes.
        let (_reseller, token) = app.reseller_with_user("Eager").await;
        let answer = create(app, &token, json!({"name": " ", "managed_by": {"type": "administrator"},
            "general_info": {"period_closure": {"extra_delay_hours": 500}}}))
            .await;
        assert_violation(&answer, "managed_by", "forbidden_owner", None);
        assert_violation(&answer, "name", "invalid_length", None);
        assert_violation(&answer, "general_info.period_closure.extra_delay_hours", "out_of_range", None);
        assert_eq!(answer.error_codes().len(), 3, "{}", answer.text);
    }
}

on_both_backends! {
    async fn v33_writes_need_the_current_revision(app) {
        let id = id_of(&app.class(&app.admin, json!({"name": "Versioned"})).await);
        let answer = app.patch(&class_path(id), &app.admin, json!({"description": "first"}), 1).await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.etag().as_deref(), Some("\"2\""));

        let answer = app.patch(&class_path(id), &app.admin, json!({"description": "late"}), 1).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
        assert!(answer.has_error("revision", "stale_revision"), "{}", answer.text);
        assert_eq!(
            message_of(&answer, "revision", "stale_revision").as_deref(),
            Some("the class changed meanwhile (current revision 2)")
        );
        let answer = app
            .send(Method::PATCH, &class_path(id), Some(&app.admin), Some(json!({"description": "blind"})), None)
            .await;
        assert_eq!(answer.status, StatusCode::PRECONDITION_REQUIRED, "{}", answer.text);
        let answer = app
            .send(Method::PUT, &class_path(id), Some(&app.admin), Some(json!({"name": "Versioned"})), None)
            .await;
        assert_eq!(answer.status, StatusCode::PRECONDITION_REQUIRED, "{}", answer.text);
        assert_eq!(read(app, &app.admin, id).await["description"], json!("first"));

        // Edits racing from the same revision: one is saved, the others are told the revision now current.
        let path = class_path(id);
        let edit = |text: &'static str| app.patch(&path, &app.admin, json!({"description": text}), 2);
        let (a, b, c) = tokio::join!(edit("a"), edit("b"), edit("c"));
        let answers = [&a, &b, &c];
        let saved: Vec<&&Answer> = answers.iter().filter(|answer| answer.status == StatusCode::OK).collect();
        assert_eq!(saved.len(), 1, "{} | {} | {}", a.text, b.text, c.text);
        for answer in answers.iter().filter(|answer| answer.status != StatusCode::OK) {
            assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
            assert_eq!(
                message_of(answer, "revision", "stale_revision").as_deref(),
                Some("the class changed meanwhile (current revision 3)"),
                "{}",
                answer.text
            );
        }
        let stored = read(app, &app.admin, id).await;
        assert_eq!(revision_of(&stored), 3);
        assert_eq!(stored["description"], saved[0].body["description"]);
        assert_eq!(revisions(app, id).await.len(), 3);
    }
}

on_both_backends! {
    async fn v34_delete_refuses_default_and_used_classes(app) {
        let default = administrator_default(app).await;
        let used = id_of(&app.class(&app.admin, json!({"name": "Busy"})).await);
        reseller_in(app, "Tenant", "EUR", Some(used)).await;
        for (id, code) in [(default, "protected_default"), (used, "in_use")] {
            let answer = app.delete(&class_path(id), &app.admin).await;
            assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
            assert_eq!(answer.body["code"], json!(code), "{}", answer.text);
            assert_eq!(app.get(&class_path(id), &app.admin).await.status, StatusCode::OK);
        }
    }
}
