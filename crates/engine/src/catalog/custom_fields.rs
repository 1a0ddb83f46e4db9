//! Custom-field definitions (§5.14): installation-wide, enabled per class.

use classbill_domain::FieldError;
use classbill_domain::custom_field::{self, CustomFieldDefinition};
use serde_json::Value;

use super::kinds;
use super::service::CatalogKind;

pub struct CustomFieldKind;

impl CatalogKind for CustomFieldKind {
    const KIND: &'static str = kinds::CUSTOM_FIELD;
    const LABEL: &'static str = "custom field";
    const OWNED: bool = false;
    type Document = CustomFieldDefinition;

    fn parse(value: Value) -> Result<Self::Document, Vec<FieldError>> {
        custom_field::validate_definition(&value)
    }

    fn check(_d: &Self::Document) -> Vec<FieldError> {
        Vec::new()
    }

    const IMMUTABLE: &'static [(&'static str, &'static str)] = &[
        ("type", "the type of a custom field cannot be changed"),
        ("key", "the key of a custom field cannot be changed"),
    ];

    fn key(d: &Self::Document) -> String {
        d.key.clone()
    }
}
