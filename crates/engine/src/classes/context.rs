//! Gathers from the store the facts that class validation needs (§3).

use classbill_domain::class::{
    ClassContext, ClassSettings, ReferencedCustomField, ReferencedObject, ReferencedTax, StoredClass,
};
use classbill_domain::custom_field::CustomFieldDefinition;
use classbill_domain::{Currency, Owner};
use classbill_store::classes::ClassRow;
use classbill_store::{Tx, catalog, parties};

use super::{owner_of, settings_of};
use crate::catalog::{CustomTaxDocument, kinds};
use crate::error::EngineResult;

pub(crate) async fn gather(
    tx: &mut Tx,
    settings: &ClassSettings,
    stored: Option<&ClassRow>,
) -> EngineResult<ClassContext> {
    let mut ctx = ClassContext {
        enabled_currencies: crate::installation::enabled_currencies(tx).await?,
        ..ClassContext::default()
    };
    let members = match stored {
        Some(row) => parties::member_facts(tx, row.id).await?,
        None => Vec::new(),
    };
    if let Some(row) = stored {
        let stored_settings = settings_of(row)?;
        ctx.stored = Some(StoredClass {
            is_default: row.is_default,
            name: row.name.clone(),
            currency: stored_settings.currency,
            managed_by: owner_of(row),
            business_model: stored_settings.business_model,
            member_count: u64::try_from(row.member_count).unwrap_or(0),
        });
    }
    ctx.member_currencies = members.iter().filter_map(|m| Currency::parse(&m.currency)).collect();

    for id in [
        settings.regular_invoices.template_id,
        settings.out_of_turn_invoices.template_id,
    ]
    .into_iter()
    .flatten()
    {
        if let Some(row) = catalog::get(tx, kinds::INVOICE_TEMPLATE, id).await? {
            ctx.templates.insert(id, referenced(&row));
        }
    }
    if let Some(id) = settings.notifications.notification_set_id
        && let Some(row) = catalog::get(tx, kinds::NOTIFICATION_SET, id).await?
    {
        ctx.notification_sets.insert(id, referenced(&row));
    }
    for &id in &settings.taxation.custom_tax_ids {
        if let Some(row) = catalog::get(tx, kinds::CUSTOM_TAX, id).await? {
            let doc: CustomTaxDocument = serde_json::from_str(&row.document)?;
            ctx.custom_taxes.insert(
                id,
                ReferencedTax {
                    object: referenced(&row),
                    scope: doc.scope,
                },
            );
        }
    }
    if let Some(vat) = &settings.taxation.generic_vat
        && catalog::by_key(tx, kinds::VAT_RATE, None, &vat.home_country)
            .await?
            .is_some()
    {
        ctx.vat_countries.insert(vat.home_country.clone());
    }
    ctx.secrets = catalog::secret_names(tx, settings.managed_by.reseller_id())
        .await?
        .into_iter()
        .collect();
    for &id in &settings.custom_fields.enabled_field_ids {
        if let Some(row) = catalog::get(tx, kinds::CUSTOM_FIELD, id).await? {
            let definition: CustomFieldDefinition = serde_json::from_str(&row.document)?;
            let members_without_value = members
                .iter()
                .filter(|m| !has_value(&m.custom_fields, &definition.key))
                .count();
            ctx.custom_fields.insert(
                id,
                ReferencedCustomField {
                    key: definition.key,
                    mandatory: definition.mandatory,
                    has_default: definition.default.is_some(),
                    members_without_value: members_without_value as u64,
                },
            );
        }
    }
    Ok(ctx)
}

fn referenced(row: &catalog::CatalogRow) -> ReferencedObject {
    ReferencedObject {
        owner: Owner::from_reseller_id(row.owner_reseller_id),
        shared: row.shared,
    }
}

/// True when a party's stored custom-field values hold a non-empty value for `key`.
pub(crate) fn has_value(custom_fields_json: &str, key: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(custom_fields_json)
        .ok()
        .and_then(|values| values.get(key).cloned())
        .is_some_and(|v| !(v.is_null() || v.as_str() == Some("")))
}
