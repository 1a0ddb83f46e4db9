//! The class document of §2.0: its defaults, reading submitted bodies, merge patches and diffs.

use classbill_domain::class::{
    ClassSettings, FixedVat, PaymentTerms, TaxMethod, apply_merge_patch, diff, normalize, settings_from_json,
};
use classbill_domain::{FieldError, Money, Owner, Percent};
use serde_json::{Value, json};

fn collection_defaults() -> Value {
    json!({"resend_after_due_days": [], "late_fee": null, "limit_after_days": null, "limit_notice_days": [],
        "suspend_after_days": null, "suspend_notice_days": [], "reactivation_fee": null,
        "terminate_after_days": null, "terminate_notice_days": []})
}

fn event(email: Value) -> Value {
    json!({"email": email, "sms": false, "webhook": false})
}

fn defaults_for(name: &str) -> Value {
    json!({
        "name": name, "managed_by": {"type": "administrator"}, "business_model": "universal",
        "currency": null, "description": "", "notification_sender": {"name": null, "address": null},
        "general_info": {"archive_xdrs": true, "statistics_email": "none", "billed_externally": false,
            "reset_balance_each_period": false, "hide_reset_xdr": false, "rounding_precision": 2,
            "rounding_method": "away_from_zero", "period_closure": {"mode": "after_delay", "extra_delay_hours": 0}},
        "regular_invoices": {"enabled": false, "template_id": null, "pdf_generation": "end_of_period",
            "email_delivery": "never", "review_hold_days": null, "payment_terms": {"type": "due_upon_receipt"},
            "due_reminder_days": [], "auto_charge": "off", "auto_charge_retry_days": [], "collection_threshold": null,
            "restore_on_partial_within_threshold": false, "collection": collection_defaults()},
        "out_of_turn_invoices": {"enabled": false, "template_id": null, "email_delivery": "never",
            "separate_recurring_fee_invoice": false, "payment_terms": {"type": "due_upon_receipt"},
            "due_reminder_days": [], "auto_charge": "off", "auto_charge_retry_days": [], "collection_threshold": null,
            "restore_on_partial_within_threshold": false, "collection": collection_defaults()},
        "taxation": {"method": "none", "tax_timing": "end_of_period", "fixed_vat": null, "custom_tax_ids": [],
            "generic_vat": null, "external": null},
        "measured_services": {"metrics": []},
        "notifications": {"notification_set_id": null, "events": {
            "invoice_issued": event(Value::Null), "oot_invoice_issued": event(Value::Null),
            "invoice_due_soon": event(json!(true)), "invoice_resent": event(Value::Null),
            "invoice_overdue": event(json!(true)), "late_fee_applied": event(json!(true)),
            "limitation_upcoming": event(json!(true)), "service_limited": event(json!(true)),
            "suspension_upcoming": event(json!(true)), "service_suspended": event(json!(true)),
            "service_restored": event(json!(true)), "termination_upcoming": event(json!(true)),
            "customer_terminated": event(json!(true)), "payment_received": event(json!(false)),
            "auto_charge_failed": event(json!(true)), "statistics_ready": event(Value::Null)}},
        "custom_fields": {"enabled_field_ids": []}
    })
}

fn parse_errors(body: Value) -> Vec<FieldError> {
    settings_from_json(body).expect_err("the body should be refused")
}

#[test]
fn default_settings_serialize_to_the_section_2_0_shape() {
    let serialized = serde_json::to_value(ClassSettings::default()).unwrap();
    assert_eq!(serialized, defaults_for(""));
}

#[test]
fn a_body_with_only_a_name_takes_every_default() {
    let settings = settings_from_json(json!({"name": "X"})).unwrap();
    assert_eq!(serde_json::to_value(&settings).unwrap(), defaults_for("X"));
}

