//! §2.0: the stored defaults, and the write semantics of POST, PUT and PATCH (currency once, PUT defaults,
//! merge patches, tagged objects, list normalisation).

use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::on_both_backends;

on_both_backends! {
    async fn defaults_of_section_2_0(app) {
        let answer = create(app, &app.admin, json!({"name": "X"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.etag().as_deref(), Some("\"1\""));

        let mut expected = json!({
            "revision": 1, "is_default": false, "member_count": 0,
            "name": "X", "managed_by": {"type": "administrator"}, "business_model": "universal",
            "currency": null, "description": "", "notification_sender": {"name": null, "address": null},
            "general_info": {"archive_xdrs": true, "statistics_email": "none", "billed_externally": false,
                "reset_balance_each_period": false, "hide_reset_xdr": false, "rounding_precision": 2,
                "rounding_method": "away_from_zero",
                "period_closure": {"mode": "after_delay", "extra_delay_hours": 0}},
            "regular_invoices": {"enabled": false, "template_id": null, "pdf_generation": "end_of_period",
                "email_delivery": "never", "review_hold_days": null, "payment_terms": {"type": "due_upon_receipt"},
                "due_reminder_days": [], "auto_charge": "off", "auto_charge_retry_days": [],
                "collection_threshold": null, "restore_on_partial_within_threshold": false,
                "collection": {"resend_after_due_days": [], "late_fee": null, "limit_after_days": null,
                    "limit_notice_days": [], "suspend_after_days": null, "suspend_notice_days": [],
                    "reactivation_fee": null, "terminate_after_days": null, "terminate_notice_days": []}},
            "out_of_turn_invoices": {"enabled": false, "template_id": null, "email_delivery": "never",
                "separate_recurring_fee_invoice": false, "payment_terms": {"type": "due_upon_receipt"},
                "due_reminder_days": [], "auto_charge": "off", "auto_charge_retry_days": [],
                "collection_threshold": null, "restore_on_partial_within_threshold": false,
                "collection": {"resend_after_due_days": [], "late_fee": null, "limit_after_days": null,
                    "limit_notice_days": [], "suspend_after_days": null, "suspend_notice_days": [],
                    "reactivation_fee": null, "terminate_after_days": null, "terminate_notice_days": []}},
            "taxation": {"method": "none", "tax_timing": "end_of_period", "fixed_vat": null, "custom_tax_ids": [],
                "generic_vat": null, "external": null},
            "measured_services": {"metrics": []},
            "notifications": {"notification_set_id": null, "events": {
                "invoice_issued": {"email": null, "sms": false, "webhook": false},
                "oot_invoice_issued": {"email": null, "sms": false, "webhook": false},
                "invoice_due_soon": {"email": true, "sms": false, "webhook": false},
                "invoice_resent": {"email": null, "sms": false, "webhook": false},
                "invoice_overdue": {"email": true, "sms": false, "webhook": false},
                "late_fee_applied": {"email": true, "sms": false, "webhook": false},
                "limitation_upcoming": {"email": true, "sms": false, "webhook": false},
                "service_limited": {"email": true, "sms": false, "webhook": false},
                "suspension_upcoming": {"email": true, "sms": false, "webhook": false},
                "service_suspended": {"email": true, "sms": false, "webhook": false},
                "service_restored": {"email": true, "sms": false, "webhook": false},
                "termination_upcoming": {"email": true, "sms": false, "webhook": false},
                "customer_terminated": {"email": true, "sms": false, "webhook": false},
                "payment_received": {"email": false, "sms": false, "webhook": false},
                "auto_charge_failed": {"email": true, "sms": false, "webhook": false},
                "statistics_ready": {"email": null, "sms": false, "webhook": false}}},
            "custom_fields": {"enabled_field_ids": []},
            "warnings": []
        });

        let mut created = answer.body.clone();
        let map = created.as_object_mut().expect("an object");
        let id = map.remove("id").and_then(|id| id.as_i64()).expect("an integer id");
        assert!(id > 0);
        for key in ["created_at", "updated_at"] {
            let instant = map.remove(key).expect(key);
            let text = instant.as_str().expect("an instant string");
            assert!(text.ends_with('Z'), "{key} printed in UTC: {text}");
            assert!(text.parse::<jiff::Timestamp>().is_ok(), "{key} is RFC 3339: {text}");
        }
        assert_eq!(created, expected);

        // The same document reads back, with the same ETag and without warnings.
        let read = app.get(&class_path(id), &app.admin).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        assert_eq!(read.etag().as_deref(), Some("\"1\""));
        expected.as_object_mut().expect("an object").remove("warnings");
        let mut stored = read.body.clone();
        for key in ["id", "created_at", "updated_at"] {
            stored.as_object_mut().expect("an object").remove(key);
        }
        assert_eq!(stored, expected);
        assert_eq!(editable_part(&read.body), default_document("X"));
    }
}

on_both_backends! {
    async fn currency_is_set_at_creation_and_never_changes(app) {
        let created = app.class(&app.admin, json!({"name": "Euro", "currency": "EUR"})).await;
        let id = id_of(&created);
        assert_eq!(created["currency"], json!("EUR"));

        for currency in [json!("USD"), json!(null)] {
            let answer = patch_current(app, &app.admin, id, json!({"currency": currency})).await;
            assert_only_violation(
                &answer,
                "currency",
                "immutable",
                Some("currency cannot be changed after creation"),
            );
        }
        // Other edits keep it.
        let answer = patch_current(app, &app.admin, id, json!({"description": "retail"})).await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["currency"], json!("EUR"));

        // A class created without currency cannot get one later.
        let plain = app.class(&app.admin, json!({"name": "Plain"})).await;
        let answer = patch_current(app, &app.admin, id_of(&plain), json!({"currency": "EUR"})).await;
        assert_only_violation(&answer, "currency", "immutable", Some("currency cannot be changed after creation"));
        assert_eq!(read(app, &app.admin, id_of(&plain)).await["currency"], json!(null));
    }
}

on_both_backends! {
    async fn put_keeps_currency_and_owner_and_resets_omitted_keys(app) {
        let reseller = app.reseller("Alpha", None).await;
        let owner = json!({"type": "reseller", "reseller_id": reseller});
        let created = app
            .class(
                &app.admin,
                json!({"name": "Full", "currency": "EUR", "managed_by": owner, "description": "before",
                    "business_model": "mobile",
                    "general_info": {"rounding_precision": 3, "statistics_email": "summary"},
                    "regular_invoices": {"payment_terms": {"type": "net", "days": 30}, "due_reminder_days": [5]},
                    "notifications": {"events": {"payment_received": {"email": true, "sms": true}}}}),
            )
            .await;
        let id = id_of(&created);
        assert_eq!(created["general_info"]["rounding_precision"], json!(3));

        let answer = app.put(&class_path(id), &app.admin, json!({"name": "Full again"}), 1).await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.etag().as_deref(), Some("\"2\""));
        assert_eq!(revision_of(&answer.body), 2);
        assert_eq!(answer.body["warnings"], json!([]));
        let mut expected = default_document("Full again");
        expected["currency"] = json!("EUR");
        expected["managed_by"] = owner.clone();
        assert_eq!(editable_part(&answer.body), expected);
        assert_eq!(editable_part(&read(app, &app.admin, id).await), expected);

        // Naming them explicitly with other values is refused.
        let answer = app
            .put(&class_path(id), &app.admin, json!({"name": "Full again", "currency": "USD"}), 2)
            .await;
        assert_only_violation(&answer, "currency", "immutable", None);
        let answer = app
            .put(
                &class_path(id),
                &app.admin,
                json!({"name": "Full again", "managed_by": {"type": "administrator"}}),
                2,
            )
            .await;
        assert_only_violation(
            &answer,
            "managed_by",
            "immutable",
            Some("the owner of a class cannot be changed"),
        );
        // Read-only keys in a body are ignored.
        let answer = app
            .put(
                &class_path(id),
                &app.admin,
                json!({"name": "Full again", "id": 999, "revision": 77, "is_default": true, "member_count": 5,
                    "currency": "EUR", "managed_by": owner}),
                2,
            )
            .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(id_of(&answer.body), id);
        assert_eq!(revision_of(&answer.body), 2, "nothing changed, so no new revision");
        assert_eq!(answer.body["is_default"], json!(false));
    }
}

