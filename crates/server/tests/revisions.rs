//! Optimistic concurrency with `If-Match`/`ETag`, the revision history of a class, preview and the
//! copy-policy action (customer-classes §2.0, §2.5, §3 V33, §6).

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

const CLASSES: &str = "/api/v1/customer-classes";

fn class_path(id: i64) -> String {
    format!("{CLASSES}/{id}")
}

async fn user_id(app: &TestApp, token: &str) -> i64 {
    app.engine
        .authenticate_token(token)
        .await
        .expect("token is valid")
        .user_id
}

fn etag_revision(answer: &Answer) -> i64 {
    let tag = answer.etag().unwrap_or_else(|| panic!("an ETag on {}", answer.text));
    tag.trim_matches('"')
        .parse()
        .unwrap_or_else(|_| panic!("ETag {tag} is a quoted revision"))
}

/// The revision numbers of the whole history, as listed.
async fn history(app: &TestApp, token: &str, id: i64) -> Vec<Value> {
    let answer = app
        .get(&format!("{}/revisions?limit=1000", class_path(id)), token)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

fn numbers(revisions: &[Value]) -> Vec<i64> {
    revisions
        .iter()
        .map(|r| r["revision"].as_i64().expect("revision number"))
        .collect()
}

/// A class with fixed VAT at 19 %, as in the worked example of §6.
async fn vat_class(app: &TestApp, token: &str, name: &str) -> i64 {
    app.class(
        token,
        json!({
            "name": name,
            "currency": "EUR",
            "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}},
        }),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

fn assert_problem(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{}",
        answer.text
    );
    assert_eq!(answer.body["status"], json!(status.as_u16()));
}

on_both_backends! {
    async fn class_writes_without_if_match_are_428(app) {
        let id = vat_class(app, &app.admin, "Business EU").await;
        let path = class_path(id);
        let patch = app
            .send(Method::PATCH, &path, Some(&app.admin), Some(json!({"description": "no precondition"})), None)
            .await;
        assert_problem(&patch, StatusCode::PRECONDITION_REQUIRED);
        let put = app.send(Method::PUT, &path, Some(&app.admin), Some(json!({"name": "Business EU"})), None).await;
        assert_problem(&put, StatusCode::PRECONDITION_REQUIRED);
        let copy = app
            .send(
                Method::POST,
                &format!("{path}/out-of-turn-invoices/copy-policy-from-regular"),
                Some(&app.admin),
                None,
                None,
            )
            .await;
        assert_problem(&copy, StatusCode::PRECONDITION_REQUIRED);
        let stored = app.get(&path, &app.admin).await;
        assert_eq!(stored.body["revision"], json!(1), "{}", app.backend);
        assert_eq!(stored.body["description"], json!(""));
        assert_eq!(stored.body["taxation"]["method"], json!("fixed_vat"));
        assert_eq!(numbers(&history(app, &app.admin, id).await), vec![1]);
    }
}

on_both_backends! {
    async fn a_stale_if_match_is_409_stale_revision_with_the_current_revision(app) {
        let id = vat_class(app, &app.admin, "Business EU").await;
        let path = class_path(id);
        let first = app.patch(&path, &app.admin, json!({"description": "one"}), 1).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        let second = app.patch(&path, &app.admin, json!({"description": "two"}), 2).await;
        assert_eq!(second.status, StatusCode::OK, "{}", second.text);

        let message = "the class changed meanwhile (current revision 3)";
        let stale_patch = app.patch(&path, &app.admin, json!({"description": "late"}), 2).await;
        let stale_put = app.put(&path, &app.admin, json!({"name": "Business EU"}), 1).await;
        let ahead = app.patch(&path, &app.admin, json!({"description": "ahead"}), 7).await;
        let stale_copy = app
            .send(
                Method::POST,
                &format!("{path}/out-of-turn-invoices/copy-policy-from-regular"),
                Some(&app.admin),
                None,
                Some("\"1\""),
            )
            .await;
        for answer in [&stale_patch, &stale_put, &ahead, &stale_copy] {
            assert_problem(answer, StatusCode::CONFLICT);
            assert_eq!(answer.body["code"], json!("stale_revision"), "{} {}", app.backend, answer.text);
            assert_eq!(answer.body["detail"], json!(message));
            assert_eq!(
                answer.body["errors"],
                json!([{"field": "revision", "code": "stale_revision", "message": message}])
            );
        }
        let stored = app.get(&path, &app.admin).await;
        assert_eq!(stored.body["revision"], json!(3));
        assert_eq!(stored.body["description"], json!("two"));
        assert_eq!(numbers(&history(app, &app.admin, id).await), vec![3, 2, 1]);
    }
}

on_both_backends! {
    async fn every_answer_carrying_a_class_has_its_revision_as_etag(app) {
        let template = app.standard_template().await;
        let created = app.post(CLASSES, &app.admin, json!({"name": "Tagged"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.etag().as_deref(), Some("\"1\""), "{}", app.backend);
        assert_eq!(created.body["revision"], json!(1));
        assert!(created.body["warnings"].is_array(), "{}", created.text);
        let id = created.body["id"].as_i64().unwrap();
        let path = class_path(id);

        let patched = app.patch(&path, &app.admin, json!({"description": "patched"}), 1).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
        assert_eq!(etag_revision(&patched), 2);
        assert_eq!(patched.body["revision"], json!(2));
        assert!(patched.body["warnings"].is_array());

        let read = app.get(&path, &app.admin).await;
        assert_eq!(etag_revision(&read), 2);
        assert_eq!(read.body["revision"], json!(2));

        let replaced = app
            .put(&path, &app.admin, json!({"name": "Tagged", "regular_invoices": {"enabled": true, "template_id": template}}), 2)
            .await;
        assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
        assert_eq!(etag_revision(&replaced), 3);
        assert_eq!(replaced.body["revision"], json!(3));
        assert!(replaced.body["warnings"].is_array());
        // PUT resets what it omits.
        assert_eq!(replaced.body["description"], json!(""));

        let copied = app
            .send(
                Method::POST,
                &format!("{path}/out-of-turn-invoices/copy-policy-from-regular"),
                Some(&app.admin),
                None,
                Some("\"3\""),
            )
            .await;
        assert_eq!(copied.status, StatusCode::OK, "{}", copied.text);
        // Both blocks hold the defaults, so there is nothing to copy and no new revision.
        assert_eq!(etag_revision(&copied), 3);

        let patched = app
            .patch(&path, &app.admin, json!({"regular_invoices": {"payment_terms": {"type": "net", "days": 10}}}), 3)
            .await;
        assert_eq!(etag_revision(&patched), 4);
        let copied = app
            .send(
                Method::POST,
                &format!("{path}/out-of-turn-invoices/copy-policy-from-regular"),
                Some(&app.admin),
                None,
                Some("\"4\""),
            )
            .await;
        assert_eq!(copied.status, StatusCode::OK, "{}", copied.text);
        assert_eq!(etag_revision(&copied), 5);
        assert_eq!(copied.body["revision"], json!(5));
        assert_eq!(etag_revision(&app.get(&path, &app.admin).await), 5);
    }
}

on_both_backends! {
    async fn a_save_without_differences_adds_no_revision(app) {
        let id = vat_class(app, &app.admin, "Business EU").await;
        let path = class_path(id);
        let same = app.patch(&path, &app.admin, json!({"description": "", "change_note": "nothing really"}), 1).await;
        assert_eq!(same.status, StatusCode::OK, "{}", same.text);
        assert_eq!(same.body["revision"], json!(1), "{}", app.backend);
        assert_eq!(etag_revision(&same), 1);
        let empty = app.patch(&path, &app.admin, json!({}), 1).await;
        assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
        assert_eq!(empty.body["revision"], json!(1));
        // Setting a list to the value it already has is no change.
        let reordered = app
            .patch(&path, &app.admin, json!({"regular_invoices": {"collection": {"resend_after_due_days": []}}}), 1)
            .await;
        assert_eq!(reordered.body["revision"], json!(1), "{}", reordered.text);

        // Writing back what GET answered, read-only keys included, is no change either.
        let current = app.get(&path, &app.admin).await;
        let put = app.put(&path, &app.admin, current.body.clone(), 1).await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.text);
        assert_eq!(put.body["revision"], json!(1));
        assert_eq!(etag_revision(&put), 1);
        assert_eq!(put.body["updated_at"], current.body["updated_at"]);
        assert_eq!(numbers(&history(app, &app.admin, id).await), vec![1]);

        // A real change afterwards gets revision 2, and repeating it adds nothing.
        let changed = app
            .patch(&path, &app.admin, json!({"regular_invoices": {"payment_terms": {"type": "net", "days": 15}, "due_reminder_days": [3, 7, 3]}}), 1)
            .await;
        assert_eq!(changed.body["revision"], json!(2), "{}", changed.text);
        assert_eq!(changed.body["regular_invoices"]["due_reminder_days"], json!([7, 3]));
        let again = app
            .patch(&path, &app.admin, json!({"regular_invoices": {"due_reminder_days": [7, 3, 3]}}), 2)
            .await;
        assert_eq!(again.body["revision"], json!(2), "{}", again.text);
        assert_eq!(numbers(&history(app, &app.admin, id).await), vec![2, 1]);
    }
}

on_both_backends! {
    async fn revisions_are_listed_newest_first_with_author_time_note_and_the_exact_diff(app) {
        let (_r, r_user) = app.reseller_with_user("Alpha").await;
        let admin_id = user_id(app, &app.admin).await;
        let r_user_id = user_id(app, &r_user).await;
        let id = vat_class(app, &r_user, "Business EU").await;
        let path = class_path(id);

        let raised = app
            .patch(
                &path,
                &app.admin,
                json!({"taxation": {"fixed_vat": {"rate_percent": "20"}}, "change_note": "VAT goes up"}),
                1,
            )
            .await;
        assert_eq!(raised.status, StatusCode::OK, "{}", raised.text);
        assert_eq!(raised.body["taxation"]["fixed_vat"]["rate_percent"], json!("20"));
        assert!(raised.body.get("change_note").is_none(), "the note is not part of the document: {}", raised.text);
        let renamed = app
            .patch(&path, &r_user, json!({"name": "Business EU 2025", "description": "renamed"}), 2)
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);

        let revisions = history(app, &r_user, id).await;
        assert_eq!(numbers(&revisions), vec![3, 2, 1], "{}", app.backend);

        let third = &revisions[0];
        assert_eq!(third["author"], json!({"type": "reseller_user", "user_id": r_user_id, "name": "alpha-user"}));
        assert_eq!(third["change_note"], Value::Null);
        assert_eq!(
            third["diff"],
            json!([
                {"path": "description", "old": "", "new": "renamed"},
                {"path": "name", "old": "Business EU", "new": "Business EU 2025"},
            ])
        );

        let second = &revisions[1];
        assert_eq!(second["author"], json!({"type": "administrator", "user_id": admin_id, "name": "admin"}));
        assert_eq!(second["change_note"], json!("VAT goes up"));
        assert_eq!(
            second["diff"],
            json!([{"path": "taxation.fixed_vat.rate_percent", "old": "19", "new": "20"}])
        );

        let first = &revisions[2];
        assert_eq!(first["author"], json!({"type": "reseller_user", "user_id": r_user_id, "name": "alpha-user"}));
        let created_paths: Vec<&str> = first["diff"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap())
            .collect();
        assert!(created_paths.contains(&"name") && created_paths.contains(&"taxation.fixed_vat.rate_percent"));
        assert!(first["diff"].as_array().unwrap().iter().all(|d| d["old"].is_null()), "{first}");

        // `at` is an RFC 3339 UTC instant, and the history never goes back in time.
        let instants: Vec<jiff::Timestamp> = revisions
            .iter()
            .map(|rev| {
                let text = rev["at"].as_str().expect("at is a string");
                assert!(text.ends_with('Z'), "{text}");
                text.parse().expect("at is RFC 3339")
            })
            .collect();
        assert!(instants[0] >= instants[1] && instants[1] >= instants[2], "{instants:?}");

        // Paging newest first, one at a time.
        let mut walked = Vec::new();
        let mut next = format!("{path}/revisions?limit=1");
        loop {
            let page = app.get(&next, &app.admin).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            walked.extend(numbers(page.body["items"].as_array().unwrap()));
            match page.body["next_cursor"].as_str() {
                Some(cursor) => next = format!("{path}/revisions?limit=1&cursor={cursor}"),
                None => break,
            }
            assert!(walked.len() <= 3, "{walked:?}");
        }
        assert_eq!(walked, vec![3, 2, 1]);

        // The note is limited to 500 characters.
        let long = app
            .patch(&path, &app.admin, json!({"description": "x", "change_note": "n".repeat(501)}), 3)
            .await;
        assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", long.text);
        assert!(long.error_codes().iter().any(|(field, _)| field == "change_note"), "{}", long.text);
        let fits = app
            .patch(&path, &app.admin, json!({"description": "x", "change_note": "n".repeat(500)}), 3)
            .await;
        assert_eq!(fits.status, StatusCode::OK, "{}", fits.text);
        assert_eq!(history(app, &app.admin, id).await[0]["change_note"], json!("n".repeat(500)));
    }
}

on_both_backends! {
    async fn one_revision_holds_the_snapshot_of_the_document_as_saved(app) {
        let id = vat_class(app, &app.admin, "Business EU").await;
        let path = class_path(id);
        let raised = app.patch(&path, &app.admin, json!({"taxation": {"fixed_vat": {"rate_percent": "20"}}}), 1).await;
        assert_eq!(raised.status, StatusCode::OK, "{}", raised.text);

        let first = app.get(&format!("{path}/revisions/1"), &app.admin).await;
        assert_eq!(first.status, StatusCode::OK, "{} {}", app.backend, first.text);
        assert_eq!(first.body["revision"], json!(1));
        assert_eq!(first.body["snapshot"]["name"], json!("Business EU"));
        assert_eq!(first.body["snapshot"]["currency"], json!("EUR"));
        assert_eq!(first.body["snapshot"]["taxation"]["fixed_vat"]["rate_percent"], json!("19"));
        assert_eq!(first.body["snapshot"]["general_info"]["rounding_precision"], json!(2));

        let second = app.get(&format!("{path}/revisions/2"), &app.admin).await;
        assert_eq!(second.status, StatusCode::OK, "{}", second.text);
        assert_eq!(second.body["snapshot"]["taxation"]["fixed_vat"]["rate_percent"], json!("20"));
        assert_eq!(
            second.body["diff"],
            json!([{"path": "taxation.fixed_vat.rate_percent", "old": "19", "new": "20"}])
        );
        assert!(second.body["author"]["type"].is_string());

        // The snapshot is the whole document: it equals the stored document's settings.
        let current = app.get(&path, &app.admin).await.body;
        for tab in [
            "name",
            "managed_by",
            "general_info",
            "regular_invoices",
            "out_of_turn_invoices",
            "taxation",
            "notifications",
            "custom_fields",
        ] {
            assert_eq!(second.body["snapshot"][tab], current[tab], "{tab}");
        }

        for missing in [0, 3, 99] {
            let answer = app.get(&format!("{path}/revisions/{missing}"), &app.admin).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "revision {missing}: {}", answer.text);
        }
    }
}

on_both_backends! {
    async fn preview_answers_the_section_6_shape_and_saves_nothing(app) {
        let id = vat_class(app, &app.admin, "Business EU").await;
        let path = class_path(id);
        // Two top-level resellers become members.
        for name in ["Member One", "Member Two"] {
            let member = app
                .post("/api/v1/resellers", &app.admin, json!({"name": name, "class_id": id}))
                .await;
            assert_eq!(member.status, StatusCode::CREATED, "{}", member.text);
        }
        let before = app.get(&path, &app.admin).await;

        let preview = app
            .post(
                &format!("{path}/preview"),
                &app.admin,
                json!({"taxation": {"fixed_vat": {"rate_percent": "20"}}, "change_note": "not stored"}),
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{} {}", app.backend, preview.text);
        assert_eq!(
            preview.body,
            json!({
                "valid": true,
                "errors": [],
                "warnings": [],
                "base_revision": 1,
                "diff": [{"path": "taxation.fixed_vat.rate_percent", "old": "19", "new": "20"}],
                "impact": {
                    "members": 2,
                    "customers": 0,
                    "resellers": 2,
                    "masked_by_override": 0,
                    "affected": 2,
                    "issued_invoices_unchanged": 0,
                    "custom_field_violations": 0,
                },
            })
        );

        // Nothing was saved.
        let after = app.get(&path, &app.admin).await;
        assert_eq!(after.body, before.body);
        assert_eq!(etag_revision(&after), 1);
        assert_eq!(numbers(&history(app, &app.admin, id).await), vec![1]);

        // The preview reads the current revision as its base.
        let saved = app.patch(&path, &app.admin, json!({"description": "edited"}), 1).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
        let preview = app
            .post(&format!("{path}/preview"), &app.admin, json!({"regular_invoices": {"due_reminder_days": []}}))
            .await;
        assert_eq!(preview.body["base_revision"], json!(2));
        assert_eq!(preview.body["diff"], json!([]));
        assert_eq!(preview.body["impact"]["members"], json!(2));
        assert_eq!(preview.body["impact"]["affected"], json!(0), "{}", preview.text);

        // Normalisation shows in the diff.
        let preview = app
            .post(
                &format!("{path}/preview"),
                &app.admin,
                json!({"regular_invoices": {"payment_terms": {"type": "net", "days": 15}, "due_reminder_days": [3, 7, 3]}}),
            )
            .await;
        assert_eq!(preview.body["valid"], json!(true), "{}", preview.text);
        assert_eq!(
            preview.body["diff"],
            json!([
                {"path": "regular_invoices.due_reminder_days", "old": [], "new": [7, 3]},
                {"path": "regular_invoices.payment_terms", "old": {"type": "due_upon_receipt"}, "new": {"type": "net", "days": 15}},
            ])
        );
        assert_eq!(app.get(&path, &app.admin).await.body["regular_invoices"]["due_reminder_days"], json!([]));
    }
}

on_both_backends! {
    async fn preview_reports_violations_with_valid_false_and_status_200(app) {
        let id = vat_class(app, &app.admin, "Business EU").await;
        let path = class_path(id);
        let other = app.class(&app.admin, json!({"name": "Taken"})).await;
        assert!(other["id"].is_i64());

        let preview = app
            .post(
                &format!("{path}/preview"),
                &app.admin,
                json!({"name": "taken", "general_info": {"rounding_precision": 9}, "regular_invoices": {"enabled": true}}),
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{} {}", app.backend, preview.text);
        assert_eq!(preview.body["valid"], json!(false));
        assert_eq!(preview.body["base_revision"], json!(1));
        for (field, code) in [
            ("name", "name_taken"),
            ("general_info.rounding_precision", "out_of_range"),
            ("regular_invoices.template_id", "required"),
        ] {
            assert!(preview.has_error(field, code), "{field} {code}: {}", preview.text);
        }
        // The same patch is refused by PATCH with the same errors.
        let refused = app
            .patch(
                &path,
                &app.admin,
                json!({"name": "taken", "general_info": {"rounding_precision": 9}, "regular_invoices": {"enabled": true}}),
                1,
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        let mut from_patch = refused.error_codes();
        let mut from_preview = preview.error_codes();
        from_patch.sort();
        from_preview.sort();
        assert_eq!(from_patch, from_preview);

        // A value of the wrong type is a violation too, not a 4xx.
        let preview = app
            .post(&format!("{path}/preview"), &app.admin, json!({"general_info": {"archive_xdrs": "yes"}}))
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
        assert_eq!(preview.body["valid"], json!(false));
        assert!(
            preview.error_codes().iter().any(|(field, _)| field == "general_info.archive_xdrs"),
            "{}",
            preview.text
        );

        // Warnings come back on a valid preview.
        let agnostic = app.class(&app.admin, json!({"name": "No currency"})).await["id"].as_i64().unwrap();
        let preview = app
            .post(
                &format!("{}/preview", class_path(agnostic)),
                &app.admin,
                json!({"regular_invoices": {"collection": {"late_fee": "5"}}}),
            )
            .await;
        assert_eq!(preview.body["valid"], json!(true), "{}", preview.text);
        assert!(
            preview.body["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == json!("currency_agnostic_amounts")),
            "{}",
            preview.text
        );

        // Nothing was saved by any of them.
        for class in [id, agnostic] {
            assert_eq!(app.get(&class_path(class), &app.admin).await.body["revision"], json!(1));
            assert_eq!(numbers(&history(app, &app.admin, class).await), vec![1]);
        }
        assert_eq!(app.get(&path, &app.admin).await.body["general_info"]["rounding_precision"], json!(2));
    }
}

on_both_backends! {
    async fn preview_counts_reseller_members_and_custom_field_violations(app) {
        let (r, r_user) = app.reseller_with_user("Alpha").await;
        let id = app.class(&r_user, json!({"name": "Alpha Retail", "currency": "EUR"})).await["id"].as_i64().unwrap();
        for name in ["Sub One", "Sub Two", "Sub Three"] {
            let member = app
                .post(
                    "/api/v1/resellers",
                    &r_user,
                    json!({"name": name, "parent_reseller_id": r, "class_id": id}),
                )
                .await;
            assert_eq!(member.status, StatusCode::CREATED, "{}", member.text);
        }
        let field = app
            .post(
                "/api/v1/custom-fields",
                &app.admin,
                json!({"key": "contract_no", "label": "Contract number", "type": "text", "mandatory": true}),
            )
            .await;
        assert_eq!(field.status, StatusCode::CREATED, "{}", field.text);
        let field_id = field.body["id"].as_i64().unwrap();

        let preview = app
            .post(
                &format!("{}/preview", class_path(id)),
                &r_user,
                json!({"custom_fields": {"enabled_field_ids": [field_id]}}),
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{} {}", app.backend, preview.text);
        let impact = &preview.body["impact"];
        assert_eq!(impact["members"], json!(3), "{}", preview.text);
        assert_eq!(impact["resellers"], json!(3));
        assert_eq!(impact["customers"], json!(0));
        assert_eq!(impact["affected"], json!(3));
        assert_eq!(impact["custom_field_violations"], json!(3));
        assert_eq!(preview.body["valid"], json!(false));
        assert!(
            preview.has_error("custom_fields.enabled_field_ids[0]", "missing_values"),
            "{}",
            preview.text
        );

        // The administrator previews the same class with the same counts.
        let preview = app
            .post(&format!("{}/preview", class_path(id)), &app.admin, json!({"description": "seen by the operator"}))
            .await;
        assert_eq!(preview.body["valid"], json!(true), "{}", preview.text);
        assert_eq!(preview.body["impact"]["resellers"], json!(3));
        assert_eq!(preview.body["impact"]["custom_field_violations"], json!(0));
    }
}

on_both_backends! {
    async fn copy_policy_from_regular_copies_the_policy_block_as_one_new_revision(app) {
        let template = app.standard_template().await;
        let id = app
            .class(
                &app.admin,
                json!({
                    "name": "Collections",
                    "currency": "EUR",
                    "regular_invoices": {
                        "enabled": true,
                        "template_id": template,
                        "email_delivery": "automatically",
                        "payment_terms": {"type": "net", "days": 30},
                        "due_reminder_days": [3, 7],
                        "auto_charge": "on_issue",
                        "auto_charge_retry_days": [3, 1],
                        "collection_threshold": "2.5",
                        "restore_on_partial_within_threshold": true,
                        "collection": {
                            "resend_after_due_days": [7, 0],
                            "late_fee": "5",
                            "limit_after_days": 5,
                            "limit_notice_days": [2],
                            "suspend_after_days": 10,
                            "suspend_notice_days": [3],
                            "reactivation_fee": "10",
                            "terminate_after_days": 30,
                            "terminate_notice_days": [7],
                        },
                    },
                }),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let path = class_path(id);
        let copy_path = format!("{path}/out-of-turn-invoices/copy-policy-from-regular");
        let before = app.get(&path, &app.admin).await.body;

        let copied = app.send(Method::POST, &copy_path, Some(&app.admin), None, Some("\"1\"")).await;
        assert_eq!(copied.status, StatusCode::OK, "{} {}", app.backend, copied.text);
        assert_eq!(etag_revision(&copied), 2);
        let oot = &copied.body["out_of_turn_invoices"];
        let regular = &copied.body["regular_invoices"];
        for key in [
            "payment_terms",
            "due_reminder_days",
            "auto_charge",
            "auto_charge_retry_days",
            "collection_threshold",
            "restore_on_partial_within_threshold",
            "collection",
        ] {
            assert_eq!(oot[key], regular[key], "{key}");
        }
        assert_eq!(oot["payment_terms"], json!({"type": "net", "days": 30}));
        assert_eq!(oot["due_reminder_days"], json!([7, 3]));
        assert_eq!(oot["collection_threshold"], json!("2.50000"));
        assert_eq!(oot["collection"]["late_fee"], json!("5.00000"));
        assert_eq!(oot["collection"]["resend_after_due_days"], json!([0, 7]));
        // The tab's own switches stay as they were.
        for key in ["enabled", "template_id", "email_delivery", "separate_recurring_fee_invoice"] {
            assert_eq!(oot[key], before["out_of_turn_invoices"][key], "{key}");
        }
        assert_eq!(copied.body["regular_invoices"], before["regular_invoices"]);

        let revisions = history(app, &app.admin, id).await;
        assert_eq!(numbers(&revisions), vec![2, 1]);
        let diff = revisions[0]["diff"].as_array().unwrap();
        assert!(!diff.is_empty());
        assert!(
            diff.iter().all(|d| d["path"].as_str().unwrap().starts_with("out_of_turn_invoices.")),
            "{diff:?}"
        );
        assert!(diff.iter().any(|d| d["path"] == json!("out_of_turn_invoices.collection.late_fee")));

        // Copying again changes nothing and adds no revision.
        let again = app.send(Method::POST, &copy_path, Some(&app.admin), None, Some("\"2\"")).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(etag_revision(&again), 2);
        assert_eq!(numbers(&history(app, &app.admin, id).await), vec![2, 1]);
        // Without If-Match it is refused.
        let bare = app.send(Method::POST, &copy_path, Some(&app.admin), None, None).await;
        assert_eq!(bare.status, StatusCode::PRECONDITION_REQUIRED, "{}", bare.text);
    }
}

on_both_backends! {
    async fn revisions_remain_readable_after_the_class_is_deleted(app) {
        let (_r, r_user) = app.reseller_with_user("Alpha").await;
        let (_q, q_user) = app.reseller_with_user("Beta").await;
        let id = vat_class(app, &r_user, "Short lived").await;
        let path = class_path(id);
        let raised = app
            .patch(&path, &r_user, json!({"taxation": {"fixed_vat": {"rate_percent": "20"}}, "change_note": "up"}), 1)
            .await;
        assert_eq!(raised.status, StatusCode::OK, "{}", raised.text);
        let before = history(app, &r_user, id).await;

        let deleted = app.delete(&path, &r_user).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
        assert_eq!(app.get(&path, &r_user).await.status, StatusCode::NOT_FOUND);

        for token in [&r_user, &app.admin] {
            let after = history(app, token, id).await;
            assert_eq!(after, before, "{}", app.backend);
            let snapshot = app.get(&format!("{path}/revisions/2"), token).await;
            assert_eq!(snapshot.status, StatusCode::OK, "{}", snapshot.text);
            assert_eq!(snapshot.body["snapshot"]["name"], json!("Short lived"));
            assert_eq!(snapshot.body["snapshot"]["taxation"]["fixed_vat"]["rate_percent"], json!("20"));
            assert_eq!(snapshot.body["change_note"], json!("up"));
        }
        // Still invisible to another reseller.
        assert_eq!(
            app.get(&format!("{path}/revisions"), &q_user).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get(&format!("{path}/revisions/1"), &q_user).await.status,
            StatusCode::NOT_FOUND
        );
        // A class that never existed has no history.
        assert_eq!(
            app.get(&format!("{CLASSES}/987654/revisions"), &app.admin).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

on_both_backends! {
    async fn concurrent_writes_from_the_same_revision_let_exactly_one_win(app) {
        let id = vat_class(app, &app.admin, "Contended").await;
        let path = class_path(id);
        let write = |n: i64| app.patch(&path, &app.admin, json!({"description": format!("writer {n}")}), 1);
        let (a, b, c, d, e, f) = tokio::join!(write(0), write(1), write(2), write(3), write(4), write(5));
        let answers = [a, b, c, d, e, f];
        let won: Vec<&Answer> = answers.iter().filter(|a| a.status == StatusCode::OK).collect();
        let lost = answers.iter().filter(|a| a.status == StatusCode::CONFLICT).count();
        assert_eq!(won.len(), 1, "{} {:?}", app.backend, answers.iter().map(|a| &a.text).collect::<Vec<_>>());
        assert_eq!(lost, 5);
        for answer in answers.iter().filter(|a| a.status == StatusCode::CONFLICT) {
            assert_eq!(answer.body["code"], json!("stale_revision"), "{}", answer.text);
        }
        let stored = app.get(&path, &app.admin).await;
        assert_eq!(stored.body["revision"], json!(2));
        assert_eq!(stored.body["description"], won[0].body["description"]);
        assert_eq!(numbers(&history(app, &app.admin, id).await), vec![2, 1]);
    }
}

on_both_backends! {
    async fn a_merge_patch_may_be_sent_as_application_merge_patch_json(app) {
        let id = vat_class(app, &app.admin, "Typed").await;
        let response = app
            .raw(Method::PATCH, &class_path(id))
            .bearer_auth(&app.admin)
            .header("content-type", "application/merge-patch+json")
            .header("if-match", "\"1\"")
            .body(r#"{"taxation": {"fixed_vat": {"rate_percent": "20"}}, "change_note": "typed"}"#)
            .send()
            .await
            .expect("request sent");
        let answer = TestApp::read(response).await;
        assert_eq!(answer.status, StatusCode::OK, "{} {}", app.backend, answer.text);
        assert_eq!(etag_revision(&answer), 2);
        assert_eq!(answer.body["taxation"]["fixed_vat"]["rate_percent"], json!("20"));
        assert_eq!(history(app, &app.admin, id).await[0]["change_note"], json!("typed"));
    }
}
