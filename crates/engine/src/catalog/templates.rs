//! Invoice templates: Typst sources, compiled against the sample invoice on every create and update so that a
//! broken template is refused with the line of its error instead of failing at the next billing run.

use classbill_domain::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::CatalogKind;
use super::{check_name, kinds};

/// Largest accepted template source.
const SOURCE_MAX_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceTemplateDocument {
    pub name: String,
    /// The Typst document.
    pub source: String,
}

pub struct InvoiceTemplateKind;

impl CatalogKind for InvoiceTemplateKind {
    const KIND: &'static str = kinds::INVOICE_TEMPLATE;
    const LABEL: &'static str = "template";
    const OWNED: bool = true;
    type Document = InvoiceTemplateDocument;

    fn check(d: &Self::Document) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_name(&d.name, &mut errors);
        if d.source.trim().is_empty() || d.source.len() > SOURCE_MAX_BYTES {
            errors.push(FieldError::new(
                "source",
                "out_of_range",
                format!("must be a non-empty Typst document of at most {SOURCE_MAX_BYTES} bytes"),
            ));
        } else if let Err(compile_errors) = classbill_render::check_template(&d.source) {
            errors.extend(
                compile_errors
                    .iter()
                    .map(|e| FieldError::new("source", "invalid_template", e.to_string())),
            );
        }
        errors
    }

    fn key(d: &Self::Document) -> String {
        classbill_domain::class::name_key(&d.name)
    }
}