on_both_backends! {
    async fn patch_accepts_merge_patch_json_and_plain_json(app) {
        let created = app
            .class(&app.admin, json!({"name": "Patchy", "description": "one",
                "regular_invoices": {"payment_terms": {"type": "net", "days": 14}}}))
            .await;
        let id = id_of(&created);

        let merge = patch_as(app, id, "application/merge-patch+json", &json!({"description": "two"}), 1).await;
        assert_accepted(&merge, StatusCode::OK);
        assert_eq!(merge.etag().as_deref(), Some("\"2\""));
        assert_eq!(merge.body["description"], json!("two"));
        // Untouched keys keep their values.
        assert_eq!(merge.body["regular_invoices"]["payment_terms"], json!({"type": "net", "days": 14}));
        assert_eq!(merge.body["warnings"], json!([]));

        let plain = patch_as(app, id, "application/json", &json!({"business_model": "pinless"}), 2).await;
        assert_accepted(&plain, StatusCode::OK);
        assert_eq!(revision_of(&plain.body), 3);
        assert_eq!(plain.body["business_model"], json!("pinless"));
        assert_eq!(plain.body["description"], json!("two"));

        // `null` removes a key, which then takes its default.
        let removed = patch_as(app, id, "application/merge-patch+json", &json!({"description": null}), 3).await;
        assert_accepted(&removed, StatusCode::OK);
        assert_eq!(removed.body["description"], json!(""));

        let stored = read(app, &app.admin, id).await;
        assert_eq!(revision_of(&stored), 4);
        assert_eq!(stored["business_model"], json!("pinless"));
    }
}

