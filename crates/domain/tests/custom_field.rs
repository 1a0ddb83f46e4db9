//! Custom-field definitions and values (§5.14).

use classbill_domain::FieldError;
use classbill_domain::custom_field::{
    CustomFieldDefinition, CustomFieldProperties, CustomFieldType, validate_definition, validate_value,
};
use serde_json::{Value, json};

fn definition(body: Value) -> CustomFieldDefinition {
    validate_definition(&body).expect("the definition should be accepted")
}

fn refused(body: Value) -> Vec<(String, String)> {
    let errors = validate_definition(&body).expect_err("the definition should be refused");
    errors.into_iter().map(|error| (error.field, error.code)).collect()
}

fn has(errors: &[(String, String)], field: &str, code: &str) -> bool {
    errors.iter().any(|(f, c)| f == field && c == code)
}

#[test]
fn text_definition_takes_defaults() {
    let text = definition(json!({"key": "contract_no", "label": "Contract number", "type": "text"}));
    assert_eq!(text.field_type, CustomFieldType::Text);
    assert_eq!(
        text.properties,
        CustomFieldProperties::Text {
            max_length: 255,
            pattern: None
        }
    );
    assert_eq!(text.default, None);
    assert!(!text.mandatory && !text.personal_data && !text.visible_to_end_user);
    let serialized = serde_json::to_value(&text).unwrap();
    assert_eq!(serialized["properties"], json!({"max_length": 255, "pattern": null}));
    assert_eq!(serialized["object"], json!("customer"));
    assert_eq!(
        serde_json::from_value::<CustomFieldDefinition>(serialized).unwrap(),
        text
    );
}

#[test]
fn account_object_is_unsupported() {
    let errors =
        validate_definition(&json!({"object": "account", "key": "k", "label": "K", "type": "text"})).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].field.as_str(), errors[0].code.as_str()),
        ("object", "unsupported")
    );
}

#[test]
fn key_label_and_type_are_checked() {
    let errors = refused(json!({"key": "Contract", "label": "", "type": "money", "colour": 1}));
    assert!(has(&errors, "key", "out_of_range"), "{errors:?}");
    assert!(has(&errors, "label", "out_of_range"), "{errors:?}");
    assert!(has(&errors, "type", "invalid_type"), "{errors:?}");
    assert!(has(&errors, "colour", "unknown_field"), "{errors:?}");
    assert!(has(&refused(json!({"label": "K", "type": "text"})), "key", "required"));
    let long_key = format!("k{}", "x".repeat(63));
    assert!(has(
        &refused(json!({"key": long_key, "label": "K", "type": "text"})),
        "key",
        "out_of_range"
    ));
    definition(json!({"key": format!("k{}", "_".repeat(62)), "label": "K", "type": "text"}));
}

#[test]
fn text_properties_and_pattern() {
    let errors = refused(
        json!({"key": "k", "label": "K", "type": "text", "properties": {"max_length": 4001, "pattern": "(", "min": 1}}),
    );
    assert!(has(&errors, "properties.max_length", "out_of_range"), "{errors:?}");
    assert!(has(&errors, "properties.pattern", "invalid"), "{errors:?}");
    assert!(has(&errors, "properties.min", "unknown_field"), "{errors:?}");

    let text = definition(
        json!({"key": "k", "label": "K", "type": "text", "properties": {"max_length": 6, "pattern": "[A-Z]{2}[0-9]+"}}),
    );
    assert_eq!(validate_value(&text, &json!("AB123")).unwrap(), Some("AB123".into()));
    assert_eq!(
        validate_value(&text, &json!("xAB123")).unwrap_err().code,
        "invalid",
        "whole-value match"
    );
    assert_eq!(
        validate_value(&text, &json!("AB12345")).unwrap_err().code,
        "out_of_range"
    );
    assert_eq!(validate_value(&text, &json!("")).unwrap(), None);
    assert_eq!(
        validate_value(&text, &json!(12)).unwrap_err(),
        FieldError::new("custom_fields.k", "invalid_type", "expected a string, found a number")
    );
}

#[test]
fn number_bounds_and_decimals() {
    let number = definition(json!({"key": "seats", "label": "Seats", "type": "number",
        "properties": {"min": "1", "max": "500.5", "decimals": 1}, "default": "10"}));
    assert_eq!(number.default.as_deref(), Some("10"));
    assert_eq!(validate_value(&number, &json!("500.5")).unwrap(), Some("500.5".into()));
    assert_eq!(
        validate_value(&number, &json!("500.6")).unwrap_err().code,
        "out_of_range"
    );
    assert_eq!(validate_value(&number, &json!("0.9")).unwrap_err().code, "out_of_range");
    assert_eq!(
        validate_value(&number, &json!("2.25")).unwrap_err().code,
        "out_of_range"
    );
    assert_eq!(validate_value(&number, &json!("ten")).unwrap_err().code, "invalid");
    assert_eq!(validate_value(&number, &json!(10)).unwrap_err().code, "invalid_type");

    let errors = refused(
        json!({"key": "n", "label": "N", "type": "number", "properties": {"min": "5", "max": "4", "decimals": 6}}),
    );
    assert!(has(&errors, "properties.max", "out_of_range"), "{errors:?}");
    assert!(has(&errors, "properties.decimals", "out_of_range"), "{errors:?}");
}

#[test]
fn date_and_datetime_values() {
    let date =
        definition(json!({"key": "signed_on", "label": "Signed", "type": "date", "properties": {"min": "2020-01-01"}}));
    assert!(validate_value(&date, &json!("2024-02-29")).is_ok());
    assert_eq!(validate_value(&date, &json!("2023-02-29")).unwrap_err().code, "invalid");
    assert_eq!(validate_value(&date, &json!("2024-2-1")).unwrap_err().code, "invalid");
    assert_eq!(
        validate_value(&date, &json!("2019-12-31")).unwrap_err().code,
        "out_of_range"
    );

    let instant = definition(json!({"key": "seen_at", "label": "Seen", "type": "datetime"}));
    assert_eq!(
        validate_value(&instant, &json!("2025-04-01T06:00:00+02:00")).unwrap(),
        Some("2025-04-01T04:00:00Z".into())
    );
    assert_eq!(
        validate_value(&instant, &json!("2025-04-01T06:00:00"))
            .unwrap_err()
            .code,
        "invalid"
    );
}

#[test]
fn list_options_and_default() {
    let errors = refused(
        json!({"key": "tier", "label": "Tier", "type": "list", "properties": {"options": ["Gold", "Gold", ""]}, "default": "Silver"}),
    );
    assert!(has(&errors, "properties.options[1]", "duplicate"), "{errors:?}");
    assert!(has(&errors, "properties.options[2]", "out_of_range"), "{errors:?}");
    assert!(has(&errors, "default", "invalid"), "{errors:?}");
    assert!(has(
        &refused(json!({"key": "tier", "label": "Tier", "type": "list"})),
        "properties.options",
        "required"
    ));

    let list = definition(
        json!({"key": "tier", "label": "Tier", "type": "list", "properties": {"options": ["Gold", "Silver"]}, "default": ""}),
    );
    assert_eq!(list.default, None);
    assert!(validate_value(&list, &json!("Gold")).is_ok());
    assert_eq!(
        validate_value(&list, &json!("gold")).unwrap_err().code,
        "invalid",
        "options are case-sensitive"
    );
}
