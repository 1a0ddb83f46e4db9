//! The validation rules of §3 and the save warnings, one test per rule, named after it.

mod general;
mod header;
mod invoices;
mod references;
mod taxation;
mod warnings;

use classbill_domain::class::{ClassContext, ClassSettings, Validation, validate};
use classbill_domain::{FieldError, Owner};

/// A document that passes every rule with an empty context.
pub fn valid() -> ClassSettings {
    ClassSettings {
        name: "Retail".into(),
        ..ClassSettings::default()
    }
}

pub fn check(settings: &ClassSettings) -> Validation {
    validate(settings, &ClassContext::default())
}

/// The errors reported at `field`, as `(code, message)`.
pub fn errors_at(validation: &Validation, field: &str) -> Vec<(String, String)> {
    validation
        .errors
        .iter()
        .filter(|error| error.field == field)
        .map(|error| (error.code.clone(), error.message.clone()))
        .collect()
}

/// Asserts that exactly one error is reported at `field`, with this code and message.
pub fn assert_only_error(validation: &Validation, field: &str, code: &str, message: &str) {
    assert_eq!(
        errors_at(validation, field),
        [(code.to_owned(), message.to_owned())],
        "errors at {field}: {:#?}",
        validation.errors
    );
}

pub fn assert_error(validation: &Validation, field: &str, code: &str, message: &str) {
    let wanted = FieldError::new(field, code, message);
    assert!(
        validation.errors.contains(&wanted),
        "missing {wanted:?} in {:#?}",
        validation.errors
    );
}

pub fn assert_valid(validation: &Validation) {
    assert!(validation.errors.is_empty(), "{:#?}", validation.errors);
}

pub fn reseller(reseller_id: i64) -> Owner {
    Owner::Reseller { reseller_id }
}
