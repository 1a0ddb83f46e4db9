//! Custom taxes (§2.6): a name, a rate and the scope of charges it applies to.

use classbill_domain::class::TaxScope;
use classbill_domain::{FieldError, Percent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::CatalogKind;
use super::{check_name, kinds};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomTaxDocument {
    pub name: String,
    pub rate_percent: Percent,
    pub scope: TaxScope,
}

pub struct CustomTaxKind;

impl CatalogKind for CustomTaxKind {
    const KIND: &'static str = kinds::CUSTOM_TAX;
    const LABEL: &'static str = "custom tax";
    const OWNED: bool = true;
    type Document = CustomTaxDocument;

    fn check(d: &Self::Document) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_name(&d.name, &mut errors);
        if !(0..=100 * 10_000).contains(&d.rate_percent.units()) {
            errors.push(FieldError::new(
                "rate_percent",
                "out_of_range",
                "must be between 0 and 100",
            ));
        }
        errors
    }

    fn key(d: &Self::Document) -> String {
        classbill_domain::class::name_key(&d.name)
    }
}