#[test]
fn read_only_keys_are_ignored() {
    let body = json!({"id": 12, "revision": 4, "is_default": true, "member_count": 3, "created_at": "x",
        "updated_at": "y", "warnings": [], "change_note": "rate change", "name": "Retail"});
    assert_eq!(settings_from_json(body).unwrap().name, "Retail");
}

#[test]
fn omitted_nested_keys_take_their_defaults() {
    let body = json!({"general_info": {"rounding_precision": 3}, "taxation": {"method": "external",
        "external": {"endpoint_url": "https://tax.example", "secret_ref": "s"}},
        "notifications": {"events": {"payment_received": {"sms": true}, "invoice_due_soon": {"webhook": true}}}});
    let settings = settings_from_json(body).unwrap();
    assert!(settings.general_info.archive_xdrs);
    assert_eq!(settings.general_info.rounding_precision, 3);
    assert_eq!(settings.taxation.external.unwrap().timeout_ms, 10_000);
    let events = &settings.notifications.events;
    assert_eq!(events.len(), 16);
    assert_eq!(
        (events["payment_received"].email, events["payment_received"].sms),
        (Some(false), true)
    );
    assert_eq!(
        (events["invoice_due_soon"].email, events["invoice_due_soon"].webhook),
        (Some(true), true)
    );
}

#[test]
fn unknown_keys_are_reported_at_their_path() {
    let errors = parse_errors(json!({"name": "X", "colour": "red", "regular_invoices": {"collection": {"grace": 3}}}));
    let fields: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
    assert!(fields.contains(&("colour", "unknown_field")), "{errors:#?}");
    assert!(
        fields.contains(&("regular_invoices.collection.grace", "unknown_field")),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), 2);
}

#[test]
fn wrong_types_are_invalid_type_and_unknown_enum_values_out_of_range_at_their_path() {
    let errors = parse_errors(
        json!({"general_info": {"rounding_precision": "2", "rounding_method": "banker"},
        "measured_services": {"metrics": [{"metric": "active_calls", "price_per_item": 5}]},
        "regular_invoices": {"due_reminder_days": [3, "7"]}}),
    );
    let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        codes.contains(&("general_info.rounding_method", "out_of_range")),
        "{errors:#?}"
    );
    for field in [
        "general_info.rounding_precision",
        "measured_services.metrics[0].price_per_item",
        "regular_invoices.due_reminder_days[1]",
    ] {
        assert!(codes.contains(&(field, "invalid_type")), "{field}: {errors:#?}");
    }
    let precision = errors
        .iter()
        .find(|e| e.field == "general_info.rounding_precision")
        .unwrap();
    assert_eq!(precision.message, "expected an integer, found string \"2\"");
}

#[test]
fn money_with_six_fraction_digits_is_out_of_range() {
    let errors = parse_errors(json!({"regular_invoices": {"collection": {"late_fee": "1.123456"}}}));
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].field.as_str(), errors[0].code.as_str()),
        ("regular_invoices.collection.late_fee", "out_of_range")
    );
    let errors = parse_errors(json!({"taxation": {"fixed_vat": {"rate_percent": 19}}}));
    assert_eq!(
        (errors[0].field.as_str(), errors[0].code.as_str()),
        ("taxation.fixed_vat.rate_percent", "invalid_type")
    );
}

#[test]
fn unknown_currency_code_is_reported() {
    let errors = parse_errors(json!({"currency": "XYZ"}));
    assert_eq!(
        errors,
        [FieldError::new(
            "currency",
            "unknown_currency",
            "currency XYZ is not enabled"
        )]
    );
}

#[test]
fn missing_required_parameters_are_required() {
    let errors = parse_errors(
        json!({"taxation": {"method": "fixed_vat", "fixed_vat": {"inclusive": true}},
        "out_of_turn_invoices": {"payment_terms": {"type": "net"}}}),
    );
    assert!(errors.contains(&FieldError::new(
        "taxation.fixed_vat.rate_percent",
        "required",
        "a rate is required for fixed_vat"
    )));
    assert!(errors.contains(&FieldError::new(
        "out_of_turn_invoices.payment_terms.days",
        "required",
        "is required"
    )));
}

