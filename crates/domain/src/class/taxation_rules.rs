//! The taxation tab on its own, for a party's `taxation` override (§4): read with the class document's
//! defaults, checked with V21–V25 as a class of the party's owner would be, and normalised.

use serde_json::{Map, Value};

use super::context::ClassContext;
use super::document::{ClassSettings, Taxation};
use super::normalize::normalize;
use super::parse::settings_from_json;
use super::validate::validate;
use crate::field_error::FieldError;
use crate::owner::Owner;

/// Checks a submitted taxation block as a class of `owner` would check it; errors are addressed
/// `taxation.<path>`. The answer is the normalised block (parameters of unselected methods cleared).
pub fn validate_taxation(taxation: &Value, owner: Owner, ctx: &ClassContext) -> Result<Taxation, Vec<FieldError>> {
    let mut document = Map::new();
    document.insert("taxation".to_owned(), taxation.clone());
    let mut settings: ClassSettings = settings_from_json(Value::Object(document))?;
    settings.managed_by = owner;
    let errors: Vec<FieldError> = validate(&settings, ctx)
        .errors
        .into_iter()
        .filter(|error| error.field == "taxation" || error.field.starts_with("taxation."))
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    normalize(&mut settings);
    Ok(settings.taxation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fixed_vat_without_rate_is_v21() {
        let errors = validate_taxation(
            &json!({"method": "fixed_vat"}),
            Owner::Administrator,
            &ClassContext::default(),
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "taxation.fixed_vat.rate_percent");
        assert_eq!(errors[0].code, "required");
    }

    #[test]
    fn a_valid_block_comes_back_normalised() {
        let taxation = validate_taxation(
            &json!({"method": "fixed_vat", "fixed_vat": {"rate_percent": "20"}, "custom_tax_ids": []}),
            Owner::Administrator,
            &ClassContext::default(),
        )
        .expect("valid");
        assert_eq!(taxation.fixed_vat.map(|f| f.rate_percent.units()), Some(200_000));
    }

    #[test]
    fn unknown_keys_are_reported_under_taxation() {
        let errors = validate_taxation(
            &json!({"method": "none", "rate": 1}),
            Owner::Administrator,
            &ClassContext::default(),
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "taxation.rate");
        assert_eq!(errors[0].code, "unknown_field");
    }
}
