//! Objects that classes point at (§2.6, §5.13, §5.14): invoice templates, notification sets, custom taxes,
//! custom-field definitions and the VAT rate table. One generic service serves every kind; each kind
//! supplies its document type and its checks.

mod custom_fields;
mod custom_taxes;
mod notification_sets;
mod service;
mod templates;
mod vat_rates;

pub use custom_fields::CustomFieldKind;
pub use custom_taxes::{CustomTaxDocument, CustomTaxKind};
pub use notification_sets::{NotificationSetDocument, NotificationSetKind, NotificationTexts};
pub use service::{CatalogItem, CatalogKind};
pub use templates::{InvoiceTemplateDocument, InvoiceTemplateKind};
pub(crate) use vat_rates::rate_table as vat_rate_table;
pub use vat_rates::{VatRateDocument, VatRateKind};

/// The `kind` column values, also used as reference kinds of classes.
pub mod kinds {
    pub const INVOICE_TEMPLATE: &str = "invoice_template";
    pub const NOTIFICATION_SET: &str = "notification_set";
    pub const CUSTOM_TAX: &str = "custom_tax";
    pub const CUSTOM_FIELD: &str = "custom_field";
    pub const VAT_RATE: &str = "vat_rate";
}

use classbill_domain::FieldError;
use serde::de::DeserializeOwned;

/// Reads a request document, naming the path of the first key or value that does not fit.
pub(crate) fn parse_json<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Vec<FieldError>> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let message = e.inner().to_string();
        let code = if message.starts_with("unknown field") {
            "unknown_field"
        } else {
            "invalid_type"
        };
        vec![FieldError::new(field, code, message)]
    })
}

/// Checks a display name of 1–100 characters without control characters.
pub(crate) fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 || trimmed.chars().any(char::is_control) {
        errors.push(FieldError::new("name", "invalid_length", "must be 1 to 100 characters"));
    }
}
