//! The non-blocking save warnings of §3: returned with 201/200 next to the stored document.

use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::on_both_backends;

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(field, code)| ((*field).to_owned(), (*code).to_owned()))
        .collect()
}

on_both_backends! {
    async fn warning_currency_agnostic_amounts(app) {
        let answer = create(app, &app.admin, json!({"name": "Agnostic",
            "regular_invoices": {"collection": {"late_fee": "5"}}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            warning_codes(&answer),
            pairs(&[("regular_invoices.collection.late_fee", "currency_agnostic_amounts")])
        );
        assert_eq!(answer.body["regular_invoices"]["collection"]["late_fee"], json!("5.00000"));

        // A PATCH adding another amount warns about both; the class is saved anyway.
        let answer = patch_current(app, &app.admin, id_of(&answer.body), json!({"measured_services": {"metrics": [
            {"metric": "active_calls", "charge_basis": "average", "price_per_item": "0.1", "service": "calls"}]}}))
            .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(revision_of(&answer.body), 2);
        let mut warnings = warning_codes(&answer);
        warnings.sort();
        assert_eq!(
            warnings,
            pairs(&[
                ("measured_services.metrics[0].price_per_item", "currency_agnostic_amounts"),
                ("regular_invoices.collection.late_fee", "currency_agnostic_amounts"),
            ])
        );

        // With a currency the amounts are plain money: no warning.
        let answer = create(app, &app.admin, json!({"name": "Euro fees", "currency": "EUR",
            "regular_invoices": {"collection": {"late_fee": "5"}}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["warnings"], json!([]));
    }
}

on_both_backends! {
    async fn warning_event_without_channel(app) {
        let template = app.standard_template().await;
        let body = |channels: serde_json::Value| json!({"name": "Quiet", "currency": "EUR",
            "regular_invoices": {"enabled": true, "template_id": template,
                "payment_terms": {"type": "net", "days": 10}, "due_reminder_days": [3]},
            "notifications": {"events": {"invoice_due_soon": channels}}});
        let answer = create(app, &app.admin, body(json!({"email": false}))).await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            warning_codes(&answer),
            pairs(&[("notifications.events.invoice_due_soon", "event_without_channel")])
        );
        assert_eq!(
            answer.body["notifications"]["events"]["invoice_due_soon"],
            json!({"email": false, "sms": false, "webhook": false})
        );

        // Any channel silences it.
        let answer = patch_current(app, &app.admin, id_of(&answer.body),
            json!({"notifications": {"events": {"invoice_due_soon": {"sms": true}}}}))
            .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["warnings"], json!([]));
    }
}

on_both_backends! {
    async fn warning_review_longer_than_terms(app) {
        let body = |hold: i64| json!({"name": format!("Held {hold}"), "regular_invoices": {
            "email_delivery": "after_review", "review_hold_days": hold, "payment_terms": {"type": "net", "days": 15}}});
        for hold in [15, 20] {
            let answer = create(app, &app.admin, body(hold)).await;
            assert_accepted(&answer, StatusCode::CREATED);
            assert_eq!(
                warning_codes(&answer),
                pairs(&[("regular_invoices.review_hold_days", "review_longer_than_terms")])
            );
        }
        let answer = create(app, &app.admin, body(14)).await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["warnings"], json!([]));
    }
}

on_both_backends! {
    async fn warning_precision_exceeds_currency(app) {
        let answer = create(app, &app.admin, json!({"name": "Yen", "currency": "JPY"})).await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            warning_codes(&answer),
            pairs(&[("general_info.rounding_precision", "precision_exceeds_currency")])
        );
        let answer = patch_current(app, &app.admin, id_of(&answer.body),
            json!({"general_info": {"rounding_precision": 0}}))
            .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["warnings"], json!([]));

        // Without a class currency, the members' currencies count.
        let open = id_of(&app.class(&app.admin, json!({"name": "Open"})).await);
        let answer = patch_current(app, &app.admin, open, json!({"description": "no members yet"})).await;
        assert_eq!(answer.body["warnings"], json!([]), "{}", answer.text);
        reseller_in(app, "Tokyo", "JPY", Some(open)).await;
        let answer = patch_current(app, &app.admin, open, json!({"description": "a yen member"})).await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(
            warning_codes(&answer),
            pairs(&[("general_info.rounding_precision", "precision_exceeds_currency")])
        );
    }
}