on_both_backends! {
    async fn payment_terms_switching_to_due_upon_receipt_drops_days(app) {
        let created = app
            .class(&app.admin, json!({"name": "Terms",
                "out_of_turn_invoices": {"payment_terms": {"type": "net", "days": 20}},
                "regular_invoices": {"payment_terms": {"type": "net", "days": 15}}}))
            .await;
        let id = id_of(&created);
        assert_eq!(created["regular_invoices"]["payment_terms"], json!({"type": "net", "days": 15}));

        let answer = patch_current(
            app,
            &app.admin,
            id,
            json!({"regular_invoices": {"payment_terms": {"type": "due_upon_receipt"}}}),
        )
        .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["regular_invoices"]["payment_terms"], json!({"type": "due_upon_receipt"}));
        assert_eq!(answer.body["out_of_turn_invoices"]["payment_terms"], json!({"type": "net", "days": 20}));
        let stored = read(app, &app.admin, id).await;
        assert_eq!(stored["regular_invoices"]["payment_terms"], json!({"type": "due_upon_receipt"}));

        // And back to net: days are required again.
        let answer = patch_current(app, &app.admin, id, json!({"regular_invoices": {"payment_terms": {"type": "net"}}}))
            .await;
        assert_only_violation(&answer, "regular_invoices.payment_terms.days", "required", None);
        let answer = patch_current(
            app,
            &app.admin,
            id,
            json!({"regular_invoices": {"payment_terms": {"type": "net", "days": 10}}}),
        )
        .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["regular_invoices"]["payment_terms"], json!({"type": "net", "days": 10}));
    }
}

