//! `POST /customer-classes/{id}/preview` (§6 rule 5): validate a merge patch and count whom it would
//! affect, without saving anything.

use classbill_domain::FieldError;
use classbill_domain::class::{self, ClassSettings, DiffEntry};
use classbill_store::parties;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::context::has_value;
use super::load_visible;
use super::write::{WriteBody, check};
use crate::actor::Actor;
use crate::catalog::kinds;
use crate::error::{EngineError, EngineResult};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    pub valid: bool,
    pub errors: Vec<FieldError>,
    pub warnings: Vec<FieldError>,
    pub base_revision: i64,
    pub diff: Vec<DiffEntry>,
    pub impact: Impact,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Impact {
    pub members: u64,
    pub customers: u64,
    pub resellers: u64,
    /// Members whose overrides cover every changed path.
    pub masked_by_override: u64,
    pub affected: u64,
    /// Members' invoices with an open amount; they keep the revision they were issued under.
    pub issued_invoices_unchanged: u64,
    /// Members that would fail check A5 (a mandatory custom field without value).
    pub custom_field_violations: u64,
}

/// The party override fields and the class paths each one covers (§4).
fn override_covers(overrides: &Value, path: &str) -> bool {
    let set = |key: &str| overrides.get(key).is_some_and(|v| !v.is_null());
    match path {
        "regular_invoices.template_id" => set("regular_invoice_template_id"),
        "out_of_turn_invoices.template_id" => set("oot_invoice_template_id"),
        "regular_invoices.email_delivery" => set("invoice_email_delivery"),
        "out_of_turn_invoices.email_delivery" => set("oot_invoice_email_delivery"),
        "general_info.statistics_email" => set("statistics_email"),
        "measured_services.metrics" => set("measured_services"),
        _ => path.starts_with("taxation.") && set("taxation"),
    }
}

impl crate::Engine {
    pub async fn preview_class(&self, actor: &Actor, id: i64, patch: Value) -> EngineResult<Preview> {
        let mut tx = self.store.read().await?;
        let row = load_visible(&mut tx, actor, id).await?;
        let mut merged: Value = serde_json::from_str(&row.document)?;
        let parsed = WriteBody::parse(patch).and_then(|body| {
            class::apply_merge_patch(&mut merged, &Value::Object(body.document));
            class::settings_from_json(merged).map_err(EngineError::Invalid)
        });
        let mut settings = match parsed {
            Ok(settings) => settings,
            Err(EngineError::Invalid(errors)) => {
                return Ok(Preview {
                    valid: false,
                    errors,
                    warnings: Vec::new(),
                    base_revision: row.revision,
                    diff: Vec::new(),
                    impact: Impact::default(),
                });
            }
            Err(other) => return Err(other),
        };
        let validation = check(&mut tx, &settings, Some(&row)).await?;
        let submitted = settings.clone();
        class::normalize(&mut settings);
        let old: Value = serde_json::from_str(&row.document)?;
        let diff = class::diff(&old, &serde_json::to_value(&settings)?);
        let impact = impact(&mut tx, row.id, &submitted, &diff).await?;
        Ok(Preview {
            valid: validation.errors.is_empty(),
            errors: validation.errors,
            warnings: validation.warnings,
            base_revision: row.revision,
            diff,
            impact,
        })
    }
}

async fn impact(
    tx: &mut classbill_store::Tx,
    class_id: i64,
    settings: &ClassSettings,
    diff: &[DiffEntry],
) -> EngineResult<Impact> {
    let members = parties::member_facts(tx, class_id).await?;
    let mut mandatory_keys = Vec::new();
    for &field_id in &settings.custom_fields.enabled_field_ids {
        if let Some(row) = classbill_store::catalog::get(tx, kinds::CUSTOM_FIELD, field_id).await? {
            let definition: classbill_domain::custom_field::CustomFieldDefinition =
                serde_json::from_str(&row.document)?;
            if definition.mandatory && definition.default.is_none() {
                mandatory_keys.push(definition.key);
            }
        }
    }
    let mut impact = Impact::default();
    for member in &members {
        impact.members += 1;
        if member.kind == "reseller" {
            impact.resellers += 1;
        } else {
            impact.customers += 1;
        }
        let overrides: Value = serde_json::from_str(&member.overrides)?;
        if !diff.is_empty() && diff.iter().all(|d| override_covers(&overrides, &d.path)) {
            impact.masked_by_override += 1;
        }
        if mandatory_keys.iter().any(|key| !has_value(&member.custom_fields, key)) {
            impact.custom_field_violations += 1;
        }
    }
    impact.affected = if diff.is_empty() {
        0
    } else {
        impact.members - impact.masked_by_override
    };
    Ok(impact)
}

#[cfg(test)]
mod tests {
    use super::override_covers;
    use serde_json::json;

    #[test]
    fn a_taxation_override_masks_every_taxation_path_and_nothing_else() {
        let overrides = json!({"taxation": {"method": "none"}});
        assert!(override_covers(&overrides, "taxation.fixed_vat.rate_percent"));
        assert!(!override_covers(&overrides, "regular_invoices.template_id"));
        assert!(!override_covers(&json!({"taxation": null}), "taxation.method"));
    }
}
