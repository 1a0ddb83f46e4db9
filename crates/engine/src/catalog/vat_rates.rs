//! The installation's VAT rate table (§2.6): one rate and an optional zone per country.

use classbill_domain::tax::VatRateRow;
use classbill_domain::{FieldError, Percent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::kinds;
use super::service::CatalogKind;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VatRateDocument {
    /// ISO 3166-1 alpha-2 code.
    pub country: String,
    pub rate_percent: Percent,
    /// A group of countries with reverse charge among them, e.g. `EU`; null = none.
    #[serde(default)]
    pub zone: Option<String>,
}

pub struct VatRateKind;

impl CatalogKind for VatRateKind {
    const KIND: &'static str = kinds::VAT_RATE;
    const LABEL: &'static str = "VAT rate";
    const OWNED: bool = false;
    type Document = VatRateDocument;

    fn check(d: &Self::Document) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if d.country.len() != 2 || !d.country.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                "country",
                "invalid",
                "must be an ISO 3166-1 alpha-2 code such as DE",
            ));
        }
        if !(0..=100 * 10_000).contains(&d.rate_percent.units()) {
            errors.push(FieldError::new(
                "rate_percent",
                "out_of_range",
                "must be between 0 and 100",
            ));
        }
        if let Some(zone) = &d.zone
            && (zone.trim().is_empty() || zone.chars().count() > 32)
        {
            errors.push(FieldError::new(
                "zone",
                "invalid_length",
                "must be 1 to 32 characters or null",
            ));
        }
        errors
    }

    const IMMUTABLE: &'static [(&'static str, &'static str)] =
        &[("country", "the country of a rate cannot be changed")];

    fn key(d: &Self::Document) -> String {
        d.country.clone()
    }

    fn reference(_id: i64, d: &Self::Document) -> String {
        d.country.clone()
    }
}

/// The installation's VAT rate table, as generic VAT chooses from it (§5.5).
pub(crate) async fn rate_table(tx: &mut classbill_store::Tx) -> crate::error::EngineResult<Vec<VatRateRow>> {
    let mut table = Vec::new();
    for row in classbill_store::catalog::list(tx, kinds::VAT_RATE, None, None, i64::MAX).await? {
        let doc: VatRateDocument = serde_json::from_str(&row.document)?;
        table.push(VatRateRow {
            country: doc.country,
            rate_percent: doc.rate_percent,
            zone: doc.zone,
        });
    }
    Ok(table)
}