on_both_backends! {
    async fn day_lists_are_normalised_and_errors_index_the_submitted_list(app) {
        let created = app
            .class(&app.admin, json!({"name": "Lists",
                "regular_invoices": {
                    "payment_terms": {"type": "net", "days": 10},
                    "due_reminder_days": [3, 7, 3, 1, 7],
                    "auto_charge": "on_due_date",
                    "auto_charge_retry_days": [5, 1, 5, 3],
                    "collection": {"resend_after_due_days": [7, 0, 7, 3],
                        "limit_after_days": 5, "limit_notice_days": [1, 4, 2, 4],
                        "suspend_after_days": 10, "suspend_notice_days": [1, 3, 2, 3],
                        "terminate_after_days": 40, "terminate_notice_days": [10, 30, 10]}}}))
            .await;
        let regular = &created["regular_invoices"];
        assert_eq!(regular["due_reminder_days"], json!([7, 3, 1]));
        assert_eq!(regular["auto_charge_retry_days"], json!([1, 3, 5]));
        assert_eq!(regular["collection"]["resend_after_due_days"], json!([0, 3, 7]));
        assert_eq!(regular["collection"]["limit_notice_days"], json!([4, 2, 1]));
        assert_eq!(regular["collection"]["suspend_notice_days"], json!([3, 2, 1]));
        assert_eq!(regular["collection"]["terminate_notice_days"], json!([30, 10]));
        let stored = read(app, &app.admin, id_of(&created)).await;
        assert_eq!(stored["regular_invoices"], created["regular_invoices"]);

        // Indexes in errors are those of the list as sent, not as it would be stored.
        let answer = create(app, &app.admin, json!({"name": "Lists 2",
            "regular_invoices": {"payment_terms": {"type": "net", "days": 10},
                "due_reminder_days": [1, 1, 400, 2],
                "collection": {"resend_after_due_days": [3, 3, 400]}}}))
            .await;
        assert_violation(&answer, "regular_invoices.due_reminder_days[2]", "out_of_range", None);
        assert_violation(
            &answer,
            "regular_invoices.collection.resend_after_due_days[2]",
            "out_of_range",
            Some("must be between 0 and 365"),
        );
        assert_eq!(answer.error_codes().len(), 2, "{}", answer.text);

        // Ten distinct days (duplicates not counted) are fine; eleven are too many.
        let ten = json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 9]);
        let answer = create(app, &app.admin, json!({"name": "Ten",
            "regular_invoices": {"collection": {"resend_after_due_days": ten}}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            answer.body["regular_invoices"]["collection"]["resend_after_due_days"],
            json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        );
        let answer = create(app, &app.admin, json!({"name": "Eleven",
            "regular_invoices": {"collection": {"resend_after_due_days": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}}}))
            .await;
        assert_only_violation(&answer, "regular_invoices.collection.resend_after_due_days", "too_many", None);
    }
}

on_both_backends! {
    async fn read_only_keys_are_ignored_and_a_read_document_can_be_written_back(app) {
        let answer = create(app, &app.admin, json!({"name": "Y", "id": 1, "revision": 9, "is_default": true,
            "member_count": 3, "created_at": "2020-01-01T00:00:00Z", "warnings": [{"field": "x"}],
            "change_note": "first version"}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(revision_of(&answer.body), 1);
        assert_eq!(answer.body["is_default"], json!(false));
        assert_eq!(answer.body["member_count"], json!(0));
        assert_ne!(answer.body["created_at"], json!("2020-01-01T00:00:00Z"));
        assert!(answer.body.get("change_note").is_none(), "the note belongs to the revision: {}", answer.text);
        let id = id_of(&answer.body);
        assert_ne!(id, 1);

        // A document as read, sent back whole, is no change.
        let current = read(app, &app.admin, id).await;
        let answer = app.put(&class_path(id), &app.admin, current.clone(), 1).await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(revision_of(&answer.body), 1);
        assert_eq!(editable_part(&answer.body), editable_part(&current));

        // The change note has a limit of 500 characters.
        let answer = app
            .patch(&class_path(id), &app.admin, json!({"description": "d", "change_note": "n".repeat(501)}), 1)
            .await;
        assert_only_violation(&answer, "change_note", "out_of_range", None);
        let answer = app
            .patch(&class_path(id), &app.admin, json!({"description": "d", "change_note": "n".repeat(500)}), 1)
            .await;
        assert_accepted(&answer, StatusCode::OK);
        assert!(answer.body.get("change_note").is_none(), "{}", answer.text);
    }
}