#[test]
fn payment_terms_drop_keys_of_other_types() {
    let settings = settings_from_json(
        json!({"regular_invoices": {"payment_terms": {"type": "due_upon_receipt", "days": 15}},
        "managed_by": {"type": "administrator", "reseller_id": 7}}),
    )
    .unwrap();
    assert_eq!(settings.regular_invoices.payment_terms, PaymentTerms::DueUponReceipt);
    assert_eq!(settings.managed_by, Owner::Administrator);
}

#[test]
fn a_non_object_body_is_one_error() {
    assert_eq!(
        parse_errors(json!([1, 2])),
        [FieldError::new(
            "",
            "invalid_type",
            "expected the class document as a JSON object"
        )]
    );
}

#[test]
fn patch_then_parse_switches_terms_to_due_upon_receipt() {
    let mut stored = ClassSettings {
        name: "Retail".into(),
        ..ClassSettings::default()
    };
    stored.regular_invoices.payment_terms = PaymentTerms::Net { days: 15 };
    let mut document = serde_json::to_value(&stored).unwrap();
    apply_merge_patch(
        &mut document,
        &json!({"regular_invoices": {"payment_terms": {"type": "due_upon_receipt"}}, "description": null}),
    );
    let patched = settings_from_json(document).unwrap();
    assert_eq!(patched.regular_invoices.payment_terms, PaymentTerms::DueUponReceipt);
    assert_eq!(patched.description, "");
}

#[test]
fn diff_of_a_rate_change() {
    let mut before = ClassSettings {
        name: "Business EU".into(),
        ..ClassSettings::default()
    };
    before.taxation.method = TaxMethod::FixedVat;
    before.taxation.fixed_vat = Some(FixedVat {
        rate_percent: Percent::parse("19.00").unwrap(),
        inclusive: false,
    });
    let mut after = before.clone();
    after.taxation.fixed_vat = Some(FixedVat {
        rate_percent: Percent::parse("20").unwrap(),
        inclusive: false,
    });
    let entries = diff(
        &serde_json::to_value(&before).unwrap(),
        &serde_json::to_value(&after).unwrap(),
    );
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].path, "taxation.fixed_vat.rate_percent");
    assert_eq!(
        (entries[0].old.clone(), entries[0].new.clone()),
        (json!("19"), json!("20"))
    );
    assert_eq!(
        serde_json::to_value(&entries[0]).unwrap(),
        json!({"path": "taxation.fixed_vat.rate_percent", "old": "19", "new": "20"})
    );
}

#[test]
fn normalised_document_survives_a_round_trip() {
    let mut settings = settings_from_json(json!({"name": " Gold ", "regular_invoices": {
        "payment_terms": {"type": "net", "days": 30}, "due_reminder_days": [3, 14, 7, 3],
        "collection_threshold": "2.5"}}))
    .unwrap();
    normalize(&mut settings);
    assert_eq!(settings.name, "Gold");
    assert_eq!(settings.regular_invoices.due_reminder_days, [14, 7, 3]);
    assert_eq!(settings.regular_invoices.collection_threshold, Some(Money(250_000)));
    let stored = serde_json::to_value(&settings).unwrap();
    assert_eq!(stored["regular_invoices"]["collection_threshold"], json!("2.50000"));
    assert_eq!(settings_from_json(stored).unwrap(), settings);
}

#[test]
fn reading_stops_after_one_hundred_errors() {
    let body: serde_json::Map<String, Value> = (0..150).map(|n| (format!("junk_{n}"), json!(n))).collect();
    let errors = parse_errors(Value::Object(body));
    assert_eq!(errors.len(), 100);
    assert!(errors.iter().all(|error| error.code == "unknown_field"));
}
