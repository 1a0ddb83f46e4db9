//! The per-party overrides of §4, stored in `parties.overrides` as an object with exactly the keys of
//! [`PartyOverrides`] (null = inherit from the class).

use std::collections::{BTreeMap, BTreeSet};

use classbill_domain::class::{
    ClassContext, ClassSettings, Metric, ReferencedObject, ReferencedTax, validate_taxation,
};
use classbill_domain::{FieldError, Owner};
use classbill_store::{Tx, catalog};
use serde_json::Value;

use super::document::PartyDocument;
use crate::catalog::{CustomTaxDocument, kinds};
use crate::error::EngineResult;
use classbill_domain::party::{MetricOverride, PartyOverrides};

pub(crate) fn stored_overrides(json: &str) -> EngineResult<PartyOverrides> {
    Ok(PartyOverrides::from_json(json)?)
}

/// Which overrides a request writes; only those are checked, stored ones stay as they are.
pub(crate) fn written(keys: &BTreeSet<String>, key: &str) -> bool {
    keys.contains(key)
}

/// Checks the overrides that `written` names against the party's owner and class, and answers the overrides
/// to store: the written ones from `doc`, the others from `stored`.
pub(crate) async fn check(
    tx: &mut Tx,
    doc: &PartyDocument,
    stored: &PartyOverrides,
    written_keys: &BTreeSet<String>,
    owner: Owner,
    class: &ClassSettings,
    errors: &mut Vec<FieldError>,
) -> EngineResult<PartyOverrides> {
    let mut out = stored.clone();
    let w = |key: &str| written(written_keys, key);
    if w("taxation") {
        out.taxation = match &doc.taxation {
            None => None,
            Some(value) => {
                let ctx = taxation_context(tx, value, owner).await?;
                match validate_taxation(value, owner, &ctx) {
                    Ok(taxation) => Some(taxation),
                    Err(found) => {
                        errors.extend(found);
                        None
                    }
                }
            }
        };
    }
    for (key, id, slot) in [
        (
            "regular_invoice_template_id",
            doc.regular_invoice_template_id,
            &mut out.regular_invoice_template_id,
        ),
        (
            "oot_invoice_template_id",
            doc.oot_invoice_template_id,
            &mut out.oot_invoice_template_id,
        ),
    ] {
        if !w(key) {
            continue;
        }
        *slot = id;
        if let Some(id) = id {
            let usable = catalog::get(tx, kinds::INVOICE_TEMPLATE, id).await?.is_some_and(|row| {
                ReferencedObject {
                    owner: Owner::from_reseller_id(row.owner_reseller_id),
                    shared: row.shared,
                }
                .is_visible_to(owner)
            });
            if !usable {
                errors.push(FieldError::new(key, "not_visible", format!("template {id} not found")));
            }
        }
    }
    if w("invoice_email_delivery") {
        out.invoice_email_delivery = doc.invoice_email_delivery;
    }
    if w("oot_invoice_email_delivery") {
        out.oot_invoice_email_delivery = doc.oot_invoice_email_delivery;
    }
    if w("statistics_email") {
        out.statistics_email = doc.statistics_email;
        if doc.statistics_email.is_some() && !class.general_info.archive_xdrs {
            errors.push(FieldError::new(
                "statistics_email",
                "requires_statistics",
                format!(
                    "statistics e-mail needs general_info.archive_xdrs, which class \"{}\" has turned off",
                    class.name
                ),
            ));
        }
    }
    if w("measured_services") {
        out.measured_services = doc.measured_services.as_ref().map(|rows| metric_rows(rows, errors));
    }
    Ok(out)
}

