//! `general_info` rules V8, V26–V28 and the invoice-tab rules V9–V20 (§2.2–§2.5, §3).

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::on_both_backends;

/// A class body named `name` with one tab (or section) replaced.
fn with(name: &str, key: &str, section: Value) -> Value {
    let mut body = json!({"name": name});
    body[key] = section;
    body
}

on_both_backends! {
    async fn v8_statistics_email_needs_archived_xdrs(app) {
        let answer = create(app, &app.admin, with("Stats", "general_info",
            json!({"archive_xdrs": false, "statistics_email": "full"})))
            .await;
        assert_only_violation(
            &answer,
            "general_info.statistics_email",
            "requires_statistics",
            Some("statistics e-mail needs general_info.archive_xdrs"),
        );
        let answer = create(app, &app.admin, with("Stats", "general_info",
            json!({"archive_xdrs": false, "statistics_email": "none"})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        // Switching statistics off later while the e-mail is on is the same violation.
        let mailed = with("Stats 2", "general_info", json!({"statistics_email": "summary"}));
        let id = id_of(&app.class(&app.admin, mailed).await);
        let answer = patch_current(app, &app.admin, id, json!({"general_info": {"archive_xdrs": false}})).await;
        assert_only_violation(&answer, "general_info.statistics_email", "requires_statistics", None);
    }
}

on_both_backends! {
    async fn v9_regular_invoices_need_archived_xdrs(app) {
        let template = app.standard_template().await;
        let answer = create(app, &app.admin, json!({"name": "No stats",
            "general_info": {"archive_xdrs": false},
            "regular_invoices": {"enabled": true, "template_id": template}}))
            .await;
        assert_only_violation(
            &answer,
            "regular_invoices.enabled",
            "requires_statistics",
            Some("regular invoices need general_info.archive_xdrs = true"),
        );
        // Out-of-turn invoices do not need statistics.
        let answer = create(app, &app.admin, json!({"name": "No stats",
            "general_info": {"archive_xdrs": false},
            "out_of_turn_invoices": {"enabled": true, "template_id": template}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
    }
}

on_both_backends! {
    async fn v10_enabled_invoice_tab_needs_a_template(app) {
        let answer = create(app, &app.admin, json!({"name": "Bare", "regular_invoices": {"enabled": true}})).await;
        assert_only_violation(
            &answer,
            "regular_invoices.template_id",
            "required",
            Some("a template is required while invoices are enabled"),
        );
        let answer = create(app, &app.admin, json!({"name": "Bare", "out_of_turn_invoices": {"enabled": true}})).await;
        assert_only_violation(
            &answer,
            "out_of_turn_invoices.template_id",
            "required",
            Some("a template is required while invoices are enabled"),
        );

        // Enabling later without a template, and removing the template of an enabled tab.
        let id = id_of(&app.class(&app.admin, json!({"name": "Bare"})).await);
        let answer = patch_current(app, &app.admin, id, json!({"regular_invoices": {"enabled": true}})).await;
        assert_only_violation(&answer, "regular_invoices.template_id", "required", None);
        let template = app.standard_template().await;
        let answer = patch_current(app, &app.admin, id,
            json!({"regular_invoices": {"enabled": true, "template_id": template}}))
            .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["regular_invoices"]["template_id"], json!(template));
        let answer = patch_current(app, &app.admin, id, json!({"regular_invoices": {"template_id": null}})).await;
        assert_only_violation(&answer, "regular_invoices.template_id", "required", None);
    }
}

on_both_backends! {
    async fn v11_review_hold_needs_after_review_and_1_to_60_days(app) {
        let answer = create(app, &app.admin, with("Review", "regular_invoices", json!({"review_hold_days": 5}))).await;
        assert_only_violation(
            &answer,
            "regular_invoices.review_hold_days",
            "requires_review",
            Some("hold for review needs email_delivery = after_review"),
        );
        for days in [0, 61] {
            let answer = create(app, &app.admin, with("Review", "regular_invoices",
                json!({"email_delivery": "after_review", "review_hold_days": days})))
                .await;
            assert_only_violation(&answer, "regular_invoices.review_hold_days", "out_of_range", None);
        }
        for days in [1, 60] {
            let answer = create(app, &app.admin, with(&format!("Review {days}"), "regular_invoices",
                json!({"email_delivery": "after_review", "review_hold_days": days,
                    "payment_terms": {"type": "net", "days": 90}})))
                .await;
            assert_accepted(&answer, StatusCode::CREATED);
            assert_eq!(answer.body["regular_invoices"]["review_hold_days"], json!(days));
        }
        // Out-of-turn invoices have no review mode at all.
        let answer = create(app, &app.admin, with("Review", "out_of_turn_invoices",
            json!({"email_delivery": "after_review"})))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert_eq!(answer.error_codes().len(), 1, "{}", answer.text);
        assert_eq!(answer.error_codes()[0].0, "out_of_turn_invoices.email_delivery");
    }
}

on_both_backends! {
    async fn v12_net_terms_are_1_to_365_days(app) {
        for tab in ["regular_invoices", "out_of_turn_invoices"] {
            for days in [0, 366, -5] {
                let answer = create(app, &app.admin, with("Terms", tab,
                    json!({"payment_terms": {"type": "net", "days": days}})))
                    .await;
                assert_only_violation(
                    &answer,
                    &format!("{tab}.payment_terms.days"),
                    "out_of_range",
                    Some("must be between 1 and 365"),
                );
            }
            for days in [1, 365] {
                let answer = create(app, &app.admin, with(&format!("Terms {tab} {days}"), tab,
                    json!({"payment_terms": {"type": "net", "days": days}})))
                    .await;
                assert_accepted(&answer, StatusCode::CREATED);
                assert_eq!(answer.body[tab]["payment_terms"], json!({"type": "net", "days": days}));
            }
        }
    }
}

on_both_backends! {
    async fn v13_reminders_come_before_the_due_date(app) {
        let answer = create(app, &app.admin, with("Remind", "regular_invoices",
            json!({"payment_terms": {"type": "net", "days": 15}, "due_reminder_days": [3, 15]})))
            .await;
        assert_only_violation(
            &answer,
            "regular_invoices.due_reminder_days[1]",
            "reminder_after_due",
            Some("reminder 15 days before the due date is not possible with net 15"),
        );
        // Due upon receipt leaves no room for reminders.
        let answer = create(app, &app.admin, with("Remind", "out_of_turn_invoices", json!({"due_reminder_days": [0]})))
            .await;
        assert_only_violation(&answer, "out_of_turn_invoices.due_reminder_days[0]", "reminder_after_due", None);
        // 0–364 only.
        let answer = create(app, &app.admin, with("Remind", "regular_invoices",
            json!({"payment_terms": {"type": "net", "days": 365}, "due_reminder_days": [365, -1]})))
            .await;
        assert_violation(&answer, "regular_invoices.due_reminder_days[0]", "out_of_range", None);
        assert_violation(&answer, "regular_invoices.due_reminder_days[1]", "out_of_range", None);
        // At most ten.
        let answer = create(app, &app.admin, with("Remind", "regular_invoices",
            json!({"payment_terms": {"type": "net", "days": 30},
                "due_reminder_days": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]})))
            .await;
        assert_only_violation(&answer, "regular_invoices.due_reminder_days", "too_many", None);

        let answer = create(app, &app.admin, with("Remind", "regular_invoices",
            json!({"payment_terms": {"type": "net", "days": 15}, "due_reminder_days": [0, 14, 7]})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["regular_invoices"]["due_reminder_days"], json!([14, 7, 0]));
        // Shortening the terms later makes a stored reminder impossible.
        let answer = patch_current(app, &app.admin, id_of(&answer.body),
            json!({"regular_invoices": {"payment_terms": {"type": "net", "days": 7}}}))
            .await;
        assert_violation(
            &answer,
            "regular_invoices.due_reminder_days[0]",
            "reminder_after_due",
            Some("reminder 14 days before the due date is not possible with net 7"),
        );
        assert_violation(&answer, "regular_invoices.due_reminder_days[1]", "reminder_after_due", None);
        assert_eq!(answer.error_codes().len(), 2, "{}", answer.text);
    }
}

on_both_backends! {
    async fn v14_charge_retries_need_auto_charge(app) {
        let answer = create(app, &app.admin, with("Retry", "regular_invoices", json!({"auto_charge_retry_days": [2]})))
            .await;
        assert_only_violation(
            &answer,
            "regular_invoices.auto_charge_retry_days",
            "requires_auto_charge",
            Some("retries need auto_charge"),
        );
        let answer = create(app, &app.admin, with("Retry", "out_of_turn_invoices",
            json!({"auto_charge": "on_issue", "auto_charge_retry_days": [0, 366]})))
            .await;
        assert_violation(&answer, "out_of_turn_invoices.auto_charge_retry_days[0]", "out_of_range", None);
        assert_violation(&answer, "out_of_turn_invoices.auto_charge_retry_days[1]", "out_of_range", None);
        assert_eq!(answer.error_codes().len(), 2, "{}", answer.text);
        let answer = create(app, &app.admin, with("Retry", "out_of_turn_invoices",
            json!({"auto_charge": "on_issue", "auto_charge_retry_days": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]})))
            .await;
        assert_only_violation(&answer, "out_of_turn_invoices.auto_charge_retry_days", "too_many", None);
        let answer = create(app, &app.admin, with("Retry", "out_of_turn_invoices",
            json!({"auto_charge": "on_due_date", "auto_charge_retry_days": [365, 1]})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["out_of_turn_invoices"]["auto_charge_retry_days"], json!([1, 365]));
    }
}

on_both_backends! {
    async fn v15_threshold_is_positive_and_restoring_needs_it(app) {
        for amount in ["0", "-1", "1.123456"] {
            let answer = create(app, &app.admin, with("Threshold", "regular_invoices",
                json!({"collection_threshold": amount})))
                .await;
            assert_only_violation(&answer, "regular_invoices.collection_threshold", "out_of_range", None);
        }
        let answer = create(app, &app.admin, with("Threshold", "out_of_turn_invoices",
            json!({"restore_on_partial_within_threshold": true})))
            .await;
        assert_only_violation(
            &answer,
            "out_of_turn_invoices.restore_on_partial_within_threshold",
            "requires_threshold",
            Some("restoring after a partial payment needs a collection threshold"),
        );
        let answer = create(app, &app.admin, json!({"name": "Threshold", "currency": "EUR",
            "out_of_turn_invoices": {"collection_threshold": "0.00001", "restore_on_partial_within_threshold": true}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["out_of_turn_invoices"]["collection_threshold"], json!("0.00001"));
    }
}

on_both_backends! {
    async fn v16_collection_steps_are_in_range_and_in_order(app) {
        let collection = |steps: Value| with("Ladder", "regular_invoices", json!({"collection": steps}));
        let answer = create(app, &app.admin, collection(json!({"limit_after_days": 7, "suspend_after_days": 5}))).await;
        assert_only_violation(
            &answer,
            "regular_invoices.collection.suspend_after_days",
            "step_order",
            Some("suspension (5) must not come before limitation (7)"),
        );
        let answer = create(app, &app.admin, collection(json!({"suspend_after_days": 10, "terminate_after_days": 9})))
            .await;
        assert_only_violation(
            &answer,
            "regular_invoices.collection.terminate_after_days",
            "step_order",
            Some("termination (9) must not come before suspension (10)"),
        );
        // Limitation and termination without suspension are compared too.
        let answer = create(app, &app.admin, collection(json!({"limit_after_days": 10, "terminate_after_days": 5})))
            .await;
        assert_only_violation(
            &answer,
            "regular_invoices.collection.terminate_after_days",
            "step_order",
            Some("termination (5) must not come before limitation (10)"),
        );
        // Ranges: 1–365 for limitation and suspension, 1–3650 for termination.
        let answer = create(app, &app.admin, collection(json!({"limit_after_days": 0, "suspend_after_days": 366,
            "terminate_after_days": 3651})))
            .await;
        assert_violation(&answer, "regular_invoices.collection.limit_after_days", "out_of_range", None);
        assert_violation(&answer, "regular_invoices.collection.suspend_after_days", "out_of_range", None);
        assert_violation(&answer, "regular_invoices.collection.terminate_after_days", "out_of_range", None);
        assert_eq!(answer.error_codes().len(), 3, "{}", answer.text);

        // Equal days and the outer bounds are allowed.
        let answer = create(app, &app.admin, json!({"name": "Ladder", "out_of_turn_invoices": {"collection":
            {"limit_after_days": 365, "suspend_after_days": 365, "terminate_after_days": 3650}}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["out_of_turn_invoices"]["collection"]["terminate_after_days"], json!(3650));
    }
}

on_both_backends! {
    async fn v17_notices_need_their_step_and_fall_inside_it(app) {
        let collection = |steps: Value| with("Notices", "regular_invoices", json!({"collection": steps}));
        let answer = create(app, &app.admin,
            collection(json!({"suspend_after_days": 10, "suspend_notice_days": [3, 10]})))
            .await;
        assert_only_violation(
            &answer,
            "regular_invoices.collection.suspend_notice_days[1]",
            "notice_out_of_range",
            Some("notice 10 days ahead is not possible with suspension after 10 days"),
        );
        let answer = create(app, &app.admin, collection(json!({"limit_after_days": 5, "limit_notice_days": [0]})))
            .await;
        assert_only_violation(&answer, "regular_invoices.collection.limit_notice_days[0]", "notice_out_of_range", None);
        let answer = create(app, &app.admin, collection(json!({"terminate_notice_days": [7]}))).await;
        assert_only_violation(&answer, "regular_invoices.collection.terminate_notice_days", "requires_step", None);
        let answer = create(app, &app.admin, collection(json!({"terminate_after_days": 100,
            "terminate_notice_days": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]})))
            .await;
        assert_only_violation(&answer, "regular_invoices.collection.terminate_notice_days", "too_many", None);

        let answer = create(app, &app.admin,
            collection(json!({"suspend_after_days": 10, "suspend_notice_days": [1, 9]})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["regular_invoices"]["collection"]["suspend_notice_days"], json!([9, 1]));
    }
}

on_both_backends! {
    async fn v18_resend_days_are_0_to_365(app) {
        let answer = create(app, &app.admin, with("Resend", "out_of_turn_invoices",
            json!({"collection": {"resend_after_due_days": [1, 366, -1]}})))
            .await;
        assert_violation(
            &answer,
            "out_of_turn_invoices.collection.resend_after_due_days[1]",
            "out_of_range",
            Some("must be between 0 and 365"),
        );
        assert_violation(
            &answer,
            "out_of_turn_invoices.collection.resend_after_due_days[2]",
            "out_of_range",
            Some("must be between 0 and 365"),
        );
        assert_eq!(answer.error_codes().len(), 2, "{}", answer.text);
        let answer = create(app, &app.admin, with("Resend", "out_of_turn_invoices",
            json!({"collection": {"resend_after_due_days": [365, 0]}})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["out_of_turn_invoices"]["collection"]["resend_after_due_days"], json!([0, 365]));
    }
}

on_both_backends! {
    async fn v19_fees_are_positive_and_reactivation_needs_suspension(app) {
        let answer = create(app, &app.admin, json!({"name": "Fees", "currency": "EUR",
            "regular_invoices": {"collection": {"reactivation_fee": "5"}}}))
            .await;
        assert_only_violation(
            &answer,
            "regular_invoices.collection.reactivation_fee",
            "requires_suspension",
            Some("a reactivation fee needs suspend_after_days"),
        );
        let answer = create(app, &app.admin, json!({"name": "Fees", "currency": "EUR",
            "regular_invoices": {"collection": {"late_fee": "0", "suspend_after_days": 5, "reactivation_fee": "-2"}}}))
            .await;
        assert_violation(&answer, "regular_invoices.collection.late_fee", "out_of_range", None);
        assert_violation(&answer, "regular_invoices.collection.reactivation_fee", "out_of_range", None);
        assert_eq!(answer.error_codes().len(), 2, "{}", answer.text);
        let answer = create(app, &app.admin, json!({"name": "Fees", "currency": "EUR",
            "regular_invoices": {"collection": {"late_fee": "2.5", "suspend_after_days": 5,
                "reactivation_fee": "10"}}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["regular_invoices"]["collection"]["late_fee"], json!("2.50000"));
        assert_eq!(answer.body["regular_invoices"]["collection"]["reactivation_fee"], json!("10.00000"));
    }
}

on_both_backends! {
    async fn v20_separate_recurring_fee_invoice_prerequisites(app) {
        let answer = create(app, &app.admin, with("Separate", "out_of_turn_invoices",
            json!({"separate_recurring_fee_invoice": true})))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        let field = "out_of_turn_invoices.separate_recurring_fee_invoice";
        let prerequisites: Vec<String> = errors_of(&answer)
            .iter()
            .filter(|e| e["field"] == json!(field) && e["code"] == json!("prerequisite_missing"))
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        // OOT enabled, regular invoices enabled, OOT net terms, OOT auto charge: one error each.
        assert_eq!(prerequisites.len(), 4, "{}", answer.text);
        assert!(prerequisites.contains(&"needs out_of_turn_invoices.payment_terms of type net".to_owned()));
        assert_eq!(answer.error_codes().len(), 4, "{}", answer.text);

        let template = app.standard_template().await;
        let complete = json!({"name": "Separate",
            "regular_invoices": {"enabled": true, "template_id": template},
            "out_of_turn_invoices": {"enabled": true, "template_id": template, "separate_recurring_fee_invoice": true,
                "payment_terms": {"type": "net", "days": 7}, "auto_charge": "on_issue"}});
        // Each prerequisite alone is enough to fail.
        let mut without_net = complete.clone();
        without_net["out_of_turn_invoices"]["payment_terms"] = json!({"type": "due_upon_receipt"});
        let answer = create(app, &app.admin, without_net).await;
        assert_only_violation(
            &answer,
            field,
            "prerequisite_missing",
            Some("needs out_of_turn_invoices.payment_terms of type net"),
        );
        let mut without_regular = complete.clone();
        without_regular["regular_invoices"]["enabled"] = json!(false);
        let answer = create(app, &app.admin, without_regular).await;
        assert_only_violation(&answer, field, "prerequisite_missing", None);

        let answer = create(app, &app.admin, complete).await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["out_of_turn_invoices"]["separate_recurring_fee_invoice"], json!(true));
    }
}

on_both_backends! {
    async fn v26_rounding_precision_is_0_to_5_and_method_one_of_three(app) {
        for precision in [6, -1] {
            let answer = create(app, &app.admin,
                with("Round", "general_info", json!({"rounding_precision": precision})))
                .await;
            assert_only_violation(
                &answer,
                "general_info.rounding_precision",
                "out_of_range",
                Some("must be between 0 and 5"),
            );
        }
        let answer = create(app, &app.admin, with("Round", "general_info", json!({"rounding_method": "bankers"})))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert_eq!(answer.error_codes().len(), 1, "{}", answer.text);
        assert!(answer.has_error("general_info.rounding_method", "out_of_range"), "{}", answer.text);

        for (precision, method) in [(0, "special"), (5, "half_away_from_zero")] {
            let answer = create(app, &app.admin, with(&format!("Round {precision}"), "general_info",
                json!({"rounding_precision": precision, "rounding_method": method})))
                .await;
            assert_accepted(&answer, StatusCode::CREATED);
            assert_eq!(answer.body["general_info"]["rounding_precision"], json!(precision));
            assert_eq!(answer.body["general_info"]["rounding_method"], json!(method));
        }
    }
}

on_both_backends! {
    async fn v27_extra_delay_is_0_to_168_hours_and_not_with_upon_approval(app) {
        let answer = create(app, &app.admin, with("Close", "general_info",
            json!({"period_closure": {"mode": "upon_approval", "extra_delay_hours": 5}})))
            .await;
        assert_only_violation(
            &answer,
            "general_info.period_closure.extra_delay_hours",
            "not_applicable",
            Some("a delay cannot be combined with upon_approval"),
        );
        for hours in [169, -1] {
            let answer = create(app, &app.admin, with("Close", "general_info",
                json!({"period_closure": {"extra_delay_hours": hours}})))
                .await;
            assert_only_violation(&answer, "general_info.period_closure.extra_delay_hours", "out_of_range", None);
        }
        let answer = create(app, &app.admin, with("Close", "general_info",
            json!({"period_closure": {"extra_delay_hours": 168}})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        let answer = create(app, &app.admin, with("Close 2", "general_info",
            json!({"period_closure": {"mode": "upon_approval"}})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            answer.body["general_info"]["period_closure"],
            json!({"mode": "upon_approval", "extra_delay_hours": 0})
        );
    }
}

on_both_backends! {
    async fn v28_balance_reset_needs_external_billing_and_hiding_needs_reset(app) {
        let answer = create(app, &app.admin, with("Reset", "general_info", json!({"reset_balance_each_period": true})))
            .await;
        assert_only_violation(
            &answer,
            "general_info.reset_balance_each_period",
            "requires_external_billing",
            Some("balance reset needs billed_externally"),
        );
        let answer = create(app, &app.admin, with("Reset", "general_info",
            json!({"billed_externally": true, "hide_reset_xdr": true})))
            .await;
        assert_only_violation(&answer, "general_info.hide_reset_xdr", "requires_reset", None);
        let answer = create(app, &app.admin, with("Reset", "general_info",
            json!({"billed_externally": true, "reset_balance_each_period": true, "hide_reset_xdr": true})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        // Turning external billing off again breaks the chain.
        let answer = patch_current(app, &app.admin, id_of(&answer.body),
            json!({"general_info": {"billed_externally": false}}))
            .await;
        assert_only_violation(&answer, "general_info.reset_balance_each_period", "requires_external_billing", None);
    }
}