/// The custom taxes, VAT countries and secrets a taxation block of `owner` may name.
async fn taxation_context(tx: &mut Tx, taxation: &Value, owner: Owner) -> EngineResult<ClassContext> {
    let mut ctx = ClassContext::default();
    if let Some(ids) = taxation.get("custom_tax_ids").and_then(Value::as_array) {
        for id in ids.iter().filter_map(Value::as_i64) {
            if let Some(row) = catalog::get(tx, kinds::CUSTOM_TAX, id).await? {
                let doc: CustomTaxDocument = serde_json::from_str(&row.document)?;
                ctx.custom_taxes.insert(
                    id,
                    ReferencedTax {
                        object: ReferencedObject {
                            owner: Owner::from_reseller_id(row.owner_reseller_id),
                            shared: row.shared,
                        },
                        scope: doc.scope,
                    },
                );
            }
        }
    }
    if let Some(country) = taxation.pointer("/generic_vat/home_country").and_then(Value::as_str)
        && catalog::by_key(tx, kinds::VAT_RATE, None, country).await?.is_some()
    {
        ctx.vat_countries.insert(country.to_owned());
    }
    ctx.secrets = catalog::secret_names(tx, owner.reseller_id())
        .await?
        .into_iter()
        .collect();
    Ok(ctx)
}

/// Reads partial metric rows: at most three, one per metric, each given key within the ranges of §2.7.
fn metric_rows(rows: &[Value], errors: &mut Vec<FieldError>) -> Vec<MetricOverride> {
    if rows.len() > 3 {
        errors.push(FieldError::new(
            "measured_services",
            "too_many",
            "at most 3 rows are allowed",
        ));
    }
    let mut first_rows: BTreeMap<Metric, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (index, value) in rows.iter().enumerate() {
        let field = |key: &str| format!("measured_services[{index}].{key}");
        let row: MetricOverride = match serde_path_to_error::deserialize(value) {
            Ok(row) => row,
            Err(e) => {
                let path = e.path().to_string();
                let message = e.inner().to_string();
                let code = if message.starts_with("unknown field") {
                    "unknown_field"
                } else if message.starts_with("missing field") {
                    "required"
                } else {
                    "invalid_type"
                };
                let missing = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next());
                let at = match (missing, path.as_str()) {
                    (Some(name), ".") => field(name),
                    (None, ".") => format!("measured_services[{index}]"),
                    (Some(name), _) => field(&format!("{path}.{name}")),
                    (None, _) => field(&path),
                };
                errors.push(FieldError::new(at, code, message));
                continue;
            }
        };
        let first = *first_rows.entry(row.metric).or_insert(index);
        if first != index {
            errors.push(FieldError::new(
                field("metric"),
                "duplicate_metric",
                format!("{} is already defined in row {first}", row.metric.as_str()),
            ));
        }
        if row.price_per_item.is_some_and(|p| p.0 < 0) {
            errors.push(FieldError::new(
                field("price_per_item"),
                "out_of_range",
                "must not be negative",
            ));
        }
        if row.free_items.is_some_and(|n| !(0..=1_000_000).contains(&n)) {
            errors.push(FieldError::new(
                field("free_items"),
                "out_of_range",
                "must be between 0 and 1000000",
            ));
        }
        if let Some(Some(code)) = &row.rate_code
            && !((1..=64).contains(&code.len())
                && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)))
        {
            errors.push(FieldError::new(
                field("rate_code"),
                "out_of_range",
                "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'",
            ));
        }
        if row
            .service
            .as_ref()
            .and_then(|s| s.as_deref())
            .is_some_and(|s| s.trim().is_empty())
        {
            errors.push(FieldError::new(field("service"), "out_of_range", "must not be empty"));
        }
        out.push(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metric_rows_are_partial_and_one_per_metric() {
        let mut errors = Vec::new();
        let rows = metric_rows(
            &[
                json!({"metric": "pbx_extensions", "free_items": 20}),
                json!({"metric": "pbx_extensions", "price_per_item": "-1"}),
                json!({"free_items": 1}),
            ],
            &mut errors,
        );
        assert_eq!(rows.len(), 2);
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(
            found,
            [
                ("measured_services[1].metric", "duplicate_metric"),
                ("measured_services[1].price_per_item", "out_of_range"),
                ("measured_services[2].metric", "required"),
            ]
        );
        assert_eq!(
            serde_json::to_value(&rows[0]).unwrap(),
            json!({"metric": "pbx_extensions", "free_items": 20})
        );
    }
}
